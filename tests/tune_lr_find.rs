//! The LR range test: on a linear regression whose best learning rate is known (the
//! inverse of the Hessian's eigenvalue), the minimum/10 suggestion lands within a factor
//! of 3 of it; and the model and optimizer are put back bit for bit.

use graft::data::{Targets, TensorDataset};
use graft::prelude::*;
use graft::train::losses;
use graft::tune::{lr_at, lr_find, suggestions, LrFindConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Standard-normal-ish features (sum of uniforms, variance 1) and exact linear targets:
/// the MSE's Hessian is `2·E[[x; 1][x; 1]ᵀ] ≈ 2·I`, so gradient descent's best learning
/// rate (one step to the minimum) is 0.5.
fn regression(n: usize, d: usize, seed: u64) -> TensorDataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let w: Vec<f32> = (0..d).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mut xs = Vec::with_capacity(n * d);
    let mut ys = Vec::with_capacity(n);
    for _ in 0..n {
        let x: Vec<f32> = (0..d)
            .map(|_| (0..3).map(|_| rng.gen_range(-1.0f32..1.0)).sum::<f32>())
            .collect();
        ys.push(x.iter().zip(&w).map(|(a, b)| a * b).sum::<f32>() + 0.5);
        xs.extend(x);
    }
    TensorDataset::new(
        Tensor::from_vec(xs, &[n, d]),
        Targets::Values(Tensor::from_vec(ys, &[n, 1])),
    )
    .unwrap()
}

fn linear(d: usize, seed: u64) -> Sequential {
    Sequential::new().add(Linear::new(d, 1, &mut StdRng::seed_from_u64(seed)))
}

#[test]
fn lr_schedule_is_fastais_exponential() {
    let c = LrFindConfig::default();
    assert_eq!(lr_at(&c, 0), 1e-7);
    let mid = lr_at(&c, 50);
    assert!(
        (mid / (1e-7f64 * 1e8f64.sqrt()) - 1.0).abs() < 1e-12,
        "{mid}"
    );
    assert!(lr_at(&c, 99) < 10.0);
}

#[test]
fn suggestions_follow_fastai_on_a_made_up_curve() {
    // 20 points; fastai drops the first 2 (num_iter / 10) and the last 5.
    let lrs: Vec<f64> = (0..20).map(|i| 10f64.powi(i - 10)).collect();
    let mut losses = vec![5.0; 20];
    for (i, l) in losses.iter_mut().enumerate() {
        *l = match i {
            0..=5 => 5.0,
            6 => 4.0,
            7 => 1.0, // steepest drop: between 6 and 7
            8 => 0.8,
            9 => 0.5, // minimum
            _ => 3.0,
        };
    }
    let (steep, min10) = suggestions(&lrs, &losses, 20);
    assert_eq!(steep, Some(lrs[6]));
    assert_eq!(min10, Some(lrs[9] / 10.0));
}

#[test]
fn suggestion_is_within_3x_of_the_known_best_lr() {
    let best = 0.5;
    for seed in 0..3 {
        let data = regression(4096, 8, seed);
        let model = linear(8, seed);
        let mut opt = Sgd::new(model.parameters(), SgdConfig::default()).unwrap();
        let config = LrFindConfig {
            start_lr: 1e-4,
            batch_size: 64,
            seed,
            ..LrFindConfig::default()
        };
        let r = lr_find(&model, &mut opt, &losses::mse, &data, &config).unwrap();
        let s = r.min_div10.unwrap();
        assert!(
            s > best / 3.0 && s < best * 3.0,
            "seed {seed}: minimum/10 suggests {s}, best is {best}"
        );
        assert!(r.diverged, "the sweep to lr 10 must diverge (lr > 2/λ = 1)");
        assert!(r.lrs.len() < 100);
    }
}

fn bits(model: &Sequential) -> Vec<Vec<u32>> {
    model
        .parameters()
        .iter()
        .map(|p| p.value().to_vec().iter().map(|x| x.to_bits()).collect())
        .collect()
}

#[test]
fn model_and_optimizer_are_restored_bit_for_bit() {
    let data = regression(512, 4, 7);
    let model = linear(4, 7);
    let mut opt = Adam::new(
        model.parameters(),
        AdamConfig {
            lr: 3e-3,
            ..AdamConfig::default()
        },
    )
    .unwrap();
    // Give Adam some state first.
    let config = FitConfig::new()
        .batch_size(32)
        .epochs(1)
        .verbosity(graft::train::Verbosity::Silent);
    fit(&model, &mut opt, &losses::mse, &data, config).unwrap();
    let (params, state, lr) = (bits(&model), opt.state_dict(), opt.lr());
    let r = lr_find(
        &model,
        &mut opt,
        &losses::mse,
        &data,
        &LrFindConfig {
            num_iter: 50,
            ..LrFindConfig::default()
        },
    )
    .unwrap();
    assert!(r.lrs.len() > 10);
    assert_eq!(bits(&model), params);
    assert_eq!(opt.state_dict(), state);
    assert_eq!(opt.lr(), lr);
    assert!(model.parameters().iter().all(|p| p.grad().is_none()));
}

#[test]
fn bad_settings_are_an_error() {
    let data = regression(64, 2, 0);
    let model = linear(2, 0);
    let mut opt = Sgd::new(model.parameters(), SgdConfig::default()).unwrap();
    let bad = LrFindConfig {
        start_lr: 1.0,
        end_lr: 0.1,
        ..LrFindConfig::default()
    };
    let e = lr_find(&model, &mut opt, &losses::mse, &data, &bad).unwrap_err();
    assert!(e.to_string().contains("lr_find"), "{e}");
}
