//! Matrix product and sliding windows (unfold <-> fold).

use graft_tensor::{Float, Tensor, TensorError, Window2d};

use crate::graph::Op;
use crate::var::Var;

type Grads<T> = Vec<Option<Var<T>>>;

/// Matrix product of operands with at least 2 dims (vector cases are composed around it).
/// Broadcast batch dims are summed back by the engine.
pub(crate) struct Matmul;
impl<T: Float> Op<T> for Matmul {
    fn name(&self) -> &'static str {
        "matmul"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        x[0].try_matmul(&x[1])
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        let (a, b) = (&x[0], &x[1]);
        // Each gradient is produced in its operand's memory order: for an operand that is
        // a transposed view (a Linear weight used as `w.t()`), computing the transposed
        // product and viewing it transposed lands the weight's gradient contiguous, so the
        // optimizer reads it without a copy.
        let grad_a = || {
            if is_transposed(a) {
                b.matmul(&g.transpose(-1, -2)).transpose(-1, -2)
            } else {
                g.matmul(&b.transpose(-1, -2))
            }
        };
        let grad_b = || {
            if is_transposed(b) {
                g.transpose(-1, -2).matmul(a).transpose(-1, -2)
            } else {
                a.transpose(-1, -2).matmul(g)
            }
        };
        vec![a.needs_grad().then(grad_a), b.needs_grad().then(grad_b)]
    }
}

/// True for a 2-D operand stored column-major (strides `[1, rows]`): a transposed view.
fn is_transposed<T: Float>(v: &Var<T>) -> bool {
    let value = v.value();
    value.ndim() == 2
        && value.strides()[0] == 1
        && value.strides()[1] != 1
        && !value.is_contiguous()
}

/// im2col: `[N, C, H, W]` -> `[N, C*kh*kw, L]`. With `batch_inner` the result is stored
/// as `[C*kh*kw, N, L]` (same values, other strides: see `Tensor::try_unfold_batch_inner`).
pub(crate) struct Unfold {
    pub(crate) window: Window2d,
    pub(crate) batch_inner: bool,
}
impl<T: Float> Op<T> for Unfold {
    fn name(&self) -> &'static str {
        "unfold"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        if self.batch_inner {
            x[0].try_unfold_batch_inner(&self.window)
        } else {
            x[0].try_unfold(&self.window)
        }
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        // The memory order does not change the function, so neither does its adjoint:
        // fold reads either layout in place.
        let s = x[0].shape();
        vec![Some(g.fold([s[2], s[3]], &self.window))]
    }
}

/// col2im: `[N, C*kh*kw, L]` -> `[N, C, H, W]`, summing overlaps.
pub(crate) struct Fold {
    pub(crate) size: [usize; 2],
    pub(crate) window: Window2d,
}
impl<T: Float> Op<T> for Fold {
    fn name(&self) -> &'static str {
        "fold"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        x[0].try_fold(self.size, &self.window)
    }
    fn backward(&self, _: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        vec![Some(g.unfold(&self.window))]
    }
}
