//! A convolutional autoencoder on an MNIST-style data set, trained without labels: the
//! encoder (two stride-2 3x3 convolutions, 28 -> 14 -> 7, then a 3x3 convolution down to a
//! `--code` x 7 x 7 code) and the decoder (a 3x3 convolution back up, then two stride-2
//! transposed convolutions, 7 -> 14 -> 28, and a sigmoid) learn to reproduce the image;
//! MSE loss, Adam 1e-3, batch 64.
//!
//! Prints the reconstruction MSE per epoch (training and validation) and on the test set,
//! and with `--png FILE` writes test images (top row) over their reconstructions (bottom).
//!
//! `cargo run --release --example autoencoder -- --png recon.png` (see `--help`).

// `common::finish` reports classification accuracy, which an autoencoder has none of.
#[allow(dead_code)]
mod common;

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use clap::Parser;
use graft::data::TensorDataset;
use graft::nn::functional::{Conv2dOptions, ConvTranspose2dOptions};
use graft::nn::{ConvTranspose2d, Sigmoid};
use graft::prelude::*;
use graft::train::{evaluate, losses};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Train a convolutional autoencoder on Fashion-MNIST and show its reconstructions.
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    flags: common::TrainFlags,
    /// Channels of the 7 x 7 code (4 keeps a quarter of the 784 pixel values).
    #[arg(long, default_value_t = 4)]
    code: usize,
    /// Write a PNG of test images over their reconstructions to this file.
    #[arg(long)]
    png: Option<PathBuf>,
    /// Test images in the PNG.
    #[arg(long, default_value_t = 10)]
    show: usize,
}

/// Images as `[N, 1, H, W]`, each its own target.
fn as_autoencoder_data(d: &TensorDataset, h: usize, w: usize) -> TensorDataset {
    let images = d.inputs.reshape(&[d.inputs.shape()[0], 1, h, w]);
    TensorDataset {
        inputs: images.clone(),
        targets: Targets::Values(images),
    }
}

fn autoencoder(code: usize, rng: &mut StdRng) -> Sequential {
    let conv = |stride: usize| Conv2dOptions {
        stride: [stride, stride],
        padding: [1, 1],
        ..Default::default()
    };
    // Stride 2, padding 1, output_padding 1: exactly doubles the size, undoing conv(2).
    let up = ConvTranspose2dOptions {
        stride: [2, 2],
        padding: [1, 1],
        output_padding: [1, 1],
        ..Default::default()
    };
    Sequential::new()
        .add(Conv2d::with_options(1, 16, [3, 3], conv(2), true, rng))
        .add(Relu)
        .add(Conv2d::with_options(16, 32, [3, 3], conv(2), true, rng))
        .add(Relu)
        .add(Conv2d::with_options(32, code, [3, 3], conv(1), true, rng))
        .add(Conv2d::with_options(code, 32, [3, 3], conv(1), true, rng))
        .add(Relu)
        .add(ConvTranspose2d::with_options(32, 16, [3, 3], up, true, rng))
        .add(Relu)
        .add(ConvTranspose2d::with_options(16, 1, [3, 3], up, true, rng))
        .add(Sigmoid)
}

/// Writes `originals` (top row) over `reconstructions` (bottom row), `[n, 1, h, w]` each
/// with values in [0, 1], as an 8-bit grayscale PNG scaled up 2x with a 2-pixel gap.
fn write_grid(
    path: &Path,
    originals: &Tensor<f32>,
    reconstructions: &Tensor<f32>,
) -> Result<(), Box<dyn std::error::Error>> {
    const SCALE: usize = 2;
    const GAP: usize = 2;
    let s = originals.shape();
    let (n, h, w) = (s[0], s[2], s[3]);
    let (cell_h, cell_w) = (h * SCALE + GAP, w * SCALE + GAP);
    let (width, height) = (n * cell_w + GAP, 2 * cell_h + GAP);
    let mut pixels = vec![255u8; width * height];
    for (row, images) in [originals, reconstructions].into_iter().enumerate() {
        let values = images.to_vec();
        for i in 0..n {
            for y in 0..h * SCALE {
                for x in 0..w * SCALE {
                    let v = values[(i * h + y / SCALE) * w + x / SCALE].clamp(0.0, 1.0);
                    let (py, px) = (GAP + row * cell_h + y, GAP + i * cell_w + x);
                    pixels[py * width + px] = (v * 255.0).round() as u8;
                }
            }
        }
    }
    let mut encoder = png::Encoder::new(
        BufWriter::new(File::create(path)?),
        width as u32,
        height as u32,
    );
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(())
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
    if h % 4 != 0 || w % 4 != 0 {
        return Err(
            format!("the autoencoder halves the size twice: {h}x{w} must divide by 4").into(),
        );
    }
    let train = as_autoencoder_data(&sets.train, h, w);
    let test = as_autoencoder_data(&sets.test, h, w);
    let mut rng = StdRng::seed_from_u64(flags.seed);
    let model = autoencoder(cli.code.max(1), &mut rng);
    println!(
        "model: conv autoencoder, code {}x{}x{} = {} values per {}-pixel image, {} parameters",
        cli.code.max(1),
        h / 4,
        w / 4,
        cli.code.max(1) * h * w / 16,
        h * w,
        model.num_parameters()
    );
    let mut optimizer = Adam::new(
        model.parameters(),
        AdamConfig {
            lr: flags.lr,
            ..AdamConfig::default()
        },
    )?;
    let config = FitConfig::new()
        .batch_size(flags.batch_size.unwrap_or(64))
        .epochs(flags.epochs.unwrap_or(3))
        .validation_split(0.1)
        .metrics(Vec::new())
        .seed(flags.seed);
    let history = fit(&model, &mut optimizer, &losses::mse, &train, config)?;
    for e in &history.epochs {
        println!(
            "epoch {}: reconstruction MSE {:.5} (validation {:.5}), {:.1} s",
            e.epoch,
            e.loss,
            e.val_loss.unwrap_or(f64::NAN),
            e.seconds
        );
    }
    if let Some(path) = &flags.history {
        history.write_csv(path)?;
    }
    if let Some(path) = &flags.save {
        graft::nn::state::save_state_dict(&model, path)?;
    }
    let (test_mse, _) = evaluate(&model, &losses::mse, &test, 500, &mut [])?;
    println!("test reconstruction MSE: {test_mse:.5}");
    if let Some(path) = &cli.png {
        let n = cli.show.clamp(1, test.inputs.shape()[0]);
        let originals = test.inputs.narrow(0, 0, n).contiguous();
        model.eval();
        let recon = no_grad(|| model.forward(&Var::new(originals.clone()))).value();
        write_grid(path, &originals, &recon)?;
        println!(
            "wrote {} test images over their reconstructions to {}",
            n,
            path.display()
        );
    }
    Ok(())
}
