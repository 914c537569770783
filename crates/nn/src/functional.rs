//! Every layer as a plain function on Vars, composed from autograd ops.

use graft_autograd::{no_grad, Var};
use graft_tensor::{or_panic, Float, Result, Tensor, TensorError, Window2d};
use rand::Rng;

mod attention;
mod recurrent;
mod transformer;

pub use attention::{
    causal_mask, scaled_dot_product_attention, try_multi_head_attention,
    try_scaled_dot_product_attention, AttnMask, MhaOptions, MhaWeights, SdpaOptions,
};
pub use recurrent::{rnn, try_rnn, RnnCellWeights, RnnMode, RnnOptions, RnnOutput};
pub use transformer::{
    try_transformer_encoder_layer, EncoderLayerOptions, EncoderLayerWeights, FeedForwardActivation,
};

/// `x @ weightᵀ + bias` with `weight` `[out, in]`; `x` may have extra leading dims.
pub fn try_linear<T: Float>(x: &Var<T>, weight: &Var<T>, bias: Option<&Var<T>>) -> Result<Var<T>> {
    if weight.ndim() != 2 || x.ndim() == 0 || x.shape()[x.ndim() - 1] != weight.shape()[1] {
        return Err(TensorError::shape_mismatch(
            "linear",
            format!(
                "input {:?} does not match weight {:?} ([out, in])",
                x.shape(),
                weight.shape()
            ),
        ));
    }
    if x.ndim() > 2 {
        // [..., in] as one [M, in] matrix: a batched product against a broadcast weight
        // would compute the weight's gradient as M/rows separate products and then sum a
        // [batch, out, in] tensor; as one matrix it is a single product.
        let lead = &x.shape()[..x.ndim() - 1];
        let rows: usize = lead.iter().product();
        let mut out_shape = lead.to_vec();
        out_shape.push(weight.shape()[0]);
        let flat = x.try_reshape(&[rows, weight.shape()[1]])?;
        return try_linear(&flat, weight, bias)?.try_reshape(&out_shape);
    }
    let y = x.try_matmul(&weight.t())?;
    match bias {
        Some(b) => y.try_add(b),
        None => Ok(y),
    }
}

/// [`try_linear`], panicking on a shape mismatch.
#[track_caller]
pub fn linear<T: Float>(x: &Var<T>, weight: &Var<T>, bias: Option<&Var<T>>) -> Var<T> {
    or_panic(try_linear(x, weight, bias))
}

/// Geometry of a 2-D convolution or pooling beyond its kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dOptions {
    /// Step between windows, `[h, w]`.
    pub stride: [usize; 2],
    /// Zero padding on each side, `[h, w]`.
    pub padding: [usize; 2],
    /// Spacing between kernel taps, `[h, w]`.
    pub dilation: [usize; 2],
    /// Channel groups: input and output channels are split into this many independent sets.
    pub groups: usize,
}

impl Conv2dOptions {
    /// The window these options give a kernel of `[kh, kw]` (groups aside).
    pub fn window(&self, kernel: [usize; 2]) -> Window2d {
        Window2d {
            kernel,
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
        }
    }
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

/// Output positions per image from which a one-group convolution runs image by image
/// (`Var::try_conv2d`: each image's columns built and multiplied in cache). Below it each
/// image's product is only a few columns wide. Measured alone (3x3, batch 64, forward and
/// both gradients, 2 threads, warm caches): the batch's one product 1.27x and 1.19x faster
/// at 16 and 49 positions, even at 64-100, the image-by-image path 1.18x faster at 169 and 1.8x at 784
/// (and more inside a training step, whose tensors no longer fit the cache).
const PER_IMAGE_MIN_POSITIONS: usize = 64;

/// 2-D cross-correlation (PyTorch's `conv2d`): `x` `[N, C, H, W]`, `weight`
/// `[O, C/groups, kh, kw]`. With one group and at least `PER_IMAGE_MIN_POSITIONS` output
/// positions, the convolution primitive (image by image); otherwise unfold (im2col)
/// followed by one batched matmul.
pub fn try_conv2d<T: Float>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    opt: &Conv2dOptions,
) -> Result<Var<T>> {
    let bad = |why: &str| {
        TensorError::new(
            "conv2d",
            format!("input {:?}, weight {:?}: {why}", x.shape(), weight.shape()),
        )
    };
    if x.ndim() != 4 || weight.ndim() != 4 {
        return Err(bad(
            "expects input [N, C, H, W] and weight [O, C/groups, kh, kw]",
        ));
    }
    let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (o, cg, kh, kw) = (
        weight.shape()[0],
        weight.shape()[1],
        weight.shape()[2],
        weight.shape()[3],
    );
    let g = opt.groups;
    if g == 0 || c % g != 0 || o % g != 0 || cg != c / g {
        return Err(bad(&format!("channels do not split into {g} groups")));
    }
    let win = opt.window([kh, kw]);
    let (oh, ow) = win
        .output_size(h, w)
        .ok_or_else(|| bad(&format!("window {win:?} does not fit")))?;
    if g == 1 && oh.saturating_mul(ow) >= PER_IMAGE_MIN_POSITIONS {
        return x.try_conv2d(weight, bias, &win);
    }
    // The columns of the whole batch as one `[C*kh*kw, N*L]` matrix (a view of unfold's
    // batch-inner storage), so the forward and both gradients are each one tall matrix
    // product rather than N small ones: the weight is packed once, and the weight's gradient
    // sums over the batch inside the product instead of in an `[N, O, C*kh*kw]` temporary.
    let l = oh * ow;
    let ckk = cg * kh * kw;
    let cols = x
        .try_unfold_batch_inner(&win)? // [N, C*kh*kw, L], stored [C*kh*kw, N, L]
        .try_permute(&[1, 0, 2])?
        .try_reshape(&[c * kh * kw, n * l])?;
    let out = if g == 1 {
        weight.try_reshape(&[o, ckk])?.try_matmul(&cols)? // [O, N*L]
    } else {
        let cols = cols.try_reshape(&[g, ckk, n * l])?;
        let wg = weight.try_reshape(&[g, o / g, ckk])?;
        wg.try_matmul(&cols)?.try_reshape(&[o, n * l])?
    };
    // `[O, N, oh, ow]` viewed as `[N, O, oh, ow]`; the bias add writes it out in NCHW order.
    let out = out
        .try_reshape(&[o, n, oh, ow])?
        .try_permute(&[1, 0, 2, 3])?;
    match bias {
        Some(b) => out.try_add(&b.try_reshape(&[o, 1, 1])?),
        None => Ok(out),
    }
}

/// [`try_conv2d`], panicking on bad shapes.
#[track_caller]
pub fn conv2d<T: Float>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    opt: &Conv2dOptions,
) -> Var<T> {
    or_panic(try_conv2d(x, weight, bias, opt))
}

/// Sliding windows of every channel separately: `[N, C, H, W]` -> `[N, C, kh*kw, oh, ow]`.
fn windows<T: Float>(op: &str, x: &Var<T>, win: &Window2d) -> Result<(Var<T>, usize, usize)> {
    if x.ndim() != 4 {
        return Err(TensorError::new(
            op,
            format!("expects input [N, C, H, W], got {:?}", x.shape()),
        ));
    }
    let (n, c, h, w) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    let (oh, ow) = win.output_size(h, w).ok_or_else(|| {
        TensorError::shape_mismatch(
            op,
            format!("window {win:?} does not fit input {:?}", x.shape()),
        )
    })?;
    let kk = win.kernel[0] * win.kernel[1];
    let cols = x.try_reshape(&[n * c, 1, h, w])?.try_unfold(win)?; // [N*C, kk, L]
    Ok((cols.try_reshape(&[n, c, kk, oh, ow])?, oh, ow))
}

/// Max over `kernel` windows (implicit padding is -inf, as PyTorch).
///
/// The argmax of each window is found on the values (no gradient flows through a choice)
/// and the output is the gather of those elements, recorded from the argmax pass itself (see
/// `Var::try_max_pool2d`): so the gradient goes to the argmax, as in PyTorch, through
/// gather's scatter-add adjoint, in one pass each way.
pub fn try_max_pool2d<T: Float>(
    x: &Var<T>,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Result<Var<T>> {
    let win = Window2d::new(kernel).stride(stride).padding(padding);
    x.try_max_pool2d(&win)
}

/// [`try_max_pool2d`], panicking on bad shapes.
#[track_caller]
pub fn max_pool2d<T: Float>(
    x: &Var<T>,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
) -> Var<T> {
    or_panic(try_max_pool2d(x, kernel, stride, padding))
}

/// Mean over `kernel` windows of the zero-padded input. With `count_include_pad` false the
/// divisor counts only positions inside the unpadded input.
pub fn try_avg_pool2d<T: Float>(
    x: &Var<T>,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    count_include_pad: bool,
) -> Result<Var<T>> {
    let win = Window2d::new(kernel).stride(stride).padding(padding);
    let (cols, oh, ow) = windows("avg_pool2d", x, &win)?;
    let sums = cols.try_sum_dims(&[2], false)?;
    if count_include_pad || padding == [0, 0] {
        return Ok(sums.div_scalar(T::from_f64((kernel[0] * kernel[1]) as f64)));
    }
    let ones = Tensor::<T>::ones(&[1, 1, x.shape()[2], x.shape()[3]]);
    let counts = ones
        .try_unfold(&win)?
        .try_sum_dims(&[1], false)?
        .try_reshape(&[1, 1, oh, ow])?;
    sums.try_div(&Var::new(counts))
}

/// [`try_avg_pool2d`], panicking on bad shapes.
#[track_caller]
pub fn avg_pool2d<T: Float>(
    x: &Var<T>,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    count_include_pad: bool,
) -> Var<T> {
    or_panic(try_avg_pool2d(
        x,
        kernel,
        stride,
        padding,
        count_include_pad,
    ))
}

/// Average pooling to `[oh, ow]`; supports sizes that divide the input evenly (1x1 always).
pub fn try_adaptive_avg_pool2d<T: Float>(x: &Var<T>, output: [usize; 2]) -> Result<Var<T>> {
    if x.ndim() != 4 {
        return Err(TensorError::new(
            "adaptive_avg_pool2d",
            format!("expects [N, C, H, W], got {:?}", x.shape()),
        ));
    }
    let (h, w) = (x.shape()[2], x.shape()[3]);
    if output == [1, 1] {
        return x.try_mean_dims(&[2, 3], true);
    }
    if output[0] == 0 || output[1] == 0 || h % output[0] != 0 || w % output[1] != 0 {
        return Err(TensorError::new(
            "adaptive_avg_pool2d",
            format!(
                "output size {output:?} must divide the input size [{h}, {w}] (input {:?})",
                x.shape()
            ),
        ));
    }
    let k = [h / output[0], w / output[1]];
    try_avg_pool2d(x, k, k, [0, 0], true)
}

/// Checks a dropout probability as PyTorch does: `p` in [0, 1]. NaN is refused too (it
/// would compare false against every draw and drop everything); `op` names the caller.
pub(crate) fn check_dropout_p(op: &str, p: f64) -> Result<()> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(TensorError::new(
            op,
            format!("dropout probability has to be between 0 and 1, but got {p}"),
        ))
    }
}

/// Zeroes each element with probability `p` and scales the rest by 1/(1-p) when
/// `training`; the identity otherwise. A `p` outside [0, 1] (or NaN) is an error.
pub fn try_dropout<T: Float>(
    x: &Var<T>,
    p: f64,
    training: bool,
    rng: &mut impl Rng,
) -> Result<Var<T>> {
    check_dropout_p("dropout", p)?;
    if !training || p == 0.0 {
        return Ok(x.clone());
    }
    if p >= 1.0 {
        return Ok(x.mul_scalar(T::ZERO));
    }
    let keep = T::from_f64(1.0 / (1.0 - p));
    let mask: Vec<T> = (0..x.numel())
        .map(|_| if rng.gen::<f64>() >= p { keep } else { T::ZERO })
        .collect();
    x.try_mul(&Var::new(Tensor::from_vec(mask, x.shape())))
}

/// [`try_dropout`], panicking with its message on an invalid `p`.
#[track_caller]
pub fn dropout<T: Float>(x: &Var<T>, p: f64, training: bool, rng: &mut impl Rng) -> Var<T> {
    or_panic(try_dropout(x, p, training, rng))
}

/// PyTorch's `padding_idx` for a table of `num` rows: a negative one counts from the end
/// (`-1` is the last row); one outside `-num..num` is an error naming `op` and the value.
pub(crate) fn normalize_padding_idx(op: &str, padding_idx: i64, num: usize) -> Result<i64> {
    let n = i64::try_from(num).unwrap_or(i64::MAX);
    if padding_idx >= n || padding_idx < -n {
        return Err(TensorError::index_out_of_range(
            op,
            format!(
                "padding_idx {padding_idx} must be within num_embeddings {num} (from -{num} to {})",
                n - 1
            ),
        ));
    }
    Ok(if padding_idx < 0 {
        padding_idx + n
    } else {
        padding_idx
    })
}

/// Shape `[1, C, 1, ...]` that lines a per-channel vector up with dim 1 of `x`.
fn channel_shape(x: &[usize]) -> Vec<usize> {
    let mut s = vec![1; x.len()];
    s[1] = x[1];
    s
}

/// Batch normalisation over dim 1 of `[N, C]`, `[N, C, L]` or `[N, C, H, W]`.
///
/// In training, normalises with the batch's mean and biased variance (gradients flow
/// through both) and, when running statistics are given, updates them in place:
/// `r ← (1 - momentum)·r + momentum·stat`, with the unbiased variance. In evaluation it
/// uses the running statistics.
#[allow(clippy::too_many_arguments)]
pub fn try_batch_norm<T: Float>(
    x: &Var<T>,
    running_mean: Option<&Var<T>>,
    running_var: Option<&Var<T>>,
    weight: Option<&Var<T>>,
    bias: Option<&Var<T>>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> Result<Var<T>> {
    if x.ndim() < 2 {
        return Err(TensorError::new(
            "batch_norm",
            format!("expects [N, C, ...], got {:?}", x.shape()),
        ));
    }
    let cs = channel_shape(x.shape());
    let axes: Vec<isize> = (0..x.ndim() as isize).filter(|&d| d != 1).collect();
    let (mean, var) = if training {
        if x.numel() / x.shape()[1].max(1) == 1 {
            // PyTorch refuses too: the batch variance of one value is 0, and the output
            // would silently be β for every input.
            return Err(TensorError::new(
                "batch_norm",
                format!(
                    "expected more than 1 value per channel when training, got input size {:?}",
                    x.shape()
                ),
            ));
        }
        let mean = x.try_mean_dims(&axes, true)?;
        let var = x.try_var_dims(&axes, 0, true)?;
        let n = x.numel() / x.shape()[1];
        if let (Some(rm), Some(rv)) = (running_mean, running_var) {
            let m = T::from_f64(momentum);
            let unbiased = T::from_f64(n as f64 / (n as f64 - 1.0).max(1.0));
            no_grad(|| -> Result<()> {
                let new_mean = rm
                    .value()
                    .mul_scalar(T::ONE - m)
                    .try_add(&mean.value().reshape(rm.shape()).mul_scalar(m))?;
                let batch_var = var.value().reshape(rv.shape()).mul_scalar(unbiased * m);
                let new_var = rv.value().mul_scalar(T::ONE - m).try_add(&batch_var)?;
                rm.try_set_value(new_mean)?;
                rv.try_set_value(new_var)
            })?;
        }
        (mean, var)
    } else {
        let (rm, rv) = running_mean.zip(running_var).ok_or_else(|| {
            TensorError::new(
                "batch_norm",
                "evaluation mode needs running_mean and running_var",
            )
        })?;
        (
            Var::new(rm.value().try_reshape(&cs)?),
            Var::new(rv.value().try_reshape(&cs)?),
        )
    };
    let normalized = x
        .try_sub(&mean)?
        .try_div(&var.add_scalar(T::from_f64(eps)).sqrt())?;
    affine(normalized, weight, bias, &cs)
}

fn affine<T: Float>(
    y: Var<T>,
    weight: Option<&Var<T>>,
    bias: Option<&Var<T>>,
    shape: &[usize],
) -> Result<Var<T>> {
    let y = match weight {
        Some(w) => y.try_mul(&w.try_reshape(shape)?)?,
        None => y,
    };
    match bias {
        Some(b) => y.try_add(&b.try_reshape(shape)?),
        None => Ok(y),
    }
}

/// Layer normalisation over the last `normalized_shape.len()` dims (biased variance).
pub fn try_layer_norm<T: Float>(
    x: &Var<T>,
    normalized_shape: &[usize],
    weight: Option<&Var<T>>,
    bias: Option<&Var<T>>,
    eps: f64,
) -> Result<Var<T>> {
    let k = normalized_shape.len();
    if k == 0 || k > x.ndim() || x.shape()[x.ndim() - k..] != *normalized_shape {
        return Err(TensorError::new(
            "layer_norm",
            format!(
                "normalized_shape {normalized_shape:?} does not end input shape {:?}",
                x.shape()
            ),
        ));
    }
    let axes: Vec<isize> = (x.ndim() - k..x.ndim()).map(|d| d as isize).collect();
    let mean = x.try_mean_dims(&axes, true)?;
    let var = x.try_var_dims(&axes, 0, true)?;
    let y = x
        .try_sub(&mean)?
        .try_div(&var.add_scalar(T::from_f64(eps)).sqrt())?;
    affine(y, weight, bias, normalized_shape)
}

/// Rows of `weight` `[num, dim]` picked by `indices` (any shape) -> `[..., dim]`. The row
/// `padding_idx` (negative counts from the end, as in PyTorch) is read but gets no
/// gradient; one outside the table is an error.
pub fn try_embedding<T: Float>(
    indices: &Tensor<i64>,
    weight: &Var<T>,
    padding_idx: Option<i64>,
) -> Result<Var<T>> {
    if weight.ndim() != 2 {
        return Err(TensorError::new(
            "embedding",
            format!("weight must be [num, dim], got {:?}", weight.shape()),
        ));
    }
    let flat = indices.reshape(&[indices.numel()]);
    let mut shape = indices.shape().to_vec();
    shape.push(weight.shape()[1]);
    let rows = weight.try_index_select(0, &flat)?;
    let padding_idx = padding_idx
        .map(|p| normalize_padding_idx("embedding", p, weight.shape()[0]))
        .transpose()?;
    let rows = match padding_idx {
        Some(p) => {
            let is_pad = flat.eq_scalar(p).reshape(&[flat.numel(), 1]);
            Var::try_where_cond(&is_pad, &rows.detach(), &rows)?
        }
        None => rows,
    };
    rows.try_reshape(&shape)
}

/// max(x, 0).
pub fn relu<T: Float>(x: &Var<T>) -> Var<T> {
    x.relu()
}

/// x for x > 0, else slope·x.
pub fn leaky_relu<T: Float>(x: &Var<T>, slope: T) -> Var<T> {
    x.leaky_relu(slope)
}

/// Logistic sigmoid.
pub fn sigmoid<T: Float>(x: &Var<T>) -> Var<T> {
    x.sigmoid()
}

/// Hyperbolic tangent.
pub fn tanh<T: Float>(x: &Var<T>) -> Var<T> {
    x.tanh()
}

/// GELU, exact (`approximate = false`) or tanh-approximated.
pub fn gelu<T: Float>(x: &Var<T>, approximate: bool) -> Var<T> {
    x.gelu(approximate)
}

/// Softplus with PyTorch's `beta` and `threshold`.
pub fn softplus<T: Float>(x: &Var<T>, beta: T, threshold: T) -> Var<T> {
    x.softplus(beta, threshold)
}

/// Softmax along `dim`.
#[track_caller]
pub fn softmax<T: Float>(x: &Var<T>, dim: isize) -> Var<T> {
    x.softmax(dim)
}

/// Log-softmax along `dim`.
#[track_caller]
pub fn log_softmax<T: Float>(x: &Var<T>, dim: isize) -> Var<T> {
    x.log_softmax(dim)
}

/// Adaptive average pooling to `output` (`[1, 1]`: global average pooling).
///
/// Panics with the message of [`try_adaptive_avg_pool2d`].
#[track_caller]
pub fn adaptive_avg_pool2d<T: Float>(x: &Var<T>, output: [usize; 2]) -> Var<T> {
    or_panic(try_adaptive_avg_pool2d(x, output))
}

mod channels;
mod conv_more;
pub use channels::*;
pub use conv_more::*;
