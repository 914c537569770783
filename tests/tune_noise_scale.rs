//! The gradient noise scale estimator on synthetic gradients with known mean G and
//! covariance Σ: B_simple = tr(Σ) / |G|² within 10% averaged over seeds.

use graft::tune::NoiseScaleEstimator;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u: f64 = rng.gen_range(1e-12..1.0);
    let v: f64 = rng.gen();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// Mean of `n` per-example gradients `G + σ ⊙ z`.
fn batch_grad(g: &[f64], sigma: &[f64], n: usize, rng: &mut StdRng) -> Vec<f64> {
    let mut sum = vec![0.0; g.len()];
    for _ in 0..n {
        for ((s, gi), si) in sum.iter_mut().zip(g).zip(sigma) {
            *s += gi + si * normal(rng);
        }
    }
    sum.iter().map(|s| s / n as f64).collect()
}

fn sq(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum()
}

#[test]
fn b_simple_matches_trace_sigma_over_g_squared() {
    let d = 40;
    let g: Vec<f64> = (0..d).map(|i| 0.05 * (1.0 + (i as f64).sin())).collect();
    let sigma: Vec<f64> = (0..d).map(|i| 0.3 + 0.2 * (i as f64 * 0.7).cos()).collect();
    let truth = sq(&sigma) / sq(&g);
    let (small, k) = (16, 8);
    let mut estimates = Vec::new();
    for seed in 0..5 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut est = NoiseScaleEstimator::new(0.95);
        for _ in 0..300 {
            // k batches of `small`: their per-batch norms, and the norm of their mean.
            let grads: Vec<Vec<f64>> = (0..k)
                .map(|_| batch_grad(&g, &sigma, small, &mut rng))
                .collect();
            let small_sq = grads.iter().map(|v| sq(v)).sum::<f64>() / k as f64;
            let mean: Vec<f64> = (0..d)
                .map(|j| grads.iter().map(|v| v[j]).sum::<f64>() / k as f64)
                .collect();
            est.update(small, small_sq, small * k, sq(&mean));
        }
        estimates.push(est.noise_scale().unwrap());
    }
    let mean = estimates.iter().sum::<f64>() / estimates.len() as f64;
    assert!(
        (mean / truth - 1.0).abs() < 0.10,
        "estimated {mean} (per seed {estimates:?}), true {truth}"
    );
}

#[test]
fn no_measurement_means_no_estimate() {
    let mut est = NoiseScaleEstimator::new(0.9);
    assert_eq!(est.noise_scale(), None);
    est.update(32, 1.0, 32, 1.0); // equal sizes: no information
    est.update(32, f64::NAN, 64, 1.0);
    assert_eq!(est.noise_scale(), None);
}

#[test]
fn one_exact_measurement_is_recovered() {
    // E|G_B|² = |G|² + S/B with |G|² = 2, S = 64: at 16 -> 6, at 64 -> 3.
    let mut est = NoiseScaleEstimator::new(0.0);
    est.update(16, 6.0, 64, 3.0);
    assert!((est.grad_sq().unwrap() - 2.0).abs() < 1e-12);
    assert!((est.trace_sigma().unwrap() - 64.0).abs() < 1e-9);
    assert!((est.noise_scale().unwrap() - 32.0).abs() < 1e-9);
}
