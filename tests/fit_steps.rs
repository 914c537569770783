//! Step budgets (max_steps, steps_per_epoch, val_check_interval), stopping from
//! on_step_end, the learning rate logged at the end of an epoch and per step, and epoch
//! timing that covers batch assembly but not validation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use graft::data::{Batch, DataError, Dataset, TensorDataset};
use graft::nn::{Linear, Module, Relu, Sequential};
use graft::optim::rules::SgdConfig;
use graft::optim::{ExponentialLr, Schedule, Sgd};
use graft::train::{
    fit, losses, Control, FitConfig, History, LrSchedulerCallback, StepCallback, StepLogs,
    Verbosity,
};
use rand::rngs::StdRng;

use crate::train::blobs;
use rand::SeedableRng;

fn model() -> Sequential {
    let mut rng = StdRng::seed_from_u64(0);
    Sequential::new()
        .add(Linear::new(4, 8, &mut rng))
        .add(Relu)
        .add(Linear::new(8, 2, &mut rng))
}

fn quiet() -> FitConfig {
    FitConfig::new().batch_size(16).verbosity(Verbosity::Silent)
}

/// The steps a recorder saw.
type Seen = Arc<Mutex<Vec<StepLogs>>>;

/// Records every StepLogs and can stop at a given global step.
fn recorder(
    stop_at: Option<usize>,
) -> (Seen, StepCallback<impl FnMut(&StepLogs) -> Control + Send>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let cb = StepCallback(move |s: &StepLogs| {
        log.lock().unwrap().push(*s);
        if Some(s.global_step) == stop_at {
            Control::Stop
        } else {
            Control::Continue
        }
    });
    (seen, cb)
}

fn train(data: &dyn Dataset, config: FitConfig) -> History {
    let m = model();
    let mut opt = Sgd::new(m.parameters(), SgdConfig::default().lr(0.1)).unwrap();
    fit(&m, &mut opt, &losses::cross_entropy, data, config).unwrap()
}

#[test]
fn max_steps_alone_decides_how_long_training_runs() {
    let (seen, cb) = recorder(None);
    let h = train(&blobs(400, 1), quiet().max_steps(30).callback(cb));
    assert_eq!(h.epochs.len(), 2, "25 steps, then 5 of the second pass");
    assert_eq!((h.epochs[0].steps, h.epochs[1].steps), (25, 30));
    // The examples each epoch trained on: a whole pass, then the 5 batches of the cut one.
    assert_eq!((h.epochs[0].samples, h.epochs[1].samples), (400, 80));
    let seconds: f64 = h.epochs.iter().map(|e| e.seconds).sum();
    let rate = h.samples_per_second().unwrap();
    assert!(
        (rate * seconds - 480.0).abs() < 1e-6 * 480.0,
        "{rate} over {seconds} s"
    );
    assert_eq!(seen.lock().unwrap().len(), 30);
    // With epochs set too, whichever budget ends first wins.
    let h = train(&blobs(400, 1), quiet().epochs(1).max_steps(1000));
    assert_eq!(h.last().unwrap().steps, 25);
}

#[test]
fn steps_per_epoch_cuts_passes_into_epochs_and_continues_across_them() {
    let (seen, cb) = recorder(None);
    let h = train(
        &blobs(400, 1),
        quiet().epochs(3).steps_per_epoch(10).callback(cb),
    );
    let steps: Vec<usize> = h.epochs.iter().map(|e| e.steps).collect();
    assert_eq!(steps, vec![10, 20, 30]);
    let seen = seen.lock().unwrap();
    let last: Vec<(usize, usize)> = seen.iter().map(|s| (s.epoch, s.step)).collect();
    assert_eq!(last[9], (1, 10));
    assert_eq!(last[10], (2, 1));
    // 40 steps over 25-batch passes: the stream wraps into a reshuffled second pass.
    let h = train(&blobs(400, 1), quiet().epochs(2).steps_per_epoch(20));
    assert_eq!(h.last().unwrap().steps, 40);
}

#[test]
fn val_check_interval_gives_a_validation_curve_inside_an_epoch() {
    let h = train(
        &blobs(500, 1),
        quiet()
            .epochs(1)
            .validation_split(0.2)
            .val_check_interval(10),
    );
    let at: Vec<usize> = h.val_checks.iter().map(|c| c.step).collect();
    assert_eq!(at, vec![10, 20], "25 steps per epoch");
    assert_eq!(
        h.epochs[0].samples, 400,
        "the 100 held-out examples are not trained on"
    );
    assert!(h.val_checks.iter().all(|c| c.val_loss.is_finite()));
    // The training accuracy is not disturbed by the mid-epoch checks.
    let plain = train(&blobs(500, 1), quiet().epochs(1).validation_split(0.2));
    assert_eq!(h.epochs[0].loss, plain.epochs[0].loss);
    assert_eq!(h.epochs[0].get("accuracy"), plain.epochs[0].get("accuracy"));
    assert_eq!(h.epochs[0].val_loss, plain.epochs[0].val_loss);
}

#[test]
fn on_step_end_can_stop_training() {
    let (seen, cb) = recorder(Some(7));
    let h = train(
        &blobs(400, 1),
        quiet().epochs(5).validation_split(0.2).callback(cb),
    );
    assert_eq!(seen.lock().unwrap().len(), 7);
    assert_eq!(h.epochs.len(), 1);
    assert_eq!(h.epochs[0].steps, 7);
    assert!(
        h.epochs[0].val_loss.is_some(),
        "the cut epoch is still validated"
    );
}

#[test]
fn lr_is_logged_at_the_end_of_the_epoch_and_per_step() {
    let m = model();
    let mut opt = Sgd::new(m.parameters(), SgdConfig::default().lr(0.1)).unwrap();
    let sched = ExponentialLr::new(0.9).unwrap().attach(&mut opt);
    let (seen, cb) = recorder(None);
    let config = quiet()
        .epochs(2)
        .callback(LrSchedulerCallback::per_step(sched))
        .callback(cb);
    let h = fit(&m, &mut opt, &losses::cross_entropy, &blobs(400, 1), config).unwrap();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12 * b.max(1e-30);
    // Step k (1-based, global) ran at 0.1 * 0.9^(k-1); after epoch e's 25 steps the rate
    // in effect is 0.1 * 0.9^(25 e).
    for s in seen.lock().unwrap().iter() {
        assert!(
            close(s.lr, 0.1 * 0.9f64.powi(s.global_step as i32 - 1)),
            "{s:?}"
        );
    }
    assert!(
        close(h.epochs[0].lr, 0.1 * 0.9f64.powi(25)),
        "{}",
        h.epochs[0].lr
    );
    assert!(
        close(h.epochs[1].lr, 0.1 * 0.9f64.powi(50)),
        "{}",
        h.epochs[1].lr
    );
}

/// A dataset that takes `delay` to assemble each batch.
struct Slow {
    inner: TensorDataset,
    delay: Duration,
}

impl Dataset for Slow {
    fn len(&self) -> usize {
        self.inner.len()
    }

    fn try_batch(&self, indices: &[usize]) -> Result<Batch, DataError> {
        std::thread::sleep(self.delay);
        self.inner.try_batch(indices)
    }
}

#[test]
fn seconds_cover_batch_assembly_and_val_seconds_the_validation() {
    let slow_train = Slow {
        inner: blobs(160, 1),
        delay: Duration::from_millis(3),
    };
    let slow_val = Slow {
        inner: blobs(32, 2),
        delay: Duration::from_millis(100),
    };
    let h = train(&slow_train, quiet().epochs(1).validation_data(slow_val));
    let e = &h.epochs[0];
    // 10 training batches of 3 ms each are inside the epoch's time; the 2 validation
    // batches of 100 ms each are not, and are in val_seconds.
    assert!(e.seconds >= 0.030, "seconds {}", e.seconds);
    assert!(
        e.seconds < 0.2,
        "validation leaked into seconds: {}",
        e.seconds
    );
    assert!(
        e.val_seconds.unwrap() >= 0.2,
        "val_seconds {:?}",
        e.val_seconds
    );
    assert!(h
        .to_csv()
        .lines()
        .next()
        .unwrap()
        .ends_with(",lr,seconds,val_seconds"));
}
