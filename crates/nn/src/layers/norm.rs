//! Normalisation layers: BatchNorm (1d and 2d share one implementation) and LayerNorm.

use std::sync::atomic::{AtomicBool, Ordering};

use graft_autograd::Var;
use graft_tensor::{Float, Tensor};

use crate::functional::{try_batch_norm, try_layer_norm};
use crate::module::{Module, Visitor};

/// Batch normalisation over dim 1 of `[N, C]`, `[N, C, L]` or `[N, C, H, W]`, with running
/// statistics (buffers `running_mean`, `running_var`, `num_batches_tracked` as PyTorch).
pub struct BatchNorm<T: Float = f32> {
    /// Scale γ, `[C]`.
    pub weight: Var<T>,
    /// Shift β, `[C]`.
    pub bias: Var<T>,
    /// Running mean, `[C]` (a buffer).
    pub running_mean: Var<T>,
    /// Running unbiased variance, `[C]` (a buffer).
    pub running_var: Var<T>,
    /// How many training batches updated the running stats (a buffer, as PyTorch).
    pub num_batches_tracked: Var<T>,
    /// Weight of the newest batch in the running stats (PyTorch's default 0.1).
    pub momentum: f64,
    /// Added to the variance before the square root (default 1e-5).
    pub eps: f64,
    training: AtomicBool,
}

/// PyTorch's `BatchNorm1d` (input `[N, C]` or `[N, C, L]`).
pub type BatchNorm1d<T = f32> = BatchNorm<T>;
/// PyTorch's `BatchNorm2d` (input `[N, C, H, W]`).
pub type BatchNorm2d<T = f32> = BatchNorm<T>;

impl<T: Float> BatchNorm<T> {
    /// γ = 1, β = 0, running mean 0 and variance 1, momentum 0.1, eps 1e-5.
    pub fn new(num_features: usize) -> Self {
        BatchNorm {
            weight: Var::parameter(Tensor::ones(&[num_features])),
            bias: Var::parameter(Tensor::zeros(&[num_features])),
            running_mean: Var::new(Tensor::zeros(&[num_features])),
            running_var: Var::new(Tensor::ones(&[num_features])),
            num_batches_tracked: Var::new(Tensor::zeros(&[])),
            momentum: 0.1,
            eps: 1e-5,
            training: AtomicBool::new(true),
        }
    }

    /// Sets the momentum.
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets eps.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
}

impl<T: Float> Module<T> for BatchNorm<T> {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        self.try_forward(x).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_forward(&self, x: &Var<T>) -> graft_tensor::Result<Var<T>> {
        let training = self.training.load(Ordering::Relaxed);
        let y = try_batch_norm(
            x,
            Some(&self.running_mean),
            Some(&self.running_var),
            Some(&self.weight),
            Some(&self.bias),
            training,
            self.momentum,
            self.eps,
        )?;
        // The running statistics were updated (training mode updates them with or without
        // grad mode, as PyTorch does), so the count goes up with them.
        if training {
            let n = self.num_batches_tracked.value().add_scalar(T::ONE);
            self.num_batches_tracked.set_value(n);
        }
        Ok(y)
    }

    fn own_training(&self) -> Option<bool> {
        Some(self.training.load(Ordering::Relaxed))
    }

    fn visit(&self, v: &mut dyn Visitor<T>) {
        v.parameter("weight", &self.weight);
        v.parameter("bias", &self.bias);
        v.buffer("running_mean", &self.running_mean);
        v.buffer("running_var", &self.running_var);
        v.buffer("num_batches_tracked", &self.num_batches_tracked);
    }

    fn set_own_training(&self, training: bool) {
        self.training.store(training, Ordering::Relaxed);
    }
}

/// Layer normalisation over the trailing `normalized_shape` dims, with elementwise affine
/// parameters of that shape.
pub struct LayerNorm<T: Float = f32> {
    /// The trailing shape normalised over.
    pub normalized_shape: Vec<usize>,
    /// Scale, of `normalized_shape` (ones at init).
    pub weight: Var<T>,
    /// Shift, of `normalized_shape` (zeros at init).
    pub bias: Var<T>,
    /// Added to the variance (default 1e-5).
    pub eps: f64,
}

impl<T: Float> LayerNorm<T> {
    /// Weight 1, bias 0, eps 1e-5.
    pub fn new(normalized_shape: &[usize]) -> Self {
        LayerNorm {
            normalized_shape: normalized_shape.to_vec(),
            weight: Var::parameter(Tensor::ones(normalized_shape)),
            bias: Var::parameter(Tensor::zeros(normalized_shape)),
            eps: 1e-5,
        }
    }
}

impl<T: Float> Module<T> for LayerNorm<T> {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        self.try_forward(x).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_forward(&self, x: &Var<T>) -> graft_tensor::Result<Var<T>> {
        try_layer_norm(
            x,
            &self.normalized_shape,
            Some(&self.weight),
            Some(&self.bias),
            self.eps,
        )
    }

    fn visit(&self, v: &mut dyn Visitor<T>) {
        v.parameter("weight", &self.weight);
        v.parameter("bias", &self.bias);
    }
}
