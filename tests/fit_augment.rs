//! fit with `FitConfig::augment`: the prefetching loader gives the same batches as the
//! plain loader (an identity transform reproduces the plain History exactly, for any
//! worker count), and a real augmentation changes training reproducibly.

use graft::data::transform::{Compose, RandomCrop, RandomHorizontalFlip};
use graft::data::{Targets, TensorDataset};
use graft::prelude::*;
use graft::train::{losses, Verbosity};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// 60 one-channel 3x3 images in 3 classes.
fn data() -> TensorDataset {
    let x: Vec<f32> = (0..60 * 9)
        .map(|v| ((v * 37 % 101) as f32) / 101.0)
        .collect();
    let y: Vec<i64> = (0..60).map(|i| i % 3).collect();
    TensorDataset::new(
        Tensor::from_vec(x, &[60, 1, 3, 3]),
        Targets::Classes(Tensor::from_vec(y, &[60])),
    )
    .unwrap()
}

/// Per-epoch training losses of a small model under `config`.
fn losses_with(config: FitConfig) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(1);
    let model = Sequential::new()
        .add(Flatten::new())
        .add(Linear::new(9, 3, &mut rng));
    let mut opt = Sgd::new(model.parameters(), SgdConfig::default().lr(0.1)).unwrap();
    let config = config
        .batch_size(8)
        .epochs(3)
        .seed(5)
        .validation_split(0.2)
        .verbosity(Verbosity::Silent);
    let history = fit(&model, &mut opt, &losses::cross_entropy, &data(), config).unwrap();
    history.epochs.iter().map(|e| e.loss).collect()
}

#[test]
fn an_identity_augmentation_reproduces_the_plain_history() {
    let plain = losses_with(FitConfig::new());
    for workers in [0, 3] {
        assert_eq!(
            losses_with(FitConfig::new().augment(Compose::new(), workers)),
            plain
        );
    }
}

#[test]
fn augmentation_is_reproducible_and_changes_training() {
    let augment = || {
        Compose::new()
            .then(RandomCrop::new(1))
            .then(RandomHorizontalFlip::new(0.5))
    };
    let a = losses_with(FitConfig::new().augment(augment(), 2));
    assert_eq!(a, losses_with(FitConfig::new().augment(augment(), 0)));
    assert_ne!(a, losses_with(FitConfig::new()));
}
