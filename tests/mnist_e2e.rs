//! End to end: the `mnist` example's model trained for one epoch on Fashion-MNIST must
//! reach at least 82% test accuracy. Without the full data set (Debian's
//! `dataset-fashion-mnist`, `GRAFT_DATA` or `data/fashion-mnist/`) the test trains on the
//! bundled 5,000-image subset instead, says so, and asks for 70% (measured: about 78%).

use graft::data::{find_mnist_dir, load_mnist, DataSource};
use graft::prelude::*;
use graft::train::{evaluate, losses, Accuracy, Metric, Verbosity};
use rand::rngs::StdRng;
use rand::SeedableRng;

#[test]
fn one_epoch_of_the_mnist_model_reaches_82_percent_on_fashion_mnist() {
    let (dir, source) = find_mnist_dir(None).expect("some data set, at least the bundled subset");
    let sets = load_mnist(&dir).unwrap();
    let subset = source == DataSource::Bundled || graft::data::Dataset::len(&sets.train) < 60_000;
    if subset {
        eprintln!("full Fashion-MNIST not found: training on the bundled subset (install dataset-fashion-mnist for the real check)");
    }
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
    let needed = if subset { 0.70 } else { 0.82 };
    eprintln!(
        "{}: 1 epoch, train loss {:.4}, test accuracy {:.2}% (needs {:.0}%)",
        dir.display(),
        history.epochs[0].loss,
        accuracy * 100.0,
        needed * 100.0
    );
    assert!(
        accuracy >= needed,
        "test accuracy {accuracy} below {needed}"
    );
}
