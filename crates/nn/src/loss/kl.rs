//! Kullback-Leibler divergence.

use super::reduction::{c, constant, same_shape, KlDivReduction};
use graft_autograd::Var;
use graft_tensor::{or_panic, Float, Result};

/// Kullback-Leibler divergence with `input` holding log-probabilities (PyTorch's
/// argument order): pointwise `target·(ln target - input)` (0 where target is 0), or
/// `e^target·(target - input)` when `log_target`, reduced.
///
/// Panics with the message of [`try_kl_div`].
#[track_caller]
pub fn kl_div<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    reduction: KlDivReduction,
    log_target: bool,
) -> Var<T> {
    or_panic(try_kl_div(input, target, reduction, log_target))
}

/// [`kl_div`] returning an error if the shapes differ.
pub fn try_kl_div<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    reduction: KlDivReduction,
    log_target: bool,
) -> Result<Var<T>> {
    same_shape("kl_div", input, target)?;
    let pointwise = if log_target {
        target.exp() * (target - input)
    } else {
        // t·ln t with 0·ln 0 = 0: the log sees a constant 1 where t is 0, so neither its
        // value nor its gradient is NaN there.
        let zero = target.value().eq_scalar(T::ZERO);
        let safe = Var::where_cond(&zero, &constant(T::ONE), target);
        target * &safe.log() - target * input
    };
    Ok(match reduction {
        KlDivReduction::None => pointwise,
        KlDivReduction::Sum => pointwise.sum(),
        KlDivReduction::Mean => pointwise.mean(),
        KlDivReduction::BatchMean if input.ndim() == 0 => pointwise.sum(),
        KlDivReduction::BatchMean => pointwise.sum().div_scalar(c(input.shape()[0] as f64)),
    })
}
