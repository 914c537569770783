//! Tabular regression from a CSV file: house prices from area, rooms, age, district and
//! garden (data-bundled/houses.csv, synthetic and public domain, made by
//! scripts/make_houses_csv.py). Categorical columns one-hot, missing ages filled with a
//! stated value, features and target standardized with training-split statistics only,
//! an MLP trained with MSE plus an L2 penalty, then the test error in the price's units.
//!
//! `cargo run --release --example csv_regression` (see `--help`).

#[path = "common/exit.rs"]
mod exit;

use std::path::PathBuf;

use clap::Parser;
use graft::data::csv_table::{CsvOptions, CsvTable, Missing, Standardizer};
use graft::data::{Targets, TensorDataset};
use graft::nn::regularize::{l2_filtered, not_bias};
use graft::prelude::*;
use graft::train::{predict, Verbosity};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Fit an MLP to a CSV table's target column.
#[derive(Parser, Debug)]
struct Cli {
    /// The CSV file.
    #[arg(long, default_value = "data-bundled/houses.csv")]
    csv: PathBuf,
    /// The target column.
    #[arg(long, default_value = "price")]
    target: String,
    /// The value a missing numeric cell is filled with (before standardization).
    #[arg(long, default_value_t = 45.0)]
    fill: f32,
    /// Fraction of rows held out as the test set.
    #[arg(long, default_value_t = 0.2)]
    test_fraction: f64,
    /// Epochs.
    #[arg(long, default_value_t = 150)]
    epochs: usize,
    /// L2 penalty coefficient on the weights (biases are not penalised).
    #[arg(long, default_value_t = 1e-4)]
    l2: f32,
    /// Seed of the split, initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The real-valued targets of a dataset.
fn values(d: &TensorDataset) -> Tensor<f32> {
    match &d.targets {
        Targets::Values(v) => v.clone(),
        Targets::Classes(_) => unreachable!("a numeric target column gives values"),
    }
}

fn main() {
    exit::report(run());
}

/// The example; errors end it through `report`, printed with their message.
fn run() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    let options = CsvOptions::new(&cli.target).missing(Missing::Fill(cli.fill));
    let table = CsvTable::read(&cli.csv, &options)?;
    if table.class_names.is_some() {
        return Err(format!(
            "column {:?} is not numeric: this example regresses",
            cli.target
        )
        .into());
    }
    println!(
        "{}: {} rows, features {:?}",
        cli.csv.display(),
        table.len(),
        table.feature_names
    );
    let (train, test) = table.split(cli.test_fraction, cli.seed);
    // Statistics from the training rows only, applied to both splits.
    let scale_x = Standardizer::fit(&train.inputs, &table.numeric_features);
    let scale_y = Standardizer::fit(&values(&train), &[0]);
    let train = TensorDataset::new(
        scale_x.apply(&train.inputs),
        Targets::Values(scale_y.apply(&values(&train))),
    )?;
    let test_x = scale_x.apply(&test.inputs);

    let features = table.feature_names.len();
    let mut rng = StdRng::seed_from_u64(cli.seed);
    let model = Sequential::new()
        .add(Linear::new(features, 64, &mut rng))
        .add(Relu)
        .add(Linear::new(64, 32, &mut rng))
        .add(Relu)
        .add(Linear::new(32, 1, &mut rng));
    let mut optimizer = Adam::new(
        model.parameters(),
        AdamConfig {
            lr: 3e-3,
            ..AdamConfig::default()
        },
    )?;
    let l2 = cli.l2;
    let loss = |out: &Var, targets: &Targets| -> graft::tensor::Result<Var> {
        Ok(&graft::train::losses::mse(out, targets)? + &l2_filtered(&model, l2, not_bias))
    };
    let config = FitConfig::new()
        .batch_size(32)
        .epochs(cli.epochs)
        .validation_split(0.1)
        .seed(cli.seed)
        .metrics(vec![])
        .verbosity(Verbosity::Silent);
    let history = fit(&model, &mut optimizer, &loss, &train, config)?;
    for e in history
        .epochs
        .iter()
        .filter(|e| e.epoch % 25 == 0 || e.epoch == 1)
    {
        println!(
            "epoch {:3}: loss {:.4} val_loss {:.4}",
            e.epoch,
            e.loss,
            e.val_loss.unwrap_or(f64::NAN)
        );
    }
    // Predictions back in the target's units.
    let (mean, std) = (scale_y.mean[0], scale_y.std[0]);
    let pred = predict(&model, test_x.clone(), 256)?.to_vec();
    let truth = values(&test).to_vec();
    let n = truth.len().max(1) as f32;
    let errors: Vec<f32> = pred
        .iter()
        .zip(&truth)
        .map(|(&p, &t)| p * std + mean - t)
        .collect();
    let rmse = (errors.iter().map(|e| e * e).sum::<f32>() / n).sqrt();
    let mae = errors.iter().map(|e| e.abs()).sum::<f32>() / n;
    // The baseline: always predict the training mean.
    let base = (truth.iter().map(|t| (t - mean).powi(2)).sum::<f32>() / n).sqrt();
    println!(
        "test ({} rows): RMSE {rmse:.2}, MAE {mae:.2} (predicting the training mean: RMSE {base:.2})",
        truth.len()
    );
    Ok(())
}
