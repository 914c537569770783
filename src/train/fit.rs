//! The loop itself: `fit`, `evaluate` and `predict`.

use std::time::Instant;

use graft_autograd::{no_grad, Var};
use graft_nn::Module;
use graft_optim::Optimizer;
use graft_tensor::{Result as TensorResult, Tensor};

use super::callbacks::{Context, Control};
use super::config::FitConfig;
use super::error::TrainError;
use super::history::{EpochLogs, History};
use super::metrics::Metric;
use super::progress::Progress;
use crate::data::{DataLoader, Dataset, Targets, TensorDataset};

/// A loss in the shape `fit` takes: model outputs and targets to a scalar Var.
pub type LossFn<'a> = dyn Fn(&Var<f32>, &Targets) -> TensorResult<Var<f32>> + Sync + 'a;

/// Trains `model` on `data` with `optimizer` and `loss`, Keras-style.
///
/// Each epoch shuffles (seeded), runs one optimizer step per batch, then evaluates on the
/// validation data (the last `validation_split` of `data`, or `validation_data`), calls the
/// callbacks and appends a row to the returned [`History`]. A NaN or infinite loss stops
/// training with [`TrainError::NonFiniteLoss`] before that step's update is applied.
pub fn fit<M: Module<f32>>(
    model: &M,
    optimizer: &mut dyn Optimizer<f32>,
    loss: &LossFn<'_>,
    data: &TensorDataset,
    config: FitConfig,
) -> Result<History, TrainError> {
    // Run the loop on a worker of the thread pool: a kernel that splits its work then only
    // wakes the other worker, instead of paying a cross-thread hand-off (10-25 us here) on
    // every op; the MLP step measured 0.99 ms from the main thread, 0.61 ms inside the pool.
    rayon::join(|| fit_in_pool(model, optimizer, loss, data, config), || ()).0
}

fn fit_in_pool<M: Module<f32>>(
    model: &M,
    optimizer: &mut dyn Optimizer<f32>,
    loss: &LossFn<'_>,
    data: &TensorDataset,
    mut config: FitConfig,
) -> Result<History, TrainError> {
    let (train, split_val) = if config.validation_split > 0.0 && config.validation_data.is_none() {
        let (t, v) = data.split_last(config.validation_split);
        (t, Some(v))
    } else {
        (data.clone(), None)
    };
    let validation = config.validation_data.take().or(split_val);
    if train.is_empty() {
        return Err(TrainError::Config("the training set is empty".into()));
    }
    let mut loader = DataLoader::new(&train, config.batch_size);
    if config.shuffle {
        loader = loader.shuffled(config.seed);
    }
    let mut history = History::default();
    let mut callbacks = std::mem::take(&mut config.callbacks);
    let mut metrics = std::mem::take(&mut config.metrics);
    let mut schedule = config.batch_size_schedule.take();
    for epoch in 1..=config.epochs {
        if let Some(s) = schedule.as_mut() {
            // The loader only slices its index permutation differently: no data is copied.
            let mut ctx = Context {
                model,
                optimizer: &mut *optimizer,
                history: &history,
                batch_size: loader.batch_size,
            };
            loader.batch_size = s.batch_size(epoch, &mut ctx).max(1);
        }
        model.train();
        let lr = optimizer.lr();
        let progress =
            Progress::start(config.verbosity, epoch, config.epochs, loader.num_batches());
        metrics.iter_mut().for_each(|m| m.reset());
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        let mut seconds = 0.0;
        for (i, batch) in loader.epoch(epoch - 1).enumerate() {
            let started = Instant::now();
            let n = batch.inputs.shape()[0];
            let outputs = model.forward(&Var::new(batch.inputs));
            let l = loss(&outputs, &batch.targets)?;
            let value = l.item() as f64;
            if !value.is_finite() {
                return Err(TrainError::NonFiniteLoss {
                    epoch,
                    step: i + 1,
                    value,
                });
            }
            optimizer.zero_grad();
            l.backward()?;
            let out = outputs.value();
            // Free the graph first: views of the parameters in it (a transposed weight)
            // would otherwise make the update copy each parameter (copy-on-write).
            drop((l, outputs));
            optimizer.step()?;
            seconds += started.elapsed().as_secs_f64();
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
            let mut ctx = Context {
                model,
                optimizer: &mut *optimizer,
                history: &history,
                batch_size: n,
            };
            for c in callbacks.iter_mut() {
                c.on_step_end(&mut ctx, i + 1)?;
            }
        }
        let mut extra = Vec::new();
        if schedule.is_some() {
            extra.push(("batch_size".to_string(), loader.batch_size as f64));
        }
        for c in callbacks.iter_mut() {
            extra.extend(c.epoch_values());
        }
        let mut logs = EpochLogs {
            epoch,
            loss: loss_sum / seen.max(1) as f64,
            metrics: metrics
                .iter()
                .map(|m| (m.name().to_string(), m.value()))
                .collect(),
            val_loss: None,
            val_metrics: Vec::new(),
            lr,
            seconds,
            extra,
        };
        if let Some(val) = &validation {
            let (vl, vm) = evaluate(model, loss, val, config.batch_size, &mut metrics)?;
            logs.val_loss = Some(vl);
            logs.val_metrics = vm;
        }
        progress.finish(config.epochs, &logs);
        let mut stop = false;
        let mut ctx = Context {
            model,
            optimizer: &mut *optimizer,
            history: &history,
            batch_size: loader.batch_size,
        };
        for c in callbacks.iter_mut() {
            stop |= c.on_epoch_end(&mut ctx, &logs)? == Control::Stop;
        }
        history.epochs.push(logs);
        if stop {
            break;
        }
    }
    let mut ctx = Context {
        model,
        optimizer: &mut *optimizer,
        history: &history,
        batch_size: loader.batch_size,
    };
    for c in callbacks.iter_mut() {
        c.on_train_end(&mut ctx)?;
    }
    Ok(history)
}

/// Mean loss and metrics of `model` over `data` in evaluation mode, nothing recorded.
pub fn evaluate<M: Module<f32> + ?Sized>(
    model: &M,
    loss: &LossFn<'_>,
    data: &TensorDataset,
    batch_size: usize,
    metrics: &mut [Box<dyn Metric>],
) -> Result<(f64, Vec<(String, f64)>), TrainError> {
    model.eval();
    metrics.iter_mut().for_each(|m| m.reset());
    let result = no_grad(|| -> Result<f64, TrainError> {
        let (mut total, mut seen) = (0.0f64, 0usize);
        for batch in DataLoader::new(data, batch_size).epoch(0) {
            let n = batch.inputs.shape()[0];
            let outputs = model.forward(&Var::new(batch.inputs));
            total += loss(&outputs, &batch.targets)?.item() as f64 * n as f64;
            seen += n;
            let out = outputs.value();
            metrics
                .iter_mut()
                .for_each(|m| m.update(&out, &batch.targets));
        }
        Ok(total / seen.max(1) as f64)
    });
    model.train();
    Ok((
        result?,
        metrics
            .iter()
            .map(|m| (m.name().to_string(), m.value()))
            .collect(),
    ))
}

/// The model's outputs for `inputs` `[N, ...]`, in batches, in evaluation mode.
pub fn predict<M: Module<f32> + ?Sized>(
    model: &M,
    inputs: &Tensor<f32>,
    batch_size: usize,
) -> Tensor<f32> {
    model.eval();
    let n = inputs.shape().first().copied().unwrap_or(0);
    let parts: Vec<Tensor<f32>> = no_grad(|| {
        (0..n)
            .step_by(batch_size.max(1))
            .map(|start| {
                let len = batch_size.min(n - start);
                model
                    .forward(&Var::new(inputs.narrow(0, start, len)))
                    .value()
            })
            .collect()
    });
    model.train();
    let refs: Vec<&Tensor<f32>> = parts.iter().collect();
    if refs.is_empty() {
        return Tensor::zeros(&[0]);
    }
    Tensor::concat(&refs, 0)
}
