//! How a loss reduces its per-element values, and the helpers every loss shares.

use graft_autograd::Var;
use graft_tensor::{Float, Result, Tensor, TensorError};

/// How a loss reduces its per-element (or per-sample) losses: PyTorch's `reduction`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Reduction {
    /// The losses unreduced, one per element (or per sample for class losses).
    None,
    /// The mean (PyTorch's default). Class-index losses divide by the total weight of the
    /// samples that are not ignored, as PyTorch does.
    #[default]
    Mean,
    /// The sum.
    Sum,
}

/// The reductions of [`kl_div`](super::kl_div): [`Reduction`]'s three plus `BatchMean`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KlDivReduction {
    /// The pointwise losses unreduced.
    None,
    /// The sum divided by the batch size `input.shape()[0]`: the true KL divergence per
    /// sample, and what PyTorch recommends.
    BatchMean,
    /// The sum over all elements.
    Sum,
    /// The sum divided by the number of elements (PyTorch's default, which is not the KL
    /// divergence of anything unless there is one class).
    #[default]
    Mean,
}

impl From<Reduction> for KlDivReduction {
    fn from(r: Reduction) -> Self {
        match r {
            Reduction::None => KlDivReduction::None,
            Reduction::Mean => KlDivReduction::Mean,
            Reduction::Sum => KlDivReduction::Sum,
        }
    }
}

pub(crate) fn c<T: Float>(v: f64) -> T {
    T::from_f64(v)
}

pub(crate) fn constant<T: Float>(v: T) -> Var<T> {
    Var::new(Tensor::scalar(v))
}

pub(crate) fn reduce<T: Float>(losses: Var<T>, reduction: Reduction) -> Var<T> {
    match reduction {
        Reduction::None => losses,
        Reduction::Mean => losses.mean(),
        Reduction::Sum => losses.sum(),
    }
}

/// Input and target must have the same shape: PyTorch only warns when they broadcast,
/// and a broadcast there (`[N, 1]` against `[N]`) is almost always a bug.
pub(crate) fn same_shape<T: Float>(op: &str, input: &Var<T>, target: &Var<T>) -> Result<()> {
    if input.shape() == target.shape() {
        Ok(())
    } else {
        Err(TensorError::shape_mismatch(
            op,
            format!(
                "input shape {:?} and target shape {:?} must be equal",
                input.shape(),
                target.shape()
            ),
        ))
    }
}
