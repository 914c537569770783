//! Fit a noisy 1-D function with a small MLP: MSE plus an L2 penalty on the weights,
//! Adam, and ReduceLROnPlateau on the validation loss. Prints the fit's error against the
//! noise-free function.
//!
//! `cargo run --release --example regression`

#[path = "common/exit.rs"]
mod exit;

use clap::Parser;
use graft::data::{Targets, TensorDataset};
use graft::nn::regularize::{l2_filtered, not_bias};
use graft::nn::Tanh;
use graft::optim::{PlateauConfig, ReduceLrOnPlateau};
use graft::prelude::*;
use graft::train::{predict, FitConfig, ReduceLrOnPlateauCallback, Verbosity};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Fit y = sin(3x) + x/2 + noise on [-2, 2].
#[derive(Parser, Debug)]
struct Cli {
    /// Training points.
    #[arg(long, default_value_t = 2000)]
    points: usize,
    /// Standard deviation of the noise.
    #[arg(long, default_value_t = 0.1)]
    noise: f64,
    /// Epochs.
    #[arg(long, default_value_t = 60)]
    epochs: usize,
    /// L2 penalty coefficient on the weights (biases are not penalised).
    #[arg(long, default_value_t = 1e-5)]
    l2: f32,
    /// Seed for data, initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn truth(x: f32) -> f32 {
    (3.0 * x).sin() + 0.5 * x
}

fn main() {
    exit::report(run());
}

/// The example; errors end it through `report`, printed with their message.
fn run() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    let mut rng = StdRng::seed_from_u64(cli.seed);
    let xs: Vec<f32> = (0..cli.points).map(|_| rng.gen_range(-2.0..2.0)).collect();
    let ys: Vec<f32> = xs
        .iter()
        .map(|&x| truth(x) + cli.noise as f32 * (rng.gen::<f32>() - 0.5) * 3.46)
        .collect();
    let data = TensorDataset::new(
        Tensor::from_vec(xs, &[cli.points, 1]),
        Targets::Values(Tensor::from_vec(ys, &[cli.points, 1])),
    )?;

    let model = Sequential::new()
        .add(Linear::new(1, 64, &mut rng))
        .add(Tanh)
        .add(Linear::new(64, 64, &mut rng))
        .add(Tanh)
        .add(Linear::new(64, 1, &mut rng));
    let mut optimizer = Adam::new(
        model.parameters(),
        AdamConfig {
            lr: 1e-2,
            ..AdamConfig::default()
        },
    )?;
    let plateau = ReduceLrOnPlateau::new(PlateauConfig {
        factor: 0.5,
        patience: 3,
        ..PlateauConfig::default()
    })?;
    let l2 = cli.l2;
    let loss = |out: &Var, targets: &Targets| -> graft::tensor::Result<Var> {
        Ok(&graft::train::losses::mse(out, targets)? + &l2_filtered(&model, l2, not_bias))
    };
    let config = FitConfig::new()
        .batch_size(64)
        .epochs(cli.epochs)
        .validation_split(0.2)
        .seed(cli.seed)
        .metrics(vec![])
        .verbosity(Verbosity::Silent)
        .callback(ReduceLrOnPlateauCallback::new(plateau));
    let history = fit(&model, &mut optimizer, &loss, &data, config)?;
    for e in history
        .epochs
        .iter()
        .filter(|e| e.epoch % 10 == 0 || e.epoch == 1)
    {
        println!(
            "epoch {:3}: loss {:.5} val_loss {:.5} lr {:.2e}",
            e.epoch,
            e.loss,
            e.val_loss.unwrap_or(f64::NAN),
            e.lr
        );
    }
    let grid: Vec<f32> = (0..401).map(|i| -2.0 + 4.0 * i as f32 / 400.0).collect();
    let pred = predict(
        &model,
        Tensor::from_vec(grid.clone(), &[grid.len(), 1]),
        512,
    )?
    .to_vec();
    let mse: f32 = grid
        .iter()
        .zip(&pred)
        .map(|(&x, &p)| (p - truth(x)).powi(2))
        .sum::<f32>()
        / grid.len() as f32;
    println!(
        "fit RMSE against the noise-free function on [-2, 2]: {:.4} (noise std {})",
        mse.sqrt(),
        cli.noise
    );
    Ok(())
}
