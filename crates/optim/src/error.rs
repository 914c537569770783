//! The error type of this crate.

use std::fmt;
use std::io;
use std::sync::Arc;

/// What went wrong when configuring or restoring an optimizer or scheduler.
///
/// `Clone` (an I/O error is shared through an [`Arc`]) but not `PartialEq`: the
/// [`std::io::Error`] it keeps as its [`source`](std::error::Error::source) cannot be
/// compared; match on the variant instead.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum OptimError {
    /// A hyperparameter is outside its valid range, like PyTorch's `ValueError`s.
    InvalidParam {
        /// The optimizer or scheduler that rejected it (`"Adam"`, `"StepLR"`, ...).
        owner: &'static str,
        /// The parameter's name, in PyTorch's spelling (`"lr"`, `"betas[0]"`, ...).
        param: &'static str,
        /// The rejected value, as written by the caller.
        value: String,
        /// What a valid value looks like.
        expected: &'static str,
    },
    /// Saved state does not fit the object it is loaded into.
    BadState {
        /// The object loading the state.
        owner: &'static str,
        /// What does not fit.
        reason: String,
    },
    /// The parameters handed to an optimizer, or their gradients, are unusable: an empty
    /// parameter list, a computed (non-leaf) Var, a gradient whose shape differs from its
    /// parameter's.
    BadParams {
        /// The optimizer or function that rejected them.
        owner: &'static str,
        /// What is wrong, naming the parameter.
        reason: String,
    },
    /// Reading or writing a saved optimizer state file failed; the OS error is the
    /// [`source`](std::error::Error::source).
    Io {
        /// The file.
        path: String,
        /// What was being done (`"reading"`, or the step of the atomic write that failed).
        action: &'static str,
        /// The OS error.
        error: Arc<io::Error>,
    },
    /// A saved optimizer state file was read but is not a valid one for this element type.
    BadFile {
        /// The file.
        path: String,
        /// What is wrong with its bytes.
        error: StateFileError,
    },
    /// A scheduler was stepped past the number of steps it was configured for.
    Exhausted {
        /// The scheduler.
        owner: &'static str,
        /// The step that was asked for.
        step: u64,
        /// The last valid step.
        total: u64,
    },
}

impl OptimError {
    /// Shorthand for [`OptimError::InvalidParam`].
    pub(crate) fn param(
        owner: &'static str,
        param: &'static str,
        value: impl fmt::Display,
        expected: &'static str,
    ) -> Self {
        Self::InvalidParam {
            owner,
            param,
            value: value.to_string(),
            expected,
        }
    }

    /// Shorthand for [`OptimError::BadParams`].
    pub(crate) fn params(owner: &'static str, reason: impl Into<String>) -> Self {
        Self::BadParams {
            owner,
            reason: reason.into(),
        }
    }

    /// Shorthand for [`OptimError::BadState`].
    pub(crate) fn state(owner: &'static str, reason: impl Into<String>) -> Self {
        Self::BadState {
            owner,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for OptimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidParam {
                owner,
                param,
                value,
                expected,
            } => write!(f, "{owner}: invalid {param} = {value}: expected {expected}"),
            Self::BadState { owner, reason } => write!(f, "{owner}: cannot load state: {reason}"),
            Self::BadParams { owner, reason } => write!(f, "{owner}: {reason}"),
            Self::Io {
                path,
                action,
                error,
            } => write!(f, "optimizer state file {path}: {action} failed: {error}"),
            Self::BadFile { path, error } => write!(f, "optimizer state file {path}: {error}"),
            Self::Exhausted { owner, step, total } => write!(
                f,
                "{owner}: tried to step {step} times, but total_steps is {total}"
            ),
        }
    }
}

impl std::error::Error for OptimError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { error, .. } => Some(error.as_ref()),
            Self::BadFile { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The element type an optimizer state was saved for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateDtype {
    /// `f32` parameters.
    Float32,
    /// `f64` parameters.
    Float64,
    /// A name this build does not know (a newer writer, or a corrupt file), as written.
    Other(String),
}

impl StateDtype {
    /// The dtype named `name` (graft's `Float::DTYPE` spelling: `"float32"`, `"float64"`).
    pub fn from_name(name: &str) -> Self {
        match name {
            "float32" => Self::Float32,
            "float64" => Self::Float64,
            other => Self::Other(other.to_string()),
        }
    }

    /// The name as written in the file.
    pub fn name(&self) -> &str {
        match self {
            Self::Float32 => "float32",
            Self::Float64 => "float64",
            Self::Other(name) => name,
        }
    }
}

impl fmt::Display for StateDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why bytes are not a valid optimizer state (what
/// [`OptimizerState::from_bytes`](crate::OptimizerState::from_bytes) returns).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateFileError {
    /// The state was saved for parameters of another element type.
    Dtype {
        /// The element type in the file.
        saved: StateDtype,
        /// The element type it is being loaded as.
        loading: StateDtype,
    },
    /// The bytes are truncated, corrupt or not an optimizer state at all.
    Corrupt(String),
}

impl fmt::Display for StateFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dtype { saved, loading } => {
                write!(f, "saved for {saved} parameters, but loaded as {loading}")
            }
            Self::Corrupt(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for StateFileError {}

/// Checks `ok` and otherwise returns the [`OptimError::InvalidParam`] it describes.
pub(crate) fn ensure(
    ok: bool,
    owner: &'static str,
    param: &'static str,
    value: impl fmt::Display,
    expected: &'static str,
) -> Result<(), OptimError> {
    if ok {
        Ok(())
    } else {
        Err(OptimError::param(owner, param, value, expected))
    }
}
