//! The training loop: `fit`.

use std::time::Instant;

use graft_autograd::Var;
use graft_nn::Module;
use graft_optim::Optimizer;
use graft_tensor::Result as TensorResult;

use super::callbacks::{Callback, Context, Control, StepLogs};
use super::checks::check_first_batch;
use super::config::FitConfig;
use super::distributed::Hooks;
use super::error::TrainError;
use super::evaluate::evaluate_in_pool;
use super::history::{EpochLogs, History, ValCheck};
use super::metrics::Metric;
use super::progress::Progress;
use crate::data::{
    Batch, BatchLoader, DataError, DataLoader, Dataset, SourceRange, Subset, Targets,
};

/// A loss in the shape `fit` takes: model outputs and targets to a scalar Var.
pub type LossFn<'a> = dyn Fn(&Var<f32>, &Targets) -> TensorResult<Var<f32>> + Sync + 'a;

/// Trains `model` on `data` (any [`Dataset`]: float features, token indices, your own)
/// with `optimizer` and `loss`, Keras-style.
///
/// Before training, the arguments are checked (each error names the argument and its
/// allowed range) and the model and loss are run on the first batch of the training and
/// validation data, so a model that does not fit the data is an error naming the layer.
/// Each epoch then runs its steps (one pass, or `steps_per_epoch`), optionally validates
/// every `val_check_interval` steps, validates at its end (the last `validation_split` of
/// `data`, or `validation_data`), calls the callbacks and appends a row to the returned
/// [`History`]. A NaN or infinite loss stops training with [`TrainError::NonFiniteLoss`]
/// before that step's update is applied.
pub fn fit<M: Module<f32>, D: Dataset + ?Sized>(
    model: &M,
    optimizer: &mut dyn Optimizer<f32>,
    loss: &LossFn<'_>,
    data: &D,
    config: FitConfig,
) -> Result<History, TrainError> {
    // The loop runs on a pool worker: see `graft::run`.
    crate::run(|| fit_in_pool(model, optimizer, loss, data, config))
}

fn fit_in_pool<M: Module<f32>, D: Dataset + ?Sized>(
    model: &M,
    optimizer: &mut dyn Optimizer<f32>,
    loss: &LossFn<'_>,
    data: &D,
    mut config: FitConfig,
) -> Result<History, TrainError> {
    config.check()?;
    let validation_data = config.validation_data.take();
    let n = data.len();
    let split = config.validation_split;
    let n_val = if validation_data.is_none() && split > 0.0 {
        ((n as f64) * split).round() as usize
    } else {
        0
    };
    if n_val == 0 && split > 0.0 && validation_data.is_none() {
        return Err(TrainError::Config(format!(
            "fit: validation_split {split} of {n} examples leaves no validation examples"
        )));
    }
    let train = Subset::new(data, 0, n - n_val);
    let split_val = Subset::new(data, n - n_val, n_val);
    let validation: Option<&dyn Dataset> = match &validation_data {
        Some(v) => Some(v.as_ref()),
        None if n_val > 0 => Some(&split_val),
        None => None,
    };
    if train.is_empty() {
        return Err(TrainError::Config(if n_val > 0 {
            format!("fit: validation_split {split} of {n} examples leaves no training examples")
        } else {
            "fit: the training set is empty".into()
        }));
    }
    if validation.is_some_and(|v| v.is_empty()) {
        return Err(TrainError::Config(
            "fit: the validation data is empty (its loss and metrics would be undefined)".into(),
        ));
    }
    // DISTRIBUTED: with a data-parallel setup each rank validates its own shard, and the
    // training batches come from the distributed sampler (see `distributed.rs`).
    let dist = Hooks::new(config.distributed.as_ref());
    let val_shard = validation.and_then(|v| dist.validation_shard(v));
    let validation: Option<&dyn Dataset> = match &val_shard {
        Some(shard) => Some(shard),
        None => validation,
    };
    if dist.active() && config.augment.is_some() {
        return Err(TrainError::Config(
            "fit: augment and distributed cannot be combined yet".into(),
        ));
    }
    check_first_batch(model, loss, &train, config.batch_size, "training")?;
    if let Some(v) = validation {
        check_first_batch(model, loss, v, config.batch_size, "validation")?;
    }
    let mut metrics = std::mem::take(&mut config.metrics);
    let mut schedule = config.batch_size_schedule.take();
    if schedule.is_some() && (dist.active() || config.augment.is_some()) {
        return Err(TrainError::Config(
            "fit: batch_size_schedule cannot be combined with augment or distributed yet".into(),
        ));
    }
    if schedule.is_some() && config.steps_per_epoch.is_some() {
        return Err(TrainError::Config(
            "fit: with a batch_size_schedule every epoch is one pass: drop steps_per_epoch".into(),
        ));
    }
    let mut loop_state = Loop {
        model,
        optimizer,
        loss,
        validation,
        val_metrics: metrics.iter().map(|m| m.fresh()).collect(),
        callbacks: std::mem::take(&mut config.callbacks),
        history: History::default(),
        global_step: 0,
        dist,
        batch_size: config.batch_size,
        scheduled: schedule.is_some(),
    };
    let mut loader = DataLoader::new(&train, config.batch_size);
    if config.shuffle {
        loader = loader.shuffled(config.seed);
    }
    let (batch_size, shuffle, seed) = (config.batch_size, config.shuffle, config.seed);
    let shard_batches = |pass| dist.epoch_batches(train.len(), batch_size, shuffle, seed, pass);
    let per_pass = shard_batches(0).map_or(loader.num_batches(), |b| b.len());
    // One endless stream of batches over reshuffled passes: pass p is the permutation of
    // epoch p, so without `steps_per_epoch` epoch e is exactly pass e - 1. With
    // augmentation the same batches come, transformed, from the prefetching loader.
    let mut stream: Box<dyn Iterator<Item = Result<Batch, DataError>> + '_> = match config
        .augment
        .take()
    {
        Some(transform) => {
            let source = data.sample_source().ok_or_else(|| {
                    TrainError::Config(
                        "fit: augment needs a dataset of float examples that can be read per example (TensorDataset)"
                            .into(),
                    )
                })?;
            let range = SourceRange::new(source, 0, n - n_val);
            let mut augmented = BatchLoader::new(std::sync::Arc::new(range), config.batch_size)
                .transform_arc(transform)
                .workers(config.num_workers, 2);
            augmented = if config.shuffle {
                augmented.shuffled(config.seed)
            } else {
                augmented.seed(config.seed)
            };
            Box::new((0usize..).flat_map(move |pass| augmented.epoch(pass)))
        }
        None if dist.active() => {
            let train = &train;
            Box::new((0usize..).flat_map(move |pass| {
                let batches = shard_batches(pass).unwrap_or_default();
                batches.into_iter().map(move |idx| train.try_batch(&idx))
            }))
        }
        None => Box::new((0usize..).flat_map(|pass| loader.try_epoch(pass))),
    };
    let epoch_limit = config.epoch_limit();
    let mut epoch = 0;
    model.train();
    while epoch_limit.is_none_or(|e| epoch < e)
        && config.max_steps.is_none_or(|m| loop_state.global_step < m)
    {
        epoch += 1;
        let stop = match schedule.as_mut() {
            // A batch-size schedule: each epoch is one pass at the epoch's batch size; the
            // loader only slices the same permutation differently (no data is copied).
            Some(s) => {
                let batch_size = s.batch_size(epoch, &mut loop_state.context()).max(1);
                loop_state.batch_size = batch_size;
                let mut pass = DataLoader::new(&train, batch_size);
                if config.shuffle {
                    pass = pass.shuffled(config.seed);
                }
                let steps = pass.num_batches();
                let mut batches = pass.try_epoch(epoch - 1);
                loop_state.epoch(
                    epoch,
                    steps,
                    &config,
                    epoch_limit,
                    &mut batches,
                    &mut metrics,
                )?
            }
            None => {
                let steps = config.steps_per_epoch.unwrap_or(per_pass);
                loop_state.epoch(
                    epoch,
                    steps,
                    &config,
                    epoch_limit,
                    &mut stream,
                    &mut metrics,
                )?
            }
        };
        if stop {
            break;
        }
    }
    let mut callbacks = std::mem::take(&mut loop_state.callbacks);
    for c in callbacks.iter_mut() {
        c.on_train_end(&mut loop_state.context())?;
    }
    Ok(loop_state.history)
}

/// What the loop carries from epoch to epoch.
struct Loop<'a, M: Module<f32>> {
    model: &'a M,
    optimizer: &'a mut dyn Optimizer<f32>,
    loss: &'a LossFn<'a>,
    validation: Option<&'a dyn Dataset>,
    val_metrics: Vec<Box<dyn Metric>>,
    callbacks: Vec<Box<dyn Callback>>,
    history: History,
    global_step: usize,
    dist: Hooks<'a>,
    /// The batch size of the current epoch.
    batch_size: usize,
    /// True when a batch-size schedule sets it (the History then has a batch_size column).
    scheduled: bool,
}

impl<M: Module<f32>> Loop<'_, M> {
    /// Runs one epoch of `steps` steps (fewer if `max_steps` or a callback ends it), logs
    /// and validates it and calls the epoch callbacks; true when training must stop.
    #[allow(clippy::too_many_arguments)]
    fn epoch(
        &mut self,
        epoch: usize,
        steps: usize,
        config: &FitConfig,
        epoch_limit: Option<usize>,
        stream: &mut impl Iterator<Item = Result<crate::data::Batch, crate::data::DataError>>,
        metrics: &mut [Box<dyn Metric>],
    ) -> Result<bool, TrainError> {
        // Timing starts before the first batch is assembled and covers everything up to
        // the epoch's logs except validation (Keras' and PyTorch loops' epoch time).
        let started = Instant::now();
        let mut val_seconds = 0.0;
        let mut last_check: Option<ValCheck> = None;
        let verbosity = self.dist.verbosity(config.verbosity);
        let progress = Progress::start(verbosity, epoch, epoch_limit, steps);
        metrics.iter_mut().for_each(|m| m.reset());
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        let mut stop = false;
        for i in 0..steps {
            if config.max_steps.is_some_and(|m| self.global_step >= m) {
                stop = true;
                break;
            }
            let batch = stream.next().expect("the batch stream is endless")?;
            let n = batch.len();
            let outputs = self.model.forward_input(&batch.inputs)?;
            let l = (self.loss)(&outputs, &batch.targets)?;
            let value = l.item() as f64;
            if !value.is_finite() {
                return Err(TrainError::NonFiniteLoss {
                    epoch,
                    step: i + 1,
                    value,
                });
            }
            let lr = self.optimizer.lr();
            self.optimizer.zero_grad();
            l.backward()?;
            self.dist.after_backward();
            let out = outputs.value();
            // Free the graph first: views of the parameters in it (a transposed weight)
            // would otherwise make the update copy each parameter (copy-on-write).
            drop((l, outputs));
            self.optimizer.step()?;
            self.global_step += 1;
            loss_sum += value * n as f64;
            seen += n;
            metrics
                .iter_mut()
                .for_each(|m| m.update(&out, &batch.targets));
            progress.step(
                i + 1,
                loss_sum / seen as f64,
                metrics.first().map(|m| m.value()),
            );
            let logs = StepLogs {
                epoch,
                step: i + 1,
                global_step: self.global_step,
                loss: value,
                lr,
            };
            let mut ctx = Context {
                model: self.model,
                optimizer: &mut *self.optimizer,
                history: &self.history,
                batch_size: n,
            };
            for c in self.callbacks.iter_mut() {
                stop |= c.on_step_end(&mut ctx, &logs)? == Control::Stop;
            }
            if config
                .val_check_interval
                .is_some_and(|k| self.global_step.is_multiple_of(k))
            {
                if let Some(val) = self.validation {
                    let t = Instant::now();
                    let (vl, vm) = self.validate(val, config.batch_size)?;
                    val_seconds += t.elapsed().as_secs_f64();
                    let check = ValCheck {
                        epoch,
                        step: self.global_step,
                        val_loss: vl,
                        val_metrics: vm,
                        lr: self.optimizer.lr(),
                    };
                    self.history.val_checks.push(check.clone());
                    last_check = Some(check);
                }
            }
            if stop {
                break;
            }
        }
        let mut seconds = started.elapsed().as_secs_f64() - val_seconds;
        let mut train_metrics: Vec<(String, f64)> = metrics
            .iter()
            .map(|m| (m.name().to_string(), m.value()))
            .collect();
        self.dist
            .reduce_epoch(&mut loss_sum, &mut seen, &mut train_metrics, &mut seconds)?;
        let mut extra = Vec::new();
        if self.scheduled {
            extra.push(("batch_size".to_string(), self.batch_size as f64));
        }
        for c in self.callbacks.iter_mut() {
            extra.extend(c.epoch_values());
        }
        let mut logs = EpochLogs {
            epoch,
            loss: loss_sum / seen.max(1) as f64,
            metrics: train_metrics,
            val_loss: None,
            val_metrics: Vec::new(),
            lr: self.optimizer.lr(),
            seconds,
            val_seconds: None,
            steps: self.global_step,
            samples: seen,
            extra,
        };
        if let Some(val) = self.validation {
            let (vl, vm) = match last_check {
                // A mid-epoch check just ran on the same weights: reuse it.
                Some(check) if check.step == self.global_step => {
                    (check.val_loss, check.val_metrics)
                }
                _ => {
                    let t = Instant::now();
                    let r = self.validate(val, config.batch_size)?;
                    val_seconds += t.elapsed().as_secs_f64();
                    r
                }
            };
            logs.val_loss = Some(vl);
            logs.val_metrics = vm;
            self.dist.slowest(&mut val_seconds)?;
            logs.val_seconds = Some(val_seconds);
        }
        progress.finish(epoch_limit, &logs);
        let mut callbacks = std::mem::take(&mut self.callbacks);
        for c in callbacks.iter_mut() {
            stop |= c.on_epoch_end(&mut self.context(), &logs)? == Control::Stop;
        }
        self.callbacks = callbacks;
        self.history.epochs.push(logs);
        Ok(stop)
    }

    /// What callbacks and schedules see between steps.
    fn context(&mut self) -> Context<'_> {
        Context {
            model: self.model,
            optimizer: &mut *self.optimizer,
            history: &self.history,
            batch_size: self.batch_size,
        }
    }

    /// Loss and metrics on `val`; with a data-parallel setup rank 0's buffers are used
    /// everywhere and the results are the means over all ranks' shards.
    fn validate(
        &mut self,
        val: &dyn Dataset,
        batch_size: usize,
    ) -> Result<(f64, Vec<(String, f64)>), TrainError> {
        self.dist.before_eval()?;
        let (mut vl, mut vm) = evaluate_in_pool(
            self.model,
            self.loss,
            val,
            batch_size,
            &mut self.val_metrics,
        )?;
        self.dist.reduce_eval(&mut vl, &mut vm, val.len());
        Ok((vl, vm))
    }
}
