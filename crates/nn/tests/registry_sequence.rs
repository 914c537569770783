//! The recurrent, attention and Transformer functionals in an op registry, checked by
//! gradcheck, gradgradcheck (where smooth) and the non-contiguous-input check, in f64,
//! through the autograd crate's public kit. Every input (data, states, masks with a
//! gradient, parameters) is differentiated.

use graft_autograd::testing::{check_registry, OpEntry};
use graft_autograd::{GradcheckOptions, Var};
use graft_nn::functional::*;
use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn r(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::uniform(shape, -1.0, 1.0, &mut StdRng::seed_from_u64(seed))
}

/// Flattens and joins Vars so one entry checks several outputs at once.
fn joined(parts: &[&Var<f64>]) -> Var<f64> {
    let flat: Vec<Var<f64>> = parts
        .iter()
        .map(|p| p.try_reshape(&[p.numel()]).unwrap())
        .collect();
    Var::concat(&flat.iter().collect::<Vec<_>>(), 0)
}

/// Inputs for a stack: x, h0, [c0], then (w_ih, w_hh, b_ih, b_hh) per layer and direction.
fn rnn_inputs(
    opt: &RnnOptions,
    x: &[usize],
    n: usize,
    i: usize,
    h: usize,
    seed: u64,
) -> Vec<Tensor<f64>> {
    let (d, g) = (opt.directions(), opt.mode.gates());
    let mut v = vec![r(x, seed), r(&[d * opt.num_layers, n, h], seed + 1)];
    if opt.mode == RnnMode::Lstm {
        v.push(r(&[d * opt.num_layers, n, h], seed + 2));
    }
    for layer in 0..opt.num_layers {
        let input = if layer == 0 { i } else { d * h };
        for dir in 0..d {
            let s = seed + 10 * (layer * d + dir + 1) as u64;
            v.push(r(&[g * h, input], s));
            v.push(r(&[g * h, h], s + 1));
            v.push(r(&[g * h], s + 2));
            v.push(r(&[g * h], s + 3));
        }
    }
    v
}

fn rnn_entry(
    name: &'static str,
    opt: RnnOptions,
    x: &[usize],
    i: usize,
    h: usize,
    seed: u64,
) -> OpEntry {
    let n = x[if opt.batch_first { 0 } else { 1 }];
    OpEntry::new(name, rnn_inputs(&opt, x, n, i, h, seed), move |v| {
        let lstm = opt.mode == RnnMode::Lstm;
        let first = if lstm { 3 } else { 2 };
        let weights: Vec<RnnCellWeights<'_, f64>> = v[first..]
            .chunks(4)
            .map(|c| RnnCellWeights {
                weight_ih: &c[0],
                weight_hh: &c[1],
                bias_ih: Some(&c[2]),
                bias_hh: Some(&c[3]),
            })
            .collect();
        let c0 = lstm.then(|| &v[2]);
        let out = rnn(
            &v[0],
            Some(&v[1]),
            c0,
            &weights,
            &opt,
            &mut StdRng::seed_from_u64(0),
        );
        match &out.c_n {
            Some(c) => joined(&[&out.output, &out.h_n, c]),
            None => joined(&[&out.output, &out.h_n]),
        }
    })
}

fn mha_weights(v: &[Var<f64>]) -> MhaWeights<'_, f64> {
    MhaWeights {
        in_proj_weight: &v[0],
        in_proj_bias: Some(&v[1]),
        out_proj_weight: &v[2],
        out_proj_bias: Some(&v[3]),
    }
}

fn encoder_entry(name: &'static str, opt: EncoderLayerOptions, causal: bool, seed: u64) -> OpEntry {
    let (e, f) = (4, 6);
    let shapes: [&[usize]; 13] = [
        &[3, 2, e],
        &[3 * e, e],
        &[3 * e],
        &[e, e],
        &[e],
        &[f, e],
        &[f],
        &[e, f],
        &[e],
        &[e],
        &[e],
        &[e],
        &[e],
    ];
    let inputs = shapes
        .iter()
        .enumerate()
        .map(|(k, s)| r(s, seed + k as u64))
        .collect();
    OpEntry::new(name, inputs, move |v| {
        let w = EncoderLayerWeights {
            self_attn: mha_weights(&v[1..5]),
            linear1_weight: &v[5],
            linear1_bias: Some(&v[6]),
            linear2_weight: &v[7],
            linear2_bias: Some(&v[8]),
            norm1_weight: Some(&v[9]),
            norm1_bias: Some(&v[10]),
            norm2_weight: Some(&v[11]),
            norm2_bias: Some(&v[12]),
        };
        try_transformer_encoder_layer(&v[0], &w, None, None, causal, &opt, None).unwrap()
    })
}

fn entries() -> Vec<OpEntry> {
    let base = |mode| RnnOptions::new(mode);
    let bi_lstm = RnnOptions {
        num_layers: 2,
        bidirectional: true,
        ..base(RnnMode::Lstm)
    };
    let gru_bf = RnnOptions {
        batch_first: true,
        ..base(RnnMode::Gru)
    };
    let relu_rnn = RnnOptions {
        num_layers: 2,
        ..base(RnnMode::Relu)
    };
    let mut post_norm = EncoderLayerOptions::new(2);
    post_norm.batch_first = false;
    let mut pre_norm_gelu = EncoderLayerOptions::new(2);
    pre_norm_gelu.norm_first = true;
    pre_norm_gelu.activation = FeedForwardActivation::Gelu;
    vec![
        rnn_entry("rnn_tanh", base(RnnMode::Tanh), &[3, 2, 2], 2, 3, 1),
        rnn_entry("rnn_relu_2_layers", relu_rnn, &[3, 2, 2], 2, 3, 100).first_order_only(),
        rnn_entry(
            "lstm_bidirectional_2_layers",
            bi_lstm,
            &[3, 2, 2],
            2,
            2,
            200,
        ),
        rnn_entry("gru_batch_first", gru_bf, &[2, 3, 2], 2, 3, 300),
        OpEntry::new(
            "sdpa_float_mask_scale",
            vec![
                r(&[2, 3, 2], 1),
                r(&[2, 4, 2], 2),
                r(&[2, 4, 3], 3),
                r(&[3, 4], 4),
            ],
            |v| {
                let opt = SdpaOptions {
                    scale: Some(0.8),
                    ..Default::default()
                };
                scaled_dot_product_attention(
                    &v[0],
                    &v[1],
                    &v[2],
                    Some(AttnMask::Add(&v[3])),
                    &opt,
                    None,
                )
            },
        ),
        OpEntry::new(
            "sdpa_causal_and_bool_mask",
            vec![
                r(&[1, 2, 3, 2], 5),
                r(&[1, 2, 3, 2], 6),
                r(&[1, 2, 3, 2], 7),
            ],
            |v| {
                let allow = Tensor::from_vec(
                    vec![true, true, false, true, true, true, true, false, true],
                    &[3, 3],
                );
                let opt = SdpaOptions {
                    is_causal: true,
                    ..Default::default()
                };
                scaled_dot_product_attention(
                    &v[0],
                    &v[1],
                    &v[2],
                    Some(AttnMask::Allow(&allow)),
                    &opt,
                    None,
                )
            },
        ),
        OpEntry::new(
            "multi_head_attention_cross_key_padding",
            vec![
                r(&[12, 4], 8),
                r(&[12], 9),
                r(&[4, 4], 10),
                r(&[4], 11),
                r(&[2, 2, 4], 12),
                r(&[3, 2, 4], 13),
                r(&[3, 2, 4], 14),
            ],
            |v| {
                let kpm = Tensor::from_vec(vec![false, false, true, false, false, false], &[2, 3]);
                let (out, w) = try_multi_head_attention(
                    &v[4],
                    &v[5],
                    &v[6],
                    &mha_weights(&v[..4]),
                    Some(&kpm),
                    None,
                    &MhaOptions::new(2),
                    None,
                )
                .unwrap();
                joined(&[&out, &w.unwrap()])
            },
        ),
        encoder_entry(
            "transformer_encoder_layer_post_norm_relu",
            post_norm,
            false,
            20,
        )
        .first_order_only(),
        encoder_entry(
            "transformer_encoder_layer_norm_first_gelu_causal",
            pre_norm_gelu,
            true,
            40,
        ),
    ]
}

#[test]
fn every_sequence_layer_passes_gradcheck_gradgradcheck_and_layout_checks() {
    if let Err(report) = check_registry(&entries(), &GradcheckOptions::default()) {
        panic!("sequence layers: {report}");
    }
}
