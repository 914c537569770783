//! Reductions over all elements or over chosen axes, with keepdim.
//!
//! Every reduction is a row reduction: the reduced axes are permuted to the end and each
//! row is folded sequentially by one thread, so results never depend on thread count. A
//! sum whose kept axes are innermost (a bias gradient's sum over the batch) instead adds
//! whole rows into the output, which vectorizes without any copy.

use smallvec::SmallVec;

use crate::element::{Element, Float};
use crate::error::{fmt_shape, plain, Result, TensorError};
use crate::kernels::{par_min_elems, PAR_CHUNK};
use crate::layout::normalize_dim;
use crate::storage::alloc_uninit;
use crate::tensor::Tensor;

/// Sum with eight independent accumulators, so the loop vectorizes; fixed association order.
fn sum_slice<T: Float>(s: &[T]) -> T {
    let mut acc = [T::ZERO; 8];
    let chunks = s.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..8 {
            acc[i] += c[i];
        }
    }
    lanes_then(&acc, rest)
}

/// The eight lanes of [`sum_slice`] added pairwise in its fixed order, then the `rest` one by
/// one: the association every sum here shares, so the same elements give the same bits.
fn lanes_then<T: Float>(acc: &[T; 8], rest: &[T]) -> T {
    let mut total =
        ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for &v in rest {
        total += v;
    }
    total
}

/// [`sum_slice`] of the concatenation of `runs` (`len` elements in all), with the same
/// additions in the same order, so the same bits, without building the concatenation:
/// element `g` of it goes to lane `g % 8`, and the last `len % 8` are added after the lanes.
fn sum_runs<'a, T: Float>(runs: impl Iterator<Item = &'a [T]>, len: usize) -> T {
    let lanes_end = len - len % 8;
    let mut acc = [T::ZERO; 8];
    // The elements past the lanes (under 8; short runs may spread them over several).
    let (mut tail, mut tail_len) = ([T::ZERO; 8], 0);
    let mut pos = 0;
    for run in runs {
        let in_lanes = run.len().min(lanes_end.saturating_sub(pos));
        let (lane_part, past) = run.split_at(in_lanes);
        // Up to the next multiple of 8 one by one, then whole chunks (which vectorize).
        let lead = ((8 - pos % 8) % 8).min(lane_part.len());
        for (i, &v) in lane_part[..lead].iter().enumerate() {
            acc[(pos + i) % 8] += v;
        }
        let chunks = lane_part[lead..].chunks_exact(8);
        let after = chunks.remainder();
        for c in chunks {
            for i in 0..8 {
                acc[i] += c[i];
            }
        }
        for (i, &v) in after.iter().enumerate() {
            acc[i] += v;
        }
        for &v in past {
            tail[tail_len] = v;
            tail_len += 1;
        }
        pos += run.len();
    }
    lanes_then(&acc, &tail[..tail_len])
}

/// The resolved, sorted, de-duplicated axes of a reduction, and the output shape.
struct Plan {
    axes: SmallVec<[usize; 6]>,
    out_shape: Vec<usize>,
}

fn plan<T: Element>(x: &Tensor<T>, op: &str, axes: &[isize], keepdim: bool) -> Result<Plan> {
    let nd = x.ndim();
    let mut resolved: SmallVec<[usize; 6]> = SmallVec::new();
    for &a in axes {
        let d = normalize_dim(a, nd.max(1)).ok_or_else(|| {
            TensorError::dim_out_of_range(
                op,
                format!(
                    "dim {a} is out of range for shape {} ({nd} dims)",
                    fmt_shape(x.shape())
                ),
            )
        })?;
        if resolved.contains(&d) {
            return Err(TensorError::new(
                op,
                format!(
                    "dim {a} appears twice in {axes:?} for shape {}",
                    fmt_shape(x.shape())
                ),
            ));
        }
        resolved.push(d);
    }
    resolved.retain(|d| *d < nd);
    resolved.sort_unstable();
    let out_shape = (0..nd)
        .filter_map(|d| match (resolved.contains(&d), keepdim) {
            (false, _) => Some(x.shape()[d]),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    Ok(Plan {
        axes: resolved,
        out_shape,
    })
}

/// `x` arranged as contiguous rows `[kept..., reduced...]`, and the row length.
fn as_rows<T: Element>(x: &Tensor<T>, axes: &[usize]) -> (Tensor<T>, usize) {
    let kept = (0..x.ndim()).filter(|d| !axes.contains(d));
    let order: Vec<usize> = kept.chain(axes.iter().copied()).collect();
    let row_len = crate::layout::numel_of(axes.iter().map(|&d| x.shape()[d]));
    let permuted = x.with_layout(x.layout().permute(&order));
    (permuted.contiguous(), row_len)
}

/// Applies `f` to each row of the reduced axes; output rows in parallel when large.
fn reduce_rows<T: Element, U: Element>(
    x: &Tensor<T>,
    p: &Plan,
    f: impl Fn(&[T]) -> U + Sync,
) -> Tensor<U> {
    let (rows, row_len) = as_rows(x, &p.axes);
    let src = rows.as_slice().expect("made contiguous");
    let n_out = crate::layout::numel(&p.out_shape);
    let mut out = alloc_uninit::<U>(n_out);
    if row_len == 0 {
        out.iter_mut().for_each(|o| *o = f(&[]));
    } else if x.numel() < par_min_elems() || n_out == 1 {
        for (o, row) in out.iter_mut().zip(src.chunks_exact(row_len)) {
            *o = f(row);
        }
    } else {
        let rows_per_task = (PAR_CHUNK / row_len).max(1);
        crate::parallel::for_each_chunk_indexed(&mut out, rows_per_task, |i, o| {
            let s = &src[i * rows_per_task * row_len..];
            for (o, row) in o.iter_mut().zip(s.chunks_exact(row_len)) {
                *o = f(row);
            }
        });
    }
    Tensor::from_buffer(out, &p.out_shape)
}

/// Sums a contiguous `[r, k]` block over `r` by adding whole rows (the bias-gradient shape).
fn sum_leading<T: Float>(src: &[T], r: usize, k: usize, out_shape: &[usize]) -> Tensor<T> {
    let mut out = alloc_uninit::<T>(k);
    let add_rows = |start: usize, o: &mut [T]| {
        o.copy_from_slice(&src[start..start + o.len()]);
        for row in 1..r {
            let s = &src[row * k + start..row * k + start + o.len()];
            for (a, &b) in o.iter_mut().zip(s) {
                *a += b;
            }
        }
    };
    if r * k < par_min_elems() {
        add_rows(0, &mut out);
    } else {
        let cols = (PAR_CHUNK / r.max(1)).max(64);
        crate::parallel::for_each_chunk_indexed(&mut out, cols, |i, o| add_rows(i * cols, o));
    }
    Tensor::from_buffer(out, out_shape)
}

/// Sums a contiguous `x` over leading and trailing axes around one kept middle block
/// (`[N, C, H, W]` over `[0, 2, 3]`: a convolution's bias gradient) without first copying
/// it into `[C, N*H*W]` rows: `out[c]` adds the contiguous `[H*W]` runs of each image in
/// image order, with the same bits as the row sum. `None` for any other pattern.
fn sum_around<T: Float>(x: &Tensor<T>, p: &Plan) -> Option<Tensor<T>> {
    let nd = x.ndim();
    let lead = p
        .axes
        .iter()
        .enumerate()
        .take_while(|&(i, &d)| i == d)
        .count();
    let (head, tail) = p.axes.split_at(lead);
    let first_tail = *tail.first()?;
    // Trailing axes must run to the end without gaps, and the kept middle be non-empty.
    let tail_ok =
        tail.iter().enumerate().all(|(i, &d)| d == first_tail + i) && first_tail + tail.len() == nd;
    if head.is_empty() || !tail_ok || first_tail <= lead || !x.is_contiguous() {
        return None;
    }
    let shape = x.shape();
    let a = crate::layout::numel(&shape[..lead]);
    let k = crate::layout::numel(&shape[lead..first_tail]);
    let b = crate::layout::numel(&shape[first_tail..]);
    if a == 0 || b == 0 {
        return None;
    }
    let src = x.as_slice().expect("contiguous");
    let mut out = alloc_uninit::<T>(k);
    let fill = |start: usize, o: &mut [T]| {
        for (j, total) in o.iter_mut().enumerate() {
            let c = start + j;
            *total = sum_runs(
                (0..a).map(|i| &src[(i * k + c) * b..(i * k + c + 1) * b]),
                a * b,
            );
        }
    };
    if x.numel() < par_min_elems() {
        fill(0, &mut out);
    } else {
        let per_task = (PAR_CHUNK / (a * b)).max(1);
        crate::parallel::for_each_chunk_indexed(&mut out, per_task, |i, o| fill(i * per_task, o));
    }
    Some(Tensor::from_buffer(out, &p.out_shape))
}

fn max_of<T: Float>(row: &[T]) -> T {
    row.iter().fold(T::NEG_INFINITY, |m, &v| m.max_nan(v))
}

fn min_of<T: Float>(row: &[T]) -> T {
    row.iter().fold(T::INFINITY, |m, &v| m.min_nan(v))
}

/// Index of the first largest (`better = >`) or smallest element; NaN wins, as in PyTorch.
fn arg_best<T: Float>(row: &[T], larger: bool) -> i64 {
    let mut best = 0usize;
    for (i, &v) in row.iter().enumerate().skip(1) {
        let b = row[best];
        if b.is_nan() {
            break;
        }
        if v.is_nan() || (larger && v > b) || (!larger && v < b) {
            best = i;
        }
    }
    best as i64
}

impl<T: Float> Tensor<T> {
    /// Sum of all elements, as a 0-d tensor (fixed chunking: identical on any thread count).
    pub fn sum(&self) -> Tensor<T> {
        let x = self.contiguous();
        let s = x.as_slice().expect("contiguous");
        let total = if s.len() < par_min_elems() {
            s.chunks(PAR_CHUNK)
                .map(sum_slice)
                .fold(T::ZERO, |a, b| a + b)
        } else {
            let mut partials = vec![T::ZERO; s.len().div_ceil(PAR_CHUNK)];
            crate::parallel::for_each_chunk_indexed(&mut partials, 1, |i, p| {
                p[0] = sum_slice(&s[i * PAR_CHUNK..((i + 1) * PAR_CHUNK).min(s.len())]);
            });
            partials.into_iter().fold(T::ZERO, |a, b| a + b)
        };
        Tensor::scalar(total)
    }

    /// Sum over `axes` (negative counts from the end), keeping them as size 1 if `keepdim`.
    pub fn try_sum_dims(&self, axes: &[isize], keepdim: bool) -> Result<Tensor<T>> {
        let p = plan(self, "sum", axes, keepdim)?;
        let lead = p.axes.iter().enumerate().all(|(i, &d)| i == d);
        if lead && !p.axes.is_empty() && self.is_contiguous() && p.axes.len() < self.ndim() {
            let r = crate::layout::numel_of(p.axes.iter().map(|&d| self.shape()[d]));
            let k = self.numel() / r.max(1);
            if r > 0 {
                let s = self.as_slice().expect("contiguous");
                return Ok(sum_leading(s, r, k, &p.out_shape));
            }
        }
        if let Some(out) = sum_around(self, &p) {
            return Ok(out);
        }
        Ok(reduce_rows(self, &p, sum_slice))
    }

    /// Mean of all elements (NaN for an empty tensor, as PyTorch).
    pub fn mean(&self) -> Tensor<T> {
        let n = T::from_f64(self.numel() as f64);
        Tensor::scalar(self.sum().item() / n)
    }

    /// Mean over `axes`.
    pub fn try_mean_dims(&self, axes: &[isize], keepdim: bool) -> Result<Tensor<T>> {
        let p = plan(self, "mean", axes, keepdim)?;
        let n = crate::layout::numel_of(p.axes.iter().map(|&d| self.shape()[d]));
        Ok(self
            .try_sum_dims(axes, keepdim)?
            .div_scalar(T::from_f64(n as f64)))
    }

    /// Largest element; errors on an empty tensor.
    pub fn try_max(&self) -> Result<Tensor<T>> {
        self.check_nonempty("max")?;
        Ok(Tensor::scalar(max_of(&self.to_vec())))
    }

    /// Smallest element; errors on an empty tensor.
    pub fn try_min(&self) -> Result<Tensor<T>> {
        self.check_nonempty("min")?;
        Ok(Tensor::scalar(min_of(&self.to_vec())))
    }

    /// Largest element over `axes`; errors when a reduced axis is empty.
    pub fn try_max_dims(&self, axes: &[isize], keepdim: bool) -> Result<Tensor<T>> {
        let p = self.nonempty_plan("max", axes, keepdim)?;
        Ok(reduce_rows(self, &p, max_of))
    }

    /// Smallest element over `axes`; errors when a reduced axis is empty.
    pub fn try_min_dims(&self, axes: &[isize], keepdim: bool) -> Result<Tensor<T>> {
        let p = self.nonempty_plan("min", axes, keepdim)?;
        Ok(reduce_rows(self, &p, min_of))
    }

    /// Flat row-major index of the first largest element, as a 0-d int64 tensor.
    pub fn try_argmax(&self) -> Result<Tensor<i64>> {
        self.check_nonempty("argmax")?;
        Ok(Tensor::scalar(arg_best(&self.to_vec(), true)))
    }

    /// Flat row-major index of the first smallest element.
    pub fn try_argmin(&self) -> Result<Tensor<i64>> {
        self.check_nonempty("argmin")?;
        Ok(Tensor::scalar(arg_best(&self.to_vec(), false)))
    }

    /// Index of the first largest element along `dim`.
    pub fn try_argmax_dim(&self, dim: isize, keepdim: bool) -> Result<Tensor<i64>> {
        let p = self.nonempty_plan("argmax", &[dim], keepdim)?;
        Ok(reduce_rows(self, &p, |r| arg_best(r, true)))
    }

    /// Index of the first smallest element along `dim`.
    pub fn try_argmin_dim(&self, dim: isize, keepdim: bool) -> Result<Tensor<i64>> {
        let p = self.nonempty_plan("argmin", &[dim], keepdim)?;
        Ok(reduce_rows(self, &p, |r| arg_best(r, false)))
    }

    /// Variance over `axes` with divisor `n - correction` (1 = unbiased, 0 = population).
    pub fn try_var_dims(
        &self,
        axes: &[isize],
        correction: usize,
        keepdim: bool,
    ) -> Result<Tensor<T>> {
        let p = plan(self, "var", axes, keepdim)?;
        let c = T::from_f64(correction as f64);
        Ok(reduce_rows(self, &p, move |row| {
            let n = T::from_f64(row.len() as f64);
            let mean = sum_slice(row) / n;
            let ss = row.iter().map(|&v| (v - mean) * (v - mean)).sum::<T>();
            // PyTorch's divisor max(n - correction, 0): NaN or inf, never a negative variance.
            let d = if n > c { n - c } else { T::ZERO };
            ss / d
        }))
    }

    /// Variance of all elements with divisor `n - correction`.
    pub fn var(&self, correction: usize) -> Tensor<T> {
        let all: Vec<isize> = (0..self.ndim() as isize).collect();
        crate::error::or_panic(self.try_var_dims(&all, correction, false))
    }

    /// Standard deviation over `axes` with divisor `n - correction`.
    pub fn try_std_dims(
        &self,
        axes: &[isize],
        correction: usize,
        keepdim: bool,
    ) -> Result<Tensor<T>> {
        self.try_var_dims(axes, correction, keepdim)
            .map(|v| v.sqrt())
            .map_err(|e| TensorError::new("std", e.message))
    }

    /// log(sum(exp(x))) over `axes`, computed stably by subtracting the maximum first.
    pub fn try_logsumexp_dims(&self, axes: &[isize], keepdim: bool) -> Result<Tensor<T>> {
        let p = plan(self, "logsumexp", axes, keepdim)?;
        Ok(reduce_rows(self, &p, |row| {
            let m = max_of(row);
            if !m.is_finite() {
                // All -inf (or empty) gives -inf, any +inf gives +inf, any NaN gives NaN,
                // as PyTorch (summing the row would turn [inf, -inf] into NaN).
                return m;
            }
            row.iter().map(|&v| (v - m).exp()).sum::<T>().ln() + m
        }))
    }

    fn check_nonempty(&self, op: &str) -> Result<()> {
        if self.numel() == 0 {
            return Err(TensorError::new(
                op,
                format!(
                    "cannot reduce an empty tensor of shape {}",
                    fmt_shape(self.shape())
                ),
            ));
        }
        Ok(())
    }

    fn nonempty_plan(&self, op: &str, axes: &[isize], keepdim: bool) -> Result<Plan> {
        let p = plan(self, op, axes, keepdim)?;
        if p.axes.iter().any(|&d| self.shape()[d] == 0) {
            return Err(TensorError::new(
                op,
                format!(
                    "cannot reduce an empty dim of shape {} over {axes:?}",
                    fmt_shape(self.shape())
                ),
            ));
        }
        Ok(p)
    }

    plain! {
        /// Sum over axes.
        fn sum_dims => try_sum_dims(axes: &[isize], keepdim: bool) -> Tensor<T>;
        /// Mean over axes.
        fn mean_dims => try_mean_dims(axes: &[isize], keepdim: bool) -> Tensor<T>;
        /// Largest element.
        fn max => try_max() -> Tensor<T>;
        /// Smallest element.
        fn min => try_min() -> Tensor<T>;
        /// Largest element over axes.
        fn max_dims => try_max_dims(axes: &[isize], keepdim: bool) -> Tensor<T>;
        /// Smallest element over axes.
        fn min_dims => try_min_dims(axes: &[isize], keepdim: bool) -> Tensor<T>;
        /// Flat index of the largest element.
        fn argmax => try_argmax() -> Tensor<i64>;
        /// Flat index of the smallest element.
        fn argmin => try_argmin() -> Tensor<i64>;
        /// Index of the largest element along a dim.
        fn argmax_dim => try_argmax_dim(dim: isize, keepdim: bool) -> Tensor<i64>;
        /// Index of the smallest element along a dim.
        fn argmin_dim => try_argmin_dim(dim: isize, keepdim: bool) -> Tensor<i64>;
        /// Variance over axes.
        fn var_dims => try_var_dims(axes: &[isize], correction: usize, keepdim: bool) -> Tensor<T>;
        /// Standard deviation over axes.
        fn std_dims => try_std_dims(axes: &[isize], correction: usize, keepdim: bool) -> Tensor<T>;
        /// Stable log-sum-exp over axes.
        fn logsumexp_dims => try_logsumexp_dims(axes: &[isize], keepdim: bool) -> Tensor<T>;
    }
}
