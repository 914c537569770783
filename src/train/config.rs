//! Settings of a `fit` call, with Keras' defaults, and the checks they must pass.

use super::callbacks::Callback;
use super::error::TrainError;
use super::metrics::{Accuracy, Metric};
use std::sync::Arc;

use crate::data::transform::Transform;
use crate::data::Dataset;
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
///
/// Budgets: training ends after `epochs` epochs or `max_steps` optimizer steps, whichever
/// comes first; when only `max_steps` is set, it alone decides (Lightning's rule). An epoch
/// is one pass over the training data, or `steps_per_epoch` steps when that is set (Keras:
/// batches then continue where the previous epoch left off, over reshuffled passes).
pub struct FitConfig {
    /// Examples per step (Keras' default 32); at least 1.
    pub batch_size: usize,
    /// Epochs to run; `None`: 1, or unlimited when `max_steps` is set.
    pub epochs: Option<usize>,
    /// Stop after this many optimizer steps in all (the epoch in progress is logged).
    pub max_steps: Option<usize>,
    /// Steps that make an epoch, instead of one pass over the data.
    pub steps_per_epoch: Option<usize>,
    /// Also validate every this many optimizer steps (Lightning's `val_check_interval`),
    /// recorded in `History::val_checks`, so a long epoch has a validation curve.
    pub val_check_interval: Option<usize>,
    /// Fraction of the training data held out for validation: the last examples, taken
    /// before shuffling, as in Keras. In `[0, 1)`.
    pub validation_split: f64,
    /// Explicit validation data (takes precedence over `validation_split`).
    pub validation_data: Option<Box<dyn Dataset>>,
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
    /// Data-parallel training across processes (see [`graft_distributed`]): each rank
    /// trains on its shard, gradients are averaged, only rank 0 prints, and every rank
    /// logs the same History. `None`: one process.
    pub distributed: Option<graft_distributed::DataParallel<f32>>,
    /// Batch size per epoch, asked at the start of each epoch (`None`: `batch_size`
    /// throughout); the History then gains a `batch_size` column.
    pub batch_size_schedule: Option<Box<dyn BatchSizeSchedule>>,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            batch_size: 32,
            epochs: None,
            max_steps: None,
            steps_per_epoch: None,
            val_check_interval: None,
            validation_split: 0.0,
            validation_data: None,
            shuffle: true,
            seed: 0,
            verbosity: Verbosity::Auto,
            metrics: vec![Box::new(Accuracy::default())],
            callbacks: Vec::new(),
            augment: None,
            num_workers: 0,
            distributed: None,
            batch_size_schedule: None,
        }
    }
}

impl FitConfig {
    /// Keras' defaults: batch 32, 1 epoch, no validation, shuffled, accuracy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the batch size (at least 1; `fit` rejects 0).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// Sets the number of epochs.
    pub fn epochs(mut self, n: usize) -> Self {
        self.epochs = Some(n);
        self
    }

    /// Stops after `n` optimizer steps in all (at least 1).
    pub fn max_steps(mut self, n: usize) -> Self {
        self.max_steps = Some(n);
        self
    }

    /// Makes an epoch `n` steps (at least 1) instead of one pass over the data.
    pub fn steps_per_epoch(mut self, n: usize) -> Self {
        self.steps_per_epoch = Some(n);
        self
    }

    /// Validates every `n` optimizer steps (at least 1) as well as at each epoch's end.
    pub fn val_check_interval(mut self, n: usize) -> Self {
        self.val_check_interval = Some(n);
        self
    }

    /// Holds out the last `fraction` (in `[0, 1)`) of the training data for validation.
    pub fn validation_split(mut self, fraction: f64) -> Self {
        self.validation_split = fraction;
        self
    }

    /// Validates on the given data (any [`Dataset`]) instead.
    pub fn validation_data(mut self, data: impl Dataset + 'static) -> Self {
        self.validation_data = Some(Box::new(data));
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

    /// Trains data-parallel with `ddp` (its communicator decides rank and size; its
    /// [`set_epoch`](graft_distributed::DataParallel::set_epoch) the first epoch's shard).
    /// `batch_size` is then per rank: the global batch is `batch_size * ranks`.
    pub fn distributed(mut self, ddp: graft_distributed::DataParallel<f32>) -> Self {
        self.distributed = Some(ddp);
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

    /// The epoch limit: `epochs`, else 1 without `max_steps`, else none.
    pub(crate) fn epoch_limit(&self) -> Option<usize> {
        match (self.epochs, self.max_steps) {
            (Some(e), _) => Some(e),
            (None, None) => Some(1),
            (None, Some(_)) => None,
        }
    }

    /// Rejects settings outside their allowed range, naming the argument and the range.
    pub(crate) fn check(&self) -> Result<(), TrainError> {
        let at_least_one = |name: &str, v: Option<usize>| match v {
            Some(0) => Err(TrainError::Config(format!(
                "fit: {name} must be at least 1, got 0"
            ))),
            _ => Ok(()),
        };
        at_least_one("batch_size", Some(self.batch_size))?;
        at_least_one("max_steps", self.max_steps)?;
        at_least_one("steps_per_epoch", self.steps_per_epoch)?;
        at_least_one("val_check_interval", self.val_check_interval)?;
        let split = self.validation_split;
        if !(0.0..1.0).contains(&split) {
            return Err(TrainError::Config(format!(
                "fit: validation_split must be in [0, 1), got {split}"
            )));
        }
        Ok(())
    }
}
