//! The fused GRU cell and the GRU sequence op against the same recurrence composed from
//! elementwise primitives: equal values and gradients, whether or not the backward pass is
//! recorded, and clear errors for mismatched shapes.

use graft_autograd::{grad, Var};
use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn rand_in(shape: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor<f64> {
    Tensor::uniform(shape, lo, hi, &mut StdRng::seed_from_u64(seed))
}

/// The GRU step written out in primitives (PyTorch's formula).
fn composed(gx: &Var<f64>, gh: &Var<f64>, h: &Var<f64>, b: &Var<f64>) -> Var<f64> {
    let hid = h.shape()[1];
    let gh = gh + b;
    let r = (&gx.narrow(1, 0, hid) + &gh.narrow(1, 0, hid)).sigmoid();
    let z = (&gx.narrow(1, hid, hid) + &gh.narrow(1, hid, hid)).sigmoid();
    let n = (&gx.narrow(1, 2 * hid, hid) + &(&r * &gh.narrow(1, 2 * hid, hid))).tanh();
    &(&z.rsub_scalar(1.0) * &n) + &(&z * h)
}

fn inputs() -> Vec<Var<f64>> {
    vec![
        Var::parameter(rand_in(&[4, 15], -2.0, 2.0, 1)),
        Var::parameter(rand_in(&[4, 15], -2.0, 2.0, 2)),
        Var::parameter(rand_in(&[4, 5], -1.0, 1.0, 3)),
        Var::parameter(rand_in(&[15], -1.0, 1.0, 4)),
    ]
}

fn close(a: &Tensor<f64>, b: &Tensor<f64>) {
    assert_eq!(a.shape(), b.shape());
    for (x, y) in a.to_vec().iter().zip(b.to_vec()) {
        assert!((x - y).abs() < 1e-10, "{x} vs {y}");
    }
}

#[test]
fn fused_gru_cell_matches_the_composed_step_in_value_and_gradients() {
    let v = inputs();
    let fused = Var::try_gru_cell(&v[0], &v[1], &v[2], Some(&v[3])).unwrap();
    let reference = composed(&v[0], &v[1], &v[2], &v[3]);
    close(&fused.value(), &reference.value());
    let weights = Var::new(rand_in(&[4, 5], -1.0, 1.0, 5));
    let refs: Vec<&Var<f64>> = v.iter().collect();
    for create_graph in [false, true] {
        let gf = grad(&[&(&fused * &weights).sum()], &refs, None, create_graph).unwrap();
        let gr = grad(&[&(&reference * &weights).sum()], &refs, None, false).unwrap();
        for (a, b) in gf.iter().zip(&gr) {
            close(&a.as_ref().unwrap().value(), &b.as_ref().unwrap().value());
        }
    }
}

#[test]
fn fused_gru_cell_second_derivatives_match_the_composed_step() {
    let v = inputs();
    let refs: Vec<&Var<f64>> = v.iter().collect();
    let weights = Var::new(rand_in(&[4, 5], -1.0, 1.0, 6));
    let second = |out: Var<f64>| -> Vec<Tensor<f64>> {
        let g = grad(&[&(&out * &weights).sum()], &refs, None, true).unwrap();
        // A scalar of the first derivatives, differentiated again.
        let s = g
            .iter()
            .map(|g| g.as_ref().unwrap().square().sum())
            .reduce(|a, b| &a + &b)
            .unwrap();
        grad(&[&s], &refs, None, false)
            .unwrap()
            .into_iter()
            .map(|g| g.unwrap().value())
            .collect()
    };
    let fused = second(Var::try_gru_cell(&v[0], &v[1], &v[2], Some(&v[3])).unwrap());
    let reference = second(composed(&v[0], &v[1], &v[2], &v[3]));
    for (a, b) in fused.iter().zip(&reference) {
        close(a, b);
    }
}

#[test]
fn gru_cell_rejects_mismatched_shapes_naming_them() {
    let gx = Var::new(Tensor::<f64>::zeros(&[4, 15]));
    let h = Var::new(Tensor::<f64>::zeros(&[4, 6]));
    let e = Var::try_gru_cell(&gx, &gx, &h, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("gru_cell") && e.contains("[4, 15]") && e.contains("[4, 6]"),
        "{e}"
    );
}

/// The recurrence composed step by step (matmul, then the composed cell).
fn composed_sequence(v: &[Var<f64>], reverse: bool) -> Var<f64> {
    let t_len = v[0].shape()[0];
    let mut h = v[2].clone();
    let mut outs = vec![None; t_len];
    for s in 0..t_len {
        let t = if reverse { t_len - 1 - s } else { s };
        let gh = h.matmul(&v[1].t());
        h = composed(&v[0].select(0, t), &gh, &h, &v[3]);
        outs[t] = Some(h.clone());
    }
    let outs: Vec<Var<f64>> = outs.into_iter().map(Option::unwrap).collect();
    Var::stack(&outs.iter().collect::<Vec<_>>(), 0)
}

/// The op against [`composed_sequence`] for `T` steps, `N` rows and `H` state values.
fn check_sequence(t_len: usize, n: usize, hid: usize, seed: u64) {
    let v = vec![
        Var::parameter(rand_in(&[t_len, n, 3 * hid], -2.0, 2.0, seed)),
        Var::parameter(rand_in(&[3 * hid, hid], -1.0, 1.0, seed + 1)),
        Var::parameter(rand_in(&[n, hid], -1.0, 1.0, seed + 2)),
        Var::parameter(rand_in(&[3 * hid], -1.0, 1.0, seed + 3)),
    ];
    let refs: Vec<&Var<f64>> = v.iter().collect();
    let weights = Var::new(rand_in(&[t_len, n, hid], -1.0, 1.0, seed + 4));
    for reverse in [false, true] {
        let fused = Var::try_gru_sequence(&v[0], &v[1], &v[2], Some(&v[3]), reverse).unwrap();
        let reference = composed_sequence(&v, reverse);
        close(&fused.value(), &reference.value());
        let gr = grad(&[&(&reference * &weights).sum()], &refs, None, false).unwrap();
        for create_graph in [false, true] {
            let gf = grad(&[&(&fused * &weights).sum()], &refs, None, create_graph).unwrap();
            for (a, b) in gf.iter().zip(&gr) {
                close(&a.as_ref().unwrap().value(), &b.as_ref().unwrap().value());
            }
        }
    }
}

#[test]
fn gru_sequence_matches_the_composed_recurrence_both_directions() {
    check_sequence(5, 3, 4, 11);
}

/// Large enough that the batch rows run as parallel blocks of 16 (the last one partial),
/// with state sizes that leave partial panels and left-over rows in the step products.
#[test]
fn gru_sequence_split_over_row_blocks_matches_the_composed_recurrence() {
    check_sequence(40, 37, 24, 21);
}

#[test]
fn gru_sequence_of_no_steps_is_empty_and_rejects_bad_shapes() {
    let proj = Var::parameter(Tensor::<f64>::zeros(&[0, 3, 12]));
    let w = Var::parameter(Tensor::<f64>::zeros(&[12, 4]));
    let h0 = Var::parameter(Tensor::<f64>::zeros(&[3, 4]));
    let out = Var::try_gru_sequence(&proj, &w, &h0, None, false).unwrap();
    assert_eq!(out.shape(), [0, 3, 4]);
    let bad_w = Var::new(Tensor::<f64>::zeros(&[12, 5]));
    let e = Var::try_gru_sequence(&proj, &bad_w, &h0, None, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("gru_sequence") && e.contains("[12, 5]") && e.contains("[0, 3, 12]"),
        "{e}"
    );
}
