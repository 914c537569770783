//! graft-optim: PyTorch's optimizers, learning-rate schedulers and gradient clipping,
//! over parameter [`Var`](graft_autograd::Var)s of any model.
//!
//! - [`Optimizer`]: the object-safe trait a training loop holds (`Box<dyn Optimizer>`):
//!   `step`, `zero_grad`, `lr` / `set_lr`, parameter groups, `state_dict` /
//!   `load_state_dict`. [`Sgd`], [`Rmsprop`], [`Adam`], [`AdamW`], [`Adagrad`],
//!   [`Adadelta`], [`Nadam`] and [`Radam`] are one [`GenericOptimizer`] running the
//!   matching update rule, in f32 or f64.
//! - [`rules`]: the update rules as in-place kernels over flat slices, with their
//!   hyperparameters (PyTorch's names and defaults) and per-parameter state.
//! - [`schedulers`]: StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR (with warm
//!   restarts), LinearLR, OneCycleLR, ReduceLROnPlateau and SequentialLR, driving any
//!   optimizer through [`LrControl`].
//! - Clipping: [`clip_grad_norm`] and [`clip_grad_value`] over parameters (and `_slices`
//!   forms over raw gradients), [`grad_norm`], [`grads_are_finite`].
//! - Checkpoints: [`OptimizerState`], in memory or in a file, resumes training bit for bit.
//!
//! Numerics follow PyTorch operation by operation and are checked step by step against
//! its recorded values, both from recorded gradients and end to end through autograd.
//!
//! ```
//! use graft_autograd::Var;
//! use graft_optim::rules::AdamConfig;
//! use graft_optim::{Adam, LrScheduler, Optimizer, Schedule, StepLr};
//! use graft_tensor::Tensor;
//!
//! // Fit w to minimize sum((w - 3)^2).
//! let w = Var::parameter(Tensor::from_vec(vec![0.0f64, 1.0], &[2]));
//! let mut opt = Adam::new(vec![w.clone()], AdamConfig::default().lr(0.1)).unwrap();
//! let mut sched = StepLr::new(100, 0.5).unwrap().attach(&mut opt);
//! for _ in 0..300 {
//!     opt.zero_grad();
//!     let loss = w.sub_scalar(3.0).square().sum();
//!     loss.backward().unwrap();
//!     if !opt.grads_are_finite() {
//!         continue; // skip a step that would spread NaN into w and Adam's moments
//!     }
//!     graft_optim::clip_grad_norm(&[w.clone()], 10.0, 2.0).unwrap();
//!     opt.step().unwrap();
//!     sched.step(&mut opt);
//! }
//! assert!(w.value().to_vec().iter().all(|x| (x - 3.0).abs() < 1e-2));
//! ```
//!
//! # Non-finite gradients
//!
//! Optimizers do not check gradients, as in PyTorch: a NaN (or infinite) gradient element
//! makes its parameter element NaN, and rules with running averages (momentum, Adam's and
//! RMSprop's moments, Adagrad's sum...) keep NaN in that element's state for good, so
//! every later step leaves it NaN too. [`clip_grad_norm`] spreads one NaN to every
//! gradient (the total norm is NaN). A training loop that wants to survive a bad batch
//! calls [`grads_are_finite`] (or [`Optimizer::grads_are_finite`]) after backward and
//! skips the step (and the clipping) when it is false.
//!
//! # Memory
//!
//! State buffers are allocated when an optimizer is built (or a group added) and reused
//! by every step; a step allocates nothing as long as gradients are contiguous (as
//! backward produces them) and nothing else shares a parameter's storage (see
//! [`Optimizer::step`] for the two copy cases). Parameters of at least 65,536 elements are
//! updated in parallel chunks, which cannot change the result: every rule is elementwise.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod clip;
mod control;
mod error;
mod optimizer;
pub mod rules;
pub mod schedulers;
mod state;

pub use clip::{
    clip_coefficient, clip_grad_norm, clip_grad_norm_slices, clip_grad_value,
    clip_grad_value_slices, grad_norm, grads_are_finite, scale, total_norm,
};
pub use control::{GroupLrs, LrControl};
pub use error::{OptimError, StateDtype, StateFileError};
pub use optimizer::{
    Adadelta, Adagrad, Adam, AdamW, GenericOptimizer, Nadam, Optimizer, ParamGroup, Radam, Rmsprop,
    Sgd,
};
pub use schedulers::{
    AnnealStrategy, CosineAnnealingLr, CosineAnnealingWarmRestarts, EpochScheduler, ExponentialLr,
    LinearLr, LrScheduler, MultiStepLr, OneCycleConfig, OneCycleLr, PlateauConfig, PlateauMode,
    ReduceLrOnPlateau, Schedule, SchedulerState, SequentialLr, StepLr, ThresholdMode,
};
pub use state::{GroupState, OptimizerState, SavedParamState, MAX_STEP};
