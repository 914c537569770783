//! graft-optim: PyTorch's optimizers, learning-rate schedulers and gradient clipping.
//!
//! - [`rules`]: the update rules of SGD, RMSprop, Adam/AdamW, Adagrad, Adadelta, NAdam
//!   and RAdam as in-place kernels over flat slices, with their hyperparameters.
//! - [`schedulers`]: StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR (with warm
//!   restarts), LinearLR, OneCycleLR, ReduceLROnPlateau and SequentialLR, driving any
//!   optimizer through [`LrControl`].
//! - Clipping: [`clip_grad_norm`], [`clip_grad_value`], [`total_norm`].
//!
//! Numerics follow PyTorch operation by operation and are checked step by step against
//! its recorded values.

mod clip;
mod control;
mod error;
pub mod rules;
pub mod schedulers;

pub use clip::{clip_coefficient, clip_grad_norm, clip_grad_value, scale, total_norm};
pub use control::{GroupLrs, LrControl};
pub use error::OptimError;
pub use schedulers::{
    AnnealStrategy, CosineAnnealingLr, CosineAnnealingWarmRestarts, EpochScheduler, ExponentialLr, LinearLr,
    LrScheduler, MultiStepLr, OneCycleConfig, OneCycleLr, PlateauConfig, PlateauMode, ReduceLrOnPlateau, Schedule,
    SchedulerState, SequentialLr, StepLr, ThresholdMode,
};
