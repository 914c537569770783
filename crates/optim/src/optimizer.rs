//! The [`Optimizer`] trait and the one generic optimizer that runs every update rule over
//! parameter [`Var`]s, in parameter groups.

use crate::clip::grads_are_finite;
use crate::rules::{
    AdadeltaConfig, AdagradConfig, AdamConfig, NadamConfig, ParamState, RadamConfig, RmspropConfig,
    SgdConfig, UpdateRule,
};
use crate::state::{GroupState, OptimizerState};
use crate::{LrControl, OptimError};
use graft_autograd::Var;
use graft_tensor::Float;
use std::fmt;

/// An optimizer: it owns a list of parameters (in groups, each with its own
/// hyperparameters) and their per-parameter state, and updates the parameters in place
/// from their gradients. Object safe: a training loop can hold a
/// `Box<dyn Optimizer<f32>>`.
///
/// Every optimizer is also an [`LrControl`], so schedulers drive its groups' learning
/// rates (and momentum or `beta1`) directly.
///
/// ```
/// use graft_autograd::Var;
/// use graft_optim::rules::SgdConfig;
/// use graft_optim::{Optimizer, Sgd};
/// use graft_tensor::Tensor;
///
/// let w = Var::parameter(Tensor::from_vec(vec![1.0f32, -1.0], &[2]));
/// let mut opt: Box<dyn Optimizer> = Box::new(
///     Sgd::new(vec![w.clone()], SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() }).unwrap(),
/// );
/// for _ in 0..3 {
///     opt.zero_grad();
///     let loss = (&w * &w).sum(); // minimum at 0
///     loss.backward().unwrap();
///     opt.step().unwrap();
/// }
/// assert!(w.value().to_vec().iter().all(|x| x.abs() < 1.0));
/// ```
pub trait Optimizer<T: Float = f32>: LrControl + Send {
    /// PyTorch's class name: `"SGD"`, `"RMSprop"`, `"Adam"`, `"AdamW"`, `"Adagrad"`,
    /// `"Adadelta"`, `"NAdam"` or `"RAdam"`.
    fn name(&self) -> &'static str;

    /// Updates every parameter that has a gradient, in place; parameters without one
    /// (`grad()` is `None`) are skipped and their state does not advance, as in PyTorch.
    ///
    /// Errors, before touching any parameter, if a gradient's shape differs from its
    /// parameter's.
    ///
    /// **Non-finite gradients.** Nothing is checked: a NaN or infinite gradient element
    /// flows into the update exactly as in PyTorch. The parameter element becomes NaN (or
    /// infinite), and for rules with running averages (momentum, Adam's moments, ...) the
    /// state element stays NaN for every later step. To skip such a step, test
    /// [`grads_are_finite`](Self::grads_are_finite) (or the free function
    /// [`grads_are_finite`](crate::grads_are_finite)) first; gradient clipping by norm
    /// turns every gradient NaN when one element is, so test before clipping.
    fn step(&mut self) -> Result<(), OptimError>;

    /// Clears every parameter's gradient (PyTorch's `zero_grad(set_to_none=True)`).
    fn zero_grad(&self);

    /// The learning rate of the first parameter group.
    fn lr(&self) -> f64;

    /// Sets the learning rate of every parameter group.
    fn set_lr(&mut self, lr: f64);

    /// The number of parameter groups (the same as [`LrControl::num_groups`]).
    fn num_param_groups(&self) -> usize;

    /// The parameters of `group`, in the order they were given. Panics if `group` is out
    /// of range.
    fn param_group(&self, group: usize) -> &[Var<T>];

    /// Every hyperparameter of `group` by PyTorch name (flags as 0 or 1). Panics if
    /// `group` is out of range.
    fn group_hyperparams(&self, group: usize) -> Vec<(&'static str, f64)>;

    /// Sets one hyperparameter of `group` by PyTorch name (e.g. `"weight_decay"`), checking
    /// the result as the constructor does; on error nothing changes. Panics if `group` is
    /// out of range.
    fn set_group_hyperparam(
        &mut self,
        group: usize,
        name: &str,
        value: f64,
    ) -> Result<(), OptimError>;

    /// A copy of everything needed to resume training exactly: hyperparameters per group,
    /// step counts and buffers per parameter (PyTorch's `state_dict()`).
    fn state_dict(&self) -> OptimizerState<T>;

    /// Restores a state saved by [`state_dict`](Self::state_dict) of an optimizer of the
    /// same kind over parameters of the same shapes, in the same groups. Afterwards
    /// training continues bit for bit as if never interrupted (given the same parameter
    /// values). Checks everything before changing anything: on error nothing changes.
    fn load_state_dict(&mut self, state: &OptimizerState<T>) -> Result<(), OptimError>;

    /// True when every parameter's gradient is free of NaN and infinity (parameters
    /// without a gradient count as finite): test it before [`step`](Self::step) to skip
    /// a step that would poison the parameters.
    fn grads_are_finite(&self) -> bool {
        (0..self.num_param_groups()).all(|g| grads_are_finite(self.param_group(g)))
    }

    /// This optimizer as the [`LrControl`] a scheduler takes (a `&mut dyn Optimizer`
    /// can also be passed directly where the compiler supports trait upcasting).
    fn as_lr_control(&mut self) -> &mut dyn LrControl;
}

/// Lets a boxed optimizer be handed to schedulers as it is: `sched.step(&mut opt)`.
impl<T: Float> LrControl for Box<dyn Optimizer<T> + '_> {
    fn num_groups(&self) -> usize {
        (**self).num_groups()
    }

    fn group_lr(&self, group: usize) -> f64 {
        (**self).group_lr(group)
    }

    fn set_group_lr(&mut self, group: usize, lr: f64) {
        (**self).set_group_lr(group, lr);
    }

    fn group_momentum(&self, group: usize) -> Option<f64> {
        (**self).group_momentum(group)
    }

    fn set_group_momentum(&mut self, group: usize, momentum: f64) {
        (**self).set_group_momentum(group, momentum);
    }
}

/// A set of parameters sharing hyperparameters: e.g. weights with weight decay and
/// biases without (PyTorch's parameter-group dicts).
#[derive(Clone)]
pub struct ParamGroup<R, T: Float = f32> {
    /// The parameters (tracked leaf Vars).
    pub params: Vec<Var<T>>,
    /// The hyperparameters (an update rule's config, e.g. [`AdamConfig`]).
    pub config: R,
}

impl<R, T: Float> ParamGroup<R, T> {
    /// A group of `params` with hyperparameters `config`.
    pub fn new(params: Vec<Var<T>>, config: R) -> Self {
        Self { params, config }
    }
}

impl<R: fmt::Debug, T: Float> fmt::Debug for ParamGroup<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shapes: Vec<&[usize]> = self.params.iter().map(|p| p.shape()).collect();
        f.debug_struct("ParamGroup")
            .field("params", &shapes)
            .field("config", &self.config)
            .finish()
    }
}

/// An optimizer running update rule `R` over parameters of element type `T`: the
/// implementation behind [`Sgd`], [`Rmsprop`], [`Adam`], [`AdamW`], [`Adagrad`],
/// [`Adadelta`], [`Nadam`] and [`Radam`].
///
/// Per-parameter state buffers are allocated once, at construction (or when a group is
/// added), and reused by every step.
///
/// ```
/// use graft_autograd::Var;
/// use graft_optim::rules::AdamConfig;
/// use graft_optim::{AdamW, Optimizer, ParamGroup};
/// use graft_tensor::Tensor;
///
/// let w = Var::parameter(Tensor::<f32>::ones(&[4, 3]));
/// let b = Var::parameter(Tensor::<f32>::zeros(&[3]));
/// // Decay the weights but not the bias.
/// let mut opt = AdamW::with_groups(vec![
///     ParamGroup::new(vec![w], AdamConfig::adamw().lr(1e-3)),
///     ParamGroup::new(vec![b], AdamConfig::adamw().lr(1e-3).weight_decay(0.0)),
/// ])
/// .unwrap();
/// assert_eq!(opt.name(), "AdamW");
/// assert_eq!(opt.num_param_groups(), 2);
/// opt.set_lr(1e-2); // every group
/// assert_eq!(opt.config(1).lr, 1e-2);
/// ```
pub struct GenericOptimizer<R: UpdateRule, T: Float = f32> {
    groups: Vec<ParamGroup<R, T>>,
    /// `states[g][i]` belongs to `groups[g].params[i]`.
    states: Vec<Vec<R::State<T>>>,
}

/// PyTorch's `torch.optim.SGD`: `Sgd::new(params, SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() })`.
pub type Sgd<T = f32> = GenericOptimizer<SgdConfig, T>;
/// PyTorch's `torch.optim.RMSprop`, configured by [`RmspropConfig`].
pub type Rmsprop<T = f32> = GenericOptimizer<RmspropConfig, T>;
/// PyTorch's `torch.optim.Adam`: `Adam::new(params, AdamConfig::default().lr(1e-3))`.
pub type Adam<T = f32> = GenericOptimizer<AdamConfig, T>;
/// PyTorch's `torch.optim.AdamW`. The same type as [`Adam`]: what makes it AdamW is the
/// config, so start from [`AdamConfig::adamw`] (decoupled weight decay 0.01), e.g.
/// `AdamW::new(params, AdamConfig::adamw().lr(1e-3))`; `AdamConfig::default()` would
/// give plain Adam.
pub type AdamW<T = f32> = GenericOptimizer<AdamConfig, T>;
/// PyTorch's `torch.optim.Adagrad`, configured by [`AdagradConfig`].
pub type Adagrad<T = f32> = GenericOptimizer<AdagradConfig, T>;
/// PyTorch's `torch.optim.Adadelta`, configured by [`AdadeltaConfig`].
pub type Adadelta<T = f32> = GenericOptimizer<AdadeltaConfig, T>;
/// PyTorch's `torch.optim.NAdam`, configured by [`NadamConfig`].
pub type Nadam<T = f32> = GenericOptimizer<NadamConfig, T>;
/// PyTorch's `torch.optim.RAdam`, configured by [`RadamConfig`].
pub type Radam<T = f32> = GenericOptimizer<RadamConfig, T>;

impl<R: UpdateRule, T: Float> GenericOptimizer<R, T> {
    /// An optimizer over `params`, all with hyperparameters `config`. Errors name the
    /// first invalid hyperparameter (`"Adam: invalid betas[1] = 1: ..."`), and reject an
    /// empty parameter list and computed (non-leaf) Vars, as PyTorch does.
    pub fn new(params: Vec<Var<T>>, config: R) -> Result<Self, OptimError> {
        Self::with_groups(vec![ParamGroup::new(params, config)])
    }

    /// An optimizer over several parameter groups, each with its own hyperparameters.
    /// Errors as [`new`](Self::new) does; at least one parameter overall is required
    /// (a single group may be empty).
    pub fn with_groups(groups: Vec<ParamGroup<R, T>>) -> Result<Self, OptimError> {
        let owner = groups.first().map_or("optimizer", |g| g.config.name());
        if groups.iter().all(|g| g.params.is_empty()) {
            return Err(OptimError::params(owner, "got an empty parameter list"));
        }
        let mut opt = Self {
            groups: Vec::with_capacity(groups.len()),
            states: Vec::with_capacity(groups.len()),
        };
        for group in groups {
            opt.add_param_group(group)?;
        }
        Ok(opt)
    }

    /// Adds a parameter group (PyTorch's `add_param_group`), for example to unfreeze
    /// layers during fine-tuning. Errors as [`new`](Self::new) does.
    pub fn add_param_group(&mut self, group: ParamGroup<R, T>) -> Result<(), OptimError> {
        group.config.validate()?;
        let owner = group.config.name();
        if let Some(kind) = self.groups.first().map(|g| g.config.name()) {
            if kind != owner {
                return Err(OptimError::params(
                    kind,
                    format!("cannot add a group configured as {owner}"),
                ));
            }
        }
        let index = self.groups.len();
        for (i, p) in group.params.iter().enumerate() {
            if !p.is_leaf() {
                return Err(OptimError::params(
                    owner,
                    format!(
                        "can't optimize {}: it was computed by an op, not a leaf Var",
                        param_label(p, index, i)
                    ),
                ));
            }
        }
        let states = group
            .params
            .iter()
            .map(|p| group.config.init_state(p.numel()))
            .collect();
        self.groups.push(group);
        self.states.push(states);
        Ok(())
    }

    /// The parameter groups.
    pub fn groups(&self) -> &[ParamGroup<R, T>] {
        &self.groups
    }

    /// The hyperparameters of `group`. Panics if `group` is out of range.
    pub fn config(&self, group: usize) -> &R {
        &self.groups[group].config
    }

    /// Replaces the hyperparameters of `group` after checking them. A rule switched to
    /// needing a buffer it lacked (e.g. `amsgrad` turned on) starts it as PyTorch does.
    /// Panics if `group` is out of range.
    pub fn set_config(&mut self, group: usize, config: R) -> Result<(), OptimError> {
        config.validate()?;
        let kind = self.groups[0].config.name();
        if config.name() != kind {
            return Err(OptimError::params(
                kind,
                format!("cannot switch a group to {}", config.name()),
            ));
        }
        self.groups[group].config = config;
        Ok(())
    }

    /// The optimizer state of parameter `index` of `group`. Panics if out of range.
    pub fn param_state(&self, group: usize, index: usize) -> &R::State<T> {
        &self.states[group][index]
    }
}

/// How error messages name a parameter: its Var name, or its place.
fn param_label<T: Float>(p: &Var<T>, group: usize, index: usize) -> String {
    match p.name() {
        Some(name) => format!("parameter '{name}' (group {group}, index {index})"),
        None => format!("parameter {index} of group {group}"),
    }
}

impl<R: UpdateRule, T: Float> LrControl for GenericOptimizer<R, T> {
    fn num_groups(&self) -> usize {
        self.groups.len()
    }

    fn group_lr(&self, group: usize) -> f64 {
        self.groups[group].config.lr()
    }

    fn set_group_lr(&mut self, group: usize, lr: f64) {
        self.groups[group].config.set_lr(lr);
    }

    fn group_momentum(&self, group: usize) -> Option<f64> {
        self.groups[group].config.momentum()
    }

    fn set_group_momentum(&mut self, group: usize, momentum: f64) {
        self.groups[group].config.set_momentum(momentum);
    }
}

impl<R: UpdateRule, T: Float> Optimizer<T> for GenericOptimizer<R, T> {
    fn name(&self) -> &'static str {
        self.groups[0].config.name()
    }

    /// See [`Optimizer::step`]. Memory: no allocation when every gradient is contiguous
    /// (what backward produces) and no one else holds a parameter's storage. A
    /// non-contiguous gradient is first copied to a contiguous buffer; a parameter whose
    /// storage is shared (a live graph that saved it, a `value()` clone kept around) is
    /// copied once by copy-on-write, leaving the other holder the old values.
    fn step(&mut self) -> Result<(), OptimError> {
        for (g, group) in self.groups.iter().enumerate() {
            for (i, p) in group.params.iter().enumerate() {
                if let Some(grad) = p.grad() {
                    if grad.shape() != p.shape() {
                        return Err(OptimError::params(
                            group.config.name(),
                            format!(
                                "the gradient of {} has shape {:?}, but the parameter has shape {:?}",
                                param_label(p, g, i),
                                grad.shape(),
                                p.shape()
                            ),
                        ));
                    }
                }
            }
        }
        for (group, states) in self.groups.iter().zip(&mut self.states) {
            for (p, state) in group.params.iter().zip(states.iter_mut()) {
                let Some(grad) = p.grad() else { continue };
                let grad = grad.contiguous();
                let grad = grad.as_slice().expect("a contiguous tensor is one slice");
                p.update_value(|data| group.config.update(data, grad, state));
            }
        }
        Ok(())
    }

    fn zero_grad(&self) {
        for p in self.groups.iter().flat_map(|g| &g.params) {
            p.zero_grad();
        }
    }

    fn lr(&self) -> f64 {
        self.groups[0].config.lr()
    }

    fn set_lr(&mut self, lr: f64) {
        for group in &mut self.groups {
            group.config.set_lr(lr);
        }
    }

    fn num_param_groups(&self) -> usize {
        self.groups.len()
    }

    fn param_group(&self, group: usize) -> &[Var<T>] {
        &self.groups[group].params
    }

    fn group_hyperparams(&self, group: usize) -> Vec<(&'static str, f64)> {
        self.groups[group].config.hyperparams()
    }

    fn set_group_hyperparam(
        &mut self,
        group: usize,
        name: &str,
        value: f64,
    ) -> Result<(), OptimError> {
        let mut config = self.groups[group].config.clone();
        config.set_hyperparam(name, value)?;
        self.set_config(group, config)
    }

    fn state_dict(&self) -> OptimizerState<T> {
        OptimizerState {
            kind: self.name().to_string(),
            groups: self
                .groups
                .iter()
                .zip(&self.states)
                .map(|(group, states)| GroupState {
                    hyperparams: group
                        .config
                        .hyperparams()
                        .into_iter()
                        .map(|(name, v)| (name.to_string(), v))
                        .collect(),
                    params: group
                        .params
                        .iter()
                        .zip(states)
                        .map(|(p, s)| s.save(p.shape()))
                        .collect(),
                })
                .collect(),
        }
    }

    fn load_state_dict(&mut self, state: &OptimizerState<T>) -> Result<(), OptimError> {
        let owner = self.name();
        let bad = |reason: String| OptimError::state(owner, reason);
        if state.kind != owner {
            return Err(bad(format!("the state was saved by {}", state.kind)));
        }
        if state.groups.len() != self.groups.len() {
            return Err(bad(format!(
                "the state has {} parameter groups, the optimizer {}",
                state.groups.len(),
                self.groups.len()
            )));
        }
        let mut configs = Vec::with_capacity(self.groups.len());
        let mut states = Vec::with_capacity(self.groups.len());
        for (g, (group, saved)) in self.groups.iter().zip(&state.groups).enumerate() {
            let mut config = group.config.clone();
            for (name, value) in &saved.hyperparams {
                config.set_hyperparam(name, *value)?;
            }
            config.validate()?;
            if config.name() != owner {
                return Err(bad(format!(
                    "group {g}'s hyperparameters make it {}",
                    config.name()
                )));
            }
            if saved.params.len() != group.params.len() {
                return Err(bad(format!(
                    "group {g} has {} parameters in the state, {} in the optimizer",
                    saved.params.len(),
                    group.params.len()
                )));
            }
            let mut group_states = Vec::with_capacity(group.params.len());
            for (i, (p, saved)) in group.params.iter().zip(&saved.params).enumerate() {
                if saved.shape != p.shape() {
                    return Err(bad(format!(
                        "{} has shape {:?}, but the state is for shape {:?}",
                        param_label(p, g, i),
                        p.shape(),
                        saved.shape
                    )));
                }
                saved
                    .check_plausible()
                    .map_err(|why| bad(format!("{}: {why}", param_label(p, g, i))))?;
                let restored = R::State::<T>::restore(saved)?;
                if let Some((name, b)) = restored
                    .buffers()
                    .into_iter()
                    .find(|(_, b)| b.len() != p.numel())
                {
                    return Err(bad(format!(
                        "buffer `{name}` of {} has {} elements, the parameter {}",
                        param_label(p, g, i),
                        b.len(),
                        p.numel()
                    )));
                }
                group_states.push(restored);
            }
            configs.push(config);
            states.push(group_states);
        }
        for (group, config) in self.groups.iter_mut().zip(configs) {
            group.config = config;
        }
        self.states = states;
        Ok(())
    }

    fn as_lr_control(&mut self) -> &mut dyn LrControl {
        self
    }
}

impl<R: UpdateRule, T: Float> fmt::Debug for GenericOptimizer<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(self.name())
            .field("groups", &self.groups)
            .finish()
    }
}
