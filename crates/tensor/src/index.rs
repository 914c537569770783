//! Indexing and assembly: index_select, gather and their scatter adjoints, concat, stack, pad.

use crate::element::{Element, Float};
use crate::error::{fmt_shape, plain, Result, TensorError};
use crate::layout::{coalesce, for_each_run, Layout};
use crate::storage::{alloc_uninit, try_alloc_uninit};
use crate::tensor::Tensor;

/// Copies `src` (any layout) into `dst` at the positions that `dst_layout` describes.
pub(crate) fn copy_into<T: Element>(dst: &mut [T], dst_layout: &Layout, src: &Tensor<T>) {
    let (shape, strides) = coalesce(src.shape(), [dst_layout.strides(), src.strides()]);
    let s = src.storage_slice();
    let base = [dst_layout.offset() as isize, src.layout().offset() as isize];
    for_each_run(
        &shape,
        &strides,
        base,
        0..src.numel(),
        |_, offs, len, st| {
            for i in 0..len as isize {
                dst[(offs[0] + i * st[0]) as usize] = s[(offs[1] + i * st[1]) as usize];
            }
        },
    );
}

/// A contiguous copy of `t`'s elements in a pooled buffer (a plain `to_vec` would take
/// fresh pages from the OS on every call for large tensors).
fn pooled_copy<T: Element>(t: &Tensor<T>) -> Vec<T> {
    let c = t.contiguous();
    let src = c.as_slice().expect("contiguous");
    let mut out = alloc_uninit::<T>(src.len());
    out.copy_from_slice(src);
    out
}

/// Checks that every index is in `0..size`, naming the op, the bad index and the shape.
fn check_indices(op: &str, index: &[i64], size: usize, dim: isize, shape: &[usize]) -> Result<()> {
    match index.iter().find(|&&i| i < 0 || i as usize >= size) {
        Some(bad) => Err(TensorError::index_out_of_range(
            op,
            format!(
                "index {bad} is out of range for dim {dim} (size {size}) of shape {}",
                fmt_shape(shape)
            ),
        )),
        None => Ok(()),
    }
}

/// How many rows ahead `index_select` requests the rows it gathers (see there).
const ROWS_AHEAD: usize = 2;
/// Rows shorter than this are gathered without prefetching: measured on rows of 3,136 bytes
/// (MNIST's), kept off where a row is a few cache lines and its own miss is most of its copy.
const PREFETCH_MIN_ROW_BYTES: usize = 512;

impl<T: Element> Tensor<T> {
    /// The entries at positions `index` (1-D, repeats allowed) along `dim`.
    pub fn try_index_select(&self, dim: isize, index: &Tensor<i64>) -> Result<Tensor<T>> {
        let d = self.try_dim("index_select", dim)?;
        if index.ndim() != 1 {
            return Err(TensorError::new(
                "index_select",
                format!(
                    "index must be 1-D, got shape {} (input shape {})",
                    fmt_shape(index.shape()),
                    fmt_shape(self.shape())
                ),
            ));
        }
        let idx = index.to_vec();
        check_indices("index_select", &idx, self.shape()[d], dim, self.shape())?;
        let mut out_shape = self.shape().to_vec();
        out_shape[d] = idx.len();
        let mut out = try_alloc_uninit::<T>("index_select", &out_shape)?;
        if out.is_empty() {
            // Without elements the partial products below need not fit a usize.
            return Ok(Tensor::from_buffer(out, &out_shape));
        }
        let x = self.contiguous();
        let src = x.as_slice().expect("contiguous");
        let inner = crate::layout::numel(&self.shape()[d + 1..]);
        let n = self.shape()[d];
        // Output rows in blocks of about one parallel chunk, copied on the pool when the
        // whole copy is large (a training batch gathered from its data set: 800 KB a step
        // for the seed's MLP at batch 256). Pure copies: the result never depends on it.
        let per_block = (crate::kernels::PAR_CHUNK / inner).max(1);
        let source_start = |r: usize| (r / idx.len() * n + idx[r % idx.len()] as usize) * inner;
        // Rows picked at random from a data set larger than the caches start with a miss each;
        // long ones are requested `ROWS_AHEAD` rows early, so each copy finds its row arriving.
        let prefetch = inner * std::mem::size_of::<T>() >= PREFETCH_MIN_ROW_BYTES;
        let copy_rows = |b: usize, dst: &mut [T]| {
            let rows = dst.len() / inner;
            for (k, row) in dst.chunks_mut(inner).enumerate() {
                let r = b * per_block + k;
                if prefetch && k + ROWS_AHEAD < rows {
                    let ahead = source_start(r + ROWS_AHEAD);
                    crate::kernels::prefetch_read(&src[ahead..ahead + inner]);
                }
                let start = source_start(r);
                row.copy_from_slice(&src[start..start + inner]);
            }
        };
        let work = out.len();
        crate::kernels::fill_blocks(&mut out, per_block * inner, work, copy_rows);
        let mut shape = self.shape().to_vec();
        shape[d] = idx.len();
        Ok(Tensor::from_buffer(out, &shape))
    }

    /// `out[i][j][k] = self[index[i][j][k]][j][k]` for `dim = 0`, and likewise for other dims.
    /// `index` has as many dims as `self`, and no dim other than `dim` larger than self's.
    pub fn try_gather(&self, dim: isize, index: &Tensor<i64>) -> Result<Tensor<T>> {
        let d = self.try_dim("gather", dim)?;
        check_scatter_shapes("gather", self.shape(), d, index.shape(), None)?;
        let idx = index.contiguous();
        let idx_s = idx.as_slice().expect("contiguous");
        check_indices("gather", idx_s, self.shape()[d], dim, self.shape())?;
        let mut out = alloc_uninit::<T>(idx.numel());
        let mut xl = self.layout().strides().to_vec();
        let dim_stride = xl[d];
        xl[d] = 0;
        let (shape, strides) = coalesce(
            idx.shape(),
            [&crate::layout::contiguous_strides(idx.shape()), &xl[..]],
        );
        let src = self.storage_slice();
        let base = [0, self.layout().offset() as isize];
        for_each_run(
            &shape,
            &strides,
            base,
            0..idx.numel(),
            |_, offs, len, st| {
                for i in 0..len as isize {
                    let o = (offs[0] + i * st[0]) as usize;
                    out[o] = src[(offs[1] + i * st[1] + idx_s[o] as isize * dim_stride) as usize];
                }
            },
        );
        Ok(Tensor::from_buffer(out, index.shape()))
    }

    /// Joins tensors along an existing dimension; all other dims must match.
    pub fn try_concat(tensors: &[&Tensor<T>], dim: isize) -> Result<Tensor<T>> {
        let first = tensors
            .first()
            .ok_or_else(|| TensorError::new("concat", "needs at least one tensor"))?;
        let d = first.try_dim("concat", dim)?;
        let all_shapes = || {
            tensors
                .iter()
                .map(|t| fmt_shape(t.shape()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for t in tensors {
            let same = t.ndim() == first.ndim()
                && (0..t.ndim()).all(|i| i == d || t.shape()[i] == first.shape()[i]);
            if !same {
                return Err(TensorError::shape_mismatch(
                    "concat",
                    format!("shapes {} differ outside dim {dim}", all_shapes()),
                ));
            }
        }
        let mut shape = first.shape().to_vec();
        let too_long = || {
            TensorError::new(
                "concat",
                format!(
                    "shapes {} are too long together along dim {dim}",
                    all_shapes()
                ),
            )
        };
        shape[d] = tensors
            .iter()
            .try_fold(0usize, |acc, t| acc.checked_add(t.shape()[d]))
            .ok_or_else(too_long)?;
        let mut out = try_alloc_uninit::<T>("concat", &shape)?;
        let whole = Layout::contiguous(&shape);
        let mut start = 0;
        for t in tensors {
            let part = whole.slice(d, start, start + t.shape()[d], 1);
            copy_into(&mut out, &part, t);
            start += t.shape()[d];
        }
        Ok(Tensor::from_buffer(out, &shape))
    }

    /// Joins same-shaped tensors along a new dimension `dim`.
    pub fn try_stack(tensors: &[&Tensor<T>], dim: isize) -> Result<Tensor<T>> {
        let first = tensors
            .first()
            .ok_or_else(|| TensorError::new("stack", "needs at least one tensor"))?;
        if let Some(bad) = tensors.iter().find(|t| t.shape() != first.shape()) {
            return Err(TensorError::shape_mismatch(
                "stack",
                format!(
                    "all tensors need the same shape, got {} and {}",
                    fmt_shape(first.shape()),
                    fmt_shape(bad.shape())
                ),
            ));
        }
        let parts = tensors
            .iter()
            .map(|t| {
                t.try_unsqueeze(dim)
                    .map_err(|e| TensorError::new("stack", e.message))
            })
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Tensor<T>> = parts.iter().collect();
        Self::try_concat(&refs, dim)
    }

    /// Pads with `value`: `pads[i] = (before, after)` applies to dim `ndim - pads.len() + i`,
    /// so `&[(1, 1), (2, 2)]` pads the last two dims.
    pub fn try_pad(&self, pads: &[(usize, usize)], value: T) -> Result<Tensor<T>> {
        if pads.len() > self.ndim() {
            return Err(TensorError::new(
                "pad",
                format!(
                    "{} padded dims given for shape {}",
                    pads.len(),
                    fmt_shape(self.shape())
                ),
            ));
        }
        let lead = self.ndim() - pads.len();
        let mut shape = self.shape().to_vec();
        for (i, &(b, a)) in pads.iter().enumerate() {
            shape[lead + i] = b
                .checked_add(a)
                .and_then(|p| p.checked_add(shape[lead + i]))
                .ok_or_else(|| {
                    TensorError::new(
                        "pad",
                        format!(
                            "padding {pads:?} overflows shape {}",
                            fmt_shape(self.shape())
                        ),
                    )
                })?;
        }
        let mut out = crate::storage::try_alloc_filled("pad", &shape, value)?;
        let mut interior = Layout::contiguous(&shape);
        for (i, &(b, _)) in pads.iter().enumerate() {
            interior = interior.slice(lead + i, b, b + self.shape()[lead + i], 1);
        }
        if self.numel() > 0 {
            copy_into(&mut out, &interior, self);
        }
        Ok(Tensor::from_buffer(out, &shape))
    }

    plain! {
        /// Entries at `index` along `dim`.
        fn index_select => try_index_select(dim: isize, index: &Tensor<i64>) -> Tensor<T>;
        /// Entries picked by an index tensor along `dim`.
        fn gather => try_gather(dim: isize, index: &Tensor<i64>) -> Tensor<T>;
        /// Constant padding.
        fn pad => try_pad(pads: &[(usize, usize)], value: T) -> Tensor<T>;
    }

    /// Joins tensors along `dim`; panics on mismatched shapes.
    #[track_caller]
    pub fn concat(tensors: &[&Tensor<T>], dim: isize) -> Tensor<T> {
        crate::error::or_panic(Self::try_concat(tensors, dim))
    }

    /// Stacks tensors along a new `dim`; panics on mismatched shapes.
    #[track_caller]
    pub fn stack(tensors: &[&Tensor<T>], dim: isize) -> Tensor<T> {
        crate::error::or_panic(Self::try_stack(tensors, dim))
    }
}

/// gather/scatter shape rule: same rank, and index (and src) no larger than self outside `dim`.
fn check_scatter_shapes(
    op: &str,
    shape: &[usize],
    d: usize,
    index: &[usize],
    src: Option<&[usize]>,
) -> Result<()> {
    let fits = index.len() == shape.len()
        && (0..shape.len()).all(|i| i == d || index[i] <= shape[i])
        && src.is_none_or(|s| s.len() == index.len() && index.iter().zip(s).all(|(a, b)| a <= b));
    if fits {
        return Ok(());
    }
    let src_part = src
        .map(|s| format!(", src {}", fmt_shape(s)))
        .unwrap_or_default();
    Err(TensorError::shape_mismatch(
        op,
        format!(
            "index {} does not fit input {}{src_part} outside dim {d}",
            fmt_shape(index),
            fmt_shape(shape)
        ),
    ))
}

impl<T: Float> Tensor<T> {
    /// The adjoint of `gather`: a copy of `self` with `src[i][j][k]` added at
    /// `[index[i][j][k]][j][k]` (for `dim = 0`); repeated indices accumulate.
    pub fn try_scatter_add(
        &self,
        dim: isize,
        index: &Tensor<i64>,
        src: &Tensor<T>,
    ) -> Result<Tensor<T>> {
        let d = self.try_dim("scatter_add", dim)?;
        check_scatter_shapes(
            "scatter_add",
            self.shape(),
            d,
            index.shape(),
            Some(src.shape()),
        )?;
        let idx = index.contiguous();
        let idx_s = idx.as_slice().expect("contiguous");
        check_indices("scatter_add", idx_s, self.shape()[d], dim, self.shape())?;
        let mut out = pooled_copy(self);
        scatter_add_into(&mut out, self.shape(), d, idx_s, idx.shape(), src);
        Ok(Tensor::from_buffer(out, self.shape()))
    }

    /// `zeros(shape).scatter_add(dim, index, src)` without materializing and copying the
    /// zeros first: the adjoint of `gather`, as its gradient needs it.
    pub fn try_scatter_add_zeros(
        shape: &[usize],
        dim: isize,
        index: &Tensor<i64>,
        src: &Tensor<T>,
    ) -> Result<Tensor<T>> {
        let d = crate::layout::normalize_dim(dim, shape.len()).ok_or_else(|| {
            TensorError::dim_out_of_range(
                "scatter_add",
                format!("dim {dim} is out of range for shape {}", fmt_shape(shape)),
            )
        })?;
        check_scatter_shapes("scatter_add", shape, d, index.shape(), Some(src.shape()))?;
        let idx = index.contiguous();
        let idx_s = idx.as_slice().expect("contiguous");
        if let Some(out) = scatter_rows_into_zeros(shape, (d, dim), idx_s, idx.shape(), src)? {
            return Ok(Tensor::from_buffer(out, shape));
        }
        check_indices("scatter_add", idx_s, shape[d], dim, shape)?;
        let mut out = crate::storage::try_alloc_filled("scatter_add", shape, T::ZERO)?;
        scatter_add_into(&mut out, shape, d, idx_s, idx.shape(), src);
        Ok(Tensor::from_buffer(out, shape))
    }

    /// The adjoint of `index_select`: a copy of `self` with row `j` of `src` along `dim`
    /// added at position `index[j]`; repeated indices accumulate.
    pub fn try_index_add(
        &self,
        dim: isize,
        index: &Tensor<i64>,
        src: &Tensor<T>,
    ) -> Result<Tensor<T>> {
        let d = self.try_dim("index_add", dim)?;
        let idx = index.to_vec();
        let mut expected = self.shape().to_vec();
        expected[d] = idx.len();
        if index.ndim() != 1 || src.shape() != expected.as_slice() {
            return Err(TensorError::shape_mismatch(
                "index_add",
                format!(
                    "src {} and index {} do not match input {} along dim {dim}",
                    fmt_shape(src.shape()),
                    fmt_shape(index.shape()),
                    fmt_shape(self.shape())
                ),
            ));
        }
        check_indices("index_add", &idx, self.shape()[d], dim, self.shape())?;
        let mut out = pooled_copy(self);
        if out.is_empty() {
            // Without elements the partial products below need not fit a usize.
            return Ok(Tensor::from_buffer(out, self.shape()));
        }
        let s = src.contiguous();
        let sv = s.as_slice().expect("contiguous");
        let outer = crate::layout::numel(&self.shape()[..d]);
        let inner = crate::layout::numel(&self.shape()[d + 1..]);
        let n = self.shape()[d];
        for o in 0..outer {
            for (j, &i) in idx.iter().enumerate() {
                let dst = (o * n + i as usize) * inner;
                let from = (o * idx.len() + j) * inner;
                for (a, &b) in out[dst..dst + inner]
                    .iter_mut()
                    .zip(&sv[from..from + inner])
                {
                    *a += b;
                }
            }
        }
        Ok(Tensor::from_buffer(out, self.shape()))
    }

    plain! {
        /// Scatter-add along `dim` (the adjoint of gather).
        fn scatter_add => try_scatter_add(dim: isize, index: &Tensor<i64>, src: &Tensor<T>) -> Tensor<T>;
        /// Index-add along `dim` (the adjoint of index_select).
        fn index_add => try_index_add(dim: isize, index: &Tensor<i64>, src: &Tensor<T>) -> Tensor<T>;
    }
}

/// `zeros(shape)` with each row of the contiguous `src` scattered (added) along the last dim
/// at `idx`, when the index runs along the last dim and covers every row of `shape`
/// (max pooling's backward: one row per image plane). Rows are disjoint in the output, so
/// they fill in parallel, each zeroed just before its scatter: one pass over the output
/// instead of a zero fill, then an index check, then the scatter. `None` when the layout
/// is another one (the general path handles it); an out-of-range index is the same error
/// as there.
fn scatter_rows_into_zeros<T: Float>(
    shape: &[usize],
    (d, dim): (usize, isize),
    idx_s: &[i64],
    index_shape: &[usize],
    src: &Tensor<T>,
) -> Result<Option<Vec<T>>> {
    let last = shape.len().wrapping_sub(1);
    let (Some(vals), true) = (src.as_slice(), d == last) else {
        return Ok(None);
    };
    if src.shape() != index_shape || index_shape[..last] != shape[..last] {
        return Ok(None);
    }
    let (row, irow) = (shape[last], index_shape[last]);
    if row == 0 || irow == 0 {
        return Ok(None);
    }
    let mut out = try_alloc_uninit::<T>("scatter_add", shape)?;
    let bad = std::sync::atomic::AtomicBool::new(false);
    let fill = |r: usize, dst: &mut [T]| {
        dst.fill(T::ZERO);
        let (ix, sv) = (
            &idx_s[r * irow..(r + 1) * irow],
            &vals[r * irow..(r + 1) * irow],
        );
        for (&i, &v) in ix.iter().zip(sv) {
            match dst.get_mut(i as usize) {
                // (A negative index wraps to a huge usize: out of range too.)
                Some(slot) => *slot += v,
                None => bad.store(true, std::sync::atomic::Ordering::Relaxed),
            }
        }
    };
    let work = out.len() + idx_s.len();
    crate::kernels::fill_blocks(&mut out, row, work, fill);
    if bad.into_inner() {
        check_indices("scatter_add", idx_s, row, dim, shape)?;
    }
    Ok(Some(out))
}

/// Adds `src` into the contiguous buffer `out` (of `out_shape`) at the positions `idx`
/// names along dim `d` (gather's adjoint; repeated indices accumulate).
fn scatter_add_into<T: Float>(
    out: &mut [T],
    out_shape: &[usize],
    d: usize,
    idx_s: &[i64],
    index_shape: &[usize],
    src: &Tensor<T>,
) {
    let out_strides = crate::layout::contiguous_strides(out_shape);
    let mut ol = out_strides.to_vec();
    let dim_stride = ol[d];
    ol[d] = 0;
    let src_vals = src.storage_slice();
    let src_strides = src.strides();
    let ishape = index_shape;
    let (shape, strides) = coalesce(
        ishape,
        [
            &crate::layout::contiguous_strides(ishape),
            &ol[..],
            src_strides,
        ],
    );
    let base = [0, 0, src.layout().offset() as isize];
    for_each_run(
        &shape,
        &strides,
        base,
        0..idx_s.len(),
        |_, offs, len, st| {
            for i in 0..len as isize {
                let o = (offs[0] + i * st[0]) as usize;
                let dst = (offs[1] + i * st[1] + idx_s[o] as isize * dim_stride) as usize;
                out[dst] += src_vals[(offs[2] + i * st[2]) as usize];
            }
        },
    );
}
