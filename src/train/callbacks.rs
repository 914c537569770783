//! Callbacks: code that runs at fixed points of `fit` (LR schedules, early stopping,
//! checkpoints, user closures).

use std::path::PathBuf;

use graft_nn::state::{load_state_dict_tensors, save_state_dict, state_dict};
use graft_nn::Module;
use graft_optim::{LrControl, LrScheduler, Optimizer, ReduceLrOnPlateau};
use graft_tensor::Tensor;

use super::error::TrainError;
use super::history::{EpochLogs, History};

/// What a callback sees: the model, the optimizer and the history so far.
pub struct Context<'a> {
    /// The model being trained.
    pub model: &'a dyn Module<f32>,
    /// Its optimizer (learning rate and state).
    pub optimizer: &'a mut dyn Optimizer<f32>,
    /// Epochs completed so far.
    pub history: &'a History,
    /// Examples in the batch of the step just taken (in `on_step_end`), else the current
    /// epoch's batch size.
    pub batch_size: usize,
}

/// Whether training goes on after a step or an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Keep training.
    Continue,
    /// Stop: after an epoch, training ends; after a step, the epoch ends there (it is
    /// validated and logged, and `on_epoch_end` runs) and training ends.
    Stop,
}

/// What one optimizer step did, for `on_step_end`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLogs {
    /// 1-based epoch.
    pub epoch: usize,
    /// 1-based step within the epoch.
    pub step: usize,
    /// Steps since the start of training, this one included.
    pub global_step: usize,
    /// This batch's mean loss.
    pub loss: f64,
    /// The learning rate (first parameter group) this step used; a per-step scheduler
    /// sets the next one in its own `on_step_end`.
    pub lr: f64,
}

/// Hooks into `fit`. Every method has an empty default.
pub trait Callback: Send {
    /// After every optimizer step; returning `Stop` ends training after this epoch's logs.
    fn on_step_end(
        &mut self,
        _ctx: &mut Context<'_>,
        _logs: &StepLogs,
    ) -> Result<Control, TrainError> {
        Ok(Control::Continue)
    }

    /// After each epoch's training and validation, with its logs.
    fn on_epoch_end(
        &mut self,
        _ctx: &mut Context<'_>,
        _logs: &EpochLogs,
    ) -> Result<Control, TrainError> {
        Ok(Control::Continue)
    }

    /// Values this callback adds to the epoch's logs as History columns (e.g.
    /// `noise_scale`); asked once per epoch, after training and before validation.
    fn epoch_values(&mut self) -> Vec<(String, f64)> {
        Vec::new()
    }

    /// Once, after the last epoch (also after early stopping).
    fn on_train_end(&mut self, _ctx: &mut Context<'_>) -> Result<(), TrainError> {
        Ok(())
    }
}

/// Steps an LR scheduler once per epoch or once per optimizer step.
pub struct LrSchedulerCallback {
    scheduler: Box<dyn LrScheduler>,
    per_step: bool,
}

impl LrSchedulerCallback {
    /// Steps after every epoch (PyTorch's usual `scheduler.step()` placement).
    pub fn per_epoch(scheduler: impl LrScheduler + 'static) -> Self {
        LrSchedulerCallback {
            scheduler: Box::new(scheduler),
            per_step: false,
        }
    }

    /// Steps after every optimizer step (OneCycleLR's placement).
    pub fn per_step(scheduler: impl LrScheduler + 'static) -> Self {
        LrSchedulerCallback {
            scheduler: Box::new(scheduler),
            per_step: true,
        }
    }
}

impl Callback for LrSchedulerCallback {
    fn on_step_end(
        &mut self,
        ctx: &mut Context<'_>,
        _logs: &StepLogs,
    ) -> Result<Control, TrainError> {
        if self.per_step {
            let target: &mut dyn LrControl = ctx.optimizer;
            self.scheduler.step(target);
        }
        Ok(Control::Continue)
    }

    fn on_epoch_end(
        &mut self,
        ctx: &mut Context<'_>,
        _logs: &EpochLogs,
    ) -> Result<Control, TrainError> {
        if !self.per_step {
            let target: &mut dyn LrControl = ctx.optimizer;
            self.scheduler.step(target);
        }
        Ok(Control::Continue)
    }
}

/// ReduceLROnPlateau on a logged quantity (default `val_loss`, falling back to `loss`
/// when there is no validation data).
pub struct ReduceLrOnPlateauCallback {
    scheduler: ReduceLrOnPlateau,
    monitor: String,
}

impl ReduceLrOnPlateauCallback {
    /// Watches `val_loss`.
    pub fn new(scheduler: ReduceLrOnPlateau) -> Self {
        ReduceLrOnPlateauCallback {
            scheduler,
            monitor: "val_loss".into(),
        }
    }

    /// Watches another column.
    pub fn monitor(mut self, column: &str) -> Self {
        self.monitor = column.into();
        self
    }
}

impl Callback for ReduceLrOnPlateauCallback {
    fn on_epoch_end(
        &mut self,
        ctx: &mut Context<'_>,
        logs: &EpochLogs,
    ) -> Result<Control, TrainError> {
        if let Some(metric) = monitored(logs, &self.monitor) {
            let target: &mut dyn LrControl = ctx.optimizer;
            self.scheduler.step(metric, target);
        }
        Ok(Control::Continue)
    }
}

/// The monitored value: the column, or `loss` for a missing `val_loss`.
fn monitored(logs: &EpochLogs, column: &str) -> Option<f64> {
    logs.get(column)
        .or_else(|| (column == "val_loss").then_some(logs.loss))
}

/// Stops when the monitored quantity (default `val_loss`, minimized) has not improved by
/// `min_delta` for `patience` epochs; optionally restores the best weights at the end.
pub struct EarlyStopping {
    /// Column watched.
    pub monitor: String,
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Smallest decrease that counts as an improvement.
    pub min_delta: f64,
    /// Put the best epoch's weights back when training ends.
    pub restore_best_weights: bool,
    best: f64,
    wait: usize,
    best_weights: Option<Vec<(String, Tensor<f32>)>>,
}

impl EarlyStopping {
    /// Watches `val_loss` with the given patience.
    pub fn new(patience: usize) -> Self {
        EarlyStopping {
            monitor: "val_loss".into(),
            patience,
            min_delta: 0.0,
            restore_best_weights: false,
            best: f64::INFINITY,
            wait: 0,
            best_weights: None,
        }
    }

    /// Restores the best weights when training ends.
    pub fn restore_best_weights(mut self, on: bool) -> Self {
        self.restore_best_weights = on;
        self
    }

    /// Watches another column (minimized).
    pub fn monitor(mut self, column: &str) -> Self {
        self.monitor = column.into();
        self
    }
}

impl Callback for EarlyStopping {
    fn on_epoch_end(
        &mut self,
        ctx: &mut Context<'_>,
        logs: &EpochLogs,
    ) -> Result<Control, TrainError> {
        let Some(value) = monitored(logs, &self.monitor) else {
            return Ok(Control::Continue);
        };
        if value < self.best - self.min_delta {
            self.best = value;
            self.wait = 0;
            if self.restore_best_weights {
                self.best_weights = Some(state_dict(ctx.model));
            }
            return Ok(Control::Continue);
        }
        self.wait += 1;
        Ok(if self.wait >= self.patience {
            Control::Stop
        } else {
            Control::Continue
        })
    }

    fn on_train_end(&mut self, ctx: &mut Context<'_>) -> Result<(), TrainError> {
        if let Some(best) = self.best_weights.take() {
            load_state_dict_tensors(ctx.model, best)?;
        }
        Ok(())
    }
}

/// Saves the model as safetensors whenever the monitored quantity (default `val_loss`)
/// improves. Saving writes a temporary file and renames it, so the last good checkpoint
/// survives a crash or a failed write.
pub struct ModelCheckpoint {
    path: PathBuf,
    monitor: String,
    best: f64,
}

impl ModelCheckpoint {
    /// Saves the best model (by `val_loss`) to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ModelCheckpoint {
            path: path.into(),
            monitor: "val_loss".into(),
            best: f64::INFINITY,
        }
    }

    /// Watches another column (minimized).
    pub fn monitor(mut self, column: &str) -> Self {
        self.monitor = column.into();
        self
    }
}

impl Callback for ModelCheckpoint {
    fn on_epoch_end(
        &mut self,
        ctx: &mut Context<'_>,
        logs: &EpochLogs,
    ) -> Result<Control, TrainError> {
        if let Some(value) = monitored(logs, &self.monitor) {
            if value < self.best {
                self.best = value;
                // Under data parallelism every rank holds the same weights: rank 0 writes.
                if graft_distributed::is_root_process() {
                    save_state_dict(ctx.model, &self.path)?;
                }
            }
        }
        Ok(Control::Continue)
    }
}

/// A user closure called after every optimizer step (e.g. to log the per-step lr, or to
/// stop on a condition).
pub struct StepCallback<F>(pub F);

impl<F: FnMut(&StepLogs) -> Control + Send> Callback for StepCallback<F> {
    fn on_step_end(
        &mut self,
        _ctx: &mut Context<'_>,
        logs: &StepLogs,
    ) -> Result<Control, TrainError> {
        Ok((self.0)(logs))
    }
}

/// A user closure called after every epoch.
pub struct EpochCallback<F>(pub F);

impl<F: FnMut(&EpochLogs) -> Control + Send> Callback for EpochCallback<F> {
    fn on_epoch_end(
        &mut self,
        _ctx: &mut Context<'_>,
        logs: &EpochLogs,
    ) -> Result<Control, TrainError> {
        Ok((self.0)(logs))
    }
}
