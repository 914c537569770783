//! The gradient noise scale of McCandlish, Kaplan, Amodei et al. 2018 ("An Empirical Model
//! of Large-Batch Training", Appendix A): `B_simple = tr(Σ) / |G|²`, estimated from squared
//! gradient norms measured at two batch sizes.
//!
//! For a batch of `B` examples, `E|G_B|² = |G|² + tr(Σ) / B`. Two sizes `b < B` give the
//! unbiased estimates `|G|² ≈ (B|G_B|² - b|G_b|²) / (B - b)` and
//! `tr(Σ) ≈ (|G_b|² - |G_B|²) / (1/b - 1/B)`. Each is noisy, so both are smoothed by an
//! exponential moving average before their ratio is taken, as the paper advises.

use crate::train::{Callback, Context, Control, StepLogs, TrainError};

/// Smoothed estimates of `|G|²` and `tr(Σ)`, and their ratio `B_simple`.
#[derive(Clone, Debug)]
pub struct NoiseScaleEstimator {
    beta: f64,
    g2: f64,
    s: f64,
    weight: f64,
}

impl NoiseScaleEstimator {
    /// Smoothing factor `beta` in `[0, 1)` of the moving averages (0: no smoothing).
    pub fn new(beta: f64) -> Self {
        NoiseScaleEstimator {
            beta: beta.clamp(0.0, 0.999_999),
            g2: 0.0,
            s: 0.0,
            weight: 0.0,
        }
    }

    /// Adds one measurement: squared norms `small_sq` of a gradient over `small` examples
    /// and `big_sq` over `big > small` examples. Ignored unless `big > small` and both
    /// norms are finite.
    pub fn update(&mut self, small: usize, small_sq: f64, big: usize, big_sq: f64) {
        if big <= small || small == 0 || !small_sq.is_finite() || !big_sq.is_finite() {
            return;
        }
        let (b, bb) = (small as f64, big as f64);
        let g2 = (bb * big_sq - b * small_sq) / (bb - b);
        let s = (small_sq - big_sq) / (1.0 / b - 1.0 / bb);
        self.g2 = self.beta * self.g2 + (1.0 - self.beta) * g2;
        self.s = self.beta * self.s + (1.0 - self.beta) * s;
        self.weight = self.beta * self.weight + (1.0 - self.beta);
    }

    /// The smoothed `|G|²` (debiased), once there is a measurement.
    pub fn grad_sq(&self) -> Option<f64> {
        (self.weight > 0.0).then(|| self.g2 / self.weight)
    }

    /// The smoothed `tr(Σ)` (debiased), once there is a measurement.
    pub fn trace_sigma(&self) -> Option<f64> {
        (self.weight > 0.0).then(|| self.s / self.weight)
    }

    /// `B_simple = tr(Σ) / |G|²`, when both averages exist and `|G|²` is positive.
    pub fn noise_scale(&self) -> Option<f64> {
        let (s, g2) = (self.trace_sigma()?, self.grad_sq()?);
        (g2 > 0.0).then_some(s / g2)
    }
}

/// Measures the noise scale during `fit`: after every step it reads the batch gradient
/// (`|G_b|²` at the batch size `b`) and sums the gradients of `k` consecutive steps, whose
/// mean is a gradient over `k·b` examples. The steps are taken at slightly different
/// parameters, the approximation the paper uses for a single worker. Logs `noise_scale`
/// per epoch.
pub struct NoiseScaleCallback {
    k: usize,
    estimator: NoiseScaleEstimator,
    sum: Vec<f64>,
    small_sq: f64,
    examples: usize,
    count: usize,
}

impl NoiseScaleCallback {
    /// Averages over `k >= 2` steps, smoothing with `beta` (e.g. 0.9).
    pub fn new(k: usize, beta: f64) -> Self {
        NoiseScaleCallback {
            k: k.max(2),
            estimator: NoiseScaleEstimator::new(beta),
            sum: Vec::new(),
            small_sq: 0.0,
            examples: 0,
            count: 0,
        }
    }

    /// The current estimate.
    pub fn estimate(&self) -> Option<f64> {
        self.estimator.noise_scale()
    }
}

impl Callback for NoiseScaleCallback {
    fn on_step_end(
        &mut self,
        ctx: &mut Context<'_>,
        _logs: &StepLogs,
    ) -> Result<Control, TrainError> {
        let mut flat = Vec::new();
        for g in 0..ctx.optimizer.num_param_groups() {
            for p in ctx.optimizer.param_group(g) {
                if let Some(grad) = p.grad() {
                    flat.extend(grad.to_vec().into_iter().map(f64::from));
                }
            }
        }
        if self.sum.len() != flat.len() {
            self.sum = vec![0.0; flat.len()];
            self.small_sq = 0.0;
            self.examples = 0;
            self.count = 0;
        }
        // The per-step weights make the sum the gradient of all k·b examples even when the
        // last batch of an epoch is short.
        let b = ctx.batch_size;
        for (s, g) in self.sum.iter_mut().zip(&flat) {
            *s += g * b as f64;
        }
        self.small_sq += flat.iter().map(|g| g * g).sum::<f64>();
        self.examples += b;
        self.count += 1;
        if self.count == self.k {
            let big = self.examples;
            let big_sq = self.sum.iter().map(|s| s * s).sum::<f64>() / (big * big) as f64;
            // The mean of k per-batch squared norms is the estimate at the mean batch size.
            let small = (big as f64 / self.k as f64).round() as usize;
            self.estimator
                .update(small, self.small_sq / self.k as f64, big, big_sq);
            self.sum.iter_mut().for_each(|s| *s = 0.0);
            self.small_sq = 0.0;
            self.examples = 0;
            self.count = 0;
        }
        Ok(Control::Continue)
    }

    fn epoch_values(&mut self) -> Vec<(String, f64)> {
        vec![(
            "noise_scale".to_string(),
            self.estimator.noise_scale().unwrap_or(f64::NAN),
        )]
    }
}
