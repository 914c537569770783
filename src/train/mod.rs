//! A Keras-style training loop: `fit` with batch size, epochs, validation split, metrics,
//! callbacks and a progress bar, returning a per-epoch [`History`]; plus `evaluate` and
//! `predict`.

mod callbacks;
mod config;
mod distributed;
mod error;
mod fit;
mod history;
pub mod losses;
mod metrics;
mod progress;

pub use callbacks::{
    Callback, Context, Control, EarlyStopping, EpochCallback, LrSchedulerCallback, ModelCheckpoint,
    ReduceLrOnPlateauCallback,
};
pub use config::{FitConfig, Verbosity};
pub use error::TrainError;
pub use fit::{evaluate, fit, predict, LossFn};
pub use history::{EpochLogs, History};
pub use metrics::{Accuracy, Metric};
