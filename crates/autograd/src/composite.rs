//! Ops composed from primitives: they need no gradient rule of their own, so their
//! gradients (of any order) come from the primitives they are made of.

use graft_tensor::{normalize_axes, or_panic, try_normalize_dim, Float, Result, Tensor};

use crate::api::plain;
use crate::var::Var;

fn count_over(shape: &[usize], axes: &[isize]) -> usize {
    normalize_axes(axes, shape.len())
        .map(|d| shape[d])
        .product()
}

impl<T: Float> Var<T> {
    /// Mean of all elements.
    pub fn mean(&self) -> Var<T> {
        self.sum().div_scalar(T::from_f64(self.numel() as f64))
    }

    /// Mean over `axes`.
    pub fn try_mean_dims(&self, axes: &[isize], keepdim: bool) -> Result<Var<T>> {
        let n = count_over(self.shape(), axes);
        Ok(self
            .try_sum_dims(axes, keepdim)?
            .div_scalar(T::from_f64(n as f64)))
    }

    /// Variance over `axes` with divisor `n - correction` (1 = unbiased).
    pub fn try_var_dims(&self, axes: &[isize], correction: usize, keepdim: bool) -> Result<Var<T>> {
        let n = count_over(self.shape(), axes);
        let centered = self - &self.try_mean_dims(axes, true)?;
        let ss = (&centered * &centered).try_sum_dims(axes, keepdim)?;
        Ok(ss.div_scalar(T::from_f64(n as f64 - correction as f64)))
    }

    /// Variance of all elements with divisor `n - correction`.
    pub fn var(&self, correction: usize) -> Var<T> {
        let axes: Vec<isize> = (0..self.ndim() as isize).collect();
        self.var_dims(&axes, correction, false)
    }

    /// Standard deviation over `axes`.
    pub fn try_std_dims(&self, axes: &[isize], correction: usize, keepdim: bool) -> Result<Var<T>> {
        Ok(self.try_var_dims(axes, correction, keepdim)?.sqrt())
    }

    /// Smallest element over `axes`.
    pub fn try_min_dims(&self, axes: &[isize], keepdim: bool) -> Result<Var<T>> {
        Ok(self.neg().try_max_dims(axes, keepdim)?.neg())
    }

    /// Smallest element.
    pub fn try_min(&self) -> Result<Var<T>> {
        Ok(self.neg().try_max()?.neg())
    }

    /// log(sum(exp(x))) over `axes`, stable: the max is subtracted as a constant, which
    /// leaves value and every derivative unchanged.
    pub fn try_logsumexp_dims(&self, axes: &[isize], keepdim: bool) -> Result<Var<T>> {
        let m = self
            .value()
            .try_max_dims(axes, true)?
            .map(|v| if v.is_finite() { v } else { T::ZERO });
        let m = Var::new(m);
        let lse = (self - &m).exp().try_sum_dims(axes, true)?.log() + m;
        if keepdim {
            Ok(lse)
        } else {
            let shape = self.value().try_sum_dims(axes, false)?.shape().to_vec();
            lse.try_reshape(&shape)
        }
    }

    /// Softmax along `dim`.
    pub fn try_softmax(&self, dim: isize) -> Result<Var<T>> {
        let m = Var::new(self.value().try_max_dims(&[dim], true)?);
        let e = (self - &m).exp();
        Ok(&e / &e.try_sum_dims(&[dim], true)?)
    }

    /// log(softmax(x)) along `dim`, as `(x - m) - log(sum(exp(x - m)))` with the max `m`
    /// held constant: subtracting `m` first keeps the largest logit exact even at ±1000.
    pub fn try_log_softmax(&self, dim: isize) -> Result<Var<T>> {
        let m =
            self.value()
                .try_max_dims(&[dim], true)?
                .map(|v| if v.is_finite() { v } else { T::ZERO });
        let shifted = self - &Var::new(m);
        Ok(&shifted - &shifted.exp().try_sum_dims(&[dim], true)?.log())
    }

    /// Elementwise larger of two Vars (the gradient goes to `self` on ties).
    pub fn try_maximum(&self, other: &Var<T>) -> Result<Var<T>> {
        let mask = self.value().try_ge(&other.value())?;
        Var::try_where_cond(&mask, self, other)
    }

    /// Elementwise smaller of two Vars (the gradient goes to `self` on ties).
    pub fn try_minimum(&self, other: &Var<T>) -> Result<Var<T>> {
        let mask = self.value().try_le(&other.value())?;
        Var::try_where_cond(&mask, self, other)
    }

    /// Limits elements to `[min, max]`; the gradient is zero where a bound is active.
    pub fn clamp(&self, min: Option<T>, max: Option<T>) -> Var<T> {
        let v = self.value();
        let mut out = self.clone();
        if let Some(lo) = min {
            out = Var::where_cond(&v.lt_scalar(lo), &Var::new(Tensor::scalar(lo)), &out);
        }
        if let Some(hi) = max {
            out = Var::where_cond(&v.gt_scalar(hi), &Var::new(Tensor::scalar(hi)), &out);
        }
        out
    }

    /// |x| (gradient sign(x), 0 at 0).
    pub fn abs(&self) -> Var<T> {
        self * &Var::new(self.value().sign())
    }

    /// x if x > 0, else `slope · x`.
    pub fn leaky_relu(&self, slope: T) -> Var<T> {
        Var::where_cond(
            &self.value().gt_scalar(T::ZERO),
            self,
            &self.mul_scalar(slope),
        )
    }

    /// GELU: x·Φ(x) exactly (`approximate = false`) or with PyTorch's tanh approximation.
    pub fn gelu(&self, approximate: bool) -> Var<T> {
        let c = |v: f64| T::from_f64(v);
        let inner = if approximate {
            let cube = self.pow_scalar(c(3.0)).mul_scalar(c(0.044715));
            (self + &cube)
                .mul_scalar(c((2.0 / std::f64::consts::PI).sqrt()))
                .tanh()
        } else {
            self.mul_scalar(c(std::f64::consts::FRAC_1_SQRT_2)).erf()
        };
        (self * &inner.add_scalar(T::ONE)).mul_scalar(c(0.5))
    }

    /// (1/β)·ln(1 + e^(βx)), and x itself where βx > `threshold` (PyTorch's softplus).
    pub fn softplus(&self, beta: T, threshold: T) -> Var<T> {
        let bx = self.mul_scalar(beta);
        let linear = bx.value().gt_scalar(threshold);
        // Clamp the unused branch so its exp cannot overflow into a NaN gradient.
        let smooth = bx
            .clamp(None, Some(threshold))
            .exp()
            .log1p()
            .div_scalar(beta);
        Var::where_cond(&linear, self, &smooth)
    }

    /// x².
    pub fn square(&self) -> Var<T> {
        self * self
    }

    /// Fills positions where `mask` is true with `value` (their gradient is 0).
    pub fn try_masked_fill(&self, mask: &Tensor<bool>, value: T) -> Result<Var<T>> {
        self.value().try_masked_fill(mask, value)?;
        Var::try_where_cond(mask, &Var::new(Tensor::scalar(value)), self)
    }

    /// Swaps two dims.
    pub fn try_transpose(&self, dim0: isize, dim1: isize) -> Result<Var<T>> {
        let a = try_normalize_dim("transpose", dim0, self.shape())?;
        let b = try_normalize_dim("transpose", dim1, self.shape())?;
        let mut dims: Vec<isize> = (0..self.ndim() as isize).collect();
        dims.swap(a, b);
        self.try_permute(&dims)
    }

    /// Matrix transpose of a 2-D Var (0-d and 1-d are returned as they are).
    pub fn try_t(&self) -> Result<Var<T>> {
        self.value().try_t()?;
        if self.ndim() < 2 {
            return Ok(self.clone());
        }
        self.try_transpose(0, 1)
    }

    /// Index `index` of `dim`, removing the dim.
    pub fn try_select(&self, dim: isize, index: usize) -> Result<Var<T>> {
        let shape = self.value().try_select(dim, index)?.shape().to_vec();
        self.try_narrow(dim, index, 1)?.try_reshape(&shape)
    }

    /// Inserts a size-1 dim.
    pub fn try_unsqueeze(&self, dim: isize) -> Result<Var<T>> {
        let shape = self.value().try_unsqueeze(dim)?.shape().to_vec();
        self.try_reshape(&shape)
    }

    /// Removes `dim` if its size is 1.
    pub fn try_squeeze_dim(&self, dim: isize) -> Result<Var<T>> {
        let shape = self.value().try_squeeze_dim(dim)?.shape().to_vec();
        self.try_reshape(&shape)
    }

    /// Merges dims `start..=end`.
    pub fn try_flatten(&self, start: isize, end: isize) -> Result<Var<T>> {
        let shape = self.value().try_flatten(start, end)?.shape().to_vec();
        self.try_reshape(&shape)
    }

    /// PyTorch's name for [`Var::expand`].
    pub fn try_broadcast_to(&self, shape: &[usize]) -> Result<Var<T>> {
        self.try_expand(shape)
    }

    /// Stacks same-shaped Vars along a new `dim`.
    pub fn try_stack(vars: &[&Var<T>], dim: isize) -> Result<Var<T>> {
        let values: Vec<Tensor<T>> = vars.iter().map(|v| v.value()).collect();
        let refs: Vec<&Tensor<T>> = values.iter().collect();
        Tensor::try_stack(&refs, dim)?;
        let parts = vars
            .iter()
            .map(|v| v.try_unsqueeze(dim))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Var<T>> = parts.iter().collect();
        Var::try_concat(&refs, dim)
    }

    /// Stacks Vars; panics on mismatched shapes.
    #[track_caller]
    pub fn stack(vars: &[&Var<T>], dim: isize) -> Var<T> {
        or_panic(Self::try_stack(vars, dim))
    }

    /// Sums a broadcast gradient back to `shape` (the engine's own reduction, public for
    /// custom ops that broadcast).
    pub fn sum_to(&self, shape: &[usize]) -> Var<T> {
        crate::backward::sum_to(self, shape)
    }

    plain! {
        /// Mean over axes.
        fn mean_dims => try_mean_dims(axes: &[isize], keepdim: bool);
        /// Variance over axes.
        fn var_dims => try_var_dims(axes: &[isize], correction: usize, keepdim: bool);
        /// Standard deviation over axes.
        fn std_dims => try_std_dims(axes: &[isize], correction: usize, keepdim: bool);
        /// Smallest element over axes.
        fn min_dims => try_min_dims(axes: &[isize], keepdim: bool);
        /// Smallest element.
        fn min => try_min();
        /// Stable log-sum-exp over axes.
        fn logsumexp_dims => try_logsumexp_dims(axes: &[isize], keepdim: bool);
        /// Softmax along a dim.
        fn softmax => try_softmax(dim: isize);
        /// Log-softmax along a dim.
        fn log_softmax => try_log_softmax(dim: isize);
        /// Elementwise maximum.
        fn maximum => try_maximum(other: &Var<T>);
        /// Elementwise minimum.
        fn minimum => try_minimum(other: &Var<T>);
        /// Masked fill.
        fn masked_fill => try_masked_fill(mask: &Tensor<bool>, value: T);
        /// Swap two dims.
        fn transpose => try_transpose(dim0: isize, dim1: isize);
        /// Matrix transpose.
        fn t => try_t();
        /// One index of a dim.
        fn select => try_select(dim: isize, index: usize);
        /// Insert a size-1 dim.
        fn unsqueeze => try_unsqueeze(dim: isize);
        /// Remove a size-1 dim.
        fn squeeze_dim => try_squeeze_dim(dim: isize);
        /// Merge dims.
        fn flatten => try_flatten(start: isize, end: isize);
        /// Broadcast to a shape.
        fn broadcast_to => try_broadcast_to(shape: &[usize]);
    }
}
