//! End to end: the `mnist` example's model trained for one epoch.
//!
//! On the full Fashion-MNIST (Debian's `dataset-fashion-mnist`, `GRAFT_DATA` or
//! `data/fashion-mnist/`) it must reach 82% test accuracy. That data set is not in the
//! repository: off CI the full-data test says it is missing and returns; on CI (`CI=true`),
//! where `.ci/run` installs it, a missing data set fails the test. The bundled 5,000-image
//! subset is always there, and a second test asks 70% of one epoch on it (measured: about 78%).

use graft::data::locate::bundled_dir;
use graft::data::{find_mnist_dir, load_mnist, DataSource, MnistSets};
use graft::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Trains the seed's MLP for one epoch on `sets` and returns its test accuracy.
fn one_epoch_test_accuracy(sets: &MnistSets) -> f64 {
    let mut rng = StdRng::seed_from_u64(0);
    let model = Sequential::new()
        .add(Linear::new(784, 128, &mut rng))
        .add(Relu)
        .add(Linear::new(128, 10, &mut rng));
    let mut optimizer = Adam::new(model.parameters(), AdamConfig::default()).unwrap();
    let config = FitConfig::new()
        .batch_size(32)
        .epochs(1)
        .validation_split(0.1)
        .verbosity(Verbosity::Silent);
    let history = fit(
        &model,
        &mut optimizer,
        &losses::cross_entropy,
        &sets.train,
        config,
    )
    .unwrap();
    let mut metrics: Vec<Box<dyn Metric>> = vec![Box::new(Accuracy::default())];
    evaluate(
        &model,
        &losses::cross_entropy,
        &sets.test,
        1000,
        &mut metrics,
    )
    .unwrap();
    let accuracy = metrics[0].value();
    eprintln!(
        "1 epoch: train loss {:.4}, test accuracy {:.2}%",
        history.epochs[0].loss,
        accuracy * 100.0
    );
    accuracy
}

#[test]
fn one_epoch_of_the_mnist_model_reaches_82_percent_on_fashion_mnist() {
    let (dir, source) = find_mnist_dir(None).expect("some data set, at least the bundled subset");
    let sets = load_mnist(&dir).unwrap();
    if source == DataSource::Bundled || graft::data::Dataset::len(&sets.train) < 60_000 {
        let message = "the full Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist, or set GRAFT_DATA)";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{message}: CI must run this test on it"
        );
        eprintln!("{message}: skipping the 82% check off CI");
        return;
    }
    let accuracy = one_epoch_test_accuracy(&sets);
    assert!(
        accuracy >= 0.82,
        "test accuracy {accuracy} below 0.82 on {}",
        dir.display()
    );
}

#[test]
fn one_epoch_of_the_mnist_model_reaches_70_percent_on_the_bundled_subset() {
    let sets = load_mnist(&bundled_dir()).unwrap();
    let accuracy = one_epoch_test_accuracy(&sets);
    assert!(
        accuracy >= 0.70,
        "test accuracy {accuracy} below 0.70 on the bundled subset"
    );
}
