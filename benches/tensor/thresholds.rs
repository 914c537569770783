//! The `thresholds` section: one thread against two across sizes, the data behind the
//! kernels' parallel thresholds.

use super::*;

use crate::paired::{paired, print_paired, Case};

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
pub(super) fn threshold_sweeps(pools: &Pools) {
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
