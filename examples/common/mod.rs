//! Flags and data loading shared by the MNIST examples.

use std::path::PathBuf;

use clap::Args;
use graft::data::{find_mnist_dir, load_mnist, MnistSets};

// Not every example that shares `common` takes the tuning flags (mnist_ddp does not).
#[allow(dead_code)]
pub mod tune_flags;

// mnist_ddp reports its errors per rank from its own `main`, so it does not use this one.
#[allow(dead_code)]
pub mod exit;

/// Flags every MNIST-style example takes.
#[derive(Args, Debug)]
pub struct TrainFlags {
    /// Directory with the IDX files (train-images-idx3-ubyte[.gz], ...). Default: $GRAFT_DATA,
    /// then data/fashion-mnist/, then /usr/share/datasets/fashion-mnist, then the bundled subset.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Passes over the training data.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Examples per optimizer step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Seed for initialisation and shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write the per-epoch history as CSV to this file.
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Save the trained weights (safetensors) to this file.
    #[arg(long)]
    pub save: Option<PathBuf>,
}

/// Sets the thread count, finds and loads the data, and says where it came from.
pub fn setup(flags: &TrainFlags) -> Result<MnistSets, Box<dyn std::error::Error>> {
    if let Some(n) = flags.threads {
        graft::set_num_threads(n)?;
    }
    let (dir, source) = find_mnist_dir(flags.data.as_deref())?;
    if let Some(note) = source.note() {
        println!("{note}");
    }
    let started = std::time::Instant::now();
    let sets = load_mnist(&dir)?;
    println!(
        "data: {} ({} training, {} test images, loaded in {:.2} s)",
        dir.display(),
        graft::data::Dataset::len(&sets.train),
        graft::data::Dataset::len(&sets.test),
        started.elapsed().as_secs_f64()
    );
    Ok(sets)
}

/// Peak resident memory of this process in MiB (Linux's VmHWM), if it can be read.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// What every MNIST example does after `fit`: print the speed, write the history and the
/// weights if asked, evaluate on the test set, and end with `test accuracy: NN.NN%`.
pub fn finish(
    flags: &TrainFlags,
    model: &graft::nn::Sequential,
    history: &graft::train::History,
    test: &graft::data::TensorDataset,
) -> Result<(), Box<dyn std::error::Error>> {
    use graft::train::{evaluate, losses, Accuracy, Metric};
    print_speed(history);
    if let Some(path) = &flags.history {
        history.write_csv(path)?;
    }
    if let Some(path) = &flags.save {
        graft::nn::state::save_state_dict(model, path)?;
    }
    let mut metrics: Vec<Box<dyn Metric>> = vec![Box::new(Accuracy::default())];
    let (test_loss, _) = evaluate(model, &losses::cross_entropy, test, 500, &mut metrics)?;
    println!("test loss: {test_loss:.4}");
    println!("test accuracy: {:.2}%", 100.0 * metrics[0].value());
    Ok(())
}

/// Prints the training speed summary: mean seconds per epoch and images per second, or
/// that no epoch ran (`--epochs 0`), rather than a speed computed from no time. Both come
/// from the History: fit's epoch times and the examples each epoch trained on.
fn print_speed(history: &graft::train::History) {
    let peak = peak_rss_mib().unwrap_or(f64::NAN);
    let epochs = history.epochs.len();
    let seconds: f64 = history.epochs.iter().map(|e| e.seconds).sum::<f64>();
    if epochs == 0 {
        println!("training: no epoch ran, peak RSS {peak:.0} MiB");
        return;
    }
    let per_epoch = seconds / epochs as f64;
    let speed = match history.samples_per_second() {
        Some(rate) => format!("{rate:.0} images/s"),
        None => "too fast to time".to_string(),
    };
    println!("training: {per_epoch:.3} s/epoch ({speed}), peak RSS {peak:.0} MiB");
}
