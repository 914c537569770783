//! sequence.json, the convolution and normalisation cases (conv1d, conv_transpose2d,
//! group_norm): outputs and the gradient of every input against PyTorch in f64, at the
//! tolerances of layers.json (rtol 1e-10, atol 1e-12). The recurrent and attention cases
//! of the same file are checked elsewhere.

use graft_autograd::Var;
use graft_fixtures::{assert_tensor_close, load, Case, FixtureTensor};
use graft_nn::functional::{
    try_conv1d, try_conv_transpose2d, try_group_norm, Conv1dOptions, ConvTranspose2dOptions,
};
use graft_tensor::Tensor;
use serde_json::Value;

const RTOL: f64 = 1e-10;
const ATOL: f64 = 1e-12;
const OPS: [&str; 3] = ["conv1d", "conv_transpose2d", "group_norm"];

fn float(t: &FixtureTensor) -> Tensor<f64> {
    Tensor::from_vec(t.data.clone(), &t.shape)
}

/// An int-or-pair param as `[h, w]`.
fn pair(case: &Case, key: &str, default: usize) -> [usize; 2] {
    let int = |v: &Value| {
        v.as_u64()
            .unwrap_or_else(|| case.fail(&format!("bad param {key}: {v}"))) as usize
    };
    match case.param(key) {
        None | Some(Value::Null) => [default, default],
        Some(Value::Array(a)) if a.len() == 2 => [int(&a[0]), int(&a[1])],
        Some(v) => [int(v), int(v)],
    }
}

fn uint(case: &Case, key: &str, default: usize) -> usize {
    match case.param(key) {
        None => default,
        Some(v) => {
            v.as_u64()
                .unwrap_or_else(|| case.fail(&format!("bad param {key}: {v}"))) as usize
        }
    }
}

fn run(case: &Case, v: &dyn Fn(&str) -> Option<Var<f64>>) -> Var<f64> {
    let x = v("x").unwrap_or_else(|| case.fail("no input x"));
    let r = match case.op() {
        "conv1d" => {
            let opt = Conv1dOptions {
                stride: uint(case, "stride", 1),
                padding: uint(case, "padding", 0),
                dilation: uint(case, "dilation", 1),
                groups: uint(case, "groups", 1),
            };
            try_conv1d(&x, &v("weight").unwrap(), v("bias").as_ref(), &opt)
        }
        "conv_transpose2d" => {
            let opt = ConvTranspose2dOptions {
                stride: pair(case, "stride", 1),
                padding: pair(case, "padding", 0),
                output_padding: pair(case, "output_padding", 0),
                dilation: pair(case, "dilation", 1),
                groups: uint(case, "groups", 1),
            };
            try_conv_transpose2d(&x, &v("weight").unwrap(), v("bias").as_ref(), &opt)
        }
        "group_norm" => try_group_norm(
            &x,
            uint(case, "num_groups", 1),
            v("weight").as_ref(),
            v("bias").as_ref(),
            case.param_f64("eps").unwrap_or(1e-5),
        ),
        other => case.fail(&format!("unknown op {other}")),
    };
    r.unwrap_or_else(|e| case.fail(&e.to_string()))
}

#[test]
fn conv_and_group_norm_match_pytorch_outputs_and_gradients() {
    let cases: Vec<Case> = load("sequence.json")
        .into_iter()
        .filter(|c| OPS.contains(&c.op()))
        .collect();
    for op in OPS {
        assert!(
            cases.iter().filter(|c| c.op() == op).count() >= 2,
            "sequence.json should hold at least two {op} cases"
        );
    }
    for case in &cases {
        let vars: Vec<(String, Var<f64>)> = case
            .inputs()
            .into_iter()
            .map(|(k, t)| (k, Var::parameter(float(&t))))
            .collect();
        let lookup = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let out = run(case, &lookup);
        let name = case.name();
        assert_tensor_close(
            &format!("{name} output"),
            out.shape(),
            &out.value().to_vec(),
            &case.output(),
            RTOL,
            ATOL,
        );
        out.backward_with(&float(&case.upstream())).unwrap();
        let grads = case.grads();
        assert_eq!(
            grads.len(),
            vars.len(),
            "{name}: a gradient for every input"
        );
        for (input, g) in grads {
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
    }
}
