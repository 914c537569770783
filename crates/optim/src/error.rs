//! The error type of this crate.

use std::fmt;

/// What went wrong when configuring or restoring an optimizer or scheduler.
#[derive(Clone, Debug, PartialEq)]
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
    /// Reading or writing a saved optimizer state failed, or the file is not a valid one.
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
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
            Self::Io { path, reason } => write!(f, "optimizer state file {path}: {reason}"),
            Self::Exhausted { owner, step, total } => write!(
                f,
                "{owner}: tried to step {step} times, but total_steps is {total}"
            ),
        }
    }
}

impl std::error::Error for OptimError {}

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
