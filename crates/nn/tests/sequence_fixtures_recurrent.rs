//! sequence.json, recurrent and attention half: rnn, lstm, gru, scaled dot-product
//! attention, multi-head attention and the Transformer encoder layer against PyTorch in
//! f64 (rtol 1e-10, atol 1e-12): outputs, extra outputs (h_n, c_n, attn_weights) and the
//! gradients of every float input, parameters included.

use graft_autograd::Var;
use graft_fixtures::{assert_tensor_close, load, Case, FixtureTensor};
use graft_nn::functional::{
    try_multi_head_attention, try_rnn, try_scaled_dot_product_attention,
    try_transformer_encoder_layer, AttnMask, EncoderLayerOptions, EncoderLayerWeights,
    FeedForwardActivation, MhaOptions, MhaWeights, RnnCellWeights, RnnMode, RnnOptions,
    SdpaOptions,
};
use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::Value;

const RTOL: f64 = 1e-10;
const ATOL: f64 = 1e-12;
const OPS: [&str; 6] = [
    "rnn",
    "lstm",
    "gru",
    "scaled_dot_product_attention",
    "multi_head_attention",
    "transformer_encoder_layer",
];

fn float(t: &FixtureTensor) -> Tensor<f64> {
    Tensor::from_vec(t.data.clone(), &t.shape)
}

fn boolean(t: &FixtureTensor) -> Tensor<bool> {
    Tensor::from_vec(t.as_bool(), &t.shape)
}

fn flag(case: &Case, key: &str) -> bool {
    case.param(key)
        .and_then(Value::as_bool)
        .unwrap_or_else(|| case.fail(&format!("has no bool param {key}")))
}

fn uint(case: &Case, key: &str) -> usize {
    case.param(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| case.fail(&format!("has no integer param {key}"))) as usize
}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<Var<f64>>;

/// The main output and the extra outputs by name.
fn run(case: &Case, v: Lookup) -> (Var<f64>, Vec<(&'static str, Var<f64>)>) {
    let need = |name: &str| v(name).unwrap_or_else(|| case.fail(&format!("has no input {name}")));
    match case.op() {
        "rnn" | "lstm" | "gru" => {
            let mode = match (
                case.op(),
                case.param("nonlinearity").and_then(Value::as_str),
            ) {
                ("lstm", _) => RnnMode::Lstm,
                ("gru", _) => RnnMode::Gru,
                (_, Some("relu")) => RnnMode::Relu,
                _ => RnnMode::Tanh,
            };
            let opt = RnnOptions {
                mode,
                num_layers: uint(case, "num_layers"),
                bidirectional: flag(case, "bidirectional"),
                batch_first: flag(case, "batch_first"),
                dropout: 0.0,
                training: false,
            };
            let bias = flag(case, "bias");
            let mut params = Vec::new();
            for layer in 0..opt.num_layers {
                for dir in 0..opt.directions() {
                    let sfx = format!("l{layer}{}", if dir == 1 { "_reverse" } else { "" });
                    let p = |n: &str| need(&format!("{n}_{sfx}"));
                    let b = |n: &str| bias.then(|| p(n));
                    params.push((p("weight_ih"), p("weight_hh"), b("bias_ih"), b("bias_hh")));
                }
            }
            let weights: Vec<RnnCellWeights<'_, f64>> = params
                .iter()
                .map(|(wi, wh, bi, bh)| RnnCellWeights {
                    weight_ih: wi,
                    weight_hh: wh,
                    bias_ih: bi.as_ref(),
                    bias_hh: bh.as_ref(),
                })
                .collect();
            let mut rng = StdRng::seed_from_u64(0);
            let out = try_rnn(
                &need("x"),
                v("h0").as_ref(),
                v("c0").as_ref(),
                &weights,
                &opt,
                &mut rng,
            )
            .unwrap_or_else(|e| case.fail(&e.to_string()));
            let mut extra = vec![("h_n", out.h_n)];
            if let Some(c) = out.c_n {
                extra.push(("c_n", c));
            }
            (out.output, extra)
        }
        "scaled_dot_product_attention" => {
            let mask_tensor = case.input("attn_mask");
            let bool_mask = mask_tensor
                .as_ref()
                .filter(|t| t.dtype == "bool")
                .map(boolean);
            let float_mask = v("attn_mask");
            let mask = match (&bool_mask, &float_mask) {
                (Some(b), _) => Some(AttnMask::Allow(b)),
                (None, Some(f)) => Some(AttnMask::Add(f)),
                _ => None,
            };
            let opt = SdpaOptions {
                is_causal: flag(case, "is_causal"),
                scale: case.param("scale").and_then(Value::as_f64),
                dropout_p: 0.0,
            };
            let out = try_scaled_dot_product_attention(
                &need("query"),
                &need("key"),
                &need("value"),
                mask,
                &opt,
                None,
            )
            .unwrap_or_else(|e| case.fail(&e.to_string()));
            (out, vec![])
        }
        "multi_head_attention" => {
            let q = need("query");
            let (k, val) = if flag(case, "self_attention") {
                (q.clone(), q.clone())
            } else {
                (need("key"), need("value"))
            };
            let (wi, bi, wo, bo) = (
                need("in_proj_weight"),
                v("in_proj_bias"),
                need("out_proj.weight"),
                v("out_proj.bias"),
            );
            let w = MhaWeights {
                in_proj_weight: &wi,
                in_proj_bias: bi.as_ref(),
                out_proj_weight: &wo,
                out_proj_bias: bo.as_ref(),
            };
            let kpm = case.input("key_padding_mask").map(|t| boolean(&t));
            let opt = MhaOptions {
                batch_first: flag(case, "batch_first"),
                ..MhaOptions::new(uint(case, "num_heads"))
            };
            let (out, weights) =
                try_multi_head_attention(&q, &k, &val, &w, kpm.as_ref(), None, &opt, None)
                    .unwrap_or_else(|e| case.fail(&e.to_string()));
            (out, vec![("attn_weights", weights.unwrap())])
        }
        "transformer_encoder_layer" => {
            let names = [
                "self_attn.in_proj_weight",
                "self_attn.in_proj_bias",
                "self_attn.out_proj.weight",
                "self_attn.out_proj.bias",
                "linear1.weight",
                "linear1.bias",
                "linear2.weight",
                "linear2.bias",
                "norm1.weight",
                "norm1.bias",
                "norm2.weight",
                "norm2.bias",
            ];
            let p: Vec<Var<f64>> = names.iter().map(|n| need(n)).collect();
            let w = EncoderLayerWeights {
                self_attn: MhaWeights {
                    in_proj_weight: &p[0],
                    in_proj_bias: Some(&p[1]),
                    out_proj_weight: &p[2],
                    out_proj_bias: Some(&p[3]),
                },
                linear1_weight: &p[4],
                linear1_bias: Some(&p[5]),
                linear2_weight: &p[6],
                linear2_bias: Some(&p[7]),
                norm1_weight: Some(&p[8]),
                norm1_bias: Some(&p[9]),
                norm2_weight: Some(&p[10]),
                norm2_bias: Some(&p[11]),
            };
            let activation = match case.param("activation").and_then(Value::as_str) {
                Some("relu") => FeedForwardActivation::Relu,
                Some("gelu") => FeedForwardActivation::Gelu,
                other => case.fail(&format!("has an unknown activation {other:?}")),
            };
            let opt = EncoderLayerOptions {
                activation,
                norm_first: flag(case, "norm_first"),
                batch_first: flag(case, "batch_first"),
                layer_norm_eps: case.param_f64("layer_norm_eps").unwrap_or(1e-5),
                ..EncoderLayerOptions::new(uint(case, "nhead"))
            };
            let out = try_transformer_encoder_layer(
                &need("src"),
                &w,
                None,
                None,
                flag(case, "causal"),
                &opt,
                None,
            )
            .unwrap_or_else(|e| case.fail(&e.to_string()));
            (out, vec![])
        }
        other => case.fail(&format!("unknown op {other}")),
    }
}

#[test]
fn recurrent_and_attention_cases_match_pytorch() {
    let cases: Vec<Case> = load("sequence.json")
        .into_iter()
        .filter(|c| OPS.contains(&c.op()))
        .collect();
    for op in OPS {
        assert!(
            cases.iter().any(|c| c.op() == op),
            "sequence.json has no {op} case"
        );
    }
    for case in &cases {
        if case.param_f64("dropout").is_some_and(|p| p != 0.0)
            || case.param_f64("dropout_p").is_some_and(|p| p != 0.0)
        {
            case.fail("has nonzero dropout, which a fixture cannot reproduce");
        }
        let vars: Vec<(String, Var<f64>)> = case
            .inputs()
            .into_iter()
            .filter(|(_, t)| !t.is_integer())
            .map(|(k, t)| (k, Var::parameter(float(&t))))
            .collect();
        let lookup = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let (out, extra) = run(case, &lookup);
        let name = case.name();
        let check = |what: &str, shape: &[usize], actual: &[f64], expected: &FixtureTensor| {
            assert_tensor_close(
                &format!("{name} {what}"),
                shape,
                actual,
                expected,
                RTOL,
                ATOL,
            )
        };
        check("output", out.shape(), &out.value().to_vec(), &case.output());
        let mut seen = 0;
        for (key, value) in &extra {
            if let Some(expected) = case.extra_output(key) {
                check(key, value.shape(), &value.value().to_vec(), &expected);
                seen += 1;
            }
        }
        let expected_extra = case
            .get("extra_outputs")
            .and_then(Value::as_object)
            .map_or(0, |m| m.len());
        assert_eq!(
            seen, expected_extra,
            "{name}: extra outputs not all checked"
        );
        out.backward_with(&float(&case.upstream())).unwrap();
        let grads = case.grads();
        assert!(!grads.is_empty(), "{name}: no gradients to check");
        for (input, g) in grads {
            let actual = lookup(&input)
                .and_then(|v| v.grad())
                .unwrap_or_else(|| case.fail(&format!("no grad for {input}")));
            check(
                &format!("grad {input}"),
                actual.shape(),
                &actual.to_vec(),
                &g,
            );
        }
    }
}
