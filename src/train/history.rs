//! What `fit` returns: one row of logs per epoch, writable as CSV.

use std::io::Write;
use std::path::Path;

/// The logs of one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochLogs {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's examples.
    pub loss: f64,
    /// Training metrics, by name (`accuracy`).
    pub metrics: Vec<(String, f64)>,
    /// Validation loss, when there is validation data.
    pub val_loss: Option<f64>,
    /// Validation metrics, by name without the `val_` prefix.
    pub val_metrics: Vec<(String, f64)>,
    /// Learning rate (first parameter group) in effect at the end of the epoch, after the
    /// last step's per-step schedule (a per-epoch schedule steps after this is logged).
    pub lr: f64,
    /// Wall time of the whole training epoch in seconds: batch assembly, forward, backward,
    /// step, metrics, progress and step callbacks; validation excluded (Keras' timing).
    pub seconds: f64,
    /// Wall time of the epoch's validation in seconds (mid-epoch checks included), when
    /// there is validation data.
    pub val_seconds: Option<f64>,
    /// Optimizer steps taken since the start of training, at the end of this epoch.
    pub steps: usize,
    /// Training examples the epoch processed (summed over ranks in data-parallel
    /// training): with `seconds`, the training throughput.
    pub samples: usize,
    /// Further columns, in order, after `seconds`: `batch_size` when `fit` ran a batch-size
    /// schedule, and what callbacks report through
    /// [`Callback::epoch_values`](super::Callback::epoch_values) (`noise_scale`).
    pub extra: Vec<(String, f64)>,
}

impl EpochLogs {
    /// A logged value by its History column name (`loss`, `accuracy`, `val_loss`,
    /// `val_accuracy`, `lr`, `seconds`, `val_seconds`, `steps`, `samples`).
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "loss" => Some(self.loss),
            "val_loss" => self.val_loss,
            "lr" => Some(self.lr),
            "seconds" => Some(self.seconds),
            "val_seconds" => self.val_seconds,
            "steps" => Some(self.steps as f64),
            "samples" => Some(self.samples as f64),
            _ if self.extra.iter().any(|(n, _)| n == name) => {
                self.extra.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
            }
            _ => match name.strip_prefix("val_") {
                Some(m) => self
                    .val_metrics
                    .iter()
                    .find(|(n, _)| n == m)
                    .map(|(_, v)| *v),
                None => self
                    .metrics
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| *v),
            },
        }
    }
}

/// One validation run inside an epoch (`FitConfig::val_check_interval`).
#[derive(Clone, Debug, PartialEq)]
pub struct ValCheck {
    /// 1-based epoch it ran in.
    pub epoch: usize,
    /// Optimizer steps taken since the start of training when it ran.
    pub step: usize,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation metrics, by name without the `val_` prefix.
    pub val_metrics: Vec<(String, f64)>,
    /// Learning rate in effect when it ran.
    pub lr: f64,
}

/// Per-epoch logs of a `fit` call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// One entry per completed epoch (the last may be cut short by `max_steps` or a
    /// callback).
    pub epochs: Vec<EpochLogs>,
    /// The mid-epoch validation runs, when `val_check_interval` is set.
    pub val_checks: Vec<ValCheck>,
}

impl History {
    /// Training examples per second over all epochs (total samples over total epoch
    /// seconds), or `None` when no epoch ran or no time was measured.
    pub fn samples_per_second(&self) -> Option<f64> {
        let seconds: f64 = self.epochs.iter().map(|e| e.seconds).sum();
        let samples: usize = self.epochs.iter().map(|e| e.samples).sum();
        (seconds > 0.0).then(|| samples as f64 / seconds)
    }

    /// The column names: Keras CSVLogger's, plus `lr`, `seconds` and (with validation)
    /// `val_seconds`.
    pub fn columns(&self) -> Vec<String> {
        let Some(first) = self.epochs.first() else {
            return vec!["epoch".into(), "loss".into(), "lr".into(), "seconds".into()];
        };
        let mut cols = vec!["epoch".to_string(), "loss".to_string()];
        cols.extend(first.metrics.iter().map(|(n, _)| n.clone()));
        if first.val_loss.is_some() {
            cols.push("val_loss".into());
            cols.extend(first.val_metrics.iter().map(|(n, _)| format!("val_{n}")));
        }
        cols.extend(["lr".to_string(), "seconds".to_string()]);
        if first.val_seconds.is_some() {
            cols.push("val_seconds".into());
        }
        cols.extend(first.extra.iter().map(|(n, _)| n.clone()));
        cols
    }

    /// The History as CSV text:
    /// `epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,val_seconds`.
    pub fn to_csv(&self) -> String {
        let cols = self.columns();
        let mut out = cols.join(",") + "\n";
        for e in &self.epochs {
            let row: Vec<String> = cols
                .iter()
                .map(|c| {
                    if c == "epoch" {
                        e.epoch.to_string()
                    } else {
                        e.get(c).map(|v| format!("{v}")).unwrap_or_default()
                    }
                })
                .collect();
            out += &(row.join(",") + "\n");
        }
        out
    }

    /// Writes the CSV to `path` atomically (graft_tensor's `write_atomically`: a temporary
    /// file of its own, renamed into place); an error's message names the file.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let csv = self.to_csv();
        graft_tensor::io::write_atomically(path.as_ref(), |f| f.write_all(csv.as_bytes()))?;
        Ok(())
    }

    /// The last epoch's logs.
    pub fn last(&self) -> Option<&EpochLogs> {
        self.epochs.last()
    }
}
