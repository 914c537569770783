//! Schedules run one after another (PyTorch's `SequentialLR`).

use super::Schedule;
use crate::error::ensure;
use crate::OptimError;

/// PyTorch's `SequentialLR`: follows `schedules[0]` until `milestones[0]`, then
/// `schedules[1]` from its own epoch 0, and so on. Each child starts again from the
/// group's base learning rate, as in PyTorch.
#[derive(Debug)]
pub struct SequentialLr {
    schedules: Vec<Box<dyn Schedule>>,
    milestones: Vec<u64>,
}

impl SequentialLr {
    /// Needs one milestone fewer than schedules, non-decreasing and each at least 1.
    pub fn new(
        schedules: Vec<Box<dyn Schedule>>,
        milestones: Vec<u64>,
    ) -> Result<Self, OptimError> {
        let owner = "SequentialLR";
        ensure(
            !schedules.is_empty(),
            owner,
            "schedulers",
            "[]",
            "at least one schedule",
        )?;
        ensure(
            milestones.len() + 1 == schedules.len(),
            owner,
            "milestones",
            format!("{milestones:?}"),
            "exactly one milestone fewer than schedules",
        )?;
        ensure(
            !milestones.contains(&0) && milestones.windows(2).all(|w| w[0] <= w[1]),
            owner,
            "milestones",
            format!("{milestones:?}"),
            "non-decreasing epochs >= 1",
        )?;
        Ok(Self {
            schedules,
            milestones,
        })
    }
}

impl Schedule for SequentialLr {
    fn name(&self) -> &'static str {
        "SequentialLR"
    }

    fn lr_at(&self, base_lr: f64, epoch: u64) -> f64 {
        let idx = self.milestones.partition_point(|&m| m <= epoch);
        let start = if idx == 0 {
            0
        } else {
            self.milestones[idx - 1]
        };
        self.schedules[idx].lr_at(base_lr, epoch - start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExponentialLr, StepLr};

    #[test]
    fn switches_at_milestones_and_restarts_children() {
        let s = SequentialLr::new(
            vec![
                Box::new(ExponentialLr::new(0.5).unwrap()),
                Box::new(StepLr::new(2, 0.1).unwrap()),
            ],
            vec![3],
        )
        .unwrap();
        let lrs: Vec<f64> = (0..6).map(|e| s.lr_at(1.0, e)).collect();
        assert_eq!(lrs[..3], [1.0, 0.5, 0.25]);
        assert_eq!(lrs[3..5], [1.0, 1.0]);
        assert!((lrs[5] - 0.1).abs() < 1e-16);
    }

    #[test]
    fn bad_milestones_are_rejected() {
        let child = || -> Box<dyn Schedule> { Box::new(ExponentialLr::new(0.5).unwrap()) };
        let e = SequentialLr::new(vec![child(), child()], vec![]).unwrap_err();
        assert!(e.to_string().contains("milestones"), "{e}");
        assert!(SequentialLr::new(vec![child(), child(), child()], vec![5, 2]).is_err());
        assert!(SequentialLr::new(vec![child(), child()], vec![0]).is_err());
        assert!(SequentialLr::new(vec![], vec![]).is_err());
    }
}
