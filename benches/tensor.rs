//! Tensor benchmarks: matmul GFLOP/s against raw `matrixmultiply::sgemm` on the same buffers,
//! elementwise and reduction GB/s against `copy_from_slice`, per-op overhead, and page
//! faults per iteration of a loop of same-shaped ops (buffer pool on and off).
//!
//! `cargo bench --bench tensor` runs everything; pass a filter as usual
//! (`cargo bench --bench tensor -- matmul`), and `--warm-up-time 1 --measurement-time 3` to
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

/// Where a paired case runs.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Inside a one-thread pool (timed by that thread's CPU time).
    One,
    /// From the main thread, which is no pool thread: each parallel op goes into the global
    /// two-thread pool and back, as in a plain training loop.
    Main,
    /// Inside a two-thread pool: parallel ops split with the calling worker (a loop run
    /// under `ThreadPool::install` or `rayon::scope`).
    Pool,
}

/// One case of a paired comparison: a label, its work per call (FLOP or bytes) and the call.
struct Case<'a> {
    name: String,
    mode: Mode,
    work: f64,
    f: Box<dyn Fn() + Sync + 'a>,
}

impl<'a> Case<'a> {
    fn new<R>(
        name: impl Into<String>,
        one_thread: bool,
        work: f64,
        f: impl Fn() -> R + Sync + 'a,
    ) -> Self {
        let f = Box::new(move || {
            black_box(f());
        });
        let mode = if one_thread { Mode::One } else { Mode::Main };
        Case {
            name: name.into(),
            mode,
            work,
            f,
        }
    }

    /// The same case run inside the two-thread pool.
    fn in_pool(mut self) -> Self {
        self.mode = Mode::Pool;
        self
    }
}

/// CPU time consumed by the calling thread, in seconds.
fn thread_cpu_time() -> f64 {
    // SAFETY: clock_gettime only writes the timespec we pass; a zeroed timespec is valid.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
        ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
    }
}

/// The one-minute load average, to print next to wall-clock figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// Times every case in turn, `rounds` times over, and returns each one's fastest time per
/// call. The machine is shared: one-thread cases count the worker's CPU time, and two-thread
/// cases take the fastest wall-clock batch over interleaved rounds (other processes only ever
/// add time, and interleaving exposes every case to the same background load).
fn paired(cases: &[Case], rounds: usize, pools: &Pools) -> Vec<f64> {
    let batch = |c: &Case, iters: u64| {
        let wall = || {
            let t = Instant::now();
            for _ in 0..iters {
                (c.f)();
            }
            t.elapsed().as_secs_f64() / iters as f64
        };
        match c.mode {
            // On one thread, count the CPU time the worker got: immune to being descheduled.
            Mode::One => pools.one.install(|| {
                let t = thread_cpu_time();
                for _ in 0..iters {
                    (c.f)();
                }
                (thread_cpu_time() - t) / iters as f64
            }),
            Mode::Main => wall(),
            Mode::Pool => pools.two.install(wall),
        }
    };
    // Before the two-thread cases of a round, keep both cores busy for a while: after a
    // stretch of one-thread work the scheduler hands a loaded machine's second core back to
    // other processes, and only returns it after some sustained demand.
    let warm_up = |from: &[&Case]| {
        let t = Instant::now();
        while !from.is_empty() && t.elapsed().as_secs_f64() < 0.2 {
            for c in from {
                batch(c, 1);
            }
        }
    };
    type Indexed<'c, 'a> = Vec<(usize, &'c Case<'a>)>;
    let (single, multi): (Indexed, Indexed) = cases
        .iter()
        .enumerate()
        .partition(|(_, c)| c.mode == Mode::One);
    let multi_cases: Vec<&Case> = multi.iter().map(|(_, c)| *c).collect();
    // Calibrate: enough calls per batch for about 20 ms.
    let mut iters = vec![1u64; cases.len()];
    warm_up(&multi_cases);
    for &(i, c) in single.iter().chain(&multi) {
        batch(c, 1);
        iters[i] = (0.02 / batch(c, 1)).clamp(1.0, 1e6) as u64;
    }
    let mut best = vec![f64::INFINITY; cases.len()];
    for _ in 0..rounds {
        for &(i, c) in &single {
            best[i] = best[i].min(batch(c, iters[i]));
        }
        warm_up(&multi_cases);
        for &(i, c) in &multi {
            best[i] = best[i].min(batch(c, iters[i]));
        }
    }
    best
}

/// Prints a paired table: time, throughput (`unit` per second, from `work`) and the ratio of
/// throughputs against the first case and against the case named in `against`.
fn print_paired(
    title: &str,
    unit: &str,
    cases: &[Case],
    best: &[f64],
    against: impl Fn(&str) -> Option<String>,
) {
    println!("{title} [load average {}]", load_average());
    let rate = |i: usize| cases[i].work / best[i] / 1e9;
    for (i, c) in cases.iter().enumerate() {
        let time = if best[i] >= 1e-3 {
            format!("{:9.3} ms", best[i] * 1e3)
        } else {
            format!("{:9.3} us", best[i] * 1e6)
        };
        let mut line = format!(
            "  {:<22} {time} {:8.2} {unit}  x{:.2} vs {}",
            c.name,
            rate(i),
            rate(i) / rate(0),
            cases[0].name
        );
        if let Some(other) = against(&c.name) {
            if let Some(j) = cases.iter().position(|c| c.name == other) {
                line += &format!("  x{:.2} vs {other}", rate(i) / rate(j));
            }
        }
        println!("{line}");
    }
}

/// Raw sgemm on strided operands as a paired case (one thread: sgemm runs on the caller's).
fn raw_case<'a>(
    name: &str,
    (m, k, n): (usize, usize, usize),
    a: (&'a [f32], isize, isize),
    b: (&'a [f32], isize, isize),
    out: &'a std::sync::Mutex<Vec<f32>>,
) -> Case<'a> {
    let flop = (2 * m * n * k) as f64;
    Case::new(name, true, flop, move || {
        raw_sgemm(m, k, n, a, b, &mut out.lock().unwrap())
    })
}

/// The paired tables: matmul against raw sgemm, elementwise against copy, and the
/// one-thread-against-two sweeps that set the parallel thresholds.
fn ratios(pools: &Pools) {
    println!(
        "\npaired measurements (interleaved rounds, fastest batch of each case; 1t = CPU time of"
    );
    println!("the one worker thread, 2t = wall clock, calling from the main thread into the global pool):");
    let mut rng = StdRng::seed_from_u64(3);
    for &(label, m, k, n) in MATMUL_SHAPES {
        let a = random(&[m, k], &mut rng);
        let b = random(&[k, n], &mut rng);
        let a_km = random(&[k, m], &mut rng);
        let b_nk = random(&[n, k], &mut rng);
        let (at, bt) = (a_km.t(), b_nk.t());
        let out = std::sync::Mutex::new(vec![0.0f32; m * n]);
        let (sa, sb) = (a.as_slice().unwrap(), b.as_slice().unwrap());
        let (sat, sbt) = (a_km.as_slice().unwrap(), b_nk.as_slice().unwrap());
        let (ki, mi, ni) = (k as isize, m as isize, n as isize);
        let flop = (2 * m * n * k) as f64;
        let mut cases = vec![
            raw_case("raw_sgemm", (m, k, n), (sa, ki, 1), (sb, ni, 1), &out),
            raw_case("raw_sgemm_at", (m, k, n), (sat, 1, mi), (sb, ni, 1), &out),
            raw_case("raw_sgemm_bt", (m, k, n), (sa, ki, 1), (sbt, 1, ki), &out),
        ];
        for (t, one_thread) in [("1t", true), ("2t", false)] {
            cases.push(Case::new(format!("graft/{t}"), one_thread, flop, || {
                a.matmul(&b)
            }));
            cases.push(Case::new(format!("graft_at/{t}"), one_thread, flop, || {
                at.matmul(&b)
            }));
            cases.push(Case::new(format!("graft_bt/{t}"), one_thread, flop, || {
                a.matmul(&bt)
            }));
        }
        let rounds = if m * n * k >= 1 << 30 {
            3
        } else if m * n * k >= 1 << 27 {
            6
        } else {
            15
        };
        let best = paired(&cases, rounds, pools);
        print_paired(
            &format!("matmul {label} (GFLOP/s)"),
            "GFLOP/s",
            &cases,
            &best,
            |name| {
                let (kind, t) = name.split_once('/')?;
                match kind {
                    "graft" => Some("raw_sgemm".into()).filter(|_| t == "1t"),
                    "graft_at" | "graft_bt" => Some(format!("graft/{t}")),
                    _ => None,
                }
            },
        );
    }

    const LEN: usize = 1 << 24;
    const BYTES: f64 = (LEN * 4) as f64;
    let x = random(&[LEN >> 10, 1 << 10], &mut rng);
    let y = random(&[LEN >> 10, 1 << 10], &mut rng);
    let row = random(&[1 << 10], &mut rng);
    let src = x.as_slice().unwrap();
    let dst = std::sync::Mutex::new(vec![0.0f32; LEN]);
    let mut cases = vec![
        Case::new("copy_from_slice", true, 2.0 * BYTES, || {
            dst.lock().unwrap().copy_from_slice(src)
        }),
        Case::new("par_copy/2t", false, 2.0 * BYTES, || {
            use rayon::prelude::*;
            let mut d = dst.lock().unwrap();
            d.par_chunks_mut(1 << 16)
                .zip(src.par_chunks(1 << 16))
                .for_each(|(d, s)| d.copy_from_slice(s));
        }),
    ];
    for (t, one_thread) in [("1t", true), ("2t", false)] {
        cases.push(Case::new(
            format!("add/{t}"),
            one_thread,
            3.0 * BYTES,
            || &x + &y,
        ));
        cases.push(Case::new(
            format!("add_bcast_row/{t}"),
            one_thread,
            2.0 * BYTES,
            || &x + &row,
        ));
        cases.push(Case::new(
            format!("relu/{t}"),
            one_thread,
            2.0 * BYTES,
            || x.relu(),
        ));
        cases.push(Case::new(
            format!("exp/{t}"),
            one_thread,
            2.0 * BYTES,
            || x.exp(),
        ));
        cases.push(Case::new(format!("sum_all/{t}"), one_thread, BYTES, || {
            x.sum()
        }));
        cases.push(Case::new(
            format!("sum_last_axis/{t}"),
            one_thread,
            BYTES,
            || x.sum_dims(&[-1], false),
        ));
    }
    let best = paired(&cases, 8, pools);
    print_paired(
        "elementwise and reductions on 16M f32 (GB/s of bytes moved)",
        "GB/s",
        &cases,
        &best,
        |_| None,
    );

    println!();
}

/// A case on one thread, from the main thread into the global pool, and inside a pool.
fn three_ways<'a, R>(name: &str, work: f64, f: impl Fn() -> R + Sync + Copy + 'a) -> [Case<'a>; 3] {
    [
        Case::new(format!("{name}/1t"), true, work, f),
        Case::new(format!("{name}/2t"), false, work, f),
        Case::new(format!("{name}/2t_pool"), false, work, f).in_pool(),
    ]
}

/// One thread against two across sizes: where parallelism starts to pay, for elementwise ops
/// (`PAR_MIN_ELEMS`) and matmul (`PAR_MATMUL_MIN_MACS`).
fn threshold_sweeps(pools: &Pools) {
    println!("\nparallel thresholds (same method as the paired tables):");
    let mut rng = StdRng::seed_from_u64(5);
    let sizes = [1usize << 15, 1 << 16, 1 << 17, 1 << 18, 1 << 19, 1 << 20];
    let data: Vec<_> = sizes
        .iter()
        .map(|&len| (len, random(&[len], &mut rng), random(&[len], &mut rng)))
        .collect();
    let mut cases = Vec::new();
    for (len, x, y) in &data {
        let n = *len as f64;
        cases.extend(three_ways(&format!("add_{len}"), n, move || x + y));
        cases.extend(three_ways(&format!("exp_{len}"), n, move || x.exp()));
    }
    let best = paired(&cases, 15, pools);
    print_paired(
        "elementwise by size: one thread, two from main, two inside a pool (G elements/s)",
        "Gelem/s",
        &cases,
        &best,
        |name| name.rsplit_once('/').map(|(base, _)| format!("{base}/1t")),
    );

    let shapes = [
        (96, 96, 96),
        (128, 128, 128),
        (160, 160, 160),
        (192, 192, 192),
        (224, 224, 224),
        (256, 256, 256),
        (32, 784, 128),
        (64, 784, 128),
        (128, 784, 128),
    ];
    let data: Vec<_> = shapes
        .iter()
        .map(|&(m, k, n)| {
            (
                (m, k, n),
                random(&[m, k], &mut rng),
                random(&[n, k], &mut rng),
            )
        })
        .collect();
    let mut cases = Vec::new();
    for ((m, k, n), a, b_nk) in &data {
        let flop = (2 * m * k * n) as f64;
        cases.extend(three_ways(&format!("{m}x{k}x{n}"), flop, move || {
            a.matmul(&b_nk.t())
        }));
    }
    let best = paired(&cases, 15, pools);
    print_paired(
        "matmul x @ w.t() by size: one thread, two from main, two inside a pool (GFLOP/s)",
        "GFLOP/s",
        &cases,
        &best,
        |name| name.rsplit_once('/').map(|(base, _)| format!("{base}/1t")),
    );
    println!();
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

fn minor_faults() -> i64 {
    // SAFETY: getrusage only writes the struct we pass; a zeroed rusage is a valid value.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage.ru_minflt
    }
}

/// Minor page faults and time per iteration of `(&a + &b).exp()`, with the buffer pool
/// working and with it emptied after every iteration (what an allocator-only design does).
fn page_faults() {
    println!(
        "\npage faults per iteration of (&a + &b).exp(), f32, 100 iterations after 10 warm-up:"
    );
    let mut rng = StdRng::seed_from_u64(17);
    for len in [1usize << 20, 1 << 24] {
        let a = random(&[len], &mut rng);
        let b = random(&[len], &mut rng);
        for pooled in [true, false] {
            let step = || {
                black_box((&a + &b).exp());
                if !pooled {
                    f32::pool().expect("f32 has a pool").clear();
                }
            };
            for _ in 0..10 {
                step();
            }
            let iters = 100;
            let (f0, t0) = (minor_faults(), Instant::now());
            for _ in 0..iters {
                step();
            }
            let (faults, time) = (minor_faults() - f0, t0.elapsed());
            println!(
                "  {:>4} MB/tensor, pool {:<8}: {:>8.1} minor faults/iter, {:>8.1} us/iter",
                (len * 4) >> 20,
                if pooled { "on" } else { "cleared" },
                faults as f64 / iters as f64,
                time.as_secs_f64() * 1e6 / iters as f64
            );
        }
    }
    println!();
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
