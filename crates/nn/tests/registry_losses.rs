//! The loss registry: every loss, with every reduction at least once, as an autograd
//! `OpEntry`, run through gradcheck, gradgradcheck (where the loss is twice
//! differentiable at the inputs) and the non-contiguous-input consistency check, in f64.
//!
//! Inputs keep away from kinks: l1 and smooth-l1 with beta 0 have |input - target| >= 0.1
//! (and are first order only: their second derivative is 0 almost everywhere), Huber and
//! smooth-L1 keep |d| at least 0.05 from delta/beta. BCE-with-logits deliberately includes
//! a logit of exactly 0, where a `max(x, 0)`/`|x|` formulation would have a wrong gradient.

use graft_autograd::testing::{check_registry, OpEntry};
use graft_autograd::GradcheckOptions;
use graft_nn::loss::{self, CrossEntropyOptions, KlDivReduction, NllLossOptions, Reduction};
use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn rand_in(shape: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor<f64> {
    Tensor::uniform(shape, lo, hi, &mut StdRng::seed_from_u64(seed))
}

fn r(shape: &[usize], seed: u64) -> Tensor<f64> {
    rand_in(shape, -1.0, 1.0, seed)
}

/// `base - d` where each |d| lies in one of the given bands (alternating), with a random sign.
fn offset_target(base: &Tensor<f64>, bands: &[(f64, f64)], seed: u64) -> Tensor<f64> {
    let u = rand_in(base.shape(), 0.0, 1.0, seed).to_vec();
    let s = rand_in(base.shape(), -1.0, 1.0, seed + 1).to_vec();
    let b = base.to_vec();
    let v = (0..b.len())
        .map(|i| {
            let (lo, hi) = bands[i % bands.len()];
            let d = (lo + (hi - lo) * u[i]) * if s[i] < 0.0 { -1.0 } else { 1.0 };
            b[i] - d
        })
        .collect();
    Tensor::from_vec(v, base.shape())
}

/// Positive values that sum to 1 along dim 1.
fn probs(shape: &[usize], seed: u64) -> Tensor<f64> {
    let u = rand_in(shape, 0.1, 1.0, seed);
    u.try_div(&u.try_sum_dims(&[1], true).unwrap()).unwrap()
}

trait LogSoftmaxRows {
    fn log_softmax_rows(&self) -> Tensor<f64>;
}

impl LogSoftmaxRows for Tensor<f64> {
    /// log_softmax along dim 1 (inputs for nll_loss and kl_div's log_target).
    fn log_softmax_rows(&self) -> Tensor<f64> {
        self.try_sub(&self.try_logsumexp_dims(&[1], true).unwrap())
            .unwrap()
    }
}

fn idx(v: Vec<i64>, shape: &[usize]) -> Tensor<i64> {
    Tensor::from_vec(v, shape)
}

fn name(loss: &str, reduction: Reduction) -> &'static str {
    Box::leak(
        format!("{loss} {reduction:?}")
            .to_lowercase()
            .into_boxed_str(),
    )
}

fn ce_options(
    weight: Option<Tensor<f64>>,
    ignore_index: i64,
    label_smoothing: f64,
    reduction: Reduction,
) -> CrossEntropyOptions<f64> {
    CrossEntropyOptions {
        weight,
        ignore_index,
        label_smoothing,
        reduction,
    }
}

/// Every loss with reduction `red`, its options varied across the variants.
fn entries_for(red: Reduction, seed: u64) -> Vec<OpEntry> {
    let x = r(&[3, 4], seed);
    let l1_target = offset_target(&x, &[(0.1, 0.9)], seed + 1);
    let huber_target = offset_target(&x, &[(0.05, 0.45), (0.55, 1.5)], seed + 2);
    let smooth_target = offset_target(&x, &[(0.1, 0.95), (1.05, 2.0)], seed + 3);
    let logits = r(&[4, 5], seed + 4).mul_scalar(2.0);
    let labels = idx(vec![1, -100, 4, 2], &[4]);
    let class_w = rand_in(&[5], 0.5, 2.0, seed + 5);
    let logits3d = r(&[2, 4, 3], seed + 6).mul_scalar(2.0);
    let labels3d = idx(vec![0, 1, 3, 2, 1, 0], &[2, 3]);
    let class_w4 = rand_in(&[4], 0.5, 2.0, seed + 7);
    let probs_t = probs(&[4, 5], seed + 8);
    let probs3d_t = probs(&[2, 4, 3], seed + 9);
    let logp = r(&[4, 5], seed + 10).log_softmax_rows();
    let p = rand_in(&[3, 4], 0.1, 0.9, seed + 11);
    let soft_t = rand_in(&[3, 4], 0.0, 1.0, seed + 12);
    let mut logit_values = r(&[3, 4], seed + 13).mul_scalar(3.0).to_vec();
    logit_values[0] = 0.0; // smooth at 0: checked, not avoided
    logit_values[5] = 30.0;
    logit_values[7] = -30.0;
    let logits_bce = Tensor::from_vec(logit_values, &[3, 4]);
    let pos_w = rand_in(&[4], 0.5, 3.0, seed + 14);
    let kl_t = probs(&[4, 5], seed + 15);
    let kl_log_t = r(&[4, 5], seed + 16).log_softmax_rows();
    let kl_red = KlDivReduction::from(red);

    let (labels_a, labels_b, labels3d_a) = (labels.clone(), labels.clone(), labels3d.clone());
    let (class_w_a, class_w4_a) = (class_w.clone(), class_w4.clone());
    vec![
        OpEntry::new(
            name("mse_loss", red),
            vec![x.clone(), r(&[3, 4], seed + 20)],
            move |v| loss::mse_loss(&v[0], &v[1], red),
        ),
        OpEntry::new(
            name("l1_loss", red),
            vec![x.clone(), l1_target.clone()],
            move |v| loss::l1_loss(&v[0], &v[1], red),
        )
        .first_order_only(),
        OpEntry::new(
            name("huber_loss d0.5", red),
            vec![x.clone(), huber_target.clone()],
            move |v| loss::huber_loss(&v[0], &v[1], 0.5, red),
        ),
        OpEntry::new(
            name("huber_loss d1", red),
            vec![x.clone(), smooth_target.clone()],
            move |v| loss::huber_loss(&v[0], &v[1], 1.0, red),
        ),
        OpEntry::new(
            name("smooth_l1_loss b0.5", red),
            vec![x.clone(), huber_target],
            move |v| loss::smooth_l1_loss(&v[0], &v[1], 0.5, red),
        ),
        OpEntry::new(
            name("smooth_l1_loss b1", red),
            vec![x.clone(), smooth_target],
            move |v| loss::smooth_l1_loss(&v[0], &v[1], 1.0, red),
        ),
        OpEntry::new(
            name("smooth_l1_loss b0", red),
            vec![x, l1_target],
            move |v| loss::smooth_l1_loss(&v[0], &v[1], 0.0, red),
        )
        .first_order_only(),
        OpEntry::new(
            name("cross_entropy plain", red),
            vec![logits.clone()],
            move |v| {
                let labels = idx(vec![1, 0, 4, 2], &[4]);
                loss::cross_entropy_with(&v[0], &labels, &ce_options(None, -100, 0.0, red))
            },
        ),
        OpEntry::new(
            name("cross_entropy weight ignore ls", red),
            vec![logits.clone()],
            move |v| {
                let options = ce_options(Some(class_w_a.clone()), -100, 0.2, red);
                loss::cross_entropy_with(&v[0], &labels_a, &options)
            },
        ),
        OpEntry::new(
            name("cross_entropy [n,c,d] weight ignore=class ls", red),
            vec![logits3d.clone()],
            move |v| {
                let options = ce_options(Some(class_w4_a.clone()), 1, 0.1, red);
                loss::cross_entropy_with(&v[0], &labels3d_a, &options)
            },
        ),
        OpEntry::new(
            name("cross_entropy unbatched", red),
            vec![r(&[5], seed + 21)],
            move |v| {
                loss::cross_entropy_with(
                    &v[0],
                    &Tensor::scalar(3i64),
                    &ce_options(None, -100, 0.1, red),
                )
            },
        ),
        OpEntry::new(
            name("cross_entropy probs ls", red),
            vec![logits.clone(), probs_t],
            move |v| {
                loss::cross_entropy_probs_with(&v[0], &v[1], &ce_options(None, -100, 0.1, red))
            },
        ),
        OpEntry::new(
            name("cross_entropy probs [n,c,d] weight", red),
            vec![logits3d, probs3d_t],
            move |v| {
                let options = ce_options(Some(class_w4.clone()), -100, 0.0, red);
                loss::cross_entropy_probs_with(&v[0], &v[1], &options)
            },
        ),
        OpEntry::new(
            name("nll_loss weight ignore", red),
            vec![logp.clone()],
            move |v| {
                let options = NllLossOptions {
                    weight: Some(class_w.clone()),
                    ignore_index: -100,
                    reduction: red,
                };
                loss::nll_loss_with(&v[0], &labels_b, &options)
            },
        ),
        OpEntry::new(
            name("nll_loss [n,c,d] ignore=class", red),
            vec![r(&[2, 4, 3], seed + 22)],
            move |v| {
                let options = NllLossOptions {
                    weight: None,
                    ignore_index: 2,
                    reduction: red,
                };
                loss::nll_loss_with(&v[0], &labels3d, &options)
            },
        ),
        OpEntry::new(
            name("binary_cross_entropy", red),
            vec![p, soft_t.clone()],
            move |v| loss::binary_cross_entropy(&v[0], &v[1], red),
        ),
        OpEntry::new(
            name("binary_cross_entropy_with_logits", red),
            vec![logits_bce.clone(), soft_t.clone()],
            move |v| loss::binary_cross_entropy_with_logits(&v[0], &v[1], None, red),
        ),
        OpEntry::new(
            name("binary_cross_entropy_with_logits pos_weight", red),
            vec![logits_bce, soft_t],
            move |v| loss::binary_cross_entropy_with_logits(&v[0], &v[1], Some(&pos_w), red),
        ),
        OpEntry::new(
            name("kl_div", red),
            vec![r(&[4, 5], seed + 23), kl_t],
            move |v| loss::kl_div(&v[0], &v[1], kl_red, false),
        ),
        OpEntry::new(
            name("kl_div log_target", red),
            vec![r(&[4, 5], seed + 24), kl_log_t],
            move |v| loss::kl_div(&v[0], &v[1], kl_red, true),
        ),
    ]
}

fn entries() -> Vec<OpEntry> {
    let mut all = Vec::new();
    for (i, red) in [Reduction::Mean, Reduction::Sum, Reduction::None]
        .into_iter()
        .enumerate()
    {
        all.extend(entries_for(red, 100 * i as u64 + 1));
    }
    let kl_t = probs(&[4, 5], 400);
    all.push(OpEntry::new(
        "kl_div batchmean",
        vec![r(&[4, 5], 401), kl_t],
        |v| loss::kl_div(&v[0], &v[1], KlDivReduction::BatchMean, false),
    ));
    all.push(OpEntry::new(
        "kl_div batchmean log_target",
        vec![r(&[4, 5], 402), r(&[4, 5], 403).log_softmax_rows()],
        |v| loss::kl_div(&v[0], &v[1], KlDivReduction::BatchMean, true),
    ));
    all
}

#[test]
fn every_loss_passes_gradcheck_gradgradcheck_and_layout_checks() {
    if let Err(report) = check_registry(&entries(), &GradcheckOptions::default()) {
        panic!("losses: {report}");
    }
}

#[test]
fn registry_covers_every_loss_with_every_reduction() {
    let names: Vec<&str> = entries().iter().map(|e| e.name).collect();
    for op in [
        "mse_loss",
        "l1_loss",
        "huber_loss",
        "smooth_l1_loss",
        "cross_entropy plain",
        "cross_entropy probs",
        "nll_loss",
        "binary_cross_entropy ",
        "binary_cross_entropy_with_logits",
        "kl_div",
    ] {
        for reduction in ["mean", "sum", "none"] {
            assert!(
                names
                    .iter()
                    .any(|n| n.starts_with(op) && n.ends_with(reduction)),
                "no registry entry for {op} with reduction {reduction}"
            );
        }
    }
    assert!(names.contains(&"kl_div batchmean"));
}
