//! The `ratios` section: the matmul and 16M-element tables as interleaved paired
//! measurements, with ratios against raw sgemm / `copy_from_slice`.

use super::*;

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
pub(super) struct Case<'a> {
    name: String,
    mode: Mode,
    work: f64,
    f: Box<dyn Fn() + Sync + 'a>,
}

impl<'a> Case<'a> {
    pub(super) fn new<R>(
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
    pub(super) fn in_pool(mut self) -> Self {
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
pub(super) fn paired(cases: &[Case], rounds: usize, pools: &Pools) -> Vec<f64> {
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
pub(super) fn print_paired(
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
pub(super) fn ratios(pools: &Pools) {
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
