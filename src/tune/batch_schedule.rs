//! Batch size as a schedule: fixed steps at given epochs ("don't decay the learning rate,
//! increase the batch size", Smith, Kindermans, Ying and Le 2018), and an adaptive policy
//! that grows the batch towards the measured gradient noise scale.

use crate::train::Context;

/// Chooses the batch size of each epoch; `fit` asks at the start of every epoch (see
/// [`FitConfig::batch_size_schedule`](crate::train::FitConfig::batch_size_schedule)).
pub trait BatchSizeSchedule: Send {
    /// The batch size for `epoch` (1-based). `ctx.batch_size` is the current one and
    /// `ctx.history` holds the epochs done; the schedule may also set the learning rate.
    fn batch_size(&mut self, epoch: usize, ctx: &mut Context<'_>) -> usize;
}

/// A step schedule: `base` until the first milestone, then the size given at each
/// milestone epoch from that epoch on.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchSizeSteps {
    base: usize,
    steps: Vec<(usize, usize)>,
}

impl BatchSizeSteps {
    /// Starts at `base` (at least 1).
    pub fn new(base: usize) -> Self {
        BatchSizeSteps {
            base: base.max(1),
            steps: Vec::new(),
        }
    }

    /// From `epoch` (1-based) on, batches of `size`.
    pub fn at(mut self, epoch: usize, size: usize) -> Self {
        self.steps.push((epoch, size.max(1)));
        self.steps.sort_by_key(|&(e, _)| e);
        self
    }

    /// Multiplies the batch by `factor` at each of `epochs` (Smith et al.'s form of a
    /// step LR decay by `1 / factor`).
    pub fn multiply_at(base: usize, epochs: &[usize], factor: usize) -> Self {
        let mut s = BatchSizeSteps::new(base);
        let mut size = s.base;
        let mut sorted = epochs.to_vec();
        sorted.sort_unstable();
        for e in sorted {
            size *= factor.max(1);
            s = s.at(e, size);
        }
        s
    }

    /// Parses `"3:64,6:128"` (epoch:size pairs) after a base size.
    pub fn parse(base: usize, text: &str) -> Result<Self, String> {
        let mut s = BatchSizeSteps::new(base);
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (e, b) = part
                .split_once(':')
                .ok_or_else(|| format!("batch-size step {part:?}: expected EPOCH:SIZE"))?;
            let e: usize = e
                .trim()
                .parse()
                .map_err(|_| format!("batch-size step {part:?}: bad epoch {e:?}"))?;
            let b: usize = b
                .trim()
                .parse()
                .map_err(|_| format!("batch-size step {part:?}: bad size {b:?}"))?;
            if e == 0 || b == 0 {
                return Err(format!(
                    "batch-size step {part:?}: epoch and size must be >= 1"
                ));
            }
            s = s.at(e, b);
        }
        Ok(s)
    }

    /// The batch size of `epoch` (1-based).
    pub fn size_at(&self, epoch: usize) -> usize {
        self.steps
            .iter()
            .rev()
            .find(|&&(e, _)| e <= epoch)
            .map_or(self.base, |&(_, b)| b)
    }
}

impl BatchSizeSchedule for BatchSizeSteps {
    fn batch_size(&mut self, epoch: usize, _ctx: &mut Context<'_>) -> usize {
        self.size_at(epoch)
    }
}

/// How the learning rate follows the batch size `B` from its base `B0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LrScaling {
    /// Keep the learning rate.
    None,
    /// `lr0 · B / B0` (Goyal et al. 2017; for SGD).
    Linear,
    /// `lr0 · sqrt(B / B0)` (for adaptive optimizers such as Adam).
    Sqrt,
}

impl LrScaling {
    /// The factor for a batch `ratio = B / B0` times the base.
    pub fn factor(self, ratio: f64) -> f64 {
        match self {
            LrScaling::None => 1.0,
            LrScaling::Linear => ratio,
            LrScaling::Sqrt => ratio.sqrt(),
        }
    }
}

/// Grows the batch towards the gradient noise scale measured in the previous epoch
/// (History column `noise_scale`, logged by [`NoiseScaleCallback`](super::NoiseScaleCallback)):
/// the new size is the noise scale rounded down to a multiple of `base`, never smaller than
/// the current size (the batch only grows) and never above `max`; the learning rate is
/// scaled from its value at the first epoch by `scaling`.
#[derive(Clone, Debug)]
pub struct AdaptiveBatchSize {
    base: usize,
    max: usize,
    scaling: LrScaling,
    base_lr: Option<f64>,
}

impl AdaptiveBatchSize {
    /// Starts at `base`, grows up to `max` (rounded down to a multiple of `base`).
    pub fn new(base: usize, max: usize, scaling: LrScaling) -> Self {
        let base = base.max(1);
        AdaptiveBatchSize {
            base,
            max: (max / base).max(1) * base,
            scaling,
            base_lr: None,
        }
    }

    /// The size chosen for a measured noise scale, given the current size.
    pub fn next_size(&self, current: usize, noise_scale: Option<f64>) -> usize {
        let target = match noise_scale {
            Some(b) if b.is_finite() && b > 0.0 => {
                ((b / self.base as f64).floor() as usize).max(1) * self.base
            }
            _ => current,
        };
        target.max(current).clamp(self.base, self.max)
    }
}

impl BatchSizeSchedule for AdaptiveBatchSize {
    fn batch_size(&mut self, epoch: usize, ctx: &mut Context<'_>) -> usize {
        let base_lr = *self.base_lr.get_or_insert_with(|| ctx.optimizer.lr());
        let current = if epoch <= 1 {
            self.base
        } else {
            ctx.batch_size
        };
        let measured = ctx.history.last().and_then(|l| l.get("noise_scale"));
        let size = self.next_size(current, measured);
        let ratio = size as f64 / self.base as f64;
        ctx.optimizer.set_lr(base_lr * self.scaling.factor(ratio));
        size
    }
}
