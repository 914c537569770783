//! im2col (`unfold`) and its adjoint col2im (`fold`) for 2-D sliding windows, with PyTorch's
//! `F.unfold`/`F.fold` layout: `[N, C, H, W]` <-> `[N, C*kh*kw, L]`, L = out_h * out_w.
//! Convolution is a matmul over `unfold`'s result; pooling is a reduction over it.

use crate::element::Float;
use crate::error::{fmt_shape, Result, TensorError};
use crate::kernels::fill_blocks;
use crate::layout::checked_numel;
use crate::storage::try_alloc_uninit;
use crate::tensor::Tensor;

/// Geometry of a 2-D sliding window: kernel size, stride, zero padding and dilation,
/// each as `[height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window2d {
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Step between windows.
    pub stride: [usize; 2],
    /// Zeros added on each side.
    pub padding: [usize; 2],
    /// Spacing between kernel taps.
    pub dilation: [usize; 2],
}

impl Window2d {
    /// A `kh x kw` window with stride 1, no padding and no dilation.
    pub fn new(kernel: [usize; 2]) -> Self {
        Window2d {
            kernel,
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
        }
    }

    /// Sets the stride.
    pub fn stride(mut self, stride: [usize; 2]) -> Self {
        self.stride = stride;
        self
    }

    /// Sets the padding.
    pub fn padding(mut self, padding: [usize; 2]) -> Self {
        self.padding = padding;
        self
    }

    /// Sets the dilation.
    pub fn dilation(mut self, dilation: [usize; 2]) -> Self {
        self.dilation = dilation;
        self
    }

    /// Output height and width for an `h x w` input, or `None` if the window does not fit.
    pub fn output_size(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let one = |size: usize, d: usize| -> Option<usize> {
            // Checked: kernel, dilation and padding come from the user.
            let span =
                (self.dilation[d].checked_mul(self.kernel[d].checked_sub(1)?)?).checked_add(1)?;
            let padded = self.padding[d].checked_mul(2)?.checked_add(size)?;
            if self.stride[d] == 0 || padded < span {
                return None;
            }
            Some((padded - span) / self.stride[d] + 1)
        };
        Some((one(h, 0)?, one(w, 1)?))
    }

    /// Input coordinate of output position `o` and kernel tap `t` along axis `d`
    /// (may be negative or past the end: that is padding).
    fn source(&self, d: usize, o: usize, t: usize) -> isize {
        (o * self.stride[d] + t * self.dilation[d]) as isize - self.padding[d] as isize
    }

    /// The output positions `lo..hi` along axis `d` whose source for tap `t` lies inside
    /// an input of `size`: outside them the window reads padding. Lets the inner loops run
    /// without bounds tests.
    #[inline]
    fn valid_range(&self, d: usize, t: usize, size: usize, out: usize) -> (usize, usize) {
        let offset = (t * self.dilation[d]) as isize - self.padding[d] as isize;
        let s = self.stride[d] as isize;
        // o * s + offset >= 0  and  o * s + offset < size
        let lo = if offset >= 0 {
            0
        } else {
            ((-offset) + s - 1) / s
        };
        let hi = if size as isize - offset <= 0 {
            0
        } else {
            ((size as isize - offset) + s - 1) / s
        };
        let lo = (lo as usize).min(out);
        (lo, (hi as usize).clamp(lo, out))
    }

    /// Writes tap `(i, j)` of every window over one `[h, w]` input plane into `row`
    /// (`oh * ow` values, zero where the tap reads padding).
    ///
    /// `plane` may run on past the plane's `h * w` values and `row` past its `oh * ow`: with
    /// unit stride each output row is then copied in whole vector steps (`copy_run`), which
    /// may write ahead into the following rows and into whatever lies after `row`. Rows are
    /// written in increasing order and each is rewritten whole in its turn, so the caller only
    /// has to write what lies after `row` later, as unfold's loops over taps and images do.
    fn fill_tap<T: Float>(
        &self,
        plane: &[T],
        [h, w]: [usize; 2],
        [oh, ow]: [usize; 2],
        [i, j]: [usize; 2],
        row: &mut [T],
    ) {
        let (lo, hi) = self.valid_range(1, j, w, ow);
        // Output rows whose tap row lies inside the plane (none if no column does).
        let (ylo, yhi) = if lo < hi {
            self.valid_range(0, i, h, oh)
        } else {
            (0, 0)
        };
        row[..ylo * ow].fill(T::ZERO);
        if ylo < yhi {
            // Where output row `ylo`'s run starts in the plane, and the step to the next.
            let mut start = self.source(0, ylo, i) as usize * w + self.source(1, lo, j) as usize;
            let step = self.stride[0] * w;
            for oy in ylo..yhi {
                let out = &mut row[oy * ow..];
                if self.stride[1] == 1 {
                    // The common case. Before the zero fills, which the run may overwrite.
                    copy_run(&plane[start..], &mut out[lo..], hi - lo);
                } else {
                    let taps = plane[start..].iter().step_by(self.stride[1]);
                    for (d, &v) in out[lo..hi].iter_mut().zip(taps) {
                        *d = v;
                    }
                }
                out[..lo].fill(T::ZERO);
                out[hi..ow].fill(T::ZERO);
                start += step;
            }
        }
        // Last: the final run may have copied ahead into these rows.
        row[yhi.max(ylo) * ow..oh * ow].fill(T::ZERO);
    }

    /// Every tap of every window over one `[h, w]` plane: tap `t`'s row (`oh * ow` values)
    /// at `dst[t * oh * ow..]`. `plane` and `dst` may run on as in `fill_tap`.
    pub(crate) fn unfold_plane<T: Float>(
        &self,
        plane: &[T],
        [h, w]: [usize; 2],
        [oh, ow]: [usize; 2],
        dst: &mut [T],
    ) {
        let [kh, kw] = self.kernel;
        for i in 0..kh {
            for j in 0..kw {
                let row = &mut dst[(i * kw + j) * oh * ow..];
                self.fill_tap(plane, [h, w], [oh, ow], [i, j], row);
            }
        }
    }

    /// The adjoint of `unfold_plane`: zeroes the `[h, w]` `plane`, then adds each tap's row
    /// back into it, tap `t`'s row at `cols[t * row_stride..]` (`oh * ow` values).
    pub(crate) fn fold_plane<T: Float>(
        &self,
        cols: &[T],
        row_stride: usize,
        [h, w]: [usize; 2],
        [oh, ow]: [usize; 2],
        plane: &mut [T],
    ) {
        plane.fill(T::ZERO);
        for t in 0..self.kernel[0] * self.kernel[1] {
            let row = &cols[t * row_stride..t * row_stride + oh * ow];
            let tap = [t / self.kernel[1], t % self.kernel[1]];
            self.add_tap(row, [h, w], [oh, ow], tap, plane);
        }
    }

    /// Adds tap `(i, j)`'s column `row` (`oh * ow` values) back into the input positions
    /// it was read from in one `[h, w]` plane: the adjoint of `fill_tap`.
    fn add_tap<T: Float>(
        &self,
        row: &[T],
        [h, w]: [usize; 2],
        [oh, ow]: [usize; 2],
        [i, j]: [usize; 2],
        plane: &mut [T],
    ) {
        let (lo, hi) = self.valid_range(1, j, w, ow);
        let (ylo, yhi) = self.valid_range(0, i, h, oh);
        if lo >= hi || ylo >= yhi {
            return;
        }
        // Where output row `ylo`'s run lands in the plane, and the step to the next.
        let mut start = self.source(0, ylo, i) as usize * w + self.source(1, lo, j) as usize;
        let step = self.stride[0] * w;
        for oy in ylo..yhi {
            let line = &mut plane[start..];
            start += step;
            let src = &row[oy * ow + lo..oy * ow + hi];
            if self.stride[1] == 1 {
                // A plain loop: adding in whole 16-element steps with the lanes past the row
                // masked off measured 1.8x slower here (each step's store overlaps the next
                // row's load), also with AVX-512 masked loads and stores.
                for (d, &v) in line[..hi - lo].iter_mut().zip(src) {
                    *d += v;
                }
            } else {
                let taps = line.iter_mut().step_by(self.stride[1]);
                for (d, &v) in taps.zip(src) {
                    *d += v;
                }
            }
        }
    }
}

/// Elements per step of the short-run copies: one 64-byte vector of f32 (two of f64).
///
/// The CNN's window rows are 11-26 elements long; as `copy_from_slice` each is a memcpy call
/// and its bookkeeping, as fixed-size steps each is a vector load and store.
pub(crate) const RUN: usize = 16;

/// Copies `src[..n]` into `dst[..n]` in steps of `RUN` elements. Where both slices are long
/// enough the last step copies a whole `RUN` as well, so up to `RUN - 1` elements of `dst`
/// past `n` get overwritten (with whatever follows the run in `src`); near the end of either
/// slice it copies the exact rest.
#[inline(always)]
fn copy_run<T: Copy>(src: &[T], dst: &mut [T], n: usize) {
    let mut i = 0;
    while i < n {
        if i + RUN > src.len() || i + RUN > dst.len() {
            dst[i..n].copy_from_slice(&src[i..n]);
            return;
        }
        let step: &[T; RUN] = src[i..i + RUN].try_into().expect("RUN elements");
        dst[i..i + RUN].copy_from_slice(step);
        i += RUN;
    }
}

fn bad(op: &str, shape: &[usize], win: &Window2d) -> TensorError {
    TensorError::shape_mismatch(
        op,
        format!(
            "window {win:?} does not fit input of shape {}",
            fmt_shape(shape)
        ),
    )
}

impl<T: Float> Tensor<T> {
    /// The sizes of an `[N, C, H, W]` image batch, or an error naming `op` and the shape.
    pub(crate) fn nchw(&self, op: &str) -> Result<[usize; 4]> {
        match *self.shape() {
            [n, c, h, w] => Ok([n, c, h, w]),
            _ => Err(TensorError::new(
                op,
                format!("expects [N, C, H, W], got {}", fmt_shape(self.shape())),
            )),
        }
    }

    /// Extracts sliding windows: `[N, C, H, W]` -> `[N, C*kh*kw, L]` (zero padding).
    pub fn try_unfold(&self, win: &Window2d) -> Result<Tensor<T>> {
        let [n, c, h, w] = self.nchw("unfold")?;
        let (oh, ow) = win
            .output_size(h, w)
            .ok_or_else(|| bad("unfold", self.shape(), win))?;
        let [kh, kw] = win.kernel;
        let x = self.contiguous();
        let src = x.as_slice().expect("contiguous");
        let block = checked_numel("unfold", &[kh, kw, oh, ow], std::mem::size_of::<T>())?;
        let mut out = try_alloc_uninit::<T>("unfold", &[n, c, block])?;
        let fill = |nc: usize, dst: &mut [T]| {
            // Open-ended slices: `fill_tap` may copy ahead into later taps' rows (see there).
            win.unfold_plane(&src[nc * h * w..], [h, w], [oh, ow], dst)
        };
        let work = out.len();
        fill_blocks(&mut out, block, work, fill);
        // Checked separately: with `n == 0` these products are not bounded by the output's.
        let size = std::mem::size_of::<T>();
        let rows = checked_numel("unfold", &[c, kh, kw], size)?;
        let cols = checked_numel("unfold", &[oh, ow], size)?;
        Ok(Tensor::from_buffer(out, &[n, rows, cols]))
    }

    /// [`try_unfold`](Self::try_unfold)'s values in another memory order: the result is
    /// `[N, C*kh*kw, L]` like `unfold`'s, but stored as `[C*kh*kw, N, L]` (strides
    /// `[L, N*L, 1]`). Permuted to `[C*kh*kw, N, L]` it is contiguous, so reshaped to
    /// `[C*kh*kw, N*L]` it is the right operand of one tall matrix product for the whole
    /// batch (a convolution), with no copy.
    pub fn try_unfold_batch_inner(&self, win: &Window2d) -> Result<Tensor<T>> {
        let [n, c, h, w] = self.nchw("unfold")?;
        let (oh, ow) = win
            .output_size(h, w)
            .ok_or_else(|| bad("unfold", self.shape(), win))?;
        let [kh, kw] = win.kernel;
        let size = std::mem::size_of::<T>();
        let rows = checked_numel("unfold", &[c, kh, kw], size)?;
        let l = checked_numel("unfold", &[oh, ow], size)?;
        let line = checked_numel("unfold", &[n, oh, ow], size)?;
        let x = self.contiguous();
        let src = x.as_slice().expect("contiguous");
        let mut out = try_alloc_uninit::<T>("unfold", &[rows, n, l])?;
        // One block per row `(c, i, j)` of the columns matrix: that tap over every image.
        let fill = |r: usize, dst: &mut [T]| {
            let (ch, i, j) = (r / (kh * kw), r / kw % kh, r % kw);
            // Open-ended slices: `fill_tap` may copy ahead into later images' parts.
            for b in 0..n {
                let plane = &src[(b * c + ch) * h * w..];
                win.fill_tap(plane, [h, w], [oh, ow], [i, j], &mut dst[b * l..]);
            }
        };
        let work = out.len();
        fill_blocks(&mut out, line, work, fill);
        let t = Tensor::from_buffer(out, &[rows, n, l]);
        t.try_permute(&[1, 0, 2])
    }

    /// Sums sliding-window columns back into an image: `[N, C*kh*kw, L]` -> `[N, C, H, W]`,
    /// the adjoint of `unfold` (overlapping windows add up). Columns whose last dim is
    /// unit-strided (`unfold`'s layout or [`try_unfold_batch_inner`](Self::try_unfold_batch_inner)'s)
    /// are read in place; any other layout is copied first.
    pub fn try_fold(&self, output_size: [usize; 2], win: &Window2d) -> Result<Tensor<T>> {
        let [h, w] = output_size;
        let kk = win.kernel[0] * win.kernel[1];
        let geometry = win.output_size(h, w);
        let ok = self.ndim() == 3 && kk > 0 && self.shape()[1].is_multiple_of(kk);
        let (oh, ow) = match geometry {
            Some((oh, ow)) if ok && self.shape()[2] == oh * ow => (oh, ow),
            _ => {
                return Err(TensorError::shape_mismatch(
                    "fold",
                    format!(
                        "input of shape {} does not match output size {output_size:?} and window {win:?}",
                        fmt_shape(self.shape())
                    ),
                ))
            }
        };
        let [n, c] = [self.shape()[0], self.shape()[1] / kk];
        let [kh, kw] = win.kernel;
        // Read in place when the last dim is unit-strided and the others are not negative
        // (a broadcast stride of 0 included): then row `r` of image `b` starts at
        // `offset + b * sn + r * sr` and runs on contiguously.
        let st = self.strides();
        let in_place = st[2] == 1 && st[0] >= 0 && st[1] >= 0;
        let x = if in_place {
            self.clone()
        } else {
            self.contiguous()
        };
        let (sn, sr) = if in_place {
            (st[0] as usize, st[1] as usize)
        } else {
            (c * kk * oh * ow, oh * ow)
        };
        let (src, base) = (x.storage_slice(), x.layout().offset());
        let mut out = try_alloc_uninit::<T>("fold", &[n, c, h, w])?;
        let fill = |nc: usize, plane: &mut [T]| {
            let (b, ch) = (nc / c.max(1), nc % c.max(1));
            let cols = &src[base + b * sn + ch * kk * sr..];
            win.fold_plane(cols, sr, [h, w], [oh, ow], plane);
        };
        let work = self.numel();
        let plane = checked_numel("fold", &[h, w], std::mem::size_of::<T>())?;
        if sr >= n * sn && plane > 0 {
            // Batch-inner columns (`[C*kh*kw, N, L]` storage): channel by channel, reading
            // each tap's row from end to end across the images. (Plane by plane, each plane
            // read nine short pieces 30 KB apart: 2.7x slower once the columns had left the
            // cache, as in a training step.) Each plane's taps add in the same order.
            let mut per_channel: Vec<Vec<&mut [T]>> =
                (0..c).map(|_| Vec::with_capacity(n)).collect();
            for (p, dst) in out.chunks_mut(plane).enumerate() {
                per_channel[p % c].push(dst);
            }
            let fold_channel = |ch: usize, mut planes: Vec<&mut [T]>| {
                planes.iter_mut().for_each(|p| p.fill(T::ZERO));
                for i in 0..kh {
                    for j in 0..kw {
                        let tap = base + (ch * kk + i * kw + j) * sr;
                        for (b, dst) in planes.iter_mut().enumerate() {
                            let row = &src[tap + b * sn..tap + b * sn + oh * ow];
                            win.add_tap(row, [h, w], [oh, ow], [i, j], dst);
                        }
                    }
                }
            };
            crate::kernels::run_pieces(per_channel, work, fold_channel);
        } else {
            fill_blocks(&mut out, plane, work, fill);
        }
        Ok(Tensor::from_buffer(out, &[n, c, h, w]))
    }

    /// Extracts sliding windows; panics if the window does not fit.
    #[track_caller]
    pub fn unfold(&self, win: &Window2d) -> Tensor<T> {
        crate::error::or_panic(self.try_unfold(win))
    }

    /// [`try_unfold_batch_inner`](Self::try_unfold_batch_inner); panics if the window does
    /// not fit.
    #[track_caller]
    pub fn unfold_batch_inner(&self, win: &Window2d) -> Tensor<T> {
        crate::error::or_panic(self.try_unfold_batch_inner(win))
    }

    /// Sums windows back into an image; panics on mismatched sizes.
    #[track_caller]
    pub fn fold(&self, output_size: [usize; 2], win: &Window2d) -> Tensor<T> {
        crate::error::or_panic(self.try_fold(output_size, win))
    }
}
