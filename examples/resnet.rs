//! A small ResNet on an MNIST-style data set: a 3x3 stem (16 channels, BatchNorm, ReLU),
//! three stages of BasicBlocks (16, 32, 64 channels; the last two halve the size with a
//! stride-2 block and a 1x1 projection shortcut), global average pooling and a linear
//! classifier; Adam, batch 64, 3 epochs, with a one-cycle learning-rate schedule (warm-up
//! to `--max-lr`, then cosine annealing to near zero), stepped every batch.
//!
//! `cargo run --release --example resnet` (see `--help`).

mod common;

use clap::Parser;
use graft::data::TensorDataset;
use graft::nn::functional::Conv2dOptions;
use graft::nn::{AdaptiveAvgPool2d, BasicBlock, BatchNorm};
use graft::optim::{OneCycleConfig, OneCycleLr};
use graft::prelude::*;
use graft::train::{losses, LrSchedulerCallback};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// The fraction of the training data `fit` holds out for validation (the seed's 0.1).
const VALIDATION_SPLIT: f64 = 0.1;

/// Train a small ResNet (three stages of BasicBlocks) on Fashion-MNIST.
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    flags: common::TrainFlags,
    /// BasicBlocks per stage.
    #[arg(long, default_value_t = 1)]
    blocks: usize,
    /// Channels of the first stage (doubled at each later stage).
    #[arg(long, default_value_t = 16)]
    width: usize,
    /// Peak learning rate of the one-cycle schedule (default: 3 x --lr).
    #[arg(long)]
    max_lr: Option<f64>,
}

/// The same examples with images as `[N, 1, 28, 28]` (a view: no copy).
fn as_images(d: &TensorDataset, h: usize, w: usize) -> TensorDataset {
    let n = d.inputs.shape()[0];
    TensorDataset {
        inputs: d.inputs.reshape(&[n, 1, h, w]),
        targets: d.targets.clone(),
    }
}

/// Stem, three stages of `blocks` BasicBlocks, pooling and the classifier.
fn resnet(width: usize, blocks: usize, classes: usize, rng: &mut StdRng) -> Sequential {
    let stem = Conv2dOptions {
        padding: [1, 1],
        ..Default::default()
    };
    let mut model = Sequential::new()
        .add(Conv2d::with_options(1, width, [3, 3], stem, false, rng))
        .add(BatchNorm::new(width))
        .add(Relu);
    let mut channels = width;
    for stage in 0..3 {
        let out = width << stage;
        for b in 0..blocks {
            let stride = if stage > 0 && b == 0 { 2 } else { 1 };
            model = model.add(BasicBlock::new(channels, out, stride, rng));
            channels = out;
        }
    }
    model
        .add(AdaptiveAvgPool2d([1, 1]))
        .add(Flatten::new())
        .add(Linear::new(channels, classes, rng))
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
    let model = resnet(cli.width, cli.blocks.max(1), 10, &mut rng);
    println!(
        "model: ResNet, {} BasicBlock(s) per stage, widths {}/{}/{}, {} parameters",
        cli.blocks.max(1),
        cli.width,
        cli.width * 2,
        cli.width * 4,
        model.num_parameters()
    );
    let mut optimizer = Adam::new(
        model.parameters(),
        AdamConfig {
            lr: flags.lr,
            ..AdamConfig::default()
        },
    )?;
    let (batch, epochs) = (
        flags.batch_size.unwrap_or(64).max(1),
        flags.epochs.unwrap_or(3),
    );
    // fit holds out the last tenth for validation and trains on the rest in `batch`es.
    let n = train.inputs.shape()[0];
    let steps = (n - (n as f64 * 0.1).round() as usize).div_ceil(batch) * epochs;
    let mut cycle = OneCycleConfig::new(cli.max_lr.unwrap_or(3.0 * flags.lr), steps.max(1) as u64);
    // Adam's betas stay fixed: the schedule cycles only the learning rate.
    cycle.cycle_momentum = false;
    let schedule = OneCycleLr::new(&mut optimizer, cycle)?;
    let config = FitConfig::new()
        .batch_size(batch)
        .epochs(epochs)
        .validation_split(VALIDATION_SPLIT)
        .seed(flags.seed)
        .callback(LrSchedulerCallback::per_step(schedule));
    let history = fit(
        &model,
        &mut optimizer,
        &losses::cross_entropy,
        &train,
        config,
    )?;
    common::finish(flags, &model, &history, &test)
}
