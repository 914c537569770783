//! ops.json forward values against PyTorch in f64, through plain `Tensor` ops (no autograd;
//! the gradients of the same cases are checked by crates/autograd/tests/fixtures_ops.rs).
//!
//! Every case is checked. The ops that graft-tensor has no single method for (leaky_relu,
//! gelu, softplus, softmax, log_softmax: autograd composes them) are composed here from
//! tensor ops with the formulas of the fixtures README, so a wrong building block still
//! shows up. An op name this file does not know fails the test, so nothing is skipped.
//!
//! Tolerance: rtol 1e-12, atol 1e-14 for every op, var/std/logsumexp included. The inputs
//! are O(1) and each output element goes through few roundings (at most 24-term sums), so
//! a correct f64 result differs from PyTorch's only by summation order: the worst case
//! measured is 1.9e-15 relative (gelu_none; matmul 1.5e-15; var/std 2.5e-16), i.e. 1e-12
//! leaves a ~500x margin and still fails a value off by 1e-9 relative (see the last
//! test). atol 1e-14 only matters for expected values near 0 (e.g. sums that cancel),
//! where a purely relative bound would demand more than the last bit.

use graft_fixtures::{assert_tensor_close, load, Case, FixtureTensor};
use graft_tensor::Tensor;
use std::collections::BTreeSet;
use std::f64::consts::{FRAC_1_SQRT_2, PI};

const RTOL: f64 = 1e-12;
const ATOL: f64 = 1e-14;

/// Every op of ops.json (the fixtures README's table); each must occur in the file.
const OPS: &[&str] = &[
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "exp",
    "log",
    "sqrt",
    "tanh",
    "sigmoid",
    "abs",
    "pow",
    "relu",
    "leaky_relu",
    "gelu",
    "softplus",
    "clamp",
    "sum",
    "mean",
    "max",
    "min",
    "amax",
    "amin",
    "var",
    "std",
    "matmul",
    "transpose",
    "permute",
    "reshape",
    "narrow",
    "slice",
    "cat",
    "stack",
    "index_select",
    "gather",
    "where",
    "masked_fill",
    "softmax",
    "log_softmax",
    "logsumexp",
];

fn float(t: &FixtureTensor) -> Tensor<f64> {
    assert!(
        !t.is_integer(),
        "expected a float tensor, found {}",
        t.dtype
    );
    Tensor::from_vec(t.data.clone(), &t.shape)
}

fn index(t: &FixtureTensor) -> Tensor<i64> {
    assert_eq!(t.dtype, "int64", "expected an int64 index tensor");
    Tensor::from_vec(t.as_i64(), &t.shape)
}

fn mask(t: &FixtureTensor) -> Tensor<bool> {
    assert_eq!(t.dtype, "bool", "expected a bool mask tensor");
    Tensor::from_vec(t.as_bool(), &t.shape)
}

/// An int param's value (`None` when absent); panics if it is not an integer.
fn int_param(case: &Case, key: &str) -> Option<i64> {
    case.param(key).map(|v| {
        v.as_i64()
            .unwrap_or_else(|| case.fail(&format!("has a non-integer param {key}: {v}")))
    })
}

/// The `dim` param as a list of axes (absent or `null` = all axes).
fn axes(case: &Case, ndim: usize) -> Vec<isize> {
    match case.param("dim") {
        None => (0..ndim as isize).collect(),
        Some(v) if v.is_null() => (0..ndim as isize).collect(),
        Some(v) => match v.as_array() {
            Some(a) => a
                .iter()
                .map(|d| {
                    d.as_i64()
                        .unwrap_or_else(|| case.fail(&format!("has a non-integer dim {d}")))
                        as isize
                })
                .collect(),
            None => vec![int(case, "dim")],
        },
    }
}

/// The `dim` param when it is a single int (the `torch.max(x, dim)` form).
fn single_dim(case: &Case) -> Option<isize> {
    case.param("dim")
        .filter(|v| !v.is_null() && v.as_array().is_none())
        .map(|_| int(case, "dim"))
}

fn int(case: &Case, key: &str) -> isize {
    int_param(case, key).unwrap_or_else(|| case.fail(&format!("has no param {key}"))) as isize
}

fn int_list(case: &Case, key: &str) -> Vec<isize> {
    case.param(key)
        .and_then(|v| v.as_array())
        .unwrap_or_else(|| case.fail(&format!("has no list param {key}")))
        .iter()
        .map(|d| {
            d.as_i64()
                .unwrap_or_else(|| case.fail(&format!("has a non-integer in {key}: {d}")))
                as isize
        })
        .collect()
}

fn num(case: &Case, key: &str) -> f64 {
    case.param_f64(key)
        .unwrap_or_else(|| case.fail(&format!("has no numeric param {key}")))
}

/// A clamp bound: a number, or absent/`null` for no bound.
fn bound(case: &Case, key: &str) -> Option<f64> {
    case.param(key).filter(|v| !v.is_null()).map(|v| {
        v.as_f64()
            .unwrap_or_else(|| case.fail(&format!("has a non-numeric param {key}: {v}")))
    })
}

fn flag(case: &Case, key: &str) -> bool {
    case.param(key).and_then(|v| v.as_bool()).unwrap_or(false)
}

fn input(case: &Case, key: &str) -> FixtureTensor {
    case.input(key)
        .unwrap_or_else(|| case.fail(&format!("has no input {key}")))
}

/// softmax along `dim` as torch computes it: exp(x - max) / sum(exp(x - max)).
fn softmax(x: &Tensor<f64>, dim: isize) -> Tensor<f64> {
    let e = (x - &x.max_dims(&[dim], true)).exp();
    &e / &e.sum_dims(&[dim], true)
}

/// log_softmax along `dim`: (x - max) - log(sum(exp(x - max))).
fn log_softmax(x: &Tensor<f64>, dim: isize) -> Tensor<f64> {
    let shifted = x - &x.max_dims(&[dim], true);
    &shifted - &shifted.exp().sum_dims(&[dim], true).log()
}

/// Runs the case's op with tensor ops; every op name in ops.json must be handled here.
fn forward(case: &Case) -> Tensor<f64> {
    let f = |key: &str| float(&input(case, key));
    let keep = flag(case, "keepdim");
    match case.op() {
        "add" => &f("a") + &f("b"),
        "sub" => &f("a") - &f("b"),
        "mul" => &f("a") * &f("b"),
        "div" => &f("a") / &f("b"),
        "neg" => -&f("x"),
        "exp" => f("x").exp(),
        "log" => f("x").log(),
        "sqrt" => f("x").sqrt(),
        "tanh" => f("x").tanh(),
        "sigmoid" => f("x").sigmoid(),
        "abs" => f("x").abs(),
        "pow" => f("x").pow_scalar(num(case, "exponent")),
        "relu" => f("x").relu(),
        "leaky_relu" => {
            let x = f("x");
            let slope = num(case, "negative_slope");
            Tensor::where_cond(&x.gt_scalar(0.0), &x, &x.mul_scalar(slope))
        }
        "gelu" => {
            let x = f("x");
            let inner = match case.param("approximate").and_then(|v| v.as_str()) {
                Some("none") | None => x.mul_scalar(FRAC_1_SQRT_2).erf(),
                Some("tanh") => (&x + &x.pow_scalar(3.0).mul_scalar(0.044715))
                    .mul_scalar((2.0 / PI).sqrt())
                    .tanh(),
                Some(other) => case.fail(&format!("has unknown gelu approximate {other:?}")),
            };
            (&x * &inner.add_scalar(1.0)).mul_scalar(0.5)
        }
        "softplus" => {
            let x = f("x");
            let (beta, threshold) = (num(case, "beta"), num(case, "threshold"));
            let bx = x.mul_scalar(beta);
            // The clamp only keeps exp of the unused branch finite.
            let smooth = bx
                .clamp(None, Some(threshold))
                .exp()
                .log1p()
                .div_scalar(beta);
            Tensor::where_cond(&bx.gt_scalar(threshold), &x, &smooth)
        }
        "clamp" => f("x").clamp(bound(case, "min"), bound(case, "max")),
        "sum" => {
            let x = f("x");
            x.sum_dims(&axes(case, x.ndim()), keep)
        }
        "mean" => {
            let x = f("x");
            x.mean_dims(&axes(case, x.ndim()), keep)
        }
        "max" | "amax" => {
            let x = f("x");
            x.max_dims(&axes(case, x.ndim()), keep)
        }
        "min" | "amin" => {
            let x = f("x");
            x.min_dims(&axes(case, x.ndim()), keep)
        }
        "var" | "std" => {
            let x = f("x");
            let c = usize::try_from(int(case, "correction"))
                .unwrap_or_else(|_| case.fail("has a negative correction"));
            let dims = axes(case, x.ndim());
            if case.op() == "var" {
                x.var_dims(&dims, c, keep)
            } else {
                x.std_dims(&dims, c, keep)
            }
        }
        "matmul" => f("a").matmul(&f("b")),
        "transpose" => f("x").transpose(int(case, "dim0"), int(case, "dim1")),
        "permute" => f("x").permute(&int_list(case, "dims")),
        "reshape" => {
            let shape: Vec<usize> = int_list(case, "shape")
                .into_iter()
                .map(|d| usize::try_from(d).unwrap_or_else(|_| case.fail("has a -1 in shape")))
                .collect();
            f("x").reshape(&shape)
        }
        "narrow" => f("x").narrow(
            int(case, "dim"),
            int(case, "start") as usize,
            int(case, "length") as usize,
        ),
        "slice" => f("x").slice(
            int(case, "dim"),
            int(case, "start"),
            int(case, "end"),
            int(case, "step") as usize,
        ),
        "cat" | "stack" => {
            let names: Vec<String> = case
                .param("input_order")
                .and_then(|v| v.as_array())
                .unwrap_or_else(|| case.fail("has no input_order"))
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect();
            let xs: Vec<Tensor<f64>> = names.iter().map(|n| f(n)).collect();
            let refs: Vec<&Tensor<f64>> = xs.iter().collect();
            if case.op() == "cat" {
                Tensor::concat(&refs, int(case, "dim"))
            } else {
                Tensor::stack(&refs, int(case, "dim"))
            }
        }
        "index_select" => f("x").index_select(int(case, "dim"), &index(&input(case, "index"))),
        "gather" => f("x").gather(int(case, "dim"), &index(&input(case, "index"))),
        "where" => Tensor::where_cond(&mask(&input(case, "condition")), &f("x"), &f("y")),
        "masked_fill" => f("x").masked_fill(&mask(&input(case, "mask")), num(case, "value")),
        "softmax" => softmax(&f("x"), int(case, "dim")),
        "log_softmax" => log_softmax(&f("x"), int(case, "dim")),
        "logsumexp" => {
            let x = f("x");
            x.logsumexp_dims(&axes(case, x.ndim()), keep)
        }
        other => case.fail(&format!("has unknown op {other}")),
    }
}

/// `torch.max/min(x, dim, keepdim).indices` must equal argmax_dim/argmin_dim exactly.
fn check_indices(case: &Case) -> bool {
    let Some(dim) = single_dim(case) else {
        return false;
    };
    let expected = case
        .extra_output("indices")
        .unwrap_or_else(|| case.fail("has an int dim but no extra_outputs.indices"));
    assert_eq!(expected.dtype, "int64", "{}: indices dtype", case.name());
    let x = float(&input(case, "x"));
    let keep = flag(case, "keepdim");
    let actual = match case.op() {
        "max" => x.argmax_dim(dim, keep),
        "min" => x.argmin_dim(dim, keep),
        other => case.fail(&format!("has an int dim, unexpected for {other}")),
    };
    assert_eq!(actual.shape(), expected.shape.as_slice(), "{}", case.name());
    assert_eq!(
        actual.to_vec(),
        expected.as_i64(),
        "{} indices",
        case.name()
    );
    true
}

#[test]
fn ops_forward_match_pytorch() {
    let cases = load("ops.json");
    let mut seen = BTreeSet::new();
    let mut indices_checked = 0;
    for case in &cases {
        assert_eq!(case.dtype(), "float64", "{}: dtype", case.name());
        assert!(
            OPS.contains(&case.op()),
            "{}: unknown op {}",
            case.name(),
            case.op()
        );
        let out = forward(case);
        assert_tensor_close(
            &format!("{} output", case.name()),
            out.shape(),
            &out.to_vec(),
            &case.output(),
            RTOL,
            ATOL,
        );
        if matches!(case.op(), "max" | "min") && check_indices(case) {
            indices_checked += 1;
        }
        seen.insert(case.op());
    }
    let missing: Vec<&&str> = OPS.iter().filter(|op| !seen.contains(*op)).collect();
    assert!(missing.is_empty(), "ops.json has no case for {missing:?}");
    assert!(indices_checked > 0, "no max/min case with an int dim");
    println!(
        "ops.json: {} cases checked ({} ops, {indices_checked} index outputs), none skipped; \
         rtol {RTOL:e}, atol {ATOL:e}",
        cases.len(),
        seen.len()
    );
}

/// The check above fails when any one expected value is off by 1e-9 relative: perturbs
/// the largest-magnitude element of each case's expected output in memory.
#[test]
fn a_value_off_by_1e_9_relative_fails() {
    let cases = load("ops.json");
    for case in &cases {
        let out = forward(case);
        let actual = out.to_vec();
        let mut expected = case.output();
        let (i, _) = expected
            .data
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .expect("non-empty output");
        expected.data[i] *= 1.0 + 1e-9;
        let result = std::panic::catch_unwind(|| {
            assert_tensor_close(case.name(), out.shape(), &actual, &expected, RTOL, ATOL)
        });
        let payload = result.expect_err(&format!(
            "{}: a perturbed expected value still passed",
            case.name()
        ));
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or_default();
        assert!(
            message.contains("1 of") && message.contains(&format!("worst at index {i}")),
            "{}: unexpected failure: {message}",
            case.name()
        );
    }
}

/// An op this file does not know is a failure, never a silent skip.
#[test]
#[should_panic(expected = "case `bogus_case` has unknown op bogus")]
fn an_unknown_op_fails() {
    let cases = graft_fixtures::parse(
        "ops.json",
        r#"[{"name": "bogus_case", "op": "bogus", "params": {},
            "inputs": {"x": {"shape": [1], "data": [1.0]}},
            "output": {"shape": [1], "data": [1.0]}}]"#,
    )
    .unwrap();
    forward(&cases[0]);
}
