//! Learning-rate schedulers with PyTorch's semantics and names.
//!
//! Most schedulers are a pure [`Schedule`]: the learning rate as a closed-form function of
//! the group's initial learning rate and the epoch. [`Schedule::attach`] wraps one in an
//! [`EpochScheduler`], which remembers each group's initial rate and the epoch count and
//! writes the rate into an optimizer (any [`LrControl`]) on every [`LrScheduler::step`].
//! Because schedules are pure, [`SequentialLr`] composes them without the bookkeeping
//! PyTorch needs. [`OneCycleLr`] (which also cycles momentum) and [`ReduceLrOnPlateau`]
//! (which reacts to a metric) drive the optimizer directly.
//!
//! As in PyTorch, attaching a scheduler sets the epoch-0 rate at once, and the rate for
//! epoch `k` is in place after `k` calls of `step`. Unlike PyTorch's chainable form, an
//! epoch scheduler owns the rate: a rate changed by hand is overwritten at the next step.
//!
//! ```
//! use graft_optim::{GroupLrs, LrControl, LrScheduler, Schedule, SequentialLr, LinearLr, CosineAnnealingLr};
//!
//! let warmup = LinearLr::new(0.1, 1.0, 5).unwrap();
//! let cosine = CosineAnnealingLr::new(25, 0.0).unwrap();
//! let schedule = SequentialLr::new(vec![Box::new(warmup), Box::new(cosine)], vec![5]).unwrap();
//! let mut opt = GroupLrs::new(vec![0.1]);
//! let mut sched = schedule.attach(&mut opt);
//! assert!((opt.group_lr(0) - 0.01).abs() < 1e-15);
//! for _ in 0..5 {
//!     sched.step(&mut opt);
//! }
//! assert_eq!(opt.group_lr(0), 0.1);
//! ```

mod cosine;
mod epoch;
mod linear;
mod one_cycle;
mod plateau;
mod sequential;
mod state;
mod step;

pub use cosine::{CosineAnnealingLr, CosineAnnealingWarmRestarts};
pub use epoch::EpochScheduler;
pub use linear::LinearLr;
pub use one_cycle::{AnnealStrategy, OneCycleConfig, OneCycleLr};
pub use plateau::{PlateauConfig, PlateauMode, ReduceLrOnPlateau, ThresholdMode};
pub use sequential::SequentialLr;
pub use state::SchedulerState;
pub use step::{ExponentialLr, MultiStepLr, StepLr};

use crate::{LrControl, OptimError};
use std::fmt;

/// A learning-rate schedule in closed form: the rate at an epoch, given the group's
/// initial rate. Implementations are cheap, immutable values.
pub trait Schedule: fmt::Debug + Send + Sync {
    /// PyTorch's class name (`"StepLR"`, `"CosineAnnealingLR"`, ...).
    fn name(&self) -> &'static str;

    /// The learning rate at `epoch` (0 = right after attaching) for a parameter group
    /// whose learning rate was `base_lr` when the schedule was attached.
    fn lr_at(&self, base_lr: f64, epoch: u64) -> f64;

    /// Wraps the schedule in a scheduler driving `target`: records every group's current
    /// learning rate as its base and sets the epoch-0 rates.
    fn attach(self, target: &mut dyn LrControl) -> EpochScheduler<Self>
    where
        Self: Sized,
    {
        EpochScheduler::new(target, self)
    }
}

impl Schedule for Box<dyn Schedule> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn lr_at(&self, base_lr: f64, epoch: u64) -> f64 {
        (**self).lr_at(base_lr, epoch)
    }
}

/// A scheduler stepped once per epoch (or per batch, for [`OneCycleLr`]), as a fit loop
/// drives it. [`ReduceLrOnPlateau`] is not one: its step needs a metric.
pub trait LrScheduler: Send {
    /// Advances one epoch and writes the new learning rates (and momentums, where the
    /// scheduler cycles them) into `target`.
    fn step(&mut self, target: &mut dyn LrControl);

    /// The number of steps taken so far (PyTorch's `last_epoch`).
    fn last_epoch(&self) -> u64;

    /// The learning rates the scheduler last set, one per group (PyTorch's `get_last_lr`).
    fn last_lrs(&self) -> Vec<f64>;

    /// The scheduler's mutable state, for checkpoints.
    fn state(&self) -> SchedulerState;

    /// Restores a state saved by [`state`](Self::state) of a scheduler built the same way.
    /// It does not touch the optimizer, whose learning rates its own state restores.
    fn load_state(&mut self, state: &SchedulerState) -> Result<(), OptimError>;
}
