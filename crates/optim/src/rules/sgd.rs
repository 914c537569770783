//! Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

use super::common::{builders, check_lr, check_non_negative, EffectiveGrad};
use super::par::{check_len, for_each_chunk};
use super::{Hyperparam, ParamState, UpdateRule};
use crate::error::ensure;
use crate::state::SavedParamState;
use crate::OptimError;
use graft_tensor::Float;

const OWNER: &str = "SGD";

/// PyTorch's `torch.optim.SGD` hyperparameters and defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate (default 1e-3).
    pub lr: f64,
    /// Momentum factor (default 0: plain SGD).
    pub momentum: f64,
    /// Dampening of the gradient added to the momentum buffer (default 0).
    pub dampening: f64,
    /// L2 penalty coefficient (default 0).
    pub weight_decay: f64,
    /// Nesterov momentum (default false; needs momentum > 0 and no dampening).
    pub nesterov: bool,
    /// Ascend the objective instead of descending it (default false).
    pub maximize: bool,
}

builders!(SgdConfig {
    lr: f64,
    momentum: f64,
    dampening: f64,
    weight_decay: f64,
    nesterov: bool,
    maximize: bool
});

impl Default for SgdConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            maximize: false,
        }
    }
}

/// SGD's state for one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct SgdState<T> {
    /// Steps taken.
    pub step: u64,
    /// The momentum buffer (PyTorch's `momentum_buffer`), present when momentum != 0.
    pub momentum_buffer: Option<Vec<T>>,
}

/// One SGD step: `g += weight_decay * p`; with momentum, `buf = g` on the first step and
/// `buf = momentum * buf + (1 - dampening) * g` after, then `g = g + momentum * buf`
/// (Nesterov) or `g = buf`; finally `p -= lr * g`.
///
/// `step` is the 1-based count including this step: at step 1 the buffer's old contents
/// are ignored. `momentum_buffer` is required when `config.momentum != 0`.
pub fn sgd_step<T: Float>(
    param: &mut [T],
    grad: &[T],
    momentum_buffer: Option<&mut [T]>,
    config: &SgdConfig,
    step: u64,
) {
    let n = param.len();
    check_len(OWNER, "the gradient", n, grad.len());
    let buf = if config.momentum != 0.0 {
        let buf = momentum_buffer.expect("SGD: momentum != 0 needs a momentum buffer");
        check_len(OWNER, "momentum_buffer", n, buf.len());
        Some(buf)
    } else {
        None
    };
    let grad_of = EffectiveGrad::<T>::new(config.maximize, config.weight_decay);
    let momentum = T::from_f64(config.momentum);
    let keep = T::from_f64(1.0 - config.dampening);
    let neg_lr = T::from_f64(-config.lr);
    let (first, nesterov) = (step <= 1, config.nesterov);
    for_each_chunk((param, grad, buf), &|(p, g, buf)| {
        // Settings copied into locals so the loops keep them in registers and vectorize
        // (the conditions are loop-invariant selects).
        let (grad_of, momentum, keep, neg_lr, first, nesterov) =
            (grad_of, momentum, keep, neg_lr, first, nesterov);
        sgd_loop(p, g, buf, grad_of, momentum, keep, neg_lr, first, nesterov);
    });
}

/// The loops of [`sgd_step`] over one chunk.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn sgd_loop<T: Float>(
    p: &mut [T],
    g: &[T],
    buf: Option<&mut [T]>,
    grad_of: EffectiveGrad<T>,
    momentum: T,
    keep: T,
    neg_lr: T,
    first: bool,
    nesterov: bool,
) {
    match buf {
        None => {
            for (p, &g) in p.iter_mut().zip(g) {
                *p += neg_lr * grad_of.at(g, *p);
            }
        }
        Some(buf) => {
            for ((p, &g), b) in p.iter_mut().zip(g).zip(buf.iter_mut()) {
                let g = grad_of.at(g, *p);
                *b = if first { g } else { *b * momentum + keep * g };
                let g = if nesterov { g + momentum * *b } else { *b };
                *p += neg_lr * g;
            }
        }
    }
}

impl SgdConfig {
    /// Checks the hyperparameters as PyTorch does.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_lr(OWNER, self.lr)?;
        check_non_negative(OWNER, "momentum", self.momentum)?;
        check_non_negative(OWNER, "dampening", self.dampening)?;
        check_non_negative(OWNER, "weight_decay", self.weight_decay)?;
        ensure(
            !self.nesterov || (self.momentum > 0.0 && self.dampening == 0.0),
            OWNER,
            "nesterov",
            self.nesterov,
            "momentum > 0 and dampening == 0 for Nesterov momentum",
        )
    }
}

impl UpdateRule for SgdConfig {
    type State<T: Float> = SgdState<T>;

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
        Some(self.momentum)
    }

    fn set_momentum(&mut self, momentum: f64) {
        self.momentum = momentum;
    }

    fn validate(&self) -> Result<(), OptimError> {
        SgdConfig::validate(self)
    }

    fn visit_hyperparams(&mut self, f: &mut dyn FnMut(&'static str, Hyperparam<'_>)) {
        f("lr", Hyperparam::Float(&mut self.lr));
        f("momentum", Hyperparam::Float(&mut self.momentum));
        f("dampening", Hyperparam::Float(&mut self.dampening));
        f("weight_decay", Hyperparam::Float(&mut self.weight_decay));
        f("nesterov", Hyperparam::Flag(&mut self.nesterov));
        f("maximize", Hyperparam::Flag(&mut self.maximize));
    }

    fn init_state<T: Float>(&self, numel: usize) -> SgdState<T> {
        SgdState {
            step: 0,
            momentum_buffer: (self.momentum != 0.0).then(|| vec![T::ZERO; numel]),
        }
    }

    fn update<T: Float>(&self, param: &mut [T], grad: &[T], state: &mut SgdState<T>) {
        state.step += 1;
        // Momentum switched on after the first steps: start the buffer as PyTorch does.
        let fresh = state.momentum_buffer.is_none();
        if self.momentum != 0.0 && fresh {
            state.momentum_buffer = Some(vec![T::ZERO; param.len()]);
        }
        let step = if fresh { 1 } else { state.step };
        sgd_step(
            param,
            grad,
            state.momentum_buffer.as_deref_mut(),
            self,
            step,
        );
    }
}

impl<T: Float> ParamState<T> for SgdState<T> {
    fn restore(saved: &SavedParamState<T>) -> Result<Self, OptimError> {
        let mut r = saved.reader(OWNER);
        let state = SgdState {
            step: saved.step,
            momentum_buffer: r.optional("momentum_buffer"),
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
        self.momentum_buffer
            .iter()
            .map(|b| ("momentum_buffer", b.as_slice()))
            .collect()
    }

    fn buffers_mut(&mut self) -> Vec<(&'static str, &mut [T])> {
        self.momentum_buffer
            .iter_mut()
            .map(|b| ("momentum_buffer", b.as_mut_slice()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn momentum_buffer_starts_at_the_gradient() {
        let config = SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            dampening: 0.5,
            ..SgdConfig::default()
        };
        let mut p = vec![1.0f64];
        let mut state = config.init_state::<f64>(1);
        config.update(&mut p, &[1.0], &mut state);
        assert_eq!(state.momentum_buffer.as_deref(), Some(&[1.0][..]));
        assert!((p[0] - 0.9).abs() < 1e-15);
        config.update(&mut p, &[1.0], &mut state);
        assert_eq!(state.momentum_buffer.as_deref(), Some(&[1.4][..]));
        assert_eq!(state.step, 2);
    }

    #[test]
    fn nesterov_and_maximize() {
        let config = SgdConfig {
            lr: 1.0,
            momentum: 0.5,
            nesterov: true,
            maximize: true,
            ..SgdConfig::default()
        };
        let mut p = vec![0.0f32];
        let mut state = config.init_state::<f32>(1);
        config.update(&mut p, &[2.0], &mut state);
        // g = -2, buf = -2, g + 0.5 buf = -3, p = 0 - (-3).
        assert_eq!(p[0], 3.0);
    }

    #[test]
    fn validation_names_the_parameter() {
        let bad = [
            (
                SgdConfig {
                    lr: -1.0,
                    ..SgdConfig::default()
                },
                "lr",
            ),
            (
                SgdConfig {
                    momentum: -0.1,
                    ..SgdConfig::default()
                },
                "momentum",
            ),
            (
                SgdConfig {
                    weight_decay: -0.1,
                    ..SgdConfig::default()
                },
                "weight_decay",
            ),
            (
                SgdConfig {
                    nesterov: true,
                    ..SgdConfig::default()
                },
                "nesterov",
            ),
            (
                SgdConfig {
                    nesterov: true,
                    momentum: 0.9,
                    dampening: 0.1,
                    ..SgdConfig::default()
                },
                "nesterov",
            ),
        ];
        for (config, name) in bad {
            let e = config.validate().unwrap_err();
            assert!(
                e.to_string().starts_with(&format!("SGD: invalid {name} =")),
                "{e}"
            );
        }
        assert!(SgdConfig::default().validate().is_ok());
    }

    #[test]
    #[should_panic(expected = "SGD: the gradient has 1 elements but the parameter has 2")]
    fn length_mismatch_panics() {
        sgd_step(&mut [0.0f64, 0.0], &[1.0], None, &SgdConfig::default(), 1);
    }
}
