//! The primitive ops: the only places in graft that state a gradient rule. Each rule sits
//! next to its forward and is written in `Var` ops, so it can be differentiated again.
//! Everything else (mean, softmax, every loss and layer) is composed from these.

pub(crate) mod conv;
pub(crate) mod elementwise;
pub(crate) mod gru_sequence;
pub(crate) mod indexing;
pub(crate) mod linalg;
pub(crate) mod movement;
pub(crate) mod recurrent;
pub(crate) mod reduce;
pub(crate) mod step_product;

use graft_tensor::{Float, Tensor};

use crate::var::Var;

/// A constant Var (no gradient) from a tensor: masks and counts inside gradient rules.
pub(crate) fn constant<T: Float>(t: Tensor<T>) -> Var<T> {
    Var::new(t)
}

/// A 0-d constant.
pub(crate) fn scalar<T: Float>(v: f64) -> Var<T> {
    Var::new(Tensor::scalar(T::from_f64(v)))
}
