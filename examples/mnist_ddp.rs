//! The seed's model (784-128-10 MLP, Adam) trained data-parallel across processes.
//!
//! ```text
//! cargo build --release --features mpi --example mnist_ddp
//! mpirun -np 2 target/release/examples/mnist_ddp --threads 1
//! ```
//!
//! `--batch-size` is per rank: the global batch is that times the number of ranks. The
//! learning rate stays yours (the linear scaling rule: multiply it by the ranks when the
//! global batch grows with them). As root add `--allow-run-as-root`; with more ranks than
//! cores, `--oversubscribe`. Without the feature `mpi` it runs as one process.
//!
//! `--checkpoint FILE` saves model, optimizer, scheduler and epoch after every epoch
//! (rank 0); `--resume FILE` continues from such a file (it must be readable by every
//! rank, e.g. on a shared file system).

mod common;

use std::path::PathBuf;

use clap::Parser;
use graft::distributed::{world, Checkpoint, Communicator, DataParallel, DdpConfig};
use graft::optim::{EpochScheduler, ExponentialLr, LrScheduler, Schedule};
use graft::prelude::*;
use graft::train::{losses, Callback, Context, Control, EpochLogs, TrainError, Verbosity};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// The fraction of the training data `fit` holds out for validation (the seed's 0.1).
const VALIDATION_SPLIT: f64 = 0.1;

/// Train a 784-128-10 MLP data-parallel (run under mpirun).
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    flags: common::TrainFlags,
    /// Save a checkpoint (model, optimizer, scheduler, epoch) here after every epoch.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Resume from a checkpoint written by --checkpoint.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Multiply the learning rate by this after every epoch (1 = constant).
    #[arg(long, default_value_t = 1.0)]
    lr_decay: f64,
    /// Gradient bucket size in MiB (PyTorch's default 25).
    #[arg(long, default_value_t = 25.0)]
    bucket_mb: f64,
}

/// Steps the scheduler after each epoch and, on rank 0, writes the checkpoint.
struct EpochEnd {
    scheduler: EpochScheduler<ExponentialLr>,
    checkpoint: Option<PathBuf>,
    first_epoch: usize,
    root: bool,
}

impl Callback for EpochEnd {
    fn on_epoch_end(
        &mut self,
        ctx: &mut Context<'_>,
        logs: &EpochLogs,
    ) -> Result<Control, TrainError> {
        self.scheduler.step(ctx.optimizer.as_lr_control());
        if let (Some(path), true) = (&self.checkpoint, self.root) {
            let epoch = self.first_epoch + logs.epoch;
            Checkpoint::capture(ctx.model, &*ctx.optimizer, Some(&self.scheduler), epoch)
                .and_then(|c| c.save(path))
                .map_err(|e| TrainError::Config(e.to_string()))?;
        }
        Ok(Control::Continue)
    }
}

fn main() {
    let cli = Cli::parse();
    let comm = match world() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mnist_ddp: {e}");
            std::process::exit(2);
        }
    };
    // A rank that fails must take the job down with it, or the others would wait.
    if let Err(e) = run(&cli, &comm) {
        comm.abort(1, &format!("mnist_ddp: {e}"));
    }
}

fn run(cli: &Cli, comm: &Communicator) -> Result<(), Box<dyn std::error::Error>> {
    let flags = &cli.flags;
    let root = comm.is_root();
    let sets = if root {
        common::setup(flags)?
    } else {
        if let Some(n) = flags.threads {
            graft::set_num_threads(n)?;
        }
        graft::data::load_mnist(&graft::data::find_mnist_dir(flags.data.as_deref())?.0)?
    };
    let mut rng = StdRng::seed_from_u64(flags.seed);
    let model = Sequential::new()
        .add(Linear::new(784, 128, &mut rng))
        .add(Relu)
        .add(Linear::new(128, 10, &mut rng));
    let mut optimizer = Adam::new(model.parameters(), AdamConfig::default().lr(flags.lr))?;
    let mut scheduler = ExponentialLr::new(cli.lr_decay)?.attach(&mut optimizer);
    let mut first_epoch = 0;
    if let Some(path) = &cli.resume {
        let ckpt = Checkpoint::load(path)?;
        ckpt.restore(&model, &mut optimizer, Some(&mut scheduler))?;
        first_epoch = ckpt.epoch;
        if root {
            println!("resumed from {} after epoch {first_epoch}", path.display());
        }
    }
    let config = DdpConfig {
        bucket_bytes: (cli.bucket_mb * 1024.0 * 1024.0) as usize,
        ..DdpConfig::default()
    };
    let ddp = DataParallel::new(comm, &model, config)?;
    ddp.set_epoch(first_epoch);
    let per_rank = flags.batch_size.unwrap_or(32);
    let epochs = flags.epochs.unwrap_or(10).saturating_sub(first_epoch);
    if root {
        println!(
            "{} ranks x batch {per_rank} = global batch {}; {} bucket(s) per step",
            comm.size(),
            per_rank * comm.size(),
            ddp.num_buckets()
        );
    }
    let fit_config = FitConfig::new()
        .batch_size(per_rank)
        .epochs(epochs)
        .validation_split(VALIDATION_SPLIT)
        .seed(flags.seed)
        .verbosity(if root {
            Verbosity::Auto
        } else {
            Verbosity::Silent
        })
        .distributed(ddp.clone())
        .callback(EpochEnd {
            scheduler,
            checkpoint: cli.checkpoint.clone(),
            first_epoch,
            root,
        });
    let mut history = fit(
        &model,
        &mut optimizer,
        &losses::cross_entropy,
        &sets.train,
        fit_config,
    )?;
    for e in history.epochs.iter_mut() {
        e.epoch += first_epoch;
    }
    // The all-reduce's share of a step, averaged over ranks.
    let (comm_seconds, steps) = ddp.communication_seconds();
    let mut shares = [comm_seconds, steps as f64];
    comm.all_reduce_mean(&mut shares);
    let train_seconds: f64 = history.epochs.iter().map(|e| e.seconds).sum();
    if root {
        if shares[1] > 0.0 && train_seconds > 0.0 {
            println!(
                "all-reduce: {:.3} ms/step, {:.1}% of the training time ({})",
                1e3 * shares[0] / shares[1],
                100.0 * shares[0] / train_seconds,
                match (comm.size(), ddp.uses_shared_memory()) {
                    (1, _) => "one rank: packing and unpacking only",
                    (_, true) => "shared-memory window",
                    (_, false) => "MPI_Allreduce",
                }
            );
        }
        // Epoch time is the slowest rank's, so the speed line is the whole job's.
        common::finish(flags, &model, &history, &sets.test)?;
    }
    comm.barrier();
    Ok(())
}
