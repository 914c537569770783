//! Argmax of 2-D max-pooling windows: the index computation behind max pooling, whose
//! values and gradients are then a gather and its scatter-add adjoint.

use crate::element::Float;
use crate::error::{fmt_shape, Result, TensorError};
use crate::kernels::fill_blocks;
use crate::layout::checked_numel;
use crate::storage::try_alloc_uninit;
use crate::tensor::Tensor;
use crate::unfold::Window2d;

impl<T: Float> Tensor<T> {
    /// For each max-pooling window of `[N, C, H, W]`, the flat index `y * W + x` of its
    /// largest element (the first on ties; a NaN wins), as `[N, C, oh * ow]`. Padding acts
    /// as -inf: it is never chosen.
    pub fn try_max_pool2d_indices(&self, win: &Window2d) -> Result<Tensor<i64>> {
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
        let x = self.contiguous();
        let src = x.as_slice().expect("contiguous");
        let plane_out = checked_numel("max_pool2d", &[oh, ow], 8)?;
        let mut out = try_alloc_uninit::<i64>("max_pool2d", &[n, c, plane_out])?;
        let simple = win.padding == [0, 0] && win.dilation == [1, 1];
        let fill = |nc: usize, dst: &mut [i64]| {
            let plane = &src[nc * h * w..(nc + 1) * h * w];
            if simple && win.kernel == [2, 2] && win.stride == [2, 2] {
                // The CNN's pooling: a fixed shape the compiler can unroll and vectorize.
                for oy in 0..oh {
                    let (r0, r1) = (2 * oy * w, (2 * oy + 1) * w);
                    let (top, bottom) = (&plane[r0..r0 + 2 * ow], &plane[r1..r1 + 2 * ow]);
                    let out = &mut dst[oy * ow..(oy + 1) * ow];
                    for (ox, o) in out.iter_mut().enumerate() {
                        let candidates = [
                            (top[2 * ox], r0),
                            (top[2 * ox + 1], r0 + 1),
                            (bottom[2 * ox], r1),
                            (bottom[2 * ox + 1], r1 + 1),
                        ];
                        let (mut best, mut at) = (candidates[0].0, candidates[0].1 + 2 * ox);
                        for &(v, base) in &candidates[1..] {
                            let take = (v > best) | (v.is_nan() & !best.is_nan());
                            at = if take { base + 2 * ox } else { at };
                            best = if take { v } else { best };
                        }
                        *o = at as i64;
                    }
                }
                return;
            }
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
        };
        // The work is every input element read, not the (smaller) output.
        fill_blocks(&mut out, plane_out, src.len(), fill);
        Ok(Tensor::from_buffer(out, &[n, c, plane_out]))
    }
}
