//! Settings of a `fit` call, with Keras' defaults.

use super::callbacks::Callback;
use super::metrics::{Accuracy, Metric};
use std::sync::Arc;

use crate::data::transform::Transform;
use crate::data::TensorDataset;

/// How much `fit` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// Nothing.
    Silent,
    /// One summary line per epoch.
    Lines,
    /// A live progress bar per epoch, then its summary line.
    Bar,
    /// `Bar` when stdout is a terminal, `Lines` otherwise.
    Auto,
}

/// The settings of a `fit` call (builder style).
pub struct FitConfig {
    /// Examples per step (Keras' default 32).
    pub batch_size: usize,
    /// Passes over the training data.
    pub epochs: usize,
    /// Fraction of the training data held out for validation: the last examples, taken
    /// before shuffling, as in Keras.
    pub validation_split: f64,
    /// Explicit validation data (takes precedence over `validation_split`).
    pub validation_data: Option<TensorDataset>,
    /// Shuffle the training data each epoch.
    pub shuffle: bool,
    /// Seed of the shuffling: the same seed gives the same History.
    pub seed: u64,
    /// What to print.
    pub verbosity: Verbosity,
    /// Metrics besides the loss (default: accuracy).
    pub metrics: Vec<Box<dyn Metric>>,
    /// Callbacks, called in order.
    pub callbacks: Vec<Box<dyn Callback>>,
    /// A per-example transform applied to the training batches (not validation); when
    /// set, batches come from a [`BatchLoader`](crate::data::BatchLoader).
    pub augment: Option<Arc<dyn Transform>>,
    /// Background threads assembling training batches when `augment` is set.
    pub num_workers: usize,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            batch_size: 32,
            epochs: 1,
            validation_split: 0.0,
            validation_data: None,
            shuffle: true,
            seed: 0,
            verbosity: Verbosity::Auto,
            metrics: vec![Box::new(Accuracy::default())],
            callbacks: Vec::new(),
            augment: None,
            num_workers: 0,
        }
    }
}

impl FitConfig {
    /// Keras' defaults: batch 32, 1 epoch, no validation, shuffled, accuracy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the batch size.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Sets the number of epochs.
    pub fn epochs(mut self, n: usize) -> Self {
        self.epochs = n;
        self
    }

    /// Holds out the last `fraction` of the training data for validation.
    pub fn validation_split(mut self, fraction: f64) -> Self {
        self.validation_split = fraction;
        self
    }

    /// Validates on the given data instead.
    pub fn validation_data(mut self, data: TensorDataset) -> Self {
        self.validation_data = Some(data);
        self
    }

    /// Turns shuffling on or off.
    pub fn shuffle(mut self, on: bool) -> Self {
        self.shuffle = on;
        self
    }

    /// Sets the shuffling seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets what is printed.
    pub fn verbosity(mut self, v: Verbosity) -> Self {
        self.verbosity = v;
        self
    }

    /// Replaces the metrics.
    pub fn metrics(mut self, metrics: Vec<Box<dyn Metric>>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Augments the training examples with `t`, on `num_workers` background threads.
    pub fn augment(mut self, t: impl Transform + 'static, num_workers: usize) -> Self {
        self.augment = Some(Arc::new(t));
        self.num_workers = num_workers;
        self
    }

    /// Adds a callback.
    pub fn callback(mut self, c: impl Callback + 'static) -> Self {
        self.callbacks.push(Box::new(c));
        self
    }
}
