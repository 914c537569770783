//! The `Var` methods for the primitive ops: the same names, broadcasting and error messages
//! as on `Tensor`, each a thin call into [`Var::apply`].

use graft_tensor::{clamp_slice_bound, normalize_dim, Float, Result, Tensor, Window2d};

use crate::ops::conv::{Conv2d, Conv2dInputGrad, Conv2dWeightGrad};
use crate::ops::elementwise::*;
use crate::ops::gru_sequence::GruSequence;
use crate::ops::indexing::{Gather, IndexAdd, IndexSelect, ScatterAdd};
use crate::ops::linalg::{Fold, Matmul, Unfold};
use crate::ops::movement::{Concat, Expand, Pad, Permute, Reshape, Slice};
use crate::ops::recurrent::GruCell;
use crate::ops::reduce::{MaxDims, SumDims};
use crate::var::Var;

/// Declares the panicking form of `try_*` methods on `Var`.
macro_rules! plain {
    ($($(#[$meta:meta])* fn $name:ident => $try:ident ($($arg:ident : $ty:ty),*);)*) => {$(
        $(#[$meta])*
        ///
        /// Panics with the message the `try_` form would return.
        #[track_caller]
        pub fn $name(&self, $($arg: $ty),*) -> Var<T> {
            graft_tensor::or_panic(self.$try($($arg),*))
        }
    )*};
}
pub(crate) use plain;

macro_rules! unary_methods {
    ($($(#[$m:meta])* $name:ident => $op:expr;)*) => {$(
        $(#[$m])*
        pub fn $name(&self) -> Var<T> {
            Var::apply($op, &[self])
        }
    )*};
}

impl<T: Float> Var<T> {
    unary_methods! {
        /// -x.
        neg => Neg;
        /// e^x.
        exp => Exp;
        /// Natural logarithm.
        log => Log;
        /// ln(1 + x), accurate near 0.
        log1p => Log1p;
        /// Square root.
        sqrt => Sqrt;
        /// Hyperbolic tangent.
        tanh => Tanh;
        /// Logistic sigmoid.
        sigmoid => Sigmoid;
        /// max(x, 0).
        relu => Relu;
        /// The error function.
        erf => Erf;
        /// Sine.
        sin => Sin;
        /// Cosine.
        cos => Cos;
    }

    /// x + c.
    pub fn add_scalar(&self, c: T) -> Var<T> {
        Var::apply(AddScalar(c), &[self])
    }

    /// x - c.
    pub fn sub_scalar(&self, c: T) -> Var<T> {
        Var::apply(AddScalar(-c), &[self])
    }

    /// x · c.
    pub fn mul_scalar(&self, c: T) -> Var<T> {
        Var::apply(MulScalar(c), &[self])
    }

    /// x / c.
    pub fn div_scalar(&self, c: T) -> Var<T> {
        Var::apply(MulScalar(T::ONE / c), &[self])
    }

    /// c - x.
    pub fn rsub_scalar(&self, c: T) -> Var<T> {
        self.neg().add_scalar(c)
    }

    /// c / x.
    pub fn rdiv_scalar(&self, c: T) -> Var<T> {
        self.pow_scalar(-T::ONE).mul_scalar(c)
    }

    /// x^p for a scalar exponent.
    pub fn pow_scalar(&self, p: T) -> Var<T> {
        Var::apply(PowScalar(p), &[self])
    }

    /// Elementwise a + b with broadcasting.
    pub fn try_add(&self, other: &Var<T>) -> Result<Var<T>> {
        Var::try_apply_binary(Add, self, other)
    }

    /// Elementwise a - b with broadcasting.
    pub fn try_sub(&self, other: &Var<T>) -> Result<Var<T>> {
        Var::try_apply_binary(Sub, self, other)
    }

    /// Elementwise a · b with broadcasting.
    pub fn try_mul(&self, other: &Var<T>) -> Result<Var<T>> {
        Var::try_apply_binary(Mul, self, other)
    }

    /// Elementwise a / b with broadcasting.
    pub fn try_div(&self, other: &Var<T>) -> Result<Var<T>> {
        Var::try_apply_binary(Div, self, other)
    }

    /// Sum of all elements, as a 0-d Var.
    pub fn sum(&self) -> Var<T> {
        let axes: Vec<isize> = (0..self.ndim() as isize).collect();
        Var::apply(
            SumDims {
                axes,
                keepdim: false,
            },
            &[self],
        )
    }

    /// Sum over `axes`.
    pub fn try_sum_dims(&self, axes: &[isize], keepdim: bool) -> Result<Var<T>> {
        Var::try_apply(
            SumDims {
                axes: axes.to_vec(),
                keepdim,
            },
            &[self],
        )
    }

    /// Largest element over `axes` (gradient shared among ties).
    pub fn try_max_dims(&self, axes: &[isize], keepdim: bool) -> Result<Var<T>> {
        Var::try_apply(
            MaxDims {
                axes: axes.to_vec(),
                keepdim,
            },
            &[self],
        )
    }

    /// Largest element, as a 0-d Var.
    pub fn try_max(&self) -> Result<Var<T>> {
        let axes: Vec<isize> = (0..self.ndim() as isize).collect();
        self.try_max_dims(&axes, false)
    }

    /// The same elements in a new shape.
    pub fn try_reshape(&self, shape: &[usize]) -> Result<Var<T>> {
        if shape == self.shape() {
            return Ok(self.clone());
        }
        Var::try_apply(Reshape(shape.to_vec()), &[self])
    }

    /// Reordered dimensions.
    pub fn try_permute(&self, dims: &[isize]) -> Result<Var<T>> {
        Var::try_apply(Permute(dims.to_vec()), &[self])
    }

    /// A broadcast to `shape`.
    pub fn try_expand(&self, shape: &[usize]) -> Result<Var<T>> {
        if shape == self.shape() {
            return Ok(self.clone());
        }
        Var::try_apply(Expand(shape.to_vec()), &[self])
    }

    /// Python's `start:end:step` on dimension `dim` (negative bounds count from the end).
    pub fn try_slice(&self, dim: isize, start: isize, end: isize, step: usize) -> Result<Var<T>> {
        // The tensor op validates and clamps exactly as Python does; reuse its answer.
        let view = self.value().try_slice(dim, start, end, step)?;
        let d = normalize_dim(dim, self.ndim()).expect("the tensor op validated the dim");
        let s = clamp_slice_bound(start, self.shape()[d]);
        let count = view.shape()[d];
        let end = if count == 0 {
            s
        } else {
            s + (count - 1) * step + 1
        };
        Var::try_apply(
            Slice {
                dim: d,
                start: s,
                end,
                step,
            },
            &[self],
        )
    }

    /// Indices `start..start + len` of `dim`.
    pub fn try_narrow(&self, dim: isize, start: usize, len: usize) -> Result<Var<T>> {
        self.value().try_narrow(dim, start, len)?;
        self.try_slice(dim, start as isize, (start + len) as isize, 1)
    }

    /// Constant padding of the last `pads.len()` dims.
    pub fn try_pad(&self, pads: &[(usize, usize)], value: T) -> Result<Var<T>> {
        Var::try_apply(
            Pad {
                pads: pads.to_vec(),
                value,
            },
            &[self],
        )
    }

    /// One GRU time step's gate arithmetic, fused into one op (PyTorch's gate order r, z,
    /// n): `gx` `[N, 3H]` is `W_ih x + b_ih`, `gh` `[N, 3H]` is `W_hh h`, `bias_hh` `[3H]` is
    /// added to `gh`; returns
    /// h' = n + z ⊙ (h − n) with r = σ(gx_r + gh_r), z = σ(gx_z + gh_z),
    /// n = tanh(gx_n + r ⊙ gh_n). Differentiable to any order.
    pub fn try_gru_cell(
        gx: &Var<T>,
        gh: &Var<T>,
        h: &Var<T>,
        bias_hh: Option<&Var<T>>,
    ) -> Result<Var<T>> {
        match bias_hh {
            Some(b) => Var::try_apply(GruCell, &[gx, gh, h, b]),
            None => Var::try_apply(GruCell, &[gx, gh, h]),
        }
    }

    /// A whole GRU layer direction over time, as one op: `proj` `[T, N, 3H]` holds
    /// `W_ih x_t + b_ih` for every step (time-first), `w_hh` is `[3H, H]`, `h0` `[N, H]`,
    /// `bias_hh` `[3H]`; returns the state after every step, `[T, N, H]` in time order
    /// (with `reverse`, the steps run from T − 1 down to 0, as PyTorch's reverse
    /// direction). Each step is `h = gru_cell(proj[t], h · W_hhᵀ, h, bias_hh)`.
    /// Differentiable to any order.
    pub fn try_gru_sequence(
        proj: &Var<T>,
        w_hh: &Var<T>,
        h0: &Var<T>,
        bias_hh: Option<&Var<T>>,
        reverse: bool,
    ) -> Result<Var<T>> {
        let op = GruSequence::new(reverse);
        match bias_hh {
            Some(b) => Var::try_apply(op, &[proj, w_hh, h0, b]),
            None => Var::try_apply(op, &[proj, w_hh, h0]),
        }
    }

    /// Joins Vars along `dim`.
    pub fn try_concat(vars: &[&Var<T>], dim: isize) -> Result<Var<T>> {
        Var::try_apply(Concat(dim), vars)
    }

    /// Joins Vars along `dim`; panics on mismatched shapes.
    #[track_caller]
    pub fn concat(vars: &[&Var<T>], dim: isize) -> Var<T> {
        Var::apply(Concat(dim), vars)
    }

    /// Entries at `index` along `dim`.
    pub fn try_index_select(&self, dim: isize, index: &Tensor<i64>) -> Result<Var<T>> {
        Var::try_apply(
            IndexSelect {
                dim,
                index: index.clone(),
            },
            &[self],
        )
    }

    /// `self` with rows of `src` added at `index` along `dim`.
    pub fn try_index_add(&self, dim: isize, index: &Tensor<i64>, src: &Var<T>) -> Result<Var<T>> {
        Var::try_apply(
            IndexAdd {
                dim,
                index: index.clone(),
            },
            &[self, src],
        )
    }

    /// Entries picked by `index` along `dim`.
    pub fn try_gather(&self, dim: isize, index: &Tensor<i64>) -> Result<Var<T>> {
        Var::try_apply(
            Gather {
                dim,
                index: index.clone(),
            },
            &[self],
        )
    }

    /// `self` with `src` added at the positions `index` names along `dim`.
    pub fn try_scatter_add(&self, dim: isize, index: &Tensor<i64>, src: &Var<T>) -> Result<Var<T>> {
        Var::try_apply(
            ScatterAdd {
                dim,
                index: index.clone(),
            },
            &[self, src],
        )
    }

    /// `a` where `mask` is true, else `b`, broadcasting all three.
    pub fn try_where_cond(mask: &Tensor<bool>, a: &Var<T>, b: &Var<T>) -> Result<Var<T>> {
        Var::try_apply(Where(mask.clone()), &[a, b])
    }

    /// `a` where `mask` is true, else `b`; panics if shapes do not broadcast.
    #[track_caller]
    pub fn where_cond(mask: &Tensor<bool>, a: &Var<T>, b: &Var<T>) -> Var<T> {
        Var::apply(Where(mask.clone()), &[a, b])
    }

    /// Matrix product with `torch.matmul` semantics (vectors, batches, broadcasting).
    pub fn try_matmul(&self, other: &Var<T>) -> Result<Var<T>> {
        // Errors are reported on the caller's shapes, not the promoted ones below.
        let original_error = |e| self.value().try_matmul(&other.value()).err().unwrap_or(e);
        if self.ndim() >= 2 && other.ndim() >= 2 {
            return Var::try_apply(Matmul, &[self, other]).map_err(original_error);
        }
        if self.ndim() == 0 || other.ndim() == 0 {
            return Err(original_error(graft_tensor::TensorError::new("matmul", "")));
        }
        // A vector operand becomes a 1-row (or 1-column) matrix, and that dim is dropped after.
        let a = if self.ndim() == 1 {
            self.try_reshape(&[1, self.shape()[0]])?
        } else {
            self.clone()
        };
        let b = if other.ndim() == 1 {
            other.try_reshape(&[other.shape()[0], 1])?
        } else {
            other.clone()
        };
        let out = Var::try_apply(Matmul, &[&a, &b]).map_err(original_error)?;
        let mut shape = out.shape().to_vec();
        if other.ndim() == 1 {
            shape.pop();
        }
        if self.ndim() == 1 {
            let at = shape.len() - if other.ndim() == 1 { 1 } else { 2 };
            shape.remove(at);
        }
        out.try_reshape(&shape)
    }

    /// im2col: `[N, C, H, W]` -> `[N, C*kh*kw, L]`.
    pub fn try_unfold(&self, window: &Window2d) -> Result<Var<T>> {
        let op = Unfold {
            window: *window,
            batch_inner: false,
        };
        Var::try_apply(op, &[self])
    }

    /// im2col with unfold's values stored as `[C*kh*kw, N, L]`: permuted to that order
    /// and reshaped to `[C*kh*kw, N*L]`, the result is a view, the operand of one matrix
    /// product over the whole batch (how `conv2d` uses it).
    pub fn try_unfold_batch_inner(&self, window: &Window2d) -> Result<Var<T>> {
        let op = Unfold {
            window: *window,
            batch_inner: true,
        };
        Var::try_apply(op, &[self])
    }

    /// col2im: `[N, C*kh*kw, L]` -> `[N, C, H, W]`, summing overlaps.
    pub fn try_fold(&self, size: [usize; 2], window: &Window2d) -> Result<Var<T>> {
        Var::try_apply(
            Fold {
                size,
                window: *window,
            },
            &[self],
        )
    }

    /// 2-D cross-correlation of `self` (`[N, C, H, W]`) with `weight` (`[O, C, kh, kw]`,
    /// the window's kernel) under the window's stride, padding and dilation, plus `bias`
    /// (`[O]`) per output channel if given: `[N, O, oh, ow]` (one group; see
    /// `graft_nn::functional::conv2d` for groups).
    pub fn try_conv2d(
        &self,
        weight: &Var<T>,
        bias: Option<&Var<T>>,
        window: &Window2d,
    ) -> Result<Var<T>> {
        let op = Conv2d { window: *window };
        match bias {
            Some(b) => Var::try_apply(op, &[self, weight, b]),
            None => Var::try_apply(op, &[self, weight]),
        }
    }

    /// The input gradient of [`try_conv2d`](Self::try_conv2d) from the output's gradient
    /// `self`, for an input of `size` `[H, W]` (the transposed convolution).
    pub fn try_conv2d_input_grad(
        &self,
        weight: &Var<T>,
        window: &Window2d,
        size: [usize; 2],
    ) -> Result<Var<T>> {
        let op = Conv2dInputGrad {
            window: *window,
            size,
        };
        Var::try_apply(op, &[self, weight])
    }

    /// The weight gradient of [`try_conv2d`](Self::try_conv2d) from its input `self` and the
    /// output's gradient `g`.
    pub fn try_conv2d_weight_grad(&self, g: &Var<T>, window: &Window2d) -> Result<Var<T>> {
        Var::try_apply(Conv2dWeightGrad { window: *window }, &[self, g])
    }

    plain! {
        /// Elementwise a + b.
        fn add => try_add(other: &Var<T>);
        /// Elementwise a - b.
        fn sub => try_sub(other: &Var<T>);
        /// Elementwise a · b.
        fn mul => try_mul(other: &Var<T>);
        /// Elementwise a / b.
        fn div => try_div(other: &Var<T>);
        /// Sum over axes.
        fn sum_dims => try_sum_dims(axes: &[isize], keepdim: bool);
        /// Largest element over axes.
        fn max_dims => try_max_dims(axes: &[isize], keepdim: bool);
        /// Largest element.
        fn max => try_max();
        /// New shape.
        fn reshape => try_reshape(shape: &[usize]);
        /// Reordered dims.
        fn permute => try_permute(dims: &[isize]);
        /// Broadcast to a shape.
        fn expand => try_expand(shape: &[usize]);
        /// Strided slice of one dim.
        fn slice => try_slice(dim: isize, start: isize, end: isize, step: usize);
        /// A range of one dim.
        fn narrow => try_narrow(dim: isize, start: usize, len: usize);
        /// Constant padding.
        fn pad => try_pad(pads: &[(usize, usize)], value: T);
        /// Entries at `index` along `dim`.
        fn index_select => try_index_select(dim: isize, index: &Tensor<i64>);
        /// Index-add along `dim`.
        fn index_add => try_index_add(dim: isize, index: &Tensor<i64>, src: &Var<T>);
        /// Gather along `dim`.
        fn gather => try_gather(dim: isize, index: &Tensor<i64>);
        /// Scatter-add along `dim`.
        fn scatter_add => try_scatter_add(dim: isize, index: &Tensor<i64>, src: &Var<T>);
        /// Matrix product.
        fn matmul => try_matmul(other: &Var<T>);
        /// im2col.
        fn unfold => try_unfold(window: &Window2d);
        /// im2col stored batch-inner.
        fn unfold_batch_inner => try_unfold_batch_inner(window: &Window2d);
        /// col2im.
        fn fold => try_fold(size: [usize; 2], window: &Window2d);
        /// 2-D cross-correlation.
        fn conv2d => try_conv2d(weight: &Var<T>, bias: Option<&Var<T>>, window: &Window2d);
        /// A convolution's input gradient.
        fn conv2d_input_grad => try_conv2d_input_grad(weight: &Var<T>, window: &Window2d, size: [usize; 2]);
        /// A convolution's weight gradient.
        fn conv2d_weight_grad => try_conv2d_weight_grad(g: &Var<T>, window: &Window2d);
    }
}
