//! L1 and L2 penalties over a parameter set or a module, to add to a loss:
//! `&loss + &l2(&model, 1e-4)`. They are ordinary Vars built from autograd ops, so
//! `backward` on the sum reaches the parameters through them.
//!
//! Definitions (no hidden factor of 1/2):
//!
//! * [`l2`]: `coef · Σ p²`, gradient `2·coef·p`. SGD's `weight_decay = wd` adds `wd·p` to
//!   the gradient, so it equals an L2 penalty with `coef = wd / 2` (for plain SGD; Adam's
//!   `weight_decay` is the same coupled term, AdamW's decoupled decay is not a penalty).
//! * [`l1`]: `coef · Σ |p|`, gradient `coef·sign(p)` (0 where `p` is exactly 0).
//!
//! Parameters are selected by name with the `_filtered` forms, e.g. weights but not
//! biases:
//!
//! ```
//! use graft_autograd::Var;
//! use graft_nn::regularize::{l2, l2_filtered, not_bias};
//! use graft_nn::{Module, Visitor};
//! use graft_tensor::Tensor;
//!
//! struct Affine { weight: Var<f64>, bias: Var<f64> }
//! impl Module<f64> for Affine {
//!     fn forward(&self, x: &Var<f64>) -> Var<f64> { &x.matmul(&self.weight.t()) + &self.bias }
//!     fn visit(&self, v: &mut dyn Visitor<f64>) {
//!         v.parameter("weight", &self.weight);
//!         v.parameter("bias", &self.bias);
//!     }
//! }
//! let model = Affine {
//!     weight: Var::parameter(Tensor::from_vec(vec![1.0, -2.0], &[1, 2])),
//!     bias: Var::parameter(Tensor::from_vec(vec![3.0], &[1])),
//! };
//! assert!((l2(&model, 0.5).item() - 0.5 * (1.0 + 4.0 + 9.0)).abs() < 1e-12);
//! let weights_only = l2_filtered(&model, 0.5, not_bias);
//! assert!((weights_only.item() - 0.5 * (1.0 + 4.0)).abs() < 1e-12);
//!
//! let x = Var::new(Tensor::from_vec(vec![0.5, 0.25], &[1, 2]));
//! let loss = model.forward(&x).square().mean();
//! let total = &loss + &weights_only;
//! total.backward().unwrap();
//! ```

use std::borrow::Borrow;

use graft_autograd::Var;
use graft_tensor::{Float, Tensor};

use crate::module::Module;

/// `Σ f(p)` over `params` as a 0-d Var, times `coef` (a constant 0 for no parameters).
fn penalty<T: Float, P: Borrow<Var<T>>>(
    params: impl IntoIterator<Item = P>,
    coef: T,
    per_param: impl Fn(&Var<T>) -> Var<T>,
) -> Var<T> {
    let total = params
        .into_iter()
        .map(|p| per_param(p.borrow()))
        .reduce(|acc, term| acc + term);
    match total {
        Some(sum) => sum.mul_scalar(coef),
        None => Var::new(Tensor::scalar(T::ZERO)),
    }
}

/// L2 penalty `coef · Σ p²` over a parameter set (`&[Var]`, `Vec<Var>`, `[&Var; n]`, an
/// iterator...), as a 0-d Var.
pub fn l2_penalty<T: Float, P: Borrow<Var<T>>>(
    params: impl IntoIterator<Item = P>,
    coef: T,
) -> Var<T> {
    penalty(params, coef, |p| p.square().sum())
}

/// L1 penalty `coef · Σ |p|` over a parameter set, as a 0-d Var.
pub fn l1_penalty<T: Float, P: Borrow<Var<T>>>(
    params: impl IntoIterator<Item = P>,
    coef: T,
) -> Var<T> {
    penalty(params, coef, |p| p.abs().sum())
}

/// L2 penalty `coef · Σ p²` over every parameter of `module` (biases included; see
/// [`l2_filtered`] to choose).
pub fn l2<T: Float, M: Module<T> + ?Sized>(module: &M, coef: T) -> Var<T> {
    l2_penalty(module.parameters(), coef)
}

/// L1 penalty `coef · Σ |p|` over every parameter of `module`.
pub fn l1<T: Float, M: Module<T> + ?Sized>(module: &M, coef: T) -> Var<T> {
    l1_penalty(module.parameters(), coef)
}

/// The parameters of `module` whose `named_parameters()` name passes `select`.
fn selected<T: Float, M: Module<T> + ?Sized>(
    module: &M,
    select: impl Fn(&str) -> bool,
) -> Vec<Var<T>> {
    module
        .named_parameters()
        .into_iter()
        .filter(|(name, _)| select(name))
        .map(|(_, p)| p)
        .collect()
}

/// L2 penalty over the parameters of `module` whose name (`fc1.weight`, `0.bias`, ...)
/// passes `select`; [`not_bias`] keeps weights and drops biases.
pub fn l2_filtered<T: Float, M: Module<T> + ?Sized>(
    module: &M,
    coef: T,
    select: impl Fn(&str) -> bool,
) -> Var<T> {
    l2_penalty(selected(module, select), coef)
}

/// L1 penalty over the parameters of `module` whose name passes `select`.
pub fn l1_filtered<T: Float, M: Module<T> + ?Sized>(
    module: &M,
    coef: T,
    select: impl Fn(&str) -> bool,
) -> Var<T> {
    l1_penalty(selected(module, select), coef)
}

/// A name filter for the `_filtered` penalties: true unless the parameter's last name
/// segment is `bias` (`fc1.bias`, `0.bias`, `bias`).
pub fn not_bias(name: &str) -> bool {
    name.rsplit('.').next() != Some("bias")
}
