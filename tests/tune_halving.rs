//! Successive halving on a fake objective: budgets, promotions and trials per rung follow
//! the formula; a diverging trial is recorded as failed; the results file resumes a search;
//! and parallel trials (`jobs` 4) give exactly the results of `jobs` 1 with real training.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use graft::data::{Targets, TensorDataset};
use graft::prelude::*;
use graft::tune::{
    fit_trial, outcome, successive_halving, HalvingConfig, OptimizerKind, PenaltyKind, Range,
    RunOutcome, Sampler, ScheduleKind, SearchSpace, TrialConfig,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn space() -> SearchSpace {
    SearchSpace {
        lr: Range::LogUniform {
            low: 1e-4,
            high: 1.0,
            points: 3,
        },
        ..SearchSpace::default()
    }
}

/// Best at lr 1e-2, better with budget; a trial with lr above 0.3 "diverges".
fn fake(t: &TrialConfig, budget: usize) -> Result<RunOutcome, String> {
    if t.lr > 0.3 {
        return Err(format!("non-finite loss at lr {}", t.lr));
    }
    Ok(RunOutcome {
        metric: 1.0 - (t.lr.log10() + 2.0).abs() / 10.0 + 0.001 * budget as f64,
        epochs: budget,
        history: None,
    })
}

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let p = dir.join(format!("tune_halving_{name}_{}.csv", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn budgets_promotions_and_counts_follow_the_formula() {
    let trials = space().trials(&Sampler::Random { n: 27, seed: 3 }).unwrap();
    let config = HalvingConfig {
        eta: 3,
        min_budget: 1,
        rungs: 3,
        ..HalvingConfig::default()
    };
    let report = successive_halving(&trials, &config, fake).unwrap();
    let per_rung: Vec<(usize, usize)> = (0..3)
        .map(|r| {
            let runs: Vec<_> = report.runs.iter().filter(|x| x.rung == r).collect();
            assert!(runs.iter().all(|x| x.budget == 3usize.pow(r as u32)));
            (runs.len(), runs[0].budget)
        })
        .collect();
    assert_eq!(per_rung, vec![(27, 1), (9, 3), (3, 9)]);
    // Promoted: exactly the best floor(n/eta) successful trials of each rung.
    for r in 0..2 {
        let mut rung: Vec<_> = report
            .runs
            .iter()
            .filter(|x| x.rung == r && x.ok())
            .collect();
        rung.sort_by(|a, b| b.metric.total_cmp(&a.metric));
        let mut expected: Vec<usize> = rung
            .iter()
            .take(rung.len().min(27 / 3usize.pow(r as u32 + 1)))
            .map(|x| x.config.id)
            .collect();
        let mut got: Vec<usize> = report
            .runs
            .iter()
            .filter(|x| x.rung == r + 1)
            .map(|x| x.config.id)
            .collect();
        expected.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, expected, "promotions out of rung {r}");
    }
    // The diverging trials are recorded as failed, with the reason, and never promoted.
    let failed: Vec<_> = report.runs.iter().filter(|x| !x.ok()).collect();
    assert!(!failed.is_empty(), "the space must contain lr > 0.3");
    assert!(failed.iter().all(|x| x.rung == 0 && x.metric.is_nan()));
    assert!(failed[0].failure.as_deref().unwrap().contains("non-finite"));
    // The winner is the best of the last rung, and the leaderboard lists every trial.
    let best = report.best().unwrap();
    assert_eq!(best.rung, 2);
    assert_eq!(report.ranking.len(), 27);
    let board = report.leaderboard("accuracy");
    assert_eq!(board.lines().count(), 2 + 27);
    assert!(board.contains("failed: non-finite"));
}

#[test]
fn resume_skips_finished_runs() {
    let path = tmp("resume");
    let trials = space().trials(&Sampler::Random { n: 12, seed: 1 }).unwrap();
    let config = HalvingConfig {
        eta: 2,
        rungs: 3,
        results: Some(path.clone()),
        ..HalvingConfig::default()
    };
    let calls = AtomicUsize::new(0);
    let counting = |t: &TrialConfig, b: usize| {
        calls.fetch_add(1, Ordering::SeqCst);
        fake(t, b)
    };
    let first = successive_halving(&trials, &config, counting).unwrap();
    let total = calls.swap(0, Ordering::SeqCst);
    assert_eq!(total, 12 + 6 + 3);
    // Everything is in the file: nothing runs again, same ranking.
    let again = successive_halving(&trials, &config, counting).unwrap();
    assert_eq!(calls.swap(0, Ordering::SeqCst), 0);
    assert_eq!(again.resumed, total);
    let ids = |r: &graft::tune::SearchReport| -> Vec<(usize, u64)> {
        r.ranking
            .iter()
            .map(|x| (x.config.id, x.metric.to_bits()))
            .collect()
    };
    assert_eq!(ids(&again), ids(&first));
    // An interrupted search (header + 10 rows left) runs only the missing runs.
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text.lines().take(11).collect();
    std::fs::write(&path, kept.join("\n") + "\n").unwrap();
    let resumed = successive_halving(&trials, &config, counting).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), total - 10);
    assert_eq!(ids(&resumed), ids(&first));
    // A file from another search is refused.
    let other = space().trials(&Sampler::Random { n: 12, seed: 2 }).unwrap();
    let e = successive_halving(&other, &config, fake).unwrap_err();
    assert!(e.contains("different space or seed"), "{e}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn grid_enumerates_every_combination() {
    let s = SearchSpace {
        lr: Range::Values(vec![0.1, 0.01]),
        batch_size: vec![16, 32],
        optimizer: vec![OptimizerKind::Sgd, OptimizerKind::Adam],
        weight_decay: Range::fixed(0.0),
        penalty: vec![PenaltyKind::None, PenaltyKind::L1],
        penalty_coef: Range::Values(vec![1e-4, 1e-3]),
        schedule: vec![ScheduleKind::Constant],
        lr_relative: false,
    };
    let t = s.trials(&Sampler::Grid).unwrap();
    let relative = SearchSpace {
        lr_relative: true,
        ..s.clone()
    };
    let r = relative.trials(&Sampler::Grid).unwrap();
    for (a, b) in t.iter().zip(&r) {
        assert_eq!(b.lr, a.lr * a.optimizer.typical_lr());
    }
    // optimizer × lr × batch × (none + l1 × 2 coefficients)
    assert_eq!(t.len(), 2 * 2 * 2 * 3);
    assert!(t.iter().enumerate().all(|(i, x)| x.id == i));
    let random = s.trials(&Sampler::Random { n: 5, seed: 9 }).unwrap();
    assert_eq!(
        random,
        s.trials(&Sampler::Random { n: 5, seed: 9 }).unwrap()
    );
    let empty = SearchSpace {
        batch_size: vec![],
        ..s
    };
    assert!(empty
        .trials(&Sampler::Grid)
        .unwrap_err()
        .contains("batch_size"));
}

/// Three Gaussian blobs in 6-D.
fn blobs(n: usize, seed: u64) -> TensorDataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for i in 0..n {
        let c = i % 3;
        for j in 0..6 {
            xs.push(rng.gen_range(-1.0f32..1.0) + if j % 3 == c { 1.0 } else { 0.0 });
        }
        ys.push(c as i64);
    }
    TensorDataset::new(
        Tensor::from_vec(xs, &[n, 6]),
        Targets::Classes(Tensor::from_vec(ys, &[n])),
    )
    .unwrap()
}

#[test]
fn parallel_trials_reproduce_sequential_ones() {
    let (train, val) = (blobs(384, 1), blobs(96, 2));
    let space = SearchSpace {
        lr: Range::LogUniform {
            low: 1e-3,
            high: 50.0,
            points: 2,
        },
        batch_size: vec![16, 32],
        ..SearchSpace::default()
    };
    let trials = space.trials(&Sampler::Random { n: 8, seed: 5 }).unwrap();
    let objective = |t: &TrialConfig, budget: usize| {
        let mut rng = StdRng::seed_from_u64(42);
        let model = Sequential::new()
            .add(Linear::new(6, 16, &mut rng))
            .add(Relu)
            .add(Linear::new(16, 3, &mut rng));
        let h = fit_trial(&model, t, budget, &train, &val, 7).map_err(|e| e.to_string())?;
        outcome(h, "val_accuracy")
    };
    let run = |jobs| {
        let config = HalvingConfig {
            eta: 2,
            rungs: 2,
            jobs,
            ..HalvingConfig::default()
        };
        successive_halving(&trials, &config, objective).unwrap()
    };
    let (one, four) = (run(1), run(4));
    let key = |r: &graft::tune::SearchReport| -> Vec<(usize, usize, u64, Option<String>)> {
        r.runs
            .iter()
            .map(|x| (x.config.id, x.budget, x.metric.to_bits(), x.failure.clone()))
            .collect()
    };
    assert_eq!(key(&one), key(&four));
    assert_eq!(one.runs.len(), 8 + 4);
    assert!(one.best().is_some());
    assert!(one.best_history.is_some());
}

#[test]
fn a_really_diverging_training_is_recorded_as_failed() {
    let (train, val) = (blobs(96, 3), blobs(48, 4));
    let space = SearchSpace {
        lr: Range::Values(vec![1e-2, 1e12]),
        batch_size: vec![16],
        optimizer: vec![OptimizerKind::Sgd],
        weight_decay: Range::fixed(0.0),
        penalty: vec![PenaltyKind::None],
        penalty_coef: Range::fixed(0.0),
        schedule: vec![ScheduleKind::Constant],
        lr_relative: false,
    };
    let trials = space.trials(&Sampler::Grid).unwrap();
    let objective = |t: &TrialConfig, budget: usize| {
        let mut rng = StdRng::seed_from_u64(0);
        let model = Sequential::new()
            .add(Linear::new(6, 16, &mut rng))
            .add(Relu)
            .add(Linear::new(16, 3, &mut rng));
        let h = fit_trial(&model, t, budget, &train, &val, 0).map_err(|e| e.to_string())?;
        outcome(h, "val_accuracy")
    };
    let config = HalvingConfig {
        eta: 2,
        rungs: 2,
        min_budget: 2,
        ..HalvingConfig::default()
    };
    let report = successive_halving(&trials, &config, objective).unwrap();
    let bad = report.runs.iter().find(|r| r.config.lr == 1e12).unwrap();
    let reason = bad.failure.as_deref().expect("lr 1e12 must diverge");
    assert!(reason.contains("loss became"), "{reason}");
    // The search went on: the sane trial was promoted and finished the second rung.
    assert_eq!(report.best().unwrap().config.lr, 1e-2);
    assert_eq!(report.best().unwrap().budget, 4);
}
