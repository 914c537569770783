//! [`Checkpoint`]: everything `--resume` needs, in one file written atomically.

use std::io::Write;
use std::path::Path;

use graft_nn::state::{load_state_dict_from_bytes, state_dict_to_bytes};
use graft_nn::Module;
use graft_optim::{LrScheduler, Optimizer, OptimizerState, SchedulerState};

use crate::error::DistError;

/// The first bytes of a checkpoint file.
const MAGIC: &[u8; 8] = b"GRAFTCKP";
/// The version of the file layout.
const VERSION: u32 = 1;

/// A training checkpoint: the model's weights (safetensors), the optimizer's state, the
/// scheduler's state if there is one, and the number of epochs completed.
///
/// Saving writes a temporary file next to the target and renames it into place, so a
/// crash (of this rank or another) never leaves a half-written checkpoint behind.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Epochs completed when it was taken (training resumes with the next one).
    pub epoch: usize,
    /// The model's state dict as safetensors bytes.
    pub model: Vec<u8>,
    /// The optimizer's state.
    pub optimizer: OptimizerState<f32>,
    /// The scheduler's state, if a scheduler was saved.
    pub scheduler: Option<SchedulerState>,
}

impl Checkpoint {
    /// Takes a checkpoint of `model`, `optimizer` and `scheduler` after `epoch` epochs.
    pub fn capture<M: Module<f32> + ?Sized>(
        model: &M,
        optimizer: &dyn Optimizer<f32>,
        scheduler: Option<&dyn LrScheduler>,
        epoch: usize,
    ) -> Result<Self, DistError> {
        Ok(Checkpoint {
            epoch,
            model: state_dict_to_bytes(model)
                .map_err(|e| DistError::Checkpoint(format!("saving the model: {e}")))?,
            optimizer: optimizer.state_dict(),
            scheduler: scheduler.map(|s| s.state()),
        })
    }

    /// Puts the saved state back into `model`, `optimizer` and `scheduler` (built the
    /// same way as when saving). Nothing is changed if the model does not match.
    pub fn restore<M: Module<f32> + ?Sized>(
        &self,
        model: &M,
        optimizer: &mut dyn Optimizer<f32>,
        scheduler: Option<&mut dyn LrScheduler>,
    ) -> Result<(), DistError> {
        load_state_dict_from_bytes(model, &self.model, "checkpoint")
            .map_err(|e| DistError::Checkpoint(e.to_string()))?;
        optimizer
            .load_state_dict(&self.optimizer)
            .map_err(|e| DistError::Checkpoint(format!("optimizer state: {e}")))?;
        match (scheduler, &self.scheduler) {
            (Some(s), Some(state)) => s
                .load_state(state)
                .map_err(|e| DistError::Checkpoint(format!("scheduler state: {e}")))?,
            (Some(_), None) => {
                return Err(DistError::Checkpoint(
                    "a scheduler was given, but the checkpoint holds none".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(DistError::Checkpoint(
                    "the checkpoint holds a scheduler state, but no scheduler was given".into(),
                ))
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// The checkpoint as bytes (little-endian, length-prefixed sections).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.model.len() + 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.epoch as u64).to_le_bytes());
        put_bytes(&mut out, &self.model);
        put_bytes(&mut out, &self.optimizer.to_bytes());
        match &self.scheduler {
            None => out.push(0),
            Some(s) => {
                out.push(1);
                put_bytes(&mut out, s.kind().as_bytes());
                let entries: Vec<_> = s.entries().collect();
                out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
                for (key, values) in entries {
                    put_bytes(&mut out, key.as_bytes());
                    out.extend_from_slice(&(values.len() as u64).to_le_bytes());
                    for v in values {
                        out.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
        }
        out
    }

    /// Parses what [`to_bytes`](Self::to_bytes) wrote; never panics on bad input.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DistError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(8)? != MAGIC {
            return Err(DistError::Checkpoint(
                "not a graft checkpoint (bad magic bytes)".into(),
            ));
        }
        let version = u32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(DistError::Checkpoint(format!(
                "layout version {version}, but this build reads version {VERSION}"
            )));
        }
        let epoch = r.u64()? as usize;
        let model = r.section()?.to_vec();
        let optimizer = OptimizerState::from_bytes(r.section()?)
            .map_err(|e| DistError::Checkpoint(format!("optimizer state: {e}")))?;
        let scheduler = match r.take(1)?[0] {
            0 => None,
            1 => {
                let kind = r.string()?;
                let mut state = SchedulerState::new(&kind);
                for _ in 0..r.u64()? {
                    let key = r.string()?;
                    let n = r.u64()? as usize;
                    if n > r.remaining() / 8 {
                        return Err(r.truncated());
                    }
                    let values = (0..n)
                        .map(|_| r.u64().map(f64::from_bits))
                        .collect::<Result<Vec<f64>, _>>()?;
                    state.insert(&key, values);
                }
                Some(state)
            }
            other => {
                return Err(DistError::Checkpoint(format!(
                    "bad scheduler flag {other} at byte {}",
                    r.pos - 1
                )))
            }
        };
        if r.remaining() != 0 {
            return Err(DistError::Checkpoint(format!(
                "{} unexpected bytes after the end",
                r.remaining()
            )));
        }
        Ok(Checkpoint {
            epoch,
            model,
            optimizer,
            scheduler,
        })
    }

    /// Writes the checkpoint to `path` through a temporary file renamed into place.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), DistError> {
        let path = path.as_ref();
        let io = |e: std::io::Error| DistError::Checkpoint(format!("{}: {e}", path.display()));
        let tmp = path.with_extension("ckpt.tmp");
        {
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&self.to_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads a checkpoint written by [`save`](Self::save).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, DistError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| DistError::Checkpoint(format!("{}: {e}", path.display())))?;
        Self::from_bytes(&bytes).map_err(|e| match e {
            DistError::Checkpoint(m) => DistError::Checkpoint(format!("{}: {m}", path.display())),
            other => other,
        })
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// A cursor that turns running off the end into an error.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn truncated(&self) -> DistError {
        DistError::Checkpoint(format!(
            "truncated: the data ends at byte {} inside a section",
            self.bytes.len()
        ))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DistError> {
        if n > self.remaining() {
            return Err(self.truncated());
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u64(&mut self) -> Result<u64, DistError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn section(&mut self) -> Result<&'a [u8], DistError> {
        let n = self.u64()?;
        if n > self.remaining() as u64 {
            return Err(self.truncated());
        }
        self.take(n as usize)
    }

    fn string(&mut self) -> Result<String, DistError> {
        let s = self.section()?;
        String::from_utf8(s.to_vec())
            .map_err(|_| DistError::Checkpoint(format!("bad UTF-8 name before byte {}", self.pos)))
    }
}
