//! An optimizer's saved state: hyperparameters per group and named buffers, step counts
//! and scalars per parameter, in memory and as a small binary file.

use crate::error::{StateDtype, StateFileError};
use crate::OptimError;
use graft_tensor::io::write_atomically;
use graft_tensor::Float;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// One parameter's optimizer state by name, as [`ParamState::save`] writes it.
///
/// [`ParamState::save`]: crate::rules::ParamState::save
#[derive(Clone, Debug, PartialEq)]
pub struct SavedParamState<T = f32> {
    /// The parameter's shape (checked when loading).
    pub shape: Vec<usize>,
    /// Steps taken for this parameter.
    pub step: u64,
    /// The buffers, each as long as the parameter, by PyTorch state key (`exp_avg`, ...).
    pub buffers: Vec<(String, Vec<T>)>,
    /// Scalar state besides the step count (`mu_product` for NAdam), by name.
    pub scalars: Vec<(String, f64)>,
}

impl<T: Float> SavedParamState<T> {
    /// The buffer called `name`, if saved.
    pub fn buffer(&self, name: &str) -> Option<&[T]> {
        self.buffers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
    }

    /// The scalar called `name`, if saved.
    pub fn scalar(&self, name: &str) -> Option<f64> {
        self.scalars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    /// Whether this state could have come from training: a step count below [`MAX_STEP`],
    /// finite buffers and scalars, and no negative value in a buffer of squares or sums of
    /// squares. A state that fails (a corrupt or hand-edited file) would turn the parameters
    /// NaN at the next step — a step count of `u64::MAX` wraps to 0, and the bias correction
    /// `1 - beta^0` divides by zero — so loading refuses it, saying which entry is wrong.
    pub fn check_plausible(&self) -> Result<(), String> {
        if self.step > MAX_STEP {
            return Err(format!(
                "step count {} is not plausible (at most 2^53 steps)",
                self.step
            ));
        }
        for (name, data) in &self.buffers {
            if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                return Err(format!("buffer `{name}` holds {} at element {i}", data[i]));
            }
            if NON_NEGATIVE_BUFFERS.contains(&name.as_str()) {
                if let Some(i) = data.iter().position(|v| *v < T::ZERO) {
                    return Err(format!(
                        "buffer `{name}` holds the negative value {} at element {i}, but it \
                         accumulates squares",
                        data[i]
                    ));
                }
            }
        }
        match self.scalars.iter().find(|(_, v)| !v.is_finite()) {
            Some((name, v)) => Err(format!("scalar `{name}` is {v}")),
            None => Ok(()),
        }
    }

    /// A reader that hands out entries by name and then checks that none was left over.
    pub(crate) fn reader(&self, owner: &'static str) -> StateReader<'_, T> {
        StateReader {
            saved: self,
            owner,
            used_buffers: vec![false; self.buffers.len()],
            used_scalars: vec![false; self.scalars.len()],
        }
    }
}

/// The largest step count a loaded state may have: 2^53, beyond which a step count is no
/// longer exact as the f64 the bias corrections use, and far beyond any real training.
pub const MAX_STEP: u64 = 1 << 53;

/// Buffers that hold squares, sums of squares or their running averages: a negative value
/// can only come from a corrupt file, and its square root is NaN.
const NON_NEGATIVE_BUFFERS: [&str; 5] = [
    "exp_avg_sq",
    "max_exp_avg_sq",
    "square_avg",
    "acc_delta",
    "sum",
];

/// Takes a saved state apart by name for [`ParamState::restore`], so that a missing or
/// an unknown entry is an error instead of silently changing the next step.
///
/// [`ParamState::restore`]: crate::rules::ParamState::restore
pub(crate) struct StateReader<'a, T> {
    saved: &'a SavedParamState<T>,
    owner: &'static str,
    used_buffers: Vec<bool>,
    used_scalars: Vec<bool>,
}

impl<T: Float> StateReader<'_, T> {
    /// The buffer `name`, if saved.
    pub(crate) fn optional(&mut self, name: &str) -> Option<Vec<T>> {
        let i = self.saved.buffers.iter().position(|(n, _)| n == name)?;
        self.used_buffers[i] = true;
        Some(self.saved.buffers[i].1.clone())
    }

    /// The buffer `name`; an error if it was not saved.
    pub(crate) fn required(&mut self, name: &str) -> Result<Vec<T>, OptimError> {
        self.optional(name)
            .ok_or_else(|| OptimError::state(self.owner, format!("missing buffer `{name}`")))
    }

    /// The scalar `name`; an error if it was not saved.
    pub(crate) fn scalar(&mut self, name: &str) -> Result<f64, OptimError> {
        let i = self
            .saved
            .scalars
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| OptimError::state(self.owner, format!("missing scalar `{name}`")))?;
        self.used_scalars[i] = true;
        Ok(self.saved.scalars[i].1)
    }

    /// Errors if an entry was never read (unknown to this optimizer, or listed twice).
    pub(crate) fn finish(self) -> Result<(), OptimError> {
        let unused = self
            .saved
            .buffers
            .iter()
            .zip(&self.used_buffers)
            .map(|((n, _), used)| (n, used))
            .chain(
                self.saved
                    .scalars
                    .iter()
                    .zip(&self.used_scalars)
                    .map(|((n, _), used)| (n, used)),
            )
            .find(|(_, used)| !**used);
        match unused {
            Some((name, _)) => Err(OptimError::state(
                self.owner,
                format!("unexpected or repeated entry `{name}`"),
            )),
            None => Ok(()),
        }
    }
}

/// One parameter group's saved state: its hyperparameters and its parameters' states,
/// in the order the parameters were given.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupState<T = f32> {
    /// Every hyperparameter by PyTorch name (flags as 0 or 1), as
    /// [`UpdateRule::hyperparams`](crate::rules::UpdateRule::hyperparams) lists them.
    pub hyperparams: Vec<(String, f64)>,
    /// Per-parameter state.
    pub params: Vec<SavedParamState<T>>,
}

/// Everything an optimizer needs to resume training exactly where it was saved
/// (PyTorch's `optimizer.state_dict()`): per group the hyperparameters (including a
/// learning rate a scheduler changed), per parameter the step count and buffers.
///
/// It holds copies, in memory; [`save`](Self::save) and [`load`](Self::load) put it in a
/// file. Parameter values are not part of it: save the model's parameters separately.
///
/// ```
/// use graft_autograd::Var;
/// use graft_optim::rules::AdamConfig;
/// use graft_optim::{Adam, Optimizer};
/// use graft_tensor::Tensor;
///
/// let w = Var::parameter(Tensor::from_vec(vec![1.0f32, 2.0], &[2]));
/// let mut opt = Adam::new(vec![w.clone()], AdamConfig::default().lr(0.1)).unwrap();
/// w.set_grad(Some(Tensor::from_vec(vec![0.5, -0.5], &[2])));
/// opt.step().unwrap();
///
/// let state = opt.state_dict();
/// assert_eq!(state.kind, "Adam");
/// assert_eq!(state.groups[0].params[0].step, 1);
/// let bytes = state.to_bytes();
/// let restored = graft_optim::OptimizerState::<f32>::from_bytes(&bytes).unwrap();
/// assert_eq!(restored, state);
///
/// let mut fresh = Adam::new(vec![w.clone()], AdamConfig::default()).unwrap();
/// fresh.load_state_dict(&restored).unwrap();
/// assert_eq!(fresh.lr(), 0.1); // hyperparameters come back too
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState<T = f32> {
    /// The optimizer's PyTorch class name (`"Adam"`, `"AdamW"`, `"SGD"`, ...).
    pub kind: String,
    /// One entry per parameter group.
    pub groups: Vec<GroupState<T>>,
}

/// The first bytes of a saved optimizer state file.
const MAGIC: &[u8; 8] = b"GRAFTOPT";
/// The version of the file layout.
const VERSION: u32 = 1;

impl<T: Float> OptimizerState<T> {
    /// The state in graft's binary layout: little-endian, elements in their own precision,
    /// so that [`from_bytes`](Self::from_bytes) gives back identical bits.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        put_u32(&mut out, VERSION);
        put_str(&mut out, T::DTYPE);
        put_str(&mut out, &self.kind);
        put_len(&mut out, self.groups.len());
        for group in &self.groups {
            put_len(&mut out, group.hyperparams.len());
            for (name, v) in &group.hyperparams {
                put_str(&mut out, name);
                put_f64(&mut out, *v);
            }
            put_len(&mut out, group.params.len());
            for p in &group.params {
                put_len(&mut out, p.shape.len());
                for &d in &p.shape {
                    put_len(&mut out, d);
                }
                out.extend_from_slice(&p.step.to_le_bytes());
                put_len(&mut out, p.buffers.len());
                for (name, data) in &p.buffers {
                    put_str(&mut out, name);
                    put_len(&mut out, data.len());
                    out.reserve(data.len() * std::mem::size_of::<T>());
                    for &x in data {
                        put_elem(&mut out, x);
                    }
                }
                put_len(&mut out, p.scalars.len());
                for (name, v) in &p.scalars {
                    put_str(&mut out, name);
                    put_f64(&mut out, *v);
                }
            }
        }
        out
    }

    /// Parses what [`to_bytes`](Self::to_bytes) wrote. Never panics: truncated, corrupt
    /// or foreign data, or a state saved for another element type, is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StateFileError> {
        let mut r = Reader { bytes, pos: 0 };
        let saved = Self::read_preamble(&mut r).map_err(StateFileError::Corrupt)?;
        let loading = StateDtype::from_name(T::DTYPE);
        if saved != loading {
            return Err(StateFileError::Dtype { saved, loading });
        }
        Self::read_body(&mut r).map_err(StateFileError::Corrupt)
    }

    /// Checks the magic bytes and layout version; returns the element type saved.
    fn read_preamble(r: &mut Reader<'_>) -> Result<StateDtype, String> {
        if r.take(MAGIC.len())? != MAGIC {
            return Err("not a graft optimizer state (bad magic bytes)".into());
        }
        let version = r.u32()?;
        if version != VERSION {
            return Err(format!(
                "layout version {version}, but this build reads version {VERSION}"
            ));
        }
        Ok(StateDtype::from_name(&r.string()?))
    }

    /// Reads everything after the preamble, up to the end of the bytes.
    fn read_body(r: &mut Reader<'_>) -> Result<Self, String> {
        let bytes = r.bytes;
        let kind = r.string()?;
        let mut groups = Vec::new();
        for _ in 0..r.count(8)? {
            let mut hyperparams = Vec::new();
            for _ in 0..r.count(12)? {
                hyperparams.push((r.string()?, r.f64()?));
            }
            let mut params = Vec::new();
            for _ in 0..r.count(32)? {
                let shape = (0..r.count(8)?)
                    .map(|_| r.len())
                    .collect::<Result<Vec<_>, _>>()?;
                let step = r.u64()?;
                let mut buffers = Vec::new();
                for _ in 0..r.count(12)? {
                    let name = r.string()?;
                    let n = r.count(elem_size::<T>())?;
                    let data = (0..n).map(|_| r.elem()).collect::<Result<Vec<T>, _>>()?;
                    buffers.push((name, data));
                }
                let mut scalars = Vec::new();
                for _ in 0..r.count(12)? {
                    scalars.push((r.string()?, r.f64()?));
                }
                params.push(SavedParamState {
                    shape,
                    step,
                    buffers,
                    scalars,
                });
            }
            groups.push(GroupState {
                hyperparams,
                params,
            });
        }
        if r.pos != bytes.len() {
            return Err(format!(
                "{} unexpected bytes after the state",
                bytes.len() - r.pos
            ));
        }
        Ok(Self { kind, groups })
    }

    /// Writes the state to `path` atomically (graft_tensor's [`write_atomically`]): to a
    /// temporary file of its own in the same directory, flushed to disk, then renamed over
    /// `path`, so a crash never leaves half a file and concurrent saves never mix.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), OptimError> {
        let path = path.as_ref();
        let bytes = self.to_bytes();
        write_atomically(path, |file| file.write_all(&bytes)).map_err(|e| OptimError::Io {
            path: path.display().to_string(),
            action: e.action,
            error: Arc::new(e.error),
        })
    }

    /// Reads a state written by [`save`](Self::save); a missing, truncated or corrupt
    /// file is an error naming the path, never a panic.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, OptimError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| OptimError::Io {
            path: path.display().to_string(),
            action: "reading",
            error: Arc::new(e),
        })?;
        Self::from_bytes(&bytes).map_err(|error| OptimError::BadFile {
            path: path.display().to_string(),
            error,
        })
    }
}

fn elem_size<T: Float>() -> usize {
    if T::DTYPE == "float32" {
        4
    } else {
        8
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_len(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&(v as u64).to_le_bytes());
}

fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// An element in its own precision (f32 through f64 and back is exact).
fn put_elem<T: Float>(out: &mut Vec<u8>, x: T) {
    if elem_size::<T>() == 4 {
        out.extend_from_slice(&(x.to_f64() as f32).to_bits().to_le_bytes());
    } else {
        put_f64(out, x.to_f64());
    }
}

/// A bounds-checked cursor over saved bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_bits(self.u64()?))
    }

    fn len(&mut self) -> Result<usize, String> {
        let at = self.pos;
        usize::try_from(self.u64()?).map_err(|_| format!("length too large at byte {at}"))
    }

    /// A count of items each at least `min_bytes` long, checked against what is left so
    /// that corrupt data cannot ask for a huge allocation.
    fn count(&mut self, min_bytes: usize) -> Result<usize, String> {
        let at = self.pos;
        let n = self.len()?;
        let left = self.bytes.len() - self.pos;
        match n.checked_mul(min_bytes) {
            Some(need) if need <= left => Ok(n),
            _ => Err(format!(
                "count {n} at byte {at} does not fit in the {left} bytes left"
            )),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.count(1)?;
        let at = self.pos;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| format!("invalid UTF-8 at byte {at}"))
    }

    fn elem<T: Float>(&mut self) -> Result<T, String> {
        Ok(if elem_size::<T>() == 4 {
            T::from_f64(f32::from_bits(u32::from_le_bytes(self.array()?)) as f64)
        } else {
            T::from_f64(self.f64()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> OptimizerState<f32> {
        OptimizerState {
            kind: "Adam".into(),
            groups: vec![GroupState {
                hyperparams: vec![("lr".into(), 0.1), ("amsgrad".into(), 1.0)],
                params: vec![SavedParamState {
                    shape: vec![2],
                    step: 3,
                    buffers: vec![("exp_avg".into(), vec![1.5, -0.0])],
                    scalars: vec![("mu_product".into(), 0.25)],
                }],
            }],
        }
    }

    #[test]
    fn bytes_round_trip_exactly_and_reject_corruption() {
        let state = sample();
        let bytes = state.to_bytes();
        let back = OptimizerState::<f32>::from_bytes(&bytes).unwrap();
        assert_eq!(back, state);
        assert_eq!(
            back.groups[0].params[0].buffers[0].1[1].to_bits(),
            (-0.0f32).to_bits()
        );
        for cut in 0..bytes.len() {
            assert!(OptimizerState::<f32>::from_bytes(&bytes[..cut]).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(OptimizerState::<f32>::from_bytes(&longer).is_err());
        let e = OptimizerState::<f64>::from_bytes(&bytes).unwrap_err();
        assert_eq!(
            e,
            StateFileError::Dtype {
                saved: StateDtype::Float32,
                loading: StateDtype::Float64
            }
        );
        assert!(e.to_string().contains("saved for float32"), "{e}");
        // A count field set to a huge value must not allocate or panic.
        let mut huge = bytes.clone();
        let kind_end = 8 + 4 + 8 + 7 + 8 + 4;
        huge[kind_end..kind_end + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(OptimizerState::<f32>::from_bytes(&huge).is_err());
    }

    #[test]
    fn reader_flags_missing_and_unknown_entries() {
        let state = sample();
        let saved = &state.groups[0].params[0];
        let mut r = saved.reader("Adam");
        assert!(r.required("exp_avg_sq").is_err());
        assert!(r.optional("exp_avg").is_some());
        assert!(r.finish().is_err()); // mu_product was never read
        let mut r = saved.reader("Adam");
        r.optional("exp_avg");
        assert_eq!(r.scalar("mu_product").unwrap(), 0.25);
        assert!(r.finish().is_ok());
        assert_eq!(saved.buffer("exp_avg"), Some(&[1.5f32, -0.0][..]));
        assert_eq!(saved.scalar("nope"), None);
    }

    #[test]
    fn save_and_load_a_file() {
        let dir = std::env::temp_dir().join(format!("graft-optim-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("opt.bin");
        sample().save(&path).unwrap();
        assert_eq!(OptimizerState::<f32>::load(&path).unwrap(), sample());
        std::fs::write(&path, b"GRAFTOPT").unwrap();
        let e = OptimizerState::<f32>::load(&path).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        assert!(matches!(e, OptimError::BadFile { .. }), "{e:?}");
        assert!(OptimizerState::<f32>::load(dir.join("missing.bin")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn io_failure_keeps_the_os_error_as_its_source() {
        use std::error::Error;
        let missing = std::env::temp_dir()
            .join(format!("graft-optim-missing-{}", std::process::id()))
            .join("opt.bin");
        let e = OptimizerState::<f32>::load(&missing).unwrap_err();
        assert!(
            matches!(
                e,
                OptimError::Io {
                    action: "reading",
                    ..
                }
            ),
            "{e:?}"
        );
        let source = e.source().expect("an I/O error has a source");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("the source is the std::io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        // Saving into a directory that does not exist fails the same way.
        let e = sample().save(&missing).unwrap_err();
        assert!(e.source().unwrap().is::<std::io::Error>(), "{e:?}");
    }
}
