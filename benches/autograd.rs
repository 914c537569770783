//! Autograd benchmarks: per-op overhead of recording and differentiating a chain of small
//! ops, and the cost of an MLP step's backward against its forward.
//!
//! `cargo bench -p graft-benches --bench autograd`. The chain groups use `Throughput::Elements(100)`, so
//! criterion's `elem/s` is ops per second (µs/op = 1e6 / that); the MLP group reports time per
//! step, and `main` prints backward / forward at the end.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use graft::autograd::{no_grad, Var};
use graft::tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CHAIN: usize = 100;

/// 100 alternating `+ c` / `* c` ops on a 4x4 Var, `c` a constant Var.
fn chain(x: &Var<f32>, c: &Var<f32>) -> Var<f32> {
    let mut y = x.clone();
    for i in 0..CHAIN {
        y = if i % 2 == 0 { &y + c } else { &y * c };
    }
    y
}

fn per_op(cr: &mut Criterion) {
    let x = Var::parameter(Tensor::<f32>::full(&[4, 4], 0.5));
    let c = Var::new(Tensor::<f32>::full(&[4, 4], 0.999));
    let seed = Tensor::<f32>::ones(&[4, 4]);
    let mut group = cr.benchmark_group("chain_4x4");
    group.throughput(Throughput::Elements(CHAIN as u64));
    group.bench_function("tensor_only", |b| {
        let (xv, cv) = (x.value(), c.value());
        b.iter(|| {
            let mut y = xv.clone();
            for i in 0..CHAIN {
                y = if i % 2 == 0 { &y + &cv } else { &y * &cv };
            }
            y
        })
    });
    group.bench_function("forward_no_grad", |b| {
        b.iter(|| no_grad(|| chain(black_box(&x), &c)))
    });
    group.bench_function("forward", |b| b.iter(|| chain(black_box(&x), &c)));
    group.bench_function("forward_backward", |b| {
        b.iter(|| {
            let y = chain(black_box(&x), &c);
            y.backward_with(&seed).unwrap();
            x.zero_grad();
        })
    });
    group.finish();
}

/// An MLP step, batch 256, 784-128-10: parameters and one batch.
struct Mlp {
    w1: Var<f32>,
    b1: Var<f32>,
    w2: Var<f32>,
    b2: Var<f32>,
    x: Var<f32>,
    labels: Tensor<i64>,
}

impl Mlp {
    fn new(batch: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(5);
        let p = |shape: &[usize], bound: f32, rng: &mut StdRng| {
            Var::parameter(Tensor::uniform(shape, -bound, bound, rng))
        };
        let (b1, b2) = (1.0 / 784f32.sqrt(), 1.0 / 128f32.sqrt());
        Mlp {
            w1: p(&[128, 784], b1, &mut rng),
            b1: p(&[128], b1, &mut rng),
            w2: p(&[10, 128], b2, &mut rng),
            b2: p(&[10], b2, &mut rng),
            x: Var::new(Tensor::uniform(&[batch, 784], 0.0, 1.0, &mut rng)),
            labels: Tensor::from_vec(
                (0..batch).map(|_| rng.gen_range(0..10)).collect(),
                &[batch, 1],
            ),
        }
    }

    /// x@W1^T+b1, relu, @W2^T+b2, log_softmax, gather-based NLL mean.
    fn loss(&self) -> Var<f32> {
        let h = (&self.x.matmul(&self.w1.t()) + &self.b1).relu();
        let logits = &h.matmul(&self.w2.t()) + &self.b2;
        logits.log_softmax(1).gather(1, &self.labels).mean().neg()
    }

    fn zero_grad(&self) {
        for p in [&self.w1, &self.b1, &self.w2, &self.b2] {
            p.zero_grad();
        }
    }
}

/// Forward (recording the graph) and backward times of `iters` MLP steps, measured apart.
fn mlp_times(mlp: &Mlp, iters: u64) -> (Duration, Duration) {
    let (mut fwd, mut bwd) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..iters {
        let t = Instant::now();
        let loss = mlp.loss();
        fwd += t.elapsed();
        let t = Instant::now();
        loss.backward().unwrap();
        bwd += t.elapsed();
        mlp.zero_grad();
    }
    (fwd, bwd)
}

fn mlp(cr: &mut Criterion, one: &rayon::ThreadPool, two: &rayon::ThreadPool) {
    let mlp = Mlp::new(256);
    let mut group = cr.benchmark_group("mlp_256x784x128x10");
    group.sample_size(30);
    // 1t: inside a one-thread pool; 2t: from the main thread into the global two-thread pool;
    // 2t_pool: the whole step inside a two-thread pool, as a loop under `install` runs.
    let modes = [("1t", Some(one)), ("2t", None), ("2t_pool", Some(two))];
    for (threads, pool) in modes {
        let run = |f: &mut (dyn FnMut() -> Duration + Send)| match pool {
            Some(p) => p.install(f),
            None => f(),
        };
        group.bench_function(format!("forward_{threads}"), |b| {
            b.iter_custom(|iters| run(&mut || mlp_times(&mlp, iters).0))
        });
        group.bench_function(format!("backward_{threads}"), |b| {
            b.iter_custom(|iters| run(&mut || mlp_times(&mlp, iters).1))
        });
        group.bench_function(format!("step_{threads}"), |b| {
            b.iter_custom(|iters| {
                run(&mut || {
                    let (f, b) = mlp_times(&mlp, iters);
                    f + b
                })
            })
        });
    }
    group.finish();
    // A direct figure for the ratio: the fastest forward and backward over 30 steps (the
    // machine is shared; other processes only ever add time).
    for (threads, pool) in modes {
        let measure = || {
            mlp_times(&mlp, 3);
            (0..30)
                .map(|_| mlp_times(&mlp, 1))
                .fold((Duration::MAX, Duration::MAX), |(f, b), (f1, b1)| {
                    (f.min(f1), b.min(b1))
                })
        };
        let (f, b) = match pool {
            Some(p) => p.install(measure),
            None => measure(),
        };
        println!(
            "mlp {threads}: forward {:.3} ms, backward {:.3} ms, backward / forward = {:.2} (target <= 2.2)",
            f.as_secs_f64() * 1e3,
            b.as_secs_f64() * 1e3,
            b.as_secs_f64() / f.as_secs_f64()
        );
    }
}

fn main() {
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build_global()
        .expect("global pool");
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .expect("thread pool")
    };
    let (one, two) = (pool(1), pool(2));
    let mut c = Criterion::default().configure_from_args();
    per_op(&mut c);
    mlp(&mut c, &one, &two);
    c.final_summary();
}
