//! PyTorch's optimizer update rules as in-place kernels over flat slices.
//!
//! Each rule has a configuration struct with PyTorch's names and defaults and a
//! `validate` method, a kernel function (`sgd_step`, `adam_step`, ...) that updates one
//! parameter from its gradient and state buffers, and a per-parameter state struct. The
//! [`UpdateRule`] trait ties the three together so that one generic optimizer can run any
//! rule. The formulas follow PyTorch's single-tensor implementations operation by
//! operation, so float64 results agree with PyTorch's to rounding.
//!
//! Kernels allocate nothing; slices of at least 65,536 elements are updated in parallel
//! chunks, which cannot change the result because every rule is elementwise.
//!
//! ```
//! use graft_optim::rules::{AdamConfig, UpdateRule};
//!
//! let config = AdamConfig { lr: 0.1, ..AdamConfig::default() };
//! let mut param = vec![1.0f64, -2.0];
//! let mut state = config.init_state::<f64>(param.len());
//! config.update(&mut param, &[0.5, -0.5], &mut state);
//! // Adam's first step moves every coordinate by about lr, against the gradient.
//! assert!((param[0] - 0.9).abs() < 1e-6 && (param[1] + 1.9).abs() < 1e-6);
//! ```

mod adadelta;
mod adagrad;
mod adam;
mod common;
mod nadam;
mod par;
mod radam;
mod rmsprop;
mod sgd;

pub use adadelta::{adadelta_step, AdadeltaConfig, AdadeltaState};
pub use adagrad::{adagrad_step, AdagradConfig, AdagradState};
pub use adam::{adam_step, AdamConfig, AdamState};
pub use nadam::{nadam_step, NadamConfig, NadamState};
pub use radam::{radam_step, RadamConfig, RadamState};
pub use rmsprop::{rmsprop_step, RmspropConfig, RmspropState};
pub use sgd::{sgd_step, SgdConfig, SgdState};

use crate::state::SavedParamState;
use crate::OptimError;
use graft_tensor::Float;
use std::fmt;

/// Writable access to one hyperparameter of an update rule, as
/// [`UpdateRule::visit_hyperparams`] hands it out.
#[derive(Debug)]
pub enum Hyperparam<'a> {
    /// A number (`lr`, `betas[0]`, `eps`, ...).
    Float(&'a mut f64),
    /// A switch (`amsgrad`, `nesterov`, `maximize`, ...), saved as 0 or 1.
    Flag(&'a mut bool),
}

/// An optimizer's update rule: its hyperparameters (the implementing struct, one per
/// parameter group), the state it keeps per parameter, and the update itself.
pub trait UpdateRule: Clone + fmt::Debug + Send + Sync {
    /// Per-parameter state: step count and moment buffers.
    type State<T: Float>: ParamState<T>;

    /// PyTorch's class name (`"SGD"`, `"Adam"`, `"AdamW"`, ...).
    fn name(&self) -> &'static str;

    /// The learning rate.
    fn lr(&self) -> f64;

    /// Sets the learning rate (what a scheduler calls).
    fn set_lr(&mut self, lr: f64);

    /// The momentum a one-cycle schedule may cycle: `momentum` for SGD and RMSprop,
    /// `betas[0]` for the Adam family, `None` for rules without one.
    fn momentum(&self) -> Option<f64> {
        None
    }

    /// Sets what [`momentum`](Self::momentum) reads; does nothing for rules without one.
    fn set_momentum(&mut self, momentum: f64) {
        let _ = momentum;
    }

    /// Checks every hyperparameter as PyTorch's constructor does, naming the first bad one.
    fn validate(&self) -> Result<(), OptimError>;

    /// Calls `f` once for every hyperparameter, with its PyTorch name (tuples are split:
    /// `betas[0]`, `betas[1]`) and writable access to it. [`hyperparams`](Self::hyperparams)
    /// and [`set_hyperparam`](Self::set_hyperparam) are built on it.
    fn visit_hyperparams(&mut self, f: &mut dyn FnMut(&'static str, Hyperparam<'_>));

    /// Every hyperparameter by name, flags as 0 or 1 (what an optimizer's state dict saves
    /// per parameter group, like PyTorch's `param_groups`).
    fn hyperparams(&self) -> Vec<(&'static str, f64)> {
        let mut out = Vec::new();
        self.clone().visit_hyperparams(&mut |name, h| {
            out.push((
                name,
                match h {
                    Hyperparam::Float(v) => *v,
                    Hyperparam::Flag(b) => f64::from(u8::from(*b)),
                },
            ))
        });
        out
    }

    /// Sets the hyperparameter `name` (a flag takes 0 or 1). Errors on an unknown name or
    /// a flag value other than 0 and 1; call [`validate`](Self::validate) afterwards to
    /// check the value's range.
    fn set_hyperparam(&mut self, name: &str, value: f64) -> Result<(), OptimError> {
        let owner = self.name();
        let mut result = Err(OptimError::state(
            owner,
            format!("unknown hyperparameter `{name}`"),
        ));
        self.visit_hyperparams(&mut |key, h| {
            if key != name {
                return;
            }
            result = match h {
                Hyperparam::Float(v) => {
                    *v = value;
                    Ok(())
                }
                Hyperparam::Flag(b) if value == 0.0 || value == 1.0 => {
                    *b = value == 1.0;
                    Ok(())
                }
                Hyperparam::Flag(_) => Err(OptimError::state(
                    owner,
                    format!("hyperparameter `{key}` is a flag, but the saved value is {value}"),
                )),
            };
        });
        result
    }

    /// Fresh state for a parameter of `numel` elements.
    fn init_state<T: Float>(&self, numel: usize) -> Self::State<T>;

    /// One optimizer step for one parameter: increments the state's step count and
    /// updates `param` in place from `grad`. Panics if the lengths differ.
    fn update<T: Float>(&self, param: &mut [T], grad: &[T], state: &mut Self::State<T>);
}

/// Named access to a parameter's optimizer state, for saving and loading it. Buffer and
/// scalar names are PyTorch's state keys (`exp_avg`, `square_avg`, `mu_product`, ...).
pub trait ParamState<T: Float>: Clone + fmt::Debug + Send + Sync {
    /// Steps taken so far for this parameter.
    fn step(&self) -> u64;

    /// Sets the step count (when loading a checkpoint).
    fn set_step(&mut self, step: u64);

    /// The buffers, each as long as the parameter, in a fixed order.
    fn buffers(&self) -> Vec<(&'static str, &[T])>;

    /// The same buffers, writable.
    fn buffers_mut(&mut self) -> Vec<(&'static str, &mut [T])>;

    /// Scalar state besides the step count (only NAdam has one).
    fn scalars(&self) -> Vec<(&'static str, f64)> {
        Vec::new()
    }

    /// Sets a scalar listed by [`scalars`](Self::scalars).
    fn set_scalar(&mut self, name: &str, value: f64) -> Result<(), OptimError> {
        let _ = value;
        Err(OptimError::state(
            "optimizer state",
            format!("unknown scalar `{name}`"),
        ))
    }

    /// A copy of the state, by name, for an optimizer's state dict; `shape` is the
    /// parameter's shape, recorded so that loading can check it.
    fn save(&self, shape: &[usize]) -> SavedParamState<T> {
        SavedParamState {
            shape: shape.to_vec(),
            step: self.step(),
            buffers: self
                .buffers()
                .into_iter()
                .map(|(name, data)| (name.to_string(), data.to_vec()))
                .collect(),
            scalars: self
                .scalars()
                .into_iter()
                .map(|(name, v)| (name.to_string(), v))
                .collect(),
        }
    }

    /// Rebuilds a state from what [`save`](Self::save) wrote. Exactly the buffers saved
    /// are present afterwards (an optional buffer absent when saving stays absent), so
    /// training continues bit for bit. Errors name a missing or unknown entry; the
    /// caller checks buffer lengths against the parameter.
    fn restore(saved: &SavedParamState<T>) -> Result<Self, OptimError>
    where
        Self: Sized;
}
