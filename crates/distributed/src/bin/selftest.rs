//! The worker the MPI test suite (`tests/mpi_suite.rs`) runs under `mpirun -np 2`.
//!
//! `graft-ddp-selftest MODE [ARGS]`; every rank runs the same mode. A failed check aborts
//! the whole job (non-zero exit, message on stderr); success prints `PASS MODE` on rank 0.
//! Modes: `collectives`, `equivalence sgd|adam BUCKET_BYTES [shared|chunked|allreduce]`,
//! `sampler`, `mismatch` (ranks with different `DdpConfig`s), `fault
//! error|exit|hang|return CHECKPOINT`, `bench ELEMENTS` (all-reduce and `average_gradients`
//! timing, not a test).

use std::time::Duration;

use graft_autograd::Var;
use graft_distributed::{
    world, Checkpoint, Communicator, DataParallel, DdpConfig, DistributedSampler,
};
use graft_nn::{loss::cross_entropy, BatchNorm1d, Linear, Module, Relu, Sequential};
use graft_optim::rules::{AdamConfig, SgdConfig};
use graft_optim::{Adam, Optimizer, Sgd};
use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn main() {
    let comm = match world() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("graft-ddp-selftest: {e}");
            std::process::exit(2);
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("");
    let result = match mode {
        "collectives" => collectives(&comm),
        "equivalence" => equivalence(&comm, &args[1..]),
        "sampler" => sampler(&comm),
        "mismatch" => mismatch(&comm),
        "fault" => fault(&comm, &args[1..]),
        "bench" => bench(&comm, &args[1..]),
        other => Err(format!("unknown mode `{other}`")),
    };
    match result {
        Ok(()) => {
            comm.barrier();
            if comm.is_root() {
                println!("PASS {mode}");
            }
        }
        Err(e) if mode == "fault" && args.get(1).is_some_and(|how| how == "return") => {
            // A program that returns its error from main: MPI is finalized on the way out.
            eprintln!("FAIL {mode}: {e}");
            drop(comm);
            std::process::exit(1);
        }
        Err(e) => comm.abort(1, &format!("FAIL {mode}: {e}")),
    }
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

/// Values every rank can predict: small integers, so sums are exact in f32 and f64.
fn pattern(i: usize, rank: usize) -> f64 {
    ((i % 97) as f64 - 40.0) * (rank + 1) as f64
}

fn collectives(comm: &Communicator) -> Result<(), String> {
    let (rank, size) = (comm.rank(), comm.size());
    let rank_sum: f64 = (0..size).map(|r| (r + 1) as f64).sum();
    // One element, and 25 MiB + one element (just past a default bucket), in f32 and f64.
    for n in [1usize, 25 * 1024 * 1024 / 4 + 1] {
        let mut a: Vec<f32> = (0..n).map(|i| pattern(i, rank) as f32).collect();
        comm.all_reduce_sum(&mut a);
        for (i, v) in a.iter().enumerate() {
            let want = pattern(i, 0) * rank_sum;
            check(*v as f64 == want, || {
                format!("f32 sum of {n}: [{i}] = {v}, want {want}")
            })?;
        }
        let mut m: Vec<f32> = (0..n).map(|i| pattern(i, rank) as f32).collect();
        comm.all_reduce_mean(&mut m);
        for (i, v) in m.iter().enumerate() {
            let want = pattern(i, 0) * rank_sum / size as f64;
            check(
                (*v as f64 - want).abs() <= 1e-6 * want.abs().max(1.0),
                || format!("f32 mean of {n}: [{i}] = {v}, want {want}"),
            )?;
        }
    }
    for n in [1usize, 25 * 1024 * 1024 / 8 + 1] {
        let mut a: Vec<f64> = (0..n).map(|i| pattern(i, rank)).collect();
        comm.all_reduce_sum(&mut a);
        for (i, v) in a.iter().enumerate() {
            let want = pattern(i, 0) * rank_sum;
            check(*v == want, || {
                format!("f64 sum of {n}: [{i}] = {v}, want {want}")
            })?;
        }
        let mut m: Vec<f64> = (0..n).map(|i| pattern(i, rank)).collect();
        comm.all_reduce_mean(&mut m);
        for (i, v) in m.iter().enumerate() {
            let want = pattern(i, 0) * rank_sum / size as f64;
            check((v - want).abs() <= 1e-12 * want.abs().max(1.0), || {
                format!("f64 mean of {n}: [{i}] = {v}, want {want}")
            })?;
        }
        // all_gather: rank order, every rank's block.
        let local: Vec<f64> = (0..n.min(1000)).map(|i| pattern(i, rank)).collect();
        let all = comm.all_gather(&local).map_err(|e| e.to_string())?;
        check(all.len() == local.len() * size, || {
            "all_gather length".into()
        })?;
        for r in 0..size {
            for (i, v) in all[r * local.len()..(r + 1) * local.len()]
                .iter()
                .enumerate()
            {
                check(*v == pattern(i, r), || {
                    format!("all_gather block {r} [{i}] = {v}")
                })?;
            }
        }
    }
    // all_gather with unequal lengths is an error on every rank, not a hang.
    let uneven = vec![1.0f32; rank + 1];
    check(comm.all_gather(&uneven).is_err() || size == 1, || {
        "all_gather accepted unequal lengths".into()
    })?;
    // Broadcast: rank 0's tensor, with its shape, whatever the others hold.
    let mine = if comm.is_root() {
        Tensor::from_vec(vec![1.5f64, -2.0, 3.25, 7.0, 0.0, 1.0], &[2, 3])
    } else {
        Tensor::from_vec(vec![9.0f64; rank], &[rank])
    };
    let got = comm.broadcast(&mine);
    check(got.shape() == [2, 3], || {
        format!("broadcast shape {:?}", got.shape())
    })?;
    check(got.to_vec() == vec![1.5, -2.0, 3.25, 7.0, 0.0, 1.0], || {
        format!("broadcast values {:?}", got.to_vec())
    })?;
    // DataParallel::new makes every rank's parameters rank 0's; broadcast_buffers the
    // BatchNorm statistics, after each rank trained on its own data.
    let mut rng = StdRng::seed_from_u64(100 + rank as u64);
    let model = Sequential::new()
        .add(Linear::<f32>::new(6, 5, &mut rng))
        .add(BatchNorm1d::new(5));
    let ddp = DataParallel::new(comm, &model, DdpConfig::default()).map_err(|e| e.to_string())?;
    let flat = |vars: Vec<(String, Var<f32>)>| -> Vec<f32> {
        vars.iter().flat_map(|(_, v)| v.value().to_vec()).collect()
    };
    let params = flat(model.named_parameters());
    let all = comm.all_gather(&params).map_err(|e| e.to_string())?;
    check(
        all.chunks(params.len()).all(|c| c == params.as_slice()),
        || "parameters differ after DataParallel::new".into(),
    )?;
    let x: Vec<f32> = (0..24).map(|_| rng.gen_range(-2.0..2.0)).collect();
    model.forward(&Var::new(Tensor::from_vec(x, &[4, 6])));
    let before = flat(model.named_buffers());
    let all = comm.all_gather(&before).map_err(|e| e.to_string())?;
    check(
        size == 1 || all.chunks(before.len()).any(|c| c != before.as_slice()),
        || "buffers were already equal: the check would prove nothing".into(),
    )?;
    ddp.broadcast_buffers().map_err(|e| e.to_string())?;
    let after = flat(model.named_buffers());
    let all = comm.all_gather(&after).map_err(|e| e.to_string())?;
    check(
        all.chunks(after.len()).all(|c| c == &all[..after.len()]),
        || "buffers differ after broadcast_buffers".into(),
    )?;
    Ok(())
}

/// A small MLP whose initialization depends on `seed`.
fn mlp(seed: u64) -> Sequential {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(Linear::new(12, 32, &mut rng))
        .add(Relu)
        .add(Linear::new(32, 16, &mut rng))
        .add(Relu)
        .add(Linear::new(16, 5, &mut rng))
}

/// 640 seeded examples of 12 features and 5 classes, the same on every rank.
fn toy_data() -> (Vec<f32>, Vec<i64>) {
    let mut rng = StdRng::seed_from_u64(7);
    let x = (0..640 * 12).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let y = (0..640).map(|_| rng.gen_range(0..5i64)).collect();
    (x, y)
}

fn batch(x: &[f32], y: &[i64], start: usize, len: usize) -> (Var<f32>, Tensor<i64>) {
    (
        Var::new(Tensor::from_vec(
            x[start * 12..(start + len) * 12].to_vec(),
            &[len, 12],
        )),
        Tensor::from_vec(y[start..start + len].to_vec(), &[len]),
    )
}

fn optimizer(kind: &str, model: &Sequential) -> Result<Box<dyn Optimizer<f32>>, String> {
    Ok(match kind {
        "sgd" => Box::new(
            Sgd::new(
                model.parameters(),
                SgdConfig {
                    lr: 0.05,
                    momentum: 0.9,
                    ..SgdConfig::default()
                },
            )
            .map_err(|e| e.to_string())?,
        ),
        "adam" => Box::new(
            Adam::new(model.parameters(), AdamConfig::default().lr(1e-3))
                .map_err(|e| e.to_string())?,
        ),
        other => return Err(format!("unknown optimizer `{other}`")),
    })
}

/// 20 steps of 2 ranks x batch 16 against 1 process x batch 32 on the same samples.
fn equivalence(comm: &Communicator, args: &[String]) -> Result<(), String> {
    let kind = args.first().map(String::as_str).unwrap_or("sgd");
    let bucket_bytes: usize = match args.get(1) {
        Some(s) => s.parse().map_err(|_| format!("bad bucket size `{s}`"))?,
        None => graft_distributed::DEFAULT_BUCKET_BYTES,
    };
    // "shared" (default) sums in the shared-memory window, "chunked" through a window of 256
    // bytes (every bucket in pieces), "allreduce" through MPI_Allreduce.
    let path = args.get(2).map(String::as_str).unwrap_or("shared");
    let config = DdpConfig {
        bucket_bytes,
        shared_memory: path != "allreduce",
        shared_window_bytes: if path == "chunked" { 256 } else { 1 << 20 },
        ..DdpConfig::default()
    };
    // A first DataParallel, dropped at once: its window must be freed when the next one is
    // made, without upsetting it.
    drop(DataParallel::new(comm, &mlp(1), config.clone()).map_err(|e| e.to_string())?);
    let (rank, size) = (comm.rank(), comm.size());
    let (x, y) = toy_data();
    let (global, steps) = (32usize, 20usize);
    let per_rank = global / size;
    // Each rank starts from its own initialization: DataParallel must make them rank 0's.
    let model = mlp(1000 + rank as u64);
    let ddp = DataParallel::new(comm, &model, config).map_err(|e| e.to_string())?;
    // All ranks of these tests run on one machine, so the window must be in use when asked.
    check(
        ddp.uses_shared_memory() == (path != "allreduce" && size > 1),
        || {
            format!(
                "{path}: uses_shared_memory() is {}",
                ddp.uses_shared_memory()
            )
        },
    )?;
    let mut opt = optimizer(kind, &model)?;
    let reference = mlp(1000);
    let mut ref_opt = optimizer(kind, &reference)?;
    for s in 0..steps {
        let (xb, yb) = batch(&x, &y, s * global + rank * per_rank, per_rank);
        opt.zero_grad();
        cross_entropy(&model.forward(&xb), &yb)
            .backward()
            .map_err(|e| e.to_string())?;
        ddp.average_gradients();
        opt.step().map_err(|e| e.to_string())?;

        let (xb, yb) = batch(&x, &y, s * global, global);
        ref_opt.zero_grad();
        cross_entropy(&reference.forward(&xb), &yb)
            .backward()
            .map_err(|e| e.to_string())?;
        ref_opt.step().map_err(|e| e.to_string())?;
    }
    let mut worst = 0.0f64;
    for ((name, p), (_, q)) in model
        .named_parameters()
        .iter()
        .zip(reference.named_parameters())
    {
        let (a, b) = (p.value().to_vec(), q.value().to_vec());
        let scale = b
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs() as f64))
            .max(1e-12);
        let diff = a
            .iter()
            .zip(&b)
            .fold(0.0f64, |m, (u, v)| m.max((u - v).abs() as f64));
        let rel = diff / scale;
        worst = worst.max(rel);
        check(rel <= 1e-5, || {
            format!("{kind}: {name} differs by {rel:.2e} (relative)")
        })?;
    }
    check(ddp.num_buckets() >= 1, || "no buckets".into())?;
    if comm.is_root() {
        println!(
            "{kind} ({path}): {} buckets, worst relative difference {worst:.2e} after {steps} steps",
            ddp.num_buckets()
        );
    }
    Ok(())
}

/// Ranks asking for different bucket sizes get an error from `DataParallel::new`, every one
/// of them, instead of sums that would mix unrelated elements.
fn mismatch(comm: &Communicator) -> Result<(), String> {
    let config = DdpConfig {
        bucket_bytes: if comm.is_root() { 1 << 20 } else { 64 },
        ..DdpConfig::default()
    };
    match DataParallel::new(comm, &mlp(1), config) {
        Err(e) if e.to_string().contains("differ between ranks") => Ok(()),
        Err(e) => Err(format!("unexpected error: {e}")),
        Ok(_) => Err("different bucket sizes were accepted".into()),
    }
}

fn sampler(comm: &Communicator) -> Result<(), String> {
    for len in [100usize, 101, 7, 1] {
        let mut shards = Vec::new();
        for epoch in 0..2 {
            let mut s = DistributedSampler::for_comm(len, comm).seed(5);
            s.set_epoch(epoch);
            let mine: Vec<f64> = s.indices().iter().map(|&i| i as f64).collect();
            check(mine.len() == s.num_samples(), || "shard length".into())?;
            let all = comm.all_gather(&mine).map_err(|e| e.to_string())?;
            let mut seen = vec![0usize; len];
            for &i in &all {
                seen[i as usize] += 1;
            }
            check(seen.iter().all(|&c| c >= 1), || {
                format!("len {len}: not covered")
            })?;
            check(all.len() - len == s.total_size() - len, || "padding".into())?;
            check(
                seen.iter().map(|&c| c - 1).sum::<usize>() == s.total_size() - len,
                || format!("len {len}: overlap beyond the padding"),
            )?;
            shards.push(all);
        }
        check(len < 10 || shards[0] != shards[1], || {
            format!("len {len}: epochs equal")
        })?;
    }
    Ok(())
}

/// Trains a few steps; rank 0 saves a checkpoint after step 2; at step 3 the last rank
/// fails: returns an error (`error`, which `main` turns into an abort; `return`, after which
/// `main` prints it and ends the process normally, finalizing MPI while the other rank is
/// still training), exits without a word (`exit`) or hangs (`hang`).
fn fault(comm: &Communicator, args: &[String]) -> Result<(), String> {
    let how = args.first().map(String::as_str).unwrap_or("error");
    let path = args.get(1).ok_or("fault needs a checkpoint path")?;
    let comm = comm.clone().with_timeout(Duration::from_secs(5));
    let (x, y) = toy_data();
    let model = mlp(1);
    let ddp = DataParallel::new(&comm, &model, DdpConfig::default()).map_err(|e| e.to_string())?;
    let mut opt = optimizer("adam", &model)?;
    for step in 1..=10 {
        if step == 3 && comm.rank() + 1 == comm.size() {
            match how {
                "error" | "return" => return Err("injected error at step 3".into()),
                "exit" => std::process::exit(9),
                "hang" => std::thread::sleep(Duration::from_secs(3600)),
                other => return Err(format!("unknown fault `{other}`")),
            }
        }
        let (xb, yb) = batch(&x, &y, step * 16, 16);
        opt.zero_grad();
        cross_entropy(&model.forward(&xb), &yb)
            .backward()
            .map_err(|e| e.to_string())?;
        ddp.average_gradients();
        opt.step().map_err(|e| e.to_string())?;
        if step == 2 && comm.is_root() {
            Checkpoint::capture(&model, opt.as_ref(), None, step)
                .and_then(|c| c.save(path))
                .map_err(|e| e.to_string())?;
        }
        if step == 2 {
            // The checkpoint is on disk before any rank fails.
            comm.barrier();
        }
    }
    Err("the injected fault did not stop the job".into())
}

/// Times 200 all-reduces of `ELEMENTS` f32 (default: the seed model's gradient plus its
/// flags): graft's `all_reduce_sum` (a copy of the buffer, then `MPI_Allreduce` under the
/// watchdog), then a bare `MPI_Allreduce` between two fixed buffers; then 200
/// `DataParallel::average_gradients` of the seed model (784-128-10), packing and unpacking
/// included, through the shared-memory window and through `MPI_Allreduce`.
fn bench(comm: &Communicator, args: &[String]) -> Result<(), String> {
    use mpi::traits::*;
    let n: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(101_774);
    let reps = 200;
    let mut buf = vec![1.0f32; n];
    // Warm up: the first calls set up the shared-memory connections.
    for _ in 0..20 {
        comm.all_reduce_sum(&mut buf);
    }
    comm.barrier();
    let t = std::time::Instant::now();
    for _ in 0..reps {
        comm.all_reduce_sum(&mut buf);
    }
    let ours = t.elapsed().as_secs_f64() / reps as f64;
    let world = mpi::topology::SimpleCommunicator::world();
    let send = vec![1.0f32; n];
    comm.barrier();
    let t = std::time::Instant::now();
    for _ in 0..reps {
        world.all_reduce_into(
            &send[..],
            &mut buf[..],
            mpi::collective::SystemOperation::sum(),
        );
    }
    let bare = t.elapsed().as_secs_f64() / reps as f64;
    let average = |shared_memory: bool| -> Result<f64, String> {
        let mut rng = StdRng::seed_from_u64(0);
        let model = Sequential::new()
            .add(Linear::new(784, 128, &mut rng))
            .add(Relu)
            .add(Linear::new(128, 10, &mut rng));
        let config = DdpConfig {
            shared_memory,
            ..DdpConfig::default()
        };
        let ddp = DataParallel::new(comm, &model, config).map_err(|e| e.to_string())?;
        let x = Var::new(Tensor::from_vec(vec![0.5f32; 32 * 784], &[32, 784]));
        let y = Tensor::from_vec(vec![3i64; 32], &[32]);
        cross_entropy(&model.forward(&x), &y)
            .backward()
            .map_err(|e| e.to_string())?;
        for _ in 0..20 {
            ddp.average_gradients();
        }
        comm.barrier();
        let t = std::time::Instant::now();
        for _ in 0..reps {
            ddp.average_gradients();
        }
        Ok(t.elapsed().as_secs_f64() / reps as f64)
    };
    let (window, allreduce) = (average(true)?, average(false)?);
    if comm.is_root() {
        println!(
            "average_gradients of the seed model on {} ranks: shared-memory window {:.3} ms, \
             MPI_Allreduce {:.3} ms",
            comm.size(),
            window * 1e3,
            allreduce * 1e3
        );
        println!(
            "all-reduce of {n} f32 on {} ranks: all_reduce_sum {:.3} ms, bare MPI_Allreduce {:.3} ms",
            comm.size(),
            ours * 1e3,
            bare * 1e3
        );
    }
    Ok(())
}
