//! Progress output: a live bar (indicatif) on a terminal, plain summary lines otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use super::config::Verbosity;
use super::history::EpochLogs;

/// Reports an epoch's progress and prints its summary line.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
}

impl Progress {
    pub(crate) fn start(
        verbosity: Verbosity,
        epoch: usize,
        epochs: Option<usize>,
        steps: usize,
    ) -> Self {
        let bar_wanted = match verbosity {
            Verbosity::Bar => true,
            Verbosity::Auto => std::io::stdout().is_terminal(),
            _ => false,
        };
        let lines = verbosity != Verbosity::Silent;
        let bar = bar_wanted.then(|| {
            let bar = ProgressBar::new(steps as u64);
            let style = ProgressStyle::with_template(&format!(
                "epoch {} [{{bar:30}}] {{pos}}/{{len}} ETA {{eta}} {{msg}}",
                of(epoch, epochs)
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar
        });
        Progress { bar, lines }
    }

    /// Called after each step with the running loss and accuracy.
    pub(crate) fn step(&self, step: usize, loss: f64, accuracy: Option<f64>) {
        if let Some(bar) = &self.bar {
            bar.set_position(step as u64);
            // Formatting the message costs more than the bar; refresh it now and then.
            if step.is_multiple_of(16) {
                let acc = accuracy
                    .map(|a| format!(" accuracy {a:.4}"))
                    .unwrap_or_default();
                bar.set_message(format!("loss {loss:.4}{acc}"));
            }
        }
    }

    pub(crate) fn finish(self, epochs: Option<usize>, logs: &EpochLogs) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.lines {
            println!("{}", summary(epochs, logs));
        }
    }
}

/// `3/10`, or `3` when the number of epochs is open (a `max_steps` budget).
fn of(epoch: usize, epochs: Option<usize>) -> String {
    match epochs {
        Some(total) => format!("{epoch}/{total}"),
        None => epoch.to_string(),
    }
}

/// `epoch 1/10: loss 0.5123 accuracy 0.8211 val_loss 0.4410 val_accuracy 0.8420 lr 0.001 (2.10 s)`.
pub(crate) fn summary(epochs: Option<usize>, e: &EpochLogs) -> String {
    let mut s = format!("epoch {}: loss {:.4}", of(e.epoch, epochs), e.loss);
    for (n, v) in &e.metrics {
        s += &format!(" {n} {v:.4}");
    }
    if let Some(v) = e.val_loss {
        s += &format!(" val_loss {v:.4}");
        for (n, v) in &e.val_metrics {
            s += &format!(" val_{n} {v:.4}");
        }
    }
    s + &format!(" lr {:.3e} ({:.2} s)", e.lr, e.seconds)
}
