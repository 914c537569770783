//! Errors of saving and loading state dicts: [`StateDictError`] and the per-entry
//! [`Mismatch`] list a failed load reports.

use std::fmt;
use std::io;
use std::path::PathBuf;

use graft_tensor::io::AtomicWriteError;

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
    /// tensors given to [`load_state_dict_tensors`](super::load_state_dict_tensors)).
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
        /// The file name, or the label given to
        /// [`load_state_dict_from_bytes`](super::load_state_dict_from_bytes).
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

    pub(super) fn corrupt(source: &str, offset: Option<u64>, message: impl Into<String>) -> Self {
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
