//! The seed's Keras model in graft: Dense(128, relu) -> Dense(10, softmax) on 784 inputs,
//! Adam(1e-3), categorical cross-entropy, batch 32, 10 epochs, validation_split 0.1.
//!
//! `cargo run --release --example mnist` (see `--help`).

mod common;

use clap::Parser;
use graft::prelude::*;
use graft::train::losses;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// The fraction of the training data `fit` holds out for validation (the seed's 0.1).
const VALIDATION_SPLIT: f64 = 0.1;

/// Train a 784-128-10 MLP on an MNIST-style data set (Fashion-MNIST by default).
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    flags: common::TrainFlags,
    #[command(flatten)]
    tune: common::tune_flags::TuneFlags,
}

fn main() {
    common::exit::report(run());
}

/// The example; errors end it through `report`, printed with their message.
fn run() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    let flags = &cli.flags;
    let sets = common::setup(flags)?;
    let mut rng = StdRng::seed_from_u64(flags.seed);

    let model = Sequential::new()
        .add(Linear::new(784, 128, &mut rng))
        .add(Relu)
        .add(Linear::new(128, 10, &mut rng));
    let config = AdamConfig {
        lr: flags.lr,
        ..AdamConfig::default()
    };
    let mut optimizer = Adam::new(model.parameters(), config)?;
    let batch = flags.batch_size.unwrap_or(32);
    if common::tune_flags::maybe_lr_find(&cli.tune, &model, &mut optimizer, &sets.train, batch)? {
        return Ok(());
    }
    let fit_config = FitConfig::new()
        .batch_size(batch)
        .epochs(flags.epochs.unwrap_or(10))
        .validation_split(VALIDATION_SPLIT)
        .seed(flags.seed);
    let fit_config = common::tune_flags::configure(&cli.tune, fit_config, batch)?;
    let history = fit(
        &model,
        &mut optimizer,
        &losses::cross_entropy,
        &sets.train,
        fit_config,
    )?;

    common::tune_flags::maybe_plot(&cli.tune, &history)?;
    common::finish(flags, &model, &history, &sets.test)
}
