//! Cosine annealing, plain and with warm restarts.

use super::Schedule;
use crate::error::ensure;
use crate::OptimError;
use std::f64::consts::PI;

/// Half a cosine wave from `base` (at `t = 0`) down to `eta_min` (at `t = period`),
/// evaluated in the order PyTorch's closed form uses.
fn cosine(base: f64, eta_min: f64, t: f64, period: f64) -> f64 {
    eta_min + (base - eta_min) * (1.0 + (PI * t / period).cos()) / 2.0
}

/// Checks a minimum learning rate: finite and not negative.
fn check_eta_min(owner: &'static str, eta_min: f64) -> Result<(), OptimError> {
    ensure(
        eta_min >= 0.0 && eta_min.is_finite(),
        owner,
        "eta_min",
        eta_min,
        "a finite number >= 0",
    )
}

/// PyTorch's `CosineAnnealingLR`:
/// `eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2`.
/// Past `T_max` it keeps following the cosine, back up to `base_lr` at `2 * T_max`, as
/// PyTorch does.
#[derive(Clone, Debug, PartialEq)]
pub struct CosineAnnealingLr {
    t_max: u64,
    eta_min: f64,
}

impl CosineAnnealingLr {
    /// Anneals to `eta_min` over `t_max` epochs (`t_max >= 1`).
    pub fn new(t_max: u64, eta_min: f64) -> Result<Self, OptimError> {
        ensure(
            t_max >= 1,
            "CosineAnnealingLR",
            "T_max",
            t_max,
            "an integer >= 1",
        )?;
        check_eta_min("CosineAnnealingLR", eta_min)?;
        Ok(Self { t_max, eta_min })
    }
}

impl Schedule for CosineAnnealingLr {
    fn name(&self) -> &'static str {
        "CosineAnnealingLR"
    }

    fn lr_at(&self, base_lr: f64, epoch: u64) -> f64 {
        cosine(base_lr, self.eta_min, epoch as f64, self.t_max as f64)
    }
}

/// PyTorch's `CosineAnnealingWarmRestarts` (SGDR): cosine annealing over a period `T_i`
/// that starts at `T_0`, restarting from `base_lr` at the end of each period, after
/// which the period is multiplied by `T_mult`.
#[derive(Clone, Debug, PartialEq)]
pub struct CosineAnnealingWarmRestarts {
    t_0: u64,
    t_mult: u64,
    eta_min: f64,
}

impl CosineAnnealingWarmRestarts {
    /// First period `t_0 >= 1` epochs, each next one `t_mult >= 1` times longer.
    pub fn new(t_0: u64, t_mult: u64, eta_min: f64) -> Result<Self, OptimError> {
        let owner = "CosineAnnealingWarmRestarts";
        ensure(t_0 >= 1, owner, "T_0", t_0, "an integer >= 1")?;
        ensure(t_mult >= 1, owner, "T_mult", t_mult, "an integer >= 1")?;
        check_eta_min(owner, eta_min)?;
        Ok(Self {
            t_0,
            t_mult,
            eta_min,
        })
    }

    /// The position in the current period and the period's length at `epoch`
    /// (PyTorch's `T_cur` and `T_i`), in exact integer arithmetic.
    pub fn period_at(&self, epoch: u64) -> (u64, u64) {
        if self.t_mult == 1 {
            return (epoch % self.t_0, self.t_0);
        }
        // Periods grow geometrically, so this loop runs O(log epoch) times.
        let (mut t_cur, mut t_i) = (epoch, self.t_0);
        while t_cur >= t_i {
            t_cur -= t_i;
            t_i = t_i.saturating_mul(self.t_mult);
        }
        (t_cur, t_i)
    }
}

impl Schedule for CosineAnnealingWarmRestarts {
    fn name(&self) -> &'static str {
        "CosineAnnealingWarmRestarts"
    }

    fn lr_at(&self, base_lr: f64, epoch: u64) -> f64 {
        let (t_cur, t_i) = self.period_at(epoch);
        cosine(base_lr, self.eta_min, t_cur as f64, t_i as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_reaches_eta_min_and_comes_back() {
        let s = CosineAnnealingLr::new(10, 0.0).unwrap();
        assert_eq!(s.lr_at(1.0, 0), 1.0);
        assert!((s.lr_at(1.0, 5) - 0.5).abs() < 1e-15);
        assert_eq!(s.lr_at(1.0, 10), 0.0);
        assert!((s.lr_at(1.0, 20) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn warm_restart_periods_grow() {
        let s = CosineAnnealingWarmRestarts::new(2, 3, 0.0).unwrap();
        let periods: Vec<_> = (0..10).map(|e| s.period_at(e)).collect();
        assert_eq!(
            periods,
            [
                (0, 2),
                (1, 2),
                (0, 6),
                (1, 6),
                (2, 6),
                (3, 6),
                (4, 6),
                (5, 6),
                (0, 18),
                (1, 18)
            ]
        );
        let s1 = CosineAnnealingWarmRestarts::new(3, 1, 0.0).unwrap();
        assert_eq!(s1.period_at(7), (1, 3));
        assert_eq!(s1.lr_at(0.5, 6), 0.5);
    }

    #[test]
    fn bad_parameters_are_named() {
        assert!(CosineAnnealingLr::new(0, 0.0)
            .unwrap_err()
            .to_string()
            .contains("T_max"));
        assert!(CosineAnnealingLr::new(5, -1.0)
            .unwrap_err()
            .to_string()
            .contains("eta_min"));
        let e = CosineAnnealingWarmRestarts::new(0, 1, 0.0).unwrap_err();
        assert!(e.to_string().contains("T_0"));
        let e = CosineAnnealingWarmRestarts::new(1, 0, 0.0).unwrap_err();
        assert!(e.to_string().contains("T_mult"));
    }
}
