//! `fit` with a data-parallel setup. Always: a one-rank setup changes nothing. With the
//! feature `mpi`: 2 ranks x batch 16 through `fit` equal 1 process x batch 32 on the same
//! samples, and both ranks log the identical History (this test runs itself under
//! `mpirun -np 2`, as the ignored worker test below).

use graft::data::{Targets, TensorDataset};
use graft::distributed::{Communicator, DataParallel, DdpConfig};
use graft::prelude::*;
use graft::train::{losses, FitConfig, Verbosity};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// 320 seeded examples of 6 features and 3 classes.
fn toy(seed: u64) -> TensorDataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = 320;
    let xs: Vec<f32> = (0..n * 6).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let ys: Vec<i64> = (0..n).map(|i| (i % 3) as i64).collect();
    TensorDataset::new(
        Tensor::from_vec(xs, &[n, 6]),
        Targets::Classes(Tensor::from_vec(ys, &[n])),
    )
    .unwrap()
}

fn model(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(Linear::new(6, 16, &mut rng))
        .add(Relu)
        .add(Linear::new(16, 3, &mut rng))
}

/// Trains 2 epochs (validation_split 0.1 -> 288 training examples, 9 global batches of
/// 32) with `ddp` if given; returns the History and the final parameters.
fn train(
    m: &Sequential,
    batch: usize,
    shuffle: bool,
    ddp: Option<DataParallel>,
) -> (graft::train::History, Vec<Vec<f32>>) {
    let mut opt = Adam::new(m.parameters(), AdamConfig::default().lr(1e-2)).unwrap();
    let mut config = FitConfig::new()
        .batch_size(batch)
        .epochs(2)
        .validation_split(0.1)
        .shuffle(shuffle)
        .seed(4)
        .verbosity(Verbosity::Silent);
    if let Some(d) = ddp {
        config = config.distributed(d);
    }
    let h = fit(m, &mut opt, &losses::cross_entropy, &toy(1), config).unwrap();
    (
        h,
        m.parameters().iter().map(|p| p.value().to_vec()).collect(),
    )
}

#[test]
fn a_one_rank_setup_changes_nothing() {
    let (a, b) = (model(7), model(7));
    let ddp = DataParallel::new(&Communicator::single(), &a, DdpConfig::default()).unwrap();
    let (ha, pa) = train(&a, 32, false, Some(ddp));
    let (hb, pb) = train(&b, 32, false, None);
    assert_eq!(pa, pb);
    for (x, y) in ha.epochs.iter().zip(&hb.epochs) {
        assert_eq!(
            (x.loss, &x.metrics, x.val_loss, &x.val_metrics),
            (y.loss, &y.metrics, y.val_loss, &y.val_metrics)
        );
    }
}

#[cfg(feature = "mpi")]
#[test]
fn two_ranks_through_fit_equal_one_process() {
    use std::process::Command;
    let dir = std::env::temp_dir().join(format!("graft_ddp_fit_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new("mpirun")
        .args(["--oversubscribe", "-np", "2"])
        .arg(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", &worker_name(), "--test-threads=1"])
        .env("GRAFT_DDP_FIT_DIR", &dir)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "could not run mpirun ({e}): install the Debian packages libopenmpi-dev \
                 openmpi-bin libclang-dev"
            )
        });
    let (so, se) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "mpirun failed\n{so}\n{se}");
    let csv = |r: usize| std::fs::read_to_string(dir.join(format!("rank{r}.csv"))).unwrap();
    let (h0, h1) = (csv(0), csv(1));
    assert_eq!(h0, h1, "the ranks logged different Histories");
    assert_eq!(h0.lines().count(), 3);
    std::fs::remove_dir_all(&dir).ok();
}

/// Run by `two_ranks_through_fit_equal_one_process` under mpirun, on every rank.
#[cfg(feature = "mpi")]
#[test]
#[ignore = "a worker: run under mpirun by two_ranks_through_fit_equal_one_process"]
fn ddp_fit_worker() {
    let dir = std::path::PathBuf::from(std::env::var("GRAFT_DDP_FIT_DIR").unwrap());
    let comm = graft::distributed::world().unwrap();
    assert_eq!(comm.size(), 2, "run under mpirun -np 2");
    // Each rank starts from its own initialization; DataParallel makes them rank 0's.
    let m = model(100 + comm.rank() as u64);
    let ddp = DataParallel::new(&comm, &m, DdpConfig::default()).unwrap();
    let (h, p) = train(&m, 16, true, Some(ddp));
    h.write_csv(dir.join(format!("rank{}.csv", comm.rank())))
        .unwrap();
    // One process, batch 32: the sampler's one-rank order holds, step by step, the same
    // 32 examples the two ranks' batches of 16 share between them.
    let r = model(100);
    let single = DataParallel::new(&Communicator::single(), &r, DdpConfig::default()).unwrap();
    let (hr, pr) = train(&r, 32, true, Some(single));
    for (a, b) in p.iter().flatten().zip(pr.iter().flatten()) {
        assert!(
            (a - b).abs() <= 1e-5 * b.abs().max(1e-2),
            "parameters: {a} vs {b}"
        );
    }
    for (x, y) in h.epochs.iter().zip(&hr.epochs) {
        let close = |u: f64, v: f64| (u - v).abs() <= 1e-5 * v.abs().max(1e-3);
        assert!(close(x.loss, y.loss), "loss {} vs {}", x.loss, y.loss);
        assert!(close(x.val_loss.unwrap(), y.val_loss.unwrap()));
        assert!(close(x.metrics[0].1, y.metrics[0].1));
        assert!(close(x.val_metrics[0].1, y.val_metrics[0].1));
    }
    comm.barrier();
}

/// The worker test's full name in this binary: its module path without the crate's name.
#[cfg(feature = "mpi")]
fn worker_name() -> String {
    match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::ddp_fit_worker"),
        None => "ddp_fit_worker".to_string(),
    }
}
