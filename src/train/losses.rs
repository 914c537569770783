//! Losses in the shape `fit` takes: `(outputs, targets) -> scalar loss`.

use graft_autograd::Var;
use graft_nn::loss::{self, Reduction};
use graft_tensor::{Result, TensorError};

use crate::data::Targets;

/// Cross-entropy of logits against class indices, mean over the batch (Keras'
/// `sparse_categorical_crossentropy` on a softmax output, fused for stability).
pub fn cross_entropy(outputs: &Var<f32>, targets: &Targets) -> Result<Var<f32>> {
    match targets {
        Targets::Classes(c) => loss::try_cross_entropy(outputs, c),
        Targets::Values(_) => Err(TensorError::new(
            "cross_entropy",
            "expects class-index targets",
        )),
    }
}

/// Mean squared error against real-valued targets.
pub fn mse(outputs: &Var<f32>, targets: &Targets) -> Result<Var<f32>> {
    match targets {
        Targets::Values(v) => loss::try_mse_loss(outputs, &Var::new(v.clone()), Reduction::Mean),
        Targets::Classes(_) => Err(TensorError::new("mse", "expects real-valued targets")),
    }
}
