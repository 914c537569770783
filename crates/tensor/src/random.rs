//! Random fills from a caller-supplied, seeded `rand` RNG.

use rand::Rng;

use crate::element::Float;
use crate::error::{or_panic, Result};
use crate::storage::try_alloc_uninit;
use crate::tensor::Tensor;

impl<T: Float> Tensor<T> {
    /// Uniform samples in `[low, high)`; an error naming the shape and the bytes asked when
    /// the shape is too large or the memory cannot be allocated.
    pub fn try_uniform(shape: &[usize], low: T, high: T, rng: &mut impl Rng) -> Result<Tensor<T>> {
        let (lo, hi) = (low.to_f64(), high.to_f64());
        let mut data = try_alloc_uninit::<T>("uniform", shape)?;
        for v in data.iter_mut() {
            *v = T::from_f64(lo + (hi - lo) * rng.gen::<f64>());
        }
        Ok(Tensor::from_buffer(data, shape))
    }

    /// Uniform samples in `[low, high)`; panics with [`Tensor::try_uniform`]'s message.
    #[track_caller]
    pub fn uniform(shape: &[usize], low: T, high: T, rng: &mut impl Rng) -> Tensor<T> {
        or_panic(Self::try_uniform(shape, low, high, rng))
    }

    /// Normal samples with the given mean and standard deviation; panics with
    /// [`Tensor::try_normal`]'s message.
    #[track_caller]
    pub fn normal(shape: &[usize], mean: T, std: T, rng: &mut impl Rng) -> Tensor<T> {
        or_panic(Self::try_normal(shape, mean, std, rng))
    }

    /// Normal samples with the given mean and standard deviation (Box-Muller); errors like
    /// [`Tensor::try_uniform`].
    pub fn try_normal(shape: &[usize], mean: T, std: T, rng: &mut impl Rng) -> Result<Tensor<T>> {
        let (mu, sigma) = (mean.to_f64(), std.to_f64());
        let mut data = try_alloc_uninit::<T>("normal", shape)?;
        for pair in data.chunks_mut(2) {
            // 1 - u lies in (0, 1], so the log is finite.
            let u1 = 1.0 - rng.gen::<f64>();
            let u2 = rng.gen::<f64>();
            let r = (-2.0 * u1.ln()).sqrt();
            let theta = std::f64::consts::TAU * u2;
            pair[0] = T::from_f64(mu + sigma * r * theta.cos());
            if pair.len() > 1 {
                pair[1] = T::from_f64(mu + sigma * r * theta.sin());
            }
        }
        Ok(Tensor::from_buffer(data, shape))
    }

    /// Uniform samples with the shape of `self`.
    pub fn uniform_like(&self, low: T, high: T, rng: &mut impl Rng) -> Tensor<T> {
        Self::uniform(self.shape(), low, high, rng)
    }

    /// Normal samples with the shape of `self`.
    pub fn normal_like(&self, mean: T, std: T, rng: &mut impl Rng) -> Tensor<T> {
        Self::normal(self.shape(), mean, std, rng)
    }
}
