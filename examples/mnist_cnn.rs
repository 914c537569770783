//! A small CNN on an MNIST-style data set: Conv(1->32, 3) ReLU MaxPool2 -> Conv(32->64, 3)
//! ReLU MaxPool2 -> Flatten -> Linear(1600, 128) ReLU -> Linear(128, 10); Adam 1e-3, batch 64.
//!
//! `cargo run --release --example mnist_cnn` (see `--help`).

mod common;

use clap::Parser;
use graft::data::transform::{Compose, RandomCrop, RandomHorizontalFlip};
use graft::data::TensorDataset;
use graft::prelude::*;
use graft::train::losses;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// The fraction of the training data `fit` holds out for validation (the seed's 0.1).
const VALIDATION_SPLIT: f64 = 0.1;

/// Train a two-layer CNN on an MNIST-style data set (Fashion-MNIST by default).
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    flags: common::TrainFlags,
    /// Augment the training images: random crop with 2 pixels of padding, then a random
    /// horizontal flip (seeded per epoch and batch).
    #[arg(long)]
    augment: bool,
    /// Background threads assembling augmented batches.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    #[command(flatten)]
    tune: common::tune_flags::TuneFlags,
}

/// The same examples with images as `[N, 1, 28, 28]` (a view: no copy).
fn as_images(d: &TensorDataset, h: usize, w: usize) -> TensorDataset {
    let n = d.inputs.shape()[0];
    TensorDataset {
        inputs: d.inputs.reshape(&[n, 1, h, w]),
        targets: d.targets.clone(),
    }
}

fn main() {
    common::exit::report(run());
}

/// The example; errors end it through `report`, printed with their message.
fn run() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    let flags = &cli.flags;
    let sets = common::setup(flags)?;
    let (h, w) = sets.image_size;
    let (train, test) = (as_images(&sets.train, h, w), as_images(&sets.test, h, w));
    let mut rng = StdRng::seed_from_u64(flags.seed);
    // Two rounds of a 3x3 valid conv then 2x2 pooling: 28 -> 26 -> 13 -> 11 -> 5.
    let after = |s: usize| ((s - 2) / 2 - 2) / 2;
    let flat = 64 * after(h) * after(w);
    let model = Sequential::new()
        .add(Conv2d::new(1, 32, 3, &mut rng))
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Conv2d::new(32, 64, 3, &mut rng))
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Flatten::new())
        .add(Linear::new(flat, 128, &mut rng))
        .add(Relu)
        .add(Linear::new(128, 10, &mut rng));
    let mut optimizer = Adam::new(
        model.parameters(),
        AdamConfig {
            lr: flags.lr,
            ..AdamConfig::default()
        },
    )?;
    let batch = flags.batch_size.unwrap_or(64);
    if common::tune_flags::maybe_lr_find(&cli.tune, &model, &mut optimizer, &train, batch)? {
        return Ok(());
    }
    let mut config = FitConfig::new()
        .batch_size(batch)
        .epochs(flags.epochs.unwrap_or(3))
        .validation_split(VALIDATION_SPLIT)
        .seed(flags.seed);
    if cli.augment {
        let augment = Compose::new()
            .then(RandomCrop::new(2))
            .then(RandomHorizontalFlip::new(0.5));
        config = config.augment(augment, cli.workers);
    }
    let config = common::tune_flags::configure(&cli.tune, config, batch)?;
    let history = fit(
        &model,
        &mut optimizer,
        &losses::cross_entropy,
        &train,
        config,
    )?;
    common::tune_flags::maybe_plot(&cli.tune, &history)?;
    common::finish(flags, &model, &history, &test)
}
