//! Schedules that multiply the rate by `gamma` at set epochs: StepLR, MultiStepLR,
//! ExponentialLR.

use super::Schedule;
use crate::error::ensure;
use crate::OptimError;

/// Checks a decay factor: positive and finite (PyTorch accepts any number, but a zero or
/// negative factor can only be a mistake).
fn check_gamma(owner: &'static str, gamma: f64) -> Result<(), OptimError> {
    ensure(
        gamma > 0.0 && gamma.is_finite(),
        owner,
        "gamma",
        gamma,
        "a finite number > 0",
    )
}

/// PyTorch's `StepLR`: `base_lr * gamma^floor(epoch / step_size)`.
#[derive(Clone, Debug, PartialEq)]
pub struct StepLr {
    step_size: u64,
    gamma: f64,
}

impl StepLr {
    /// Decays by `gamma` every `step_size` epochs; `step_size` must be at least 1.
    pub fn new(step_size: u64, gamma: f64) -> Result<Self, OptimError> {
        ensure(
            step_size >= 1,
            "StepLR",
            "step_size",
            step_size,
            "an integer >= 1",
        )?;
        check_gamma("StepLR", gamma)?;
        Ok(Self { step_size, gamma })
    }
}

impl Schedule for StepLr {
    fn name(&self) -> &'static str {
        "StepLR"
    }

    fn lr_at(&self, base_lr: f64, epoch: u64) -> f64 {
        base_lr * self.gamma.powf((epoch / self.step_size) as f64)
    }
}

/// PyTorch's `MultiStepLR`: `base_lr * gamma^(number of milestones <= epoch)`.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiStepLr {
    milestones: Vec<u64>,
    gamma: f64,
}

impl MultiStepLr {
    /// Decays by `gamma` at each milestone epoch. The order does not matter, and, as in
    /// PyTorch, a milestone listed twice decays twice.
    pub fn new(mut milestones: Vec<u64>, gamma: f64) -> Result<Self, OptimError> {
        check_gamma("MultiStepLR", gamma)?;
        milestones.sort_unstable();
        Ok(Self { milestones, gamma })
    }
}

impl Schedule for MultiStepLr {
    fn name(&self) -> &'static str {
        "MultiStepLR"
    }

    fn lr_at(&self, base_lr: f64, epoch: u64) -> f64 {
        let passed = self.milestones.partition_point(|&m| m <= epoch);
        base_lr * self.gamma.powf(passed as f64)
    }
}

/// PyTorch's `ExponentialLR`: `base_lr * gamma^epoch`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialLr {
    gamma: f64,
}

impl ExponentialLr {
    /// Decays by `gamma` every epoch.
    pub fn new(gamma: f64) -> Result<Self, OptimError> {
        check_gamma("ExponentialLR", gamma)?;
        Ok(Self { gamma })
    }
}

impl Schedule for ExponentialLr {
    fn name(&self) -> &'static str {
        "ExponentialLR"
    }

    fn lr_at(&self, base_lr: f64, epoch: u64) -> f64 {
        // powf, not powi: it is what Python's float ** int calls, so values match PyTorch's
        // closed form to the last bit.
        base_lr * self.gamma.powf(epoch as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_lr_decays_every_step_size_epochs() {
        let s = StepLr::new(3, 0.5).unwrap();
        let lrs: Vec<f64> = (0..7).map(|e| s.lr_at(1.0, e)).collect();
        assert_eq!(lrs, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]);
    }

    #[test]
    fn multistep_sorts_milestones_and_counts_duplicates() {
        let s = MultiStepLr::new(vec![4, 2, 4], 0.1).unwrap();
        assert_eq!(s.lr_at(1.0, 1), 1.0);
        assert_eq!(s.lr_at(1.0, 2), 0.1);
        assert!((s.lr_at(1.0, 4) - 0.001).abs() < 1e-18);
    }

    #[test]
    fn exponential_is_a_power() {
        let s = ExponentialLr::new(0.9).unwrap();
        assert_eq!(s.lr_at(2.0, 0), 2.0);
        assert!((s.lr_at(2.0, 3) - 2.0 * 0.729).abs() < 1e-15);
    }

    #[test]
    fn bad_parameters_are_named() {
        let e = StepLr::new(0, 0.5).unwrap_err();
        assert!(e.to_string().contains("step_size"), "{e}");
        for gamma in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = StepLr::new(1, gamma).unwrap_err();
            assert!(e.to_string().contains("StepLR: invalid gamma"), "{e}");
            assert!(MultiStepLr::new(vec![1], gamma).is_err());
            assert!(ExponentialLr::new(gamma).is_err());
        }
    }
}
