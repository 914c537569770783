//! Pieces every update rule shares: the gradient with maximize and L2 weight decay
//! applied, PyTorch's `lerp`, and hyperparameter checks.

use crate::error::ensure;
use crate::OptimError;
use graft_tensor::Float;

/// The gradient a rule works with: negated when maximizing, plus `weight_decay * p` for
/// L2-style (coupled) weight decay, in PyTorch's order.
///
/// Both switches are plain values tested with `if` expressions that have no side
/// effects, so inside a loop they become branch-free selects and the loop vectorizes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EffectiveGrad<T> {
    maximize: bool,
    decay: bool,
    weight_decay: T,
}

impl<T: Float> EffectiveGrad<T> {
    /// `coupled_decay` is the L2 coefficient, or 0 when there is none or it is decoupled.
    pub(crate) fn new(maximize: bool, coupled_decay: f64) -> Self {
        Self {
            maximize,
            decay: coupled_decay != 0.0,
            weight_decay: T::from_f64(coupled_decay),
        }
    }

    /// The gradient for raw gradient `g` at parameter value `p`.
    #[inline(always)]
    pub(crate) fn at(self, g: T, p: T) -> T {
        let g = if self.maximize { -g } else { g };
        // Not `g + 0 * p` when there is no decay: that would turn g = -0 into +0 and an
        // infinite p into NaN, where PyTorch leaves g alone.
        if self.decay {
            g + self.weight_decay * p
        } else {
            g
        }
    }
}

/// Builder-style setters named after a config's fields: `AdamConfig::default().lr(1e-3)`.
/// (Read a field directly, `config.lr`, or through [`UpdateRule`](super::UpdateRule).)
macro_rules! builders {
    ($ty:ident { $($field:ident: $t:ty),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("Sets `", stringify!($field), "`, builder style.")]
                #[must_use]
                pub fn $field(mut self, $field: $t) -> Self {
                    self.$field = $field;
                    self
                }
            )*
        }
    };
}
pub(crate) use builders;

/// PyTorch's `lerp_(end, weight)` with a scalar weight, which switches formulas at 0.5
/// for accuracy; Adam-style rules use it for the first moment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lerp<T> {
    weight: T,
    small: bool,
}

impl<T: Float> Lerp<T> {
    /// Interpolation weight `weight` (e.g. `1 - beta1`).
    pub(crate) fn new(weight: f64) -> Self {
        Self {
            weight: T::from_f64(weight),
            small: weight.abs() < 0.5,
        }
    }

    /// `from + weight * (to - from)`, computed as PyTorch does.
    #[inline(always)]
    pub(crate) fn apply(self, from: T, to: T) -> T {
        if self.small {
            from + self.weight * (to - from)
        } else {
            to - (to - from) * (T::ONE - self.weight)
        }
    }
}

/// Checks a learning rate (PyTorch: `0 <= lr`; also finite).
pub(crate) fn check_lr(owner: &'static str, lr: f64) -> Result<(), OptimError> {
    check_non_negative(owner, "lr", lr)
}

/// Checks a hyperparameter that must be finite and `>= 0` (rejects NaN).
pub(crate) fn check_non_negative(
    owner: &'static str,
    name: &'static str,
    v: f64,
) -> Result<(), OptimError> {
    ensure(
        v >= 0.0 && v.is_finite(),
        owner,
        name,
        v,
        "a finite number >= 0",
    )
}

/// Checks an Adam-style beta: `0 <= beta < 1`.
pub(crate) fn check_beta(
    owner: &'static str,
    name: &'static str,
    v: f64,
) -> Result<(), OptimError> {
    ensure(
        (0.0..1.0).contains(&v),
        owner,
        name,
        v,
        "a number in [0, 1)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lerp_uses_both_formulas() {
        let small = Lerp::<f64>::new(0.25);
        assert_eq!(small.apply(1.0, 3.0), 1.5);
        let large = Lerp::<f64>::new(0.75);
        assert_eq!(large.apply(1.0, 3.0), 2.5);
        assert_eq!(Lerp::<f64>::new(1.0).apply(5.0, -2.0), -2.0);
    }

    #[test]
    fn effective_grad_negates_then_decays() {
        let g = EffectiveGrad::<f64>::new(true, 0.5);
        assert_eq!(g.at(1.0, 4.0), 1.0);
        assert_eq!(EffectiveGrad::<f64>::new(false, 0.0).at(1.0, 4.0), 1.0);
    }

    #[test]
    fn checks_reject_nan_and_out_of_range() {
        assert!(check_lr("SGD", -0.1).is_err());
        assert!(check_lr("SGD", f64::NAN).is_err());
        assert!(check_lr("SGD", 0.0).is_ok());
        assert!(check_beta("Adam", "betas[0]", 1.0).is_err());
        assert!(check_beta("Adam", "betas[0]", 0.0).is_ok());
        let e = check_non_negative("Adam", "eps", -1.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Adam: invalid eps = -1: expected a finite number >= 0"
        );
    }
}
