//! Adadelta: steps scaled by the ratio of running update and gradient magnitudes.

use super::common::{builders, check_lr, check_non_negative, EffectiveGrad};
use super::par::{check_len, for_each_chunk};
use super::{Hyperparam, ParamState, UpdateRule};
use crate::error::ensure;
use crate::state::SavedParamState;
use crate::OptimError;
use graft_tensor::Float;

const OWNER: &str = "Adadelta";

/// PyTorch's `torch.optim.Adadelta` hyperparameters and defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct AdadeltaConfig {
    /// Scale applied to the computed update (default 1.0).
    pub lr: f64,
    /// Decay rate of both running averages (default 0.9).
    pub rho: f64,
    /// Added inside the square roots for stability (default 1e-6).
    pub eps: f64,
    /// L2 penalty coefficient (default 0).
    pub weight_decay: f64,
    /// Ascend the objective instead of descending it (default false).
    pub maximize: bool,
}

builders!(AdadeltaConfig {
    lr: f64,
    rho: f64,
    eps: f64,
    weight_decay: f64,
    maximize: bool
});

impl Default for AdadeltaConfig {
    fn default() -> Self {
        Self {
            lr: 1.0,
            rho: 0.9,
            eps: 1e-6,
            weight_decay: 0.0,
            maximize: false,
        }
    }
}

impl AdadeltaConfig {
    /// Checks the hyperparameters as PyTorch does.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_lr(OWNER, self.lr)?;
        ensure(
            (0.0..=1.0).contains(&self.rho),
            OWNER,
            "rho",
            self.rho,
            "a number in [0, 1]",
        )?;
        check_non_negative(OWNER, "eps", self.eps)?;
        check_non_negative(OWNER, "weight_decay", self.weight_decay)
    }
}

/// Adadelta's state for one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct AdadeltaState<T> {
    /// Steps taken.
    pub step: u64,
    /// Running average of squared gradients (PyTorch's `square_avg`).
    pub square_avg: Vec<T>,
    /// Running average of squared updates (`acc_delta`).
    pub acc_delta: Vec<T>,
}

/// One Adadelta step: `g += wd * p`; `sq = rho * sq + (1 - rho) * g^2`;
/// `delta = sqrt(acc + eps) / sqrt(sq + eps) * g`;
/// `acc = rho * acc + (1 - rho) * delta^2`; `p -= lr * delta`.
pub fn adadelta_step<T: Float>(
    param: &mut [T],
    grad: &[T],
    square_avg: &mut [T],
    acc_delta: &mut [T],
    config: &AdadeltaConfig,
) {
    let n = param.len();
    check_len(OWNER, "the gradient", n, grad.len());
    check_len(OWNER, "square_avg", n, square_avg.len());
    check_len(OWNER, "acc_delta", n, acc_delta.len());
    let grad_of = EffectiveGrad::<T>::new(config.maximize, config.weight_decay);
    let rho = T::from_f64(config.rho);
    let one_minus_rho = T::from_f64(1.0 - config.rho);
    let eps = T::from_f64(config.eps);
    let neg_lr = T::from_f64(-config.lr);
    for_each_chunk((param, grad, square_avg, acc_delta), &|(p, g, sq, acc)| {
        // Settings in locals: kept in registers, so the loop vectorizes.
        let (grad_of, rho, one_minus_rho, eps, neg_lr) = (grad_of, rho, one_minus_rho, eps, neg_lr);
        let n = p.len();
        let (g, sq, acc) = (&g[..n], &mut sq[..n], &mut acc[..n]);
        for i in 0..n {
            let g = grad_of.at(g[i], p[i]);
            sq[i] = sq[i] * rho + one_minus_rho * g * g;
            let std = (sq[i] + eps).sqrt();
            let delta = (acc[i] + eps).sqrt() / std * g;
            acc[i] = acc[i] * rho + one_minus_rho * delta * delta;
            p[i] += neg_lr * delta;
        }
    });
}

impl UpdateRule for AdadeltaConfig {
    type State<T: Float> = AdadeltaState<T>;

    fn name(&self) -> &'static str {
        OWNER
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn validate(&self) -> Result<(), OptimError> {
        AdadeltaConfig::validate(self)
    }

    fn visit_hyperparams(&mut self, f: &mut dyn FnMut(&'static str, Hyperparam<'_>)) {
        f("lr", Hyperparam::Float(&mut self.lr));
        f("rho", Hyperparam::Float(&mut self.rho));
        f("eps", Hyperparam::Float(&mut self.eps));
        f("weight_decay", Hyperparam::Float(&mut self.weight_decay));
        f("maximize", Hyperparam::Flag(&mut self.maximize));
    }

    fn init_state<T: Float>(&self, numel: usize) -> AdadeltaState<T> {
        AdadeltaState {
            step: 0,
            square_avg: vec![T::ZERO; numel],
            acc_delta: vec![T::ZERO; numel],
        }
    }

    fn update<T: Float>(&self, param: &mut [T], grad: &[T], state: &mut AdadeltaState<T>) {
        state.step += 1;
        adadelta_step(
            param,
            grad,
            &mut state.square_avg,
            &mut state.acc_delta,
            self,
        );
    }
}

impl<T: Float> ParamState<T> for AdadeltaState<T> {
    fn restore(saved: &SavedParamState<T>) -> Result<Self, OptimError> {
        let mut r = saved.reader(OWNER);
        let state = AdadeltaState {
            step: saved.step,
            square_avg: r.required("square_avg")?,
            acc_delta: r.required("acc_delta")?,
        };
        r.finish()?;
        Ok(state)
    }

    fn step(&self) -> u64 {
        self.step
    }

    fn set_step(&mut self, step: u64) {
        self.step = step;
    }

    fn buffers(&self) -> Vec<(&'static str, &[T])> {
        vec![
            ("square_avg", self.square_avg.as_slice()),
            ("acc_delta", self.acc_delta.as_slice()),
        ]
    }

    fn buffers_mut(&mut self) -> Vec<(&'static str, &mut [T])> {
        vec![
            ("square_avg", self.square_avg.as_mut_slice()),
            ("acc_delta", self.acc_delta.as_mut_slice()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_is_about_sqrt_eps_over_rms() {
        let config = AdadeltaConfig {
            rho: 0.0,
            eps: 1e-4,
            ..AdadeltaConfig::default()
        };
        let mut p = vec![0.0f64];
        let mut state = config.init_state::<f64>(1);
        config.update(&mut p, &[1.0], &mut state);
        let expected = -(1e-4f64).sqrt() / (1.0f64 + 1e-4).sqrt();
        assert!((p[0] - expected).abs() < 1e-15);
        assert!((state.acc_delta[0] - expected * expected).abs() < 1e-18);
    }

    #[test]
    fn validation_names_the_parameter() {
        for (config, name) in [
            (
                AdadeltaConfig {
                    rho: 1.5,
                    ..AdadeltaConfig::default()
                },
                "rho",
            ),
            (
                AdadeltaConfig {
                    lr: -1.0,
                    ..AdadeltaConfig::default()
                },
                "lr",
            ),
            (
                AdadeltaConfig {
                    eps: -1.0,
                    ..AdadeltaConfig::default()
                },
                "eps",
            ),
        ] {
            let e = config.validate().unwrap_err();
            assert!(
                e.to_string()
                    .starts_with(&format!("Adadelta: invalid {name}")),
                "{e}"
            );
        }
    }
}
