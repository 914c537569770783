//! The `Tensor` type: a strided view over shared storage, its constructors and accessors.

use std::sync::Arc;

use crate::element::{Element, Float};
use crate::error::{fmt_shape, or_panic, Result, TensorError};
use crate::layout::{checked_numel, Layout};
use crate::storage::{try_alloc_filled, try_alloc_uninit, Storage};

/// An N-dimensional array: shared storage plus a layout (shape, strides, offset).
///
/// Cloning a tensor or taking a view shares the storage; writing through
/// [`Tensor::data_mut`] copies first when anyone else can see the storage, so a view never
/// changes behind another owner's back.
pub struct Tensor<T: Element> {
    pub(crate) storage: Arc<Storage<T>>,
    pub(crate) layout: Layout,
}

impl<T: Element> Clone for Tensor<T> {
    fn clone(&self) -> Self {
        Tensor {
            storage: Arc::clone(&self.storage),
            layout: self.layout.clone(),
        }
    }
}

impl<T: Element> Tensor<T> {
    /// Wraps a contiguous buffer (the caller guarantees `data.len()` matches `shape`).
    ///
    /// Checked even in release builds (a few multiplications): every kernel's output passes
    /// here, and a buffer shorter than its shape would let later raw-pointer code (gemm)
    /// read past its end.
    pub(crate) fn from_buffer(data: Vec<T>, shape: &[usize]) -> Self {
        let n = if shape.contains(&0) {
            Some(0)
        } else {
            shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
        };
        assert!(
            n == Some(data.len()),
            "internal error: a buffer of {} elements cannot hold shape {}",
            data.len(),
            fmt_shape(shape)
        );
        Tensor {
            storage: Arc::new(Storage::new(data)),
            layout: Layout::contiguous(shape),
        }
    }

    /// A view sharing this tensor's storage with another layout.
    pub(crate) fn with_layout(&self, layout: Layout) -> Self {
        Tensor {
            storage: Arc::clone(&self.storage),
            layout,
        }
    }

    /// Builds a tensor from a row-major buffer; errors when its length is not the shape's size.
    pub fn try_from_vec(data: Vec<T>, shape: &[usize]) -> Result<Self> {
        let n = checked_numel("from_vec", shape, std::mem::size_of::<T>())?;
        if data.len() != n {
            return Err(TensorError::shape_mismatch(
                "from_vec",
                format!(
                    "{} elements do not fill shape {} ({n} elements)",
                    data.len(),
                    fmt_shape(shape)
                ),
            ));
        }
        Ok(Self::from_buffer(data, shape))
    }

    /// Builds a tensor from a row-major buffer; panics when its length is not the shape's size.
    #[track_caller]
    pub fn from_vec(data: Vec<T>, shape: &[usize]) -> Self {
        or_panic(Self::try_from_vec(data, shape))
    }

    /// Copies a slice into a new tensor of `shape`; errors on a size mismatch.
    pub fn try_from_slice(data: &[T], shape: &[usize]) -> Result<Self> {
        let n = checked_numel("from_slice", shape, std::mem::size_of::<T>())?;
        if data.len() != n {
            return Err(TensorError::shape_mismatch(
                "from_slice",
                format!(
                    "{} elements do not fill shape {} ({n} elements)",
                    data.len(),
                    fmt_shape(shape)
                ),
            ));
        }
        let mut buf = try_alloc_uninit("from_slice", shape)?;
        buf.copy_from_slice(data);
        Ok(Self::from_buffer(buf, shape))
    }

    /// Copies a slice into a new tensor of `shape`; panics on a size mismatch.
    #[track_caller]
    pub fn from_slice(data: &[T], shape: &[usize]) -> Self {
        or_panic(Self::try_from_slice(data, shape))
    }

    /// A 0-d tensor holding `value`.
    pub fn scalar(value: T) -> Self {
        Self::from_buffer(vec![value], &[])
    }

    /// A tensor of `shape` filled with `value`; an error naming the shape and the bytes asked
    /// when the shape is too large or the memory cannot be allocated.
    pub fn try_full(shape: &[usize], value: T) -> Result<Self> {
        Ok(Self::from_buffer(
            try_alloc_filled("full", shape, value)?,
            shape,
        ))
    }

    /// A tensor of `shape` filled with `value`; panics with [`Tensor::try_full`]'s message.
    #[track_caller]
    pub fn full(shape: &[usize], value: T) -> Self {
        or_panic(Self::try_full(shape, value))
    }

    /// A tensor of the same shape as `self` filled with `value`.
    pub fn full_like(&self, value: T) -> Self {
        Self::full(self.shape(), value)
    }

    /// Dimension sizes.
    pub fn shape(&self) -> &[usize] {
        self.layout.shape()
    }

    /// Element strides (0 on broadcast dimensions, negative on flipped ones).
    pub fn strides(&self) -> &[isize] {
        self.layout.strides()
    }

    /// The full layout (shape, strides, offset).
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.layout.ndim()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.layout.numel()
    }

    /// Size of dimension `dim` (negative counts from the end).
    pub fn try_dim_size(&self, dim: isize) -> Result<usize> {
        let d = self.try_dim("size", dim)?;
        Ok(self.shape()[d])
    }

    /// Size of dimension `dim` (negative counts from the end); panics if out of range.
    #[track_caller]
    pub fn dim_size(&self, dim: isize) -> usize {
        or_panic(self.try_dim_size(dim))
    }

    /// True when the elements are dense and row-major.
    pub fn is_contiguous(&self) -> bool {
        self.layout.is_contiguous()
    }

    /// True when both tensors view the same storage buffer.
    pub fn shares_storage(&self, other: &Tensor<T>) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }

    /// The whole underlying storage buffer (all views of it see the same one).
    pub(crate) fn storage_slice(&self) -> &[T] {
        &self.storage.data
    }

    /// The elements as one slice when the tensor is contiguous, else `None`.
    pub fn as_slice(&self) -> Option<&[T]> {
        if !self.is_contiguous() {
            return None;
        }
        if self.numel() == 0 {
            // A view of an empty tensor may start past the end of its (empty) buffer.
            return Some(&[]);
        }
        let start = self.layout.offset();
        Some(&self.storage.data[start..start + self.numel()])
    }

    /// A contiguous tensor with the same elements: `self` itself if already contiguous.
    pub fn contiguous(&self) -> Tensor<T> {
        if self.is_contiguous() {
            return self.clone();
        }
        crate::kernels::map(self, |x| x)
    }

    /// The elements in row-major order.
    pub fn to_vec(&self) -> Vec<T> {
        match self.as_slice() {
            Some(s) => s.to_vec(),
            None => self
                .contiguous()
                .as_slice()
                .map(<[T]>::to_vec)
                .unwrap_or_default(),
        }
    }

    /// The single value of a one-element tensor; errors naming the shape otherwise.
    pub fn try_item(&self) -> Result<T> {
        if self.numel() != 1 {
            return Err(TensorError::new(
                "item",
                format!(
                    "tensor of shape {} has {} elements, not 1",
                    fmt_shape(self.shape()),
                    self.numel()
                ),
            ));
        }
        Ok(self.storage.data[self.layout.offset()])
    }

    /// The single value of a one-element tensor; panics otherwise.
    #[track_caller]
    pub fn item(&self) -> T {
        or_panic(self.try_item())
    }

    /// The element at a multi-index; errors if the index has the wrong rank or is out of range.
    pub fn try_get(&self, index: &[usize]) -> Result<T> {
        if index.len() != self.ndim() || index.iter().zip(self.shape()).any(|(i, n)| i >= n) {
            return Err(TensorError::index_out_of_range(
                "get",
                format!(
                    "index {index:?} is out of bounds for shape {}",
                    fmt_shape(self.shape())
                ),
            ));
        }
        Ok(self.storage.data[self.layout.index_offset(index)])
    }

    /// The element at a multi-index; panics if out of range.
    #[track_caller]
    pub fn get(&self, index: &[usize]) -> T {
        or_panic(self.try_get(index))
    }

    /// Mutable access to the elements in row-major order, copying first if the storage is
    /// shared with another tensor or the layout is not dense (copy-on-write).
    pub fn data_mut(&mut self) -> &mut [T] {
        let dense_whole = self.is_contiguous()
            && self.layout.offset() == 0
            && self.storage.data.len() == self.numel();
        if !dense_whole || Arc::get_mut(&mut self.storage).is_none() {
            let fresh = crate::kernels::map(self, |x| x);
            *self = fresh;
        }
        let storage = Arc::get_mut(&mut self.storage).expect("storage was just made unique");
        &mut storage.data
    }

    /// Converts every element to another element type (`as` semantics via f64).
    pub fn cast<U: Element>(&self) -> Tensor<U> {
        crate::kernels::map(self, |x| U::from_f64(x.to_f64()))
    }

    /// The dtype name (`"float32"`, `"int64"`, ...).
    pub fn dtype(&self) -> &'static str {
        T::DTYPE
    }

    /// Resolves a possibly negative dim for `op`, with an error naming the shape.
    pub(crate) fn try_dim(&self, op: &str, dim: isize) -> Result<usize> {
        crate::layout::normalize_dim(dim, self.ndim()).ok_or_else(|| {
            TensorError::dim_out_of_range(
                op,
                format!(
                    "dim {dim} is out of range for shape {} ({} dims)",
                    fmt_shape(self.shape()),
                    self.ndim()
                ),
            )
        })
    }
}

impl<T: Element> Tensor<T> {
    /// A tensor of zeros (`false` for bool); an error naming the shape and the bytes asked
    /// when the shape is too large or the memory cannot be allocated.
    pub fn try_zeros(shape: &[usize]) -> Result<Self> {
        Self::try_full(shape, T::from_f64(0.0)).map_err(|e| rename(e, "zeros"))
    }

    /// A tensor of ones (`true` for bool); errors like [`Tensor::try_zeros`].
    pub fn try_ones(shape: &[usize]) -> Result<Self> {
        Self::try_full(shape, T::from_f64(1.0)).map_err(|e| rename(e, "ones"))
    }

    /// A tensor of zeros (`false` for bool); panics with [`Tensor::try_zeros`]'s message.
    #[track_caller]
    pub fn zeros(shape: &[usize]) -> Self {
        or_panic(Self::try_zeros(shape))
    }

    /// A tensor of ones (`true` for bool); panics with [`Tensor::try_ones`]'s message.
    #[track_caller]
    pub fn ones(shape: &[usize]) -> Self {
        or_panic(Self::try_ones(shape))
    }

    /// Zeros with the shape of `self`.
    pub fn zeros_like(&self) -> Self {
        Self::zeros(self.shape())
    }

    /// Ones with the shape of `self`.
    pub fn ones_like(&self) -> Self {
        Self::ones(self.shape())
    }
}

/// `e` reported under the name the user called (`zeros` rather than `full`).
fn rename(mut e: TensorError, op: &str) -> TensorError {
    e.op = op.to_string();
    e
}

impl<T: Float> Tensor<T> {
    /// `[start, start + step, ...)` up to but excluding `end`.
    pub fn try_arange(start: T, end: T, step: T) -> Result<Self> {
        if step == T::ZERO || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(TensorError::new(
                "arange",
                format!("invalid range {start}..{end} step {step}"),
            ));
        }
        // `as` saturates, so an overflowing count becomes usize::MAX and fails the size check.
        let n = ((end - start) / step).to_f64().ceil().max(0.0) as usize;
        let mut data = try_alloc_uninit::<T>("arange", &[n])?;
        for (i, v) in data.iter_mut().enumerate() {
            *v = start + step * T::from_f64(i as f64);
        }
        Ok(Self::from_buffer(data, &[n]))
    }

    /// `[start, start + step, ...)` up to but excluding `end`; panics on a zero step.
    #[track_caller]
    pub fn arange(start: T, end: T, step: T) -> Self {
        or_panic(Self::try_arange(start, end, step))
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive; an error when `steps`
    /// elements cannot be allocated.
    pub fn try_linspace(start: T, end: T, steps: usize) -> Result<Self> {
        let mut data = try_alloc_uninit::<T>("linspace", &[steps])?;
        for (i, v) in data.iter_mut().enumerate() {
            *v = if steps == 1 {
                start
            } else {
                start + (end - start) * T::from_f64(i as f64 / (steps - 1) as f64)
            };
        }
        Ok(Self::from_buffer(data, &[steps]))
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive; panics with
    /// [`Tensor::try_linspace`]'s message.
    #[track_caller]
    pub fn linspace(start: T, end: T, steps: usize) -> Self {
        or_panic(Self::try_linspace(start, end, steps))
    }

    /// The `n x n` identity matrix; an error when `n * n` elements cannot be allocated.
    pub fn try_eye(n: usize) -> Result<Self> {
        let mut data = try_alloc_filled("eye", &[n, n], T::ZERO)?;
        for i in 0..n {
            data[i * n + i] = T::ONE;
        }
        Ok(Self::from_buffer(data, &[n, n]))
    }

    /// The `n x n` identity matrix; panics with [`Tensor::try_eye`]'s message.
    #[track_caller]
    pub fn eye(n: usize) -> Self {
        or_panic(Self::try_eye(n))
    }

    /// True when every pair of elements satisfies `|a - b| <= atol + rtol * |b|` (same shape;
    /// NaNs never match).
    pub fn allclose(&self, other: &Tensor<T>, rtol: f64, atol: f64) -> bool {
        self.shape() == other.shape()
            && self.to_vec().iter().zip(other.to_vec()).all(|(a, b)| {
                let (a, b) = (a.to_f64(), b.to_f64());
                // Infinities must match exactly (else inf vs -inf, or 1 vs inf, would pass
                // through `inf <= rtol * inf`).
                a == b || (a.is_finite() && b.is_finite() && (a - b).abs() <= atol + rtol * b.abs())
            })
    }
}
