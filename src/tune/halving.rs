//! Synchronous successive halving (Jamieson and Talwalkar 2016; Hyperband's inner loop):
//! every trial runs at the smallest budget, the best `1/eta` go on with `eta` times the
//! budget, and so on for a number of rungs. Trials run in parallel on their own threads,
//! each inside its own one-thread rayon pool, so their kernels are single-threaded and no
//! two trials ever share a worker (and with it thread-local state such as the grad mode).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use super::results::{leaderboard, ResultsFile, TrialRun};
use super::space::TrialConfig;
use crate::train::History;

/// What an objective reports for one run.
#[derive(Clone, Debug, Default)]
pub struct RunOutcome {
    /// The validation metric the search ranks by.
    pub metric: f64,
    /// Epochs trained (may be fewer than the budget, e.g. after early stopping).
    pub epochs: usize,
    /// The run's History, if there is one.
    pub history: Option<History>,
}

/// Settings of [`successive_halving`].
#[derive(Clone, Debug)]
pub struct HalvingConfig {
    /// Reduction factor: a rung keeps the best `1/eta` and multiplies the budget by `eta`.
    pub eta: usize,
    /// Budget of the first rung, in epochs.
    pub min_budget: usize,
    /// Number of rungs.
    pub rungs: usize,
    /// Trials run at once.
    pub jobs: usize,
    /// True when a larger metric is better (accuracy), false for a loss.
    pub maximize: bool,
    /// Results file: runs found in it are not run again, new runs are appended.
    pub results: Option<PathBuf>,
    /// Print a line per finished run.
    pub verbose: bool,
}

impl Default for HalvingConfig {
    /// eta 3, budgets 1, 3, 9, one job, maximizing, no file, quiet.
    fn default() -> Self {
        HalvingConfig {
            eta: 3,
            min_budget: 1,
            rungs: 3,
            jobs: 1,
            maximize: true,
            results: None,
            verbose: false,
        }
    }
}

impl HalvingConfig {
    /// The budget of `rung`: `min_budget · eta^rung`.
    pub fn budget(&self, rung: usize) -> usize {
        self.min_budget * self.eta.pow(rung as u32)
    }

    /// Trials promoted out of a rung of `n`: `floor(n / eta)`, at least 1.
    pub fn promoted(&self, n: usize) -> usize {
        (n / self.eta).max(1)
    }
}

/// Everything a search measured.
#[derive(Clone, Debug)]
pub struct SearchReport {
    /// Every run, rung by rung, in trial order within a rung.
    pub runs: Vec<TrialRun>,
    /// Runs in the order of the leaderboard: each trial's last run, deepest rung first,
    /// then best metric; failures last.
    pub ranking: Vec<TrialRun>,
    /// Seconds spent on each trial over all its runs, by trial id.
    pub seconds_total: Vec<f64>,
    /// The History of the winner's last run, when it ran in this process (not loaded
    /// from the results file).
    pub best_history: Option<History>,
    /// How many runs were taken from the results file.
    pub resumed: usize,
}

impl SearchReport {
    /// The winner's last run, if any trial succeeded.
    pub fn best(&self) -> Option<&TrialRun> {
        self.ranking.first().filter(|r| r.ok())
    }

    /// The Markdown leaderboard.
    pub fn leaderboard(&self, metric_name: &str) -> String {
        let refs: Vec<&TrialRun> = self.ranking.iter().collect();
        leaderboard(&refs, metric_name, &self.seconds_total)
    }
}

/// Orders runs best first: successful before failed, then by metric, then by trial id.
fn compare(a: &TrialRun, b: &TrialRun, maximize: bool) -> std::cmp::Ordering {
    b.ok().cmp(&a.ok()).then_with(|| {
        let by_metric = if maximize {
            b.metric.total_cmp(&a.metric)
        } else {
            a.metric.total_cmp(&b.metric)
        };
        by_metric.then(a.config.id.cmp(&b.config.id))
    })
}

/// Runs successive halving over `trials` with `objective(trial, budget)`; an `Err` or a
/// non-finite metric records the run as failed (with the reason) and the search goes on.
/// The same trials and objective give the same runs and ranking for any `jobs`.
pub fn successive_halving<F>(
    trials: &[TrialConfig],
    config: &HalvingConfig,
    objective: F,
) -> Result<SearchReport, String>
where
    F: Fn(&TrialConfig, usize) -> Result<RunOutcome, String> + Sync,
{
    if config.eta < 2 || config.min_budget == 0 || config.rungs == 0 {
        return Err(format!(
            "successive halving: needs eta >= 2, min_budget >= 1 and rungs >= 1, got eta {}, min_budget {}, rungs {}",
            config.eta, config.min_budget, config.rungs
        ));
    }
    let (file, previous) = match &config.results {
        Some(p) => {
            let (f, runs) = ResultsFile::open(p)?;
            (Some(f), runs)
        }
        None => (None, Vec::new()),
    };
    let mut done: HashMap<(usize, usize), TrialRun> = HashMap::new();
    for r in previous {
        let Some(t) = trials.iter().find(|t| t.id == r.config.id) else {
            return Err(format!(
                "results file: trial {} is not in this search (different space or seed?)",
                r.config.id
            ));
        };
        if *t != r.config {
            return Err(format!(
                "results file: trial {} was {:?}, this search has {:?} (different space or seed?)",
                t.id, r.config, t
            ));
        }
        done.insert((r.config.id, r.budget), r);
    }
    let mut runs = Vec::new();
    let mut histories: HashMap<(usize, usize), History> = HashMap::new();
    let mut resumed = 0;
    let mut current: Vec<&TrialConfig> = trials.iter().collect();
    for rung in 0..config.rungs {
        if current.is_empty() {
            break;
        }
        let budget = config.budget(rung);
        let todo: Vec<&TrialConfig> = current
            .iter()
            .copied()
            .filter(|t| !done.contains_key(&(t.id, budget)))
            .collect();
        resumed += current.len() - todo.len();
        let outcomes = run_parallel(&todo, budget, config.jobs, &objective);
        for (t, (outcome, seconds)) in todo.iter().zip(outcomes) {
            let run = match outcome {
                Ok(o) if o.metric.is_finite() => {
                    if let Some(h) = o.history {
                        histories.insert((t.id, budget), h);
                    }
                    TrialRun {
                        config: (*t).clone(),
                        rung,
                        budget,
                        failure: None,
                        metric: o.metric,
                        epochs: o.epochs,
                        seconds,
                    }
                }
                Ok(o) => failed(t, rung, budget, seconds, format!("metric is {}", o.metric)),
                Err(e) => failed(t, rung, budget, seconds, e),
            };
            if let Some(f) = &file {
                f.append(&run)?;
            }
            if config.verbose {
                println!(
                    "rung {rung} (budget {budget}): trial {} {} -> {}",
                    t.id,
                    run.config.optimizer.name(),
                    run.failure
                        .as_deref()
                        .map_or(format!("{:.4}", run.metric), |f| format!("failed: {f}"))
                );
            }
            done.insert((t.id, budget), run);
        }
        let mut rung_runs: Vec<TrialRun> = current
            .iter()
            .map(|t| done[&(t.id, budget)].clone())
            .collect();
        rung_runs.sort_by_key(|r| r.config.id);
        runs.extend(rung_runs.iter().cloned());
        if rung + 1 == config.rungs {
            break;
        }
        let keep = config.promoted(current.len());
        rung_runs.sort_by(|a, b| compare(a, b, config.maximize));
        let promoted: Vec<usize> = rung_runs
            .iter()
            .filter(|r| r.ok())
            .take(keep)
            .map(|r| r.config.id)
            .collect();
        current = trials.iter().filter(|t| promoted.contains(&t.id)).collect();
    }
    // Each trial's last (deepest) run, ranked.
    let mut last: HashMap<usize, &TrialRun> = HashMap::new();
    for r in &runs {
        last.insert(r.config.id, r);
    }
    let mut ranking: Vec<TrialRun> = last.values().map(|r| (*r).clone()).collect();
    ranking.sort_by(|a, b| {
        b.rung
            .cmp(&a.rung)
            .then_with(|| compare(a, b, config.maximize))
    });
    let mut seconds_total = vec![0.0; trials.iter().map(|t| t.id + 1).max().unwrap_or(0)];
    for r in &runs {
        seconds_total[r.config.id] += r.seconds;
    }
    let best_history = ranking
        .first()
        .filter(|r| r.ok())
        .and_then(|r| histories.remove(&(r.config.id, r.budget)));
    Ok(SearchReport {
        runs,
        ranking,
        seconds_total,
        best_history,
        resumed,
    })
}

fn failed(t: &TrialConfig, rung: usize, budget: usize, seconds: f64, why: String) -> TrialRun {
    TrialRun {
        config: t.clone(),
        rung,
        budget,
        failure: Some(why),
        metric: f64::NAN,
        epochs: 0,
        seconds,
    }
}

/// Runs `objective` for each trial at `budget` on up to `jobs` threads at a time, each
/// trial on a fresh thread inside a fresh one-thread rayon pool; a panic is reported as
/// a failure. Results come back in the order of `todo`, with the seconds each took.
fn run_parallel<F>(todo: &[&TrialConfig], budget: usize, jobs: usize, objective: &F) -> Vec<Timed>
where
    F: Fn(&TrialConfig, usize) -> Result<RunOutcome, String> + Sync,
{
    let slots: Vec<Mutex<Option<Timed>>> = todo.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, todo.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= todo.len() {
                    break;
                }
                let trial = todo[i];
                let started = Instant::now();
                let outcome = std::thread::scope(|inner| {
                    inner
                        .spawn(|| {
                            let pool = rayon::ThreadPoolBuilder::new()
                                .num_threads(1)
                                .build()
                                .map_err(|e| format!("thread pool: {e}"))?;
                            pool.install(|| objective(trial, budget))
                        })
                        .join()
                        .unwrap_or_else(|p| Err(panic_message(p)))
                });
                *slots[i].lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((outcome, started.elapsed().as_secs_f64()));
            });
        }
    });
    slots
        .into_iter()
        .map(|s| {
            s.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or((Err("not run".into()), 0.0))
        })
        .collect()
}

/// A run's outcome and the seconds it took.
type Timed = (Result<RunOutcome, String>, f64);

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    let msg = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".into());
    format!("panicked: {msg}")
}
