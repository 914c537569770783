//! A hyperparameter search for the seed's model (784-128-10 MLP) on Fashion-MNIST:
//! 24 random trials over optimizer, learning rate, batch size, weight decay, L1/L2 and
//! schedule; successive halving with eta 3 and budgets of 1 -> 3 -> 9 epochs on the
//! training split (the last 10% of the training set held out for selection); the test set
//! only for the winner. Compares the winner with the seed's default (Adam 1e-3, batch 32)
//! at the same budget on the validation split.
//!
//! `cargo run --release --example tune -- --jobs 2` (see `--help`). Rerunning with the
//! same `--results` file resumes: finished runs are not run again.

#[path = "common/exit.rs"]
mod exit;

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use graft::data::{find_mnist_dir, load_mnist, Dataset};
use graft::nn::state::{load_state_dict, save_state_dict};
use graft::prelude::*;
use graft::train::{evaluate, losses, Accuracy, Metric};
use graft::tune::{
    fit_trial, outcome, plot_history, plot_search, successive_halving, HalvingConfig,
    OptimizerKind, PenaltyKind, Range, RunOutcome, Sampler, ScheduleKind, SearchSpace, TrialConfig,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Search hyperparameters of the seed's MLP on Fashion-MNIST with successive halving.
#[derive(Parser, Debug)]
struct Cli {
    /// Directory with the IDX files (default: as the mnist example finds them).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Number of random trials.
    #[arg(long, default_value_t = 24)]
    trials: usize,
    /// Successive halving's reduction factor.
    #[arg(long, default_value_t = 3)]
    eta: usize,
    /// Epochs of the first rung.
    #[arg(long, default_value_t = 1)]
    min_budget: usize,
    /// Number of rungs (budgets min_budget · eta^rung).
    #[arg(long, default_value_t = 3)]
    rungs: usize,
    /// Trials trained at once (each single-threaded).
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Seed of the sampling, the initialisation and the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Results file (CSV): resumes from it, appends to it.
    #[arg(long, default_value = "tune_results.csv")]
    results: PathBuf,
    /// Plot of the validation accuracy by trial and budget (SVG).
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// The winner's training curves (SVG).
    #[arg(long, value_name = "FILE.svg")]
    history_plot: Option<PathBuf>,
    /// The winner's History (CSV).
    #[arg(long)]
    history: Option<PathBuf>,
    /// Skip training the default configuration for comparison.
    #[arg(long)]
    no_baseline: bool,
}

fn seed_model(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(Linear::new(784, 128, &mut rng))
        .add(Relu)
        .add(Linear::new(128, 10, &mut rng))
}

/// Where the weights of a trial's run at a budget are kept (for resuming and the test).
fn weights_path(results: &Path, trial: usize, budget: usize) -> PathBuf {
    let stem = results
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("tune");
    results.with_file_name(format!("{stem}_models/trial{trial}_e{budget}.safetensors"))
}

fn main() {
    exit::report(run());
}

/// The example; errors end it through `report`, printed with their message.
fn run() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    let started = Instant::now();
    let (dir, source) = find_mnist_dir(cli.data.as_deref())?;
    if let Some(note) = source.note() {
        println!("{note}");
    }
    let sets = load_mnist(&dir)?;
    let (train, val) = sets.train.split_last(0.1);
    println!(
        "data: {} ({} training, {} validation, {} test images)",
        dir.display(),
        train.len(),
        val.len(),
        sets.test.len()
    );
    let space = SearchSpace {
        // A factor of each optimizer's customary lr (0.1 SGD, 0.01 momentum, 1e-3 for
        // RMSprop, Adam and AdamW): from a fifth to 5 times it.
        lr: Range::LogUniform {
            low: 0.2,
            high: 5.0,
            points: 4,
        },
        lr_relative: true,
        batch_size: vec![32, 64, 128, 256],
        optimizer: OptimizerKind::ALL.to_vec(),
        weight_decay: Range::Values(vec![0.0, 1e-5, 1e-4]),
        penalty: vec![PenaltyKind::None, PenaltyKind::L1, PenaltyKind::L2],
        penalty_coef: Range::LogUniform {
            low: 1e-6,
            high: 1e-4,
            points: 2,
        },
        schedule: vec![
            ScheduleKind::Constant,
            ScheduleKind::Cosine,
            ScheduleKind::Step,
        ],
    };
    let trials = space.trials(&Sampler::Random {
        n: cli.trials,
        seed: cli.seed,
    })?;
    let config = HalvingConfig {
        eta: cli.eta,
        min_budget: cli.min_budget,
        rungs: cli.rungs,
        jobs: cli.jobs,
        maximize: true,
        results: Some(cli.results.clone()),
        verbose: true,
    };
    if let Some(parent) = weights_path(&cli.results, 0, 0).parent() {
        std::fs::create_dir_all(parent)?;
    }
    let objective = |t: &TrialConfig, budget: usize| -> Result<RunOutcome, String> {
        let model = seed_model(cli.seed);
        let h = fit_trial(&model, t, budget, &train, &val, cli.seed).map_err(|e| e.to_string())?;
        save_state_dict(&model, weights_path(&cli.results, t.id, budget))
            .map_err(|e| e.to_string())?;
        outcome(h, "val_accuracy")
    };
    let report = successive_halving(&trials, &config, objective)?;
    let search_seconds = started.elapsed().as_secs_f64();
    println!();
    print!("{}", report.leaderboard("accuracy"));
    println!(
        "search: {} runs ({} resumed from {}) in {search_seconds:.0} s",
        report.runs.len(),
        report.resumed,
        cli.results.display()
    );
    if let Some(p) = &cli.plot {
        plot_search(&report, "accuracy", p)?;
        println!("plot: {}", p.display());
    }
    let Some(best) = report.best().cloned() else {
        return Err("every trial failed".into());
    };
    if let Some(h) = &report.best_history {
        if let Some(p) = &cli.history {
            h.write_csv(p)?;
        }
        if let Some(p) = &cli.history_plot {
            plot_history(h, p)?;
            println!("winner's curves: {}", p.display());
        }
    }
    // The winner's weights, saved by its last run (retrained if the file is gone).
    let model = seed_model(cli.seed);
    let path = weights_path(&cli.results, best.config.id, best.budget);
    if load_state_dict(&model, &path).is_err() {
        println!("retraining the winner ({} missing)", path.display());
        let retrain = seed_model(cli.seed);
        fit_trial(&retrain, &best.config, best.budget, &train, &val, cli.seed)?;
        save_state_dict(&retrain, &path)?;
        load_state_dict(&model, &path)?;
    }
    let mut metrics: Vec<Box<dyn Metric>> = vec![Box::new(Accuracy::default())];
    let (_, test) = evaluate(
        &model,
        &losses::cross_entropy,
        &sets.test,
        500,
        &mut metrics,
    )?;
    println!(
        "winner: trial {} ({} lr {:.2e} batch {} wd {} {} {:.1e} {}), val accuracy {:.4} after {} epochs, test accuracy {:.2}%",
        best.config.id,
        best.config.optimizer.name(),
        best.config.lr,
        best.config.batch_size,
        best.config.weight_decay,
        best.config.penalty.name(),
        best.config.penalty_coef,
        best.config.schedule.name(),
        best.metric,
        best.budget,
        100.0 * test[0].1
    );
    if !cli.no_baseline {
        let default = TrialConfig {
            id: usize::MAX,
            lr: 1e-3,
            batch_size: 32,
            optimizer: OptimizerKind::Adam,
            weight_decay: 0.0,
            penalty: PenaltyKind::None,
            penalty_coef: 0.0,
            schedule: ScheduleKind::Constant,
        };
        let t0 = Instant::now();
        let base = single_thread(|| {
            let model = seed_model(cli.seed);
            fit_trial(&model, &default, best.budget, &train, &val, cli.seed)
        })??;
        let acc = base
            .last()
            .and_then(|l| l.get("val_accuracy"))
            .unwrap_or(f64::NAN);
        println!(
            "default (Adam 1e-3, batch 32), {} epochs: val accuracy {acc:.4} ({:.0} s); winner {} it by {:+.4}",
            best.budget,
            t0.elapsed().as_secs_f64(),
            if best.metric > acc { "beats" } else { "does NOT beat" },
            best.metric - acc
        );
    }
    println!("total: {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Runs `f` in a one-thread pool, as the search runs its trials, so the comparison is fair.
fn single_thread<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R, Box<dyn std::error::Error>> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    Ok(pool.install(f))
}
