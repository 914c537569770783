//! Optimizer benchmark: one Adam step over 10M f32 parameters, as GB/s of the bytes the
//! step must move, against a plain `copy_from_slice` moving as many bytes in the same run.
//!
//! Adam reads the parameters, gradients and both moments and writes the parameters and
//! both moments: 7 x 4 = 28 bytes per parameter, 280 MB per step. The copy moves the same
//! 280 MB (140 MB read, 140 MB written). Criterion's `B/s` is that traffic per second for
//! every case. Cases:
//!
//! - `copy_from_slice`: the yardstick (one thread, as `copy_from_slice` is);
//! - `kernel_1t` / `kernel_2t`: the slice kernel `adam_step` in a one-thread pool / from
//!   the main thread into the global two-thread pool;
//! - `optimizer_1var` / `optimizer_4vars`: `Optimizer::step` of an `Adam` over one Var of
//!   10M elements / four of 2.5M (what a training loop calls; two threads).
//!
//! `cargo bench -p graft-benches --bench optim`; add `-- --warm-up-time 1 --measurement-time 3` to shorten.
//! `main` ends with a summary that times each case alternately with the copy (so both
//! see the same load on a shared machine) and prints its bandwidth as a share of the copy's.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput};
use graft::autograd::Var;
use graft::optim::rules::{adam_step, AdamConfig};
use graft::optim::{Adam, Optimizer};
use graft::tensor::Tensor;

/// Parameters per step.
const N: usize = 10_000_000;
/// Bytes Adam moves per step: params, grads, m, v read; params, m, v written.
const BYTES: u64 = 7 * 4 * N as u64;

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

/// Adam over `parts` Vars splitting N parameters, each with a gradient set.
fn optimizer(parts: usize) -> (Vec<Var<f32>>, Adam<f32>) {
    let len = N / parts;
    let params: Vec<Var<f32>> = (0..parts)
        .map(|i| {
            let p = Var::parameter(Tensor::from_vec(values(len, 2 * i as u32 + 1), &[len]));
            p.set_grad(Some(Tensor::from_vec(
                values(len, 2 * i as u32 + 2),
                &[len],
            )));
            p
        })
        .collect();
    let opt = Adam::new(params.clone(), AdamConfig::default()).expect("valid config");
    (params, opt)
}

/// GB/s of one run of `f`.
fn gbps(f: &mut impl FnMut()) -> f64 {
    let start = Instant::now();
    f();
    BYTES as f64 / start.elapsed().as_secs_f64() / 1e9
}

/// For the closing summary: runs `copy` and `case` alternately `ROUNDS` times, so both
/// see the same machine load, and returns the best GB/s of each and the median of the
/// per-round ratios case / copy.
fn against_copy(copy: &mut impl FnMut(), case: &mut impl FnMut()) -> (f64, f64, f64) {
    const ROUNDS: usize = 15;
    copy();
    case();
    let mut ratios = Vec::with_capacity(ROUNDS);
    let (mut best_copy, mut best_case) = (0.0f64, 0.0f64);
    for _ in 0..ROUNDS {
        let c = gbps(copy);
        let a = gbps(case);
        best_copy = best_copy.max(c);
        best_case = best_case.max(a);
        ratios.push(a / c);
    }
    ratios.sort_by(f64::total_cmp);
    (best_copy, best_case, ratios[ROUNDS / 2])
}

fn main() {
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build_global()
        .expect("global pool");
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("thread pool");
    let mut c = Criterion::default().configure_from_args();

    let copy_len = BYTES as usize / 2 / 4;
    let src = values(copy_len, 7);
    let mut dst = vec![0.0f32; copy_len];
    let mut copy = || dst.copy_from_slice(black_box(&src));

    let config = AdamConfig::default();
    let mut p = values(N, 1);
    let g = values(N, 2);
    let (mut m, mut v) = (vec![0.0f32; N], vec![0.0f32; N]);
    let mut t = 0u64;
    let mut kernel = || {
        t += 1;
        adam_step(&mut p, black_box(&g), &mut m, &mut v, None, &config, t);
    };

    let (_keep1, mut opt1) = optimizer(1);
    let (_keep4, mut opt4) = optimizer(4);

    let mut group = c.benchmark_group("adam_10M_f32");
    group.throughput(Throughput::Bytes(BYTES));
    group.sample_size(10);
    group.bench_function("copy_from_slice", |b| b.iter(&mut copy));
    group.bench_function("kernel_1t", |b| b.iter(|| one.install(&mut kernel)));
    group.bench_function("kernel_2t", |b| b.iter(&mut kernel));
    group.bench_function("optimizer_1var", |b| b.iter(|| opt1.step().unwrap()));
    group.bench_function("optimizer_4vars", |b| b.iter(|| opt4.step().unwrap()));
    group.finish();
    c.final_summary();

    println!(
        "\nAdam step over 10M f32 parameters, GB/s of 28 bytes per parameter, best of 15 runs \
         alternating with copy_from_slice; ratio = median over the runs of case / copy:"
    );
    let mut report = |name: &str, case: &mut dyn FnMut()| {
        let (copy_gbps, case_gbps, ratio) = against_copy(&mut copy, &mut || case());
        println!(
            "  {name:<16} {case_gbps:6.2} GB/s   copy {copy_gbps:6.2} GB/s   ratio {:4.0}%",
            100.0 * ratio
        );
    };
    report("kernel_1t", &mut || one.install(&mut kernel));
    report("kernel_2t", &mut kernel);
    report("optimizer_1var", &mut || opt1.step().unwrap());
    report("optimizer_4vars", &mut || opt4.step().unwrap());
}
