//! Movement primitives: reshape, permute, expand, strided slicing and its adjoint, constant
//! padding, and concatenation. Each backward is the adjoint movement.

use graft_tensor::{normalize_axes, normalize_dim, Float, Tensor, TensorError};

use crate::graph::Op;
use crate::var::Var;

type Grads<T> = Vec<Option<Var<T>>>;

/// The same elements in a new shape.
pub(crate) struct Reshape(pub(crate) Vec<usize>);
impl<T: Float> Op<T> for Reshape {
    fn name(&self) -> &'static str {
        "reshape"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        x[0].try_reshape(&self.0)
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        vec![Some(g.reshape(x[0].shape()))]
    }
}

/// Reordered dimensions.
pub(crate) struct Permute(pub(crate) Vec<isize>);
impl<T: Float> Op<T> for Permute {
    fn name(&self) -> &'static str {
        "permute"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        x[0].try_permute(&self.0)
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        // The forward validated the dims, so each resolves.
        let mut inverse = vec![0isize; self.0.len()];
        for (i, d) in normalize_axes(&self.0, x[0].ndim()).enumerate() {
            inverse[d] = i as isize;
        }
        vec![Some(g.permute(&inverse))]
    }
}

/// A broadcast view; the engine's sum-to-shape is its whole backward.
pub(crate) struct Expand(pub(crate) Vec<usize>);
impl<T: Float> Op<T> for Expand {
    fn name(&self) -> &'static str {
        "expand"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        x[0].try_broadcast_to(&self.0)
    }
    fn backward(&self, _: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        vec![Some(g.clone())]
    }
}

/// Every `step`-th index in `start..end` of one dim.
pub(crate) struct Slice {
    pub(crate) dim: usize,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) step: usize,
}
impl<T: Float> Op<T> for Slice {
    fn name(&self) -> &'static str {
        "slice"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        x[0].try_slice(
            self.dim as isize,
            self.start as isize,
            self.end as isize,
            self.step,
        )
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        let embed = Unslice {
            dim: self.dim,
            start: self.start,
            step: self.step,
            size: x[0].shape()[self.dim],
        };
        vec![Some(Var::apply(embed, &[g]))]
    }
}

/// The adjoint of [`Slice`]: places the input at `start, start + step, ...` of a zero
/// tensor whose dim `dim` has `size` entries.
pub(crate) struct Unslice {
    pub(crate) dim: usize,
    pub(crate) start: usize,
    pub(crate) step: usize,
    pub(crate) size: usize,
}
impl<T: Float> Op<T> for Unslice {
    fn name(&self) -> &'static str {
        "unslice"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        let g = &x[0];
        let n = g.shape()[self.dim];
        if self.step == 1 {
            let pads: Vec<(usize, usize)> = (self.dim..g.ndim())
                .map(|d| {
                    if d == self.dim {
                        (self.start, self.size - self.start - n)
                    } else {
                        (0, 0)
                    }
                })
                .collect();
            return g.try_pad(&pads, T::ZERO);
        }
        // A strided embed is a scatter-add of the rows into their positions.
        let mut shape = g.shape().to_vec();
        shape[self.dim] = self.size;
        let positions: Vec<i64> = (0..n)
            .map(|i| (self.start + i * self.step) as i64)
            .collect();
        Tensor::zeros(&shape).try_index_add(
            self.dim as isize,
            &Tensor::from_vec(positions, &[n]),
            g,
        )
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        let n = x[0].shape()[self.dim];
        let end = if n == 0 {
            self.start
        } else {
            self.start + (n - 1) * self.step + 1
        };
        vec![Some(Var::apply(
            Slice {
                dim: self.dim,
                start: self.start,
                end,
                step: self.step,
            },
            &[g],
        ))]
    }
}

/// Constant padding: `pads[i] = (before, after)` for the last `pads.len()` dims.
pub(crate) struct Pad<T> {
    pub(crate) pads: Vec<(usize, usize)>,
    pub(crate) value: T,
}
impl<T: Float> Op<T> for Pad<T> {
    fn name(&self) -> &'static str {
        "pad"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        x[0].try_pad(&self.pads, self.value)
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        let lead = x[0].ndim() - self.pads.len();
        let mut grad = g.clone();
        for (i, &(before, _)) in self.pads.iter().enumerate() {
            grad = grad.narrow((lead + i) as isize, before, x[0].shape()[lead + i]);
        }
        vec![Some(grad)]
    }
}

/// Concatenation along `dim` of any number of inputs.
pub(crate) struct Concat(pub(crate) isize);
impl<T: Float> Op<T> for Concat {
    fn name(&self) -> &'static str {
        "concat"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        let refs: Vec<&Tensor<T>> = x.iter().collect();
        Tensor::try_concat(&refs, self.0)
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        let mut start = 0;
        let d = normalize_dim(self.0, g.ndim()).expect("the forward validated the dim");
        x.iter()
            .map(|input| {
                let len = input.shape()[d];
                let part = input.needs_grad().then(|| g.narrow(d as isize, start, len));
                start += len;
                part
            })
            .collect()
    }
}
