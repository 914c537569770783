//! Adagrad: per-coordinate rates shrinking with the sum of squared gradients.

use super::common::{builders, check_lr, check_non_negative, EffectiveGrad};
use super::par::{check_len, for_each_chunk};
use super::{Hyperparam, ParamState, UpdateRule};
use crate::state::SavedParamState;
use crate::OptimError;
use graft_tensor::Float;

const OWNER: &str = "Adagrad";

/// PyTorch's `torch.optim.Adagrad` hyperparameters and defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct AdagradConfig {
    /// Learning rate (default 1e-2).
    pub lr: f64,
    /// Learning-rate decay per step: `lr / (1 + (t - 1) * lr_decay)` (default 0).
    pub lr_decay: f64,
    /// L2 penalty coefficient (default 0).
    pub weight_decay: f64,
    /// The value the squared-gradient sum starts from (default 0).
    pub initial_accumulator_value: f64,
    /// Added to the denominator for stability (default 1e-10).
    pub eps: f64,
    /// Ascend the objective instead of descending it (default false).
    pub maximize: bool,
}

builders!(AdagradConfig {
    lr: f64,
    lr_decay: f64,
    weight_decay: f64,
    initial_accumulator_value: f64,
    eps: f64,
    maximize: bool
});

impl Default for AdagradConfig {
    fn default() -> Self {
        Self {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            maximize: false,
        }
    }
}

impl AdagradConfig {
    /// Checks the hyperparameters as PyTorch does.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_lr(OWNER, self.lr)?;
        check_non_negative(OWNER, "lr_decay", self.lr_decay)?;
        check_non_negative(OWNER, "weight_decay", self.weight_decay)?;
        check_non_negative(
            OWNER,
            "initial_accumulator_value",
            self.initial_accumulator_value,
        )?;
        check_non_negative(OWNER, "eps", self.eps)
    }
}

/// Adagrad's state for one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct AdagradState<T> {
    /// Steps taken.
    pub step: u64,
    /// Sum of squared gradients, from `initial_accumulator_value` (PyTorch's `sum`).
    pub sum: Vec<T>,
}

/// One Adagrad step: `clr = lr / (1 + (t - 1) * lr_decay)`; `g += wd * p`;
/// `sum += g^2`; `p -= clr * g / (sqrt(sum) + eps)`.
///
/// `step` is the 1-based step count `t` including this step.
pub fn adagrad_step<T: Float>(
    param: &mut [T],
    grad: &[T],
    sum: &mut [T],
    config: &AdagradConfig,
    step: u64,
) {
    let n = param.len();
    check_len(OWNER, "the gradient", n, grad.len());
    check_len(OWNER, "sum", n, sum.len());
    let grad_of = EffectiveGrad::<T>::new(config.maximize, config.weight_decay);
    let clr = config.lr / (1.0 + (step as f64 - 1.0) * config.lr_decay);
    let neg_clr = T::from_f64(-clr);
    let eps = T::from_f64(config.eps);
    for_each_chunk((param, grad, sum), &|(p, g, sum)| {
        // Settings in locals: kept in registers, so the loop vectorizes.
        let (grad_of, neg_clr, eps) = (grad_of, neg_clr, eps);
        let n = p.len();
        let (g, sum) = (&g[..n], &mut sum[..n]);
        for i in 0..n {
            let g = grad_of.at(g[i], p[i]);
            sum[i] += g * g;
            p[i] += neg_clr * g / (sum[i].sqrt() + eps);
        }
    });
}

impl UpdateRule for AdagradConfig {
    type State<T: Float> = AdagradState<T>;

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
        AdagradConfig::validate(self)
    }

    fn visit_hyperparams(&mut self, f: &mut dyn FnMut(&'static str, Hyperparam<'_>)) {
        f("lr", Hyperparam::Float(&mut self.lr));
        f("lr_decay", Hyperparam::Float(&mut self.lr_decay));
        f("weight_decay", Hyperparam::Float(&mut self.weight_decay));
        f(
            "initial_accumulator_value",
            Hyperparam::Float(&mut self.initial_accumulator_value),
        );
        f("eps", Hyperparam::Float(&mut self.eps));
        f("maximize", Hyperparam::Flag(&mut self.maximize));
    }

    fn init_state<T: Float>(&self, numel: usize) -> AdagradState<T> {
        AdagradState {
            step: 0,
            sum: vec![T::from_f64(self.initial_accumulator_value); numel],
        }
    }

    fn update<T: Float>(&self, param: &mut [T], grad: &[T], state: &mut AdagradState<T>) {
        state.step += 1;
        adagrad_step(param, grad, &mut state.sum, self, state.step);
    }
}

impl<T: Float> ParamState<T> for AdagradState<T> {
    fn restore(saved: &SavedParamState<T>) -> Result<Self, OptimError> {
        let mut r = saved.reader(OWNER);
        let state = AdagradState {
            step: saved.step,
            sum: r.required("sum")?,
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
        vec![("sum", self.sum.as_slice())]
    }

    fn buffers_mut(&mut self) -> Vec<(&'static str, &mut [T])> {
        vec![("sum", self.sum.as_mut_slice())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lr_decays_with_the_step_count() {
        let config = AdagradConfig {
            lr: 1.0,
            lr_decay: 1.0,
            eps: 0.0,
            ..AdagradConfig::default()
        };
        let mut p = vec![0.0f64];
        let mut state = config.init_state::<f64>(1);
        config.update(&mut p, &[3.0], &mut state);
        assert_eq!(p[0], -1.0); // 1 * 3 / 3
        config.update(&mut p, &[4.0], &mut state);
        assert!((p[0] - (-1.0 - 0.5 * 4.0 / 5.0)).abs() < 1e-15);
    }

    #[test]
    fn accumulator_starts_at_its_initial_value() {
        let config = AdagradConfig {
            initial_accumulator_value: 0.5,
            ..AdagradConfig::default()
        };
        assert_eq!(config.init_state::<f32>(2).sum, vec![0.5, 0.5]);
        let e = AdagradConfig {
            initial_accumulator_value: -1.0,
            ..config
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("initial_accumulator_value"), "{e}");
        let e = AdagradConfig {
            lr_decay: -1.0,
            ..AdagradConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("lr_decay"), "{e}");
    }
}
