//! Every layer in an op registry, checked by gradcheck, gradgradcheck (where smooth) and
//! the non-contiguous-input check, in f64, through the autograd crate's public kit.

use graft_autograd::testing::{check_registry, OpEntry};
use graft_autograd::GradcheckOptions;
use graft_nn::functional::*;
use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn r(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::uniform(shape, -1.0, 1.0, &mut StdRng::seed_from_u64(seed))
}

/// Distinct values, so max-pool windows have no ties.
fn distinct(shape: &[usize], seed: u64) -> Tensor<f64> {
    graft_autograd::testing::distinct_values(shape, 0.1, seed)
}

fn entries() -> Vec<OpEntry> {
    let grouped = Conv2dOptions {
        stride: [2, 1],
        padding: [1, 0],
        dilation: [1, 2],
        groups: 2,
    };
    vec![
        OpEntry::new(
            "linear",
            vec![r(&[2, 3, 4], 1), r(&[5, 4], 2), r(&[5], 3)],
            |v| linear(&v[0], &v[1], Some(&v[2])),
        ),
        OpEntry::new(
            "conv2d",
            vec![r(&[2, 2, 5, 4], 4), r(&[3, 2, 3, 2], 5), r(&[3], 6)],
            |v| {
                conv2d(
                    &v[0],
                    &v[1],
                    Some(&v[2]),
                    &Conv2dOptions {
                        padding: [1, 1],
                        ..Default::default()
                    },
                )
            },
        ),
        OpEntry::new(
            "conv2d_grouped_strided_dilated",
            vec![r(&[1, 4, 5, 6], 7), r(&[4, 2, 2, 2], 8)],
            move |v| conv2d(&v[0], &v[1], None, &grouped),
        ),
        OpEntry::new("max_pool2d", vec![distinct(&[1, 2, 5, 5], 9)], |v| {
            max_pool2d(&v[0], [3, 3], [2, 2], [1, 1]).square()
        })
        .first_order_only(),
        OpEntry::new("avg_pool2d", vec![r(&[1, 2, 5, 5], 10)], |v| {
            avg_pool2d(&v[0], [3, 3], [2, 2], [1, 1], false).square()
        }),
        OpEntry::new("adaptive_avg_pool2d", vec![r(&[2, 2, 4, 6], 11)], |v| {
            try_adaptive_avg_pool2d(&v[0], [2, 3]).unwrap().square()
        }),
        OpEntry::new(
            "batch_norm_train",
            vec![r(&[4, 3, 2], 12), r(&[3], 13), r(&[3], 14)],
            |v| {
                try_batch_norm(&v[0], None, None, Some(&v[1]), Some(&v[2]), true, 0.1, 1e-5)
                    .unwrap()
            },
        ),
        OpEntry::new(
            "layer_norm",
            vec![r(&[2, 3, 4], 15), r(&[3, 4], 16), r(&[3, 4], 17)],
            |v| try_layer_norm(&v[0], &[3, 4], Some(&v[1]), Some(&v[2]), 1e-5).unwrap(),
        ),
        OpEntry::new("embedding", vec![r(&[5, 3], 18)], |v| {
            try_embedding(&Tensor::from_vec(vec![4, 0, 4, 2], &[2, 2]), &v[0], None)
                .unwrap()
                .square()
        }),
        OpEntry::new("dropout_eval_and_fixed_mask", vec![r(&[3, 4], 19)], |v| {
            dropout(&v[0], 0.5, true, &mut StdRng::seed_from_u64(7)).tanh()
        }),
        OpEntry::new("gelu", vec![r(&[3, 4], 20)], |v| gelu(&v[0], false)),
        OpEntry::new("softplus", vec![r(&[3, 4], 21)], |v| {
            softplus(&v[0], 1.0, 20.0)
        }),
        OpEntry::new("log_softmax", vec![r(&[3, 4], 22)], |v| {
            log_softmax(&v[0], 1)
        }),
    ]
}

#[test]
fn every_layer_passes_gradcheck_gradgradcheck_and_layout_checks() {
    if let Err(report) = check_registry(&entries(), &GradcheckOptions::default()) {
        panic!("layers: {report}");
    }
}
