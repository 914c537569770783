//! The fit loop's contract: History and its CSV, determinism by seed, callbacks (early
//! stopping with restore, checkpoints, schedulers), and a non-finite loss stopping
//! training with the last good checkpoint intact.

use graft::data::{Targets, TensorDataset};
use graft::nn::state::load_state_dict;
use graft::optim::{Schedule, StepLr};
use graft::prelude::*;
use graft::train::{
    losses, Control, EarlyStopping, EpochCallback, FitConfig, LrSchedulerCallback, ModelCheckpoint,
    TrainError, Verbosity,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Two Gaussian blobs in 4-D, classes 0 and 1 (also used by `fit_steps`).
pub(crate) fn blobs(n: usize, seed: u64) -> TensorDataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut xs = Vec::with_capacity(n * 4);
    let mut ys = Vec::with_capacity(n);
    for i in 0..n {
        let class = (i % 2) as i64;
        for _ in 0..4 {
            xs.push(rng.gen_range(-1.0..1.0) + if class == 1 { 1.5 } else { -1.5 });
        }
        ys.push(class);
    }
    TensorDataset::new(
        Tensor::from_vec(xs, &[n, 4]),
        Targets::Classes(Tensor::from_vec(ys, &[n])),
    )
    .unwrap()
}

fn model(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(Linear::new(4, 8, &mut rng))
        .add(Relu)
        .add(Linear::new(8, 2, &mut rng))
}

fn quiet() -> FitConfig {
    FitConfig::new().batch_size(16).verbosity(Verbosity::Silent)
}

#[test]
fn fit_learns_and_writes_keras_csv_columns() {
    let data = blobs(400, 1);
    let m = model(0);
    let mut opt = Adam::new(m.parameters(), AdamConfig::default().lr(1e-2)).unwrap();
    let history = fit(
        &m,
        &mut opt,
        &losses::cross_entropy,
        &data,
        quiet().epochs(3).validation_split(0.25),
    )
    .unwrap();
    assert_eq!(history.epochs.len(), 3);
    let last = history.last().unwrap();
    assert!(last.get("accuracy").unwrap() > 0.95, "{last:?}");
    assert!(last.get("val_accuracy").unwrap() > 0.95);
    assert!(last.val_loss.unwrap() < history.epochs[0].val_loss.unwrap() + 1e-9);
    let csv = history.to_csv();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,val_seconds"
    );
    assert_eq!(lines.count(), 3);
}

#[test]
fn the_same_seed_gives_an_identical_history() {
    let run = || {
        let data = blobs(200, 2);
        let m = model(3);
        let mut opt = Adam::new(m.parameters(), AdamConfig::default()).unwrap();
        let h = fit(
            &m,
            &mut opt,
            &losses::cross_entropy,
            &data,
            quiet().epochs(2).seed(7).validation_split(0.2),
        )
        .unwrap();
        h.epochs
            .iter()
            .map(|e| {
                (
                    e.loss.to_bits(),
                    e.val_loss.map(f64::to_bits),
                    e.metrics.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn early_stopping_stops_and_restores_the_best_weights() {
    // The validation examples (the last 30%) have their labels flipped: the better the
    // model fits the training data, the worse its validation loss.
    let clean = blobs(200, 4);
    let Targets::Classes(labels) = &clean.targets else {
        unreachable!()
    };
    let flipped: Vec<i64> = labels
        .to_vec()
        .iter()
        .enumerate()
        .map(|(i, &c)| if i >= 140 { 1 - c } else { c })
        .collect();
    let data = TensorDataset::new(
        clean.inputs.clone(),
        Targets::Classes(Tensor::from_vec(flipped, &[200])),
    )
    .unwrap();
    let m = model(5);
    let mut opt = Sgd::new(m.parameters(), SgdConfig::default().lr(0.05)).unwrap();
    let config = quiet()
        .epochs(30)
        .validation_split(0.3)
        .callback(EarlyStopping::new(2).restore_best_weights(true));
    let history = fit(&m, &mut opt, &losses::cross_entropy, &data, config).unwrap();
    assert!(history.epochs.len() < 30, "stopped early");
    let best = history
        .epochs
        .iter()
        .map(|e| e.val_loss.unwrap())
        .fold(f64::INFINITY, f64::min);
    let (_, val) = data.split_last(0.3);
    let mut metrics: Vec<Box<dyn graft::train::Metric>> = vec![];
    let (restored, _) =
        graft::train::evaluate(&m, &losses::cross_entropy, &val, 16, &mut metrics).unwrap();
    assert!(
        (restored - best).abs() < 1e-5,
        "restored val_loss {restored} vs best {best}"
    );
}

#[test]
fn a_step_scheduler_sets_each_epochs_lr() {
    let data = blobs(64, 6);
    let m = model(7);
    let mut opt = Sgd::new(m.parameters(), SgdConfig::default().lr(0.1)).unwrap();
    let scheduler = StepLr::new(1, 0.5).unwrap().attach(&mut opt);
    let config = quiet()
        .epochs(3)
        .callback(LrSchedulerCallback::per_epoch(scheduler));
    let history = fit(&m, &mut opt, &losses::cross_entropy, &data, config).unwrap();
    let lrs: Vec<f64> = history.epochs.iter().map(|e| e.lr).collect();
    assert!(
        (lrs[0] - 0.1).abs() < 1e-12
            && (lrs[1] - 0.05).abs() < 1e-12
            && (lrs[2] - 0.025).abs() < 1e-12,
        "{lrs:?}"
    );
}

#[test]
fn a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint() {
    let dir = std::env::temp_dir().join(format!("graft-train-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("best.safetensors");
    let data = blobs(64, 8);
    let m = model(9);
    let mut opt = Sgd::new(m.parameters(), SgdConfig::default().lr(0.1)).unwrap();
    // Poison the weights after epoch 2, so epoch 3's first loss is NaN.
    let params = m.parameters();
    let poison = EpochCallback(move |logs: &graft::train::EpochLogs| {
        if logs.epoch == 2 {
            params[0].update_value(|w| w[0] = f32::NAN);
        }
        Control::Continue
    });
    let config = quiet()
        .epochs(5)
        .callback(ModelCheckpoint::new(&path).monitor("loss"))
        .callback(poison);
    let err = fit(&m, &mut opt, &losses::cross_entropy, &data, config).unwrap_err();
    match &err {
        TrainError::NonFiniteLoss { epoch, step, value } => {
            assert_eq!((*epoch, *step), (3, 1));
            assert!(value.is_nan());
        }
        other => panic!("expected a non-finite loss error, got {other}"),
    }
    assert!(err.to_string().contains("epoch 3, step 1"), "{err}");
    let fresh = model(9);
    load_state_dict(&fresh, &path).expect("the last good checkpoint is intact");
    assert!(fresh.parameters()[0]
        .value()
        .to_vec()
        .iter()
        .all(|v| v.is_finite()));
    std::fs::remove_dir_all(&dir).ok();
}
