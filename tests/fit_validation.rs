//! fit, evaluate and predict check their arguments and the model against the data before
//! any work: every mistake is a `TrainError` naming the argument (and its allowed range) or
//! the layer, never a panic on a pool worker or a wrong number.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use graft::autograd::Var;
use graft::data::{Targets, TensorDataset};
use graft::nn::{Linear, Module, Sequential};
use graft::optim::rules::SgdConfig;
use graft::optim::Sgd;
use graft::tensor::Tensor;
use graft::train::{
    evaluate, fit, losses, predict, Control, FitConfig, StepCallback, TrainError, Verbosity,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn data(n: usize, features: usize, seed: u64) -> TensorDataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let xs = (0..n * features)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let ys = (0..n).map(|i| (i % 10) as i64).collect();
    TensorDataset::new(
        Tensor::from_vec(xs, &[n, features]),
        Targets::Classes(Tensor::from_vec(ys, &[n])),
    )
    .unwrap()
}

fn mlp(inputs: usize) -> Sequential {
    let mut rng = StdRng::seed_from_u64(0);
    Sequential::new().add(Linear::new(inputs, 10, &mut rng))
}

fn quiet() -> FitConfig {
    FitConfig::new().verbosity(Verbosity::Silent)
}

fn fit_err(model: &Sequential, d: &TensorDataset, config: FitConfig) -> TrainError {
    let mut opt = Sgd::new(model.parameters(), SgdConfig::default()).unwrap();
    fit(model, &mut opt, &losses::cross_entropy, d, config).unwrap_err()
}

/// Counts optimizer steps, to show that nothing was trained before an error.
fn step_counter() -> (
    Arc<AtomicUsize>,
    StepCallback<impl FnMut(&graft::train::StepLogs) -> Control + Send>,
) {
    let steps = Arc::new(AtomicUsize::new(0));
    let seen = steps.clone();
    (
        steps,
        StepCallback(move |_: &graft::train::StepLogs| {
            seen.fetch_add(1, Ordering::Relaxed);
            Control::Continue
        }),
    )
}

#[test]
fn a_model_that_does_not_fit_the_data_is_an_error_naming_the_layer() {
    let err = fit_err(&mlp(784), &data(64, 100, 1), quiet());
    let TrainError::Tensor(e) = &err else {
        panic!("expected TrainError::Tensor, got {err:?}")
    };
    let text = err.to_string();
    assert!(text.contains("layer 0 (Linear)"), "{text}");
    assert!(
        text.contains("[32, 100]") && text.contains("[10, 784]"),
        "{text}"
    );
    assert!(
        e.message.contains("first batch of the training data"),
        "{text}"
    );
}

#[test]
fn mismatched_validation_data_fails_before_the_first_step() {
    let (steps, counter) = step_counter();
    let config = quiet().validation_data(data(20, 50, 2)).callback(counter);
    let err = fit_err(&mlp(100), &data(64, 100, 1), config);
    assert!(matches!(err, TrainError::Tensor(_)), "{err:?}");
    assert!(err.to_string().contains("validation data"), "{err}");
    assert_eq!(steps.load(Ordering::Relaxed), 0, "no step before the error");
}

#[test]
fn a_panicking_user_module_is_an_error_not_a_crash() {
    struct Picky;
    impl Module for Picky {
        fn forward(&self, x: &Var) -> Var {
            assert_eq!(x.shape()[1], 3, "Picky wants 3 features");
            x.clone()
        }
    }
    let dummy = Var::parameter(Tensor::<f32>::zeros(&[1]));
    let mut opt = Sgd::new(vec![dummy], SgdConfig::default()).unwrap();
    let err = fit(
        &Picky,
        &mut opt,
        &losses::cross_entropy,
        &data(8, 5, 1),
        quiet(),
    )
    .unwrap_err();
    let TrainError::Model(m) = &err else {
        panic!("expected TrainError::Model, got {err:?}")
    };
    assert!(
        m.contains("Picky wants 3 features") && m.contains("training data"),
        "{m}"
    );
}

#[test]
fn an_empty_validation_set_is_an_error_at_start() {
    let empty = data(0, 4, 3);
    let err = fit_err(&mlp(4), &data(32, 4, 1), quiet().validation_data(empty));
    assert!(matches!(err, TrainError::Config(_)), "{err:?}");
    assert!(
        err.to_string().contains("validation data is empty"),
        "{err}"
    );
    // A split that rounds to no examples is the same mistake.
    let err = fit_err(&mlp(4), &data(10, 4, 1), quiet().validation_split(0.01));
    assert!(
        err.to_string().contains("validation_split 0.01 of 10"),
        "{err}"
    );
}

#[test]
fn evaluate_on_empty_data_is_an_error() {
    let mut metrics: Vec<Box<dyn graft::train::Metric>> = vec![];
    let err = evaluate(
        &mlp(4),
        &losses::cross_entropy,
        &data(0, 4, 1),
        8,
        &mut metrics,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("evaluate: the data is empty"),
        "{err}"
    );
    let err = evaluate(
        &mlp(4),
        &losses::cross_entropy,
        &data(8, 4, 1),
        0,
        &mut metrics,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("evaluate: batch_size must be at least 1"),
        "{err}"
    );
}

#[test]
fn batch_size_zero_is_an_error_naming_the_argument() {
    let err = fit_err(&mlp(4), &data(32, 4, 1), quiet().batch_size(0));
    assert_eq!(err.to_string(), "fit: batch_size must be at least 1, got 0");
    let x = Tensor::<f32>::zeros(&[3, 4]);
    let err = predict(&mlp(4), &x, 0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "predict: batch_size must be at least 1, got 0"
    );
}

#[test]
fn validation_split_outside_zero_to_one_is_an_error_naming_the_range() {
    for bad in [-0.1, f64::NAN, 1.0, 1.5] {
        let err = fit_err(&mlp(4), &data(32, 4, 1), quiet().validation_split(bad));
        let text = err.to_string();
        assert!(
            text.contains("validation_split must be in [0, 1)"),
            "{bad}: {text}"
        );
    }
    for bad in [
        quiet().max_steps(0),
        quiet().steps_per_epoch(0),
        quiet().val_check_interval(0),
    ] {
        let err = fit_err(&mlp(4), &data(32, 4, 1), bad);
        assert!(
            err.to_string().contains("must be at least 1, got 0"),
            "{err}"
        );
    }
}

#[test]
fn predict_on_no_rows_keeps_the_output_width() {
    let out = predict(&mlp(784), Tensor::<f32>::zeros(&[0, 784]), 32).unwrap();
    assert_eq!(out.shape(), &[0, 10]);
    let out = predict(&mlp(784), Tensor::<f32>::zeros(&[70, 784]), 32).unwrap();
    assert_eq!(out.shape(), &[70, 10]);
    let err = predict(&mlp(784), Tensor::<f32>::zeros(&[5, 100]), 32).unwrap_err();
    assert!(err.to_string().contains("layer 0 (Linear)"), "{err}");
}
