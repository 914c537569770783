//! A Keras-style training loop: `fit` with batch size, epochs or step budgets, validation,
//! metrics, callbacks and a progress bar, returning a per-epoch [`History`]; plus
//! `evaluate` and `predict`. All take any [`crate::data::Dataset`].

mod callbacks;
mod checks;
mod config;
mod distributed;
mod error;
mod evaluate;
mod fit;
mod history;
pub mod losses;
mod metrics;
mod progress;

pub use callbacks::{
    Callback, Context, Control, EarlyStopping, EpochCallback, LrSchedulerCallback, ModelCheckpoint,
    ReduceLrOnPlateauCallback, StepCallback, StepLogs,
};
pub use config::{FitConfig, Verbosity};
pub use error::TrainError;
pub use evaluate::{evaluate, predict, predict_dataset};
pub use fit::{fit, LossFn};
pub use history::{EpochLogs, History, ValCheck};
pub use metrics::{Accuracy, Metric};
