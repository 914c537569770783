//! ops.json: forward values and gradients (d sum(output * upstream) / d input) against
//! PyTorch in f64. Tolerance: rtol 1e-10, atol 1e-12. The fixtures README puts a correct
//! f64 implementation at about 1e-15 relative (summation order only); 1e-10 leaves room for
//! the longer compositions (var/std, softmax) without hiding a wrong formula, which would be
//! off by far more.

use graft_autograd::Var;
use graft_fixtures::{assert_tensor_close, load, Case, FixtureTensor};
use graft_tensor::Tensor;
use serde_json::Value;

const RTOL: f64 = 1e-10;
const ATOL: f64 = 1e-12;

fn float(t: &FixtureTensor) -> Tensor<f64> {
    Tensor::from_vec(t.data.clone(), &t.shape)
}

fn index(t: &FixtureTensor) -> Tensor<i64> {
    Tensor::from_vec(t.as_i64(), &t.shape)
}

fn mask(t: &FixtureTensor) -> Tensor<bool> {
    Tensor::from_vec(t.as_bool(), &t.shape)
}

/// The `dim` param as a list of axes (`None` = all axes).
fn axes(case: &Case, ndim: usize) -> Vec<isize> {
    match case.param("dim") {
        None | Some(Value::Null) => (0..ndim as isize).collect(),
        Some(Value::Array(a)) => a.iter().map(|v| v.as_i64().unwrap() as isize).collect(),
        Some(v) => vec![v.as_i64().unwrap() as isize],
    }
}

fn int(case: &Case, key: &str) -> isize {
    case.param(key)
        .and_then(Value::as_i64)
        .unwrap_or_else(|| case.fail(&format!("missing int param {key}"))) as isize
}

fn flag(case: &Case, key: &str) -> bool {
    case.param(key).and_then(Value::as_bool).unwrap_or(false)
}

/// Runs the case's op on Vars; every op name in ops.json must be handled here.
fn run(case: &Case, v: &dyn Fn(&str) -> Var<f64>) -> Var<f64> {
    let x = || v("x");
    let keep = flag(case, "keepdim");
    match case.op() {
        "add" => &v("a") + &v("b"),
        "sub" => &v("a") - &v("b"),
        "mul" => &v("a") * &v("b"),
        "div" => &v("a") / &v("b"),
        "neg" => -&x(),
        "exp" => x().exp(),
        "log" => x().log(),
        "sqrt" => x().sqrt(),
        "pow" => x().pow_scalar(case.param_f64("exponent").unwrap()),
        "tanh" => x().tanh(),
        "sigmoid" => x().sigmoid(),
        "relu" => x().relu(),
        "leaky_relu" => x().leaky_relu(case.param_f64("negative_slope").unwrap()),
        "gelu" => x().gelu(case.param("approximate").and_then(Value::as_str) == Some("tanh")),
        "softplus" => x().softplus(
            case.param_f64("beta").unwrap(),
            case.param_f64("threshold").unwrap(),
        ),
        "abs" => x().abs(),
        "clamp" => x().clamp(
            case.param("min").and_then(Value::as_f64),
            case.param("max").and_then(Value::as_f64),
        ),
        "sum" => {
            let x = x();
            x.sum_dims(&axes(case, x.ndim()), keep)
        }
        "mean" => {
            let x = x();
            x.mean_dims(&axes(case, x.ndim()), keep)
        }
        "max" | "amax" => {
            let x = x();
            x.max_dims(&axes(case, x.ndim()), keep)
        }
        "min" | "amin" => {
            let x = x();
            x.min_dims(&axes(case, x.ndim()), keep)
        }
        "var" | "std" => {
            let x = x();
            let c = int(case, "correction") as usize;
            let out = x.var_dims(&axes(case, x.ndim()), c, keep);
            if case.op() == "std" {
                out.sqrt()
            } else {
                out
            }
        }
        "matmul" => v("a").matmul(&v("b")),
        "transpose" => x().transpose(int(case, "dim0"), int(case, "dim1")),
        "permute" => {
            let dims: Vec<isize> = case
                .param("dims")
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_i64().unwrap() as isize)
                .collect();
            x().permute(&dims)
        }
        "reshape" => {
            let shape: Vec<usize> = case
                .param("shape")
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            x().reshape(&shape)
        }
        "narrow" => x().narrow(
            int(case, "dim"),
            int(case, "start") as usize,
            int(case, "length") as usize,
        ),
        "slice" => x().slice(
            int(case, "dim"),
            int(case, "start"),
            int(case, "end"),
            int(case, "step") as usize,
        ),
        "cat" | "stack" => {
            let names: Vec<String> = case
                .param("input_order")
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_string())
                .collect();
            let vars: Vec<Var<f64>> = names.iter().map(|n| v(n)).collect();
            let refs: Vec<&Var<f64>> = vars.iter().collect();
            if case.op() == "cat" {
                Var::concat(&refs, int(case, "dim"))
            } else {
                Var::stack(&refs, int(case, "dim"))
            }
        }
        "index_select" => x().index_select(int(case, "dim"), &index(&case.input("index").unwrap())),
        "gather" => x().gather(int(case, "dim"), &index(&case.input("index").unwrap())),
        "where" => Var::where_cond(&mask(&case.input("condition").unwrap()), &x(), &v("y")),
        "masked_fill" => x().masked_fill(
            &mask(&case.input("mask").unwrap()),
            case.param_f64("value").unwrap(),
        ),
        "softmax" => x().softmax(int(case, "dim")),
        "log_softmax" => x().log_softmax(int(case, "dim")),
        "logsumexp" => x().logsumexp_dims(&[int(case, "dim")], keep),
        other => case.fail(&format!("unknown op {other}")),
    }
}

#[test]
fn ops_match_pytorch_forward_and_gradients() {
    let cases = load("ops.json");
    assert!(cases.len() >= 78, "ops.json has {} cases", cases.len());
    for case in &cases {
        let params: Vec<(String, Var<f64>)> = case
            .inputs()
            .into_iter()
            .filter(|(_, t)| !t.is_integer() && t.dtype != "bool")
            .map(|(k, t)| (k, Var::parameter(float(&t))))
            .collect();
        let lookup = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| case.fail(&format!("no float input {name}")))
        };
        let out = run(case, &lookup);
        let expected = case.output();
        assert_tensor_close(
            &format!("{} output", case.name()),
            out.shape(),
            &out.value().to_vec(),
            &expected,
            RTOL,
            ATOL,
        );
        out.backward_with(&float(&case.upstream())).unwrap();
        for (name, g) in case.grads() {
            let var = lookup(&name);
            let actual = var
                .grad()
                .unwrap_or_else(|| case.fail(&format!("no gradient for {name}")));
            assert_tensor_close(
                &format!("{} grad {name}", case.name()),
                actual.shape(),
                &actual.to_vec(),
                &g,
                RTOL,
                ATOL,
            );
        }
    }
}
