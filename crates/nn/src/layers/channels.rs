//! Channel-wise layers: GroupNorm, nearest-neighbour Upsample and whole-channel Dropout2d.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use graft_autograd::Var;
use graft_tensor::{or_panic, Float, Tensor};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::functional::{check_dropout_p, dropout2d, group_norm, upsample_nearest};
use crate::module::{Module, Visitor};

/// Group normalisation over `[N, C, ...]`: channels split into `num_groups` groups, each
/// normalised per sample, then a per-channel affine `weight` `[C]` (γ) and `bias` `[C]` (β).
pub struct GroupNorm<T: Float = f32> {
    /// Number of channel groups; must divide the channel count.
    pub num_groups: usize,
    /// γ, `[num_channels]`, if the layer is affine.
    pub weight: Option<Var<T>>,
    /// β, `[num_channels]`, if the layer is affine.
    pub bias: Option<Var<T>>,
    /// Added to the variance before the square root.
    pub eps: f64,
}

impl<T: Float> GroupNorm<T> {
    /// PyTorch's defaults: affine, γ = 1, β = 0, eps 1e-5.
    pub fn new(num_groups: usize, num_channels: usize) -> Self {
        GroupNorm {
            num_groups,
            weight: Some(Var::parameter(Tensor::ones(&[num_channels]))),
            bias: Some(Var::parameter(Tensor::zeros(&[num_channels]))),
            eps: 1e-5,
        }
    }

    /// Without the affine parameters (PyTorch's `affine=False`).
    pub fn without_affine(mut self) -> Self {
        self.weight = None;
        self.bias = None;
        self
    }

    /// Sets eps.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
}

impl<T: Float> Module<T> for GroupNorm<T> {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        group_norm(
            x,
            self.num_groups,
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.eps,
        )
    }

    fn visit(&self, v: &mut dyn Visitor<T>) {
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            v.parameter("weight", w);
            v.parameter("bias", b);
        }
    }
}

/// Nearest-neighbour upsampling of every spatial dim by an integer factor (PyTorch's
/// `Upsample(scale_factor=k, mode='nearest')`).
#[derive(Clone, Copy, Debug)]
pub struct Upsample {
    /// The integer scale factor.
    pub scale: usize,
}

impl Upsample {
    /// Upsampling by `scale` (2 doubles height and width).
    pub fn new(scale: usize) -> Self {
        Upsample { scale }
    }
}

impl<T: Float> Module<T> for Upsample {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        upsample_nearest(x, self.scale)
    }
}

/// Zeroes whole channels of `[N, C, H, W]` input with probability `p` in training mode
/// (scaling the rest by 1/(1-p)); the identity in evaluation mode. Its masks come from its
/// own RNG, seeded at construction, so runs are reproducible.
pub struct Dropout2d {
    p: f64,
    training: AtomicBool,
    rng: Mutex<StdRng>,
}

impl Dropout2d {
    /// Channel dropout with probability `p` and an RNG seeded with `seed`; panics with
    /// [`try_new`](Self::try_new)'s message when `p` is outside [0, 1] or NaN.
    #[track_caller]
    pub fn new(p: f64, seed: u64) -> Self {
        or_panic(Self::try_new(p, seed))
    }

    /// Channel dropout with probability `p` and an RNG seeded with `seed`; a `p` outside
    /// [0, 1] or NaN is an error, as in PyTorch.
    pub fn try_new(p: f64, seed: u64) -> graft_tensor::Result<Self> {
        check_dropout_p("Dropout2d", p)?;
        Ok(Dropout2d {
            p,
            training: AtomicBool::new(true),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        })
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }
}

impl<T: Float> Module<T> for Dropout2d {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        dropout2d(x, self.p, self.training.load(Ordering::Relaxed), &mut *rng)
    }

    fn set_own_training(&self, training: bool) {
        self.training.store(training, Ordering::Relaxed);
    }
}
