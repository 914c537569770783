//! layers.json: forward values, gradients of every input and parameter, and batch-norm
//! running statistics against PyTorch in f64 (rtol 1e-10, atol 1e-12, as for ops.json:
//! these layers are short compositions of the same primitives).

use graft_autograd::Var;
use graft_fixtures::{assert_tensor_close, load, Case, FixtureTensor};
use graft_nn::functional::{
    try_adaptive_avg_pool2d, try_avg_pool2d, try_batch_norm, try_conv2d, try_embedding,
    try_layer_norm, try_linear, try_max_pool2d, Conv2dOptions,
};
use graft_tensor::Tensor;
use serde_json::Value;

const RTOL: f64 = 1e-10;
const ATOL: f64 = 1e-12;

fn float(t: &FixtureTensor) -> Tensor<f64> {
    Tensor::from_vec(t.data.clone(), &t.shape)
}

/// An int-or-pair param as `[h, w]`.
fn pair(case: &Case, key: &str, default: usize) -> [usize; 2] {
    match case.param(key) {
        None | Some(Value::Null) => [default, default],
        Some(Value::Array(a)) => [
            a[0].as_u64().unwrap() as usize,
            a[1].as_u64().unwrap() as usize,
        ],
        Some(v) => {
            let n = v
                .as_u64()
                .unwrap_or_else(|| case.fail(&format!("bad param {key}")))
                as usize;
            [n, n]
        }
    }
}

fn check_unsupported(case: &Case) {
    for (key, unsupported) in [
        ("ceil_mode", Value::Bool(true)),
        ("dilation", Value::from(2)),
    ] {
        if case.op().contains("pool") && case.param(key) == Some(&unsupported) {
            case.fail(&format!(
                "{key} = {unsupported} is not supported by graft's pooling"
            ));
        }
    }
    if case.param("divisor_override").is_some_and(|v| !v.is_null()) {
        case.fail("divisor_override is not supported");
    }
}

/// Runs the case's layer; with `primitive`, a one-group conv2d goes straight to the
/// convolution primitive (`Var::try_conv2d`, image by image) whatever its size (the
/// functional picks it only from 64 output positions, more than these cases have).
fn run(case: &Case, v: &dyn Fn(&str) -> Option<Var<f64>>, primitive: bool) -> Var<f64> {
    let x = || v("x").unwrap();
    check_unsupported(case);
    let r = match case.op() {
        "linear" => try_linear(&x(), &v("weight").unwrap(), v("bias").as_ref()),
        "conv2d" => {
            let opt = Conv2dOptions {
                stride: pair(case, "stride", 1),
                padding: pair(case, "padding", 0),
                dilation: pair(case, "dilation", 1),
                groups: case.param("groups").and_then(Value::as_u64).unwrap_or(1) as usize,
            };
            if primitive && opt.groups == 1 {
                let w = v("weight").unwrap();
                let win = opt.window([w.shape()[2], w.shape()[3]]);
                x().try_conv2d(&w, v("bias").as_ref(), &win)
            } else {
                try_conv2d(&x(), &v("weight").unwrap(), v("bias").as_ref(), &opt)
            }
        }
        "max_pool2d" => {
            let k = pair(case, "kernel_size", 1);
            let s = if case.param("stride").is_some_and(|s| !s.is_null()) {
                pair(case, "stride", 1)
            } else {
                k
            };
            try_max_pool2d(&x(), k, s, pair(case, "padding", 0))
        }
        "avg_pool2d" => {
            let k = pair(case, "kernel_size", 1);
            let s = if case.param("stride").is_some_and(|s| !s.is_null()) {
                pair(case, "stride", 1)
            } else {
                k
            };
            let cip = case
                .param("count_include_pad")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            try_avg_pool2d(&x(), k, s, pair(case, "padding", 0), cip)
        }
        "adaptive_avg_pool2d" => try_adaptive_avg_pool2d(&x(), pair(case, "output_size", 1)),
        "batch_norm" => {
            let training = case.param("training").and_then(Value::as_bool).unwrap();
            let momentum = case.param_f64("momentum").unwrap_or(0.1);
            let eps = case.param_f64("eps").unwrap_or(1e-5);
            try_batch_norm(
                &x(),
                v("running_mean").as_ref(),
                v("running_var").as_ref(),
                v("weight").as_ref(),
                v("bias").as_ref(),
                training,
                momentum,
                eps,
            )
        }
        "layer_norm" => {
            let shape: Vec<usize> = case
                .param("normalized_shape")
                .unwrap()
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            try_layer_norm(
                &x(),
                &shape,
                v("weight").as_ref(),
                v("bias").as_ref(),
                case.param_f64("eps").unwrap_or(1e-5),
            )
        }
        "embedding" => {
            let idx = case.input("indices").unwrap();
            let padding = case.param("padding_idx").and_then(Value::as_i64);
            try_embedding(
                &Tensor::from_vec(idx.as_i64(), &idx.shape),
                &v("weight").unwrap(),
                padding,
            )
        }
        other => case.fail(&format!("unknown op {other}")),
    };
    r.unwrap_or_else(|e| case.fail(&e.to_string()))
}

#[test]
fn layers_match_pytorch_forward_gradients_and_running_stats() {
    let cases = load("layers.json");
    assert!(cases.len() >= 23);
    let runs = cases.iter().flat_map(|c| {
        [(c, false)]
            .into_iter()
            .chain((c.op() == "conv2d").then_some((c, true)))
    });
    for (case, primitive) in runs {
        let stats = ["running_mean", "running_var"];
        let vars: Vec<(String, Var<f64>)> = case
            .inputs()
            .into_iter()
            .filter(|(_, t)| !t.is_integer())
            .map(|(k, t)| {
                let var = if stats.contains(&k.as_str()) {
                    Var::new(float(&t))
                } else {
                    Var::parameter(float(&t))
                };
                (k, var)
            })
            .collect();
        let lookup = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let out = run(case, &lookup, primitive);
        let name = format!(
            "{}{}",
            case.name(),
            if primitive { " (primitive)" } else { "" }
        );
        assert_tensor_close(
            &format!("{name} output"),
            out.shape(),
            &out.value().to_vec(),
            &case.output(),
            RTOL,
            ATOL,
        );
        out.backward_with(&float(&case.upstream())).unwrap();
        for (input, g) in case.grads() {
            let actual = lookup(&input)
                .and_then(|v| v.grad())
                .unwrap_or_else(|| case.fail(&format!("no grad for {input}")));
            assert_tensor_close(
                &format!("{name} grad {input}"),
                actual.shape(),
                &actual.to_vec(),
                &g,
                RTOL,
                ATOL,
            );
        }
        for stat in stats {
            if let Some(expected) = case.extra_output(stat) {
                let actual = lookup(stat).unwrap().value();
                assert_tensor_close(
                    &format!("{name} {stat}"),
                    actual.shape(),
                    &actual.to_vec(),
                    &expected,
                    RTOL,
                    ATOL,
                );
            }
        }
    }
}
