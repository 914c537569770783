//! RAdam: Adam with a rectified adaptive rate that waits for the variance estimate.

use super::common::{builders, check_beta, check_lr, check_non_negative, EffectiveGrad, Lerp};
use super::par::{check_len, for_each_chunk};
use super::{Hyperparam, ParamState, UpdateRule};
use crate::state::SavedParamState;
use crate::OptimError;
use graft_tensor::Float;

const OWNER: &str = "RAdam";

/// PyTorch's `torch.optim.RAdam` hyperparameters and defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct RadamConfig {
    /// Learning rate (default 1e-3).
    pub lr: f64,
    /// Decay rates of the first and second moment estimates (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Added to the denominator for stability (default 1e-8).
    pub eps: f64,
    /// Weight decay coefficient (default 0).
    pub weight_decay: f64,
    /// Decay the weights directly, as AdamW does, instead of an L2 term (default false).
    pub decoupled_weight_decay: bool,
    /// Ascend the objective instead of descending it (default false).
    pub maximize: bool,
}

builders!(RadamConfig {
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    decoupled_weight_decay: bool,
    maximize: bool
});

impl Default for RadamConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
            maximize: false,
        }
    }
}

impl RadamConfig {
    /// Checks the hyperparameters as PyTorch does.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_lr(OWNER, self.lr)?;
        check_non_negative(OWNER, "eps", self.eps)?;
        check_beta(OWNER, "betas[0]", self.betas.0)?;
        check_beta(OWNER, "betas[1]", self.betas.1)?;
        check_non_negative(OWNER, "weight_decay", self.weight_decay)
    }
}

/// RAdam's state for one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct RadamState<T> {
    /// Steps taken.
    pub step: u64,
    /// First moment estimate (PyTorch's `exp_avg`).
    pub exp_avg: Vec<T>,
    /// Second moment estimate (`exp_avg_sq`).
    pub exp_avg_sq: Vec<T>,
}

/// The rectification factor at step `t`, or `None` while the variance estimate is not
/// yet trusted (`rho_t <= 5`), when RAdam takes a plain momentum step.
fn rectification(beta2: f64, t: f64) -> Option<f64> {
    let bias_correction2 = 1.0 - beta2.powf(t);
    let rho_inf = 2.0 / (1.0 - beta2) - 1.0;
    let rho_t = rho_inf - 2.0 * t * beta2.powf(t) / bias_correction2;
    (rho_t > 5.0).then(|| {
        ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
            .sqrt()
    })
}

/// One RAdam step: weight decay as in Adam/AdamW; `m`, `v` as in Adam;
/// `m_hat = m / (1 - beta1^t)`; if `rho_t > 5`,
/// `p -= m_hat * lr * sqrt(1 - beta2^t) / (sqrt(v) + eps) * r_t`, else `p -= m_hat * lr`.
///
/// `step` is the 1-based step count `t` including this step.
pub fn radam_step<T: Float>(
    param: &mut [T],
    grad: &[T],
    exp_avg: &mut [T],
    exp_avg_sq: &mut [T],
    config: &RadamConfig,
    step: u64,
) {
    let n = param.len();
    check_len(OWNER, "the gradient", n, grad.len());
    check_len(OWNER, "exp_avg", n, exp_avg.len());
    check_len(OWNER, "exp_avg_sq", n, exp_avg_sq.len());

    let (beta1, beta2) = config.betas;
    let t = step as f64;
    let bias_correction1 = T::from_f64(1.0 - beta1.powf(t));
    let bias_correction2_sqrt = T::from_f64((1.0 - beta2.powf(t)).sqrt());
    let rect = rectification(beta2, t).map(T::from_f64);
    let lr = T::from_f64(config.lr);

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
        let (beta2_t, one_minus_beta2, bias_correction1, bias_correction2_sqrt) = (
            beta2_t,
            one_minus_beta2,
            bias_correction1,
            bias_correction2_sqrt,
        );
        let (lr, eps) = (lr, eps);
        let (rectified, rect) = (rect.is_some(), rect.unwrap_or(T::ONE));
        let n = p.len();
        let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
        for i in 0..n {
            let pi = if decoupled { p[i] * decay } else { p[i] };
            let g = grad_of.at(g[i], pi);
            let mi = first_moment.apply(m[i], g);
            let vi = v[i] * beta2_t + one_minus_beta2 * g * g;
            m[i] = mi;
            v[i] = vi;
            let step = mi / bias_correction1 * lr;
            p[i] = pi
                - if rectified {
                    step * (bias_correction2_sqrt / (vi.sqrt() + eps)) * rect
                } else {
                    step
                };
        }
    });
}

impl UpdateRule for RadamConfig {
    type State<T: Float> = RadamState<T>;

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
        RadamConfig::validate(self)
    }

    fn visit_hyperparams(&mut self, f: &mut dyn FnMut(&'static str, Hyperparam<'_>)) {
        f("lr", Hyperparam::Float(&mut self.lr));
        f("betas[0]", Hyperparam::Float(&mut self.betas.0));
        f("betas[1]", Hyperparam::Float(&mut self.betas.1));
        f("eps", Hyperparam::Float(&mut self.eps));
        f("weight_decay", Hyperparam::Float(&mut self.weight_decay));
        f(
            "decoupled_weight_decay",
            Hyperparam::Flag(&mut self.decoupled_weight_decay),
        );
        f("maximize", Hyperparam::Flag(&mut self.maximize));
    }

    fn init_state<T: Float>(&self, numel: usize) -> RadamState<T> {
        RadamState {
            step: 0,
            exp_avg: vec![T::ZERO; numel],
            exp_avg_sq: vec![T::ZERO; numel],
        }
    }

    fn update<T: Float>(&self, param: &mut [T], grad: &[T], state: &mut RadamState<T>) {
        state.step += 1;
        radam_step(
            param,
            grad,
            &mut state.exp_avg,
            &mut state.exp_avg_sq,
            self,
            state.step,
        );
    }
}

impl<T: Float> ParamState<T> for RadamState<T> {
    fn restore(saved: &SavedParamState<T>) -> Result<Self, OptimError> {
        let mut r = saved.reader(OWNER);
        let state = RadamState {
            step: saved.step,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectification_starts_at_step_six_with_default_beta2() {
        assert!((1..=5).all(|t| rectification(0.999, t as f64).is_none()));
        let r = rectification(0.999, 6.0).unwrap();
        assert!(r > 0.0 && r < 1.0);
    }

    #[test]
    fn early_steps_are_plain_momentum() {
        let config = RadamConfig {
            lr: 0.5,
            ..RadamConfig::default()
        };
        let mut p = vec![1.0f64];
        let mut state = config.init_state::<f64>(1);
        config.update(&mut p, &[2.0], &mut state);
        // m_hat = g on the first step, so p = 1 - 0.5 * 2.
        assert!(p[0].abs() < 1e-15);
        let e = RadamConfig {
            lr: f64::NAN,
            ..RadamConfig::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().starts_with("RAdam: invalid lr"), "{e}");
    }
}
