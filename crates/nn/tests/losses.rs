//! Losses beyond the fixtures: stability at extreme logits, a naive reference for the
//! class-index options the fixtures do not combine ([N, C, d] inputs with weights,
//! ignore_index and label smoothing), edge cases PyTorch defines (all samples ignored,
//! clamped BCE logs, zero KL targets), f32, and every error path: the `try_` form's
//! message names the loss and the shapes, and the plain form panics with that message.

use std::panic::{catch_unwind, AssertUnwindSafe};

use graft_autograd::Var;
use graft_nn::loss::{self, CrossEntropyOptions, KlDivReduction, NllLossOptions, Reduction};
use graft_tensor::{Result, Tensor};

fn t(v: Vec<f64>, shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(v, shape)
}

fn param(v: Vec<f64>, shape: &[usize]) -> Var<f64> {
    Var::parameter(t(v, shape))
}

fn idx(v: Vec<i64>, shape: &[usize]) -> Tensor<i64> {
    Tensor::from_vec(v, shape)
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

fn assert_all_close(actual: &[f64], expected: &[f64], tol: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(close(*a, *e, tol), "{what}[{i}]: {a} vs {e}");
    }
}

// ---------------------------------------------------------------- stability

#[test]
fn cross_entropy_of_logits_near_plus_minus_1000_is_finite_and_right() {
    let logits = param(
        vec![1000.0, -1000.0, 999.0, -1000.0, -999.0, -1001.0],
        &[2, 3],
    );
    let target = idx(vec![2, 1], &[2]);
    let l = loss::cross_entropy_with(
        &logits,
        &target,
        &CrossEntropyOptions {
            reduction: Reduction::None,
            ..Default::default()
        },
    );
    let e = std::f64::consts::E;
    let expected = [
        1.0 + (1.0 / e).ln_1p(),
        (1.0 + 1.0 / e + 1.0 / (e * e)).ln(),
    ];
    assert_all_close(&l.value().to_vec(), &expected, 1e-14, "per-sample loss");
    l.sum().backward().unwrap();
    let g = logits.grad().unwrap().to_vec();
    // softmax - onehot
    let (s0, s1) = (1.0 / (1.0 + 1.0 / e), 1.0 / (1.0 + e + e * e));
    let expected_g = [s0, 0.0, s0 / e - 1.0, s1 * e, s1 * e * e - 1.0, s1];
    assert_all_close(&g, &expected_g, 1e-14, "gradient");

    // Same in f32, and with smoothing and probability targets.
    let logits32 = Var::parameter(Tensor::from_vec(vec![1000.0f32, -1000.0, 999.0], &[1, 3]));
    let l32 = loss::cross_entropy(&logits32, &idx(vec![2], &[1]));
    // Exact to f32 rounding, not to an ulp of 1000 (6e-5).
    assert!((l32.item() - 1.313_261_7f32).abs() < 1e-6, "{}", l32.item());
    l32.backward().unwrap();
    assert!(logits32
        .grad()
        .unwrap()
        .to_vec()
        .iter()
        .all(|g| g.is_finite()));
    let smoothed = loss::cross_entropy_with(
        &logits,
        &target,
        &CrossEntropyOptions {
            label_smoothing: 0.1,
            ..Default::default()
        },
    );
    let (a, b) = ((1.0 / e).ln_1p(), (1.0 + 1.0 / e + 1.0 / (e * e)).ln());
    let lp = [[-a, -2000.0 - a, -1.0 - a], [-1.0 - b, -b, -2.0 - b]];
    let smooth = |row: [f64; 3], t: usize| 0.9 * -row[t] + 0.1 * -(row.iter().sum::<f64>() / 3.0);
    let expected_smoothed = (smooth(lp[0], 2) + smooth(lp[1], 1)) / 2.0;
    assert!(
        close(smoothed.item(), expected_smoothed, 1e-14),
        "{}",
        smoothed.item()
    );
    let probs = Var::new(t(vec![0.0, 0.0, 1.0, 0.0, 1.0, 0.0], &[2, 3]));
    let soft = loss::cross_entropy_probs_with(
        &logits,
        &probs,
        &CrossEntropyOptions {
            reduction: Reduction::None,
            ..Default::default()
        },
    );
    assert_all_close(
        &soft.value().to_vec(),
        &expected,
        1e-14,
        "probability targets",
    );
}

#[test]
fn bce_with_logits_is_exact_for_huge_logits_and_smooth_at_zero() {
    let x = param(vec![1000.0, -1000.0, 1000.0, -1000.0, 0.0, 0.0], &[6]);
    let target = Var::new(t(vec![1.0, 1.0, 0.0, 0.0, 1.0, 0.0], &[6]));
    let l = loss::binary_cross_entropy_with_logits(&x, &target, None, Reduction::None);
    let ln2 = std::f64::consts::LN_2;
    assert_all_close(
        &l.value().to_vec(),
        &[0.0, 1000.0, 1000.0, 0.0, ln2, ln2],
        1e-15,
        "loss",
    );
    l.sum().backward().unwrap();
    // d/dx = sigmoid(x) - t, exact at 0 (where |x| and max(x, 0) have kinks).
    assert_all_close(
        &x.grad().unwrap().to_vec(),
        &[0.0, -1.0, 1.0, 0.0, -0.5, 0.5],
        1e-15,
        "gradient",
    );
    // pos_weight scales the positive term: at x = 0, t = 1: pw·ln 2, gradient -pw/2.
    let pw = t(vec![3.0], &[1]);
    let x0 = param(vec![0.0], &[1]);
    let l = loss::binary_cross_entropy_with_logits(
        &x0,
        &Var::new(t(vec![1.0], &[1])),
        Some(&pw),
        Reduction::Sum,
    );
    assert!(close(l.item(), 3.0 * ln2, 1e-15));
    l.backward().unwrap();
    assert!(close(x0.grad().unwrap().to_vec()[0], -1.5, 1e-15));
}

#[test]
fn binary_cross_entropy_clamps_logs_at_minus_100_without_nan_gradients() {
    let p = param(vec![0.0, 1.0, 0.0, 1.0, 0.5], &[5]);
    let target = Var::parameter(t(vec![1.0, 0.0, 0.0, 1.0, 0.25], &[5]));
    let l = loss::binary_cross_entropy(&p, &target, Reduction::None);
    let ln2 = std::f64::consts::LN_2;
    assert_all_close(
        &l.value().to_vec(),
        &[100.0, 100.0, 0.0, 0.0, ln2],
        1e-15,
        "loss",
    );
    l.sum().backward().unwrap();
    for g in [p.grad().unwrap(), target.grad().unwrap()] {
        assert!(g.to_vec().iter().all(|v| v.is_finite()), "{g:?}");
    }
    // d/dt = log(1 - p) - log(p), with the clamped logs: ±100 at the ends.
    assert_all_close(
        &target.grad().unwrap().to_vec(),
        &[100.0, -100.0, 100.0, -100.0, 0.0],
        1e-15,
        "target gradient",
    );
}

#[test]
fn kl_div_treats_zero_targets_as_zero_contribution() {
    let input = param(vec![-1.0, -2.0, -0.5], &[1, 3]);
    let target = Var::parameter(t(vec![0.0, 0.75, 0.25], &[1, 3]));
    let l = loss::kl_div(&input, &target, KlDivReduction::Sum, false);
    let expected = 0.75 * (0.75f64.ln() + 2.0) + 0.25 * (0.25f64.ln() + 0.5);
    assert!(close(l.item(), expected, 1e-15));
    l.backward().unwrap();
    assert!(target
        .grad()
        .unwrap()
        .to_vec()
        .iter()
        .all(|g| g.is_finite()));
    assert_all_close(
        &input.grad().unwrap().to_vec(),
        &[0.0, -0.75, -0.25],
        1e-15,
        "input grad",
    );
    // batchmean divides by the batch size, mean by the element count.
    let x = param(vec![-1.0, -2.0, -0.5, -0.1], &[2, 2]);
    let y = Var::new(t(vec![0.5, 0.5, 0.9, 0.1], &[2, 2]));
    let sum = loss::kl_div(&x, &y, KlDivReduction::Sum, false).item();
    assert!(close(
        loss::kl_div(&x, &y, KlDivReduction::BatchMean, false).item(),
        sum / 2.0,
        1e-15
    ));
    assert!(close(
        loss::kl_div(&x, &y, KlDivReduction::Mean, false).item(),
        sum / 4.0,
        1e-15
    ));
    assert_eq!(KlDivReduction::from(Reduction::Sum), KlDivReduction::Sum);
}

// ---------------------------------------------------------------- naive reference

/// PyTorch's class-index cross-entropy, written out loop by loop on `[N, C, D]` logits.
fn reference_ce(
    x: &[f64],
    (n, c, d): (usize, usize, usize),
    target: &[i64],
    weight: Option<&[f64]>,
    ignore: i64,
    ls: f64,
) -> (Vec<f64>, f64) {
    let mut losses = vec![0.0; n * d];
    let mut total_w = 0.0;
    for i in 0..n {
        for k in 0..d {
            let at = |cls: usize| x[(i * c + cls) * d + k];
            let m = (0..c).map(at).fold(f64::NEG_INFINITY, f64::max);
            let lse = m + (0..c).map(|cls| (at(cls) - m).exp()).sum::<f64>().ln();
            let lp = |cls: usize| at(cls) - lse;
            let tgt = target[i * d + k];
            if tgt == ignore {
                continue;
            }
            let w = |cls: usize| weight.map_or(1.0, |w| w[cls]);
            let t = tgt as usize;
            let smooth: f64 = -(0..c).map(|cls| w(cls) * lp(cls)).sum::<f64>() / c as f64;
            losses[i * d + k] = (1.0 - ls) * (-w(t) * lp(t)) + ls * smooth;
            total_w += w(t);
        }
    }
    (losses, total_w)
}

#[test]
fn cross_entropy_on_n_c_d_with_weights_ignore_and_smoothing_matches_a_naive_reference() {
    let (n, c, d) = (3, 4, 5);
    let x: Vec<f64> = (0..n * c * d)
        .map(|i| ((i * 37 % 23) as f64 - 11.0) * 0.3)
        .collect();
    let target: Vec<i64> = (0..n * d).map(|i| [0, 3, -100, 1, 2, 2][i % 6]).collect();
    let weight = [0.5, 2.0, 1.0, 1.5];
    for (weight, ignore, ls) in [
        (None, -100, 0.0),
        (Some(&weight[..]), -100, 0.0),
        (Some(&weight[..]), 2, 0.25),
        (None, 3, 0.1),
    ] {
        // -100 marks the samples to ignore: it becomes `ignore` (a real class id or -100).
        let labels: Vec<i64> = target
            .iter()
            .map(|&v| if v == -100 { ignore } else { v })
            .collect();
        let (ref_losses, total_w) = reference_ce(&x, (n, c, d), &labels, weight, ignore, ls);
        let input = Var::new(t(x.clone(), &[n, c, d]));
        let tt = idx(labels, &[n, d]);
        let opts = |reduction| CrossEntropyOptions {
            weight: weight.map(|w| t(w.to_vec(), &[c])),
            ignore_index: ignore,
            label_smoothing: ls,
            reduction,
        };
        let none = loss::cross_entropy_with(&input, &tt, &opts(Reduction::None));
        assert_eq!(none.shape(), &[n, d]);
        assert_all_close(&none.value().to_vec(), &ref_losses, 1e-13, "none");
        let sum: f64 = ref_losses.iter().sum();
        let s = loss::cross_entropy_with(&input, &tt, &opts(Reduction::Sum)).item();
        assert!(close(s, sum, 1e-13), "sum {s} vs {sum}");
        let m = loss::cross_entropy_with(&input, &tt, &opts(Reduction::Mean)).item();
        assert!(
            close(m, sum / total_w, 1e-13),
            "mean {m} vs {}",
            sum / total_w
        );
        if ls == 0.0 {
            // nll_loss on log_softmax is the same loss.
            let nll = loss::nll_loss_with(
                &input.log_softmax(1),
                &tt,
                &NllLossOptions {
                    weight: weight.map(|w| t(w.to_vec(), &[c])),
                    ignore_index: ignore,
                    reduction: Reduction::Mean,
                },
            );
            assert!(close(nll.item(), m, 1e-13));
        }
    }
}

#[test]
fn unbatched_cross_entropy_equals_a_batch_of_one() {
    let row = vec![0.3, -1.2, 2.0, 0.7];
    let one = loss::cross_entropy_with(
        &Var::new(t(row.clone(), &[4])),
        &Tensor::scalar(2i64),
        &CrossEntropyOptions {
            reduction: Reduction::None,
            label_smoothing: 0.2,
            ..Default::default()
        },
    );
    assert_eq!(one.shape(), &[] as &[usize]);
    let batch = loss::cross_entropy_with(
        &Var::new(t(row, &[1, 4])),
        &idx(vec![2], &[1]),
        &CrossEntropyOptions {
            label_smoothing: 0.2,
            ..Default::default()
        },
    );
    assert!(close(one.item(), batch.item(), 1e-15));
}

#[test]
fn all_ignored_mean_is_nan_and_sum_is_zero_as_in_pytorch() {
    let x = Var::new(t(vec![0.1, 0.2, 0.3, 0.4], &[2, 2]));
    let target = idx(vec![-100, -100], &[2]);
    assert!(loss::cross_entropy(&x, &target).item().is_nan());
    let sum = loss::cross_entropy_with(
        &x,
        &target,
        &CrossEntropyOptions {
            reduction: Reduction::Sum,
            ..Default::default()
        },
    );
    assert_eq!(sum.item(), 0.0);
}

#[test]
fn regression_losses_relate_as_documented() {
    let x = param(vec![0.1, -0.4, 2.0, -3.0, 0.25], &[5]);
    let y = Var::new(t(vec![0.0, 0.0, 0.0, 0.0, 0.0], &[5]));
    for beta in [0.3, 1.0, 2.5] {
        let huber = loss::huber_loss(&x, &y, beta, Reduction::None)
            .value()
            .to_vec();
        let smooth = loss::smooth_l1_loss(&x, &y, beta, Reduction::None)
            .value()
            .to_vec();
        let scaled: Vec<f64> = huber.iter().map(|h| h / beta).collect();
        assert_all_close(&smooth, &scaled, 1e-15, "smooth_l1 = huber / beta");
    }
    let l1 = loss::l1_loss(&x, &y, Reduction::Sum).item();
    assert!(close(
        loss::smooth_l1_loss(&x, &y, 0.0, Reduction::Sum).item(),
        l1,
        1e-15
    ));
    assert!(close(l1, 5.75, 1e-15));
    let mse = loss::mse_loss(&x, &y, Reduction::Mean).item();
    assert!(close(mse, (0.01 + 0.16 + 4.0 + 9.0 + 0.0625) / 5.0, 1e-15));
    assert_eq!(Reduction::default(), Reduction::Mean);
    let o = CrossEntropyOptions::<f32>::default();
    assert_eq!(
        (o.ignore_index, o.label_smoothing, o.reduction),
        (-100, 0.0, Reduction::Mean)
    );
    assert!(o.weight.is_none());
}

#[test]
fn losses_work_in_f32() {
    let x = Var::parameter(Tensor::from_vec(vec![0.5f32, -0.5, 1.5, 0.0], &[2, 2]));
    let y = Var::new(Tensor::from_vec(vec![1.0f32, 0.0, 1.0, 1.0], &[2, 2]));
    let total = loss::mse_loss(&x, &y, Reduction::Mean)
        + loss::binary_cross_entropy_with_logits(&x, &y, None, Reduction::Mean)
        + loss::cross_entropy(&x, &idx(vec![1, 0], &[2]));
    total.backward().unwrap();
    assert!(total.item().is_finite());
    assert!(x.grad().unwrap().to_vec().iter().all(|g| g.is_finite()));
}

// ---------------------------------------------------------------- errors

/// Asserts the `try_` form fails naming the loss and each fragment, and that `plain`
/// panics with exactly the same message.
fn expect_error(result: Result<Var<f64>>, plain: impl FnOnce() -> Var<f64>, fragments: &[&str]) {
    let message = match result {
        Ok(v) => panic!("expected an error, got a loss of shape {:?}", v.shape()),
        Err(e) => e.to_string(),
    };
    for f in fragments {
        assert!(message.contains(f), "`{message}` does not mention `{f}`");
    }
    let panic = catch_unwind(AssertUnwindSafe(plain)).expect_err("the plain form must panic");
    let panic_message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("a string panic");
    assert_eq!(panic_message, message);
}

#[test]
fn shape_mismatches_name_the_loss_and_both_shapes() {
    let a = Var::new(Tensor::<f64>::zeros(&[4, 3]));
    let b = Var::new(Tensor::<f64>::zeros(&[4]));
    let shapes = ["[4, 3]", "[4]"];
    let r = Reduction::Mean;
    let with = |name: &'static str| [name, shapes[0], shapes[1]];
    expect_error(
        loss::try_mse_loss(&a, &b, r),
        || loss::mse_loss(&a, &b, r),
        &with("mse_loss"),
    );
    expect_error(
        loss::try_l1_loss(&a, &b, r),
        || loss::l1_loss(&a, &b, r),
        &with("l1_loss"),
    );
    expect_error(
        loss::try_huber_loss(&a, &b, 1.0, r),
        || loss::huber_loss(&a, &b, 1.0, r),
        &with("huber_loss"),
    );
    expect_error(
        loss::try_smooth_l1_loss(&a, &b, 1.0, r),
        || loss::smooth_l1_loss(&a, &b, 1.0, r),
        &with("smooth_l1_loss"),
    );
    expect_error(
        loss::try_binary_cross_entropy(&a, &b, r),
        || loss::binary_cross_entropy(&a, &b, r),
        &with("binary_cross_entropy"),
    );
    expect_error(
        loss::try_binary_cross_entropy_with_logits(&a, &b, None, r),
        || loss::binary_cross_entropy_with_logits(&a, &b, None, r),
        &with("binary_cross_entropy_with_logits"),
    );
    expect_error(
        loss::try_kl_div(&a, &b, KlDivReduction::BatchMean, false),
        || loss::kl_div(&a, &b, KlDivReduction::BatchMean, false),
        &with("kl_div"),
    );
    expect_error(
        loss::try_cross_entropy_probs(&a, &b),
        || loss::cross_entropy_probs(&a, &b),
        &with("cross_entropy"),
    );
}

#[test]
fn class_target_errors_name_the_loss_shapes_and_class() {
    let x = Var::new(Tensor::<f64>::zeros(&[6, 5]));
    // Wrong target shape.
    let bad_shape = idx(vec![0; 5], &[5]);
    expect_error(
        loss::try_cross_entropy(&x, &bad_shape),
        || loss::cross_entropy(&x, &bad_shape),
        &[
            "cross_entropy",
            "[5]",
            "[6, 5]",
            "expected target shape [6]",
        ],
    );
    expect_error(
        loss::try_nll_loss(&x, &bad_shape),
        || loss::nll_loss(&x, &bad_shape),
        &["nll_loss", "[5]", "[6, 5]"],
    );
    let x3 = Var::new(Tensor::<f64>::zeros(&[2, 5, 3]));
    let t3 = idx(vec![0; 6], &[2, 3, 1]);
    expect_error(
        loss::try_cross_entropy(&x3, &t3),
        || loss::cross_entropy(&x3, &t3),
        &[
            "cross_entropy",
            "[2, 3, 1]",
            "[2, 5, 3]",
            "expected target shape [2, 3]",
        ],
    );
    // Class out of range, and negative classes that are not ignore_index.
    for bad in [5i64, -1, -100] {
        let tgt = idx(vec![0, 1, 2, bad, 4, 0], &[6]);
        let opts = CrossEntropyOptions {
            ignore_index: 3,
            ..Default::default()
        };
        expect_error(
            loss::try_cross_entropy_with(&x, &tgt, &opts),
            || loss::cross_entropy_with(&x, &tgt, &opts),
            &[
                "cross_entropy",
                &format!("target class {bad}"),
                "5 classes",
                "[6, 5]",
                "[6]",
            ],
        );
        let nll_opts = NllLossOptions {
            ignore_index: 3,
            ..Default::default()
        };
        expect_error(
            loss::try_nll_loss_with(&x, &tgt, &nll_opts),
            || loss::nll_loss_with(&x, &tgt, &nll_opts),
            &["nll_loss", &format!("target class {bad}"), "[6, 5]"],
        );
    }
    // Class weights of the wrong size.
    let tgt = idx(vec![0; 6], &[6]);
    let opts = CrossEntropyOptions {
        weight: Some(Tensor::ones(&[4])),
        ..Default::default()
    };
    expect_error(
        loss::try_cross_entropy_with(&x, &tgt, &opts),
        || loss::cross_entropy_with(&x, &tgt, &opts),
        &["cross_entropy", "weight shape [4]", "[6, 5]"],
    );
    let probs = Var::new(Tensor::<f64>::zeros(&[6, 5]));
    expect_error(
        loss::try_cross_entropy_probs_with(&x, &probs, &opts),
        || loss::cross_entropy_probs_with(&x, &probs, &opts),
        &["cross_entropy", "weight shape [4]", "[6, 5]"],
    );
    // 0-d input.
    let scalar = Var::new(Tensor::scalar(1.0f64));
    let t0 = Tensor::scalar(0i64);
    expect_error(
        loss::try_cross_entropy(&scalar, &t0),
        || loss::cross_entropy(&scalar, &t0),
        &["cross_entropy", "[C], [N, C]", "got []"],
    );
}

#[test]
fn bad_parameters_are_errors_naming_the_loss() {
    let a = Var::new(Tensor::<f64>::zeros(&[2, 3]));
    let r = Reduction::Sum;
    for delta in [0.0, -1.0, f64::NAN] {
        expect_error(
            loss::try_huber_loss(&a, &a, delta, r),
            || loss::huber_loss(&a, &a, delta, r),
            &["huber_loss", "delta must be positive", "[2, 3]"],
        );
    }
    expect_error(
        loss::try_smooth_l1_loss(&a, &a, -0.5, r),
        || loss::smooth_l1_loss(&a, &a, -0.5, r),
        &["smooth_l1_loss", "beta must be >= 0", "[2, 3]"],
    );
    let tgt = idx(vec![0, 1], &[2]);
    for ls in [-0.1, 1.5] {
        let opts = CrossEntropyOptions {
            label_smoothing: ls,
            ..Default::default()
        };
        expect_error(
            loss::try_cross_entropy_with(&a, &tgt, &opts),
            || loss::cross_entropy_with(&a, &tgt, &opts),
            &[
                "cross_entropy",
                "label_smoothing must be in [0, 1]",
                "[2, 3]",
            ],
        );
    }
    let p = Var::new(t(vec![0.5, 1.5, 0.2, 0.1, 0.3, 0.4], &[2, 3]));
    expect_error(
        loss::try_binary_cross_entropy(&p, &a, r),
        || loss::binary_cross_entropy(&p, &a, r),
        &["binary_cross_entropy", "between 0 and 1", "1.5", "[2, 3]"],
    );
    let pw = Tensor::<f64>::ones(&[2]);
    expect_error(
        loss::try_binary_cross_entropy_with_logits(&a, &a, Some(&pw), r),
        || loss::binary_cross_entropy_with_logits(&a, &a, Some(&pw), r),
        &[
            "binary_cross_entropy_with_logits",
            "pos_weight shape [2]",
            "[2, 3]",
        ],
    );
}
