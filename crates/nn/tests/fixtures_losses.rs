//! losses.json: every case's forward value and the gradients of every float input
//! (targets included) against PyTorch in f64.
//!
//! Tolerance: rtol 1e-10, atol 1e-12. Each loss is a short composition (a subtraction,
//! a log-softmax, a gather, a weighted sum), so a correct f64 implementation differs from
//! PyTorch only by rounding and summation order, about 1e-15 relative; 1e-10 leaves room
//! for that while any formula slip (a missing 1/2, the wrong normalizer of a weighted or
//! ignored mean, unsmoothed targets) is off by 1e-3 or more and fails.
//!
//! Nothing is skipped silently: an unknown op, param, param value or input name panics,
//! every float input that PyTorch differentiates must have a recorded gradient and get
//! one here, and every recorded gradient is compared.

use std::cell::RefCell;
use std::collections::BTreeSet;

use graft_autograd::Var;
use graft_fixtures::{assert_tensor_close, load, Case, FixtureTensor};
use graft_nn::loss::{self, CrossEntropyOptions, KlDivReduction, NllLossOptions, Reduction};
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

/// The inputs of one case: float inputs as tracked Vars (or constant tensors for the
/// ones PyTorch does not differentiate), and a record of which inputs the op used.
struct Inputs<'a> {
    case: &'a Case,
    vars: Vec<(String, Var<f64>)>,
    used: RefCell<BTreeSet<String>>,
}

/// Float inputs that are state, not differentiated (README: class `weight`, `pos_weight`).
const CONSTANT_INPUTS: [&str; 2] = ["weight", "pos_weight"];

impl<'a> Inputs<'a> {
    fn new(case: &'a Case) -> Self {
        let vars = case
            .inputs()
            .into_iter()
            .filter(|(k, t)| {
                !t.is_integer() && t.dtype != "bool" && !CONSTANT_INPUTS.contains(&k.as_str())
            })
            .map(|(k, t)| (k, Var::parameter(float(&t))))
            .collect();
        Inputs {
            case,
            vars,
            used: RefCell::new(BTreeSet::new()),
        }
    }

    fn mark(&self, name: &str) {
        self.used.borrow_mut().insert(name.to_string());
    }

    /// A differentiable float input.
    fn var(&self, name: &str) -> Var<f64> {
        self.mark(name);
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| self.case.fail(&format!("has no float input `{name}`")))
    }

    /// An int64 input (class indices).
    fn indices(&self, name: &str) -> Tensor<i64> {
        self.mark(name);
        let t = self
            .case
            .input(name)
            .unwrap_or_else(|| self.case.fail(&format!("has no input `{name}`")));
        if !t.is_integer() {
            self.case.fail(&format!("input `{name}` is not int64"));
        }
        index(&t)
    }

    /// An optional constant float input (class weights, pos_weight).
    fn constant(&self, name: &str) -> Option<Tensor<f64>> {
        self.case.input(name).map(|t| {
            self.mark(name);
            if t.is_integer() {
                self.case
                    .fail(&format!("input `{name}` is not a float tensor"));
            }
            float(&t)
        })
    }

    /// Panics if the case has an input the op did not read.
    fn check_all_used(&self) {
        let used = self.used.borrow();
        for (name, _) in self.case.inputs() {
            if !used.contains(&name) {
                self.case
                    .fail(&format!("has input `{name}`, which the op did not use"));
            }
        }
    }
}

/// Panics unless the case's params are exactly drawn from `allowed` (torch's keyword names).
fn check_params(case: &Case, allowed: &[&str]) {
    for key in case.params().keys() {
        if !allowed.contains(&key.as_str()) {
            case.fail(&format!("has unknown param `{key}` for op {}", case.op()));
        }
    }
}

fn reduction(case: &Case) -> Reduction {
    match case.param("reduction").and_then(Value::as_str) {
        Some("mean") => Reduction::Mean,
        Some("sum") => Reduction::Sum,
        Some("none") => Reduction::None,
        other => case.fail(&format!("has unknown reduction {other:?}")),
    }
}

fn required_f64(case: &Case, key: &str) -> f64 {
    case.param_f64(key)
        .unwrap_or_else(|| case.fail(&format!("has no numeric param `{key}`")))
}

fn ignore_index(case: &Case) -> i64 {
    match case.param("ignore_index") {
        None => -100,
        Some(v) => v
            .as_i64()
            .unwrap_or_else(|| case.fail(&format!("has a non-integer ignore_index {v}"))),
    }
}

fn bool_param(case: &Case, key: &str) -> bool {
    match case.param(key) {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => case.fail(&format!("has a non-boolean param `{key}`: {v}")),
    }
}

/// Runs the case's loss; every op in losses.json must be handled here.
fn run(case: &Case, x: &Inputs) -> Var<f64> {
    match case.op() {
        "mse_loss" | "l1_loss" => {
            check_params(case, &["reduction"]);
            let (i, t, r) = (x.var("input"), x.var("target"), reduction(case));
            if case.op() == "mse_loss" {
                loss::mse_loss(&i, &t, r)
            } else {
                loss::l1_loss(&i, &t, r)
            }
        }
        "huber_loss" => {
            check_params(case, &["reduction", "delta"]);
            loss::huber_loss(
                &x.var("input"),
                &x.var("target"),
                required_f64(case, "delta"),
                reduction(case),
            )
        }
        "smooth_l1_loss" => {
            check_params(case, &["reduction", "beta"]);
            loss::smooth_l1_loss(
                &x.var("input"),
                &x.var("target"),
                required_f64(case, "beta"),
                reduction(case),
            )
        }
        "cross_entropy" => {
            check_params(
                case,
                &[
                    "reduction",
                    "ignore_index",
                    "label_smoothing",
                    "target_kind",
                ],
            );
            let options = CrossEntropyOptions {
                weight: x.constant("weight"),
                ignore_index: ignore_index(case),
                label_smoothing: case.param_f64("label_smoothing").unwrap_or(0.0),
                reduction: reduction(case),
            };
            match case.param("target_kind").and_then(Value::as_str) {
                None | Some("indices") => {
                    loss::cross_entropy_with(&x.var("input"), &x.indices("target"), &options)
                }
                Some("probabilities") => {
                    loss::cross_entropy_probs_with(&x.var("input"), &x.var("target"), &options)
                }
                Some(other) => case.fail(&format!("has unknown target_kind {other}")),
            }
        }
        "nll_loss" => {
            check_params(case, &["reduction", "ignore_index"]);
            let options = NllLossOptions {
                weight: x.constant("weight"),
                ignore_index: ignore_index(case),
                reduction: reduction(case),
            };
            loss::nll_loss_with(&x.var("input"), &x.indices("target"), &options)
        }
        "binary_cross_entropy" => {
            check_params(case, &["reduction"]);
            loss::binary_cross_entropy(&x.var("input"), &x.var("target"), reduction(case))
        }
        "binary_cross_entropy_with_logits" => {
            check_params(case, &["reduction"]);
            let pos_weight = x.constant("pos_weight");
            loss::binary_cross_entropy_with_logits(
                &x.var("input"),
                &x.var("target"),
                pos_weight.as_ref(),
                reduction(case),
            )
        }
        "kl_div" => {
            check_params(case, &["reduction", "log_target"]);
            let r = match case.param("reduction").and_then(Value::as_str) {
                Some("batchmean") => KlDivReduction::BatchMean,
                Some("mean") => KlDivReduction::Mean,
                Some("sum") => KlDivReduction::Sum,
                Some("none") => KlDivReduction::None,
                other => case.fail(&format!("has unknown kl_div reduction {other:?}")),
            };
            loss::kl_div(
                &x.var("input"),
                &x.var("target"),
                r,
                bool_param(case, "log_target"),
            )
        }
        other => case.fail(&format!("has unknown op {other}")),
    }
}

#[test]
fn losses_match_pytorch_forward_and_gradients() {
    let cases = load("losses.json");
    assert!(cases.len() >= 30, "losses.json has {} cases", cases.len());
    let mut ops = BTreeSet::new();
    for case in &cases {
        if case.dtype() != "float64" {
            case.fail(&format!("has dtype {}, expected float64", case.dtype()));
        }
        ops.insert(case.op().to_string());
        let inputs = Inputs::new(case);
        let out = run(case, &inputs);
        inputs.check_all_used();
        let expected = case.output();
        assert_tensor_close(
            &format!("{} output", case.name()),
            out.shape(),
            &out.value().to_vec(),
            &expected,
            RTOL,
            ATOL,
        );
        out.backward_with(&float(&case.upstream()))
            .unwrap_or_else(|e| case.fail(&format!("backward failed: {e}")));
        let recorded: BTreeSet<String> = case.grads().into_iter().map(|(k, _)| k).collect();
        let tracked: BTreeSet<String> = inputs.vars.iter().map(|(k, _)| k.clone()).collect();
        if recorded != tracked {
            case.fail(&format!(
                "records gradients for {recorded:?} but its differentiable float inputs are {tracked:?}"
            ));
        }
        for (name, g) in case.grads() {
            let actual = inputs
                .var(&name)
                .grad()
                .unwrap_or_else(|| case.fail(&format!("got no gradient for {name}")));
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
    let expected_ops: BTreeSet<String> = [
        "mse_loss",
        "l1_loss",
        "huber_loss",
        "smooth_l1_loss",
        "cross_entropy",
        "nll_loss",
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
        "kl_div",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(
        ops, expected_ops,
        "losses.json covers a different set of ops"
    );
}
