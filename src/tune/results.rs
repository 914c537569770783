//! The search's table of runs: one CSV row per (trial, budget) run, appended as runs
//! finish so that a rerun with the same file resumes; and the Markdown leaderboard.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::space::{OptimizerKind, PenaltyKind, ScheduleKind, TrialConfig};

/// The CSV header of a results file.
pub const RESULTS_HEADER: &str = "trial,rung,budget,lr,batch_size,optimizer,weight_decay,penalty,penalty_coef,schedule,status,metric,epochs,seconds,reason";

/// One finished run of a trial at a budget.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialRun {
    /// The trial's hyperparameters.
    pub config: TrialConfig,
    /// Rung of successive halving (0-based).
    pub rung: usize,
    /// Budget in epochs.
    pub budget: usize,
    /// `None` when the run succeeded, else why it failed (a non-finite loss...).
    pub failure: Option<String>,
    /// The validation metric (NaN for a failed run).
    pub metric: f64,
    /// Epochs actually trained.
    pub epochs: usize,
    /// Wall time of the run in seconds.
    pub seconds: f64,
}

impl TrialRun {
    /// True when the run finished with a finite metric.
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }

    /// The run as a CSV row (commas and line breaks in the reason are replaced).
    pub fn to_csv_row(&self) -> String {
        let c = &self.config;
        let reason = self
            .failure
            .as_deref()
            .unwrap_or("")
            .replace([',', '\n', '\r'], ";");
        format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            c.id,
            self.rung,
            self.budget,
            c.lr,
            c.batch_size,
            c.optimizer.name(),
            c.weight_decay,
            c.penalty.name(),
            c.penalty_coef,
            c.schedule.name(),
            if self.ok() { "ok" } else { "failed" },
            self.metric,
            self.epochs,
            self.seconds,
            reason
        )
    }

    /// Parses a row written by [`to_csv_row`](Self::to_csv_row).
    pub fn from_csv_row(line: &str) -> Result<TrialRun, String> {
        let f: Vec<&str> = line.splitn(15, ',').collect();
        if f.len() != 15 {
            return Err(format!("expected 15 fields, found {}", f.len()));
        }
        fn num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
            s.trim().parse().map_err(|_| format!("bad {what} {s:?}"))
        }
        let config = TrialConfig {
            id: num(f[0], "trial")?,
            lr: num(f[3], "lr")?,
            batch_size: num(f[4], "batch_size")?,
            optimizer: OptimizerKind::parse(f[5])
                .ok_or_else(|| format!("unknown optimizer {:?}", f[5]))?,
            weight_decay: num(f[6], "weight_decay")?,
            penalty: PenaltyKind::parse(f[7])
                .ok_or_else(|| format!("unknown penalty {:?}", f[7]))?,
            penalty_coef: num(f[8], "penalty_coef")?,
            schedule: ScheduleKind::parse(f[9])
                .ok_or_else(|| format!("unknown schedule {:?}", f[9]))?,
        };
        let failure = match f[10] {
            "ok" => None,
            "failed" => Some(f[14].to_string()),
            s => return Err(format!("bad status {s:?}")),
        };
        Ok(TrialRun {
            config,
            rung: num(f[1], "rung")?,
            budget: num(f[2], "budget")?,
            failure,
            metric: num(f[11], "metric")?,
            epochs: num(f[12], "epochs")?,
            seconds: num(f[13], "seconds")?,
        })
    }
}

/// A results file: read for resuming, appended to as runs finish.
#[derive(Debug)]
pub struct ResultsFile {
    path: PathBuf,
}

impl ResultsFile {
    /// The runs already in `path` (none if it does not exist), and the file ready for
    /// appending; errors name the file and line of anything unreadable.
    pub fn open(path: impl AsRef<Path>) -> Result<(ResultsFile, Vec<TrialRun>), String> {
        let path = path.as_ref().to_path_buf();
        let mut runs = Vec::new();
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("results file {}: {e}", path.display()))?;
            let mut lines = text.lines();
            match lines.next() {
                None => {}
                Some(h) if h.trim() == RESULTS_HEADER => {}
                Some(h) => {
                    return Err(format!(
                        "results file {}: header {h:?} is not a search results header ({RESULTS_HEADER})",
                        path.display()
                    ))
                }
            }
            for (i, line) in lines.enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                runs.push(
                    TrialRun::from_csv_row(line).map_err(|e| {
                        format!("results file {} line {}: {e}", path.display(), i + 2)
                    })?,
                );
            }
        }
        if std::fs::metadata(&path)
            .map(|m| m.len() == 0)
            .unwrap_or(true)
        {
            std::fs::write(&path, format!("{RESULTS_HEADER}\n"))
                .map_err(|e| format!("results file {}: {e}", path.display()))?;
        }
        Ok((ResultsFile { path }, runs))
    }

    /// Appends one run (and flushes it to disk, so a crash loses at most the runs in
    /// flight).
    pub fn append(&self, run: &TrialRun) -> Result<(), String> {
        let mut f = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| format!("results file {}: {e}", self.path.display()))?;
        writeln!(f, "{}", run.to_csv_row())
            .and_then(|_| f.sync_data())
            .map_err(|e| format!("results file {}: {e}", self.path.display()))
    }
}

/// The Markdown leaderboard of `ranked` runs (best first): rank, every hyperparameter,
/// the validation metric, epochs trained and seconds (summed over the trial's runs in
/// `seconds_total`, indexed by trial id).
pub fn leaderboard(ranked: &[&TrialRun], metric_name: &str, seconds_total: &[f64]) -> String {
    let mut out = format!(
        "| rank | trial | optimizer | lr | batch | weight decay | penalty | schedule | val {metric_name} | epochs | seconds | status |\n"
    );
    out += "|---:|---:|---|---:|---:|---:|---|---|---:|---:|---:|---|\n";
    for (rank, r) in ranked.iter().enumerate() {
        let c = &r.config;
        let penalty = match c.penalty {
            PenaltyKind::None => "none".to_string(),
            p => format!("{} {:.1e}", p.name(), c.penalty_coef),
        };
        let metric = if r.ok() {
            format!("{:.4}", r.metric)
        } else {
            "-".to_string()
        };
        let status = r
            .failure
            .as_deref()
            .map_or("ok".to_string(), |f| format!("failed: {f}"));
        out += &format!(
            "| {} | {} | {} | {:.2e} | {} | {} | {} | {} | {} | {} | {:.1} | {} |\n",
            rank + 1,
            c.id,
            c.optimizer.name(),
            c.lr,
            c.batch_size,
            c.weight_decay,
            penalty,
            c.schedule.name(),
            metric,
            r.epochs,
            seconds_total.get(c.id).copied().unwrap_or(r.seconds),
            status
        );
    }
    out
}
