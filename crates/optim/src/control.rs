//! The handle a scheduler uses to read and write an optimizer's learning rates.

/// Per-parameter-group learning rates (and momentum) that a scheduler can drive.
///
/// Optimizers implement it; [`GroupLrs`] implements it for driving a schedule without an
/// optimizer. Group indices run from 0 to `num_groups() - 1`.
pub trait LrControl {
    /// Number of parameter groups.
    fn num_groups(&self) -> usize;
    /// The learning rate of `group`.
    fn group_lr(&self, group: usize) -> f64;
    /// Sets the learning rate of `group`.
    fn set_group_lr(&mut self, group: usize, lr: f64);
    /// The momentum of `group` (`beta1` for Adam-like optimizers), or `None` when the
    /// optimizer has no momentum to cycle. The default is `None`.
    fn group_momentum(&self, group: usize) -> Option<f64> {
        let _ = group;
        None
    }
    /// Sets the momentum of `group` (`beta1` for Adam-like optimizers). The default does
    /// nothing, which is right for optimizers whose [`group_momentum`](Self::group_momentum)
    /// is `None`.
    fn set_group_momentum(&mut self, group: usize, momentum: f64) {
        let _ = (group, momentum);
    }
}

/// A plain list of per-group learning rates and optional momentums: an [`LrControl`]
/// without an optimizer, to compute or plot a schedule.
///
/// ```
/// use graft_optim::{GroupLrs, LrControl, LrScheduler, Schedule, StepLr};
///
/// let mut lrs = GroupLrs::new(vec![0.1]);
/// let mut sched = StepLr::new(2, 0.5).unwrap().attach(&mut lrs);
/// sched.step(&mut lrs);
/// sched.step(&mut lrs);
/// assert_eq!(lrs.group_lr(0), 0.05);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct GroupLrs {
    lrs: Vec<f64>,
    momentums: Option<Vec<f64>>,
}

impl GroupLrs {
    /// Groups with these learning rates and no momentum.
    pub fn new(lrs: Vec<f64>) -> Self {
        Self {
            lrs,
            momentums: None,
        }
    }

    /// Groups with these learning rates and momentums; panics if the lengths differ.
    pub fn with_momentum(lrs: Vec<f64>, momentums: Vec<f64>) -> Self {
        assert_eq!(
            lrs.len(),
            momentums.len(),
            "GroupLrs: {} learning rates but {} momentums",
            lrs.len(),
            momentums.len()
        );
        Self {
            lrs,
            momentums: Some(momentums),
        }
    }

    /// All learning rates, one per group.
    pub fn lrs(&self) -> &[f64] {
        &self.lrs
    }

    /// All momentums, if the groups have them.
    pub fn momentums(&self) -> Option<&[f64]> {
        self.momentums.as_deref()
    }
}

impl LrControl for GroupLrs {
    fn num_groups(&self) -> usize {
        self.lrs.len()
    }

    fn group_lr(&self, group: usize) -> f64 {
        self.lrs[group]
    }

    fn set_group_lr(&mut self, group: usize, lr: f64) {
        self.lrs[group] = lr;
    }

    fn group_momentum(&self, group: usize) -> Option<f64> {
        self.momentums.as_ref().map(|m| m[group])
    }

    fn set_group_momentum(&mut self, group: usize, momentum: f64) {
        if let Some(m) = &mut self.momentums {
            m[group] = momentum;
        }
    }
}
