//! Training one trial with `fit`: the trial's optimizer, penalty and schedule over a model,
//! on given training and validation data.

use graft_autograd::Var;
use graft_nn::regularize::{l1, l2};
use graft_nn::Module;
use graft_optim::rules::{AdamConfig, RmspropConfig, SgdConfig};
use graft_optim::{
    Adam, AdamW, CosineAnnealingLr, OptimError, Optimizer, Rmsprop, Schedule, Sgd, StepLr,
};
use graft_tensor::Result as TensorResult;

use super::halving::RunOutcome;
use super::space::{OptimizerKind, PenaltyKind, ScheduleKind, TrialConfig};
use crate::data::{Targets, TensorDataset};
use crate::train::{
    fit, losses, FitConfig, History, LossFn, LrSchedulerCallback, TrainError, Verbosity,
};

/// The trial's optimizer over `params`, with its lr and weight decay (PyTorch's other
/// defaults; momentum 0.9 for `Momentum`).
pub fn build_optimizer(
    trial: &TrialConfig,
    params: Vec<Var<f32>>,
) -> Result<Box<dyn Optimizer<f32>>, OptimError> {
    let (lr, wd) = (trial.lr, trial.weight_decay);
    Ok(match trial.optimizer {
        OptimizerKind::Sgd | OptimizerKind::Momentum => Box::new(Sgd::new(
            params,
            SgdConfig {
                lr,
                weight_decay: wd,
                momentum: if trial.optimizer == OptimizerKind::Momentum {
                    0.9
                } else {
                    0.0
                },
                ..SgdConfig::default()
            },
        )?),
        OptimizerKind::Rmsprop => Box::new(Rmsprop::new(
            params,
            RmspropConfig {
                lr,
                weight_decay: wd,
                ..RmspropConfig::default()
            },
        )?),
        OptimizerKind::Adam => Box::new(Adam::new(
            params,
            AdamConfig {
                lr,
                weight_decay: wd,
                ..AdamConfig::default()
            },
        )?),
        OptimizerKind::AdamW => Box::new(AdamW::new(
            params,
            AdamConfig {
                lr,
                weight_decay: wd,
                ..AdamConfig::adamw()
            },
        )?),
    })
}

/// Trains `model` (freshly initialised by the caller) with the trial's hyperparameters for
/// `epochs` on `train`, validating on `validation` each epoch; cross-entropy plus the
/// trial's penalty. A diverging run ends with [`TrainError::NonFiniteLoss`].
pub fn fit_trial<M: Module<f32>>(
    model: &M,
    trial: &TrialConfig,
    epochs: usize,
    train: &TensorDataset,
    validation: &TensorDataset,
    seed: u64,
) -> Result<History, TrainError> {
    let mut optimizer = build_optimizer(trial, model.parameters())?;
    let (penalty, coef) = (trial.penalty, trial.penalty_coef as f32);
    let loss = move |out: &Var<f32>, t: &Targets| -> TensorResult<Var<f32>> {
        let ce = losses::cross_entropy(out, t)?;
        match penalty {
            PenaltyKind::None => Ok(ce),
            PenaltyKind::L1 => ce.try_add(&l1(model, coef)),
            PenaltyKind::L2 => ce.try_add(&l2(model, coef)),
        }
    };
    let mut config = FitConfig::new()
        .batch_size(trial.batch_size)
        .epochs(epochs)
        .validation_data(validation.clone())
        .seed(seed)
        .verbosity(Verbosity::Silent);
    let epochs64 = epochs.max(1) as u64;
    match trial.schedule {
        ScheduleKind::Constant => {}
        ScheduleKind::Cosine => {
            let s = CosineAnnealingLr::new(epochs64, 0.0)?.attach(optimizer.as_lr_control());
            config = config.callback(LrSchedulerCallback::per_epoch(s));
        }
        ScheduleKind::Step => {
            let s = StepLr::new((epochs64 / 3).max(1), 0.1)?.attach(optimizer.as_lr_control());
            config = config.callback(LrSchedulerCallback::per_epoch(s));
        }
    }
    let loss_fn: &LossFn<'_> = &loss;
    fit(model, optimizer.as_mut(), loss_fn, train, config)
}

/// A [`RunOutcome`] from a History: the last epoch's `column` (e.g. `val_accuracy`).
pub fn outcome(history: History, column: &str) -> Result<RunOutcome, String> {
    let last = history
        .last()
        .ok_or_else(|| "no epoch was trained".to_string())?;
    let metric = last
        .get(column)
        .ok_or_else(|| format!("the History has no column {column:?}"))?;
    Ok(RunOutcome {
        metric,
        epochs: history.epochs.len(),
        history: Some(history),
    })
}
