//! What gradient checkpointing buys and costs: peak resident memory and time of one
//! training step (forward, MSE loss, backward, SGD update) of an MLP, without and with
//! `Sequential::checkpointed`.
//!
//! Each configuration runs in its own child process, because peak RSS only grows within a
//! process (and graft's buffer pool keeps freed memory for reuse).
//!
//! `cargo run --release --example checkpoint_memory` (defaults: 16 layers of width 1024,
//! batch 256, f32, checkpointing every 4 layers).

use std::process::Command;
use std::time::Instant;

use clap::Parser;
use graft::autograd::Var;
use graft::nn::{Linear, Module, Relu, Sequential};
use graft::optim::rules::SgdConfig;
use graft::optim::{Optimizer, Sgd};
use graft::tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Peak RSS and step time of an MLP training step, with and without checkpointing.
#[derive(Parser, Debug)]
struct Cli {
    /// Linear layers (each followed by a ReLU).
    #[arg(long, default_value_t = 16)]
    layers: usize,
    /// Width of every layer.
    #[arg(long, default_value_t = 1024)]
    width: usize,
    /// Batch size.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Checkpoint every this many Linear+ReLU layers.
    #[arg(long, default_value_t = 4)]
    every: usize,
    /// Timed steps (after one warm-up step).
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// Internal: run one configuration with this many segments (0: no checkpointing) and
    /// print its measurements.
    #[arg(long)]
    child: Option<usize>,
}

/// A field of /proc/self/status in kB (VmRSS, VmHWM).
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Runs one configuration in this process and prints `baseline_kb peak_kb fastest_ms loss`.
/// The fastest step, not the median, is the one least disturbed by other load.
fn measure(cli: &Cli, segments: usize) {
    let mut rng = StdRng::seed_from_u64(0);
    let mut model: Sequential = Sequential::new();
    for _ in 0..cli.layers {
        model = model
            .add(Linear::new(cli.width, cli.width, &mut rng))
            .add(Relu);
    }
    let model = model.checkpointed(segments);
    let x = Var::new(Tensor::<f32>::uniform(
        &[cli.batch, cli.width],
        -1.0,
        1.0,
        &mut rng,
    ));
    let y = Var::new(Tensor::<f32>::uniform(
        &[cli.batch, cli.width],
        -1.0,
        1.0,
        &mut rng,
    ));
    let config = SgdConfig {
        lr: 1e-3,
        ..Default::default()
    };
    let mut opt = Sgd::new(model.parameters(), config).expect("optimizer");
    let baseline = status_kb("VmRSS:");
    let mut times = Vec::new();
    let mut last_loss = 0.0;
    for step in 0..=cli.steps {
        let start = Instant::now();
        opt.zero_grad();
        let loss = (&model.forward(&x) - &y).square().mean();
        loss.backward().expect("backward");
        opt.step().expect("SGD step");
        last_loss = loss.item();
        if step > 0 {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    let fastest = times.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "{baseline} {} {fastest:.1} {last_loss:.6}",
        status_kb("VmHWM:")
    );
}

fn main() {
    let cli = Cli::parse();
    if let Some(segments) = cli.child {
        measure(&cli, segments);
        return;
    }
    let segments = cli.layers.div_ceil(cli.every.max(1));
    let exe = std::env::current_exe().expect("path of this program");
    let run = |segments: usize| -> Vec<f64> {
        let out = Command::new(&exe)
            .args(["--layers", &cli.layers.to_string()])
            .args(["--width", &cli.width.to_string()])
            .args(["--batch", &cli.batch.to_string()])
            .args(["--steps", &cli.steps.to_string()])
            .args(["--child", &segments.to_string()])
            .output()
            .expect("run the measurement");
        let text = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<f64> = text
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        assert!(
            fields.len() == 4,
            "child failed: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fields
    };
    println!(
        "MLP: {} x (Linear({w}, {w}) + ReLU), batch {}, f32; one training step = forward, MSE, backward, SGD",
        cli.layers,
        cli.batch,
        w = cli.width
    );
    let plain = run(0);
    let checkpointed = run(segments);
    let mib = |kb: f64| kb / 1024.0;
    println!(
        "{:<32} {:>14} {:>14} {:>14} {:>12}",
        "", "RSS before", "peak RSS", "step adds", "fastest step"
    );
    for (name, r) in [
        ("no checkpointing".to_string(), &plain),
        (
            format!("checkpoint every {} layers", cli.every),
            &checkpointed,
        ),
    ] {
        println!(
            "{name:<32} {:>10.1} MiB {:>10.1} MiB {:>10.1} MiB {:>9.1} ms",
            mib(r[0]),
            mib(r[1]),
            mib(r[1] - r[0]),
            r[2]
        );
    }
    println!(
        "peak memory of a step: {:.0}% of the plain step's; time: {:.2}x",
        100.0 * (checkpointed[1] - checkpointed[0]) / (plain[1] - plain[0]),
        checkpointed[2] / plain[2]
    );
    // Same model, same data, same update: the losses agree.
    assert!(
        (plain[3] - checkpointed[3]).abs() <= 1e-5 * plain[3].abs().max(1.0),
        "checkpointing changed the loss: {} vs {}",
        plain[3],
        checkpointed[3]
    );
}
