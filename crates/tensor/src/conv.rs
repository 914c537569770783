//! 2-D convolution (cross-correlation with an optional bias, one group) and its two
//! gradients, image by image: each image's columns (im2col, `[C*kh*kw, L]`) are built in a buffer that stays in
//! cache and multiplied there, and each image's result lands in NCHW order directly.
//!
//! Built on the whole batch's columns (`[C*kh*kw, N*L]`, 8.9 MB for the CNN example's second
//! layer at batch 64), every step wrote those columns out, read them back in two products,
//! wrote their gradient and read it again in fold, and permuted the output and its
//! gradient; on a machine whose cache the step's tensors overflow each of those passes ran
//! at memory speed.

use crate::element::Float;
use crate::error::{fmt_shape, plain, Result, TensorError};
use crate::kernels::fill_blocks;
use crate::layout::checked_numel;
use crate::matmul::block_product;
use crate::storage::{alloc_uninit, recycle, try_alloc_uninit};
use crate::tensor::Tensor;
use crate::unfold::{Window2d, RUN};

/// The sizes of one convolution.
#[derive(Clone, Copy)]
struct Dims {
    n: usize,
    c: usize,
    hw: [usize; 2],
    o: usize,
    out: [usize; 2],
    /// Taps per channel (`kh * kw`).
    kk: usize,
}

impl Dims {
    /// Output positions per image.
    fn l(&self) -> usize {
        self.out[0] * self.out[1]
    }
    /// Rows of one image's columns (`C * kh * kw`).
    fn ckk(&self) -> usize {
        self.c * self.kk
    }
    /// Elements of one input plane.
    fn plane(&self) -> usize {
        self.hw[0] * self.hw[1]
    }
    /// The shape the output (and its gradient) has.
    fn out_shape(&self) -> [usize; 4] {
        [self.n, self.o, self.out[0], self.out[1]]
    }
    /// The error for an output gradient `g` of another shape than the output's.
    fn check_grad(&self, op: &str, g: &[usize]) -> Result<()> {
        if g == self.out_shape() {
            return Ok(());
        }
        Err(TensorError::shape_mismatch(
            op,
            format!(
                "gradient {} does not match the convolution's output {}",
                fmt_shape(g),
                fmt_shape(&self.out_shape())
            ),
        ))
    }
}

/// Checks `x` (`[N, C, H, W]`) against `weight` (`[O, C, kh, kw]`, kernel as in `win`) and
/// returns the sizes, or an error naming `op` and the shapes (or the size that is too large).
fn dims(
    op: &str,
    x: &[usize],
    weight: &[usize],
    win: &Window2d,
    elem_bytes: usize,
) -> Result<Dims> {
    let bad = |why: &str| {
        TensorError::shape_mismatch(
            op,
            format!(
                "input {} and weight {} with window {win:?}: {why}",
                fmt_shape(x),
                fmt_shape(weight)
            ),
        )
    };
    let (&[n, c, h, w], &[o, wc, kh, kw]) = (x, weight) else {
        return Err(bad("expects input [N, C, H, W] and weight [O, C, kh, kw]"));
    };
    if wc != c || [kh, kw] != win.kernel {
        return Err(bad("the weight's channels or kernel do not match"));
    }
    let (oh, ow) = win
        .output_size(h, w)
        .ok_or_else(|| bad("the window does not fit"))?;
    // The output and one image's columns must be representable (padding can make them
    // far larger than the input); below, their sizes multiply without checks.
    checked_numel(op, &[n, o, oh, ow], elem_bytes)?;
    checked_numel(op, &[c, kh, kw, oh, ow], elem_bytes)?;
    Ok(Dims {
        n,
        c,
        hw: [h, w],
        o,
        out: [oh, ow],
        kk: kh * kw,
    })
}

/// Image `b`'s columns (`[C*kh*kw, L]`, each row a tap of one channel) into `cols`, which
/// has `RUN` elements of slack after them (`fill_tap` may copy ahead).
fn unfold_image<T: Float>(x: &[T], b: usize, d: &Dims, win: &Window2d, cols: &mut [T]) {
    for ch in 0..d.c {
        let src = &x[(b * d.c + ch) * d.plane()..];
        win.unfold_plane(src, d.hw, d.out, &mut cols[ch * d.kk * d.l()..]);
    }
}

/// A scratch buffer of `len` elements plus `RUN` of slack, from the buffer pool.
fn scratch<T: Float>(len: usize) -> Vec<T> {
    alloc_uninit::<T>(len + RUN)
}

/// Checks before the images are shared out that one image's scratch (`len` elements) can be
/// allocated, and leaves it in the pool for the first image: one image's columns can be far
/// larger than the input or the output (wide padding), and a task could only panic.
fn check_scratch<T: Float>(op: &str, len: usize) -> Result<()> {
    recycle(try_alloc_uninit::<T>(op, &[len + RUN])?);
    Ok(())
}

impl<T: Float> Tensor<T> {
    /// 2-D cross-correlation of `self` (`[N, C, H, W]`) with `weight` (`[O, C, kh, kw]`, the
    /// kernel of `win`) with `win`'s stride, padding and dilation, plus `bias` (`[O]`) per
    /// output channel if given: `[N, O, oh, ow]`.
    pub fn try_conv2d(
        &self,
        weight: &Tensor<T>,
        bias: Option<&Tensor<T>>,
        win: &Window2d,
    ) -> Result<Tensor<T>> {
        let d = dims("conv2d", self.shape(), weight.shape(), win, size_of::<T>())?;
        if let Some(b) = bias.filter(|b| b.shape() != [d.o]) {
            return Err(TensorError::shape_mismatch(
                "conv2d",
                format!(
                    "bias {} for weight {}: expects [{}]",
                    fmt_shape(b.shape()),
                    fmt_shape(weight.shape()),
                    d.o
                ),
            ));
        }
        let (ckk, l) = (d.ckk(), d.l());
        let mut out = try_alloc_uninit::<T>("conv2d", &d.out_shape())?;
        check_scratch::<T>("conv2d", ckk * l)?;
        let x = self.contiguous();
        let x = x.as_slice().expect("contiguous");
        // The weight transposed once (`[C*kh*kw, O]`): where matrixmultiply runs (CPUs
        // without AVX-512), it packs A for every image, then with plain copies instead of
        // gathers; graft's own gemm reads either layout in place.
        let w_t = weight
            .try_reshape(&[d.o, ckk])?
            .try_transpose(0, 1)?
            .contiguous();
        let w_t = w_t.as_slice().expect("contiguous");
        let bias = bias.map(|b| b.to_vec());
        let image = |b: usize, y: &mut [T]| {
            let mut cols = scratch::<T>(ckk * l);
            unfold_image(x, b, &d, win, &mut cols);
            // w_t read transposed: [O, C*kh*kw] @ cols [C*kh*kw, L].
            let w_st = [1, d.o as isize];
            block_product(
                (d.o, ckk, l),
                (w_t, w_st),
                (&cols, [l as isize, 1]),
                y,
                false,
            );
            recycle(cols);
            // The bias while the image's output is still in cache.
            if let Some(bias) = &bias {
                for (row, &v) in y.chunks_mut(l.max(1)).zip(bias) {
                    row.iter_mut().for_each(|e| *e += v);
                }
            }
        };
        fill_blocks(&mut out, d.o * l, out_work(&d), image);
        Ok(Tensor::from_buffer(out, &d.out_shape()))
    }

    /// The gradient of [`try_conv2d`](Self::try_conv2d) with respect to its input, from the
    /// output's gradient `self` (`[N, O, oh, ow]`): `[N, C, H, W]` for an input of `size`
    /// `[H, W]` (the transposed convolution).
    pub fn try_conv2d_input_grad(
        &self,
        weight: &Tensor<T>,
        win: &Window2d,
        size: [usize; 2],
    ) -> Result<Tensor<T>> {
        let op = "conv2d_input_grad";
        let [o, c] = match weight.shape() {
            &[o, c, _, _] => [o, c],
            _ => [0, 0],
        };
        let x_shape = [
            self.shape().first().copied().unwrap_or(0),
            c,
            size[0],
            size[1],
        ];
        let d = dims(op, &x_shape, weight.shape(), win, size_of::<T>())?;
        d.check_grad(op, self.shape())?;
        let (ckk, l) = (d.ckk(), d.l());
        let mut dx = try_alloc_uninit::<T>(op, &x_shape)?;
        check_scratch::<T>(op, ckk * l)?;
        let g = self.contiguous();
        let g = g.as_slice().expect("contiguous");
        // `[O, C*kh*kw]` read as the transposed left operand `[C*kh*kw, O]`.
        let w = weight.contiguous();
        let w = w.as_slice().expect("contiguous");
        let image = |b: usize, dx_b: &mut [T]| {
            let mut cols = scratch::<T>(ckk * l);
            let g_b = &g[b * o * l..(b + 1) * o * l];
            let w_st = [1, ckk as isize];
            block_product(
                (ckk, o, l),
                (w, w_st),
                (g_b, [l as isize, 1]),
                &mut cols,
                false,
            );
            for (ch, dst) in dx_b.chunks_mut(d.plane()).enumerate() {
                win.fold_plane(&cols[ch * d.kk * l..], l, d.hw, d.out, dst);
            }
            recycle(cols);
        };
        fill_blocks(&mut dx, d.c * d.plane(), out_work(&d), image);
        Ok(Tensor::from_buffer(dx, &x_shape))
    }

    /// The gradient of [`try_conv2d`](Self::try_conv2d) with respect to its weight
    /// (`[O, C, kh, kw]`), from the input `self` and the output's gradient `g`.
    pub fn try_conv2d_weight_grad(&self, g: &Tensor<T>, win: &Window2d) -> Result<Tensor<T>> {
        let op = "conv2d_weight_grad";
        let o = if g.ndim() == 4 { g.shape()[1] } else { 0 };
        let c = if self.ndim() == 4 { self.shape()[1] } else { 0 };
        let w_shape = [o, c, win.kernel[0], win.kernel[1]];
        let d = dims(op, self.shape(), &w_shape, win, size_of::<T>())?;
        d.check_grad(op, g.shape())?;
        let (ckk, l) = (d.ckk(), d.l());
        check_scratch::<T>(op, ckk * l)?;
        let x = self.contiguous();
        let x = x.as_slice().expect("contiguous");
        let g = g.contiguous();
        let g = g.as_slice().expect("contiguous");
        // Partial sums over fixed runs of images, summed over the runs at the end: the runs
        // depend on the batch size only, so the bits do not depend on the number of threads.
        let runs = d.n.clamp(1, WEIGHT_GRAD_RUNS);
        let per_run = d.n.div_ceil(runs);
        let mut partial = try_alloc_uninit::<T>(op, &[runs, d.o, ckk])?;
        let run = |r: usize, dw: &mut [T]| {
            dw.fill(T::ZERO);
            let mut cols = scratch::<T>(ckk * l);
            for b in r * per_run..((r + 1) * per_run).min(d.n) {
                unfold_image(x, b, &d, win, &mut cols);
                // dw += g_b [O, L] @ cols^T [L, C*kh*kw]
                let g_b = &g[b * d.o * l..(b + 1) * d.o * l];
                let (g_st, cols_t_st) = ([l as isize, 1], [1, l as isize]);
                block_product((d.o, l, ckk), (g_b, g_st), (&cols, cols_t_st), dw, true);
            }
            recycle(cols);
        };
        fill_blocks(&mut partial, d.o * ckk, out_work(&d), run);
        let partial = Tensor::from_buffer(partial, &[runs, d.o, d.c, w_shape[2], w_shape[3]]);
        partial.try_sum_dims(&[0], false)
    }

    plain! {
        /// 2-D cross-correlation (see [`try_conv2d`](Self::try_conv2d)).
        fn conv2d => try_conv2d(weight: &Tensor<T>, bias: Option<&Tensor<T>>, win: &Window2d) -> Tensor<T>;
        /// The input gradient of a convolution (see
        /// [`try_conv2d_input_grad`](Self::try_conv2d_input_grad)).
        fn conv2d_input_grad => try_conv2d_input_grad(weight: &Tensor<T>, win: &Window2d, size: [usize; 2]) -> Tensor<T>;
        /// The weight gradient of a convolution (see
        /// [`try_conv2d_weight_grad`](Self::try_conv2d_weight_grad)).
        fn conv2d_weight_grad => try_conv2d_weight_grad(g: &Tensor<T>, win: &Window2d) -> Tensor<T>;
    }
}

/// How many partial weight gradients a batch is summed in (one per run of images).
const WEIGHT_GRAD_RUNS: usize = 8;

/// The work of one convolution's pass, in elements, for the parallel threshold: every image
/// builds its `[C*kh*kw, L]` columns.
fn out_work(d: &Dims) -> usize {
    d.n.saturating_mul(d.ckk()).saturating_mul(d.l())
}
