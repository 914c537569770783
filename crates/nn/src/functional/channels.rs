//! Channel-wise ops on `[N, C, ...]` data: group normalisation, nearest-neighbour
//! upsampling and whole-channel dropout, composed from autograd ops.

use graft_autograd::Var;
use graft_tensor::{Float, Result, Tensor, TensorError};
use rand::Rng;

use super::{affine, channel_shape};

/// Group normalisation (PyTorch's `group_norm`): the channels of `x` `[N, C, ...]` split
/// into `num_groups` consecutive groups; each sample's group is normalised by its own mean
/// and biased variance over the group's channels and all spatial positions, then
/// `weight` `[C]` and `bias` `[C]` scale and shift each channel.
///
/// One group is layer norm over `[C, ...]` with per-channel affine; `C` groups is
/// instance norm.
pub fn try_group_norm<T: Float>(
    x: &Var<T>,
    num_groups: usize,
    weight: Option<&Var<T>>,
    bias: Option<&Var<T>>,
    eps: f64,
) -> Result<Var<T>> {
    if x.ndim() < 2 || num_groups == 0 || !x.shape()[1].is_multiple_of(num_groups) {
        return Err(TensorError::new(
            "group_norm",
            format!(
                "input {:?} must be [N, C, ...] with C divisible by num_groups={num_groups}",
                x.shape()
            ),
        ));
    }
    let c = x.shape()[1];
    for (name, p) in [("weight", weight), ("bias", bias)] {
        if let Some(p) = p {
            if p.shape() != [c] {
                return Err(TensorError::new(
                    "group_norm",
                    format!(
                        "{name} {:?} must be [{c}] for input {:?}",
                        p.shape(),
                        x.shape()
                    ),
                ));
            }
        }
    }
    let n = x.shape()[0];
    let per_group = if n == 0 {
        0
    } else {
        x.numel() / (n * num_groups)
    };
    let grouped = x.try_reshape(&[n, num_groups, per_group])?;
    let mean = grouped.try_mean_dims(&[2], true)?;
    let var = grouped.try_var_dims(&[2], 0, true)?;
    let y = grouped
        .try_sub(&mean)?
        .try_div(&var.add_scalar(T::from_f64(eps)).sqrt())?
        .try_reshape(x.shape())?;
    affine(y, weight, bias, &channel_shape(x.shape()))
}

/// [`try_group_norm`], panicking on bad shapes.
#[track_caller]
pub fn group_norm<T: Float>(
    x: &Var<T>,
    num_groups: usize,
    weight: Option<&Var<T>>,
    bias: Option<&Var<T>>,
    eps: f64,
) -> Var<T> {
    try_group_norm(x, num_groups, weight, bias, eps).unwrap_or_else(|e| panic!("{e}"))
}

/// Nearest-neighbour upsampling by an integer factor (PyTorch's
/// `interpolate(mode='nearest', scale_factor=scale)`): every spatial dim of `x`
/// `[N, C, d1, ...]` grows `scale` times, each element repeated `scale` times along it.
///
/// A broadcast (`expand`) of a view with a size-1 axis after each spatial dim, then a
/// reshape: the gradient sums each `scale x scale` block back, through expand's adjoint.
pub fn try_upsample_nearest<T: Float>(x: &Var<T>, scale: usize) -> Result<Var<T>> {
    if x.ndim() < 3 || scale == 0 {
        return Err(TensorError::new(
            "upsample_nearest",
            format!(
                "expects [N, C, d1, ...] and a positive scale, got {:?} and scale {scale}",
                x.shape()
            ),
        ));
    }
    let (mut split, mut wide, mut out) = (x.shape()[..2].to_vec(), vec![], vec![]);
    wide.extend_from_slice(&x.shape()[..2]);
    out.extend_from_slice(&x.shape()[..2]);
    for &d in &x.shape()[2..] {
        split.extend([d, 1]);
        wide.extend([d, scale]);
        out.push(d * scale);
    }
    x.try_reshape(&split)?.try_expand(&wide)?.try_reshape(&out)
}

/// [`try_upsample_nearest`], panicking on bad shapes.
#[track_caller]
pub fn upsample_nearest<T: Float>(x: &Var<T>, scale: usize) -> Var<T> {
    try_upsample_nearest(x, scale).unwrap_or_else(|e| panic!("{e}"))
}

/// Whole-channel dropout (PyTorch's `dropout2d`) on `[N, C, H, W]` (or `[N, C, L]`, as
/// PyTorch treats 3-D input): when `training`, each channel of each sample is zeroed with
/// probability `p` and the kept ones are scaled by 1/(1-p); the identity otherwise.
pub fn try_dropout2d<T: Float>(
    x: &Var<T>,
    p: f64,
    training: bool,
    rng: &mut impl Rng,
) -> Result<Var<T>> {
    if !(3..=4).contains(&x.ndim()) || !(0.0..=1.0).contains(&p) {
        return Err(TensorError::new(
            "dropout2d",
            format!(
                "expects [N, C, H, W] or [N, C, L] and p in [0, 1], got {:?} and p = {p}",
                x.shape()
            ),
        ));
    }
    if !training || p == 0.0 {
        return Ok(x.clone());
    }
    if p >= 1.0 {
        return Ok(x.mul_scalar(T::ZERO));
    }
    let keep = T::from_f64(1.0 / (1.0 - p));
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let mask: Vec<T> = (0..n * c)
        .map(|_| if rng.gen::<f64>() >= p { keep } else { T::ZERO })
        .collect();
    let mut shape = vec![1; x.ndim()];
    shape[0] = n;
    shape[1] = c;
    x.try_mul(&Var::new(Tensor::from_vec(mask, &shape)))
}

/// [`try_dropout2d`], panicking on bad shapes or `p`.
#[track_caller]
pub fn dropout2d<T: Float>(x: &Var<T>, p: f64, training: bool, rng: &mut impl Rng) -> Var<T> {
    try_dropout2d(x, p, training, rng).unwrap_or_else(|e| panic!("{e}"))
}
