//! The one table of layers the spec parser knows: each entry's name, PyTorch's argument
//! names in order, and the function that builds it. Adding a layer is adding a row.

use graft_tensor::Float;
use rand::{Rng, RngCore};

use super::args::Args;
use super::layers_conv::{conv1d, conv2d, conv_transpose2d, pool2d, upsample};
use super::{build_sequential, SpecError};
use crate::module::Module;
use crate::{
    AdaptiveAvgPool2d, BatchNorm, Dropout, Dropout2d, Embedding, Flatten, Gelu, GroupNorm,
    LayerNorm, LeakyRelu, Linear, LogSoftmax, Relu, Sequential, Sigmoid, Softmax, Softplus, Tanh,
};

/// What a layer's builder returns.
pub(super) type Built<T> = Result<Box<dyn Module<T>>, SpecError>;

/// Builds a layer from its bound arguments, drawing initial parameters from the RNG.
pub(super) type Build<T> = fn(&Args<'_>, &mut dyn RngCore) -> Built<T>;

/// How a layer's arguments are read.
pub(super) enum Params {
    /// Positional or keyword arguments, PyTorch's names in PyTorch's order.
    Named(&'static [&'static str]),
    /// Child layers (Sequential).
    Children,
    /// Anything, ignored (Identity, as in PyTorch).
    Ignored,
}

/// One row of the table.
pub(super) struct LayerDef<T: Float> {
    /// The PyTorch class name.
    pub(super) name: &'static str,
    /// Its arguments.
    pub(super) params: Params,
    /// Its builder.
    pub(super) build: Build<T>,
}

const CONV: &[&str] = &[
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "groups",
    "bias",
    "padding_mode",
];
const CONV_TRANSPOSE: &[&str] = &[
    "in_channels",
    "out_channels",
    "kernel_size",
    "stride",
    "padding",
    "output_padding",
    "groups",
    "bias",
    "dilation",
    "padding_mode",
];
const MAX_POOL: &[&str] = &[
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "return_indices",
    "ceil_mode",
];
const AVG_POOL: &[&str] = &[
    "kernel_size",
    "stride",
    "padding",
    "ceil_mode",
    "count_include_pad",
    "divisor_override",
];
const BATCH_NORM: &[&str] = &[
    "num_features",
    "eps",
    "momentum",
    "affine",
    "track_running_stats",
];
const EMBEDDING: &[&str] = &[
    "num_embeddings",
    "embedding_dim",
    "padding_idx",
    "max_norm",
    "norm_type",
    "scale_grad_by_freq",
    "sparse",
];
const UPSAMPLE: &[&str] = &[
    "size",
    "scale_factor",
    "mode",
    "align_corners",
    "recompute_scale_factor",
];

/// Every layer the spec parser builds.
pub(super) fn table<T: Float>() -> Vec<LayerDef<T>> {
    use Params::{Children, Ignored, Named};
    let row = |name, params, build: Build<T>| LayerDef {
        name,
        params,
        build,
    };
    vec![
        row("Sequential", Children, |a, rng| {
            Ok(Box::new(build_sequential::<T>(a.spec, a.node, rng)?))
        }),
        row(
            "Linear",
            Named(&["in_features", "out_features", "bias"]),
            linear,
        ),
        row("Conv1d", Named(CONV), conv1d),
        row("Conv2d", Named(CONV), conv2d),
        row("ConvTranspose2d", Named(CONV_TRANSPOSE), conv_transpose2d),
        row("MaxPool2d", Named(MAX_POOL), pool2d),
        row("AvgPool2d", Named(AVG_POOL), pool2d),
        row("AdaptiveAvgPool2d", Named(&["output_size"]), |a, _| {
            let size = a.pair("output_size")?;
            a.positive("output_size", &size)?;
            Ok(Box::new(AdaptiveAvgPool2d(size)))
        }),
        row("Upsample", Named(UPSAMPLE), upsample),
        row("Flatten", Named(&["start_dim", "end_dim"]), |a, _| {
            Ok(Box::new(Flatten {
                start: a.isize_or("start_dim", 1)?,
                end: a.isize_or("end_dim", -1)?,
            }))
        }),
        row("Dropout", Named(&["p", "inplace"]), |a, rng| {
            let p = a.f64_or("p", 0.5)?;
            let layer = Dropout::try_new(p, rng.gen()).map_err(|e| a.err_at("p", e.message))?;
            Ok(Box::new(layer))
        }),
        row("Dropout2d", Named(&["p", "inplace"]), |a, rng| {
            let p = a.f64_or("p", 0.5)?;
            let layer = Dropout2d::try_new(p, rng.gen()).map_err(|e| a.err_at("p", e.message))?;
            Ok(Box::new(layer))
        }),
        row("BatchNorm1d", Named(BATCH_NORM), batch_norm),
        row("BatchNorm2d", Named(BATCH_NORM), batch_norm),
        row(
            "GroupNorm",
            Named(&["num_groups", "num_channels", "eps", "affine"]),
            group_norm,
        ),
        row(
            "LayerNorm",
            Named(&["normalized_shape", "eps", "elementwise_affine", "bias"]),
            layer_norm,
        ),
        row("Embedding", Named(EMBEDDING), embedding),
        // PyTorch's Identity ignores its arguments; an empty Sequential is the identity.
        row("Identity", Ignored, |_, _| {
            Ok(Box::new(Sequential::<T>::new()))
        }),
        row("ReLU", Named(&["inplace"]), |_, _| Ok(Box::new(Relu))),
        row(
            "LeakyReLU",
            Named(&["negative_slope", "inplace"]),
            |a, _| Ok(Box::new(LeakyRelu(a.f64_or("negative_slope", 0.01)?))),
        ),
        row("Sigmoid", Named(&[]), |_, _| Ok(Box::new(Sigmoid))),
        row("Tanh", Named(&[]), |_, _| Ok(Box::new(Tanh))),
        row("GELU", Named(&["approximate"]), gelu),
        row("Softplus", Named(&["beta", "threshold"]), |a, _| {
            Ok(Box::new(Softplus {
                beta: a.f64_or("beta", 1.0)?,
                threshold: a.f64_or("threshold", 20.0)?,
            }))
        }),
        row("Softmax", Named(&["dim"]), softmax),
        row("LogSoftmax", Named(&["dim"]), softmax),
    ]
}

fn linear<T: Float>(a: &Args<'_>, mut rng: &mut dyn RngCore) -> Built<T> {
    let (i, o) = (a.usize("in_features")?, a.usize("out_features")?);
    a.check_parameters(&[&[o, i], &[o]])?;
    Ok(if a.bool_or("bias", true)? {
        Box::new(Linear::<T>::new(i, o, &mut rng))
    } else {
        Box::new(Linear::<T>::no_bias(i, o, &mut rng))
    })
}

fn batch_norm<T: Float>(a: &Args<'_>, _: &mut dyn RngCore) -> Built<T> {
    let n = a.usize("num_features")?;
    let eps = a.f64_or("eps", 1e-5)?;
    if a.is_none("momentum") && a.get("momentum").is_some() {
        return Err(a.err_at(
            "momentum",
            "momentum=None (cumulative average) is not supported",
        ));
    }
    let momentum = a.f64_or("momentum", 0.1)?;
    if !a.bool_or("affine", true)? {
        return Err(a.err_at("affine", "affine=False is not supported"));
    }
    if !a.bool_or("track_running_stats", true)? {
        return Err(a.err_at(
            "track_running_stats",
            "track_running_stats=False is not supported",
        ));
    }
    a.check_parameters(&[&[n], &[n], &[n], &[n]])?;
    Ok(Box::new(BatchNorm::<T>::new(n).momentum(momentum).eps(eps)))
}

fn group_norm<T: Float>(a: &Args<'_>, _: &mut dyn RngCore) -> Built<T> {
    let (groups, channels) = (a.usize("num_groups")?, a.usize("num_channels")?);
    if groups == 0 || channels % groups != 0 {
        return Err(a.err_at(
            "num_groups",
            format!("num_groups={groups} must be positive and divide num_channels={channels}"),
        ));
    }
    a.check_parameters(&[&[channels], &[channels]])?;
    let norm = GroupNorm::<T>::new(groups, channels).eps(a.f64_or("eps", 1e-5)?);
    Ok(Box::new(if a.bool_or("affine", true)? {
        norm
    } else {
        norm.without_affine()
    }))
}

fn layer_norm<T: Float>(a: &Args<'_>, _: &mut dyn RngCore) -> Built<T> {
    let shape = a.sizes("normalized_shape")?;
    let eps = a.f64_or("eps", 1e-5)?;
    if !a.bool_or("elementwise_affine", true)? {
        return Err(a.err_at(
            "elementwise_affine",
            "elementwise_affine=False is not supported",
        ));
    }
    if !a.bool_or("bias", true)? {
        return Err(a.err_at("bias", "bias=False is not supported"));
    }
    a.check_parameters(&[&shape, &shape])?;
    let mut ln = LayerNorm::<T>::new(&shape);
    ln.eps = eps;
    Ok(Box::new(ln))
}

fn embedding<T: Float>(a: &Args<'_>, mut rng: &mut dyn RngCore) -> Built<T> {
    let (num, dim) = (a.usize("num_embeddings")?, a.usize("embedding_dim")?);
    a.check_parameters(&[&[num, dim]])?;
    let padding_idx = if a.is_none("padding_idx") {
        None
    } else {
        Some(a.int("padding_idx")?)
    };
    if !a.is_none("max_norm") {
        return Err(a.err_at("max_norm", "max_norm is not supported"));
    }
    a.require_false("scale_grad_by_freq")?;
    let layer = Embedding::<T>::try_new(num, dim, padding_idx, &mut rng)
        .map_err(|e| a.err_at("padding_idx", e.message))?;
    Ok(Box::new(layer))
}

fn gelu<T: Float>(a: &Args<'_>, _: &mut dyn RngCore) -> Built<T> {
    match a.str_or("approximate", "none")? {
        "none" => Ok(Box::new(Gelu { approximate: false })),
        "tanh" => Ok(Box::new(Gelu { approximate: true })),
        other => Err(a.err_at(
            "approximate",
            format!("approximate='{other}': expected 'none' or 'tanh'"),
        )),
    }
}

fn softmax<T: Float>(a: &Args<'_>, _: &mut dyn RngCore) -> Built<T> {
    let name = a.layer;
    if a.is_none("dim") {
        return Err(a.err_at_layer(format!("{name} needs an explicit dim, e.g. {name}(dim=1)")));
    }
    let dim = a.int("dim")? as isize;
    Ok(if name == "Softmax" {
        Box::new(Softmax(dim))
    } else {
        Box::new(LogSoftmax(dim))
    })
}
