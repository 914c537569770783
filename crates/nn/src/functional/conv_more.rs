//! 1-D convolution and 2-D transposed convolution, composed from autograd ops: conv1d is a
//! conv2d over a height-1 image; conv_transpose2d is conv2d's adjoint, one batched matmul
//! that spreads every input pixel into a `[C_out, kh, kw]` patch followed by `fold`
//! (col2im), which adds the overlapping patches up.

use graft_autograd::Var;
use graft_tensor::{Float, Result, TensorError, Window2d};

use super::{try_conv2d, Conv2dOptions};

/// Geometry of a 1-D convolution beyond its kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv1dOptions {
    /// Step between windows.
    pub stride: usize,
    /// Zero padding on each side.
    pub padding: usize,
    /// Spacing between kernel taps.
    pub dilation: usize,
    /// Channel groups: input and output channels split into this many independent sets.
    pub groups: usize,
}

impl Default for Conv1dOptions {
    fn default() -> Self {
        Conv1dOptions {
            stride: 1,
            padding: 0,
            dilation: 1,
            groups: 1,
        }
    }
}

/// 1-D cross-correlation (PyTorch's `conv1d`): `x` `[N, C, L]`, `weight` `[O, C/groups, k]`,
/// `bias` `[O]` -> `[N, O, L_out]`.
pub fn try_conv1d<T: Float>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    opt: &Conv1dOptions,
) -> Result<Var<T>> {
    if x.ndim() != 3 || weight.ndim() != 3 {
        return Err(TensorError::new(
            "conv1d",
            format!(
                "input {:?}, weight {:?}: expects input [N, C, L] and weight [O, C/groups, k]",
                x.shape(),
                weight.shape()
            ),
        ));
    }
    let (n, c, l) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let (o, cg, k) = (weight.shape()[0], weight.shape()[1], weight.shape()[2]);
    // A length-L signal is a 1 x L image; the kernel a 1 x k one.
    let opt2 = Conv2dOptions {
        stride: [1, opt.stride],
        padding: [0, opt.padding],
        dilation: [1, opt.dilation],
        groups: opt.groups,
    };
    let y = try_conv2d(
        &x.try_reshape(&[n, c, 1, l])?,
        &weight.try_reshape(&[o, cg, 1, k])?,
        bias,
        &opt2,
    )
    .map_err(|e| {
        TensorError::new(
            "conv1d",
            format!(
                "input {:?}, weight {:?}, {opt:?}: {}",
                x.shape(),
                weight.shape(),
                e.message
            ),
        )
    })?;
    let lo = y.shape()[3];
    y.try_reshape(&[n, o, lo])
}

/// [`try_conv1d`], panicking on bad shapes.
#[track_caller]
pub fn conv1d<T: Float>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    opt: &Conv1dOptions,
) -> Var<T> {
    try_conv1d(x, weight, bias, opt).unwrap_or_else(|e| panic!("{e}"))
}

/// Geometry of a 2-D transposed convolution beyond its kernel, in PyTorch's terms: the
/// options of the convolution whose adjoint it is, plus `output_padding`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvTranspose2dOptions {
    /// Stride of the forward convolution: the upsampling factor, `[h, w]`.
    pub stride: [usize; 2],
    /// Padding of the forward convolution: rows/columns cropped from each side of the output.
    pub padding: [usize; 2],
    /// Extra rows/columns added at the bottom/right of the output, to pick one of the
    /// output sizes a strided convolution maps to the same input size. Must be smaller
    /// than the stride or the dilation.
    pub output_padding: [usize; 2],
    /// Spacing between kernel taps, `[h, w]`.
    pub dilation: [usize; 2],
    /// Channel groups.
    pub groups: usize,
}

impl Default for ConvTranspose2dOptions {
    fn default() -> Self {
        ConvTranspose2dOptions {
            stride: [1, 1],
            padding: [0, 0],
            output_padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

impl ConvTranspose2dOptions {
    /// Output height and width for an `h x w` input and a `kernel`, PyTorch's
    /// `(in - 1)·stride - 2·padding + dilation·(kernel - 1) + output_padding + 1`, or
    /// `None` when that is not positive.
    pub fn output_size(&self, h: usize, w: usize, kernel: [usize; 2]) -> Option<[usize; 2]> {
        let one = |d: usize, size: usize| -> Option<usize> {
            let full = (size.checked_sub(1)? * self.stride[d]
                + self.dilation[d] * kernel[d].checked_sub(1)?
                + self.output_padding[d]
                + 1) as isize
                - 2 * self.padding[d] as isize;
            (full > 0).then_some(full as usize)
        };
        Some([one(0, h)?, one(1, w)?])
    }
}

/// 2-D transposed convolution (PyTorch's `conv_transpose2d`), the adjoint of conv2d with
/// the same options: `x` `[N, C_in, H, W]`, `weight` `[C_in, C_out/groups, kh, kw]` (PyTorch's
/// transposed layout), `bias` `[C_out]` -> `[N, C_out, H_out, W_out]`, sizes as in
/// [`ConvTranspose2dOptions::output_size`].
pub fn try_conv_transpose2d<T: Float>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    opt: &ConvTranspose2dOptions,
) -> Result<Var<T>> {
    let bad = |why: String| {
        TensorError::new(
            "conv_transpose2d",
            format!("input {:?}, weight {:?}: {why}", x.shape(), weight.shape()),
        )
    };
    if x.ndim() != 4 || weight.ndim() != 4 {
        return Err(bad(
            "expects input [N, C_in, H, W] and weight [C_in, C_out/groups, kh, kw]".into(),
        ));
    }
    let [n, cin, h, w] = [x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]];
    let [wi, cog, kh, kw] = [
        weight.shape()[0],
        weight.shape()[1],
        weight.shape()[2],
        weight.shape()[3],
    ];
    let g = opt.groups;
    if g == 0 || !cin.is_multiple_of(g) || wi != cin {
        return Err(bad(format!(
            "weight's first dim must be C_in and C_in must split into {g} groups"
        )));
    }
    if opt.stride.contains(&0) || opt.dilation.contains(&0) || kh == 0 || kw == 0 {
        return Err(bad(format!(
            "stride, dilation and kernel must be positive ({opt:?})"
        )));
    }
    for d in 0..2 {
        if opt.output_padding[d] >= opt.stride[d] && opt.output_padding[d] >= opt.dilation[d] {
            return Err(bad(format!(
                "output_padding {:?} must be smaller than either stride {:?} or dilation {:?}",
                opt.output_padding, opt.stride, opt.dilation
            )));
        }
    }
    let [oh, ow] = opt
        .output_size(h, w, [kh, kw])
        .ok_or_else(|| bad(format!("{opt:?} gives an empty output")))?;
    let cout = cog * g;
    let cig = cin / g;
    let kk = kh * kw;
    // Every input pixel times the kernel: [N, C_out*kh*kw, H*W] columns, laid out as
    // `unfold` lays out a convolution's input, so `fold` (unfold's adjoint) sums them.
    let cols = if g == 1 {
        let wt = weight.try_reshape(&[cin, cout * kk])?.try_t()?;
        wt.try_matmul(&x.try_reshape(&[n, cin, h * w])?)?
    } else {
        let wt = weight
            .try_reshape(&[g, cig, cog * kk])?
            .try_transpose(1, 2)?; // [g, cog*kk, cig]
        wt.try_matmul(&x.try_reshape(&[n, g, cig, h * w])?)? // [N, g, cog*kk, H*W]
            .try_reshape(&[n, cout * kk, h * w])?
    };
    let win = Window2d {
        kernel: [kh, kw],
        stride: opt.stride,
        padding: opt.padding,
        dilation: opt.dilation,
    };
    let y = if (0..2).all(|d| opt.output_padding[d] < opt.stride[d]) {
        // The common case: H x W windows of this size fit an oh x ow image padded by
        // `padding`, so fold sums the patches and crops the padding in one pass.
        cols.try_fold([oh, ow], &win)?
    } else {
        // output_padding >= stride (allowed when smaller than the dilation): no symmetric
        // padding of fold gives these sizes, so fold the whole uncropped image, keep rows
        // and columns from `padding` on, and pad with zeros where no patch reaches.
        let full = [
            (h - 1) * opt.stride[0] + opt.dilation[0] * (kh - 1) + 1,
            (w - 1) * opt.stride[1] + opt.dilation[1] * (kw - 1) + 1,
        ];
        let mut y = cols.try_fold(
            full,
            &Window2d {
                padding: [0, 0],
                ..win
            },
        )?;
        for (d, want) in [oh, ow].into_iter().enumerate() {
            // A padding wider than the image crops every patch: then only zeros remain.
            let start = opt.padding[d].min(full[d]);
            let kept = want.min(full[d] - start);
            y = y.try_narrow(2 + d as isize, start, kept)?;
            if kept < want {
                let mut pads = [(0, 0); 2];
                pads[d] = (0, want - kept);
                y = y.try_pad(&pads, T::ZERO)?;
            }
        }
        y
    };
    match bias {
        Some(b) => {
            if b.shape() != [cout] {
                return Err(bad(format!("bias {:?} must be [{cout}]", b.shape())));
            }
            y.try_add(&b.try_reshape(&[cout, 1, 1])?)
        }
        None => Ok(y),
    }
}

/// [`try_conv_transpose2d`], panicking on bad shapes.
#[track_caller]
pub fn conv_transpose2d<T: Float>(
    x: &Var<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
    opt: &ConvTranspose2dOptions,
) -> Var<T> {
    try_conv_transpose2d(x, weight, bias, opt).unwrap_or_else(|e| panic!("{e}"))
}
