//! A user-defined differentiable op: forward on tensors, backward in Var ops, so it works
//! with grad-of-grad too. It is gradchecked and property-tested with graft's public kit.
//!
//! `cargo run --release --example custom_op --features proptest` (the strategies are graft's
//! opt-in `proptest` feature).

use clap::Parser;
use graft::autograd::strategies::{shape, tensor_in};
use graft::autograd::{gradcheck, gradgradcheck, GradcheckOptions, Op, Var};
use graft::tensor::{Tensor, TensorError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Property-test a custom "swish" op (x · sigmoid(βx)) and its gradients.
#[derive(Parser, Debug)]
struct Cli {
    /// β of swish.
    #[arg(long, default_value_t = 1.5)]
    beta: f64,
    /// Random cases to check.
    #[arg(long, default_value_t = 64)]
    cases: u32,
}

/// swish(x) = x · σ(βx). Its derivative σ(βx) + βx·σ(βx)(1 − σ(βx)) is written in Var ops.
struct Swish {
    beta: f64,
}

impl Op<f64> for Swish {
    fn name(&self) -> &'static str {
        "swish"
    }

    fn forward(&self, x: &[Tensor<f64>]) -> Result<Tensor<f64>, TensorError> {
        Ok(&x[0] * &x[0].mul_scalar(self.beta).sigmoid())
    }

    fn backward(&self, x: &[Var<f64>], _out: &Var<f64>, g: &Var<f64>) -> Vec<Option<Var<f64>>> {
        let s = x[0].mul_scalar(self.beta).sigmoid();
        let ds = &(&s * &s.rsub_scalar(1.0)) * &x[0].mul_scalar(self.beta);
        vec![Some(g * &(&s + &ds))]
    }
}

fn main() {
    let cli = Cli::parse();
    let beta = cli.beta;
    let swish = move |v: &[Var<f64>]| Var::apply(Swish { beta }, &[&v[0]]);

    let x = Tensor::from_vec(vec![-2.0, -0.5, 0.0, 0.7, 3.0], &[5]);
    let y = swish(&[Var::new(x.clone())]);
    println!("swish({:?}) = {:.5?}", x.to_vec(), y.value().to_vec());

    let options = GradcheckOptions::default();
    gradcheck(swish, std::slice::from_ref(&x), &options).expect("first derivatives");
    gradgradcheck(swish, &[x], &options).expect("second derivatives");
    println!("gradcheck and gradgradcheck pass at PyTorch's tolerances");

    // Property: for any shape and values, both derivatives match finite differences, and
    // the op agrees with the same formula composed from built-in ops.
    let mut runner = TestRunner::new(Config {
        cases: cli.cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = shape(3, 4).prop_flat_map(|s| tensor_in(s, -4.0, 4.0));
    runner
        .run(&strategy, |x| {
            prop_assert!(gradcheck(swish, std::slice::from_ref(&x), &options).is_ok());
            prop_assert!(gradgradcheck(swish, std::slice::from_ref(&x), &options).is_ok());
            let v = Var::new(x.clone());
            let composed = &v * &v.mul_scalar(beta).sigmoid();
            prop_assert!(swish(&[v])
                .value()
                .allclose(&composed.value(), 1e-12, 1e-12));
            Ok(())
        })
        .expect("property holds");
    println!("{} random cases passed the property test", cli.cases);
}
