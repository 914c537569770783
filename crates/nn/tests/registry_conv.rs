//! The convolution, normalisation and resampling layers of issue 12 in an op registry,
//! checked by gradcheck, gradgradcheck (where smooth) and the non-contiguous-input check,
//! in f64, through the autograd crate's public kit.

use graft_autograd::testing::{check_registry, OpEntry};
use graft_autograd::GradcheckOptions;
use graft_nn::functional::*;
use graft_nn::{BasicBlock, Linear, Module, Residual, Sequential, Tanh};
use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn r(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::uniform(shape, -1.0, 1.0, &mut StdRng::seed_from_u64(seed))
}

fn entries() -> Vec<OpEntry> {
    let c1 = Conv1dOptions {
        stride: 2,
        padding: 1,
        dilation: 2,
        groups: 2,
    };
    let ct = ConvTranspose2dOptions {
        stride: [2, 1],
        padding: [1, 0],
        output_padding: [1, 0],
        dilation: [1, 2],
        groups: 2,
    };
    let ct_tail = ConvTranspose2dOptions {
        padding: [1, 0],
        output_padding: [1, 1],
        dilation: [2, 2],
        ..Default::default()
    };
    vec![
        OpEntry::new(
            "conv1d_grouped_strided_dilated",
            vec![r(&[2, 4, 9], 1), r(&[4, 2, 3], 2), r(&[4], 3)],
            move |v| conv1d(&v[0], &v[1], Some(&v[2]), &c1),
        ),
        OpEntry::new(
            "conv_transpose2d_grouped",
            vec![r(&[2, 4, 3, 3], 4), r(&[4, 2, 3, 2], 5), r(&[4], 6)],
            move |v| conv_transpose2d(&v[0], &v[1], Some(&v[2]), &ct),
        ),
        OpEntry::new(
            "conv_transpose2d_output_padding_past_stride",
            vec![r(&[1, 2, 3, 2], 7), r(&[2, 3, 2, 2], 8)],
            move |v| conv_transpose2d(&v[0], &v[1], None, &ct_tail),
        ),
        OpEntry::new(
            "group_norm",
            vec![r(&[2, 6, 2, 3], 9), r(&[6], 10), r(&[6], 11)],
            |v| group_norm(&v[0], 3, Some(&v[1]), Some(&v[2]), 1e-5),
        ),
        OpEntry::new("upsample_nearest", vec![r(&[1, 2, 3, 2], 12)], |v| {
            upsample_nearest(&v[0], 3).square()
        }),
        OpEntry::new("dropout2d_fixed_mask", vec![r(&[3, 4, 2, 2], 13)], |v| {
            dropout2d(&v[0], 0.5, true, &mut StdRng::seed_from_u64(7)).tanh()
        }),
        OpEntry::new("residual", vec![r(&[3, 4], 14)], |v| {
            let mut rng = StdRng::seed_from_u64(15);
            let branch = Sequential::new().add(Linear::new(4, 4, &mut rng)).add(Tanh);
            Residual::new(branch).forward(&v[0])
        }),
        // BatchNorm in training mode and relu: first order only (relu's kinks).
        OpEntry::new("basic_block_projection", vec![r(&[2, 2, 4, 4], 16)], |v| {
            BasicBlock::new(2, 3, 2, &mut StdRng::seed_from_u64(17)).forward(&v[0])
        })
        .first_order_only(),
    ]
}

#[test]
fn every_conv_layer_passes_gradcheck_gradgradcheck_and_layout_checks() {
    if let Err(report) = check_registry(&entries(), &GradcheckOptions::default()) {
        panic!("conv layers: {report}");
    }
}
