//! RMSprop, plain or centered, with optional momentum.

use super::common::{builders, check_lr, check_non_negative, EffectiveGrad, Lerp};
use super::par::{check_len, for_each_chunk};
use super::{Hyperparam, ParamState, UpdateRule};
use crate::state::SavedParamState;
use crate::OptimError;
use graft_tensor::Float;

const OWNER: &str = "RMSprop";

/// PyTorch's `torch.optim.RMSprop` hyperparameters and defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct RmspropConfig {
    /// Learning rate (default 1e-2).
    pub lr: f64,
    /// Smoothing constant of the squared-gradient average (default 0.99).
    pub alpha: f64,
    /// Added to the denominator for stability (default 1e-8).
    pub eps: f64,
    /// L2 penalty coefficient (default 0).
    pub weight_decay: f64,
    /// Momentum factor (default 0).
    pub momentum: f64,
    /// Normalize by the estimated variance instead of the raw second moment (default false).
    pub centered: bool,
    /// Ascend the objective instead of descending it (default false).
    pub maximize: bool,
}

builders!(RmspropConfig {
    lr: f64,
    alpha: f64,
    eps: f64,
    weight_decay: f64,
    momentum: f64,
    centered: bool,
    maximize: bool
});

impl Default for RmspropConfig {
    fn default() -> Self {
        Self {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            maximize: false,
        }
    }
}

impl RmspropConfig {
    /// Checks the hyperparameters as PyTorch does.
    pub fn validate(&self) -> Result<(), OptimError> {
        check_lr(OWNER, self.lr)?;
        check_non_negative(OWNER, "eps", self.eps)?;
        check_non_negative(OWNER, "momentum", self.momentum)?;
        check_non_negative(OWNER, "weight_decay", self.weight_decay)?;
        check_non_negative(OWNER, "alpha", self.alpha)
    }
}

/// RMSprop's state for one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct RmspropState<T> {
    /// Steps taken.
    pub step: u64,
    /// Running average of squared gradients (PyTorch's `square_avg`).
    pub square_avg: Vec<T>,
    /// Running average of gradients, when centered (`grad_avg`).
    pub grad_avg: Option<Vec<T>>,
    /// Momentum buffer, when momentum > 0 (`momentum_buffer`).
    pub momentum_buffer: Option<Vec<T>>,
}

/// One RMSprop step: `g += wd * p`; `sq = alpha * sq + (1 - alpha) * g^2`; centered:
/// `ga = lerp(ga, g, 1 - alpha)`, `avg = sqrt(sq - ga^2) + eps`, else
/// `avg = sqrt(sq) + eps`; with momentum `buf = momentum * buf + g / avg` and
/// `p -= lr * buf`, else `p -= lr * g / avg`.
///
/// `grad_avg` is required when centered, `momentum_buffer` when momentum > 0.
pub fn rmsprop_step<T: Float>(
    param: &mut [T],
    grad: &[T],
    square_avg: &mut [T],
    grad_avg: Option<&mut [T]>,
    momentum_buffer: Option<&mut [T]>,
    config: &RmspropConfig,
) {
    let n = param.len();
    check_len(OWNER, "the gradient", n, grad.len());
    check_len(OWNER, "square_avg", n, square_avg.len());
    let grad_avg = config.centered.then(|| {
        let ga = grad_avg.expect("RMSprop: centered needs a grad_avg buffer");
        check_len(OWNER, "grad_avg", n, ga.len());
        ga
    });
    let momentum_buffer = (config.momentum > 0.0).then(|| {
        let buf = momentum_buffer.expect("RMSprop: momentum > 0 needs a momentum buffer");
        check_len(OWNER, "momentum_buffer", n, buf.len());
        buf
    });

    let coefs = RmspropCoefs {
        grad_of: EffectiveGrad::<T>::new(config.maximize, config.weight_decay),
        alpha: T::from_f64(config.alpha),
        one_minus_alpha: T::from_f64(1.0 - config.alpha),
        mean: Lerp::<T>::new(1.0 - config.alpha),
        eps: T::from_f64(config.eps),
        momentum: T::from_f64(config.momentum),
        neg_lr: T::from_f64(-config.lr),
    };

    for_each_chunk(
        (param, grad, square_avg, grad_avg, momentum_buffer),
        &|(p, g, sq, ga, buf)| {
            // A copy in locals (kept in registers) and one loop per combination of the
            // optional buffers, so that no loop tests an option per element.
            let c = coefs;
            match (ga, buf) {
                (None, None) => rmsprop_loop::<T, false, false>(p, g, sq, &mut [], &mut [], c),
                (Some(ga), None) => rmsprop_loop::<T, true, false>(p, g, sq, ga, &mut [], c),
                (None, Some(buf)) => rmsprop_loop::<T, false, true>(p, g, sq, &mut [], buf, c),
                (Some(ga), Some(buf)) => rmsprop_loop::<T, true, true>(p, g, sq, ga, buf, c),
            }
        },
    );
}

/// RMSprop's per-step coefficients.
#[derive(Clone, Copy)]
struct RmspropCoefs<T> {
    grad_of: EffectiveGrad<T>,
    alpha: T,
    one_minus_alpha: T,
    mean: Lerp<T>,
    eps: T,
    momentum: T,
    neg_lr: T,
}

/// RMSprop over one chunk; `ga` (read only when `CENTERED`) and `buf` (only with
/// `MOMENTUM`) may be empty otherwise.
#[inline(always)]
fn rmsprop_loop<T: Float, const CENTERED: bool, const MOMENTUM: bool>(
    p: &mut [T],
    g: &[T],
    sq: &mut [T],
    ga: &mut [T],
    buf: &mut [T],
    c: RmspropCoefs<T>,
) {
    let n = p.len();
    let (g, sq) = (&g[..n], &mut sq[..n]);
    let ga = if CENTERED { &mut ga[..n] } else { ga };
    let buf = if MOMENTUM { &mut buf[..n] } else { buf };
    for i in 0..n {
        let g = c.grad_of.at(g[i], p[i]);
        sq[i] = sq[i] * c.alpha + c.one_minus_alpha * g * g;
        let avg = if CENTERED {
            ga[i] = c.mean.apply(ga[i], g);
            (sq[i] - ga[i] * ga[i]).sqrt()
        } else {
            sq[i].sqrt()
        } + c.eps;
        if MOMENTUM {
            buf[i] = buf[i] * c.momentum + g / avg;
            p[i] += c.neg_lr * buf[i];
        } else {
            p[i] += c.neg_lr * g / avg;
        }
    }
}

impl UpdateRule for RmspropConfig {
    type State<T: Float> = RmspropState<T>;

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
        RmspropConfig::validate(self)
    }

    fn visit_hyperparams(&mut self, f: &mut dyn FnMut(&'static str, Hyperparam<'_>)) {
        f("lr", Hyperparam::Float(&mut self.lr));
        f("alpha", Hyperparam::Float(&mut self.alpha));
        f("eps", Hyperparam::Float(&mut self.eps));
        f("weight_decay", Hyperparam::Float(&mut self.weight_decay));
        f("momentum", Hyperparam::Float(&mut self.momentum));
        f("centered", Hyperparam::Flag(&mut self.centered));
        f("maximize", Hyperparam::Flag(&mut self.maximize));
    }

    fn init_state<T: Float>(&self, numel: usize) -> RmspropState<T> {
        RmspropState {
            step: 0,
            square_avg: vec![T::ZERO; numel],
            grad_avg: self.centered.then(|| vec![T::ZERO; numel]),
            momentum_buffer: (self.momentum > 0.0).then(|| vec![T::ZERO; numel]),
        }
    }

    fn update<T: Float>(&self, param: &mut [T], grad: &[T], state: &mut RmspropState<T>) {
        state.step += 1;
        // A buffer switched on after the first steps starts at zero, as in PyTorch.
        if self.centered && state.grad_avg.is_none() {
            state.grad_avg = Some(vec![T::ZERO; param.len()]);
        }
        if self.momentum > 0.0 && state.momentum_buffer.is_none() {
            state.momentum_buffer = Some(vec![T::ZERO; param.len()]);
        }
        rmsprop_step(
            param,
            grad,
            &mut state.square_avg,
            state.grad_avg.as_deref_mut(),
            state.momentum_buffer.as_deref_mut(),
            self,
        );
    }
}

impl<T: Float> ParamState<T> for RmspropState<T> {
    fn restore(saved: &SavedParamState<T>) -> Result<Self, OptimError> {
        let mut r = saved.reader(OWNER);
        let state = RmspropState {
            step: saved.step,
            square_avg: r.required("square_avg")?,
            grad_avg: r.optional("grad_avg"),
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
        let mut out = vec![("square_avg", self.square_avg.as_slice())];
        if let Some(b) = &self.momentum_buffer {
            out.push(("momentum_buffer", b.as_slice()));
        }
        if let Some(b) = &self.grad_avg {
            out.push(("grad_avg", b.as_slice()));
        }
        out
    }

    fn buffers_mut(&mut self) -> Vec<(&'static str, &mut [T])> {
        let mut out = vec![("square_avg", self.square_avg.as_mut_slice())];
        if let Some(b) = &mut self.momentum_buffer {
            out.push(("momentum_buffer", b.as_mut_slice()));
        }
        if let Some(b) = &mut self.grad_avg {
            out.push(("grad_avg", b.as_mut_slice()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_divides_by_the_root_mean_square() {
        let config = RmspropConfig {
            lr: 0.1,
            alpha: 0.75,
            eps: 0.0,
            ..RmspropConfig::default()
        };
        let mut p = vec![1.0f64];
        let mut state = config.init_state::<f64>(1);
        config.update(&mut p, &[2.0], &mut state);
        // sq = 0.25 * 4 = 1, p = 1 - 0.1 * 2 / 1.
        assert!((p[0] - 0.8).abs() < 1e-15);
    }

    #[test]
    fn centered_and_momentum_buffers_exist_only_when_asked() {
        let plain = RmspropConfig::default().init_state::<f32>(3);
        assert_eq!(plain.buffers().len(), 1);
        let full = RmspropConfig {
            centered: true,
            momentum: 0.9,
            ..RmspropConfig::default()
        }
        .init_state::<f32>(3);
        let names: Vec<_> = full.buffers().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["square_avg", "momentum_buffer", "grad_avg"]);
    }

    #[test]
    fn validation_names_the_parameter() {
        for (config, name) in [
            (
                RmspropConfig {
                    lr: -1.0,
                    ..RmspropConfig::default()
                },
                "lr",
            ),
            (
                RmspropConfig {
                    alpha: -1.0,
                    ..RmspropConfig::default()
                },
                "alpha",
            ),
            (
                RmspropConfig {
                    eps: -1.0,
                    ..RmspropConfig::default()
                },
                "eps",
            ),
            (
                RmspropConfig {
                    momentum: -1.0,
                    ..RmspropConfig::default()
                },
                "momentum",
            ),
            (
                RmspropConfig {
                    weight_decay: -1.0,
                    ..RmspropConfig::default()
                },
                "weight_decay",
            ),
        ] {
            let e = config.validate().unwrap_err();
            assert!(
                e.to_string()
                    .starts_with(&format!("RMSprop: invalid {name} =")),
                "{e}"
            );
        }
    }
}
