//! Argmax of 2-D max-pooling windows, with the maxima found in the same pass: the index
//! computation behind max pooling, whose values are a gather at those indices and whose
//! gradient is that gather's scatter-add adjoint.

use crate::element::Float;
use crate::error::{fmt_shape, Result, TensorError};
use crate::kernels::par_min_elems;
use crate::layout::checked_numel;
use crate::storage::try_alloc_uninit;
use crate::tensor::Tensor;
use crate::unfold::Window2d;

/// The maxima of four side-by-side 2x2 windows whose top rows are `t` and bottom rows `b`
/// (8 values each), and each maximum's offset from its window's top-left element (0, 1, `w`
/// or `w + 1`, for an input row length `w`). The same choice as the one-window loop: taps in
/// row-major order, a later tap taken when larger, or when it is a NaN and the best so far
/// is not (`!(x <= best)` holds for both; `best == best` for a number).
#[inline(always)]
#[allow(
    clippy::eq_op,
    clippy::neg_cmp_op_on_partial_ord,
    clippy::needless_range_loop
)]
fn four_windows<T: Float>(t: &[T], b: &[T], w: usize) -> ([T; 4], [usize; 4]) {
    let (t, b): (&[T; 8], &[T; 8]) = (t.try_into().expect("8"), b.try_into().expect("8"));
    let mut best = [t[0], t[2], t[4], t[6]];
    let mut off = [0usize; 4];
    for (tap, delta) in [(1usize, 1usize), (2, w), (3, w + 1)] {
        let row = if tap == 1 { t } else { b };
        let col = tap & 1;
        for i in 0..4 {
            let x = row[2 * i + col];
            let take = !(x <= best[i]) & (best[i] == best[i]);
            off[i] = if take { delta } else { off[i] };
            best[i] = if take { x } else { best[i] };
        }
    }
    (best, off)
}

impl<T: Float> Tensor<T> {
    /// For each max-pooling window of `[N, C, H, W]`, the flat index `y * W + x` of its
    /// largest element (the first on ties; a NaN wins), as `[N, C, oh * ow]`. Padding acts
    /// as -inf: it is never chosen.
    pub fn try_max_pool2d_indices(&self, win: &Window2d) -> Result<Tensor<i64>> {
        Ok(self.try_max_pool2d_with_indices(win)?.1)
    }

    /// The maxima of max pooling and their indices, both `[N, C, oh * ow]`, from one pass over
    /// the input: the values are exactly what gathering the input (viewed as
    /// `[N, C, H * W]`) at the indices along dim 2 gives. Indices are as in
    /// [`try_max_pool2d_indices`](Self::try_max_pool2d_indices).
    pub fn try_max_pool2d_with_indices(&self, win: &Window2d) -> Result<(Tensor<T>, Tensor<i64>)> {
        let bad = |why: &str| {
            TensorError::new(
                "max_pool2d",
                format!("input {} window {win:?}: {why}", fmt_shape(self.shape())),
            )
        };
        let [n, c, h, w] = self.nchw("max_pool2d")?;
        if win.padding[0] * 2 > win.kernel[0] || win.padding[1] * 2 > win.kernel[1] {
            return Err(bad("padding must be at most half the kernel"));
        }
        let (oh, ow) = win
            .output_size(h, w)
            .ok_or_else(|| bad("window does not fit"))?;
        if (h == 0 || w == 0) && n > 0 && c > 0 && oh > 0 && ow > 0 {
            // Every window would be all padding: there is no element to choose.
            return Err(bad("the input has no elements to pool"));
        }
        let x = self.contiguous();
        let src = x.as_slice().expect("contiguous");
        let plane_out = checked_numel("max_pool2d", &[oh, ow], 8)?;
        let mut out = try_alloc_uninit::<i64>("max_pool2d", &[n, c, plane_out])?;
        let mut values = try_alloc_uninit::<T>("max_pool2d", &[n, c, plane_out])?;
        let simple = win.padding == [0, 0] && win.dilation == [1, 1];
        let fill = |nc: usize, dst: &mut [i64], val: &mut [T]| {
            let plane = &src[nc * h * w..(nc + 1) * h * w];
            if simple && win.kernel == [2, 2] && win.stride == [2, 2] {
                // The CNN's pooling: a fixed shape, written as selects on whole rows so that
                // the compiler vectorizes it.
                for oy in 0..oh {
                    let (r0, r1) = (2 * oy * w, (2 * oy + 1) * w);
                    let (top, bottom) = (&plane[r0..r0 + 2 * ow], &plane[r1..r1 + 2 * ow]);
                    let out = &mut dst[oy * ow..(oy + 1) * ow];
                    let vals = &mut val[oy * ow..(oy + 1) * ow];
                    // Four windows at a time as 4-lane selects (the compiler turns them into
                    // vector compares and blends); the remaining windows one by one below.
                    let full = ow / 4 * 4;
                    let quads = top[..2 * full].chunks_exact(8).zip(bottom.chunks_exact(8));
                    let outs = out[..full]
                        .chunks_exact_mut(4)
                        .zip(vals.chunks_exact_mut(4));
                    for (q, ((o, v), (t, b))) in outs.zip(quads).enumerate() {
                        let (best, off) = four_windows(t, b, w);
                        for i in 0..4 {
                            o[i] = (r0 + 8 * q + 2 * i + off[i]) as i64;
                            v[i] = best[i];
                        }
                    }
                    let pairs = top[2 * full..]
                        .chunks_exact(2)
                        .zip(bottom[2 * full..].chunks_exact(2));
                    let rest = out[full..].iter_mut().zip(&mut vals[full..]);
                    for (ox, ((o, v), (t, b))) in rest.zip(pairs).enumerate() {
                        let ox = full + ox;
                        let (mut best, mut at) = (t[0], r0 + 2 * ox);
                        for (x, a) in [
                            (t[1], r0 + 2 * ox + 1),
                            (b[0], r1 + 2 * ox),
                            (b[1], r1 + 2 * ox + 1),
                        ] {
                            // Larger, or a NaN over a number (a NaN already chosen stays):
                            // `!(x <= best)` holds for both, and `best == best` for a number.
                            #[allow(clippy::eq_op, clippy::neg_cmp_op_on_partial_ord)]
                            let take = !(x <= best) & (best == best);
                            at = if take { a } else { at };
                            best = if take { x } else { best };
                        }
                        *o = at as i64;
                        *v = best;
                    }
                }
                return;
            }
            // The other shapes find the index, then read the value it names.
            let fill_values = |dst: &[i64], val: &mut [T]| {
                for (v, &i) in val.iter_mut().zip(dst) {
                    *v = plane[i as usize];
                }
            };
            if simple {
                // Every tap is inside the input: no bounds tests in the hot loop.
                for oy in 0..oh {
                    for ox in 0..ow {
                        let corner = oy * win.stride[0] * w + ox * win.stride[1];
                        let (mut at, mut best) = (corner, plane[corner]);
                        for i in 0..win.kernel[0] {
                            let row = corner + i * w;
                            for (j, &v) in plane[row..row + win.kernel[1]].iter().enumerate() {
                                // Larger, or a NaN (a NaN already chosen stays). Written as
                                // selects, not a branch: on real data the comparison is a
                                // coin flip that a branch predictor keeps getting wrong.
                                let take = (v > best) | (v.is_nan() & !best.is_nan());
                                let t = take as usize;
                                at = at * (1 - t) + (row + j) * t;
                                best = if take { v } else { best };
                            }
                        }
                        dst[oy * ow + ox] = at as i64;
                    }
                }
                fill_values(dst, val);
                return;
            }
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut best: Option<(usize, T)> = None;
                    for i in 0..win.kernel[0] {
                        let y = (oy * win.stride[0] + i * win.dilation[0]) as isize
                            - win.padding[0] as isize;
                        if y < 0 || y >= h as isize {
                            continue;
                        }
                        for j in 0..win.kernel[1] {
                            let xx = (ox * win.stride[1] + j * win.dilation[1]) as isize
                                - win.padding[1] as isize;
                            if xx < 0 || xx >= w as isize {
                                continue;
                            }
                            let at = y as usize * w + xx as usize;
                            let v = plane[at];
                            let better = match best {
                                None => true,
                                Some((_, b)) => !b.is_nan() && (v > b || v.is_nan()),
                            };
                            if better {
                                best = Some((at, v));
                            }
                        }
                    }
                    dst[oy * ow + ox] = best.map_or(0, |(at, _)| at as i64);
                }
            }
            fill_values(dst, val);
        };
        if plane_out > 0 {
            // The work is every input element read, not the (smaller) output.
            if src.len() < par_min_elems() {
                let blocks = out.chunks_mut(plane_out).zip(values.chunks_mut(plane_out));
                blocks.enumerate().for_each(|(i, (d, v))| fill(i, d, v));
            } else {
                crate::parallel::for_each_chunk_pair(&mut out, &mut values, plane_out, fill);
            }
        }
        let shape = [n, c, plane_out];
        Ok((
            Tensor::from_buffer(values, &shape),
            Tensor::from_buffer(out, &shape),
        ))
    }
}
