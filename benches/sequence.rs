//! Recurrent layers, forward + backward per time step: one LSTM and one GRU layer with
//! N = 32, input 128, H = 128 over T = 32 steps (f32), beside the same set of matrix
//! products done directly on tensors (the input projection, one `[N, H] × [H, G·H]`
//! product per step, and the two products of each one's backward). The layer's time minus
//! the products' time is what the autograd composition costs outside matmul.
//!
//! `cargo bench -p graft-benches --bench sequence -- --warm-up-time 1 --measurement-time 3`. It first prints
//! the process CPU time per step (all threads, best of 5 rounds): on a shared, loaded
//! machine that is steadier than wall time. Then criterion measures wall time, where
//! `elem/s` is time steps per second (µs per step = 1e6 / (elem/s)).

use criterion::{criterion_group, Criterion, Throughput};
use graft::autograd::Var;
use graft::nn::{Gru, Lstm, Module, RnnConfig};
use graft::tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

const N: usize = 32;
const H: usize = 128;
const I: usize = 128;
const T: usize = 32;

/// The products of one layer's forward and backward, on plain tensors.
fn matmuls_only(
    gates: usize,
    x: &Tensor<f32>,
    w_ih: &Tensor<f32>,
    w_hh: &Tensor<f32>,
    h: &Tensor<f32>,
) {
    let g = gates * H;
    let x2 = x.reshape(&[T * N, I]);
    let proj = x2.matmul(&w_ih.t()); // [T·N, G·H]
    let dproj = Tensor::<f32>::ones(&[T * N, g]);
    let _dx = dproj.matmul(w_ih); // [T·N, I]
    let _dw_ih = dproj.t().matmul(&x2); // [G·H, I]
    let dg = proj.narrow(0, 0, N);
    for _ in 0..T {
        let _gh = h.matmul(&w_hh.t()); // forward step
        let _dh = dg.matmul(w_hh); // backward: into h
        let _dw = dg.t().matmul(h); // backward: into W_hh
    }
}

fn recurrent(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0);
    let mut group = c.benchmark_group("recurrent_N32_H128_T32");
    group.throughput(Throughput::Elements(T as u64));
    group.sample_size(20);
    let x = Var::parameter(Tensor::<f32>::uniform(&[T, N, I], -1.0, 1.0, &mut rng));
    let lstm = Lstm::<f32>::new(RnnConfig::new(I, H), &mut rng);
    let gru = Gru::<f32>::new(RnnConfig::new(I, H), &mut rng);
    group.bench_function("lstm_fwd_bwd", |b| {
        b.iter(|| lstm.forward(&x).sum().backward().unwrap())
    });
    group.bench_function("gru_fwd_bwd", |b| {
        b.iter(|| gru.forward(&x).sum().backward().unwrap())
    });
    let h = Tensor::<f32>::uniform(&[N, H], -1.0, 1.0, &mut rng);
    for (name, gates) in [("lstm_matmuls_only", 4), ("gru_matmuls_only", 3)] {
        let w_ih = Tensor::<f32>::uniform(&[gates * H, I], -0.1, 0.1, &mut rng);
        let w_hh = Tensor::<f32>::uniform(&[gates * H, H], -0.1, 0.1, &mut rng);
        group.bench_function(name, |b| {
            b.iter(|| matmuls_only(gates, &x.value(), &w_ih, &w_hh, &h))
        });
    }
    group.finish();
}

/// CPU seconds used by the whole process so far (every thread).
fn process_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass, which lives on our stack.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// CPU microseconds per time step of `f` (one call = T steps), best of 5 rounds.
fn cpu_us_per_step(mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    (0..5)
        .map(|_| {
            let start = process_cpu_seconds();
            for _ in 0..10 {
                f();
            }
            (process_cpu_seconds() - start) / 10.0 / T as f64 * 1e6
        })
        .fold(f64::INFINITY, f64::min)
}

fn cpu_time_report() {
    let mut rng = StdRng::seed_from_u64(0);
    let x = Var::parameter(Tensor::<f32>::uniform(&[T, N, I], -1.0, 1.0, &mut rng));
    let h = Tensor::<f32>::uniform(&[N, H], -1.0, 1.0, &mut rng);
    let lstm = Lstm::<f32>::new(RnnConfig::new(I, H), &mut rng);
    let gru = Gru::<f32>::new(RnnConfig::new(I, H), &mut rng);
    println!("CPU time per step, N = {N}, I = {I}, H = {H}, T = {T}, forward + backward:");
    for (name, gates, layer) in [
        ("LSTM", 4, &lstm as &dyn Module<f32>),
        ("GRU", 3, &gru as &dyn Module<f32>),
    ] {
        let total = cpu_us_per_step(|| layer.forward(&x).sum().backward().unwrap());
        let w_ih = Tensor::<f32>::uniform(&[gates * H, I], -0.1, 0.1, &mut rng);
        let w_hh = Tensor::<f32>::uniform(&[gates * H, H], -0.1, 0.1, &mut rng);
        let mm = cpu_us_per_step(|| matmuls_only(gates, &x.value(), &w_ih, &w_hh, &h));
        println!(
            "  {name}: {total:.0} µs/step, its matmuls alone {mm:.0} µs/step, outside matmul {:.0}%",
            100.0 * (1.0 - mm / total)
        );
    }
}

criterion_group!(benches, recurrent);

fn main() {
    cpu_time_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
