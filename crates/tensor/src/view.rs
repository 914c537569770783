//! View ops: new layouts over the same storage, never a copy (except `reshape` when the
//! layout forces one).

use crate::element::Element;
use crate::error::{fmt_shape, plain, Result, TensorError};
use crate::layout::{broadcast_shapes, clamp_slice_bound};
use crate::tensor::Tensor;

impl<T: Element> Tensor<T> {
    /// The same elements as `shape`, as a view: errors instead of copying when the layout
    /// cannot be viewed that way (call `reshape` to allow a copy).
    pub fn try_view(&self, shape: &[usize]) -> Result<Tensor<T>> {
        self.check_reshape("view", shape)?;
        self.layout
            .view(shape)
            .map(|l| self.with_layout(l))
            .ok_or_else(|| {
                TensorError::shape_mismatch(
                    "view",
                    format!(
                    "shape {} with strides {:?} cannot be viewed as {} without a copy; use reshape",
                    fmt_shape(self.shape()),
                    self.strides(),
                    fmt_shape(shape)
                ),
                )
            })
    }

    /// The same elements as `shape`: a view when the layout allows, else a contiguous copy.
    pub fn try_reshape(&self, shape: &[usize]) -> Result<Tensor<T>> {
        self.check_reshape("reshape", shape)?;
        Ok(match self.layout.view(shape) {
            Some(l) => self.with_layout(l),
            // The copy may be far larger than the storage (a broadcast view): fallible.
            None => crate::kernels::try_map("reshape", self, |x| x)?
                .with_layout(crate::layout::Layout::contiguous(shape)),
        })
    }

    fn check_reshape(&self, op: &str, shape: &[usize]) -> Result<()> {
        let n = crate::layout::checked_numel(op, shape, std::mem::size_of::<T>())?;
        if n != self.numel() {
            return Err(TensorError::shape_mismatch(
                op,
                format!(
                    "shape {} ({} elements) cannot become {} ({n} elements)",
                    fmt_shape(self.shape()),
                    self.numel(),
                    fmt_shape(shape)
                ),
            ));
        }
        Ok(())
    }

    /// Merges dimensions `start..=end` (negative counts from the end) into one.
    pub fn try_flatten(&self, start: isize, end: isize) -> Result<Tensor<T>> {
        if self.ndim() == 0 {
            return self.try_reshape(&[1]);
        }
        let s = self.try_dim("flatten", start)?;
        let e = self.try_dim("flatten", end)?;
        if s > e {
            return Err(TensorError::new(
                "flatten",
                format!(
                    "start dim {start} comes after end dim {end} for shape {}",
                    fmt_shape(self.shape())
                ),
            ));
        }
        let mut shape: Vec<usize> = self.shape()[..s].to_vec();
        // Checked: with a zero elsewhere in the shape the merged dims alone may overflow.
        let merged = &self.shape()[s..=e];
        shape.push(crate::layout::checked_numel(
            "flatten",
            merged,
            std::mem::size_of::<T>(),
        )?);
        shape.extend_from_slice(&self.shape()[e + 1..]);
        self.try_reshape(&shape)
    }

    /// Reorders dimensions: output dim `i` is input dim `dims[i]`.
    pub fn try_permute(&self, dims: &[isize]) -> Result<Tensor<T>> {
        let n = self.ndim();
        let err = || {
            TensorError::new(
                "permute",
                format!(
                    "dims {dims:?} are not a permutation of the {n} dims of shape {}",
                    fmt_shape(self.shape())
                ),
            )
        };
        if dims.len() != n {
            return Err(err());
        }
        let mut seen = vec![false; n];
        let mut resolved = Vec::with_capacity(n);
        for &d in dims {
            let d = crate::layout::normalize_dim(d, n).ok_or_else(err)?;
            if std::mem::replace(&mut seen[d], true) {
                return Err(err());
            }
            resolved.push(d);
        }
        Ok(self.with_layout(self.layout.permute(&resolved)))
    }

    /// Swaps two dimensions.
    pub fn try_transpose(&self, dim0: isize, dim1: isize) -> Result<Tensor<T>> {
        let a = self.try_dim("transpose", dim0)?;
        let b = self.try_dim("transpose", dim1)?;
        let mut dims: Vec<usize> = (0..self.ndim()).collect();
        dims.swap(a, b);
        Ok(self.with_layout(self.layout.permute(&dims)))
    }

    /// The matrix transpose of a 2-D tensor (a 0-d or 1-d tensor is returned as it is).
    pub fn try_t(&self) -> Result<Tensor<T>> {
        match self.ndim() {
            0 | 1 => Ok(self.clone()),
            2 => self.try_transpose(0, 1),
            _ => Err(TensorError::new(
                "t",
                format!(
                    "expects a tensor of at most 2 dims, got shape {}",
                    fmt_shape(self.shape())
                ),
            )),
        }
    }

    /// Indices `start..start + len` of dimension `dim`.
    pub fn try_narrow(&self, dim: isize, start: usize, len: usize) -> Result<Tensor<T>> {
        let d = self.try_dim("narrow", dim)?;
        // Written so that huge `start`/`len` cannot overflow.
        if start > self.shape()[d] || len > self.shape()[d] - start {
            return Err(TensorError::new(
                "narrow",
                format!(
                    "start {start} + length {len} exceeds size {} of dim {dim} in shape {}",
                    self.shape()[d],
                    fmt_shape(self.shape())
                ),
            ));
        }
        Ok(self.with_layout(self.layout.slice(d, start, start + len, 1)))
    }

    /// Python's `x[..., start:end:step]` on dimension `dim` (negative `start`/`end` count
    /// from the end and are clamped like Python's; `step` must be positive).
    pub fn try_slice(
        &self,
        dim: isize,
        start: isize,
        end: isize,
        step: usize,
    ) -> Result<Tensor<T>> {
        let d = self.try_dim("slice", dim)?;
        if step == 0 {
            return Err(TensorError::new(
                "slice",
                format!("step must be positive (shape {})", fmt_shape(self.shape())),
            ));
        }
        let len = self.shape()[d];
        let (s, e) = (clamp_slice_bound(start, len), clamp_slice_bound(end, len));
        Ok(self.with_layout(self.layout.slice(d, s, e.max(s), step)))
    }

    /// Index `index` of dimension `dim`, removing that dimension.
    pub fn try_select(&self, dim: isize, index: usize) -> Result<Tensor<T>> {
        let d = self.try_dim("select", dim)?;
        if index >= self.shape()[d] {
            return Err(TensorError::index_out_of_range(
                "select",
                format!(
                    "index {index} is out of range for dim {dim} of shape {}",
                    fmt_shape(self.shape())
                ),
            ));
        }
        Ok(self.with_layout(self.layout.select(d, index)))
    }

    /// Removes every dimension of size 1.
    pub fn squeeze(&self) -> Tensor<T> {
        let mut l = self.layout.clone();
        for d in (0..self.ndim()).rev() {
            if self.shape()[d] == 1 {
                l = l.remove_dim(d);
            }
        }
        self.with_layout(l)
    }

    /// Removes dimension `dim` if its size is 1 (else returns the tensor unchanged, as PyTorch).
    pub fn try_squeeze_dim(&self, dim: isize) -> Result<Tensor<T>> {
        let d = self.try_dim("squeeze", dim)?;
        Ok(if self.shape()[d] == 1 {
            self.with_layout(self.layout.remove_dim(d))
        } else {
            self.clone()
        })
    }

    /// Inserts a dimension of size 1 at `dim` (which may equal `ndim`; negative counts from
    /// the end of the result).
    pub fn try_unsqueeze(&self, dim: isize) -> Result<Tensor<T>> {
        let d = crate::layout::normalize_dim(dim, self.ndim() + 1).ok_or_else(|| {
            TensorError::dim_out_of_range(
                "unsqueeze",
                format!(
                    "dim {dim} is out of range for shape {}",
                    fmt_shape(self.shape())
                ),
            )
        })?;
        Ok(self.with_layout(self.layout.unsqueeze(d)))
    }

    /// A stride-0 view stretched to `shape` under NumPy broadcasting rules.
    pub fn try_broadcast_to(&self, shape: &[usize]) -> Result<Tensor<T>> {
        // A broadcast view owns no memory, but whoever copies it (`contiguous`) allocates
        // its full size: that size must be representable.
        crate::layout::checked_numel("broadcast_to", shape, std::mem::size_of::<T>())?;
        let ok = broadcast_shapes(self.shape(), shape).is_some_and(|s| s.as_slice() == shape);
        match self.layout.broadcast_to(shape) {
            Some(l) if ok => Ok(self.with_layout(l)),
            _ => Err(TensorError::shape_mismatch(
                "broadcast_to",
                format!(
                    "shape {} cannot be broadcast to {}",
                    fmt_shape(self.shape()),
                    fmt_shape(shape)
                ),
            )),
        }
    }

    /// Reverses the order of elements along `dim` (a negative-stride view).
    pub fn try_flip(&self, dim: isize) -> Result<Tensor<T>> {
        let d = self.try_dim("flip", dim)?;
        Ok(self.with_layout(self.layout.flip(d)))
    }

    plain! {
        /// The same elements as `shape`, as a view that never copies.
        fn view => try_view(shape: &[usize]) -> Tensor<T>;
        /// The same elements as `shape`, copying only if the layout forces it.
        fn reshape => try_reshape(shape: &[usize]) -> Tensor<T>;
        /// Merges dimensions `start..=end` into one.
        fn flatten => try_flatten(start: isize, end: isize) -> Tensor<T>;
        /// Reorders dimensions.
        fn permute => try_permute(dims: &[isize]) -> Tensor<T>;
        /// Swaps two dimensions.
        fn transpose => try_transpose(dim0: isize, dim1: isize) -> Tensor<T>;
        /// The matrix transpose of a 2-D tensor.
        fn t => try_t() -> Tensor<T>;
        /// Indices `start..start + len` of dimension `dim`.
        fn narrow => try_narrow(dim: isize, start: usize, len: usize) -> Tensor<T>;
        /// Python's `start:end:step` on one dimension.
        fn slice => try_slice(dim: isize, start: isize, end: isize, step: usize) -> Tensor<T>;
        /// One index of a dimension, removing the dimension.
        fn select => try_select(dim: isize, index: usize) -> Tensor<T>;
        /// Removes dimension `dim` if its size is 1.
        fn squeeze_dim => try_squeeze_dim(dim: isize) -> Tensor<T>;
        /// Inserts a size-1 dimension.
        fn unsqueeze => try_unsqueeze(dim: isize) -> Tensor<T>;
        /// A stride-0 broadcast view.
        fn broadcast_to => try_broadcast_to(shape: &[usize]) -> Tensor<T>;
        /// Reverses one dimension.
        fn flip => try_flip(dim: isize) -> Tensor<T>;
    }

    /// PyTorch's name for [`Tensor::broadcast_to`].
    #[track_caller]
    pub fn expand(&self, shape: &[usize]) -> Tensor<T> {
        self.broadcast_to(shape)
    }
}
