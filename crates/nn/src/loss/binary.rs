//! Binary cross-entropy, on probabilities and on logits.

use super::reduction::{c, constant, reduce, same_shape, Reduction};
use graft_autograd::Var;
use graft_tensor::{broadcast_shapes, or_panic, Float, Result, Tensor, TensorError};

/// `ln(x)` clamped below at -100, as PyTorch's binary cross-entropy does, without a NaN
/// gradient where `x` is 0: the clamped positions take the log of a constant 1 instead.
fn log_clamped<T: Float>(x: &Var<T>) -> Var<T> {
    let floor = c::<T>(-100.0);
    let keep = x.value().log().ge_scalar(floor);
    if keep.count_true() == keep.numel() {
        return x.log();
    }
    let safe = Var::where_cond(&keep, x, &constant(T::ONE));
    Var::where_cond(&keep, &safe.log(), &constant(floor))
}

/// Binary cross-entropy of probabilities: `-(t·ln p + (1 - t)·ln(1 - p))`, each log
/// clamped at -100 as in PyTorch, reduced.
///
/// Where a log is clamped its gradient is 0 (PyTorch's hand-written backward instead
/// divides by `max(p(1-p), 1e-12)`); everywhere else the two agree. Prefer
/// [`binary_cross_entropy_with_logits`], which is exact for any logit. Panics with the
/// message of [`try_binary_cross_entropy`].
#[track_caller]
pub fn binary_cross_entropy<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    reduction: Reduction,
) -> Var<T> {
    or_panic(try_binary_cross_entropy(input, target, reduction))
}

/// [`binary_cross_entropy`] returning an error if the shapes differ or an input is
/// outside `[0, 1]`.
pub fn try_binary_cross_entropy<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    reduction: Reduction,
) -> Result<Var<T>> {
    const OP: &str = "binary_cross_entropy";
    same_shape(OP, input, target)?;
    if let Some(bad) = input
        .value()
        .to_vec()
        .into_iter()
        .find(|&p| !(p >= T::ZERO && p <= T::ONE))
    {
        return Err(TensorError::new(
            OP,
            format!(
                "all elements of input should be between 0 and 1, found {bad} (input shape {:?})",
                input.shape()
            ),
        ));
    }
    let log_p = log_clamped(input);
    let log_q = log_clamped(&input.rsub_scalar(T::ONE));
    let losses = -(target * &log_p + target.rsub_scalar(T::ONE) * log_q);
    Ok(reduce(losses, reduction))
}

/// `ln(1 + e^z)`, stable for any z and smooth at every order (no kink at 0): with
/// `m = -|z|` taken branchwise (`-z` where z > 0, `z` elsewhere, so each branch is
/// analytic), it is `z + ln(1 + e^m)` where z > 0 and `ln(1 + e^m)` elsewhere.
fn log1p_exp<T: Float>(z: &Var<T>) -> Var<T> {
    let positive = z.value().gt_scalar(T::ZERO);
    let m = Var::where_cond(&positive, &z.neg(), z);
    let r = m.exp().log1p();
    Var::where_cond(&positive, &(z + &r), &r)
}

/// Binary cross-entropy of logits: `-(pw·t·ln σ(x) + (1 - t)·ln(1 - σ(x)))`, reduced,
/// with `pw = pos_weight` (broadcast against the input, usually `[C]` along the last dim;
/// 1 when `None`, no gradient).
///
/// Computed as PyTorch does, `(1 - t)·x + (1 + (pw - 1)·t)·softplus(-x)` with a stable
/// softplus, so it is finite and exact for logits of any size, and smooth at `x = 0`.
/// Panics with the message of [`try_binary_cross_entropy_with_logits`].
#[track_caller]
pub fn binary_cross_entropy_with_logits<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    pos_weight: Option<&Tensor<T>>,
    reduction: Reduction,
) -> Var<T> {
    or_panic(try_binary_cross_entropy_with_logits(
        input, target, pos_weight, reduction,
    ))
}

/// [`binary_cross_entropy_with_logits`] returning an error if the shapes differ or
/// `pos_weight` does not broadcast to the input's shape.
pub fn try_binary_cross_entropy_with_logits<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    pos_weight: Option<&Tensor<T>>,
    reduction: Reduction,
) -> Result<Var<T>> {
    const OP: &str = "binary_cross_entropy_with_logits";
    same_shape(OP, input, target)?;
    if let Some(pw) = pos_weight {
        let fits = broadcast_shapes(pw.shape(), input.shape())
            .is_some_and(|s| s.as_slice() == input.shape());
        if !fits {
            return Err(TensorError::shape_mismatch(
                OP,
                format!(
                    "pos_weight shape {:?} does not broadcast to input shape {:?}",
                    pw.shape(),
                    input.shape()
                ),
            ));
        }
    }
    let softplus_neg = log1p_exp(&input.neg());
    let linear = &target.rsub_scalar(T::ONE) * input;
    let losses = match pos_weight {
        None => linear + softplus_neg,
        Some(pw) => {
            let scale = (target * &Var::new(pw.sub_scalar(T::ONE))).add_scalar(T::ONE);
            linear + scale * softplus_neg
        }
    };
    Ok(reduce(losses, reduction))
}
