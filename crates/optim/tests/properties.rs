//! Property tests of the update rules and clipping against naive references.

use graft_optim::rules::{adam_step, AdamConfig, RmspropConfig, SgdConfig, UpdateRule};
use graft_optim::{clip_grad_norm_slices, total_norm};
use proptest::prelude::*;

fn values(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-10.0f64..10.0, len)
}

/// Vectors of equal length, for a parameter and its gradient.
fn param_and_grad() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    (1usize..64).prop_flat_map(|n| (values(n..n + 1), values(n..n + 1)))
}

proptest! {
    #[test]
    fn plain_sgd_is_exactly_p_minus_lr_g((p, g) in param_and_grad(), lr in 0.0f64..1.0) {
        let config = SgdConfig { lr, ..SgdConfig::default() };
        let mut updated = p.clone();
        let mut state = config.init_state::<f64>(p.len());
        config.update(&mut updated, &g, &mut state);
        for i in 0..p.len() {
            prop_assert_eq!(updated[i], p[i] - lr * g[i]);
        }
        // The same in f32.
        let p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
        let g32: Vec<f32> = g.iter().map(|&x| x as f32).collect();
        let mut u32s = p32.clone();
        let mut state = config.init_state::<f32>(p.len());
        config.update(&mut u32s, &g32, &mut state);
        for i in 0..p.len() {
            prop_assert_eq!(u32s[i], p32[i] - lr as f32 * g32[i]);
        }
    }

    #[test]
    fn adams_first_step_moves_each_coordinate_by_about_lr(
        (p, g) in param_and_grad(),
        lr in 1e-4f64..1e-1,
        beta1 in 0.0f64..0.99,
        beta2 in 0.0f64..0.9999,
    ) {
        // Keep |g| well above eps so the step is lr * g / |g| up to eps.
        let g: Vec<f64> = g.iter().map(|&x| if x.abs() < 1e-3 { 1e-3 } else { x }).collect();
        let config = AdamConfig { lr, betas: (beta1, beta2), ..AdamConfig::default() };
        let mut updated = p.clone();
        let mut state = config.init_state::<f64>(p.len());
        config.update(&mut updated, &g, &mut state);
        for i in 0..p.len() {
            let moved = updated[i] - p[i];
            prop_assert!((moved + lr * g[i].signum()).abs() <= lr * 1e-4,
                "coordinate {} moved {} for gradient {} and lr {}", i, moved, g[i], lr);
        }
    }

    #[test]
    fn clipped_gradients_have_at_most_max_norm(
        a in values(1..20),
        b in values(1..20),
        max_norm in 0.01f64..20.0,
    ) {
        let (mut a, mut b) = (a, b);
        let before = total_norm(&[&a, &b], 2.0).unwrap();
        let reported = clip_grad_norm_slices(&mut [&mut a[..], &mut b[..]], max_norm, 2.0).unwrap();
        prop_assert_eq!(reported, before);
        let after = total_norm(&[&a, &b], 2.0).unwrap();
        prop_assert!(after <= max_norm.max(before) * (1.0 + 1e-12));
        if before > max_norm {
            prop_assert!((after - max_norm).abs() <= 1e-5 * max_norm + 1e-6);
        } else {
            prop_assert_eq!(after, before);
        }
    }

    #[test]
    fn f32_and_f64_adam_agree((p, g) in param_and_grad()) {
        let config = AdamConfig { lr: 0.01, weight_decay: 0.1, amsgrad: true, ..AdamConfig::default() };
        let mut p64 = p.clone();
        let mut p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
        let g32: Vec<f32> = g.iter().map(|&x| x as f32).collect();
        let mut s64 = config.init_state::<f64>(p.len());
        let mut s32 = config.init_state::<f32>(p.len());
        for _ in 0..5 {
            config.update(&mut p64, &g, &mut s64);
            config.update(&mut p32, &g32, &mut s32);
        }
        for i in 0..p.len() {
            prop_assert!((p32[i] as f64 - p64[i]).abs() <= 1e-5 * (1.0 + p64[i].abs()));
        }
    }
}

/// Long slices are updated in parallel chunks; the result must equal updating small
/// pieces one by one on this thread.
#[test]
fn parallel_updates_equal_serial_ones() {
    let n = 300_007;
    let p: Vec<f64> = (0..n)
        .map(|i| ((i * 7919) % 2001) as f64 * 1e-3 - 1.0)
        .collect();
    let g: Vec<f64> = (0..n)
        .map(|i| ((i * 104_729) % 1999) as f64 * 1e-3 - 1.0)
        .collect();
    let config = AdamConfig {
        amsgrad: true,
        weight_decay: 0.01,
        ..AdamConfig::adamw()
    };

    let mut whole = p.clone();
    let mut state = config.init_state::<f64>(n);
    for _ in 0..3 {
        config.update(&mut whole, &g, &mut state);
    }

    let mut pieces = p.clone();
    for (pp, gg) in pieces.chunks_mut(1000).zip(g.chunks(1000)) {
        let mut s = config.init_state::<f64>(pp.len());
        for _ in 0..3 {
            config.update(pp, gg, &mut s);
        }
    }
    assert!(whole == pieces, "parallel and serial Adam updates differ");

    // The same for a rule with optional buffers, through the raw kernel interface too.
    let rms = RmspropConfig {
        centered: true,
        momentum: 0.9,
        ..RmspropConfig::default()
    };
    let mut whole = p.clone();
    let mut state = rms.init_state::<f64>(n);
    rms.update(&mut whole, &g, &mut state);
    let mut pieces = p.clone();
    for (pp, gg) in pieces.chunks_mut(777).zip(g.chunks(777)) {
        let mut s = rms.init_state::<f64>(pp.len());
        rms.update(pp, gg, &mut s);
    }
    assert!(
        whole == pieces,
        "parallel and serial RMSprop updates differ"
    );

    // The raw kernel on long slices agrees with the rule's own update.
    let adam = AdamConfig::default();
    let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
    let mut raw = p.clone();
    adam_step(&mut raw, &g, &mut m, &mut v, None, &adam, 1);
    let mut via_rule = p.clone();
    let mut state = adam.init_state::<f64>(n);
    adam.update(&mut via_rule, &g, &mut state);
    assert!(raw == via_rule && m == state.exp_avg && v == state.exp_avg_sq);
}
