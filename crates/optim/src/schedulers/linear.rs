//! Linear warm-up (or decay) of the rate's multiplicative factor.

use super::Schedule;
use crate::error::ensure;
use crate::OptimError;

/// PyTorch's `LinearLR`: the factor goes linearly from `start_factor` to `end_factor`
/// over `total_iters` epochs, then stays:
/// `base_lr * (start + (end - start) * min(epoch, total_iters) / total_iters)`.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearLr {
    start_factor: f64,
    end_factor: f64,
    total_iters: u64,
}

impl LinearLr {
    /// As PyTorch: `0 < start_factor <= 1`, `0 <= end_factor <= 1`; and `total_iters >= 1`.
    pub fn new(start_factor: f64, end_factor: f64, total_iters: u64) -> Result<Self, OptimError> {
        let owner = "LinearLR";
        ensure(
            start_factor > 0.0 && start_factor <= 1.0,
            owner,
            "start_factor",
            start_factor,
            "a number in (0, 1]",
        )?;
        ensure(
            (0.0..=1.0).contains(&end_factor),
            owner,
            "end_factor",
            end_factor,
            "a number in [0, 1]",
        )?;
        ensure(
            total_iters >= 1,
            owner,
            "total_iters",
            total_iters,
            "an integer >= 1",
        )?;
        Ok(Self {
            start_factor,
            end_factor,
            total_iters,
        })
    }
}

impl Schedule for LinearLr {
    fn name(&self) -> &'static str {
        "LinearLR"
    }

    fn lr_at(&self, base_lr: f64, epoch: u64) -> f64 {
        let done = epoch.min(self.total_iters) as f64;
        base_lr
            * (self.start_factor
                + (self.end_factor - self.start_factor) * done / self.total_iters as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps_then_holds() {
        let s = LinearLr::new(0.25, 1.0, 3).unwrap();
        assert_eq!(s.lr_at(1.0, 0), 0.25);
        assert_eq!(s.lr_at(1.0, 3), 1.0);
        assert_eq!(s.lr_at(1.0, 100), 1.0);
    }

    #[test]
    fn bad_parameters_are_named() {
        for (sf, ef, n, name) in [
            (0.0, 1.0, 5, "start_factor"),
            (1.5, 1.0, 5, "start_factor"),
            (0.5, -0.1, 5, "end_factor"),
            (0.5, 1.1, 5, "end_factor"),
            (0.5, 1.0, 0, "total_iters"),
        ] {
            let e = LinearLr::new(sf, ef, n).unwrap_err();
            assert!(e.to_string().contains(name), "{e}");
        }
    }
}
