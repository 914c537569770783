//! State dicts: a module's parameters and buffers under PyTorch's names, saved and loaded
//! as [safetensors](https://github.com/huggingface/safetensors) files.
//!
//! safetensors is the format PyTorch users exchange weights in (`safetensors.torch.save_file`
//! writes it): a little-endian `u64` header length, a JSON header naming each tensor's dtype,
//! shape and byte range, then the raw data. A state dict saved by PyTorch from an
//! `nn.Sequential` loads into the matching [`Sequential`](crate::Sequential) as it is, and one
//! saved here loads into PyTorch.
//!
//! Loading is all or nothing: every name, shape and dtype is checked first, every problem is
//! reported in one [`StateDictError::Mismatch`], and only then are values assigned. A corrupt
//! or truncated file is a [`StateDictError::Corrupt`] naming the file and, where the format
//! gives one, the byte offset; reading never panics.
//!
//! ```
//! use graft_nn::{state, Linear, Module, Relu, Sequential};
//! use rand::SeedableRng;
//!
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let model: Sequential = Sequential::new().add(Linear::new(4, 8, &mut rng)).add(Relu).add(Linear::new(8, 2, &mut rng));
//! let path = std::env::temp_dir().join(format!("graft-doc-{}.safetensors", std::process::id()));
//! state::save_state_dict(&model, &path).unwrap();
//!
//! let other: Sequential = Sequential::new().add(Linear::new(4, 8, &mut rng)).add(Relu).add(Linear::new(8, 2, &mut rng));
//! state::load_state_dict(&other, &path).unwrap();
//! assert_eq!(other.named_parameters()[0].1.value().to_vec(), model.named_parameters()[0].1.value().to_vec());
//!
//! // A model of another shape is refused, with every problem listed.
//! let wrong: Sequential = Sequential::new().add(Linear::new(4, 3, &mut rng));
//! let err = state::load_state_dict(&wrong, &path).unwrap_err();
//! assert!(err.to_string().contains("shape mismatch for 0.weight: expected [3, 4], file has [8, 4]"));
//! assert!(err.to_string().contains("unexpected: 2.weight"));
//! # std::fs::remove_file(&path).unwrap();
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use graft_autograd::Var;
use graft_tensor::io::{write_atomically, AtomicWriteError};
use graft_tensor::{Float, Tensor};
use safetensors::tensor::Metadata;
use safetensors::{Dtype, SafeTensors, View};

use crate::module::Module;

/// Buffers that PyTorch keeps as `int64` counters (BatchNorm's `num_batches_tracked`).
/// graft holds them as floats; they are saved as `int64` and loaded from `int64` (or from
/// the module's own float dtype), so state dicts match PyTorch's exactly.
const INT64_BUFFERS: &[&str] = &["num_batches_tracked"];

/// Size of the little-endian header-length field that starts a safetensors file.
const LEN_FIELD: usize = 8;

/// One disagreement between a module and a state dict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The module has this entry; the state dict does not.
    Missing {
        /// Entry name (`0.weight`).
        name: String,
        /// The module's shape for it.
        shape: Vec<usize>,
        /// The dtype the module expects (`float32`).
        dtype: String,
    },
    /// The state dict has this entry; the module does not.
    Unexpected {
        /// Entry name.
        name: String,
        /// Its shape in the state dict.
        shape: Vec<usize>,
        /// Its dtype in the state dict.
        dtype: String,
    },
    /// Both have the entry, with different shapes.
    Shape {
        /// Entry name.
        name: String,
        /// The module's shape.
        expected: Vec<usize>,
        /// The state dict's shape.
        found: Vec<usize>,
    },
    /// Both have the entry, with different dtypes (no silent conversion: f32 does not load
    /// into an f64 model, nor the other way round).
    Dtype {
        /// Entry name.
        name: String,
        /// The module's dtype (`float64`).
        expected: String,
        /// The state dict's dtype (`float32`).
        found: String,
    },
    /// The same name appears twice (in a module whose `visit` repeats a name, or in a list of
    /// tensors given to [`load_state_dict_tensors`]).
    Duplicate {
        /// Entry name.
        name: String,
    },
}

impl Mismatch {
    /// The entry name this problem is about.
    pub fn name(&self) -> &str {
        match self {
            Mismatch::Missing { name, .. }
            | Mismatch::Unexpected { name, .. }
            | Mismatch::Shape { name, .. }
            | Mismatch::Dtype { name, .. }
            | Mismatch::Duplicate { name } => name,
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Missing { name, shape, dtype } => {
                write!(f, "missing: {name} (module expects {dtype} {shape:?})")
            }
            Mismatch::Unexpected { name, shape, dtype } => {
                write!(
                    f,
                    "unexpected: {name} ({dtype} {shape:?}, which the module does not have)"
                )
            }
            Mismatch::Shape {
                name,
                expected,
                found,
            } => {
                write!(
                    f,
                    "shape mismatch for {name}: expected {expected:?}, file has {found:?}"
                )
            }
            Mismatch::Dtype {
                name,
                expected,
                found,
            } => {
                write!(
                    f,
                    "dtype mismatch for {name}: expected {expected}, file has {found}"
                )
            }
            Mismatch::Duplicate { name } => write!(f, "duplicate entry: {name}"),
        }
    }
}

/// Why saving or loading a state dict failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StateDictError {
    /// Reading or writing a file failed.
    Io {
        /// The file (or directory) involved.
        path: PathBuf,
        /// What was being done: `"reading"`, `"creating a temporary file to write"`,
        /// `"writing"` or `"replacing"`.
        action: &'static str,
        /// The OS error.
        error: io::Error,
    },
    /// The bytes are not a valid safetensors file (truncated, corrupt, not safetensors).
    Corrupt {
        /// The file name, or the label given to [`load_state_dict_from_bytes`].
        source: String,
        /// The byte offset where the problem was found, when the format gives one.
        offset: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// The file is valid but does not fit the module: every problem found, in one list.
    Mismatch {
        /// The file name, or the label given to the `_from_bytes`/`_tensors` entry point.
        source: String,
        /// Every missing, unexpected and mismatched entry.
        mismatches: Vec<Mismatch>,
    },
    /// The module's state cannot be written (a repeated name, or an element type that
    /// safetensors has no dtype for).
    Unsupported {
        /// What is wrong.
        message: String,
    },
}

impl StateDictError {
    /// The mismatches of a [`StateDictError::Mismatch`]; empty for other errors.
    pub fn mismatches(&self) -> &[Mismatch] {
        match self {
            StateDictError::Mismatch { mismatches, .. } => mismatches,
            _ => &[],
        }
    }

    fn corrupt(source: &str, offset: Option<u64>, message: impl Into<String>) -> Self {
        StateDictError::Corrupt {
            source: source.to_string(),
            offset,
            message: message.into(),
        }
    }
}

impl fmt::Display for StateDictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateDictError::Io {
                path,
                action: "reading",
                error,
            } => write!(f, "error reading {}: {error}", path.display()),
            StateDictError::Io {
                path,
                action,
                error,
            } => {
                write!(
                    f,
                    "error {action} {}: {error}; any previous file there is unchanged",
                    path.display()
                )
            }
            StateDictError::Corrupt {
                source,
                offset: Some(o),
                message,
            } => {
                write!(
                    f,
                    "{source} is not a valid safetensors file: at byte {o}: {message}"
                )
            }
            StateDictError::Corrupt {
                source,
                offset: None,
                message,
            } => {
                write!(f, "{source} is not a valid safetensors file: {message}")
            }
            StateDictError::Mismatch { source, mismatches } => {
                let n = mismatches.len();
                write!(
                    f,
                    "state dict {source} does not match the module ({n} problem{}; nothing was loaded):",
                    if n == 1 { "" } else { "s" }
                )?;
                for m in mismatches {
                    write!(f, "\n  {m}")?;
                }
                Ok(())
            }
            StateDictError::Unsupported { message } => {
                write!(f, "cannot save state dict: {message}")
            }
        }
    }
}

impl From<AtomicWriteError> for StateDictError {
    /// A failed save, as the same [`StateDictError::Io`] naming the file and the step.
    fn from(e: AtomicWriteError) -> Self {
        StateDictError::Io {
            path: e.path,
            action: e.action,
            error: e.error,
        }
    }
}

impl std::error::Error for StateDictError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StateDictError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------

/// The module's parameters then buffers, under PyTorch's names, as tensors (sharing storage
/// with the module; copy-on-write keeps them from changing behind its back).
pub fn state_dict<T: Float, M: Module<T> + ?Sized>(module: &M) -> Vec<(String, Tensor<T>)> {
    module
        .named_state()
        .into_iter()
        .map(|(n, v)| (n, v.value()))
        .collect()
}

/// Writes the module's parameters and buffers to `path` as safetensors, in the module's
/// dtype (BatchNorm's `num_batches_tracked` as `int64`, as PyTorch does).
///
/// The bytes go to a temporary file in the same directory, which is flushed to disk and then
/// renamed over `path`: a failed save leaves any previous file at `path` as it was.
pub fn save_state_dict<T: Float, M: Module<T> + ?Sized>(
    module: &M,
    path: impl AsRef<Path>,
) -> Result<(), StateDictError> {
    let bytes = state_dict_to_bytes(module)?;
    Ok(write_atomically(path.as_ref(), |file| {
        file.write_all(&bytes)
    })?)
}

/// The safetensors bytes [`save_state_dict`] would write.
pub fn state_dict_to_bytes<T: Float, M: Module<T> + ?Sized>(
    module: &M,
) -> Result<Vec<u8>, StateDictError> {
    serialize_tensors(&state_dict(module))
}

/// Loads the safetensors file at `path` into the module: see [`load_state_dict_from_bytes`].
pub fn load_state_dict<T: Float, M: Module<T> + ?Sized>(
    module: &M,
    path: impl AsRef<Path>,
) -> Result<(), StateDictError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    load_state_dict_from_bytes(module, &bytes, &path.display().to_string())
}

/// Loads safetensors bytes into the module. Every entry of the module must be in the file
/// with the same shape and dtype, and the file must hold nothing else; otherwise the error
/// lists every missing, unexpected and mismatched entry and the module is left unchanged.
/// `source` names the bytes in error messages (a file name, a URL).
pub fn load_state_dict_from_bytes<T: Float, M: Module<T> + ?Sized>(
    module: &M,
    bytes: &[u8],
    source: &str,
) -> Result<(), StateDictError> {
    let st = parse(bytes, source)?;
    let targets = module.named_state();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = st.tensors();
    let entries: Vec<Entry<'_>> = views
        .iter()
        .map(|(name, view)| Entry {
            name,
            dtype: view.dtype(),
            shape: view.shape(),
            data: view.data(),
        })
        .collect();
    let plan = check(&targets, &entries, source, true)?;
    let values = plan
        .iter()
        .map(|&(t, e)| {
            let e = &entries[e];
            let data = decode::<T>(e.dtype, e.data).ok_or_else(|| {
                StateDictError::corrupt(
                    source,
                    None,
                    format!("cannot decode {} as {}", e.name, T::DTYPE),
                )
            })?;
            Ok((t, Tensor::from_vec(data, e.shape)))
        })
        .collect::<Result<Vec<_>, StateDictError>>()?;
    assign(&targets, values, source)
}

/// Loads named tensors (as [`state_dict`] returns them) into the module, with the same
/// checks as [`load_state_dict_from_bytes`]: all or nothing, every problem reported.
pub fn load_state_dict_tensors<T: Float, M: Module<T> + ?Sized>(
    module: &M,
    tensors: impl IntoIterator<Item = (String, Tensor<T>)>,
) -> Result<(), StateDictError> {
    let tensors: Vec<(String, Tensor<T>)> = tensors.into_iter().collect();
    let targets = module.named_state();
    let dtype = st_dtype::<T>().ok_or_else(|| unsupported_dtype::<T>())?;
    let entries: Vec<Entry<'_>> = tensors
        .iter()
        .map(|(name, t)| Entry {
            name,
            dtype,
            shape: t.shape(),
            data: &[],
        })
        .collect();
    let plan = check(&targets, &entries, "(tensors)", false)?;
    let values = plan
        .iter()
        .map(|&(t, e)| (t, tensors[e].1.clone()))
        .collect();
    assign(&targets, values, "(tensors)")
}

/// Writes named tensors to `path` as safetensors, atomically as [`save_state_dict`] does.
pub fn save_tensors<T: Float>(
    tensors: &[(String, Tensor<T>)],
    path: impl AsRef<Path>,
) -> Result<(), StateDictError> {
    let bytes = serialize_tensors(tensors)?;
    Ok(write_atomically(path.as_ref(), |file| {
        file.write_all(&bytes)
    })?)
}

/// Reads every tensor of a safetensors file, in file order. Every entry must have dtype `T`
/// (an error lists those that do not), except `int64` counters such as BatchNorm's
/// `num_batches_tracked`, which are converted.
pub fn load_tensors<T: Float>(
    path: impl AsRef<Path>,
) -> Result<Vec<(String, Tensor<T>)>, StateDictError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    load_tensors_from_bytes(&bytes, &path.display().to_string())
}

/// Reads every tensor of safetensors bytes, in file order (see [`load_tensors`]); `source`
/// names the bytes in error messages.
pub fn load_tensors_from_bytes<T: Float>(
    bytes: &[u8],
    source: &str,
) -> Result<Vec<(String, Tensor<T>)>, StateDictError> {
    let st = parse(bytes, source)?;
    let mut views = st.tensors();
    views.sort_by(|(a, va), (b, vb)| {
        (va.data().as_ptr() as usize, a).cmp(&(vb.data().as_ptr() as usize, b))
    });
    let expected = st_dtype::<T>().ok_or_else(|| unsupported_dtype::<T>())?;
    let mismatches: Vec<Mismatch> = views
        .iter()
        .filter(|(name, v)| {
            v.dtype() != expected && !(v.dtype() == Dtype::I64 && is_int64_buffer(name))
        })
        .map(|(name, v)| Mismatch::Dtype {
            name: name.clone(),
            expected: T::DTYPE.to_string(),
            found: dtype_name(v.dtype()),
        })
        .collect();
    if !mismatches.is_empty() {
        return Err(StateDictError::Mismatch {
            source: source.to_string(),
            mismatches,
        });
    }
    // Nothing bounds what a file asks for but the cap (loading into a module is bounded by
    // the module's own sizes instead): check it before decoding allocates.
    let shapes: Vec<&[usize]> = views.iter().map(|(_, v)| v.shape()).collect();
    crate::limits::check_parameter_count(source, &shapes)
        .map_err(|m| StateDictError::corrupt(source, None, m))?;
    views
        .into_iter()
        .map(|(name, v)| {
            let data = decode::<T>(v.dtype(), v.data()).ok_or_else(|| {
                StateDictError::corrupt(
                    source,
                    None,
                    format!("cannot decode {name} as {}", T::DTYPE),
                )
            })?;
            Ok((name, Tensor::from_vec(data, v.shape())))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Checking and assigning
// ---------------------------------------------------------------------------------------

/// A state-dict entry as the checker sees it.
struct Entry<'a> {
    name: &'a str,
    dtype: Dtype,
    shape: &'a [usize],
    data: &'a [u8],
}

/// Checks every target against the entries; on success, pairs each target index with its
/// entry index. Problems come in module order, then unexpected entries by name, then
/// repeated names.
fn check<T: Float>(
    targets: &[(String, Var<T>)],
    entries: &[Entry<'_>],
    source: &str,
    allow_int64_counters: bool,
) -> Result<Vec<(usize, usize)>, StateDictError> {
    let mut mismatches = Vec::new();
    let mut duplicates = Vec::new();
    let mut by_name: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        if by_name.insert(e.name, i).is_some() {
            duplicates.push(Mismatch::Duplicate {
                name: e.name.to_string(),
            });
        }
    }
    let expected_dtype = st_dtype::<T>();
    let mut seen: HashSet<&str> = HashSet::with_capacity(targets.len());
    let mut plan = Vec::with_capacity(targets.len());
    for (t, (name, var)) in targets.iter().enumerate() {
        if !seen.insert(name) {
            duplicates.push(Mismatch::Duplicate { name: name.clone() });
            continue;
        }
        let Some(&e) = by_name.get(name.as_str()) else {
            mismatches.push(Mismatch::Missing {
                name: name.clone(),
                shape: var.shape().to_vec(),
                dtype: T::DTYPE.to_string(),
            });
            continue;
        };
        let entry = &entries[e];
        let mut ok = true;
        if entry.shape != var.shape() {
            mismatches.push(Mismatch::Shape {
                name: name.clone(),
                expected: var.shape().to_vec(),
                found: entry.shape.to_vec(),
            });
            ok = false;
        }
        let dtype_ok = Some(entry.dtype) == expected_dtype
            || (allow_int64_counters && entry.dtype == Dtype::I64 && is_int64_buffer(name));
        if !dtype_ok {
            mismatches.push(Mismatch::Dtype {
                name: name.clone(),
                expected: T::DTYPE.to_string(),
                found: dtype_name(entry.dtype),
            });
            ok = false;
        }
        if ok {
            plan.push((t, e));
        }
    }
    let mut unexpected: Vec<&Entry<'_>> =
        entries.iter().filter(|e| !seen.contains(e.name)).collect();
    unexpected.sort_by_key(|e| e.name);
    mismatches.extend(unexpected.into_iter().map(|e| Mismatch::Unexpected {
        name: e.name.to_string(),
        shape: e.shape.to_vec(),
        dtype: dtype_name(e.dtype),
    }));
    mismatches.extend(duplicates);
    if mismatches.is_empty() {
        Ok(plan)
    } else {
        Err(StateDictError::Mismatch {
            source: source.to_string(),
            mismatches,
        })
    }
}

/// Assigns checked values; if an assignment fails anyway, restores what was assigned.
fn assign<T: Float>(
    targets: &[(String, Var<T>)],
    values: Vec<(usize, Tensor<T>)>,
    source: &str,
) -> Result<(), StateDictError> {
    let mut done: Vec<(usize, Tensor<T>)> = Vec::with_capacity(values.len());
    for (t, value) in values {
        let var = &targets[t].1;
        let old = var.value();
        let found = value.shape().to_vec();
        if var.try_set_value(value).is_err() {
            // Not reachable after `check`; kept so that a load stays all-or-nothing regardless.
            for (t, old) in done.into_iter().rev() {
                let _ = targets[t].1.try_set_value(old);
            }
            return Err(StateDictError::Mismatch {
                source: source.to_string(),
                mismatches: vec![Mismatch::Shape {
                    name: targets[t].0.clone(),
                    expected: var.shape().to_vec(),
                    found,
                }],
            });
        }
        done.push((t, old));
    }
    Ok(())
}

fn is_int64_buffer(name: &str) -> bool {
    let leaf = name.rsplit('.').next().unwrap_or(name);
    INT64_BUFFERS.contains(&leaf)
}

// ---------------------------------------------------------------------------------------
// Encoding and decoding
// ---------------------------------------------------------------------------------------

fn st_dtype<T: Float>() -> Option<Dtype> {
    match T::DTYPE {
        "float32" => Some(Dtype::F32),
        "float64" => Some(Dtype::F64),
        _ => None,
    }
}

fn unsupported_dtype<T: Float>() -> StateDictError {
    StateDictError::Unsupported {
        message: format!("element type {} has no safetensors dtype", T::DTYPE),
    }
}

/// PyTorch's name for a safetensors dtype (`F32` -> `float32`).
fn dtype_name(d: Dtype) -> String {
    match d {
        Dtype::BOOL => "bool".into(),
        Dtype::U8 => "uint8".into(),
        Dtype::I8 => "int8".into(),
        Dtype::I16 => "int16".into(),
        Dtype::U16 => "uint16".into(),
        Dtype::F16 => "float16".into(),
        Dtype::BF16 => "bfloat16".into(),
        Dtype::I32 => "int32".into(),
        Dtype::U32 => "uint32".into(),
        Dtype::F32 => "float32".into(),
        Dtype::F64 => "float64".into(),
        Dtype::I64 => "int64".into(),
        Dtype::U64 => "uint64".into(),
        other => format!("{other} (safetensors dtype)"),
    }
}

/// Little-endian bytes of a file entry as `T`; `None` for a dtype it cannot read exactly.
fn decode<T: Float>(dtype: Dtype, data: &[u8]) -> Option<Vec<T>> {
    fn read<const N: usize, T>(data: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        data.chunks_exact(N)
            .map(|c| f(c.try_into().expect("chunks_exact yields N bytes")))
            .collect()
    }
    match dtype {
        Dtype::F32 => Some(read(data, |b| T::from_f64(f32::from_le_bytes(b) as f64))),
        Dtype::F64 => Some(read(data, |b| T::from_f64(f64::from_le_bytes(b)))),
        Dtype::I64 => Some(read(data, |b| T::from_f64(i64::from_le_bytes(b) as f64))),
        _ => None,
    }
}

/// A tensor ready for safetensors' serializer.
struct Encoded {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Encoded {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        (&self.data).into()
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn encode<T: Float>(name: &str, t: &Tensor<T>) -> Result<Encoded, StateDictError> {
    let values = t.to_vec();
    let (dtype, data) = if is_int64_buffer(name) {
        (
            Dtype::I64,
            values
                .iter()
                .flat_map(|v| (v.to_f64() as i64).to_le_bytes())
                .collect(),
        )
    } else {
        match st_dtype::<T>().ok_or_else(|| unsupported_dtype::<T>())? {
            Dtype::F32 => (
                Dtype::F32,
                values
                    .iter()
                    .flat_map(|v| (v.to_f64() as f32).to_le_bytes())
                    .collect(),
            ),
            _ => (
                Dtype::F64,
                values
                    .iter()
                    .flat_map(|v| v.to_f64().to_le_bytes())
                    .collect(),
            ),
        }
    };
    Ok(Encoded {
        dtype,
        shape: t.shape().to_vec(),
        data,
    })
}

fn serialize_tensors<T: Float>(tensors: &[(String, Tensor<T>)]) -> Result<Vec<u8>, StateDictError> {
    let mut seen = HashSet::with_capacity(tensors.len());
    let dups: Vec<&str> = tensors
        .iter()
        .filter(|(n, _)| !seen.insert(n.as_str()))
        .map(|(n, _)| n.as_str())
        .collect();
    if !dups.is_empty() {
        return Err(StateDictError::Unsupported {
            message: format!("entries named more than once: {}", dups.join(", ")),
        });
    }
    let encoded: Vec<(&str, Encoded)> = tensors
        .iter()
        .map(|(n, t)| Ok((n.as_str(), encode(n, t)?)))
        .collect::<Result<_, StateDictError>>()?;
    let metadata = Some(HashMap::from([("format".to_string(), "pt".to_string())]));
    safetensors::serialize(encoded.iter().map(|(n, e)| (*n, e)), metadata).map_err(|e| {
        StateDictError::Unsupported {
            message: e.to_string(),
        }
    })
}

// ---------------------------------------------------------------------------------------
// Parsing, with byte offsets in errors
// ---------------------------------------------------------------------------------------

/// Parses safetensors bytes, checking the framing first so that every error can name the
/// byte where things went wrong and no arithmetic on hostile numbers can overflow.
fn parse<'a>(bytes: &'a [u8], source: &str) -> Result<SafeTensors<'a>, StateDictError> {
    let len = bytes.len();
    let Some(len_field) = bytes.get(..LEN_FIELD) else {
        return Err(StateDictError::corrupt(
            source,
            Some(len as u64),
            format!(
                "file is {len} bytes long, too short for the 8-byte header length (truncated?)"
            ),
        ));
    };
    let n = u64::from_le_bytes(len_field.try_into().expect("8 bytes"));
    let available = (len - LEN_FIELD) as u64;
    if n > available {
        return Err(StateDictError::corrupt(
            source,
            Some(0),
            format!("header length field says the JSON header is {n} bytes, but only {available} bytes follow (truncated?)"),
        ));
    }
    let header_end = LEN_FIELD + n as usize;
    let header = &bytes[LEN_FIELD..header_end];
    let text = std::str::from_utf8(header).map_err(|e| {
        StateDictError::corrupt(
            source,
            Some((LEN_FIELD + e.valid_up_to()) as u64),
            "JSON header is not valid UTF-8",
        )
    })?;
    let metadata: Metadata = serde_json::from_str(text).map_err(|e| {
        let offset = LEN_FIELD + json_offset(text, e.line(), e.column());
        StateDictError::corrupt(
            source,
            Some(offset as u64),
            format!("invalid JSON header: {e}"),
        )
    })?;
    let data_len = metadata.data_len();
    let expected_end = header_end.checked_add(data_len);
    if expected_end != Some(len) {
        let message = match expected_end {
            Some(end) if end > len => format!(
                "header describes {data_len} bytes of tensor data, ending at byte {end}, but the file ends at byte {len} (truncated?)"
            ),
            Some(end) => format!("{} unexpected bytes after the tensor data, which ends at byte {end}", len - end),
            None => format!("header describes {data_len} bytes of tensor data, more than a file can hold"),
        };
        return Err(StateDictError::corrupt(
            source,
            Some(expected_end.unwrap_or(len).min(len) as u64),
            message,
        ));
    }
    for (name, info) in metadata.tensors() {
        let mut numel: usize = 1;
        for &d in info.shape.iter().filter(|&&d| d != 0) {
            numel = numel.checked_mul(d).ok_or_else(|| {
                StateDictError::corrupt(
                    source,
                    None,
                    format!("shape {:?} of {name} is too large", info.shape),
                )
            })?;
        }
    }
    SafeTensors::deserialize(bytes)
        .map_err(|e| StateDictError::corrupt(source, None, e.to_string()))
}

/// Byte offset in `text` of serde_json's 1-based (line, column), clamped to the text.
fn json_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (line_start + column.saturating_sub(1)).min(text.len())
}

// ---------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------

fn read_file(path: &Path) -> Result<Vec<u8>, StateDictError> {
    fs::read(path).map_err(|error| StateDictError::Io {
        path: path.to_path_buf(),
        action: "reading",
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_offsets() {
        assert_eq!(json_offset("abc", 1, 2), 1);
        assert_eq!(json_offset("ab\ncd", 2, 1), 3);
        assert_eq!(json_offset("ab", 5, 9), 2);
    }
}
