//! The single-process form of graft-distributed (what runs without MPI): collectives are
//! the identity, the sampler cuts shards as PyTorch's does for any number of ranks,
//! DataParallel's buckets cover every parameter once, and checkpoints round-trip.

use graft_autograd::Var;
use graft_distributed::{
    Checkpoint, Communicator, DataParallel, DdpConfig, DistributedSampler, DEFAULT_BUCKET_BYTES,
};
use graft_nn::{loss::cross_entropy, Linear, Module, Relu, Sequential};
use graft_optim::rules::AdamConfig;
use graft_optim::{Adam, LrScheduler, Optimizer, Schedule, StepLr};
use graft_tensor::Tensor;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

#[test]
fn single_communicator_collectives_are_the_identity() {
    let comm = Communicator::single();
    assert_eq!((comm.rank(), comm.size(), comm.is_root()), (0, 1, true));
    let mut a = vec![1.5f32, -2.0, 3.0];
    comm.all_reduce_sum(&mut a);
    assert_eq!(a, vec![1.5, -2.0, 3.0]);
    comm.all_reduce_mean(&mut a);
    assert_eq!(a, vec![1.5, -2.0, 3.0]);
    let mut b = vec![0.25f64];
    comm.all_reduce_sum(&mut b);
    assert_eq!(b, vec![0.25]);
    assert_eq!(comm.all_gather(&[1.0f64, 2.0]).unwrap(), vec![1.0, 2.0]);
    let t = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 2]);
    let got = comm.broadcast(&t);
    assert_eq!((got.shape(), got.to_vec()), (t.shape(), t.to_vec()));
    comm.barrier();
}

#[cfg(not(feature = "mpi"))]
#[test]
fn world_without_mpi_is_rank_0_of_1() {
    let w = graft_distributed::world().unwrap();
    assert_eq!((w.rank(), w.size()), (0, 1));
    assert!(graft_distributed::is_root_process());
}

#[test]
fn sampler_matches_pytorchs_padding_and_drop_last() {
    // torch.utils.data.DistributedSampler(range(10), num_replicas=3, shuffle=False).
    let shards: Vec<Vec<usize>> = (0..3)
        .map(|r| {
            DistributedSampler::new(10, 3, r)
                .unwrap()
                .shuffle(false)
                .indices()
        })
        .collect();
    assert_eq!(
        shards,
        vec![vec![0, 3, 6, 9], vec![1, 4, 7, 0], vec![2, 5, 8, 1]]
    );
    // The same with drop_last=True: 3 per rank, the tail cut.
    let shards: Vec<Vec<usize>> = (0..3)
        .map(|r| {
            DistributedSampler::new(10, 3, r)
                .unwrap()
                .shuffle(false)
                .drop_last(true)
                .indices()
        })
        .collect();
    assert_eq!(shards, vec![vec![0, 3, 6], vec![1, 4, 7], vec![2, 5, 8]]);
    assert!(DistributedSampler::new(10, 3, 3).is_err());
    assert!(DistributedSampler::new(10, 0, 0).is_err());
}

fn shards(len: usize, replicas: usize, seed: u64, epoch: usize, drop: bool) -> Vec<Vec<usize>> {
    (0..replicas)
        .map(|r| {
            let mut s = DistributedSampler::new(len, replicas, r)
                .unwrap()
                .seed(seed)
                .drop_last(drop);
            s.set_epoch(epoch);
            s.indices()
        })
        .collect()
}

proptest! {
    #[test]
    fn sampler_shards_are_equal_disjoint_and_cover_the_epoch(
        len in 1usize..300, replicas in 1usize..9, seed in 0u64..1000, epoch in 0usize..5,
    ) {
        let all = shards(len, replicas, seed, epoch, false);
        let per = len.div_ceil(replicas);
        prop_assert!(all.iter().all(|s| s.len() == per));
        let mut count = vec![0usize; len];
        all.iter().flatten().for_each(|&i| count[i] += 1);
        // Every example is seen; beyond once, only the padding repeats.
        prop_assert!(count.iter().all(|&c| c >= 1));
        let extra: usize = count.iter().map(|c| c - 1).sum();
        prop_assert_eq!(extra, per * replicas - len);
        // Same seed and epoch, same shards.
        prop_assert_eq!(&all, &shards(len, replicas, seed, epoch, false));
        // drop_last: disjoint, whole rounds only.
        let dropped = shards(len, replicas, seed, epoch, true);
        let mut count = vec![0usize; len];
        dropped.iter().flatten().for_each(|&i| count[i] += 1);
        prop_assert!(count.iter().all(|&c| c <= 1));
        let want = if len.is_multiple_of(replicas) { len / replicas } else { (len.saturating_sub(replicas)).div_ceil(replicas) };
        prop_assert!(dropped.iter().all(|s| s.len() == want));
    }

    #[test]
    fn sampler_epochs_differ(len in 20usize..300, replicas in 1usize..5, seed in 0u64..1000) {
        prop_assert_ne!(shards(len, replicas, seed, 0, false), shards(len, replicas, seed, 1, false));
    }
}

fn mlp(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(Linear::new(4, 8, &mut rng))
        .add(Relu)
        .add(Linear::new(8, 3, &mut rng))
}

fn train_step(model: &Sequential, opt: &mut dyn Optimizer<f32>, ddp: Option<&DataParallel>) {
    let x = Var::new(Tensor::from_vec(
        (0..24).map(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0).collect(),
        &[6, 4],
    ));
    let y = Tensor::from_vec(vec![0i64, 1, 2, 2, 1, 0], &[6]);
    opt.zero_grad();
    cross_entropy(&model.forward(&x), &y).backward().unwrap();
    if let Some(d) = ddp {
        d.average_gradients();
    }
    opt.step().unwrap();
}

#[test]
fn buckets_hold_each_parameter_once_in_reverse_order() {
    let model = mlp(0);
    let comm = Communicator::single();
    let ddp = DataParallel::<f32>::new(&comm, &model, DdpConfig::default()).unwrap();
    assert_eq!(ddp.bucket_layout(), vec![vec![3, 2, 1, 0]]);
    assert_eq!(ddp.config().bucket_bytes, DEFAULT_BUCKET_BYTES);
    // 40 bytes: the 8x4 and 3x8 weights (128 and 96 bytes) each get their own bucket.
    let small = DdpConfig {
        bucket_bytes: 40,
        ..DdpConfig::default()
    };
    let ddp = DataParallel::<f32>::new(&comm, &model, small).unwrap();
    assert_eq!(
        ddp.bucket_layout(),
        vec![vec![3], vec![2], vec![1], vec![0]]
    );
}

#[test]
fn one_rank_data_parallel_trains_exactly_like_no_data_parallel() {
    let (a, b) = (mlp(3), mlp(3));
    let comm = Communicator::single();
    let small = DdpConfig {
        bucket_bytes: 64,
        ..DdpConfig::default()
    };
    let ddp = DataParallel::new(&comm, &a, small).unwrap();
    let mut oa = Adam::new(a.parameters(), AdamConfig::default().lr(0.01)).unwrap();
    let mut ob = Adam::new(b.parameters(), AdamConfig::default().lr(0.01)).unwrap();
    for _ in 0..5 {
        train_step(&a, &mut oa, Some(&ddp));
        train_step(&b, &mut ob, None);
    }
    for (p, q) in a.parameters().iter().zip(b.parameters()) {
        assert_eq!(p.value().to_vec(), q.value().to_vec());
    }
    assert_eq!(ddp.communication_seconds().1, 5);
    // A parameter without a gradient keeps none (the optimizer then skips it).
    a.zero_grad();
    ddp.average_gradients();
    assert!(a.parameters().iter().all(|p| p.grad().is_none()));
}

#[test]
fn checkpoint_round_trips_and_resumes_exactly() {
    let model = mlp(1);
    let mut opt = Adam::new(model.parameters(), AdamConfig::default().lr(0.05)).unwrap();
    let mut sched = StepLr::new(1, 0.5).unwrap().attach(&mut opt);
    for _ in 0..3 {
        train_step(&model, &mut opt, None);
        sched.step(&mut opt);
    }
    let ckpt = Checkpoint::capture(&model, &opt, Some(&sched), 3).unwrap();
    let bytes = ckpt.to_bytes();
    assert_eq!(Checkpoint::from_bytes(&bytes).unwrap(), ckpt);
    let dir = std::env::temp_dir().join(format!("graft_ckpt_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.ckpt");
    ckpt.save(&path).unwrap();
    let loaded = Checkpoint::load(&path).unwrap();
    assert_eq!(loaded.epoch, 3);

    // A fresh model, optimizer and scheduler, restored, take the same next step.
    let fresh = mlp(99);
    let mut fopt = Adam::new(fresh.parameters(), AdamConfig::default().lr(0.05)).unwrap();
    let mut fsched = StepLr::new(1, 0.5).unwrap().attach(&mut fopt);
    loaded
        .restore(&fresh, &mut fopt, Some(&mut fsched))
        .unwrap();
    assert_eq!(fopt.lr(), opt.lr());
    train_step(&model, &mut opt, None);
    sched.step(&mut opt);
    train_step(&fresh, &mut fopt, None);
    fsched.step(&mut fopt);
    for (p, q) in model.parameters().iter().zip(fresh.parameters()) {
        assert_eq!(p.value().to_vec(), q.value().to_vec());
    }
    assert_eq!(fopt.lr(), opt.lr());
    // Missing scheduler is an error, not a silent partial restore.
    assert!(loaded.restore(&fresh, &mut fopt, None).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn corrupt_checkpoints_are_errors_not_panics() {
    let model = mlp(2);
    let opt = Adam::new(model.parameters(), AdamConfig::default()).unwrap();
    let bytes = Checkpoint::capture(&model, &opt, None, 1)
        .unwrap()
        .to_bytes();
    for cut in (0..bytes.len()).step_by(7) {
        assert!(
            Checkpoint::from_bytes(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut bad = bytes.clone();
    bad[0] = b'X';
    let err = Checkpoint::from_bytes(&bad).unwrap_err().to_string();
    assert!(err.contains("magic"), "{err}");
    let mut long = bytes;
    long.push(0);
    assert!(Checkpoint::from_bytes(&long).is_err());
    let missing = Checkpoint::load("/nonexistent/graft.ckpt")
        .unwrap_err()
        .to_string();
    assert!(missing.contains("/nonexistent/graft.ckpt"), "{missing}");
}
