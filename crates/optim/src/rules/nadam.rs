//! NAdam: Adam with Nesterov momentum and a momentum warm-up schedule.

use super::common::{builders, check_beta, check_lr, check_non_negative, EffectiveGrad, Lerp};
use super::par::{check_len, for_each_chunk};
use super::{Hyperparam, ParamState, UpdateRule};
use crate::state::SavedParamState;
use crate::OptimError;
use graft_tensor::Float;

const OWNER: &str = "NAdam";

/// PyTorch's `torch.optim.NAdam` hyperparameters and defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct NadamConfig {
    /// Learning rate (default 2e-3).
    pub lr: f64,
    /// Decay rates of the first and second moment estimates (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Added to the denominator for stability (default 1e-8).
    pub eps: f64,
    /// Weight decay coefficient (default 0).
    pub weight_decay: f64,
    /// Momentum warm-up speed (default 4e-3).
    pub momentum_decay: f64,
    /// Decay the weights directly, as AdamW does, instead of an L2 term (default false).
    pub decoupled_weight_decay: bool,
    /// Ascend the objective instead of descending it (default false).
    pub maximize: bool,
}

builders!(NadamConfig {
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    momentum_decay: f64,
    decoupled_weight_decay: bool,
    maximize: bool
});

impl Default for NadamConfig {
    fn default() -> Self {
        Self {
            lr: 2e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            momentum_decay: 4e-3,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
}

impl NadamConfig {
    /// Checks the hyperparameters as PyTorch does.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_lr(OWNER, self.lr)?;
        check_non_negative(OWNER, "eps", self.eps)?;
        check_beta(OWNER, "betas[0]", self.betas.0)?;
        check_beta(OWNER, "betas[1]", self.betas.1)?;
        check_non_negative(OWNER, "weight_decay", self.weight_decay)?;
        check_non_negative(OWNER, "momentum_decay", self.momentum_decay)
    }

    /// The momentum coefficient `mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))`.
    fn mu(&self, t: f64) -> f64 {
        self.betas.0 * (1.0 - 0.5 * 0.96f64.powf(t * self.momentum_decay))
    }
}

/// NAdam's state for one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct NadamState<T> {
    /// Steps taken.
    pub step: u64,
    /// Product of the momentum coefficients so far (PyTorch's `mu_product`, from 1).
    pub mu_product: f64,
    /// First moment estimate (`exp_avg`).
    pub exp_avg: Vec<T>,
    /// Second moment estimate (`exp_avg_sq`).
    pub exp_avg_sq: Vec<T>,
}

/// One NAdam step: weight decay as in Adam/AdamW; `mu_product *= mu_t`; `m`, `v` as in
/// Adam; `denom = sqrt(v / (1 - beta2^t)) + eps`;
/// `p -= lr (1 - mu_t) / (1 - mu_product) g / denom
///     + lr mu_{t+1} / (1 - mu_product mu_{t+1}) m / denom`.
///
/// `step` is the 1-based step count `t` including this step; `mu_product` is the
/// product up to the previous step and is updated here.
pub fn nadam_step<T: Float>(
    param: &mut [T],
    grad: &[T],
    exp_avg: &mut [T],
    exp_avg_sq: &mut [T],
    mu_product: &mut f64,
    config: &NadamConfig,
    step: u64,
) {
    let n = param.len();
    check_len(OWNER, "the gradient", n, grad.len());
    check_len(OWNER, "exp_avg", n, exp_avg.len());
    check_len(OWNER, "exp_avg_sq", n, exp_avg_sq.len());

    let (beta1, beta2) = config.betas;
    let t = step as f64;
    let bias_correction2 = T::from_f64(1.0 - beta2.powf(t));
    let mu = config.mu(t);
    let mu_next = config.mu(t + 1.0);
    *mu_product *= mu;
    let mu_product_next = *mu_product * mu_next;
    let grad_coef = T::from_f64(-config.lr * (1.0 - mu) / (1.0 - *mu_product));
    let momentum_coef = T::from_f64(-config.lr * mu_next / (1.0 - mu_product_next));

    let decoupled = config.decoupled_weight_decay && config.weight_decay != 0.0;
    let grad_of = EffectiveGrad::<T>::new(
        config.maximize,
        if config.decoupled_weight_decay {
            0.0
        } else {
            config.weight_decay
        },
    );
    let decay = T::from_f64(1.0 - config.lr * config.weight_decay);
    let first_moment = Lerp::<T>::new(1.0 - beta1);
    let beta2_t = T::from_f64(beta2);
    let one_minus_beta2 = T::from_f64(1.0 - beta2);
    let eps = T::from_f64(config.eps);

    for_each_chunk((param, grad, exp_avg, exp_avg_sq), &|(p, g, m, v)| {
        // Settings in locals and only loop-invariant selects in the body: kept in
        // registers, so the loop vectorizes.
        let (grad_of, first_moment, decoupled, decay) = (grad_of, first_moment, decoupled, decay);
        let (beta2_t, one_minus_beta2, bias_correction2, eps) =
            (beta2_t, one_minus_beta2, bias_correction2, eps);
        let (grad_coef, momentum_coef) = (grad_coef, momentum_coef);
        let n = p.len();
        let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
        for i in 0..n {
            let pi = if decoupled { p[i] * decay } else { p[i] };
            let g = grad_of.at(g[i], pi);
            let mi = first_moment.apply(m[i], g);
            let vi = v[i] * beta2_t + one_minus_beta2 * g * g;
            m[i] = mi;
            v[i] = vi;
            let denom = (vi / bias_correction2).sqrt() + eps;
            // Two separate updates, in PyTorch's order, so rounding matches.
            let pi = pi + grad_coef * g / denom;
            p[i] = pi + momentum_coef * mi / denom;
        }
    });
}

impl UpdateRule for NadamConfig {
    type State<T: Float> = NadamState<T>;

    fn name(&self) -> &'static str {
        OWNER
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn momentum(&self) -> Option<f64> {
        Some(self.betas.0)
    }

    fn set_momentum(&mut self, momentum: f64) {
        self.betas.0 = momentum;
    }

    fn validate(&self) -> Result<(), OptimError> {
        NadamConfig::validate(self)
    }

    fn visit_hyperparams(&mut self, f: &mut dyn FnMut(&'static str, Hyperparam<'_>)) {
        f("lr", Hyperparam::Float(&mut self.lr));
        f("betas[0]", Hyperparam::Float(&mut self.betas.0));
        f("betas[1]", Hyperparam::Float(&mut self.betas.1));
        f("eps", Hyperparam::Float(&mut self.eps));
        f("weight_decay", Hyperparam::Float(&mut self.weight_decay));
        f(
            "momentum_decay",
            Hyperparam::Float(&mut self.momentum_decay),
        );
        f(
            "decoupled_weight_decay",
            Hyperparam::Flag(&mut self.decoupled_weight_decay),
        );
        f("maximize", Hyperparam::Flag(&mut self.maximize));
    }

    fn init_state<T: Float>(&self, numel: usize) -> NadamState<T> {
        NadamState {
            step: 0,
            mu_product: 1.0,
            exp_avg: vec![T::ZERO; numel],
            exp_avg_sq: vec![T::ZERO; numel],
        }
    }

    fn update<T: Float>(&self, param: &mut [T], grad: &[T], state: &mut NadamState<T>) {
        state.step += 1;
        nadam_step(
            param,
            grad,
            &mut state.exp_avg,
            &mut state.exp_avg_sq,
            &mut state.mu_product,
            self,
            state.step,
        );
    }
}

impl<T: Float> ParamState<T> for NadamState<T> {
    fn restore(saved: &SavedParamState<T>) -> Result<Self, OptimError> {
        let mut r = saved.reader(OWNER);
        let state = NadamState {
            step: saved.step,
            mu_product: r.scalar("mu_product")?,
            exp_avg: r.required("exp_avg")?,
            exp_avg_sq: r.required("exp_avg_sq")?,
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
            ("exp_avg", self.exp_avg.as_slice()),
            ("exp_avg_sq", self.exp_avg_sq.as_slice()),
        ]
    }

    fn buffers_mut(&mut self) -> Vec<(&'static str, &mut [T])> {
        vec![
            ("exp_avg", self.exp_avg.as_mut_slice()),
            ("exp_avg_sq", self.exp_avg_sq.as_mut_slice()),
        ]
    }

    fn scalars(&self) -> Vec<(&'static str, f64)> {
        vec![("mu_product", self.mu_product)]
    }

    fn set_scalar(&mut self, name: &str, value: f64) -> Result<(), OptimError> {
        match name {
            "mu_product" => {
                self.mu_product = value;
                Ok(())
            }
            _ => Err(OptimError::state(OWNER, format!("unknown scalar `{name}`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mu_product_accumulates() {
        let config = NadamConfig::default();
        let mut p = vec![1.0f64];
        let mut state = config.init_state::<f64>(1);
        config.update(&mut p, &[1.0], &mut state);
        config.update(&mut p, &[1.0], &mut state);
        assert_eq!(state.mu_product, config.mu(1.0) * config.mu(2.0));
        assert!(p[0] < 1.0);
        let mut s = state.clone();
        s.set_scalar("mu_product", 0.5).unwrap();
        assert_eq!(s.scalars(), vec![("mu_product", 0.5)]);
        assert!(s.set_scalar("nope", 0.0).is_err());
    }

    #[test]
    fn validation_names_the_parameter() {
        let e = NadamConfig {
            momentum_decay: -1.0,
            ..NadamConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(
            e.to_string().starts_with("NAdam: invalid momentum_decay"),
            "{e}"
        );
        let e = NadamConfig {
            betas: (0.9, 1.0),
            ..NadamConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().starts_with("NAdam: invalid betas[1]"), "{e}");
    }
}
