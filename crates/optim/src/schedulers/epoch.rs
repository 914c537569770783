//! The driver that applies a closed-form [`Schedule`] to an optimizer epoch by epoch.

use super::{LrScheduler, Schedule, SchedulerState};
use crate::{LrControl, OptimError};

/// A [`Schedule`] attached to an optimizer: the groups' initial learning rates and the
/// epoch counter. Build one with [`Schedule::attach`].
#[derive(Clone, Debug)]
pub struct EpochScheduler<S> {
    schedule: S,
    base_lrs: Vec<f64>,
    last_epoch: u64,
}

impl<S: Schedule> EpochScheduler<S> {
    /// Records every group's current learning rate as its base and sets the epoch-0 rates.
    pub fn new(target: &mut dyn LrControl, schedule: S) -> Self {
        let base_lrs = (0..target.num_groups())
            .map(|g| target.group_lr(g))
            .collect();
        let scheduler = Self {
            schedule,
            base_lrs,
            last_epoch: 0,
        };
        scheduler.apply(target);
        scheduler
    }

    /// The schedule being applied.
    pub fn schedule(&self) -> &S {
        &self.schedule
    }

    /// Each group's learning rate when the schedule was attached.
    pub fn base_lrs(&self) -> &[f64] {
        &self.base_lrs
    }

    /// Writes the current epoch's rates into `target`.
    fn apply(&self, target: &mut dyn LrControl) {
        assert_eq!(
            target.num_groups(),
            self.base_lrs.len(),
            "{}: the optimizer has {} parameter groups, but the scheduler was attached to {}",
            self.schedule.name(),
            target.num_groups(),
            self.base_lrs.len()
        );
        for (group, lr) in self.last_lrs().into_iter().enumerate() {
            target.set_group_lr(group, lr);
        }
    }
}

impl<S: Schedule> LrScheduler for EpochScheduler<S> {
    fn step(&mut self, target: &mut dyn LrControl) {
        self.last_epoch += 1;
        self.apply(target);
    }

    fn last_epoch(&self) -> u64 {
        self.last_epoch
    }

    fn last_lrs(&self) -> Vec<f64> {
        self.base_lrs
            .iter()
            .map(|&base| self.schedule.lr_at(base, self.last_epoch))
            .collect()
    }

    fn state(&self) -> SchedulerState {
        SchedulerState::new(self.schedule.name())
            .with("last_epoch", vec![self.last_epoch as f64])
            .with("base_lrs", self.base_lrs.clone())
    }

    fn load_state(&mut self, state: &SchedulerState) -> Result<(), OptimError> {
        let owner = self.schedule.name();
        state.expect_kind(owner)?;
        let last_epoch = state.counter(owner, "last_epoch")?;
        let base_lrs = state.values(owner, "base_lrs")?;
        if base_lrs.len() != self.base_lrs.len() {
            return Err(OptimError::state(
                owner,
                format!(
                    "it has base_lrs for {} groups, this scheduler drives {}",
                    base_lrs.len(),
                    self.base_lrs.len()
                ),
            ));
        }
        self.base_lrs = base_lrs.to_vec();
        self.last_epoch = last_epoch;
        Ok(())
    }
}
