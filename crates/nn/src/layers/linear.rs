//! Fully connected layer.

use graft_autograd::Var;
use graft_tensor::Float;
use rand::Rng;

use crate::functional::{linear, try_linear};
use crate::init::{default_bias, default_weight};
use crate::module::{Module, Visitor};

/// `y = x Wᵀ + b`, with `weight` `[out, in]` as in PyTorch.
pub struct Linear<T: Float = f32> {
    /// `[out_features, in_features]`.
    pub weight: Var<T>,
    /// `[out_features]`, if the layer has a bias.
    pub bias: Option<Var<T>>,
}

impl<T: Float> Linear<T> {
    /// A layer with PyTorch's default init: weight and bias U(-1/√in, 1/√in).
    pub fn new(in_features: usize, out_features: usize, rng: &mut impl Rng) -> Self {
        Linear {
            weight: Var::parameter(default_weight(&[out_features, in_features], rng)),
            bias: Some(Var::parameter(default_bias(out_features, in_features, rng))),
        }
    }

    /// A layer without bias.
    pub fn no_bias(in_features: usize, out_features: usize, rng: &mut impl Rng) -> Self {
        Linear {
            weight: Var::parameter(default_weight(&[out_features, in_features], rng)),
            bias: None,
        }
    }

    /// A layer from given parameters (weight `[out, in]`).
    pub fn from_parameters(weight: Var<T>, bias: Option<Var<T>>) -> Self {
        Linear { weight, bias }
    }
}

impl<T: Float> Module<T> for Linear<T> {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        linear(x, &self.weight, self.bias.as_ref())
    }

    fn try_forward(&self, x: &Var<T>) -> graft_tensor::Result<Var<T>> {
        try_linear(x, &self.weight, self.bias.as_ref())
    }

    fn visit(&self, v: &mut dyn Visitor<T>) {
        v.parameter("weight", &self.weight);
        if let Some(b) = &self.bias {
            v.parameter("bias", b);
        }
    }
}
