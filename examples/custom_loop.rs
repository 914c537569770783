//! Your own training loop at `fit`'s speed: the seed's MLP (784-128-10, Adam 1e-3,
//! batch 32) trained for the same number of steps three ways, timed per step:
//! `fit`, a hand-written loop on the main thread, and the same loop inside `graft::run`.
//!
//! `cargo run --release --example custom_loop -- --steps 1500`

#[path = "common/exit.rs"]
mod exit;

use std::time::Instant;

use clap::Parser;
use graft::data::{find_mnist_dir, load_mnist, DataLoader, Dataset};
use graft::prelude::*;
use graft::train::{losses, Verbosity};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Time fit against a custom loop, on the main thread and inside `graft::run`.
#[derive(Parser, Debug)]
struct Cli {
    /// Optimizer steps per variant.
    #[arg(long, default_value_t = 1500)]
    steps: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn mlp() -> Sequential {
    let mut rng = StdRng::seed_from_u64(0);
    Sequential::new()
        .add(Linear::new(784, 128, &mut rng))
        .add(Relu)
        .add(Linear::new(128, 10, &mut rng))
}

/// The loop a user writes: batches, forward, loss, backward, step. Returns the last loss.
fn user_loop(model: &Sequential, opt: &mut Adam, data: &TensorDataset, steps: usize) -> f32 {
    let loader = DataLoader::new(data, 32).shuffled(0);
    let mut last = f32::NAN;
    for (step, batch) in (0..).flat_map(|e| loader.epoch(e)).take(steps).enumerate() {
        let logits = model.forward(&Var::new(batch.float_inputs()));
        let loss = losses::cross_entropy(&logits, &batch.targets).unwrap();
        opt.zero_grad();
        loss.backward().unwrap();
        opt.step().unwrap();
        if step + 1 == steps {
            last = loss.item();
        }
    }
    last
}

fn main() {
    exit::report(run());
}

/// The example; errors end it through `report`, printed with their message.
fn run() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    if let Some(n) = cli.threads {
        graft::set_num_threads(n)?;
    }
    let (dir, _) = find_mnist_dir(None)?;
    let train = load_mnist(&dir)?.train;
    println!("data: {} ({} images)", dir.display(), train.len());
    let ms = |t: Instant| 1e3 * t.elapsed().as_secs_f64() / cli.steps as f64;

    let model = mlp();
    let mut opt = Adam::new(model.parameters(), AdamConfig::default())?;
    let config = FitConfig::new()
        .max_steps(cli.steps)
        .seed(0)
        .verbosity(Verbosity::Silent);
    let t = Instant::now();
    fit(&model, &mut opt, &losses::cross_entropy, &train, config)?;
    let fit_ms = ms(t);

    let model = mlp();
    let mut opt = Adam::new(model.parameters(), AdamConfig::default())?;
    let t = Instant::now();
    user_loop(&model, &mut opt, &train, cli.steps);
    let main_ms = ms(t);

    let model = mlp();
    let mut opt = Adam::new(model.parameters(), AdamConfig::default())?;
    let t = Instant::now();
    let loss = graft::run(|| user_loop(&model, &mut opt, &train, cli.steps));
    let run_ms = ms(t);

    println!("fit:                      {fit_ms:.3} ms/step");
    println!("own loop, main thread:    {main_ms:.3} ms/step");
    println!("own loop in graft::run:   {run_ms:.3} ms/step (last loss {loss:.4})");
    Ok(())
}
