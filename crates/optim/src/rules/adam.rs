//! Adam and AdamW (Adam with decoupled weight decay), with optional AMSGrad.

use super::common::{builders, check_beta, check_lr, check_non_negative, EffectiveGrad, Lerp};
use super::par::{check_len, for_each_chunk};
use super::{Hyperparam, ParamState, UpdateRule};
use crate::state::SavedParamState;
use crate::OptimError;
use graft_tensor::Float;

/// PyTorch's `torch.optim.Adam` hyperparameters and defaults; [`AdamConfig::adamw`]
/// gives `torch.optim.AdamW`'s.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate (default 1e-3).
    pub lr: f64,
    /// Decay rates of the first and second moment estimates (default (0.9, 0.999)).
    pub betas: (f64, f64),
    /// Added to the denominator for stability (default 1e-8).
    pub eps: f64,
    /// Weight decay coefficient (default 0; AdamW's default is 0.01).
    pub weight_decay: f64,
    /// Use the running maximum of the second moment (AMSGrad; default false).
    pub amsgrad: bool,
    /// Ascend the objective instead of descending it (default false).
    pub maximize: bool,
    /// Decay the weights directly (`p *= 1 - lr * weight_decay`, AdamW) instead of
    /// adding an L2 term to the gradient (default false; true for AdamW).
    pub decoupled_weight_decay: bool,
}

builders!(AdamConfig {
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool
});

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
            decoupled_weight_decay: false,
        }
    }
}

impl AdamConfig {
    /// `torch.optim.AdamW`'s defaults: decoupled weight decay of 0.01.
    pub fn adamw() -> Self {
        Self {
            weight_decay: 1e-2,
            decoupled_weight_decay: true,
            ..Self::default()
        }
    }

    /// Checks the hyperparameters as PyTorch does.
    pub fn validate(&self) -> Result<(), OptimError> {
        let owner = UpdateRule::name(self);
        check_lr(owner, self.lr)?;
        check_non_negative(owner, "eps", self.eps)?;
        check_beta(owner, "betas[0]", self.betas.0)?;
        check_beta(owner, "betas[1]", self.betas.1)?;
        check_non_negative(owner, "weight_decay", self.weight_decay)
    }
}

/// Adam's state for one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamState<T> {
    /// Steps taken.
    pub step: u64,
    /// First moment estimate (PyTorch's `exp_avg`).
    pub exp_avg: Vec<T>,
    /// Second moment estimate (`exp_avg_sq`).
    pub exp_avg_sq: Vec<T>,
    /// Running maximum of `exp_avg_sq`, with AMSGrad only (`max_exp_avg_sq`).
    pub max_exp_avg_sq: Option<Vec<T>>,
}

/// One Adam/AdamW step: weight decay (`p *= 1 - lr * wd` if decoupled, else
/// `g += wd * p`); `m = lerp(m, g, 1 - beta1)`; `v = beta2 * v + (1 - beta2) * g^2`;
/// with AMSGrad `vmax = max(vmax, v)` replaces `v` below;
/// `p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`.
///
/// `step` is the 1-based step count `t` including this step. `max_exp_avg_sq` is
/// required when `config.amsgrad`.
pub fn adam_step<T: Float>(
    param: &mut [T],
    grad: &[T],
    exp_avg: &mut [T],
    exp_avg_sq: &mut [T],
    max_exp_avg_sq: Option<&mut [T]>,
    config: &AdamConfig,
    step: u64,
) {
    let owner = UpdateRule::name(config);
    let n = param.len();
    check_len(owner, "the gradient", n, grad.len());
    check_len(owner, "exp_avg", n, exp_avg.len());
    check_len(owner, "exp_avg_sq", n, exp_avg_sq.len());
    let vmax = if config.amsgrad {
        let vmax = max_exp_avg_sq.expect("Adam: amsgrad needs a max_exp_avg_sq buffer");
        check_len(owner, "max_exp_avg_sq", n, vmax.len());
        Some(vmax)
    } else {
        None
    };

    let (beta1, beta2) = config.betas;
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
    let t = step as f64;
    let bias_correction1 = 1.0 - beta1.powf(t);
    let bias_correction2_sqrt = T::from_f64((1.0 - beta2.powf(t)).sqrt());
    let neg_step_size = T::from_f64(-(config.lr / bias_correction1));
    let eps = T::from_f64(config.eps);

    for_each_chunk((param, grad, exp_avg, exp_avg_sq, vmax), &|(
        p,
        g,
        m,
        v,
        vmax,
    )| {
        // Copies of the coefficients in locals, and loop bodies whose only conditions are
        // loop-invariant selects: this is what lets the compiler keep everything in
        // registers and vectorize (sqrt and division included) instead of re-reading
        // the captured settings at every element.
        let (grad_of, first_moment) = (grad_of, first_moment);
        let (decoupled, decay, beta2_t, one_minus_beta2) =
            (decoupled, decay, beta2_t, one_minus_beta2);
        let (bias_correction2_sqrt, neg_step_size, eps) =
            (bias_correction2_sqrt, neg_step_size, eps);
        // Weight decay and the moment updates: the decayed parameter and new moments.
        let moments = |p: T, g: T, m: T, v: T| {
            let p = if decoupled { p * decay } else { p };
            let g = grad_of.at(g, p);
            (
                p,
                first_moment.apply(m, g),
                v * beta2_t + one_minus_beta2 * g * g,
            )
        };
        let update = |p: T, m: T, second: T| {
            let denom = second.sqrt() / bias_correction2_sqrt + eps;
            p + neg_step_size * m / denom
        };
        // Re-slicing to one length lets the compiler drop the bounds checks.
        let n = p.len();
        let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
        match vmax {
            None => {
                for i in 0..n {
                    let (pi, mi, vi) = moments(p[i], g[i], m[i], v[i]);
                    m[i] = mi;
                    v[i] = vi;
                    p[i] = update(pi, mi, vi);
                }
            }
            Some(vmax) => {
                let vmax = &mut vmax[..n];
                for i in 0..n {
                    let (pi, mi, vi) = moments(p[i], g[i], m[i], v[i]);
                    m[i] = mi;
                    v[i] = vi;
                    vmax[i] = vmax[i].max_nan(vi);
                    p[i] = update(pi, mi, vmax[i]);
                }
            }
        }
    });
}

impl UpdateRule for AdamConfig {
    type State<T: Float> = AdamState<T>;

    fn name(&self) -> &'static str {
        if self.decoupled_weight_decay {
            "AdamW"
        } else {
            "Adam"
        }
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
        AdamConfig::validate(self)
    }

    fn visit_hyperparams(&mut self, f: &mut dyn FnMut(&'static str, Hyperparam<'_>)) {
        f("lr", Hyperparam::Float(&mut self.lr));
        f("betas[0]", Hyperparam::Float(&mut self.betas.0));
        f("betas[1]", Hyperparam::Float(&mut self.betas.1));
        f("eps", Hyperparam::Float(&mut self.eps));
        f("weight_decay", Hyperparam::Float(&mut self.weight_decay));
        f("amsgrad", Hyperparam::Flag(&mut self.amsgrad));
        f("maximize", Hyperparam::Flag(&mut self.maximize));
        f(
            "decoupled_weight_decay",
            Hyperparam::Flag(&mut self.decoupled_weight_decay),
        );
    }

    fn init_state<T: Float>(&self, numel: usize) -> AdamState<T> {
        AdamState {
            step: 0,
            exp_avg: vec![T::ZERO; numel],
            exp_avg_sq: vec![T::ZERO; numel],
            max_exp_avg_sq: self.amsgrad.then(|| vec![T::ZERO; numel]),
        }
    }

    fn update<T: Float>(&self, param: &mut [T], grad: &[T], state: &mut AdamState<T>) {
        state.step += 1;
        if self.amsgrad && state.max_exp_avg_sq.is_none() {
            state.max_exp_avg_sq = Some(vec![T::ZERO; param.len()]);
        }
        adam_step(
            param,
            grad,
            &mut state.exp_avg,
            &mut state.exp_avg_sq,
            state.max_exp_avg_sq.as_deref_mut(),
            self,
            state.step,
        );
    }
}

impl<T: Float> ParamState<T> for AdamState<T> {
    fn restore(saved: &SavedParamState<T>) -> Result<Self, OptimError> {
        let mut r = saved.reader("Adam");
        let state = AdamState {
            step: saved.step,
            exp_avg: r.required("exp_avg")?,
            exp_avg_sq: r.required("exp_avg_sq")?,
            max_exp_avg_sq: r.optional("max_exp_avg_sq"),
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
        let mut out = vec![
            ("exp_avg", self.exp_avg.as_slice()),
            ("exp_avg_sq", self.exp_avg_sq.as_slice()),
        ];
        if let Some(vmax) = &self.max_exp_avg_sq {
            out.push(("max_exp_avg_sq", vmax.as_slice()));
        }
        out
    }

    fn buffers_mut(&mut self) -> Vec<(&'static str, &mut [T])> {
        let mut out = vec![
            ("exp_avg", self.exp_avg.as_mut_slice()),
            ("exp_avg_sq", self.exp_avg_sq.as_mut_slice()),
        ];
        if let Some(vmax) = &mut self.max_exp_avg_sq {
            out.push(("max_exp_avg_sq", vmax.as_mut_slice()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adamw_decays_the_weights_directly() {
        let config = AdamConfig {
            lr: 0.1,
            ..AdamConfig::adamw()
        };
        assert_eq!(UpdateRule::name(&config), "AdamW");
        let mut p = vec![2.0f64];
        let mut state = config.init_state::<f64>(1);
        config.update(&mut p, &[0.0], &mut state);
        // Zero gradient: only the decay acts.
        assert!((p[0] - 2.0 * (1.0 - 0.1 * 0.01)).abs() < 1e-15);
    }

    #[test]
    fn amsgrad_keeps_the_maximum() {
        let config = AdamConfig {
            amsgrad: true,
            ..AdamConfig::default()
        };
        let mut p = vec![0.0f64];
        let mut state = config.init_state::<f64>(1);
        config.update(&mut p, &[1.0], &mut state);
        config.update(&mut p, &[0.0], &mut state);
        let vmax = state.max_exp_avg_sq.as_ref().unwrap()[0];
        assert!(vmax > state.exp_avg_sq[0]);
        assert_eq!(state.buffers().len(), 3);
    }

    #[test]
    fn validation_names_the_parameter() {
        let bad = [
            (
                AdamConfig {
                    lr: -1e-3,
                    ..AdamConfig::default()
                },
                "Adam: invalid lr",
            ),
            (
                AdamConfig {
                    eps: -1.0,
                    ..AdamConfig::default()
                },
                "Adam: invalid eps",
            ),
            (
                AdamConfig {
                    betas: (1.0, 0.999),
                    ..AdamConfig::default()
                },
                "Adam: invalid betas[0]",
            ),
            (
                AdamConfig {
                    betas: (0.9, -0.1),
                    ..AdamConfig::default()
                },
                "Adam: invalid betas[1]",
            ),
            (
                AdamConfig {
                    weight_decay: -1.0,
                    ..AdamConfig::adamw()
                },
                "AdamW: invalid weight_decay",
            ),
        ];
        for (config, prefix) in bad {
            let e = config.validate().unwrap_err();
            assert!(e.to_string().starts_with(prefix), "{e}");
        }
        assert!(AdamConfig {
            eps: 0.0,
            ..AdamConfig::default()
        }
        .validate()
        .is_ok());
    }
}
