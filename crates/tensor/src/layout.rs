//! Shape, strides and offset: how a tensor's logical elements map onto its storage.
//!
//! Every view op is a pure function from one `Layout` to another, which is why views never
//! copy. Strides are in elements and signed: 0 for a broadcast dimension, negative for a
//! flipped one.

use smallvec::{smallvec, SmallVec};

use crate::error::{fmt_shape, Result, TensorError};

/// Dims a [`Shape`] or [`Strides`] holds without a heap allocation.
pub const INLINE_DIMS: usize = 6;

/// Dimension sizes; up to 6-D without allocating.
pub type Shape = SmallVec<[usize; INLINE_DIMS]>;
/// Element strides, one per dimension.
pub type Strides = SmallVec<[isize; INLINE_DIMS]>;

/// A strided view: logical index `i` lives at `offset + sum(i[d] * strides[d])`.
#[derive(Debug, PartialEq, Eq)]
pub struct Layout {
    shape: Shape,
    strides: Strides,
    offset: usize,
}

/// The number of elements of `shape`, or an error naming `op` and the shape when that
/// count, or its size in bytes at `elem_bytes` bytes an element, exceeds `isize::MAX` (the
/// most one allocation can hold). Every shape a tensor is built with passes through here, so
/// no element count, stride or offset computed from a tensor's shape can overflow.
pub fn checked_numel(op: &str, shape: &[usize], elem_bytes: usize) -> Result<usize> {
    let too_big = |what: &str| {
        TensorError::new(
            op,
            format!(
                "shape {} is too large: its {what} exceeds isize::MAX",
                fmt_shape(shape)
            ),
        )
    };
    // A zero anywhere makes the product 0 however large the other sizes are.
    if shape.contains(&0) {
        return Ok(0);
    }
    let n = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| too_big("element count"))?;
    match n.checked_mul(elem_bytes.max(1)) {
        Some(bytes) if bytes <= isize::MAX as usize => Ok(n),
        _ => Err(too_big(&format!(
            "size in bytes ({n} elements of {elem_bytes} bytes)"
        ))),
    }
}

/// The element count of `shape`: exact for every shape a tensor can have (see
/// [`checked_numel`]), 0 whenever a dim is 0 however large the others are, and saturating
/// rather than overflowing for a part of such an empty shape.
pub(crate) fn numel(shape: &[usize]) -> usize {
    numel_of(shape.iter().copied())
}

/// [`numel`] of dims given one by one (a subset of a shape's dims).
pub(crate) fn numel_of(dims: impl IntoIterator<Item = usize>) -> usize {
    let (mut acc, mut empty) = (1usize, false);
    for d in dims {
        empty |= d == 0;
        acc = acc.saturating_mul(d);
    }
    if empty {
        0
    } else {
        acc
    }
}

/// Row-major strides for `shape`.
///
/// For a shape with elements the running product never exceeds the element count, which
/// [`checked_numel`] bounds; an empty shape's strides are never used to address anything, so
/// there they saturate instead of overflowing.
pub fn contiguous_strides(shape: &[usize]) -> Strides {
    // Every new tensor computes these: up to the inline capacity, fill a plain array and
    // wrap it (no SmallVec bookkeeping per element).
    if shape.len() <= INLINE_DIMS {
        let mut buf = [0isize; INLINE_DIMS];
        fill_contiguous_strides(shape, &mut buf[..shape.len()]);
        return Strides::from_buf_and_len(buf, shape.len());
    }
    let mut strides: Strides = smallvec![0; shape.len()];
    fill_contiguous_strides(shape, &mut strides);
    strides
}

/// Writes `shape`'s row-major strides into `out` (as long as `shape`).
fn fill_contiguous_strides(shape: &[usize], out: &mut [isize]) {
    let mut acc = 1isize;
    for (stride, &size) in out.iter_mut().zip(shape).rev() {
        *stride = acc;
        acc = acc.saturating_mul(isize::try_from(size.max(1)).unwrap_or(isize::MAX));
    }
}

/// `offset + index * stride` as a storage index, or `None` on overflow (only possible for a
/// view without elements, whose offset is never used).
fn shifted(offset: usize, index: usize, stride: isize) -> Option<usize> {
    let step = isize::try_from(index).ok()?.checked_mul(stride)?;
    let off = isize::try_from(offset).ok()?.checked_add(step)?;
    usize::try_from(off).ok()
}

/// Resolves a possibly negative dimension index against `ndim` dimensions (`-1` is the
/// last), or `None` when it is out of range. The one place every crate resolves a `dim`.
pub fn normalize_dim(dim: isize, ndim: usize) -> Option<usize> {
    let d = if dim < 0 { dim + ndim as isize } else { dim };
    (d >= 0 && (d as usize) < ndim).then_some(d as usize)
}

/// [`normalize_dim`] against `shape`, as an error naming `op`, the dim and the shape.
pub fn try_normalize_dim(op: &str, dim: isize, shape: &[usize]) -> crate::Result<usize> {
    normalize_dim(dim, shape.len()).ok_or_else(|| {
        crate::TensorError::dim_out_of_range(
            op,
            format!("dim {dim} is out of range for shape {shape:?}"),
        )
    })
}

/// The in-range entries of `axes` resolved against `ndim` dimensions; out-of-range ones
/// are dropped (callers that must reject them validate first, as the reductions do).
pub fn normalize_axes(axes: &[isize], ndim: usize) -> impl Iterator<Item = usize> + '_ {
    axes.iter().filter_map(move |&a| normalize_dim(a, ndim))
}

/// Where Python's slice bound `index` lands in a dimension of length `len`: negative
/// bounds count from the end, and the result is clamped to `0..=len`.
pub fn clamp_slice_bound(index: isize, len: usize) -> usize {
    // In i128: an empty tensor's dim may exceed isize::MAX.
    let (i, n) = (index as i128, len as i128);
    (if i < 0 { i + n } else { i }).clamp(0, n) as usize
}

/// The NumPy broadcast of two shapes, or `None` when a pair of dimensions clashes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Shape> {
    let n = a.len().max(b.len());
    let mut out: Shape = smallvec![0; n];
    for i in 0..n {
        let da = if i < n - a.len() {
            1
        } else {
            a[i - (n - a.len())]
        };
        let db = if i < n - b.len() {
            1
        } else {
            b[i - (n - b.len())]
        };
        out[i] = match (da, db) {
            _ if da == db => da,
            (1, _) => db,
            (_, 1) => da,
            _ => return None,
        };
    }
    Some(out)
}

impl Clone for Layout {
    /// Copies the dims with `from_slice` (a memcpy): the derived clone goes through
    /// SmallVec's element-by-element `collect`, and every tensor clone pays for it.
    #[inline]
    fn clone(&self) -> Self {
        Layout {
            shape: Shape::from_slice(&self.shape),
            strides: Strides::from_slice(&self.strides),
            offset: self.offset,
        }
    }
}

impl Layout {
    /// A dense row-major layout starting at offset 0.
    pub fn contiguous(shape: &[usize]) -> Self {
        Layout {
            shape: Shape::from_slice(shape),
            strides: contiguous_strides(shape),
            offset: 0,
        }
    }

    /// Dimension sizes.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Strides in elements.
    pub fn strides(&self) -> &[isize] {
        &self.strides
    }

    /// Storage index of the first logical element.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of logical elements.
    pub fn numel(&self) -> usize {
        numel(&self.shape)
    }

    /// True when the elements are dense and row-major (sizes-1 dimensions may have any stride;
    /// a tensor without elements is contiguous, as in PyTorch).
    pub fn is_contiguous(&self) -> bool {
        if self.shape.contains(&0) {
            return true;
        }
        let mut expected = 1isize;
        for d in (0..self.shape.len()).rev() {
            if self.shape[d] == 1 {
                continue;
            }
            if self.strides[d] != expected {
                return false;
            }
            expected *= self.shape[d] as isize;
        }
        true
    }

    /// Storage index of a logical multi-index (unchecked: the index must be in bounds).
    pub(crate) fn index_offset(&self, index: &[usize]) -> usize {
        let mut off = self.offset as isize;
        for (i, s) in index.iter().zip(&self.strides) {
            off += *i as isize * s;
        }
        off as usize
    }

    pub(crate) fn permute(&self, dims: &[usize]) -> Layout {
        Layout {
            shape: dims.iter().map(|&d| self.shape[d]).collect(),
            strides: dims.iter().map(|&d| self.strides[d]).collect(),
            offset: self.offset,
        }
    }

    /// Keeps every `step`-th index in `start..end` of dimension `dim` (bounds pre-checked).
    pub(crate) fn slice(&self, dim: usize, start: usize, end: usize, step: usize) -> Layout {
        let mut out = self.clone();
        let len = if end > start {
            (end - start).div_ceil(step)
        } else {
            0
        };
        if len > 0 {
            out.offset = shifted(self.offset, start, self.strides[dim]).unwrap_or(self.offset);
        }
        out.shape[dim] = len;
        // With two or more elements `step` is below the dimension's size, so the product
        // stays inside the storage; with fewer the stride is never used.
        let step = isize::try_from(step).unwrap_or(isize::MAX);
        out.strides[dim] = self.strides[dim].saturating_mul(step);
        out
    }

    pub(crate) fn select(&self, dim: usize, index: usize) -> Layout {
        let mut out = self.clone();
        out.offset = shifted(self.offset, index, self.strides[dim]).unwrap_or(self.offset);
        out.shape.remove(dim);
        out.strides.remove(dim);
        out
    }

    pub(crate) fn flip(&self, dim: usize) -> Layout {
        let mut out = self.clone();
        let n = self.shape[dim];
        if n > 0 {
            out.offset = shifted(self.offset, n - 1, self.strides[dim]).unwrap_or(self.offset);
        }
        out.strides[dim] = -self.strides[dim];
        out
    }

    pub(crate) fn unsqueeze(&self, dim: usize) -> Layout {
        let mut out = self.clone();
        let stride = if dim < self.ndim() {
            let size = isize::try_from(self.shape[dim]).unwrap_or(isize::MAX);
            self.strides[dim].saturating_mul(size)
        } else {
            1
        };
        out.shape.insert(dim, 1);
        out.strides.insert(dim, stride);
        out
    }

    pub(crate) fn remove_dim(&self, dim: usize) -> Layout {
        let mut out = self.clone();
        out.shape.remove(dim);
        out.strides.remove(dim);
        out
    }

    /// This layout stretched to `shape` (stride 0 on broadcast dims), if the shapes allow it.
    pub(crate) fn broadcast_to(&self, shape: &[usize]) -> Option<Layout> {
        if shape.len() < self.ndim() {
            return None;
        }
        let lead = shape.len() - self.ndim();
        let mut strides: Strides = smallvec![0; shape.len()];
        for (i, &target) in shape.iter().enumerate().skip(lead) {
            let (size, stride) = (self.shape[i - lead], self.strides[i - lead]);
            strides[i] = if size == target {
                stride
            } else if size == 1 {
                0
            } else {
                return None;
            };
        }
        Some(Layout {
            shape: Shape::from_slice(shape),
            strides,
            offset: self.offset,
        })
    }

    /// The layout of `new_shape` over the same storage without copying, if one exists.
    ///
    /// Groups the old dimensions into runs that are contiguous with each other; each run
    /// can be re-split freely, but no new dimension may straddle two runs.
    pub(crate) fn view(&self, new_shape: &[usize]) -> Option<Layout> {
        let numel = self.numel();
        if numel == 0 || self.ndim() == 0 || numel == 1 {
            let mut l = Layout::contiguous(new_shape);
            l.offset = self.offset;
            return Some(l);
        }
        let old = &self.shape;
        let old_st = &self.strides;
        let mut new_st: Strides = smallvec![0; new_shape.len()];
        let mut view_d = new_shape.len() as isize - 1;
        let mut chunk_base = *old_st.last().unwrap_or(&1);
        let mut tensor_numel = 1usize;
        let mut view_numel = 1usize;
        for tensor_d in (0..old.len()).rev() {
            tensor_numel *= old[tensor_d];
            let run_ends = tensor_d == 0
                || (old[tensor_d - 1] != 1
                    && old_st[tensor_d - 1] != tensor_numel as isize * chunk_base);
            if run_ends {
                while view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d as usize] == 1)
                {
                    new_st[view_d as usize] = view_numel as isize * chunk_base;
                    view_numel *= new_shape[view_d as usize];
                    view_d -= 1;
                }
                if view_numel != tensor_numel {
                    return None;
                }
                if tensor_d > 0 {
                    chunk_base = old_st[tensor_d - 1];
                    tensor_numel = 1;
                    view_numel = 1;
                }
            }
        }
        if view_d != -1 {
            return None;
        }
        Some(Layout {
            shape: Shape::from_slice(new_shape),
            strides: new_st,
            offset: self.offset,
        })
    }
}

/// Per-dimension strides of `K` operands iterated together over one shape.
pub(crate) type MultiStrides<const K: usize> = SmallVec<[[isize; K]; 6]>;

/// Drops size-1 dimensions and merges neighbours that are contiguous in every operand, so
/// that a dense tensor iterates as one flat run and `[N, M] + [M]` as rows.
pub(crate) fn coalesce<const K: usize>(
    shape: &[usize],
    strides: [&[isize]; K],
) -> (Shape, MultiStrides<K>) {
    let mut out_shape: Shape = SmallVec::new();
    let mut out_strides: MultiStrides<K> = SmallVec::new();
    for d in 0..shape.len() {
        if shape[d] == 1 {
            continue;
        }
        let st: [isize; K] = std::array::from_fn(|k| strides[k][d]);
        if let (Some(last_size), Some(last_st)) = (out_shape.last_mut(), out_strides.last_mut()) {
            if (0..K).all(|k| last_st[k] == st[k] * shape[d] as isize) {
                *last_size *= shape[d];
                *last_st = st;
                continue;
            }
        }
        out_shape.push(shape[d]);
        out_strides.push(st);
    }
    (out_shape, out_strides)
}

/// Calls `f(pos, offsets, len, inner_strides)` for each run of the innermost dimension
/// that falls in the row-major index range `range`: `pos` is the linear index of the run's
/// first element and `offsets` its storage index in each operand.
pub(crate) fn for_each_run<const K: usize>(
    shape: &[usize],
    strides: &[[isize; K]],
    base: [isize; K],
    range: std::ops::Range<usize>,
    mut f: impl FnMut(usize, [isize; K], usize, [isize; K]),
) {
    if range.start >= range.end {
        return;
    }
    let nd = shape.len();
    if nd == 0 {
        f(range.start, base, 1, [0; K]);
        return;
    }
    let mut idx: SmallVec<[usize; 6]> = smallvec![0; nd];
    let mut rem = range.start;
    for d in (0..nd).rev() {
        idx[d] = rem % shape[d];
        rem /= shape[d];
    }
    let mut offs = base;
    for d in 0..nd {
        for k in 0..K {
            offs[k] += idx[d] as isize * strides[d][k];
        }
    }
    let inner = shape[nd - 1];
    let inner_st = strides[nd - 1];
    let mut pos = range.start;
    while pos < range.end {
        let len = (inner - idx[nd - 1]).min(range.end - pos);
        f(pos, offs, len, inner_st);
        pos += len;
        idx[nd - 1] += len;
        for k in 0..K {
            offs[k] += len as isize * inner_st[k];
        }
        if idx[nd - 1] < inner {
            continue;
        }
        // Carry into the outer dimensions like an odometer.
        for k in 0..K {
            offs[k] -= inner as isize * inner_st[k];
        }
        idx[nd - 1] = 0;
        for d in (0..nd - 1).rev() {
            idx[d] += 1;
            for k in 0..K {
                offs[k] += strides[d][k];
            }
            if idx[d] < shape[d] {
                break;
            }
            for k in 0..K {
                offs[k] -= shape[d] as isize * strides[d][k];
            }
            idx[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_splits_and_merges_contiguous_runs() {
        let l = Layout::contiguous(&[2, 3, 4]);
        assert_eq!(l.view(&[6, 4]).unwrap().strides(), &[4, 1]);
        assert_eq!(l.view(&[2, 12]).unwrap().strides(), &[12, 1]);
        let t = l.permute(&[0, 2, 1]); // [2, 4, 3], strides [12, 1, 4]
        assert!(t.view(&[8, 3]).is_none());
        assert_eq!(t.view(&[2, 2, 2, 3]).unwrap().strides(), &[12, 2, 1, 4]);
    }

    #[test]
    fn coalesce_merges_dense_and_keeps_broadcast_rows() {
        let (s, st) = coalesce(&[2, 3, 4], [&[12, 4, 1], &[0, 0, 1]]);
        assert_eq!(&s[..], &[6, 4]);
        assert_eq!(st[0], [4, 0]);
        let (s, _) = coalesce(&[2, 3, 4], [&[12, 4, 1]]);
        assert_eq!(&s[..], &[24]);
    }

    #[test]
    fn runs_cover_a_range_in_order() {
        let mut seen = vec![];
        for_each_run(&[2, 3], &[[3], [1]], [0], 1..5, |pos, offs, len, _| {
            seen.push((pos, offs[0], len))
        });
        assert_eq!(seen, vec![(1, 1, 2), (3, 3, 2)]);
    }
}
