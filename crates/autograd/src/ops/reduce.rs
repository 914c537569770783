//! Reduction primitives: sum and max over axes. Mean, var, logsumexp, softmax and min are
//! composed from these.

use graft_tensor::{normalize_axes, Float, Tensor, TensorError};

use super::constant;
use crate::graph::Op;
use crate::var::Var;

/// Shape of `input` with `axes` kept as size 1: how a reduced gradient lines up again.
fn keepdim_shape(input: &[usize], axes: &[isize]) -> Vec<usize> {
    let mut shape = input.to_vec();
    for d in normalize_axes(axes, input.len()) {
        shape[d] = 1;
    }
    shape
}

/// Sum over `axes`.
pub(crate) struct SumDims {
    pub(crate) axes: Vec<isize>,
    pub(crate) keepdim: bool,
}

impl<T: Float> Op<T> for SumDims {
    fn name(&self) -> &'static str {
        "sum"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        x[0].try_sum_dims(&self.axes, self.keepdim)
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Vec<Option<Var<T>>> {
        let kept = keepdim_shape(x[0].shape(), &self.axes);
        vec![Some(g.reshape(&kept).expand(x[0].shape()))]
    }
}

/// Maximum over `axes` (PyTorch's `amax`): the gradient is shared equally among ties.
pub(crate) struct MaxDims {
    pub(crate) axes: Vec<isize>,
    pub(crate) keepdim: bool,
}

impl<T: Float> Op<T> for MaxDims {
    fn name(&self) -> &'static str {
        "max"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        x[0].try_max_dims(&self.axes, self.keepdim)
    }
    fn backward(&self, x: &[Var<T>], out: &Var<T>, g: &Var<T>) -> Vec<Option<Var<T>>> {
        let kept = keepdim_shape(x[0].shape(), &self.axes);
        let winners: Tensor<T> = x[0].value().eq(&out.value().reshape(&kept)).cast();
        let count = winners.sum_dims(&self.axes, true);
        let share = constant(&winners / &count);
        vec![Some(&g.reshape(&kept).expand(x[0].shape()) * &share)]
    }
}
