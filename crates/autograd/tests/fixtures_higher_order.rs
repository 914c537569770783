//! higher_order.json: Hessian-vector products and grad-of-grad against PyTorch in f64
//! (rtol 1e-10, atol 1e-12: double backward only adds a few more f64 roundings).

use graft_autograd::{grad, Var};
use graft_fixtures::{assert_tensor_close, load, Case, FixtureTensor};
use graft_tensor::Tensor;

fn float(t: &FixtureTensor) -> Tensor<f64> {
    Tensor::from_vec(t.data.clone(), &t.shape)
}

/// The case's function, in graft ops, of Vars named as in `inputs`.
fn function(case: &Case, v: &dyn Fn(&str) -> Var<f64>) -> Var<f64> {
    // Matched on the documented function text, not the case name, so new cases of the
    // same functions need no change here.
    let text = case
        .get("function")
        .and_then(|f| f.as_str())
        .unwrap_or_default()
        .to_string();
    match text.as_str() {
        n if n.contains("tanh(x @ W)") => v("x").matmul(&v("W")).tanh().square().sum(),
        n if n.contains("cross_entropy") => {
            let target = case.input("target").unwrap();
            let index = Tensor::from_vec(target.as_i64(), &[target.numel(), 1]);
            v("z").log_softmax(1).gather(1, &index).mean().neg()
        }
        n if n.contains("F.linear") => {
            let hidden = (&v("x").matmul(&v("W1").t()) + &v("b1")).tanh();
            let out = &hidden.matmul(&v("W2").t()) + &v("b2");
            (&out - &v("y")).square().mean()
        }
        n if n.contains("sigmoid(x)**3") => v("x").sigmoid().pow_scalar(3.0).sum(),
        n if n.contains("logsumexp") => {
            let x = v("x");
            x.logsumexp_dims(&[1], false).square().sum() + x.mul_scalar(0.5).exp().sum()
        }
        _ => case.fail("unknown function"),
    }
}

#[test]
fn hessian_vector_products_and_grad_of_grad_match_pytorch() {
    let cases = load("higher_order.json");
    assert!(!cases.is_empty());
    for case in &cases {
        let wrt = case
            .get("wrt")
            .and_then(|w| w.as_str())
            .unwrap_or("x")
            .to_string();
        let vars: Vec<(String, Var<f64>)> = case
            .inputs()
            .into_iter()
            .filter(|(_, t)| !t.is_integer())
            .map(|(k, t)| {
                let value = float(&t);
                let var = if k == wrt {
                    Var::parameter(value)
                } else {
                    Var::new(value)
                };
                (k, var)
            })
            .collect();
        let lookup = |name: &str| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        let x = lookup(&wrt);
        let f = function(case, &lookup);
        let name = case.name();
        assert_tensor_close(
            &format!("{name} output"),
            f.shape(),
            &f.value().to_vec(),
            &case.output(),
            1e-10,
            1e-12,
        );
        let g = grad(&[&f], &[&x], None, true).unwrap()[0].clone().unwrap();
        let expected_grad = case.grad(&wrt).unwrap();
        assert_tensor_close(
            &format!("{name} grad"),
            g.shape(),
            &g.value().to_vec(),
            &expected_grad,
            1e-10,
            1e-12,
        );
        if case.op() == "hvp" {
            let v = Var::new(float(&case.tensor("v").unwrap()));
            let hvp = grad(&[&(&g * &v).sum()], &[&x], None, false).unwrap()[0]
                .clone()
                .unwrap();
            assert_tensor_close(
                &format!("{name} hvp"),
                hvp.shape(),
                &hvp.value().to_vec(),
                &case.tensor("hvp").unwrap(),
                1e-10,
                1e-12,
            );
        } else {
            let second = grad(&[&g.sum()], &[&x], None, false).unwrap()[0]
                .clone()
                .unwrap();
            let expected = case.tensor_at(&["second_grads", "x"]).unwrap();
            assert_tensor_close(
                &format!("{name} second"),
                second.shape(),
                &second.value().to_vec(),
                &expected,
                1e-10,
                1e-12,
            );
        }
    }
}
