//! Tensor benchmarks: matmul GFLOP/s against raw `matrixmultiply::sgemm` on the same buffers,
//! elementwise and reduction GB/s against `copy_from_slice`, per-op overhead, and page
//! faults per iteration of a loop of same-shaped ops (buffer pool on and off).
//!
//! `cargo bench -p graft-benches --bench tensor` runs everything; pass a filter as usual
//! (`cargo bench -p graft-benches --bench tensor -- matmul`), and `--warm-up-time 1 --measurement-time 3` to
//! shorten. Criterion prints `elem/s` for matmul: with `Throughput::Elements(2mnk)` that is
//! FLOP/s. "1t" runs inside a one-thread rayon pool; "2t" calls from the main thread into the
//! global pool (two threads), as a plain training loop does. Raw sgemm is single-threaded.
//!
//! Before criterion, `main` prints three sections, each selectable as a filter:
//! - `page_faults`: minor faults and time per iteration of `(&a + &b).exp()`, with the buffer
//!   pool on and with it emptied after every iteration;
//! - `ratios`: the matmul and 16M-element tables again, as interleaved paired measurements
//!   with ratios against raw sgemm / `copy_from_slice` (one-thread cases count CPU time, so
//!   they hold up on a machine other processes are using);
//! - `thresholds`: one thread against two, from the main thread and inside a pool, across
//!   sizes: the data behind `PAR_MIN_ELEMS` and `PAR_MATMUL_MIN_MACS`.
//!
//! Two-thread figures need both cores: on a shared machine, run the bench with a high
//! scheduling priority (for example in its own session with `/proc/self/autogroup` set to
//! -20), or the second core is mostly someone else's.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use graft::tensor::{Element, Tensor};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rayon::ThreadPool;

mod faults;
mod paired;
mod thresholds;

use faults::page_faults;
use paired::ratios;
use thresholds::threshold_sweeps;

/// The extra pools the paired tables run cases in (the global pool has two threads).
struct Pools {
    one: ThreadPool,
    two: ThreadPool,
}

fn pool(threads: usize) -> ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

fn random(shape: &[usize], rng: &mut StdRng) -> Tensor<f32> {
    Tensor::uniform(shape, -1.0, 1.0, rng)
}

/// Times `iters` calls of `f` with the given thread count: one thread runs the whole loop
/// inside a one-thread pool; two threads call from this (non-pool) thread into the global
/// pool, which `main` builds with two threads.
fn timed<R>(one_thread: Option<&ThreadPool>, iters: u64, f: &(impl Fn() -> R + Sync)) -> Duration {
    let run = || {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(f());
        }
        start.elapsed()
    };
    match one_thread {
        Some(p) => p.install(run),
        None => run(),
    }
}

/// `c[m, n] = a b` with raw sgemm, operands given by (row stride, column stride).
fn raw_sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: (&[f32], isize, isize),
    b: (&[f32], isize, isize),
    c: &mut [f32],
) {
    assert!(a.0.len() >= m * k && b.0.len() >= k * n && c.len() >= m * n);
    // SAFETY: the buffers hold m*k, k*n and m*n elements and the strides describe dense
    // row-major or column-major matrices of those sizes; `c` is a distinct buffer.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.0.as_ptr(),
            a.1,
            a.2,
            b.0.as_ptr(),
            b.1,
            b.2,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    }
}

const MATMUL_SHAPES: &[(&str, usize, usize, usize)] = &[
    ("128", 128, 128, 128),
    ("256", 256, 256, 256),
    ("512", 512, 512, 512),
    ("1024", 1024, 1024, 1024),
    ("2048", 2048, 2048, 2048),
    ("32x784x128", 32, 784, 128),
    ("256x784x128", 256, 784, 128),
];

fn matmul(c: &mut Criterion, one: &ThreadPool) {
    let mut rng = StdRng::seed_from_u64(7);
    for &(label, m, k, n) in MATMUL_SHAPES {
        let mut group = c.benchmark_group(format!("matmul/{label}"));
        group.throughput(Throughput::Elements((2 * m * n * k) as u64));
        if m * n * k >= 1 << 30 {
            group.sample_size(10).sampling_mode(SamplingMode::Flat);
        } else if m * n * k >= 1 << 27 {
            group.sample_size(20).sampling_mode(SamplingMode::Flat);
        }
        let a = random(&[m, k], &mut rng);
        let b = random(&[k, n], &mut rng);
        let a_km = random(&[k, m], &mut rng); // stored [k, m]; a_km.t() is an [m, k] view
        let b_nk = random(&[n, k], &mut rng); // stored [n, k]; b_nk.t() is a [k, n] view (Linear's W^T)
        let (at, bt) = (a_km.t(), b_nk.t());
        assert!(!at.is_contiguous() && !bt.is_contiguous());
        let mut out = vec![0.0f32; m * n];
        let (sa, sb) = (a.as_slice().unwrap(), b.as_slice().unwrap());
        let (sat, sbt) = (a_km.as_slice().unwrap(), b_nk.as_slice().unwrap());
        let (ki, mi, ni) = (k as isize, m as isize, n as isize);
        group.bench_function("raw_sgemm", |bch| {
            bch.iter(|| raw_sgemm(m, k, n, (sa, ki, 1), (sb, ni, 1), &mut out))
        });
        group.bench_function("raw_sgemm_at", |bch| {
            bch.iter(|| raw_sgemm(m, k, n, (sat, 1, mi), (sb, ni, 1), &mut out))
        });
        group.bench_function("raw_sgemm_bt", |bch| {
            bch.iter(|| raw_sgemm(m, k, n, (sa, ki, 1), (sbt, 1, ki), &mut out))
        });
        for (threads, p) in [("1t", Some(one)), ("2t", None)] {
            let cases: [(&str, &Tensor<f32>, &Tensor<f32>); 3] = [
                ("graft", &a, &b),
                ("graft_at", &at, &b),
                ("graft_bt", &a, &bt),
            ];
            for (name, x, y) in cases {
                group.bench_function(BenchmarkId::new(name, threads), |bch| {
                    bch.iter_custom(|iters| timed(p, iters, &|| x.matmul(y)))
                });
            }
        }
        group.finish();
    }
}

/// Elementwise kernels and reductions on 16M f32, with `copy_from_slice` of 64 MB as baseline.
fn elementwise(c: &mut Criterion, one: &ThreadPool) {
    const N: usize = 1 << 14;
    const M: usize = 1 << 10;
    const LEN: usize = N * M;
    const BYTES: u64 = (LEN * 4) as u64;
    let mut rng = StdRng::seed_from_u64(11);
    let x = random(&[N, M], &mut rng);
    let y = random(&[N, M], &mut rng);
    let row = random(&[M], &mut rng);
    let mut group = c.benchmark_group("elementwise_16M");
    group.sample_size(20);

    let src = x.as_slice().unwrap();
    let mut dst = vec![0.0f32; LEN];
    group.throughput(Throughput::Bytes(2 * BYTES));
    group.bench_function("copy_from_slice", |b| {
        b.iter(|| dst.copy_from_slice(black_box(src)))
    });

    type Case<'a> = (&'a str, u64, Box<dyn Fn() -> Tensor<f32> + Sync + 'a>);
    let cases: Vec<Case> = vec![
        ("add", 3 * BYTES, Box::new(|| &x + &y)),
        ("add_bcast_row", 2 * BYTES, Box::new(|| &x + &row)),
        ("relu", 2 * BYTES, Box::new(|| x.relu())),
        ("exp", 2 * BYTES, Box::new(|| x.exp())),
        ("sum_all", BYTES, Box::new(|| x.sum())),
        (
            "sum_last_axis",
            BYTES,
            Box::new(|| x.sum_dims(&[-1], false)),
        ),
    ];
    for (threads, p) in [("1t", Some(one)), ("2t", None)] {
        for (name, bytes, f) in &cases {
            group.throughput(Throughput::Bytes(*bytes));
            group.bench_function(BenchmarkId::new(*name, threads), |b| {
                b.iter_custom(|iters| timed(p, iters, f))
            });
        }
    }
    group.finish();
}

/// Fixed cost of one small op: add of two 4x4 tensors (target < 150 ns).
fn overhead(c: &mut Criterion) {
    let a = Tensor::<f32>::ones(&[4, 4]);
    let b = Tensor::<f32>::full(&[4, 4], 2.0);
    let mut group = c.benchmark_group("overhead");
    group.bench_function("add_4x4", |bch| bch.iter(|| black_box(&a) + black_box(&b)));
    group.bench_function("relu_4x4", |bch| bch.iter(|| black_box(&a).relu()));
    group.bench_function("matmul_4x4", |bch| {
        bch.iter(|| black_box(&a).matmul(black_box(&b)))
    });
    group.finish();
}

/// Criterion's name filter: the first free argument, skipping the values of its options.
fn filter() -> Option<String> {
    const WITH_VALUE: &[&str] = &[
        "--warm-up-time",
        "--measurement-time",
        "--sample-size",
        "--save-baseline",
        "--baseline",
        "--load-baseline",
        "--output-format",
        "--color",
        "--plotting-backend",
        "--significance-level",
        "--noise-threshold",
        "--confidence-level",
        "--nresamples",
        "--profile-time",
        "--format",
    ];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if WITH_VALUE.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}

fn main() {
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build_global()
        .expect("global pool");
    let pools = Pools {
        one: pool(1),
        two: pool(2),
    };
    let one = &pools.one;
    let mut c = Criterion::default().configure_from_args();
    // The printed sections run unless a filter excludes them (`-- ratios`, `-- page_faults`).
    let wants = |section: &str| match filter() {
        Some(f) => section.contains(f.as_str()),
        None => true,
    };
    if wants("page_faults") {
        page_faults();
    }
    if wants("ratios") {
        ratios(&pools);
    }
    if wants("thresholds") {
        threshold_sweeps(&pools);
    }
    overhead(&mut c);
    elementwise(&mut c, one);
    matmul(&mut c, one);
    c.final_summary();
}
