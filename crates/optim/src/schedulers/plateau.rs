//! Cutting the rate when a metric stops improving (PyTorch's `ReduceLROnPlateau`).

use super::SchedulerState;
use crate::error::ensure;
use crate::{LrControl, OptimError};
use std::str::FromStr;

const OWNER: &str = "ReduceLROnPlateau";

/// Whether the watched metric should go down (a loss) or up (an accuracy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlateauMode {
    /// Lower is better (PyTorch's `"min"`, the default).
    #[default]
    Min,
    /// Higher is better (PyTorch's `"max"`).
    Max,
}

impl FromStr for PlateauMode {
    type Err = OptimError;

    /// Parses PyTorch's spelling, `"min"` or `"max"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "min" => Ok(Self::Min),
            "max" => Ok(Self::Max),
            _ => Err(OptimError::param(OWNER, "mode", s, "\"min\" or \"max\"")),
        }
    }
}

/// How `threshold` measures a significant improvement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThresholdMode {
    /// Relative: better than `best * (1 - threshold)` in min mode (PyTorch's `"rel"`,
    /// the default).
    #[default]
    Rel,
    /// Absolute: better than `best - threshold` in min mode (PyTorch's `"abs"`).
    Abs,
}

impl FromStr for ThresholdMode {
    type Err = OptimError;

    /// Parses PyTorch's spelling, `"rel"` or `"abs"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "rel" => Ok(Self::Rel),
            "abs" => Ok(Self::Abs),
            _ => Err(OptimError::param(
                OWNER,
                "threshold_mode",
                s,
                "\"rel\" or \"abs\"",
            )),
        }
    }
}

/// The settings of [`ReduceLrOnPlateau`], with PyTorch's names and defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct PlateauConfig {
    /// Whether lower or higher metrics are better (default min).
    pub mode: PlateauMode,
    /// The factor the rate is multiplied by (default 0.1; must be in (0, 1)).
    pub factor: f64,
    /// How many bad epochs in a row are tolerated before cutting (default 10).
    pub patience: u64,
    /// The smallest improvement that counts (default 1e-4).
    pub threshold: f64,
    /// Whether `threshold` is relative or absolute (default relative).
    pub threshold_mode: ThresholdMode,
    /// Epochs to wait after a cut before counting bad epochs again (default 0).
    pub cooldown: u64,
    /// The rate is never cut below this (default 0).
    pub min_lr: f64,
    /// A cut smaller than this is skipped (default 1e-8).
    pub eps: f64,
}

impl Default for PlateauConfig {
    fn default() -> Self {
        Self {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
        }
    }
}

impl PlateauConfig {
    /// Checks every setting, naming the first bad one.
    pub fn validate(&self) -> Result<(), OptimError> {
        ensure(
            self.factor > 0.0 && self.factor < 1.0,
            OWNER,
            "factor",
            self.factor,
            "a number in (0, 1)",
        )?;
        let non_negative = |name, v: f64| {
            ensure(
                v >= 0.0 && v.is_finite(),
                OWNER,
                name,
                v,
                "a finite number >= 0",
            )
        };
        non_negative("threshold", self.threshold)?;
        non_negative("min_lr", self.min_lr)?;
        non_negative("eps", self.eps)
    }
}

/// PyTorch's `ReduceLROnPlateau`: multiplies every group's rate by `factor` once the
/// metric has not improved for more than `patience` epochs.
///
/// ```
/// use graft_optim::{GroupLrs, LrControl, PlateauConfig, ReduceLrOnPlateau};
///
/// let mut opt = GroupLrs::new(vec![0.1]);
/// let config = PlateauConfig { patience: 1, factor: 0.5, ..PlateauConfig::default() };
/// let mut sched = ReduceLrOnPlateau::new(config).unwrap();
/// for loss in [1.0, 1.0, 1.0] {
///     sched.step(loss, &mut opt);
/// }
/// assert_eq!(opt.group_lr(0), 0.05);
/// ```
#[derive(Clone, Debug)]
pub struct ReduceLrOnPlateau {
    config: PlateauConfig,
    best: f64,
    num_bad_epochs: u64,
    cooldown_counter: u64,
    last_epoch: u64,
}

impl ReduceLrOnPlateau {
    /// A scheduler with no metric seen yet; it does not change any rate until a cut.
    pub fn new(config: PlateauConfig) -> Result<Self, OptimError> {
        config.validate()?;
        Ok(Self {
            best: worst_value(config.mode),
            config,
            num_bad_epochs: 0,
            cooldown_counter: 0,
            last_epoch: 0,
        })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &PlateauConfig {
        &self.config
    }

    /// The best metric seen so far (infinitely bad before the first step).
    pub fn best(&self) -> f64 {
        self.best
    }

    /// Bad epochs counted since the last improvement, cut or cooldown.
    pub fn num_bad_epochs(&self) -> u64 {
        self.num_bad_epochs
    }

    /// The number of steps taken (PyTorch's `last_epoch`).
    pub fn last_epoch(&self) -> u64 {
        self.last_epoch
    }

    /// Records the epoch's `metric` and cuts the rates of `target` if the plateau has
    /// lasted too long. A NaN metric counts as a bad epoch.
    pub fn step(&mut self, metric: f64, target: &mut dyn LrControl) {
        self.last_epoch += 1;
        if self.is_better(metric) {
            self.best = metric;
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            // Bad epochs right after a cut are forgiven: the model needs time to react.
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.config.patience {
            self.reduce(target);
            self.cooldown_counter = self.config.cooldown;
            self.num_bad_epochs = 0;
        }
    }

    fn is_better(&self, metric: f64) -> bool {
        let (best, t) = (self.best, self.config.threshold);
        match (self.config.mode, self.config.threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => metric < best * (1.0 - t),
            (PlateauMode::Min, ThresholdMode::Abs) => metric < best - t,
            (PlateauMode::Max, ThresholdMode::Rel) => metric > best * (t + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => metric > best + t,
        }
    }

    fn reduce(&self, target: &mut dyn LrControl) {
        for group in 0..target.num_groups() {
            let old = target.group_lr(group);
            let new = (old * self.config.factor).max(self.config.min_lr);
            if old - new > self.config.eps {
                target.set_group_lr(group, new);
            }
        }
    }

    /// The mutable state (best metric, counters), for checkpoints.
    pub fn state(&self) -> SchedulerState {
        SchedulerState::new(OWNER)
            .with("best", vec![self.best])
            .with("num_bad_epochs", vec![self.num_bad_epochs as f64])
            .with("cooldown_counter", vec![self.cooldown_counter as f64])
            .with("last_epoch", vec![self.last_epoch as f64])
    }

    /// Restores a state saved by [`state`](Self::state).
    pub fn load_state(&mut self, state: &SchedulerState) -> Result<(), OptimError> {
        state.expect_kind(OWNER)?;
        let best = state.scalar(OWNER, "best")?;
        let num_bad_epochs = state.counter(OWNER, "num_bad_epochs")?;
        let cooldown_counter = state.counter(OWNER, "cooldown_counter")?;
        let last_epoch = state.counter(OWNER, "last_epoch")?;
        self.best = best;
        self.num_bad_epochs = num_bad_epochs;
        self.cooldown_counter = cooldown_counter;
        self.last_epoch = last_epoch;
        Ok(())
    }
}

/// The starting `best`: a value every real metric improves on.
fn worst_value(mode: PlateauMode) -> f64 {
    match mode {
        PlateauMode::Min => f64::INFINITY,
        PlateauMode::Max => f64::NEG_INFINITY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GroupLrs;

    #[test]
    fn cuts_after_patience_and_respects_cooldown_and_min_lr() {
        let mut opt = GroupLrs::new(vec![1.0, 0.3]);
        let config = PlateauConfig {
            factor: 0.5,
            patience: 1,
            cooldown: 1,
            min_lr: 0.2,
            ..PlateauConfig::default()
        };
        let mut s = ReduceLrOnPlateau::new(config).unwrap();
        let mut seen = Vec::new();
        for m in [5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0] {
            s.step(m, &mut opt);
            seen.push(opt.lrs().to_vec());
        }
        // bad epochs: -,1,2(cut),cooldown,1,2(cut),cooldown
        assert_eq!(seen[1], [1.0, 0.3]);
        assert_eq!(seen[2], [0.5, 0.2]);
        assert_eq!(seen[4], [0.5, 0.2]);
        assert_eq!(seen[5], [0.25, 0.2]);
        assert_eq!(seen[6], [0.25, 0.2]);
    }

    #[test]
    fn max_mode_and_abs_threshold() {
        let mut opt = GroupLrs::new(vec![1.0]);
        let config = PlateauConfig {
            mode: PlateauMode::Max,
            threshold_mode: ThresholdMode::Abs,
            threshold: 0.1,
            patience: 0,
            factor: 0.5,
            ..PlateauConfig::default()
        };
        let mut s = ReduceLrOnPlateau::new(config).unwrap();
        s.step(1.0, &mut opt);
        assert_eq!(opt.group_lr(0), 1.0);
        s.step(1.05, &mut opt); // not 0.1 better: cut at once with patience 0
        assert_eq!(opt.group_lr(0), 0.5);
        assert_eq!(s.best(), 1.0);
    }

    #[test]
    fn state_round_trips() {
        let mut opt = GroupLrs::new(vec![1.0]);
        let mut s = ReduceLrOnPlateau::new(PlateauConfig::default()).unwrap();
        s.step(3.0, &mut opt);
        s.step(4.0, &mut opt);
        let mut t = ReduceLrOnPlateau::new(PlateauConfig::default()).unwrap();
        t.load_state(&s.state()).unwrap();
        assert_eq!(t.best(), 3.0);
        assert_eq!(t.num_bad_epochs(), 1);
        assert_eq!(t.last_epoch(), 2);
        let wrong = SchedulerState::new("StepLR");
        assert!(t.load_state(&wrong).is_err());
    }

    #[test]
    fn bad_parameters_are_named() {
        for (factor, ok) in [(1.0, false), (0.0, false), (0.5, true)] {
            let r = ReduceLrOnPlateau::new(PlateauConfig {
                factor,
                ..PlateauConfig::default()
            });
            assert_eq!(r.is_ok(), ok);
        }
        let e = ReduceLrOnPlateau::new(PlateauConfig {
            factor: 2.0,
            ..PlateauConfig::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("factor"), "{e}");
        assert!("avg"
            .parse::<PlateauMode>()
            .unwrap_err()
            .to_string()
            .contains("mode"));
        assert!("x"
            .parse::<ThresholdMode>()
            .unwrap_err()
            .to_string()
            .contains("threshold_mode"));
        let e = ReduceLrOnPlateau::new(PlateauConfig {
            min_lr: -1.0,
            ..PlateauConfig::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("min_lr"));
    }
}
