//! Builders of the spatial layers in the table: convolutions (1-D, 2-D, transposed),
//! pooling and upsampling, which share their kernel, stride, padding and dilation
//! arguments.

use graft_tensor::Float;
use rand::RngCore;

use super::args::Args;
use super::layers::Built;
use super::parse::Value;
use super::SpecError;
use crate::functional::{Conv1dOptions, Conv2dOptions, ConvTranspose2dOptions};
use crate::{AvgPool2d, Conv1d, Conv2d, ConvTranspose2d, MaxPool2d, Upsample};

/// The arguments every convolution shares, for `N` spatial dims.
struct Conv<const N: usize> {
    cin: usize,
    cout: usize,
    kernel: [usize; N],
    stride: [usize; N],
    dilation: [usize; N],
    groups: usize,
    bias: bool,
}

fn conv_common<const N: usize>(a: &Args<'_>) -> Result<Conv<N>, SpecError> {
    let (cin, cout) = (a.usize("in_channels")?, a.usize("out_channels")?);
    let kernel = a.tuple::<N>("kernel_size")?;
    a.positive("kernel_size", &kernel)?;
    let stride = a.tuple_or("stride", [1; N])?;
    a.positive("stride", &stride)?;
    let dilation = a.tuple_or("dilation", [1; N])?;
    a.positive("dilation", &dilation)?;
    let groups = a.usize_or("groups", 1)?;
    if groups == 0 || cin % groups != 0 || cout % groups != 0 {
        return Err(a.err_at(
            "groups",
            format!("groups={groups} must be positive and divide in_channels={cin} and out_channels={cout}"),
        ));
    }
    let mode = a.str_or("padding_mode", "zeros")?;
    if mode != "zeros" {
        return Err(a.err_at(
            "padding_mode",
            format!("padding_mode='{mode}' is not supported (only 'zeros')"),
        ));
    }
    Ok(Conv {
        cin,
        cout,
        kernel,
        stride,
        dilation,
        groups,
        bias: a.bool_or("bias", true)?,
    })
}

/// A convolution's padding: sizes, `'valid'`, or `'same'` (stride 1, even total padding).
fn conv_padding<const N: usize>(a: &Args<'_>, c: &Conv<N>) -> Result<[usize; N], SpecError> {
    match a.get("padding").map(|n| &n.value) {
        Some(Value::Str(s)) if s == "valid" => Ok([0; N]),
        Some(Value::Str(s)) if s == "same" => {
            if c.stride != [1; N] {
                return Err(a.err_at("padding", "padding='same' needs stride 1"));
            }
            let mut pad = [0; N];
            for (d, p) in pad.iter_mut().enumerate() {
                let total = c.dilation[d] * (c.kernel[d] - 1);
                if !total.is_multiple_of(2) {
                    return Err(a.err_at(
                        "padding",
                        format!("padding='same' with an even effective kernel pads unevenly, which graft's {} does not support", a.layer),
                    ));
                }
                *p = total / 2;
            }
            Ok(pad)
        }
        Some(Value::Str(s)) => Err(a.err_at(
            "padding",
            format!("padding='{s}': expected 'valid', 'same' or sizes"),
        )),
        _ => a.tuple_or("padding", [0; N]),
    }
}

pub(super) fn conv1d<T: Float>(a: &Args<'_>, mut rng: &mut dyn RngCore) -> Built<T> {
    let c = conv_common::<1>(a)?;
    let [padding] = conv_padding(a, &c)?;
    a.check_parameters(&[&[c.cout, c.cin / c.groups.max(1), c.kernel[0]], &[c.cout]])?;
    let options = Conv1dOptions {
        stride: c.stride[0],
        padding,
        dilation: c.dilation[0],
        groups: c.groups,
    };
    Ok(Box::new(Conv1d::<T>::with_options(
        c.cin,
        c.cout,
        c.kernel[0],
        options,
        c.bias,
        &mut rng,
    )))
}

pub(super) fn conv2d<T: Float>(a: &Args<'_>, mut rng: &mut dyn RngCore) -> Built<T> {
    let c = conv_common::<2>(a)?;
    a.check_parameters(&[
        &[c.cout, c.cin / c.groups.max(1), c.kernel[0], c.kernel[1]],
        &[c.cout],
    ])?;
    let options = Conv2dOptions {
        stride: c.stride,
        padding: conv_padding(a, &c)?,
        dilation: c.dilation,
        groups: c.groups,
    };
    Ok(Box::new(Conv2d::<T>::with_options(
        c.cin, c.cout, c.kernel, options, c.bias, &mut rng,
    )))
}

pub(super) fn conv_transpose2d<T: Float>(a: &Args<'_>, mut rng: &mut dyn RngCore) -> Built<T> {
    let c = conv_common::<2>(a)?;
    let output_padding = a.pair_or("output_padding", [0, 0])?;
    for d in 0..2 {
        if output_padding[d] >= c.stride[d] && output_padding[d] >= c.dilation[d] {
            return Err(a.err_at(
                "output_padding",
                format!(
                    "output_padding {output_padding:?} must be smaller than either stride {:?} or dilation {:?}",
                    c.stride, c.dilation
                ),
            ));
        }
    }
    a.check_parameters(&[
        &[c.cin, c.cout / c.groups.max(1), c.kernel[0], c.kernel[1]],
        &[c.cout],
    ])?;
    let options = ConvTranspose2dOptions {
        stride: c.stride,
        padding: a.pair_or("padding", [0, 0])?,
        output_padding,
        dilation: c.dilation,
        groups: c.groups,
    };
    Ok(Box::new(ConvTranspose2d::<T>::with_options(
        c.cin, c.cout, c.kernel, options, c.bias, &mut rng,
    )))
}

/// MaxPool2d and AvgPool2d.
pub(super) fn pool2d<T: Float>(a: &Args<'_>, _: &mut dyn RngCore) -> Built<T> {
    let kernel = a.pair("kernel_size")?;
    a.positive("kernel_size", &kernel)?;
    let stride = if a.is_none("stride") {
        kernel
    } else {
        a.pair("stride")?
    };
    a.positive("stride", &stride)?;
    let padding = a.pair_or("padding", [0, 0])?;
    if padding[0] * 2 > kernel[0] || padding[1] * 2 > kernel[1] {
        return Err(a.err_at(
            "padding",
            format!("padding {padding:?} must be at most half of kernel_size {kernel:?}"),
        ));
    }
    a.require_false("ceil_mode")?;
    if a.layer == "MaxPool2d" {
        if a.pair_or("dilation", [1, 1])? != [1, 1] {
            return Err(a.err_at("dilation", "dilated max pooling is not supported"));
        }
        a.require_false("return_indices")?;
        return Ok(Box::new(MaxPool2d {
            kernel,
            stride,
            padding,
        }));
    }
    if !a.is_none("divisor_override") {
        return Err(a.err_at("divisor_override", "divisor_override is not supported"));
    }
    Ok(Box::new(AvgPool2d {
        kernel,
        stride,
        padding,
        count_include_pad: a.bool_or("count_include_pad", true)?,
    }))
}

/// Upsample with mode 'nearest' and a whole-number scale factor (PyTorch prints it as a
/// float, `scale_factor=2.0`; a tuple of equal factors is accepted too).
pub(super) fn upsample<T: Float>(a: &Args<'_>, _: &mut dyn RngCore) -> Built<T> {
    if !a.is_none("size") {
        return Err(a.err_at("size", "size= is not supported; give scale_factor"));
    }
    let mode = a.str_or("mode", "nearest")?;
    if mode != "nearest" {
        return Err(a.err_at(
            "mode",
            format!("mode='{mode}' is not supported (only 'nearest')"),
        ));
    }
    if a.bool_or("align_corners", false)? {
        return Err(a.err_at("align_corners", "align_corners=True is not supported"));
    }
    let node = a.required("scale_factor")?;
    let whole = |v: &Value| match *v {
        Value::Int(i) if i > 0 => Some(i as usize),
        Value::Float(f) if f >= 1.0 && f.fract() == 0.0 && f < 1e9 => Some(f as usize),
        _ => None,
    };
    let scale = match &node.value {
        Value::Tuple(items) if !items.is_empty() => {
            let all: Option<Vec<usize>> = items.iter().map(|n| whole(&n.value)).collect();
            all.filter(|s| s.iter().all(|&v| v == s[0])).map(|s| s[0])
        }
        v => whole(v),
    };
    let scale = scale.ok_or_else(|| {
        a.expected(
            "scale_factor",
            node,
            "a positive whole number (or a tuple of one such number repeated)",
        )
    })?;
    Ok(Box::new(Upsample::new(scale)))
}
