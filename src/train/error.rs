//! Errors of the training loop.

use std::fmt;

/// Why training stopped with an error.
#[derive(Debug)]
pub enum TrainError {
    /// The loss became NaN or infinite; training stops before the bad step is applied.
    NonFiniteLoss {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// The loss value.
        value: f64,
    },
    /// A tensor op failed (shapes of the model, loss and data disagree).
    Tensor(graft_tensor::TensorError),
    /// The optimizer refused to step.
    Optim(graft_optim::OptimError),
    /// Saving or restoring weights failed.
    State(graft_nn::state::StateDictError),
    /// Writing the history failed.
    Io(std::io::Error),
    /// A bad argument (an empty training set, a batch size of 0); the message starts with
    /// the function (`fit: batch_size must be at least 1, got 0`).
    Config(String),
    /// A dataset could not assemble a batch.
    Data(crate::data::DataError),
    /// The model panicked on the first batch checked before training (a user module
    /// without a `try_forward`); the message says which data set and why.
    Model(String),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::NonFiniteLoss { epoch, step, value } => {
                write!(
                    f,
                    "fit: loss became {value} at epoch {epoch}, step {step}; training stopped"
                )
            }
            TrainError::Tensor(e) => write!(f, "fit: {e}"),
            TrainError::Optim(e) => write!(f, "fit: {e}"),
            TrainError::State(e) => write!(f, "fit: {e}"),
            TrainError::Io(e) => write!(f, "fit: {e}"),
            TrainError::Config(m) => write!(f, "{m}"),
            TrainError::Data(e) => write!(f, "fit: {e}"),
            TrainError::Model(m) => write!(f, "fit: {m}"),
        }
    }
}

impl std::error::Error for TrainError {}

impl From<graft_tensor::TensorError> for TrainError {
    fn from(e: graft_tensor::TensorError) -> Self {
        TrainError::Tensor(e)
    }
}

impl From<graft_optim::OptimError> for TrainError {
    fn from(e: graft_optim::OptimError) -> Self {
        TrainError::Optim(e)
    }
}

impl From<graft_nn::state::StateDictError> for TrainError {
    fn from(e: graft_nn::state::StateDictError) -> Self {
        TrainError::State(e)
    }
}

impl From<crate::data::DataError> for TrainError {
    fn from(e: crate::data::DataError) -> Self {
        TrainError::Data(e)
    }
}

impl From<std::io::Error> for TrainError {
    fn from(e: std::io::Error) -> Self {
        TrainError::Io(e)
    }
}
