//! Metrics computed from model outputs and targets, accumulated over an epoch.

use graft_tensor::Tensor;

use crate::data::Targets;

/// A quantity tracked over an epoch besides the loss.
pub trait Metric: Send {
    /// Its column name in the History (`accuracy`; validation adds `val_`).
    fn name(&self) -> &str;
    /// Starts a new epoch.
    fn reset(&mut self);
    /// Adds one batch of outputs and targets.
    fn update(&mut self, outputs: &Tensor<f32>, targets: &Targets);
    /// The value over everything since the last reset.
    fn value(&self) -> f64;
    /// A new, empty metric of the same kind: validation keeps its own copies, so a
    /// mid-epoch validation run does not disturb the training tally.
    fn fresh(&self) -> Box<dyn Metric>;
}

/// Top-1 accuracy: the fraction of examples whose largest output is the target class.
#[derive(Clone, Debug, Default)]
pub struct Accuracy {
    correct: usize,
    total: usize,
}

impl Accuracy {
    /// Number of correct predictions in `outputs` `[N, C]` against class indices.
    pub fn count_correct(outputs: &Tensor<f32>, classes: &Tensor<i64>) -> usize {
        if outputs.ndim() != 2 || outputs.shape()[0] != classes.numel() {
            return 0;
        }
        let predicted = outputs.argmax_dim(1, false).to_vec();
        predicted
            .iter()
            .zip(classes.to_vec())
            .filter(|(p, t)| **p == *t)
            .count()
    }
}

impl Metric for Accuracy {
    fn name(&self) -> &str {
        "accuracy"
    }

    fn reset(&mut self) {
        *self = Accuracy::default();
    }

    fn update(&mut self, outputs: &Tensor<f32>, targets: &Targets) {
        if let Targets::Classes(classes) = targets {
            self.correct += Self::count_correct(outputs, classes);
            self.total += classes.numel();
        }
    }

    fn fresh(&self) -> Box<dyn Metric> {
        Box::new(Accuracy::default())
    }

    fn value(&self) -> f64 {
        if self.total == 0 {
            f64::NAN
        } else {
            self.correct as f64 / self.total as f64
        }
    }
}
