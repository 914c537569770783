//! Attention and the Transformer encoder against their documented semantics, on shapes the
//! fixtures don't cover: naive loops in plain f64 for scaled dot-product and multi-head
//! attention, mask equivalences (causal, bool allow/block, additive, key padding),
//! batch-first equivalence, causality of the encoder, PyTorch's parameter names, dropout
//! placement and shape errors.

use graft_autograd::Var;
use graft_nn::functional::{
    causal_mask, try_multi_head_attention, try_scaled_dot_product_attention, AttnMask,
    EncoderLayerOptions, FeedForwardActivation, MhaOptions, MhaWeights, SdpaOptions,
};
use graft_nn::{
    AttendOptions, Module, MultiheadAttention, TransformerEncoder, TransformerEncoderLayer,
};
use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn rand_t(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::uniform(shape, -1.0, 1.0, &mut StdRng::seed_from_u64(seed))
}

fn close(what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-12 + 1e-10 * y.abs(),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

/// softmax(q kᵀ·scale + bias) v for one [L, E] x [S, E] x [S, Ev] problem; `allowed`
/// says which scores survive.
#[allow(clippy::too_many_arguments)]
fn naive_attention(
    q: &[f64],
    k: &[f64],
    v: &[f64],
    (l, s, e, ev): (usize, usize, usize, usize),
    scale: f64,
    bias: &dyn Fn(usize, usize) -> f64,
    allowed: &dyn Fn(usize, usize) -> bool,
) -> (Vec<f64>, Vec<f64>) {
    let mut out = vec![0.0; l * ev];
    let mut weights = vec![0.0; l * s];
    for i in 0..l {
        let scores: Vec<f64> = (0..s)
            .map(|j| {
                let dot: f64 = (0..e).map(|c| q[i * e + c] * k[j * e + c]).sum();
                if allowed(i, j) {
                    dot * scale + bias(i, j)
                } else {
                    f64::NEG_INFINITY
                }
            })
            .collect();
        let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = scores.iter().map(|x| (x - m).exp()).sum();
        for j in 0..s {
            let w = (scores[j] - m).exp() / z;
            weights[i * s + j] = w;
            for c in 0..ev {
                out[i * ev + c] += w * v[j * ev + c];
            }
        }
    }
    (out, weights)
}

#[test]
fn sdpa_matches_a_naive_loop_with_batch_dims_scale_and_float_mask() {
    let (b, l, s, e, ev) = (6, 4, 6, 5, 3);
    let (q, k, v) = (
        rand_t(&[2, 3, l, e], 1),
        rand_t(&[2, 3, s, e], 2),
        rand_t(&[2, 3, s, ev], 3),
    );
    let mask = rand_t(&[l, s], 4);
    let mv = Var::new(mask.clone());
    let opt = SdpaOptions {
        scale: Some(0.7),
        ..Default::default()
    };
    let out = try_scaled_dot_product_attention(
        &Var::new(q.clone()),
        &Var::new(k.clone()),
        &Var::new(v.clone()),
        Some(AttnMask::Add(&mv)),
        &opt,
        None,
    )
    .unwrap();
    assert_eq!(out.shape(), [2, 3, l, ev]);
    let (qd, kd, vd, md) = (q.to_vec(), k.to_vec(), v.to_vec(), mask.to_vec());
    let mut expected = Vec::new();
    for bi in 0..b {
        let (o, _) = naive_attention(
            &qd[bi * l * e..(bi + 1) * l * e],
            &kd[bi * s * e..(bi + 1) * s * e],
            &vd[bi * s * ev..(bi + 1) * s * ev],
            (l, s, e, ev),
            0.7,
            &|i, j| md[i * s + j],
            &|_, _| true,
        );
        expected.extend(o);
    }
    close("sdpa", &out.value().to_vec(), &expected);
}

#[test]
fn causal_equals_every_explicit_form_of_the_same_mask() {
    // Non-square: causal masks are top-left aligned (key j blocked for query i when j > i).
    let (l, s, e) = (3, 5, 4);
    let q = Var::new(rand_t(&[2, l, e], 1));
    let k = Var::new(rand_t(&[2, s, e], 2));
    let v = Var::new(rand_t(&[2, s, e], 3));
    let sdpa = |mask: Option<AttnMask<'_, f64>>, is_causal: bool| {
        let opt = SdpaOptions {
            is_causal,
            ..Default::default()
        };
        try_scaled_dot_product_attention(&q, &k, &v, mask, &opt, None)
            .unwrap()
            .value()
            .to_vec()
    };
    let allow = causal_mask(l, s);
    assert_eq!(
        allow.to_vec(),
        [
            true, false, false, false, false, true, true, false, false, false, true, true, true,
            false, false
        ]
    );
    let block = allow.logical_not();
    let additive = Var::new(Tensor::from_vec(
        allow
            .to_vec()
            .iter()
            .map(|&a| if a { 0.0 } else { f64::NEG_INFINITY })
            .collect(),
        &[l, s],
    ));
    let causal = sdpa(None, true);
    assert_eq!(causal, sdpa(Some(AttnMask::Allow(&allow)), false));
    assert_eq!(causal, sdpa(Some(AttnMask::Block(&block)), false));
    assert_eq!(causal, sdpa(Some(AttnMask::Add(&additive)), false));
    assert_ne!(causal, sdpa(None, false));
}

struct Mha {
    w_in: Tensor<f64>,
    b_in: Tensor<f64>,
    w_out: Tensor<f64>,
    b_out: Tensor<f64>,
}

impl Mha {
    fn new(e: usize, seed: u64) -> Self {
        Mha {
            w_in: rand_t(&[3 * e, e], seed),
            b_in: rand_t(&[3 * e], seed + 1),
            w_out: rand_t(&[e, e], seed + 2),
            b_out: rand_t(&[e], seed + 3),
        }
    }

    /// Naive time-first multi-head attention: returns output [L, N, E] and the per-head
    /// weights [N, h, L, S]; `ignored(b, j)` is the key padding mask.
    #[allow(clippy::too_many_arguments)]
    fn naive(
        &self,
        query: &[f64],
        key: &[f64],
        value: &[f64],
        (l, s, n, e, h): (usize, usize, usize, usize, usize),
        ignored: &dyn Fn(usize, usize) -> bool,
    ) -> (Vec<f64>, Vec<f64>) {
        let (wi, bi, wo, bo) = (
            self.w_in.to_vec(),
            self.b_in.to_vec(),
            self.w_out.to_vec(),
            self.b_out.to_vec(),
        );
        let hd = e / h;
        // Rows `block` of the in-projection applied to token (t, b) of a [T, N, E] input.
        let proj = |x: &[f64], t: usize, b: usize, block: usize| -> Vec<f64> {
            (0..e)
                .map(|r| {
                    let row = block * e + r;
                    bi[row]
                        + (0..e)
                            .map(|c| wi[row * e + c] * x[(t * n + b) * e + c])
                            .sum::<f64>()
                })
                .collect()
        };
        let mut out = vec![0.0; l * n * e];
        let mut weights = vec![0.0; n * h * l * s];
        for b in 0..n {
            let qs: Vec<Vec<f64>> = (0..l).map(|t| proj(query, t, b, 0)).collect();
            let ks: Vec<Vec<f64>> = (0..s).map(|t| proj(key, t, b, 1)).collect();
            let vs: Vec<Vec<f64>> = (0..s).map(|t| proj(value, t, b, 2)).collect();
            let mut concat = vec![0.0; l * e];
            for head in 0..h {
                let part = |m: &Vec<Vec<f64>>| -> Vec<f64> {
                    m.iter()
                        .flat_map(|r| r[head * hd..(head + 1) * hd].to_vec())
                        .collect()
                };
                let (o, w) = naive_attention(
                    &part(&qs),
                    &part(&ks),
                    &part(&vs),
                    (l, s, hd, hd),
                    1.0 / (hd as f64).sqrt(),
                    &|_, _| 0.0,
                    &|_, j| !ignored(b, j),
                );
                for i in 0..l {
                    concat[i * e + head * hd..i * e + (head + 1) * hd]
                        .copy_from_slice(&o[i * hd..(i + 1) * hd]);
                }
                let at = (b * h + head) * l * s;
                weights[at..at + l * s].copy_from_slice(&w);
            }
            for i in 0..l {
                for r in 0..e {
                    out[(i * n + b) * e + r] = bo[r]
                        + (0..e)
                            .map(|c| wo[r * e + c] * concat[i * e + c])
                            .sum::<f64>();
                }
            }
        }
        (out, weights)
    }

    fn run(
        &self,
        q: &Tensor<f64>,
        k: &Tensor<f64>,
        v: &Tensor<f64>,
        kpm: Option<&Tensor<bool>>,
        opt: &MhaOptions,
    ) -> (Vec<f64>, Vec<f64>) {
        let vars = [&self.w_in, &self.b_in, &self.w_out, &self.b_out].map(|t| Var::new(t.clone()));
        let w = MhaWeights {
            in_proj_weight: &vars[0],
            in_proj_bias: Some(&vars[1]),
            out_proj_weight: &vars[2],
            out_proj_bias: Some(&vars[3]),
        };
        let (o, wts) = try_multi_head_attention(
            &Var::new(q.clone()),
            &Var::new(k.clone()),
            &Var::new(v.clone()),
            &w,
            kpm,
            None,
            opt,
            None,
        )
        .unwrap();
        (o.value().to_vec(), wts.unwrap().value().to_vec())
    }
}

#[test]
fn multi_head_attention_matches_a_naive_loop_with_key_padding() {
    let (l, s, n, e, h) = (5, 7, 3, 12, 4);
    let mha = Mha::new(e, 10);
    let (q, k, v) = (
        rand_t(&[l, n, e], 1),
        rand_t(&[s, n, e], 2),
        rand_t(&[s, n, e], 3),
    );
    // Sample b ignores its last b + 1 keys.
    let ignored = |b: usize, j: usize| j + b + 1 >= s;
    let kpm = Tensor::from_vec((0..n * s).map(|i| ignored(i / s, i % s)).collect(), &[n, s]);
    let opt = MhaOptions {
        average_attn_weights: false,
        ..MhaOptions::new(h)
    };
    let (out, weights) = mha.run(&q, &k, &v, Some(&kpm), &opt);
    let (eo, ew) = mha.naive(
        &q.to_vec(),
        &k.to_vec(),
        &v.to_vec(),
        (l, s, n, e, h),
        &ignored,
    );
    close("mha output", &out, &eo);
    close("mha per-head weights", &weights, &ew);
    for (i, w) in weights.iter().enumerate() {
        if ignored(i / (h * l * s), i % s) {
            assert_eq!(*w, 0.0, "an ignored key got weight");
        }
    }
    // Head-averaged weights are the mean of the per-head ones.
    let (_, avg) = mha.run(&q, &k, &v, Some(&kpm), &MhaOptions::new(h));
    let mean: Vec<f64> = (0..n * l * s)
        .map(|i| {
            let (b, rest) = (i / (l * s), i % (l * s));
            (0..h)
                .map(|hh| ew[(b * h + hh) * l * s + rest])
                .sum::<f64>()
                / h as f64
        })
        .collect();
    close("averaged weights", &avg, &mean);
}

#[test]
fn key_padding_equals_dropping_the_padded_keys() {
    let (l, s, e, h) = (3, 6, 8, 2);
    let mha = Mha::new(e, 20);
    let (q, k, v) = (
        rand_t(&[l, 1, e], 1),
        rand_t(&[s, 1, e], 2),
        rand_t(&[s, 1, e], 3),
    );
    let kpm = Tensor::from_vec(vec![false, false, false, false, true, true], &[1, s]);
    let (padded, _) = mha.run(&q, &k, &v, Some(&kpm), &MhaOptions::new(h));
    let (dropped, _) = mha.run(
        &q,
        &k.narrow(0, 0, 4).contiguous(),
        &v.narrow(0, 0, 4).contiguous(),
        None,
        &MhaOptions::new(h),
    );
    close("key padding", &padded, &dropped);
}

#[test]
fn batch_first_attention_and_layers_are_transposed_time_first() {
    let (l, n, e, h) = (4, 3, 8, 2);
    let mha = Mha::new(e, 30);
    let x = rand_t(&[l, n, e], 1);
    let (tf, tw) = mha.run(&x, &x, &x, None, &MhaOptions::new(h));
    let xb = x.transpose(0, 1).contiguous();
    let opt = MhaOptions {
        batch_first: true,
        ..MhaOptions::new(h)
    };
    let (bf, bw) = mha.run(&xb, &xb, &xb, None, &opt);
    let bf_t = Tensor::from_vec(bf, &[n, l, e])
        .transpose(0, 1)
        .contiguous()
        .to_vec();
    close("mha batch_first", &bf_t, &tf);
    close("mha weights", &bw, &tw);

    let mut opts = EncoderLayerOptions::new(h);
    let a = TransformerEncoderLayer::<f64>::new(e, 16, opts, &mut StdRng::seed_from_u64(4));
    opts.batch_first = true;
    let b = TransformerEncoderLayer::<f64>::new(e, 16, opts, &mut StdRng::seed_from_u64(4));
    let ya = a.forward(&Var::new(x.clone())).value();
    let yb = b
        .forward(&Var::new(xb))
        .value()
        .transpose(0, 1)
        .contiguous();
    close("encoder layer batch_first", &yb.to_vec(), &ya.to_vec());
}

#[test]
fn parameter_names_follow_pytorch() {
    let mut rng = StdRng::seed_from_u64(0);
    let mha = MultiheadAttention::<f64>::new(8, 2, true, &mut rng);
    let names: Vec<String> = mha.named_parameters().into_iter().map(|p| p.0).collect();
    assert_eq!(
        names,
        [
            "in_proj_weight",
            "in_proj_bias",
            "out_proj.weight",
            "out_proj.bias"
        ]
    );
    let enc = TransformerEncoder::<f64>::new(8, 16, EncoderLayerOptions::new(2), 2, true, &mut rng);
    let names: Vec<String> = enc.named_parameters().into_iter().map(|p| p.0).collect();
    let layer = [
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
    let mut expected: Vec<String> = (0..2)
        .flat_map(|i| layer.iter().map(move |n| format!("layers.{i}.{n}")))
        .collect();
    expected.extend(["norm.weight".to_string(), "norm.bias".to_string()]);
    assert_eq!(names, expected);
}

#[test]
fn encoder_is_its_layers_in_order_then_the_final_norm() {
    let mut opts = EncoderLayerOptions::new(2);
    opts.norm_first = true;
    opts.activation = FeedForwardActivation::Gelu;
    let enc = TransformerEncoder::<f64>::new(8, 12, opts, 3, true, &mut StdRng::seed_from_u64(1));
    let x = Var::new(rand_t(&[4, 2, 8], 2));
    let mut y = x.clone();
    for layer in &enc.layers {
        y = layer.forward(&y);
    }
    let y = enc.norm.as_ref().unwrap().forward(&y);
    close(
        "encoder",
        &enc.forward(&x).value().to_vec(),
        &y.value().to_vec(),
    );
}

#[test]
fn a_causal_encoder_never_looks_ahead() {
    for norm_first in [false, true] {
        let mut opts = EncoderLayerOptions::new(2);
        opts.norm_first = norm_first;
        opts.batch_first = true;
        let enc =
            TransformerEncoder::<f64>::new(8, 16, opts, 2, false, &mut StdRng::seed_from_u64(3));
        let x = rand_t(&[2, 5, 8], 4);
        let mut changed = x.to_vec();
        for v in &mut changed[3 * 8..5 * 8] {
            *v += 1.0; // positions 3 and 4 of sample 0
        }
        let run = |t: Tensor<f64>| {
            enc.forward_masked(&Var::new(t), None, None, true)
                .unwrap()
                .value()
        };
        let (a, b) = (run(x.clone()), run(Tensor::from_vec(changed, &[2, 5, 8])));
        assert_eq!(
            a.narrow(1, 0, 3).to_vec(),
            b.narrow(1, 0, 3).to_vec(),
            "positions 0..3 saw the future"
        );
        assert_ne!(a.narrow(1, 3, 2).to_vec(), b.narrow(1, 3, 2).to_vec());
        let mask = causal_mask(5, 5).logical_not();
        let explicit = enc
            .forward_masked(
                &Var::new(x.clone()),
                Some(AttnMask::Block(&mask)),
                None,
                false,
            )
            .unwrap();
        assert_eq!(explicit.value().to_vec(), a.to_vec());
    }
}

#[test]
fn dropout_is_active_in_training_and_off_in_eval() {
    let mut opts = EncoderLayerOptions::new(2);
    opts.dropout = 0.5;
    let layer = TransformerEncoderLayer::<f64>::new(8, 16, opts, &mut StdRng::seed_from_u64(5));
    let x = Var::new(rand_t(&[3, 2, 8], 6));
    layer.eval();
    let e1 = layer.forward(&x).value().to_vec();
    assert_eq!(e1, layer.forward(&x).value().to_vec());
    layer.train();
    let t1 = layer.forward(&x).value().to_vec();
    assert_ne!(t1, e1);
    assert_ne!(
        t1,
        layer.forward(&x).value().to_vec(),
        "fresh masks each call"
    );
    let mha =
        MultiheadAttention::<f64>::new(8, 2, true, &mut StdRng::seed_from_u64(7)).with_dropout(0.5);
    let (_, w) = mha.attend(&x, &x, &x, &AttendOptions::default()).unwrap();
    let w = w.unwrap().value().to_vec();
    assert!(w.contains(&0.0), "no attention weight was dropped");
    mha.eval();
    let (_, w) = mha.attend(&x, &x, &x, &AttendOptions::default()).unwrap();
    assert!(w.unwrap().value().to_vec().iter().all(|&v| v > 0.0));
}

#[test]
fn bad_shapes_are_errors_naming_the_op() {
    let mut rng = StdRng::seed_from_u64(0);
    let mha = MultiheadAttention::<f64>::new(8, 2, true, &mut rng);
    let x = Var::new(rand_t(&[3, 2, 8], 1));
    let bad_kpm = Tensor::from_vec(vec![false; 6], &[3, 2]);
    let opt = AttendOptions {
        key_padding_mask: Some(&bad_kpm),
        ..Default::default()
    };
    let err = mha.attend(&x, &x, &x, &opt).err().unwrap().to_string();
    assert!(
        err.contains("multi_head_attention") && err.contains("key_padding_mask must be [2, 3]"),
        "{err}"
    );
    let err = mha
        .attend(
            &Var::new(rand_t(&[3, 2, 6], 1)),
            &x,
            &x,
            &AttendOptions::default(),
        )
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("multi_head_attention"), "{err}");
    let q = Var::new(rand_t(&[2, 3, 4], 1));
    let k = Var::new(rand_t(&[2, 5, 3], 1));
    let err = try_scaled_dot_product_attention(&q, &k, &k, None, &SdpaOptions::default(), None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("scaled_dot_product_attention") && err.contains("[2, 5, 3]"),
        "{err}"
    );
    let k = Var::new(rand_t(&[2, 5, 4], 1));
    let m = Tensor::from_vec(vec![true; 12], &[3, 4]);
    let err = try_scaled_dot_product_attention(
        &q,
        &k,
        &k,
        Some(AttnMask::Allow(&m)),
        &SdpaOptions::default(),
        None,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("mask [3, 4]"), "{err}");
}
