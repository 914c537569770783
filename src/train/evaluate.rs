//! `evaluate` and `predict`: the model in evaluation mode over a dataset, nothing recorded,
//! with the model's training/evaluation modes restored afterwards.

use graft_autograd::no_grad;
use graft_nn::{Input, Module, TrainingModes};
use graft_tensor::Tensor;

use super::error::TrainError;
use super::fit::LossFn;
use super::metrics::Metric;
use crate::data::{DataLoader, Dataset};

/// Mean loss and metrics of `model` over `data` (any [`Dataset`]) in evaluation mode,
/// nothing recorded. The model's modes are put back as they were. Errors on empty data
/// and on a batch size of 0.
pub fn evaluate<M: Module<f32> + ?Sized, D: Dataset + ?Sized>(
    model: &M,
    loss: &LossFn<'_>,
    data: &D,
    batch_size: usize,
    metrics: &mut [Box<dyn Metric>],
) -> Result<(f64, Vec<(String, f64)>), TrainError> {
    if batch_size == 0 {
        return Err(TrainError::Config(
            "evaluate: batch_size must be at least 1, got 0".into(),
        ));
    }
    if data.is_empty() {
        return Err(TrainError::Config(
            "evaluate: the data is empty (a mean loss over no examples is undefined)".into(),
        ));
    }
    crate::run(|| evaluate_in_pool(model, loss, data, batch_size, metrics))
}

/// `evaluate` without the argument checks, on the calling thread (`fit` calls it from
/// the pool, with its validation metrics).
pub(crate) fn evaluate_in_pool<M: Module<f32> + ?Sized, D: Dataset + ?Sized>(
    model: &M,
    loss: &LossFn<'_>,
    data: &D,
    batch_size: usize,
    metrics: &mut [Box<dyn Metric>],
) -> Result<(f64, Vec<(String, f64)>), TrainError> {
    let modes = TrainingModes::of(model);
    model.eval();
    metrics.iter_mut().for_each(|m| m.reset());
    let result = no_grad(|| -> Result<f64, TrainError> {
        let (mut total, mut seen) = (0.0f64, 0usize);
        for batch in DataLoader::new(data, batch_size).try_epoch(0) {
            let batch = batch?;
            let n = batch.len();
            let outputs = model.forward_input(&batch.inputs)?;
            total += loss(&outputs, &batch.targets)?.item() as f64 * n as f64;
            seen += n;
            let out = outputs.value();
            metrics
                .iter_mut()
                .for_each(|m| m.update(&out, &batch.targets));
        }
        Ok(total / seen.max(1) as f64)
    });
    modes.restore(model);
    Ok((
        result?,
        metrics
            .iter()
            .map(|m| (m.name().to_string(), m.value()))
            .collect(),
    ))
}

/// The model's outputs for `inputs` (`[N, ...]` floats, token indices, or a tuple), in
/// batches of `batch_size`, in evaluation mode; the model's modes are put back afterwards.
/// `N = 0` gives the model's output for an empty batch (`[0, 10]` for a 10-class model).
pub fn predict<M: Module<f32> + ?Sized>(
    model: &M,
    inputs: impl Into<Input<f32>>,
    batch_size: usize,
) -> Result<Tensor<f32>, TrainError> {
    let inputs = inputs.into();
    check_batch_size("predict", batch_size)?;
    crate::run(|| {
        let n = inputs.batch_len();
        in_eval_mode(model, || {
            if n == 0 {
                return Ok(model.forward_input(&inputs)?.value());
            }
            let parts = (0..n)
                .step_by(batch_size)
                .map(|start| {
                    let part = inputs.try_narrow(start, batch_size.min(n - start))?;
                    Ok(model.forward_input(&part)?.value())
                })
                .collect::<Result<Vec<_>, TrainError>>()?;
            concat(parts)
        })
    })
}

/// The model's outputs for every example of `data` (any [`Dataset`]; its targets are not
/// used), in order, in batches of `batch_size`, in evaluation mode.
pub fn predict_dataset<M: Module<f32> + ?Sized, D: Dataset + ?Sized>(
    model: &M,
    data: &D,
    batch_size: usize,
) -> Result<Tensor<f32>, TrainError> {
    check_batch_size("predict_dataset", batch_size)?;
    crate::run(|| {
        in_eval_mode(model, || {
            if data.is_empty() {
                let empty = data.try_batch(&[])?;
                return Ok(model.forward_input(&empty.inputs)?.value());
            }
            let parts = DataLoader::new(data, batch_size)
                .try_epoch(0)
                .map(|batch| Ok(model.forward_input(&batch?.inputs)?.value()))
                .collect::<Result<Vec<_>, TrainError>>()?;
            concat(parts)
        })
    })
}

fn check_batch_size(op: &str, batch_size: usize) -> Result<(), TrainError> {
    if batch_size == 0 {
        return Err(TrainError::Config(format!(
            "{op}: batch_size must be at least 1, got 0"
        )));
    }
    Ok(())
}

/// Runs `f` with `model` in evaluation mode and nothing recorded, then restores its modes.
fn in_eval_mode<M: Module<f32> + ?Sized, R>(model: &M, f: impl FnOnce() -> R) -> R {
    let modes = TrainingModes::of(model);
    model.eval();
    let out = no_grad(f);
    modes.restore(model);
    out
}

fn concat(parts: Vec<Tensor<f32>>) -> Result<Tensor<f32>, TrainError> {
    let refs: Vec<&Tensor<f32>> = parts.iter().collect();
    Ok(Tensor::try_concat(&refs, 0)?)
}
