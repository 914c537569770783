//! Fully connected layer.

use graft_autograd::Var;
use graft_tensor::Float;
use rand::Rng;

use crate::functional::{linear, try_linear};
use crate::init::default_parameters;
use crate::module::{visit_weight_and_bias, Module, Visitor};

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
        let (weight, bias) =
            default_parameters(&[out_features, in_features], Some(out_features), rng);
        Linear { weight, bias }
    }

    /// A layer without bias.
    pub fn no_bias(in_features: usize, out_features: usize, rng: &mut impl Rng) -> Self {
        let (weight, bias) = default_parameters(&[out_features, in_features], None, rng);
        Linear { weight, bias }
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
        visit_weight_and_bias(v, &self.weight, self.bias.as_ref());
    }
}
