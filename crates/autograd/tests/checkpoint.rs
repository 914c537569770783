//! Gradient checkpointing: the same gradients as the plain call (to the explicit inputs and
//! to captured parameters and captured computed Vars), gradcheck and gradgradcheck through
//! it, one recomputation per backward, replayed random streams, and nesting.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use graft_autograd::{
    checkpoint, grad, gradcheck, gradgradcheck, no_grad, GradcheckOptions, RngStream, Var,
};
use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn rand_in(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::uniform(shape, -1.0, 1.0, &mut StdRng::seed_from_u64(seed))
}

/// A block with a captured parameter `w` and a captured computed Var `c`.
fn block(x: &Var<f64>, w: &Var<f64>, c: &Var<f64>) -> Var<f64> {
    (&x.matmul(w).tanh() * c).sigmoid().matmul(&w.t())
}

#[test]
fn gradients_equal_those_of_the_plain_call_and_f_runs_once_more() {
    let a = Var::parameter(rand_in(&[4, 3], 1));
    let w = Var::parameter(rand_in(&[3, 5], 2));
    let s = Var::parameter(rand_in(&[5], 3));
    let run = |checkpointed: bool, calls: Arc<AtomicUsize>| {
        let x = a.exp(); // a computed input: gradients must flow on to `a`
        let c = s.cos(); // a captured computed Var: gradients must flow on to `s`
        let out = if checkpointed {
            let (w, c) = (w.clone(), c.clone());
            checkpoint(
                move |v: &[Var<f64>]| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    block(&v[0], &w, &c)
                },
                &[x],
            )
        } else {
            block(&x, &w, &c)
        };
        let loss = out.square().sum();
        let gs = grad(&[&loss], &[&a, &w, &s], None, false).unwrap();
        (
            loss.item(),
            gs.into_iter()
                .map(|g| g.unwrap().value().to_vec())
                .collect::<Vec<_>>(),
        )
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let plain = run(false, calls.clone());
    let checkpointed = run(true, calls.clone());
    // The recomputation runs the same ops on the same values: bit-identical results.
    assert_eq!(plain, checkpointed);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one forward, one recomputation"
    );
}

#[test]
fn gradcheck_and_gradgradcheck_pass_through_a_checkpoint() {
    let f = |v: &[Var<f64>]| {
        let w = v[1].clone();
        checkpoint(
            move |u: &[Var<f64>]| block(&u[0], &w, &w.sum().exp()),
            &v[..1],
        )
    };
    let inputs = [rand_in(&[2, 3], 4), rand_in(&[3, 4], 5)];
    let opts = GradcheckOptions::default();
    gradcheck(f, &inputs, &opts).unwrap();
    // Second derivatives: the recomputation is recorded under create_graph.
    gradgradcheck(f, &inputs, &opts).unwrap();
}

#[test]
fn nested_checkpoints_and_second_derivatives() {
    let f = |v: &[Var<f64>]| {
        let w = v[1].clone();
        checkpoint(
            move |u: &[Var<f64>]| {
                let w2 = w.clone();
                let inner = checkpoint(move |z: &[Var<f64>]| z[0].matmul(&w2).sin(), &u[..1]);
                (&inner * &inner).matmul(&w.t())
            },
            &v[..1],
        )
    };
    let inputs = [rand_in(&[2, 3], 6), rand_in(&[3, 3], 7)];
    let opts = GradcheckOptions::default();
    gradcheck(f, &inputs, &opts).unwrap();
    gradgradcheck(f, &inputs, &opts).unwrap();
}

/// Dropout-like: multiplies by a fresh random 0/2 mask from `stream`.
fn noisy(x: &Var<f64>, stream: &RngStream) -> Var<f64> {
    let mask: Vec<f64> = stream.with(|r| {
        (0..x.numel())
            .map(|_| if r.gen::<f64>() < 0.5 { 0.0 } else { 2.0 })
            .collect()
    });
    x * &Var::new(Tensor::from_vec(mask, x.shape()))
}

#[test]
fn the_recomputation_replays_the_random_stream() {
    let x = Var::parameter(rand_in(&[8, 8], 8));
    let run = |checkpointed: bool| {
        let stream = RngStream::new(42);
        let s2 = stream.clone();
        let f = move |v: &[Var<f64>]| noisy(&v[0].tanh(), &s2).exp();
        let out = if checkpointed {
            checkpoint(f, std::slice::from_ref(&x))
        } else {
            f(std::slice::from_ref(&x))
        };
        let g = grad(&[&out.sum()], &[&x], None, false).unwrap()[0]
            .clone()
            .unwrap();
        // Where the stream stands after forward and backward.
        let next: f64 = stream.with(|r| r.gen());
        (out.value().to_vec(), g.value().to_vec(), next)
    };
    let plain = run(false);
    let checkpointed = run(true);
    assert!(plain.1.contains(&0.0), "the mask drops something");
    assert_eq!(plain, checkpointed);
}

#[test]
fn outside_grad_mode_it_is_a_plain_call_and_identity_functions_work() {
    let x = Var::parameter(rand_in(&[3], 9));
    let y = no_grad(|| checkpoint(|v: &[Var<f64>]| v[0].exp(), std::slice::from_ref(&x)));
    assert!(!y.needs_grad());
    // f hands back its input untouched.
    let z = checkpoint(|v: &[Var<f64>]| v[0].clone(), std::slice::from_ref(&x));
    let g = grad(&[&z.mul_scalar(3.0).sum()], &[&x], None, false).unwrap()[0]
        .clone()
        .unwrap();
    assert_eq!(g.value().to_vec(), vec![3.0; 3]);
    // The same Var twice: its gradient is counted once per use, not doubled again.
    let d = checkpoint(|v: &[Var<f64>]| &v[0] * &v[1], &[x.clone(), x.clone()]);
    let g = grad(&[&d.sum()], &[&x], None, false).unwrap()[0]
        .clone()
        .unwrap();
    let expect: Vec<f64> = x.value().to_vec().iter().map(|v| 2.0 * v).collect();
    assert_eq!(g.value().to_vec(), expect);
    // Nothing tracked: a constant.
    let c = checkpoint(|v: &[Var<f64>]| v[0].exp(), &[Var::new(rand_in(&[2], 10))]);
    assert!(!c.needs_grad());
}
