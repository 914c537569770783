//! Regression losses: squared, absolute, Huber and smooth L1 errors.

use super::reduction::{c, reduce, same_shape, Reduction};
use graft_autograd::Var;
use graft_tensor::{or_panic, Float, Result, TensorError};

/// Elementwise mean squared error: `(input - target)²`, reduced.
///
/// Panics with the message of [`try_mse_loss`].
#[track_caller]
pub fn mse_loss<T: Float>(input: &Var<T>, target: &Var<T>, reduction: Reduction) -> Var<T> {
    or_panic(try_mse_loss(input, target, reduction))
}

/// Elementwise mean squared error `(input - target)²`, reduced; an error if the shapes
/// differ.
pub fn try_mse_loss<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    reduction: Reduction,
) -> Result<Var<T>> {
    same_shape("mse_loss", input, target)?;
    Ok(reduce((input - target).square(), reduction))
}

/// Elementwise absolute error: `|input - target|`, reduced (gradient 0 where they are equal).
///
/// Panics with the message of [`try_l1_loss`].
#[track_caller]
pub fn l1_loss<T: Float>(input: &Var<T>, target: &Var<T>, reduction: Reduction) -> Var<T> {
    or_panic(try_l1_loss(input, target, reduction))
}

/// Elementwise absolute error `|input - target|`, reduced; an error if the shapes differ.
pub fn try_l1_loss<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    reduction: Reduction,
) -> Result<Var<T>> {
    same_shape("l1_loss", input, target)?;
    Ok(reduce((input - target).abs(), reduction))
}

/// Huber loss: with `d = input - target`, `0.5·d²` where `|d| < delta`, else
/// `delta·(|d| - 0.5·delta)`, reduced.
///
/// Panics with the message of [`try_huber_loss`].
#[track_caller]
pub fn huber_loss<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    delta: T,
    reduction: Reduction,
) -> Var<T> {
    or_panic(try_huber_loss(input, target, delta, reduction))
}

/// Huber loss (see [`huber_loss`]); an error if the shapes differ or `delta <= 0`.
pub fn try_huber_loss<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    delta: T,
    reduction: Reduction,
) -> Result<Var<T>> {
    same_shape("huber_loss", input, target)?;
    if delta.is_nan() || delta <= T::ZERO {
        return Err(TensorError::new(
            "huber_loss",
            format!(
                "delta must be positive, got {delta} (input shape {:?})",
                input.shape()
            ),
        ));
    }
    let d = input - target;
    let abs = d.abs();
    let quadratic = abs.value().lt_scalar(delta);
    let inner = d.square().mul_scalar(c(0.5));
    let outer = abs.sub_scalar(delta * c(0.5)).mul_scalar(delta);
    Ok(reduce(
        Var::where_cond(&quadratic, &inner, &outer),
        reduction,
    ))
}

/// Smooth L1 loss: with `d = input - target`, `0.5·d²/beta` where `|d| < beta`, else
/// `|d| - 0.5·beta`, reduced; `beta = 0` is the L1 loss. Equals `huber_loss / beta`.
///
/// Panics with the message of [`try_smooth_l1_loss`].
#[track_caller]
pub fn smooth_l1_loss<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    beta: T,
    reduction: Reduction,
) -> Var<T> {
    or_panic(try_smooth_l1_loss(input, target, beta, reduction))
}

/// Smooth L1 loss (see [`smooth_l1_loss`]); an error if the shapes differ or `beta < 0`.
pub fn try_smooth_l1_loss<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    beta: T,
    reduction: Reduction,
) -> Result<Var<T>> {
    same_shape("smooth_l1_loss", input, target)?;
    if beta.is_nan() || beta < T::ZERO {
        return Err(TensorError::new(
            "smooth_l1_loss",
            format!(
                "beta must be >= 0, got {beta} (input shape {:?})",
                input.shape()
            ),
        ));
    }
    let d = input - target;
    let abs = d.abs();
    if beta == T::ZERO {
        // The quadratic branch would divide by zero (and its unused gradient be NaN).
        return Ok(reduce(abs, reduction));
    }
    let quadratic = abs.value().lt_scalar(beta);
    let inner = d.square().mul_scalar(c::<T>(0.5) / beta);
    let outer = abs.sub_scalar(beta * c(0.5));
    Ok(reduce(
        Var::where_cond(&quadratic, &inner, &outer),
        reduction,
    ))
}
