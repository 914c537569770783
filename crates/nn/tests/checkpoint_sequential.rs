//! `Sequential::checkpointed`: the same outputs and gradients as the plain chain, dropout
//! masks included (the recomputation replays each Dropout's RNG), second derivatives
//! through checkpointed segments, and unchanged parameter names.

use graft_autograd::{grad, gradgradcheck, GradcheckOptions, Var};
use graft_nn::{Dropout, Linear, Module, Sequential, Tanh};
use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// Eight layers: (Linear, Tanh, Dropout) blocks and a final Linear; seeded identically.
fn model(segments: usize) -> Sequential<f64> {
    let mut rng = StdRng::seed_from_u64(11);
    let mut m = Sequential::new();
    for i in 0..3 {
        m = m
            .add(Linear::new(6, 6, &mut rng))
            .add(Tanh)
            .add(Dropout::new(0.3, 100 + i));
    }
    m.add(Linear::new(6, 2, &mut rng)).checkpointed(segments)
}

fn input() -> Tensor<f64> {
    Tensor::uniform(&[5, 6], -1.0, 1.0, &mut StdRng::seed_from_u64(12))
}

/// Two training steps' outputs and parameter gradients.
fn two_steps(m: &Sequential<f64>) -> Vec<Vec<f64>> {
    let mut seen = Vec::new();
    for _ in 0..2 {
        m.zero_grad();
        let out = m.forward(&Var::new(input()));
        out.square().sum().backward().unwrap();
        seen.push(out.value().to_vec());
        seen.extend(m.parameters().iter().map(|p| p.grad().unwrap().to_vec()));
    }
    seen
}

#[test]
fn checkpointed_chains_match_the_plain_chain_with_dropout() {
    let plain = two_steps(&model(0));
    for segments in [2, 3, 4, 10] {
        let m = model(segments);
        assert_eq!(m.segments(), segments);
        // Bit-identical: the recomputation runs the same ops on the same values and masks;
        // the second step also shows the RNGs end where the plain chain leaves them.
        assert_eq!(two_steps(&m), plain, "segments {segments}");
    }
    let names: Vec<String> = model(3)
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names[..2], ["0.weight", "0.bias"]);
    assert_eq!(names.last().unwrap(), "9.bias");
}

#[test]
fn checkpointed_chains_have_second_derivatives() {
    let m = model(3);
    m.eval(); // no dropout: gradgradcheck needs a deterministic function
    let f = move |v: &[Var<f64>]| m.forward(&v[0]).tanh().sum_dims(&[1], false);
    gradgradcheck(f, &[input()], &GradcheckOptions::default()).unwrap();
    // And in training mode, d/dx of the input gradient matches the plain chain's.
    let second = |segments: usize| {
        let m = model(segments);
        let x = Var::parameter(input());
        let g = grad(&[&m.forward(&x).square().sum()], &[&x], None, true).unwrap()[0]
            .clone()
            .unwrap();
        grad(&[&g.sin().sum()], &[&x], None, false).unwrap()[0]
            .clone()
            .unwrap()
            .value()
            .to_vec()
    };
    // Equal up to rounding: the double-backward graph adds its terms in another order.
    for (a, b) in second(3).iter().zip(second(0)) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}
