//! Rnn, Lstm and Gru against their documented semantics, on shapes the fixtures don't
//! cover: a naive per-step loop in plain f64 arithmetic (written here, independent of
//! graft's ops), batch-first vs time-first, initial states, between-layer dropout,
//! PyTorch's parameter names and init range, and shape errors.

use graft_autograd::Var;
use graft_nn::{Gru, Lstm, Module, Rnn, RnnConfig, RnnNonlinearity};
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

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Tanh,
    Relu,
    Lstm,
    Gru,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `w [rows, cols] · v [cols]` + bias.
fn affine(w: &[f64], cols: usize, v: &[f64], b: Option<&[f64]>) -> Vec<f64> {
    let rows = w.len() / cols;
    (0..rows)
        .map(|r| {
            let dot: f64 = (0..cols).map(|c| w[r * cols + c] * v[c]).sum();
            dot + b.map_or(0.0, |b| b[r])
        })
        .collect()
}

/// One step of one sample: returns (h', c').
fn naive_cell(kind: Kind, p: &[Vec<f64>], x: &[f64], h: &[f64], c: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let hs = h.len();
    let b = |i: usize| p.get(i).map(Vec::as_slice);
    let gx = affine(&p[0], x.len(), x, b(2));
    let gh = affine(&p[1], hs, h, b(3));
    match kind {
        Kind::Tanh | Kind::Relu => {
            let h2 = (0..hs)
                .map(|j| {
                    let a = gx[j] + gh[j];
                    if kind == Kind::Tanh {
                        a.tanh()
                    } else {
                        a.max(0.0)
                    }
                })
                .collect();
            (h2, c.to_vec())
        }
        Kind::Lstm => {
            let g = |k: usize, j: usize| gx[k * hs + j] + gh[k * hs + j];
            let c2: Vec<f64> = (0..hs)
                .map(|j| sigmoid(g(1, j)) * c[j] + sigmoid(g(0, j)) * g(2, j).tanh())
                .collect();
            let h2 = (0..hs).map(|j| sigmoid(g(3, j)) * c2[j].tanh()).collect();
            (h2, c2)
        }
        Kind::Gru => {
            let h2 = (0..hs)
                .map(|j| {
                    let r = sigmoid(gx[j] + gh[j]);
                    let z = sigmoid(gx[hs + j] + gh[hs + j]);
                    let n = (gx[2 * hs + j] + r * gh[2 * hs + j]).tanh();
                    (1.0 - z) * n + z * h[j]
                })
                .collect();
            (h2, c.to_vec())
        }
    }
}

struct NaiveOut {
    output: Vec<f64>, // [T, N, D·H]
    h_n: Vec<f64>,    // [D·L, N, H]
    c_n: Vec<f64>,
}

/// The stack, time-first, one sample and one time step at a time.
#[allow(clippy::too_many_arguments)]
fn naive_stack(
    kind: Kind,
    x: &[f64],
    (t_len, n, i0): (usize, usize, usize),
    hs: usize,
    layers: usize,
    dirs: usize,
    params: &[Vec<Vec<f64>>],
    h0: Option<&[f64]>,
    c0: Option<&[f64]>,
) -> NaiveOut {
    let mut input: Vec<f64> = x.to_vec();
    let mut width = i0;
    let (mut h_n, mut c_n) = (Vec::new(), Vec::new());
    for l in 0..layers {
        let mut out = vec![0.0; t_len * n * dirs * hs];
        for d in 0..dirs {
            let k = l * dirs + d;
            let init = |s: Option<&[f64]>, b: usize| -> Vec<f64> {
                s.map_or(vec![0.0; hs], |s| {
                    s[(k * n + b) * hs..(k * n + b + 1) * hs].to_vec()
                })
            };
            let mut finals_h = Vec::new();
            let mut finals_c = Vec::new();
            for b in 0..n {
                let (mut h, mut c) = (init(h0, b), init(c0, b));
                for step in 0..t_len {
                    let t = if d == 1 { t_len - 1 - step } else { step };
                    let xt = &input[(t * n + b) * width..(t * n + b + 1) * width];
                    let (h2, c2) = naive_cell(kind, &params[k], xt, &h, &c);
                    h = h2;
                    c = c2;
                    let at = (t * n + b) * dirs * hs + d * hs;
                    out[at..at + hs].copy_from_slice(&h);
                }
                finals_h.extend(h);
                finals_c.extend(c);
            }
            h_n.extend(finals_h);
            c_n.extend(finals_c);
        }
        input = out;
        width = dirs * hs;
    }
    NaiveOut {
        output: input,
        h_n,
        c_n,
    }
}

/// The named parameters of a layer, grouped per layer and direction in PyTorch's order.
fn grouped(m: &dyn Module<f64>, with_bias: bool) -> Vec<Vec<Vec<f64>>> {
    let params = m.named_parameters();
    let per = if with_bias { 4 } else { 2 };
    params
        .chunks(per)
        .map(|c| c.iter().map(|(_, v)| v.value().to_vec()).collect())
        .collect()
}

/// A layer and what it returned: output, h_n, c_n.
type Ran = (Box<dyn Module<f64>>, Var<f64>, Var<f64>, Option<Var<f64>>);

fn check_against_naive(kind: Kind, cfg: RnnConfig, t_len: usize, n: usize, with_state: bool) {
    let mut rng = StdRng::seed_from_u64(11);
    let d = if cfg.bidirectional { 2 } else { 1 };
    let hs = cfg.hidden_size;
    let x = rand_t(&[t_len, n, cfg.input_size], 1);
    let h0 = rand_t(&[d * cfg.num_layers, n, hs], 2);
    let c0 = rand_t(&[d * cfg.num_layers, n, hs], 3);
    let (hv, cv) = (Var::new(h0.clone()), Var::new(c0.clone()));
    let xv = Var::new(x.clone());
    let (module, out, h_n, c_n): Ran = match kind {
        Kind::Lstm => {
            let m = Lstm::new(cfg, &mut rng);
            let (o, (h, c)) = m
                .forward_with_state(&xv, with_state.then_some((&hv, &cv)))
                .unwrap();
            (Box::new(m), o, h, Some(c))
        }
        Kind::Gru => {
            let m = Gru::new(cfg, &mut rng);
            let (o, h) = m
                .forward_with_state(&xv, with_state.then_some(&hv))
                .unwrap();
            (Box::new(m), o, h, None)
        }
        _ => {
            let nl = if kind == Kind::Tanh {
                RnnNonlinearity::Tanh
            } else {
                RnnNonlinearity::Relu
            };
            let m = Rnn::new(cfg, nl, &mut rng);
            let (o, h) = m
                .forward_with_state(&xv, with_state.then_some(&hv))
                .unwrap();
            (Box::new(m), o, h, None)
        }
    };
    let params = grouped(module.as_ref(), cfg.bias);
    let (h0s, c0s) = (h0.to_vec(), c0.to_vec());
    let naive = naive_stack(
        kind,
        &x.to_vec(),
        (t_len, n, cfg.input_size),
        hs,
        cfg.num_layers,
        d,
        &params,
        with_state.then_some(h0s.as_slice()),
        with_state.then_some(c0s.as_slice()),
    );
    assert_eq!(out.shape(), [t_len, n, d * hs]);
    close("output", &out.value().to_vec(), &naive.output);
    close("h_n", &h_n.value().to_vec(), &naive.h_n);
    if let Some(c) = c_n {
        close("c_n", &c.value().to_vec(), &naive.c_n);
    }
}

#[test]
fn bidirectional_two_layer_lstm_matches_a_naive_loop() {
    let cfg = RnnConfig::new(3, 5).num_layers(2).bidirectional(true);
    check_against_naive(Kind::Lstm, cfg, 6, 3, true);
    check_against_naive(Kind::Lstm, cfg, 4, 2, false);
    check_against_naive(
        Kind::Lstm,
        RnnConfig::new(2, 3).num_layers(3).bias(false),
        5,
        1,
        true,
    );
}

#[test]
fn gru_and_elman_rnn_match_a_naive_loop() {
    let cfg = RnnConfig::new(4, 3).num_layers(2).bidirectional(true);
    check_against_naive(Kind::Gru, cfg, 5, 2, true);
    check_against_naive(Kind::Gru, RnnConfig::new(4, 6).bias(false), 3, 4, false);
    check_against_naive(Kind::Tanh, cfg, 4, 3, true);
    check_against_naive(Kind::Relu, RnnConfig::new(3, 4).num_layers(3), 5, 2, false);
}

#[test]
fn batch_first_is_the_transposed_time_first_computation() {
    let cfg = RnnConfig::new(3, 4).num_layers(2).bidirectional(true);
    let time_first = Gru::<f64>::new(cfg, &mut StdRng::seed_from_u64(5));
    let batch_first = Gru::<f64>::new(cfg.batch_first(true), &mut StdRng::seed_from_u64(5));
    let x = rand_t(&[5, 2, 3], 7); // [T, N, I]
    let h0 = Var::new(rand_t(&[4, 2, 4], 8));
    let (a, ha) = time_first
        .forward_with_state(&Var::new(x.clone()), Some(&h0))
        .unwrap();
    let xb = Var::new(x.transpose(0, 1).contiguous());
    let (b, hb) = batch_first.forward_with_state(&xb, Some(&h0)).unwrap();
    assert_eq!(b.shape(), [2, 5, 8]);
    close(
        "batch-first output",
        &b.value().transpose(0, 1).contiguous().to_vec(),
        &a.value().to_vec(),
    );
    close(
        "h_n is layout-independent",
        &hb.value().to_vec(),
        &ha.value().to_vec(),
    );
}

#[test]
fn parameter_names_shapes_and_init_follow_pytorch() {
    let m = Lstm::<f64>::new(
        RnnConfig::new(3, 4).num_layers(2).bidirectional(true),
        &mut StdRng::seed_from_u64(0),
    );
    let named = m.named_parameters();
    let got: Vec<(String, Vec<usize>)> = named
        .iter()
        .map(|(n, v)| (n.clone(), v.shape().to_vec()))
        .collect();
    let mut expected = Vec::new();
    for l in 0..2 {
        for sfx in ["", "_reverse"] {
            let input = if l == 0 { 3 } else { 8 };
            expected.push((format!("weight_ih_l{l}{sfx}"), vec![16, input]));
            expected.push((format!("weight_hh_l{l}{sfx}"), vec![16, 4]));
            expected.push((format!("bias_ih_l{l}{sfx}"), vec![16]));
            expected.push((format!("bias_hh_l{l}{sfx}"), vec![16]));
        }
    }
    assert_eq!(got, expected);
    for (name, v) in &named {
        assert!(
            v.value().to_vec().iter().all(|w| w.abs() <= 0.5),
            "{name} outside U(-1/sqrt(H), 1/sqrt(H))"
        );
    }
    assert!(m.parameter("bias_hh_l1_reverse").is_some());
    let no_bias = Rnn::<f64>::new(
        RnnConfig::new(3, 4).bias(false),
        RnnNonlinearity::Tanh,
        &mut StdRng::seed_from_u64(0),
    );
    let names: Vec<String> = no_bias
        .named_parameters()
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(names, ["weight_ih_l0", "weight_hh_l0"]);
}

#[test]
fn dropout_acts_between_layers_in_training_only() {
    // p = 1 zeroes layer 0's output, so in training the top layer never sees the input.
    let m = Gru::<f64>::new(
        RnnConfig::new(2, 3).num_layers(2).dropout(1.0),
        &mut StdRng::seed_from_u64(1),
    );
    let (x1, x2) = (
        Var::new(rand_t(&[4, 2, 2], 1)),
        Var::new(rand_t(&[4, 2, 2], 2)),
    );
    m.train();
    assert_eq!(
        m.forward(&x1).value().to_vec(),
        m.forward(&x2).value().to_vec()
    );
    m.eval();
    assert_ne!(
        m.forward(&x1).value().to_vec(),
        m.forward(&x2).value().to_vec()
    );
    // One layer: nothing to drop between, so training changes nothing.
    let single = Lstm::<f64>::new(
        RnnConfig::new(2, 3).dropout(1.0),
        &mut StdRng::seed_from_u64(1),
    );
    single.train();
    let a = single.forward(&x1).value().to_vec();
    single.eval();
    assert_eq!(a, single.forward(&x1).value().to_vec());
}

#[test]
fn bad_shapes_are_errors_naming_the_op_and_shapes() {
    let m = Lstm::<f64>::new(RnnConfig::new(3, 4), &mut StdRng::seed_from_u64(0));
    let err = m
        .forward_with_state(&Var::new(rand_t(&[5, 2, 7], 0)), None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("lstm") && err.contains("[16, 3]"), "{err}");
    let err = m
        .forward_with_state(&Var::new(rand_t(&[5], 0)), None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("3-D") && err.contains("[5]"), "{err}");
    let h = Var::new(rand_t(&[2, 2, 4], 0));
    let err = m
        .forward_with_state(&Var::new(rand_t(&[5, 2, 3], 0)), Some((&h, &h)))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("h0 must be [1, 2, 4]"), "{err}");
}

#[test]
fn gradients_reach_every_parameter_and_the_initial_state() {
    let m = Lstm::<f64>::new(
        RnnConfig::new(2, 3)
            .num_layers(2)
            .bidirectional(true)
            .batch_first(true),
        &mut StdRng::seed_from_u64(3),
    );
    let x = Var::parameter(rand_t(&[2, 4, 2], 4));
    let h0 = Var::parameter(rand_t(&[4, 2, 3], 5));
    let c0 = Var::parameter(rand_t(&[4, 2, 3], 6));
    let (out, (h_n, c_n)) = m.forward_with_state(&x, Some((&h0, &c0))).unwrap();
    (out.sum() + h_n.sum() + c_n.sum()).backward().unwrap();
    for (name, p) in m.named_parameters() {
        let g = p.grad().unwrap_or_else(|| panic!("{name} has no gradient"));
        assert!(
            g.to_vec().iter().any(|v| *v != 0.0),
            "{name}: zero gradient"
        );
    }
    for v in [&x, &h0, &c0] {
        assert!(v.grad().is_some());
    }
}
