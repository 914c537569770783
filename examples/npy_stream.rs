//! Training from a memory-mapped `.npy` file: Fashion-MNIST written with graft's `.npy`
//! writer, then trained on either loaded into memory or memory-mapped, through the same
//! prefetching loader (so both see exactly the same batches), with wall-clock epoch times
//! and peak resident memory.
//!
//! ```text
//! cargo run --release --example npy_stream -- write --out /tmp/fm            # 188 MB
//! cargo run --release --example npy_stream -- train --dir /tmp/fm --source memory
//! cargo run --release --example npy_stream -- train --dir /tmp/fm --source mmap
//! # A file larger than a memory cap (3 copies: 564 MB), trained under a 256 MiB cap:
//! cargo run --release --example npy_stream -- write --out /tmp/fm3 --copies 3
//! cargo run --release --example npy_stream -- train --dir /tmp/fm3 --source mmap \
//!     --model linear --cap-mib 256
//! ```

#[path = "common/exit.rs"]
mod exit;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use graft::data::npy::{encode_header, DType, NpyArray, NpyDataset, NpyMmap};
use graft::data::{
    find_mnist_dir, load_mnist, BatchLoader, DataError, Dataset, InMemory, SampleSource, Target,
    Targets, TensorDataset,
};
use graft::prelude::*;
use graft::train::losses;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Write Fashion-MNIST as .npy, or train from such files.
#[derive(Parser, Debug)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write the training set as train_x.npy (f32 [N, 1, 28, 28], in [0, 1]) and
    /// train_y.npy (i64 [N]).
    Write {
        /// Directory with the IDX files (default: the usual search order).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Write the training set this many times over (a file larger than memory).
        #[arg(long, default_value_t = 1)]
        copies: usize,
    },
    /// Train from the files `write` made.
    Train {
        /// Directory holding train_x.npy and train_y.npy.
        #[arg(long)]
        dir: PathBuf,
        /// Load the inputs into memory, or memory-map them.
        #[arg(long, value_enum)]
        source: Source,
        /// The model.
        #[arg(long, value_enum, default_value_t = Model::Cnn)]
        model: Model,
        /// Passes over the data.
        #[arg(long, default_value_t = 1)]
        epochs: usize,
        /// Train on the first N examples only.
        #[arg(long)]
        limit: Option<usize>,
        /// Background threads assembling batches.
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Examples per step.
        #[arg(long, default_value_t = 64)]
        batch_size: usize,
        /// With `--source mmap`: keep the mapping's resident pages under a quarter of this
        /// many MiB, and report whether the peak RSS stayed under it.
        #[arg(long)]
        cap_mib: Option<usize>,
        /// Seed of initialisation and shuffling.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Source {
    Memory,
    Mmap,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Model {
    /// mnist_cnn's two-layer CNN.
    Cnn,
    /// One linear layer (fast: the data path dominates).
    Linear,
}

/// A field of /proc/self/status in MiB (Linux).
fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(field))?.to_string();
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Peak resident memory of this process in MiB (VmHWM).
fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// Streams the training set, `copies` times over, into two .npy files without holding
/// more than one copy in memory.
fn write(data: Option<&Path>, out: &Path, copies: usize) -> Result<(), Box<dyn std::error::Error>> {
    let (dir, _) = find_mnist_dir(data)?;
    let sets = load_mnist(&dir)?;
    let x = sets.train.inputs.to_vec();
    let n = sets.train.len();
    let (h, w) = sets.image_size;
    std::fs::create_dir_all(out)?;
    let mut f = BufWriter::new(File::create(out.join("train_x.npy"))?);
    f.write_all(&encode_header(DType::F32, &[n * copies, 1, h, w]))?;
    for _ in 0..copies {
        for v in &x {
            f.write_all(&v.to_le_bytes())?;
        }
    }
    f.flush()?;
    let labels = match &sets.train.targets {
        Targets::Classes(c) => c.to_vec(),
        Targets::Values(_) => unreachable!("MNIST labels are classes"),
    };
    let all: Vec<i64> = (0..copies).flat_map(|_| labels.iter().copied()).collect();
    NpyArray::from_i64(&Tensor::from_vec(all, &[n * copies])).write(&out.join("train_y.npy"))?;
    println!(
        "wrote {} examples of {h}x{w} to {}",
        n * copies,
        out.display()
    );
    Ok(())
}

/// The first `n` examples of a source.
struct First<S>(S, usize);

impl<S: SampleSource> SampleSource for First<S> {
    fn len(&self) -> usize {
        self.1.min(self.0.len())
    }
    fn sample_shape(&self) -> &[usize] {
        self.0.sample_shape()
    }
    fn read_input(&self, i: usize, out: &mut [f32]) -> Result<(), DataError> {
        self.0.read_input(i, out)
    }
    fn target(&self, i: usize) -> Result<Target, DataError> {
        self.0.target(i)
    }
}

fn model(kind: Model, rng: &mut StdRng) -> Sequential {
    match kind {
        Model::Linear => Sequential::new()
            .add(Flatten::new())
            .add(Linear::new(784, 10, rng)),
        Model::Cnn => Sequential::new()
            .add(Conv2d::new(1, 32, 3, rng))
            .add(Relu)
            .add(MaxPool2d::new(2))
            .add(Conv2d::new(32, 64, 3, rng))
            .add(Relu)
            .add(MaxPool2d::new(2))
            .add(Flatten::new())
            .add(Linear::new(64 * 5 * 5, 128, rng))
            .add(Relu)
            .add(Linear::new(128, 10, rng)),
    }
}

/// Trains and prints per-epoch wall-clock time (data loading included), mean loss, and
/// the peak RSS.
fn train<S: SampleSource + 'static>(
    source: S,
    kind: Model,
    epochs: usize,
    (batch_size, workers): (usize, usize),
    seed: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let n = source.len();
    let loader = BatchLoader::new(Arc::new(source), batch_size)
        .shuffled(seed)
        .workers(workers, 2);
    let mut rng = StdRng::seed_from_u64(seed);
    let net = model(kind, &mut rng);
    let mut opt = Adam::new(net.parameters(), AdamConfig::default())?;
    for epoch in 0..epochs {
        let started = Instant::now();
        let (mut sum, mut seen) = (0.0f64, 0usize);
        for batch in loader.epoch(epoch) {
            let batch = batch?;
            let b = batch.len();
            let out = net.forward_input(&batch.inputs)?;
            let loss = losses::cross_entropy(&out, &batch.targets)?;
            sum += loss.item() as f64 * b as f64;
            seen += b;
            opt.zero_grad();
            loss.backward()?;
            drop(out);
            opt.step()?;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "epoch {}: {secs:.2} s ({:.0} images/s), mean loss {:.6}, peak RSS {:.0} MiB (now: {:.0} MiB anonymous, {:.0} MiB file pages)",
            epoch + 1,
            n as f64 / secs,
            sum / seen.max(1) as f64,
            peak_rss_mib(),
            status_mib("RssAnon:"),
            status_mib("RssFile:")
        );
    }
    Ok(())
}

fn main() {
    exit::report(run());
}

/// The example; errors end it through `report`, printed with their message.
fn run() -> Result<(), Box<dyn std::error::Error>> {
    match Cli::parse().command {
        Command::Write { data, out, copies } => write(data.as_deref(), &out, copies.max(1)),
        Command::Train {
            dir,
            source,
            model,
            epochs,
            limit,
            workers,
            batch_size,
            cap_mib,
            seed,
        } => {
            let (x, y) = (dir.join("train_x.npy"), dir.join("train_y.npy"));
            let limit = limit.unwrap_or(usize::MAX);
            let make = (batch_size, workers);
            let started = Instant::now();
            // Run in the thread pool, as fit does, so kernels hand work over cheaply.
            let result = rayon::join(
                || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
                    let run = || -> Result<(), Box<dyn std::error::Error>> {
                        match source {
                            Source::Memory => {
                                let inputs = NpyArray::read(&x)?.to_f32();
                                let labels = NpyArray::read(&y)?.to_i64();
                                let data = TensorDataset::new(inputs, Targets::Classes(labels))?;
                                let memory = InMemory::new(&data);
                                drop(data);
                                println!(
                                    "loaded into memory in {:.2} s",
                                    started.elapsed().as_secs_f64()
                                );
                                train(First(memory, limit), model, epochs, make, seed)
                            }
                            Source::Mmap => {
                                let mut inputs = NpyMmap::open(&x)?;
                                if let Some(cap) = cap_mib {
                                    inputs = inputs.resident_limit(cap * (1 << 20) / 4);
                                }
                                let size = inputs.rows() * inputs.row_len() * 4;
                                let labels = NpyArray::read(&y)?.to_i64();
                                let data = NpyDataset::new(inputs, Targets::Classes(labels))?;
                                println!(
                                    "mapped {} ({:.0} MiB, {} examples)",
                                    x.display(),
                                    size as f64 / (1 << 20) as f64,
                                    Dataset::len(&data)
                                );
                                train(First(data, limit), model, epochs, make, seed)
                            }
                        }
                    };
                    run().map_err(|e| e.to_string().into())
                },
                || (),
            )
            .0;
            result.map_err(|e| -> Box<dyn std::error::Error> { e.to_string().into() })?;
            if let Some(cap) = cap_mib {
                let peak = peak_rss_mib();
                let verdict = if peak < cap as f64 { "under" } else { "OVER" };
                println!("peak RSS {peak:.0} MiB: {verdict} the {cap} MiB cap");
                if peak >= cap as f64 {
                    std::process::exit(1);
                }
            }
            Ok(())
        }
    }
}
