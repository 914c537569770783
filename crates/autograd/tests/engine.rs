//! The engine's contract: accumulation, errors, no_grad/detach, grad(), custom ops,
//! threads, version counters, and million-op graphs.

use graft_autograd::{grad, no_grad, Op, Var};
use graft_tensor::{Tensor, TensorError};

fn t(v: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(v.to_vec(), shape)
}

#[test]
fn backward_accumulates_until_zeroed() {
    let w = Var::parameter(t(&[1.0, 2.0], &[2]));
    (&w * &w).sum().backward().unwrap();
    (&w * &w).sum().backward().unwrap();
    assert_eq!(w.grad().unwrap().to_vec(), vec![4.0, 8.0]);
    w.zero_grad();
    assert!(w.grad().is_none());
    w.mul_scalar(3.0).sum().backward().unwrap();
    assert_eq!(w.grad().unwrap().to_vec(), vec![3.0, 3.0]);
}

#[test]
fn shared_subexpressions_add_their_gradients() {
    let x = Var::parameter(t(&[2.0], &[1]));
    let y = x.exp();
    let z = (&y * &y + &y).sum(); // e^{2x} + e^x
    z.backward().unwrap();
    let e = 2f64.exp();
    assert!((x.grad().unwrap().item() - (2.0 * e * e + e)).abs() < 1e-12);
}

#[test]
fn backward_on_a_non_scalar_names_its_shape() {
    let w = Var::parameter(t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]));
    let err = w.exp().backward().unwrap_err();
    assert!(
        err.to_string().contains("backward") && err.to_string().contains("[2, 2]"),
        "{err}"
    );
    w.exp().backward_with(&Tensor::ones(&[2, 2])).unwrap();
    let bad = w.exp().backward_with(&Tensor::ones(&[4])).unwrap_err();
    assert!(
        bad.to_string().contains("[4]") && bad.to_string().contains("[2, 2]"),
        "{bad}"
    );
    let constant = Var::new(t(&[1.0], &[1]));
    assert!(constant.sum().backward().is_err());
}

#[test]
fn no_grad_records_nothing_and_detach_stops_gradients() {
    let w = Var::parameter(t(&[1.0, 2.0], &[2]));
    let y = no_grad(|| (&w * &w).sum());
    assert!(!y.needs_grad() && y.is_leaf());
    assert!(graft_autograd::is_grad_enabled());
    let z = (&w.detach() * &w).sum(); // gradient only through the second factor
    z.backward().unwrap();
    assert_eq!(w.grad().unwrap().to_vec(), vec![1.0, 2.0]);
}

#[test]
fn grad_returns_gradients_without_touching_dot_grad() {
    let x = Var::parameter(t(&[1.0, -1.0], &[2]));
    let unused = Var::parameter(t(&[5.0], &[1]));
    let y = x.tanh().sum();
    let g = grad(&[&y], &[&x, &unused], None, false).unwrap();
    assert!(x.grad().is_none());
    assert!(g[1].is_none(), "an unreached input gets None");
    let expected = 1.0 - 1f64.tanh().powi(2);
    assert!((g[0].as_ref().unwrap().value().to_vec()[0] - expected).abs() < 1e-15);
    assert!(
        !g[0].as_ref().unwrap().needs_grad(),
        "no graph without create_graph"
    );
    let err = grad(&[&x.exp()], &[&x], None, false).unwrap_err();
    assert!(err.to_string().contains("not a scalar"), "{err}");
}

#[test]
fn grad_of_intermediate_values() {
    let x = Var::parameter(t(&[0.5], &[1]));
    let h = x.mul_scalar(3.0);
    let y = h.square().sum();
    let g = grad(&[&y], &[&h], None, false).unwrap()[0].clone().unwrap();
    assert_eq!(g.value().to_vec(), vec![3.0]); // 2h = 2 * 1.5
}

/// softsign(x) = x / (1 + |x|), a user-defined op with its gradient in Var ops.
struct Softsign;
impl Op<f64> for Softsign {
    fn name(&self) -> &'static str {
        "softsign"
    }
    fn forward(&self, x: &[Tensor<f64>]) -> Result<Tensor<f64>, TensorError> {
        Ok(&x[0] / &x[0].abs().add_scalar(1.0))
    }
    fn backward(&self, x: &[Var<f64>], _: &Var<f64>, g: &Var<f64>) -> Vec<Option<Var<f64>>> {
        let denom = x[0].abs().add_scalar(1.0);
        vec![Some(g / &denom.square())]
    }
}

#[test]
fn custom_ops_are_differentiable_and_gradchecked() {
    let x = t(&[0.3, -0.8, 1.7], &[3]);
    graft_autograd::gradcheck(
        |v| Var::apply(Softsign, &[&v[0]]),
        std::slice::from_ref(&x),
        &Default::default(),
    )
    .unwrap();
    graft_autograd::gradgradcheck(
        |v| Var::apply(Softsign, &[&v[0]]),
        &[x],
        &Default::default(),
    )
    .unwrap();
}

#[test]
fn vars_are_send_and_sync_and_threads_share_parameters() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Var<f32>>();
    let w = Var::parameter(Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0], &[3]));
    std::thread::scope(|s| {
        for k in 1..=2 {
            let w = w.clone();
            s.spawn(move || w.mul_scalar(k as f32).sum().backward().unwrap());
        }
    });
    assert_eq!(w.grad().unwrap().to_vec(), vec![3.0, 3.0, 3.0]);
}

#[test]
fn modifying_a_saved_input_in_place_is_an_error_at_backward() {
    let w = Var::parameter(t(&[1.0, 2.0], &[2])).with_name("w");
    let loss = (&w * &w).sum();
    w.update_value(|data| data[0] -= 0.1); // an optimizer step between forward and backward
    let err = loss.backward().unwrap_err().to_string();
    assert!(
        err.contains("mul") && err.contains("modified in place") && err.contains("'w'"),
        "{err}"
    );
    // A fresh forward pass after the update is fine.
    (&w * &w).sum().backward().unwrap();
}

#[test]
fn a_million_op_chain_neither_overflows_on_backward_nor_on_drop() {
    // Run on a thread with a small stack, so any recursion proportional to depth fails.
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let x = Var::parameter(Tensor::<f32>::from_vec(vec![1.0], &[1]));
            let mut y = x.clone();
            for _ in 0..1_000_000 {
                y = y.add_scalar(1.0);
            }
            y.sum().backward().unwrap();
            assert_eq!(x.grad().unwrap().to_vec(), vec![1.0]);
            drop(y);
        })
        .unwrap()
        .join()
        .unwrap();
}

/// `grad` runs only the rules on paths to the requested inputs: a branch that leads
/// elsewhere never has its backward called (while `backward` still runs it for `.grad`).
#[test]
fn grad_prunes_rules_off_the_paths_to_its_inputs() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    struct CountedSquare;
    impl Op<f64> for CountedSquare {
        fn name(&self) -> &'static str {
            "counted_square"
        }
        fn forward(&self, x: &[Tensor<f64>]) -> Result<Tensor<f64>, TensorError> {
            Ok(x[0].square())
        }
        fn backward(&self, x: &[Var<f64>], _: &Var<f64>, g: &Var<f64>) -> Vec<Option<Var<f64>>> {
            CALLS.fetch_add(1, Ordering::SeqCst);
            vec![Some((g * &x[0]).mul_scalar(2.0))]
        }
    }
    let a = Var::parameter(Tensor::from_vec(vec![1.0f64, 2.0], &[2]));
    let b = Var::parameter(Tensor::from_vec(vec![3.0f64, 4.0], &[2]));
    let y = (&a.exp() * &Var::apply(CountedSquare, &[&b])).sum();
    let ga = grad(&[&y], &[&a], None, false).unwrap()[0].clone().unwrap();
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        0,
        "the b branch's rule ran for grad wrt a"
    );
    let expected: Vec<f64> = [1.0f64, 2.0]
        .iter()
        .zip([9.0, 16.0])
        .map(|(x, s)| x.exp() * s)
        .collect();
    assert_eq!(ga.value().to_vec(), expected);
    let gb = grad(&[&y], &[&b], None, false).unwrap()[0].clone().unwrap();
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    let expected: Vec<f64> = [1.0f64, 2.0]
        .iter()
        .zip([3.0, 4.0])
        .map(|(x, b)| x.exp() * 2.0 * b)
        .collect();
    assert_eq!(gb.value().to_vec(), expected);
    y.backward().unwrap();
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        2,
        "backward fills every leaf's .grad"
    );
}

/// An in-place edit of a saved input and an anomaly are told apart by kind.
#[test]
fn engine_errors_carry_their_kind() {
    use graft_tensor::ErrorKind;
    let w = Var::parameter(t(&[1.0, 2.0], &[2]));
    let y = (&w * &w).sum();
    w.set_value(t(&[3.0, 4.0], &[2]));
    assert_eq!(y.backward().unwrap_err().kind, ErrorKind::InPlaceModified);
}
