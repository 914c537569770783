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
    /// Learning rate (first parameter group) used during the epoch.
    pub lr: f64,
    /// Wall time of the epoch's training steps in seconds (validation excluded).
    pub seconds: f64,
    /// Further columns, in order, after `seconds`: `batch_size` when `fit` ran a batch-size
    /// schedule, and what callbacks report through
    /// [`Callback::epoch_values`](super::Callback::epoch_values) (`noise_scale`).
    pub extra: Vec<(String, f64)>,
}

impl EpochLogs {
    /// A logged value by its History column name (`loss`, `accuracy`, `val_loss`,
    /// `val_accuracy`, `lr`, `seconds`).
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "loss" => Some(self.loss),
            "val_loss" => self.val_loss,
            "lr" => Some(self.lr),
            "seconds" => Some(self.seconds),
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

/// Per-epoch logs of a `fit` call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// One entry per completed epoch.
    pub epochs: Vec<EpochLogs>,
}

impl History {
    /// The column names: Keras CSVLogger's, plus `lr` and `seconds`.
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
        cols.extend(first.extra.iter().map(|(n, _)| n.clone()));
        cols
    }

    /// The History as CSV text: `epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds`.
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

    /// Writes the CSV to `path` (through a temporary file, renamed into place).
    pub fn write_csv(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let path = path.as_ref();
        let tmp = path.with_extension("csv.tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(self.to_csv().as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    }

    /// The last epoch's logs.
    pub fn last(&self) -> Option<&EpochLogs> {
        self.epochs.last()
    }
}
