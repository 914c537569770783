//! Batch size as a schedule of `fit`: the History's batch_size column and the number of
//! steps per epoch follow the schedule; the adaptive policy grows the batch towards the
//! logged noise scale in multiples of the base and scales the learning rate.

use graft::data::{Targets, TensorDataset};
use graft::prelude::*;
use graft::train::{losses, Callback, Context, TrainError, Verbosity};
use graft::tune::{AdaptiveBatchSize, BatchSizeSteps, LrScaling, NoiseScaleCallback};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn blobs(n: usize) -> TensorDataset {
    let mut rng = StdRng::seed_from_u64(0);
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for i in 0..n {
        let c = (i % 2) as i64;
        for _ in 0..4 {
            xs.push(rng.gen_range(-1.0f32..1.0) + c as f32);
        }
        ys.push(c);
    }
    TensorDataset::new(
        Tensor::from_vec(xs, &[n, 4]),
        Targets::Classes(Tensor::from_vec(ys, &[n])),
    )
    .unwrap()
}

fn model() -> Sequential {
    let mut rng = StdRng::seed_from_u64(1);
    Sequential::new()
        .add(Linear::new(4, 8, &mut rng))
        .add(Relu)
        .add(Linear::new(8, 2, &mut rng))
}

/// Counts optimizer steps and the examples they saw, logged as History columns.
#[derive(Default)]
struct StepCounter {
    steps: usize,
    largest: usize,
}

impl Callback for StepCounter {
    fn on_step_end(
        &mut self,
        ctx: &mut Context<'_>,
        _logs: &StepLogs,
    ) -> Result<Control, TrainError> {
        self.steps += 1;
        self.largest = self.largest.max(ctx.batch_size);
        Ok(Control::Continue)
    }

    fn epoch_values(&mut self) -> Vec<(String, f64)> {
        let v = vec![
            ("epoch_steps".to_string(), self.steps as f64),
            ("largest".to_string(), self.largest as f64),
        ];
        *self = StepCounter::default();
        v
    }
}

#[test]
fn history_and_steps_follow_the_schedule() {
    let data = blobs(100);
    let model = model();
    let mut opt = Sgd::new(model.parameters(), SgdConfig::default()).unwrap();
    let schedule = BatchSizeSteps::new(10).at(2, 20).at(4, 40);
    assert_eq!(
        (1..=5).map(|e| schedule.size_at(e)).collect::<Vec<_>>(),
        vec![10, 20, 20, 40, 40]
    );
    let config = FitConfig::new()
        .epochs(5)
        .verbosity(Verbosity::Silent)
        .batch_size_schedule(schedule)
        .callback(StepCounter::default());
    let h = fit(&model, &mut opt, &losses::cross_entropy, &data, config).unwrap();
    let col = |c: &str| -> Vec<f64> { h.epochs.iter().map(|e| e.get(c).unwrap()).collect() };
    assert_eq!(col("batch_size"), vec![10.0, 20.0, 20.0, 40.0, 40.0]);
    // 100 examples: 10, 5, 5, 3 (40 + 40 + 20), 3 steps.
    assert_eq!(col("epoch_steps"), vec![10.0, 5.0, 5.0, 3.0, 3.0]);
    assert_eq!(col("largest"), vec![10.0, 20.0, 20.0, 40.0, 40.0]);
    let csv = h.to_csv();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with("lr,seconds,batch_size,epoch_steps,largest"),
        "{csv}"
    );
}

#[test]
fn multiply_and_parse_build_the_same_steps() {
    let a = BatchSizeSteps::multiply_at(32, &[6, 3], 2);
    let b = BatchSizeSteps::parse(32, "3:64, 6:128").unwrap();
    assert_eq!(a, b);
    assert!(BatchSizeSteps::parse(32, "3-64")
        .unwrap_err()
        .contains("EPOCH:SIZE"));
    assert!(BatchSizeSteps::parse(32, "0:64").is_err());
}

#[test]
fn adaptive_size_rounds_to_multiples_grows_only_and_is_bounded() {
    let a = AdaptiveBatchSize::new(32, 500, LrScaling::Sqrt);
    assert_eq!(a.next_size(32, Some(100.0)), 96);
    assert_eq!(a.next_size(96, Some(40.0)), 96); // never shrinks
    assert_eq!(a.next_size(32, Some(1e6)), 480); // max rounded to a multiple of 32
    assert_eq!(a.next_size(32, Some(f64::NAN)), 32);
    assert_eq!(a.next_size(32, None), 32);
    assert_eq!(LrScaling::Linear.factor(4.0), 4.0);
    assert_eq!(LrScaling::Sqrt.factor(4.0), 2.0);
}

#[test]
fn adaptive_policy_in_fit_logs_noise_scale_and_scales_lr() {
    let data = blobs(400);
    let model = model();
    let lr0 = 0.05;
    let mut opt = Sgd::new(
        model.parameters(),
        SgdConfig {
            lr: lr0,
            ..SgdConfig::default()
        },
    )
    .unwrap();
    let config = FitConfig::new()
        .epochs(4)
        .verbosity(Verbosity::Silent)
        .batch_size_schedule(AdaptiveBatchSize::new(8, 64, LrScaling::Linear))
        .callback(NoiseScaleCallback::new(4, 0.5));
    let h = fit(&model, &mut opt, &losses::cross_entropy, &data, config).unwrap();
    let mut prev = 0.0;
    for e in &h.epochs {
        let b = e.get("batch_size").unwrap();
        let ns = e.get("noise_scale").unwrap();
        assert!(ns.is_finite(), "noise scale {ns} in epoch {}", e.epoch);
        assert!(b >= prev && b <= 64.0 && b % 8.0 == 0.0, "batch {b}");
        assert!(
            (e.lr - lr0 * b / 8.0).abs() < 1e-12,
            "lr {} at batch {b}",
            e.lr
        );
        prev = b;
    }
    // Epoch 2 follows the noise scale measured in epoch 1.
    let want = ((h.epochs[0].get("noise_scale").unwrap() / 8.0)
        .floor()
        .max(1.0)
        * 8.0)
        .clamp(8.0, 64.0);
    assert_eq!(h.epochs[1].get("batch_size").unwrap(), want);
}
