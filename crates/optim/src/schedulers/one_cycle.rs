//! The one-cycle policy (PyTorch's `OneCycleLR`), which also cycles momentum.

use super::{LrScheduler, SchedulerState};
use crate::error::ensure;
use crate::{LrControl, OptimError};
use std::f64::consts::PI;
use std::str::FromStr;

const OWNER: &str = "OneCycleLR";

/// How [`OneCycleLr`] moves between two values within a phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AnnealStrategy {
    /// Half a cosine wave (PyTorch's `"cos"`, the default).
    #[default]
    Cos,
    /// A straight line (PyTorch's `"linear"`).
    Linear,
}

impl AnnealStrategy {
    /// The value at fraction `pct` of the way from `start` to `end`, evaluated in
    /// PyTorch's order so results match it bit for bit.
    fn anneal(self, start: f64, end: f64, pct: f64) -> f64 {
        match self {
            Self::Cos => end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0),
            Self::Linear => (end - start) * pct + start,
        }
    }
}

impl FromStr for AnnealStrategy {
    type Err = OptimError;

    /// Parses PyTorch's spelling, `"cos"` or `"linear"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cos" => Ok(Self::Cos),
            "linear" => Ok(Self::Linear),
            _ => Err(OptimError::param(
                OWNER,
                "anneal_strategy",
                s,
                "\"cos\" or \"linear\"",
            )),
        }
    }
}

/// The settings of [`OneCycleLr`], with PyTorch's names and defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct OneCycleConfig {
    /// The peak learning rate, for every group.
    pub max_lr: f64,
    /// The number of steps in the cycle (PyTorch: `epochs * steps_per_epoch`).
    pub total_steps: u64,
    /// The fraction of the cycle spent increasing the rate (default 0.3).
    pub pct_start: f64,
    /// Cosine (default) or linear annealing.
    pub anneal_strategy: AnnealStrategy,
    /// Whether to cycle momentum inversely to the rate (default true).
    pub cycle_momentum: bool,
    /// The momentum at the peak learning rate (default 0.85).
    pub base_momentum: f64,
    /// The momentum at the start and end of the cycle (default 0.95).
    pub max_momentum: f64,
    /// Initial rate = `max_lr / div_factor` (default 25).
    pub div_factor: f64,
    /// Final rate = initial rate / `final_div_factor` (default 1e4).
    pub final_div_factor: f64,
    /// Three phases (up, back down to the initial rate, then annihilation) instead of two
    /// (default false).
    pub three_phase: bool,
}

impl OneCycleConfig {
    /// PyTorch's defaults for everything but the two required settings.
    pub fn new(max_lr: f64, total_steps: u64) -> Self {
        Self {
            max_lr,
            total_steps,
            pct_start: 0.3,
            anneal_strategy: AnnealStrategy::Cos,
            cycle_momentum: true,
            base_momentum: 0.85,
            max_momentum: 0.95,
            div_factor: 25.0,
            final_div_factor: 1e4,
            three_phase: false,
        }
    }

    /// Checks every setting, naming the first bad one.
    pub fn validate(&self) -> Result<(), OptimError> {
        let positive = |name, v: f64| {
            ensure(
                v > 0.0 && v.is_finite(),
                OWNER,
                name,
                v,
                "a finite number > 0",
            )
        };
        positive("max_lr", self.max_lr)?;
        positive("div_factor", self.div_factor)?;
        positive("final_div_factor", self.final_div_factor)?;
        ensure(
            self.total_steps >= 1,
            OWNER,
            "total_steps",
            self.total_steps,
            "an integer >= 1",
        )?;
        ensure(
            (0.0..=1.0).contains(&self.pct_start),
            OWNER,
            "pct_start",
            self.pct_start,
            "a number in [0, 1]",
        )?;
        for (name, m) in [
            ("base_momentum", self.base_momentum),
            ("max_momentum", self.max_momentum),
        ] {
            ensure(
                (0.0..=1.0).contains(&m),
                OWNER,
                name,
                m,
                "a number in [0, 1]",
            )?;
        }
        // PyTorch divides by each phase's length, so an empty phase would make NaN rates.
        let ends = self.phase_ends();
        let mut start = 0.0;
        for end in ends {
            ensure(
                end > start,
                OWNER,
                "pct_start",
                self.pct_start,
                "a value that leaves every phase at least one step long for total_steps",
            )?;
            start = end;
        }
        Ok(())
    }

    /// The step at which each phase ends, computed as PyTorch does (in floating point).
    fn phase_ends(&self) -> Vec<f64> {
        let total = self.total_steps as f64;
        let up = self.pct_start * total - 1.0;
        if self.three_phase {
            vec![up, 2.0 * self.pct_start * total - 2.0, total - 1.0]
        } else {
            vec![up, total - 1.0]
        }
    }
}

/// One phase of the cycle: where it ends and the values at its two ends.
#[derive(Clone, Debug, PartialEq)]
struct Phase {
    end_step: f64,
    lrs: (f64, f64),
    momentums: (f64, f64),
}

/// PyTorch's `OneCycleLR`: the rate rises from `max_lr / div_factor` to `max_lr`, then
/// falls far below the start, while momentum (or Adam's `beta1`) moves the opposite way.
/// It is stepped once per batch, and ignores the optimizer's initial learning rate.
#[derive(Clone, Debug)]
pub struct OneCycleLr {
    config: OneCycleConfig,
    phases: Vec<Phase>,
    num_groups: usize,
    last_epoch: u64,
}

impl OneCycleLr {
    /// Validates `config`, checks that `target` has a momentum to cycle if
    /// `cycle_momentum` is set, and sets the step-0 rate (and momentum).
    pub fn new(target: &mut dyn LrControl, config: OneCycleConfig) -> Result<Self, OptimError> {
        config.validate()?;
        if config.cycle_momentum {
            ensure(
                (0..target.num_groups()).all(|g| target.group_momentum(g).is_some()),
                OWNER,
                "cycle_momentum",
                true,
                "an optimizer with momentum or betas",
            )?;
        }
        let initial = config.max_lr / config.div_factor;
        let min = initial / config.final_div_factor;
        let (base_m, max_m) = (config.base_momentum, config.max_momentum);
        let ends = config.phase_ends();
        let phases = if config.three_phase {
            vec![
                Phase {
                    end_step: ends[0],
                    lrs: (initial, config.max_lr),
                    momentums: (max_m, base_m),
                },
                Phase {
                    end_step: ends[1],
                    lrs: (config.max_lr, initial),
                    momentums: (base_m, max_m),
                },
                Phase {
                    end_step: ends[2],
                    lrs: (initial, min),
                    momentums: (max_m, max_m),
                },
            ]
        } else {
            vec![
                Phase {
                    end_step: ends[0],
                    lrs: (initial, config.max_lr),
                    momentums: (max_m, base_m),
                },
                Phase {
                    end_step: ends[1],
                    lrs: (config.max_lr, min),
                    momentums: (base_m, max_m),
                },
            ]
        };
        let scheduler = Self {
            config,
            phases,
            num_groups: target.num_groups(),
            last_epoch: 0,
        };
        scheduler.apply(target);
        Ok(scheduler)
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &OneCycleConfig {
        &self.config
    }

    /// The learning rate and momentum at `step` (`step <= total_steps`).
    pub fn values_at(&self, step: u64) -> (f64, f64) {
        let step = step as f64;
        let anneal = self.config.anneal_strategy;
        let mut start = 0.0;
        for (i, phase) in self.phases.iter().enumerate() {
            // A step on a boundary belongs to the earlier phase; the last phase takes
            // everything after (PyTorch allows one step past `total_steps - 1`).
            if step <= phase.end_step || i + 1 == self.phases.len() {
                let pct = (step - start) / (phase.end_step - start);
                return (
                    anneal.anneal(phase.lrs.0, phase.lrs.1, pct),
                    anneal.anneal(phase.momentums.0, phase.momentums.1, pct),
                );
            }
            start = phase.end_step;
        }
        unreachable!("the last phase always matches")
    }

    /// Like [`LrScheduler::step`], but returns an error instead of panicking when the
    /// cycle is over (more than `total_steps` steps).
    pub fn try_step(&mut self, target: &mut dyn LrControl) -> Result<(), OptimError> {
        let next = self.last_epoch + 1;
        if next > self.config.total_steps {
            return Err(OptimError::Exhausted {
                owner: OWNER,
                step: next,
                total: self.config.total_steps,
            });
        }
        self.last_epoch = next;
        self.apply(target);
        Ok(())
    }

    fn apply(&self, target: &mut dyn LrControl) {
        assert_eq!(
            target.num_groups(),
            self.num_groups,
            "{OWNER}: the optimizer has {} parameter groups, but the scheduler was attached to {}",
            target.num_groups(),
            self.num_groups
        );
        let (lr, momentum) = self.values_at(self.last_epoch);
        for group in 0..self.num_groups {
            target.set_group_lr(group, lr);
            if self.config.cycle_momentum {
                target.set_group_momentum(group, momentum);
            }
        }
    }
}

impl LrScheduler for OneCycleLr {
    /// Panics past `total_steps`, as PyTorch raises; see [`OneCycleLr::try_step`].
    fn step(&mut self, target: &mut dyn LrControl) {
        if let Err(e) = self.try_step(target) {
            panic!("{e}");
        }
    }

    fn last_epoch(&self) -> u64 {
        self.last_epoch
    }

    fn last_lrs(&self) -> Vec<f64> {
        vec![self.values_at(self.last_epoch).0; self.num_groups]
    }

    fn state(&self) -> SchedulerState {
        SchedulerState::new(OWNER).with("last_epoch", vec![self.last_epoch as f64])
    }

    fn load_state(&mut self, state: &SchedulerState) -> Result<(), OptimError> {
        state.expect_kind(OWNER)?;
        let last_epoch = state.counter(OWNER, "last_epoch")?;
        if last_epoch > self.config.total_steps {
            return Err(OptimError::state(
                OWNER,
                format!(
                    "last_epoch {last_epoch} is past total_steps {}",
                    self.config.total_steps
                ),
            ));
        }
        self.last_epoch = last_epoch;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GroupLrs;

    fn sgd() -> GroupLrs {
        GroupLrs::with_momentum(vec![0.5], vec![0.9])
    }

    #[test]
    fn starts_low_peaks_and_ends_lower() {
        let mut opt = sgd();
        let mut s = OneCycleLr::new(&mut opt, OneCycleConfig::new(1.0, 10)).unwrap();
        assert!((opt.group_lr(0) - 0.04).abs() < 1e-15);
        assert!((opt.group_momentum(0).unwrap() - 0.95).abs() < 1e-15);
        for _ in 0..2 {
            s.step(&mut opt);
        }
        assert_eq!(opt.group_lr(0), 1.0);
        assert_eq!(opt.group_momentum(0), Some(0.85));
        for _ in 2..9 {
            s.step(&mut opt);
        }
        assert!((opt.group_lr(0) - 0.04 / 1e4).abs() < 1e-18);
        s.step(&mut opt); // step 10 == total_steps is still allowed
        assert!(matches!(
            s.try_step(&mut opt),
            Err(OptimError::Exhausted {
                step: 11,
                total: 10,
                ..
            })
        ));
    }

    #[test]
    fn three_phase_linear() {
        let mut opt = sgd();
        let mut config = OneCycleConfig::new(1.0, 11);
        config.three_phase = true;
        config.pct_start = 0.5;
        config.anneal_strategy = AnnealStrategy::Linear;
        config.div_factor = 10.0;
        let s = OneCycleLr::new(&mut opt, config).unwrap();
        // Phase ends: 4.5, 9.0, 10.0.
        assert_eq!(s.values_at(0).0, 0.1);
        assert!((s.values_at(9).0 - 0.1).abs() < 1e-15);
        assert_eq!(s.values_at(9).1, 0.95);
        assert_eq!(s.values_at(10).1, 0.95);
        assert!((s.values_at(10).0 - 1e-5).abs() < 1e-15); // 0.1 + (1e-5 - 0.1) rounds
    }

    #[test]
    fn needs_momentum_to_cycle_it() {
        let mut opt = GroupLrs::new(vec![0.1]);
        let e = OneCycleLr::new(&mut opt, OneCycleConfig::new(1.0, 10)).unwrap_err();
        assert!(e.to_string().contains("cycle_momentum"), "{e}");
        let mut config = OneCycleConfig::new(1.0, 10);
        config.cycle_momentum = false;
        assert!(OneCycleLr::new(&mut opt, config).is_ok());
    }

    #[test]
    fn bad_parameters_are_named() {
        let mut opt = sgd();
        type Edit = fn(&mut OneCycleConfig);
        let cases: [(&str, Edit); 7] = [
            ("max_lr", |c| c.max_lr = 0.0),
            ("total_steps", |c| c.total_steps = 0),
            ("pct_start", |c| c.pct_start = 1.5),
            ("pct_start", |c| c.pct_start = 0.05), // empty first phase
            ("div_factor", |c| c.div_factor = -1.0),
            ("final_div_factor", |c| c.final_div_factor = 0.0),
            ("max_momentum", |c| c.max_momentum = 2.0),
        ];
        for (name, edit) in cases {
            let mut config = OneCycleConfig::new(1.0, 10);
            edit(&mut config);
            let e = OneCycleLr::new(&mut opt, config).unwrap_err();
            assert!(e.to_string().contains(name), "{name}: {e}");
        }
        let e = "exp".parse::<AnnealStrategy>().unwrap_err();
        assert!(e.to_string().contains("anneal_strategy"));
    }
}
