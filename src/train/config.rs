//! Settings of a `fit` call, with Keras' defaults.

use super::callbacks::Callback;
use super::metrics::{Accuracy, Metric};
use crate::data::TensorDataset;
use crate::tune::BatchSizeSchedule;

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
    /// Batch size per epoch, asked at the start of each epoch (`None`: `batch_size`
    /// throughout); the History then gains a `batch_size` column.
    pub batch_size_schedule: Option<Box<dyn BatchSizeSchedule>>,
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
            batch_size_schedule: None,
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

    /// Sets the batch size of each epoch by a schedule (see [`crate::tune`]).
    pub fn batch_size_schedule(mut self, s: impl BatchSizeSchedule + 'static) -> Self {
        self.batch_size_schedule = Some(Box::new(s));
        self
    }

    /// Adds a callback.
    pub fn callback(mut self, c: impl Callback + 'static) -> Self {
        self.callbacks.push(Box::new(c));
        self
    }
}
