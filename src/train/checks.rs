//! Checks `fit` runs before training: the model and the loss must accept the first batch of
//! the training and of the validation data, so a size mismatch is an error naming the layer
//! before any work is done (not a panic on a pool worker, nor one after a whole epoch).

use std::panic::{catch_unwind, AssertUnwindSafe};

use graft_autograd::no_grad;
use graft_nn::{Module, TrainingModes};

use super::error::TrainError;
use super::fit::LossFn;
use crate::data::Dataset;

/// Runs `model` and `loss` on the first batch of `data` in evaluation mode with nothing
/// recorded (so no running statistics or dropout RNG move), then restores the model's modes.
/// `which` names the data set in the error (`training`, `validation`).
pub(crate) fn check_first_batch<M: Module<f32> + ?Sized>(
    model: &M,
    loss: &LossFn<'_>,
    data: &dyn Dataset,
    batch_size: usize,
    which: &str,
) -> Result<(), TrainError> {
    let indices: Vec<usize> = (0..batch_size.min(data.len())).collect();
    let batch = data.try_batch(&indices)?;
    let modes = TrainingModes::of(model);
    model.eval();
    // A user module that only implements the panicking `forward` still gets a clean error:
    // the panic is caught here, on the first batch, before anything was trained.
    let result = catch_unwind(AssertUnwindSafe(|| {
        no_grad(|| -> Result<(), graft_tensor::TensorError> {
            let outputs = model.forward_input(&batch.inputs)?;
            loss(&outputs, &batch.targets)?;
            Ok(())
        })
    }));
    modes.restore(model);
    let on_batch = |what: String| format!("{what} (on the first batch of the {which} data)");
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(mut e)) => {
            e.message = on_batch(e.message);
            Err(TrainError::Tensor(e))
        }
        Err(payload) => {
            let why = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(TrainError::Model(on_batch(format!(
                "the model panicked: {why}"
            ))))
        }
    }
}
