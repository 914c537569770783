//! autograd::functional: vjp, jvp, jacobian (both modes), hessian, hvp and vhp, checked
//! against PyTorch's recorded gradients and HVPs (higher_order.json), against central
//! finite differences, by gradcheck of the transforms themselves (create_graph), and jvp
//! against vjp by the identity <J t, v> = <t, Jᵀ v> over random shapes and ops.

use graft_autograd::functional::{hessian, hvp, jacobian, jacobian_forward, jvp, vhp, vjp};
use graft_autograd::{grad, gradcheck, GradcheckOptions, Var};
use graft_fixtures::{assert_tensor_close, load, Case, FixtureTensor};
use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn rand_in(shape: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor<f64> {
    Tensor::uniform(shape, lo, hi, &mut StdRng::seed_from_u64(seed))
}

fn float(t: &FixtureTensor) -> Tensor<f64> {
    Tensor::from_vec(t.data.clone(), &t.shape)
}

#[cfg(feature = "proptest")]
fn dot(a: &Var<f64>, b: &Var<f64>) -> f64 {
    a.value()
        .to_vec()
        .iter()
        .zip(b.value().to_vec())
        .map(|(x, y)| x * y)
        .sum()
}

/// The fixture case's function of its `wrt` input (other inputs held constant).
fn case_function(case: &Case) -> impl Fn(&[Var<f64>]) -> Var<f64> + '_ {
    let wrt = case.get("wrt").and_then(|w| w.as_str()).unwrap_or("x");
    let text = case
        .get("function")
        .and_then(|f| f.as_str())
        .unwrap_or_default();
    move |xs: &[Var<f64>]| {
        let v = |name: &str| -> Var<f64> {
            if name == wrt {
                return xs[0].clone();
            }
            Var::new(float(&case.input(name).unwrap()))
        };
        match text {
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
            _ => case.fail("unknown function"),
        }
    }
}

/// `H` (flattened to n × n) times the flat vector `v`.
fn matvec(h: &[f64], v: &[f64]) -> Vec<f64> {
    h.chunks(v.len())
        .map(|row| row.iter().zip(v).map(|(a, b)| a * b).sum())
        .collect()
}

#[test]
fn transforms_match_pytorch_gradients_and_hessian_vector_products() {
    let cases = load("higher_order.json");
    assert!(!cases.is_empty());
    for case in &cases {
        let name = case.name();
        let wrt = case.get("wrt").and_then(|w| w.as_str()).unwrap_or("x");
        let x = Var::new(float(&case.input(wrt).unwrap()));
        let f = case_function(case);
        let close = |what: &str, got: &Var<f64>, expected: &FixtureTensor| {
            assert_tensor_close(
                &format!("{name} {what}"),
                got.shape(),
                &got.value().to_vec(),
                expected,
                1e-10,
                1e-12,
            )
        };
        let (out, g) = vjp(&f, std::slice::from_ref(&x), None, false).unwrap();
        close("output", &out[0], &case.output());
        let expected_grad = case.grad(wrt).unwrap();
        close("vjp", &g[0], &expected_grad);
        let h = hessian(&f, std::slice::from_ref(&x), false).unwrap();
        assert_eq!(
            h[0][0].shape(),
            [x.shape(), x.shape()].concat(),
            "{name}: hessian shape"
        );
        let h_flat = h[0][0].value().to_vec();
        // Hessians of these smooth functions are symmetric.
        let n = x.numel();
        for i in 0..n {
            for j in 0..i {
                assert!(
                    (h_flat[i * n + j] - h_flat[j * n + i]).abs() < 1e-12,
                    "{name}"
                );
            }
        }
        let v = if case.op() == "hvp" {
            Var::new(float(&case.tensor("v").unwrap()))
        } else {
            // grad_of_grad: d/dx Σ ∇f = H 1.
            Var::new(Tensor::ones(x.shape()))
        };
        let expected = if case.op() == "hvp" {
            case.tensor("hvp").unwrap()
        } else {
            case.tensor_at(&["second_grads", "x"]).unwrap()
        };
        let vs = std::slice::from_ref(&v);
        let (_, hv) = hvp(&f, std::slice::from_ref(&x), Some(vs), false).unwrap();
        close("hvp", &hv[0], &expected);
        let (_, vh) = vhp(&f, std::slice::from_ref(&x), Some(vs), false).unwrap();
        close("vhp", &vh[0], &expected);
        let h_v = Var::new(Tensor::from_vec(
            matvec(&h_flat, &v.value().to_vec()),
            x.shape(),
        ));
        close("hessian · v", &h_v, &expected);
        // jvp of a scalar function: <∇f, t>.
        let (_, jt) = jvp(&f, std::slice::from_ref(&x), Some(vs), false).unwrap();
        let grad_dot_v: f64 = expected_grad
            .data
            .iter()
            .zip(v.value().to_vec())
            .map(|(a, b)| a * b)
            .sum();
        assert!(
            (jt[0].item() - grad_dot_v).abs() < 1e-10 * (1.0 + grad_dot_v.abs()),
            "{name}: jvp {} vs <grad, t> {grad_dot_v}",
            jt[0].item()
        );
        // The Jacobian of the gradient (taken inside the function) is the Hessian.
        let gradient = |xs: &[Var<f64>]| {
            grad(&[&f(xs)], &[&xs[0]], None, true).unwrap()[0]
                .clone()
                .unwrap()
        };
        for (mode, jac) in [
            (
                "jacobian",
                jacobian(gradient, std::slice::from_ref(&x), false),
            ),
            (
                "jacobian_forward",
                jacobian_forward(gradient, std::slice::from_ref(&x), false),
            ),
        ] {
            let jac = jac.unwrap()[0][0].value().to_vec();
            let worst = jac
                .iter()
                .zip(&h_flat)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(
                worst < 1e-12,
                "{name}: {mode} of the gradient vs hessian: {worst:e}"
            );
        }
    }
}

/// Two inputs, two outputs of different shapes; one output ignores the second input.
fn two_by_two(v: &[Var<f64>]) -> Vec<Var<f64>> {
    let a = v[0].matmul(&v[1]).tanh();
    let b = (&v[0].sum_dims(&[1], false) * &v[0].select(1, 0)).sin();
    vec![a, b]
}

/// A function with several outputs.
type MultiOutput = dyn Fn(&[Var<f64>]) -> Vec<Var<f64>>;

/// Central-difference Jacobian of output `i` with respect to input `j`, flattened
/// row-major over `output.shape ++ input.shape`.
fn numeric_jacobian(f: &MultiOutput, inputs: &[Tensor<f64>], i: usize, j: usize) -> Vec<f64> {
    let eps = 1e-6;
    let eval = |xs: Vec<Tensor<f64>>| {
        let vars: Vec<Var<f64>> = xs.into_iter().map(Var::new).collect();
        f(&vars)[i].value().to_vec()
    };
    let n_in = inputs[j].numel();
    let mut columns = Vec::new();
    for k in 0..n_in {
        let shifted = |d: f64| {
            let mut xs = inputs.to_vec();
            let mut data = xs[j].to_vec();
            data[k] += d;
            xs[j] = Tensor::from_vec(data, inputs[j].shape());
            eval(xs)
        };
        let (p, m) = (shifted(eps), shifted(-eps));
        columns.push(
            p.iter()
                .zip(&m)
                .map(|(p, m)| (p - m) / (2.0 * eps))
                .collect::<Vec<f64>>(),
        );
    }
    let n_out = columns.first().map_or(0, Vec::len);
    (0..n_out)
        .flat_map(|r| columns.iter().map(move |c| c[r]))
        .collect()
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}: element {k}: {g} vs {w}"
        );
    }
}

#[test]
fn jacobians_in_both_modes_match_finite_differences() {
    let inputs = vec![
        rand_in(&[3, 2], -1.0, 1.0, 1),
        rand_in(&[2, 4], -1.0, 1.0, 2),
    ];
    let vars: Vec<Var<f64>> = inputs.iter().cloned().map(Var::new).collect();
    let rev = jacobian(two_by_two, &vars, false).unwrap();
    let fwd = jacobian_forward(two_by_two, &vars, false).unwrap();
    let out_shapes = [vec![3, 4], vec![3]];
    for (i, out_shape) in out_shapes.iter().enumerate() {
        for (j, x) in inputs.iter().enumerate() {
            let shape = [out_shape.clone(), x.shape().to_vec()].concat();
            assert_eq!(rev[i][j].shape(), shape.as_slice());
            assert_eq!(fwd[i][j].shape(), shape.as_slice());
            let numeric = numeric_jacobian(&two_by_two, &inputs, i, j);
            assert_close(
                &format!("reverse J[{i}][{j}]"),
                &rev[i][j].value().to_vec(),
                &numeric,
                1e-6,
            );
            assert_close(
                &format!("forward J[{i}][{j}]"),
                &fwd[i][j].value().to_vec(),
                &numeric,
                1e-6,
            );
        }
    }
    // Output 1 ignores input 1: a zero block, not an error.
    assert!(rev[1][1].value().to_vec().iter().all(|&v| v == 0.0));
    assert!(fwd[1][1].value().to_vec().iter().all(|&v| v == 0.0));
}

fn two_input_scalar(v: &[Var<f64>]) -> Var<f64> {
    let h = v[0].matmul(&v[1]).tanh();
    (&h.square().sum() + &(&v[0].sum() * &v[1].exp().sum())).mul_scalar(0.5)
}

#[test]
fn hessian_blocks_match_finite_differences_of_the_gradient() {
    let inputs = vec![rand_in(&[2, 3], -1.0, 1.0, 3), rand_in(&[3], -1.0, 1.0, 4)];
    let vars: Vec<Var<f64>> = inputs.iter().cloned().map(Var::new).collect();
    let h = hessian(two_input_scalar, &vars, false).unwrap();
    let gradient = |xs: &[Var<f64>]| -> Vec<Var<f64>> {
        let params: Vec<Var<f64>> = xs.iter().map(|x| Var::parameter(x.value())).collect();
        let refs: Vec<&Var<f64>> = params.iter().collect();
        grad(&[&two_input_scalar(&params)], &refs, None, false)
            .unwrap()
            .into_iter()
            .map(Option::unwrap)
            .collect()
    };
    for i in 0..2 {
        for j in 0..2 {
            assert_eq!(
                h[i][j].shape(),
                [inputs[i].shape(), inputs[j].shape()].concat().as_slice()
            );
            let numeric = numeric_jacobian(&gradient, &inputs, i, j);
            assert_close(
                &format!("H[{i}][{j}]"),
                &h[i][j].value().to_vec(),
                &numeric,
                1e-6,
            );
        }
    }
    // hvp and vhp agree with the blocks: (H v)_i = Σ_j H[i][j] v_j.
    let v: Vec<Var<f64>> = vec![
        Var::new(rand_in(&[2, 3], -1.0, 1.0, 5)),
        Var::new(rand_in(&[3], -1.0, 1.0, 6)),
    ];
    let (_, hv) = hvp(two_input_scalar, &vars, Some(&v), false).unwrap();
    let (_, vh) = vhp(two_input_scalar, &vars, Some(&v), false).unwrap();
    for i in 0..2 {
        let mut want = vec![0.0; inputs[i].numel()];
        for (j, vj) in v.iter().enumerate() {
            for (w, row) in want
                .iter_mut()
                .zip(matvec(&h[i][j].value().to_vec(), &vj.value().to_vec()))
            {
                *w += row;
            }
        }
        assert_close(&format!("hvp[{i}]"), &hv[i].value().to_vec(), &want, 1e-10);
        assert_close(&format!("vhp[{i}]"), &vh[i].value().to_vec(), &want, 1e-10);
    }
}

#[test]
fn with_create_graph_the_transforms_are_differentiable() {
    let opts = GradcheckOptions::default();
    let f = |x: &Var<f64>| x.sin().square().sum_dims(&[1], false);
    let x = rand_in(&[2, 3], -1.0, 1.0, 7);
    let u = rand_in(&[2], -1.0, 1.0, 8);
    let t = rand_in(&[2, 3], -1.0, 1.0, 9);
    // vjp as a function of both x and the cotangent.
    gradcheck(
        |v| {
            vjp(|a: &[Var<f64>]| f(&a[0]), &v[..1], Some(&v[1..]), true)
                .unwrap()
                .1[0]
                .clone()
        },
        &[x.clone(), u],
        &opts,
    )
    .unwrap();
    // jvp as a function of both x and the tangent.
    gradcheck(
        |v| {
            jvp(|a: &[Var<f64>]| f(&a[0]), &v[..1], Some(&v[1..]), true)
                .unwrap()
                .1[0]
                .clone()
        },
        &[x.clone(), t.clone()],
        &opts,
    )
    .unwrap();
    let scalar = |a: &[Var<f64>]| a[0].sin().square().sum();
    for (name, which) in [("hvp", 0), ("vhp", 1)] {
        let transform = |v: &[Var<f64>]| {
            let r = if which == 0 {
                hvp(scalar, &v[..1], Some(&v[1..]), true)
            } else {
                vhp(scalar, &v[..1], Some(&v[1..]), true)
            };
            r.unwrap().1[0].clone()
        };
        gradcheck(transform, &[x.clone(), t.clone()], &opts)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    gradcheck(
        |v| hessian(scalar, v, true).unwrap()[0][0].clone(),
        std::slice::from_ref(&x),
        &opts,
    )
    .unwrap();
    gradcheck(
        |v| jacobian(|a: &[Var<f64>]| f(&a[0]), v, true).unwrap()[0][0].clone(),
        std::slice::from_ref(&x),
        &opts,
    )
    .unwrap();
    gradcheck(
        |v| jacobian_forward(|a: &[Var<f64>]| f(&a[0]), v, true).unwrap()[0][0].clone(),
        std::slice::from_ref(&x),
        &opts,
    )
    .unwrap();
    // Without create_graph the results are constants.
    let xv = Var::parameter(x);
    let (_, g) = vjp(
        |a: &[Var<f64>]| f(&a[0]),
        &[xv],
        Some(&[Var::new(Tensor::ones(&[2]))]),
        false,
    )
    .unwrap();
    assert!(!g[0].needs_grad());
}

#[test]
fn inputs_are_independent_variables() {
    // The same Var passed twice: each position gets its partial derivative.
    let x = Var::parameter(Tensor::from_vec(vec![2.0f64], &[1]));
    let f = |v: &[Var<f64>]| (&v[0] * &v[1].square()).sum();
    for create_graph in [false, true] {
        let (_, g) = vjp(f, &[x.clone(), x.clone()], None, create_graph).unwrap();
        assert_eq!(
            (g[0].item(), g[1].item()),
            (4.0, 8.0),
            "create_graph {create_graph}"
        );
    }
    // An input computed from another: still a partial derivative.
    let y = x.mul_scalar(3.0);
    let (_, g) = vjp(f, &[x.clone(), y], None, true).unwrap();
    assert_eq!((g[0].item(), g[1].item()), (36.0, 24.0));
}

#[test]
fn bad_vectors_and_non_scalar_functions_are_errors_naming_the_shapes() {
    let x = Var::new(Tensor::<f64>::ones(&[2, 3]));
    let wrong = Var::new(Tensor::<f64>::ones(&[3]));
    let e = vjp(
        |v: &[Var<f64>]| v[0].tanh(),
        std::slice::from_ref(&x),
        Some(std::slice::from_ref(&wrong)),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("vjp") && e.contains("[3]") && e.contains("[2, 3]"),
        "{e}"
    );
    let e = vjp(
        |v: &[Var<f64>]| v[0].tanh(),
        std::slice::from_ref(&x),
        None,
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("vjp") && e.contains("[2, 3]"), "{e}");
    let e = jvp(
        |v: &[Var<f64>]| v[0].tanh(),
        std::slice::from_ref(&x),
        Some(&[]),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("jvp") && e.contains("0 vectors given for 1 inputs"),
        "{e}"
    );
    let e = hessian(
        |v: &[Var<f64>]| v[0].tanh(),
        std::slice::from_ref(&x),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("hessian") && e.contains("[2, 3]"), "{e}");
    let e = hvp(
        |v: &[Var<f64>]| v[0].sum(),
        std::slice::from_ref(&x),
        Some(std::slice::from_ref(&wrong)),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("hvp") && e.contains("[3]"), "{e}");
}

// The jvp/vjp identity over random shapes needs the strategies, autograd's opt-in
// `proptest` feature, which this crate's dev-dependency on itself turns on for its tests.
#[cfg(feature = "proptest")]
mod dot_product_identity {
    use super::*;
    use proptest::prelude::*;

    /// Ops from the registry (crates/autograd/tests/registry.rs) that accept any input shape:
    /// name, the input shapes made from a base shape, and the op.
    type AnyShapeOp = (
        &'static str,
        fn(&[usize]) -> Vec<Vec<usize>>,
        fn(&[Var<f64>]) -> Var<f64>,
    );

    fn same(s: &[usize]) -> Vec<Vec<usize>> {
        vec![s.to_vec()]
    }

    fn pair(s: &[usize]) -> Vec<Vec<usize>> {
        vec![s.to_vec(), s.to_vec()]
    }

    /// `s` as a matrix `[m, k]` and a `[k, 3]` factor.
    fn mat(s: &[usize]) -> Vec<Vec<usize>> {
        let m = s.first().copied().unwrap_or(1);
        let k = s.get(1).copied().unwrap_or(2);
        vec![vec![m, k], vec![k, 3]]
    }

    fn registry_ops() -> Vec<AnyShapeOp> {
        vec![
            ("neg", same, |v| v[0].neg()),
            ("exp", same, |v| v[0].exp()),
            ("tanh", same, |v| v[0].tanh()),
            ("sigmoid", same, |v| v[0].sigmoid()),
            ("sin", same, |v| v[0].sin()),
            ("erf", same, |v| v[0].erf()),
            ("square", same, |v| v[0].square()),
            ("gelu", same, |v| v[0].gelu(false)),
            ("softplus", same, |v| v[0].softplus(1.0, 20.0)),
            ("sum", same, |v| v[0].sum()),
            ("mean", same, |v| v[0].mean()),
            ("softmax", same, |v| {
                v[0].reshape(&[v[0].numel()]).softmax(0)
            }),
            ("logsumexp", same, |v| {
                v[0].reshape(&[v[0].numel()]).logsumexp_dims(&[0], false)
            }),
            ("add", pair, |v| &v[0] + &v[1]),
            ("mul", pair, |v| &v[0] * &v[1]),
            ("div", pair, |v| &v[0] / &v[1].exp()),
            ("maximum", pair, |v| v[0].maximum(&v[1])),
            ("matmul", mat, |v| v[0].matmul(&v[1])),
            ("tanh_matmul", mat, |v| {
                v[0].matmul(&v[1]).tanh().sum_dims(&[0], false)
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// <J t, v> = <t, Jᵀ v>: jvp (by the double-vjp trick) against vjp.
        #[test]
        fn jvp_and_vjp_satisfy_the_dot_product_identity(
            op in 0..registry_ops().len(),
            shape in graft_autograd::strategies::shape(3, 4),
            seed in 0u64..1_000_000,
        ) {
            let (name, make_shapes, f) = registry_ops()[op];
            let shapes = make_shapes(&shape);
            let xs: Vec<Var<f64>> = shapes
                .iter()
                .enumerate()
                .map(|(i, s)| Var::new(rand_in(s, -1.5, 1.5, seed + i as u64)))
                .collect();
            let ts: Vec<Var<f64>> = shapes
                .iter()
                .enumerate()
                .map(|(i, s)| Var::new(rand_in(s, -1.0, 1.0, seed + 10 + i as u64)))
                .collect();
            let (out, jt) = jvp(f, &xs, Some(&ts), false).unwrap();
            let v = Var::new(rand_in(out[0].shape(), -1.0, 1.0, seed + 20));
            let (_, vj) = vjp(f, &xs, Some(std::slice::from_ref(&v)), false).unwrap();
            let lhs = dot(&jt[0], &v);
            let rhs: f64 = ts.iter().zip(&vj).map(|(t, g)| dot(t, g)).sum();
            prop_assert!(
                (lhs - rhs).abs() <= 1e-10 * (1.0 + lhs.abs()),
                "{}: shapes {:?}: <J t, v> = {} but <t, Jᵀ v> = {}", name, shapes, lhs, rhs
            );
        }
    }
}
