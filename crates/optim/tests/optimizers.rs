//! Every case of `optimizers.json`, in two forms:
//!
//! - Recorded gradients: starting from the recorded initial parameters and feeding the
//!   recorded gradients to the slice kernels, each update rule must reproduce PyTorch's
//!   parameters after every one of the steps.
//! - End to end: the parameters are `Var`s, the loss
//!   `mean((tanh(X @ w + b) - Y)^2) + l2_coef * (sum(w^2) + sum(b^2))` is computed with
//!   autograd from the case's `problem`, its value and gradients are checked against every
//!   recorded step, and the `Optimizer` (the generic Var-based one) takes the step.
//!
//! Tolerance of the recorded form: rtol 1e-12, atol 1e-15 (for coordinates that pass near zero). The kernels
//! evaluate PyTorch's formulas in PyTorch's operation order in f64, so what remains is
//! last-bit rounding (PyTorch's vectorized kernels fuse some multiply-adds). Measured
//! worst relative differences over the recorded steps: ~5e-14 (SGD with momentum),
//! ~1e-15 for the adaptive rules. 1e-12 keeps more than an order of margin for other
//! cases while catching any formula slip (a wrong bias correction or weight-decay
//! placement shows up at 1e-4 or larger; `a_wrong_fixture_value_fails` checks 1e-9).

use crate::support;

use graft_autograd::Var;
use graft_fixtures::{assert_close, load, Case};
use graft_optim::rules::{
    AdadeltaConfig, AdagradConfig, AdamConfig, NadamConfig, ParamState, RadamConfig, RmspropConfig,
    SgdConfig, UpdateRule,
};
use graft_optim::{GenericOptimizer, Optimizer};
use graft_tensor::Tensor;
use support::Kwargs;

const RTOL: f64 = 1e-12;
const ATOL: f64 = 1e-15;

/// Tolerances of the end-to-end form. Our loss and gradients come from our own matmul,
/// tanh and reductions, whose summation order differs from PyTorch's, so they agree to
/// rounding, not bit for bit; each step's gradient is then taken at parameters that
/// already differ in the last bits, and ten steps of the update carry that along (for
/// Adam-like rules a gradient's relative error passes into the step almost unchanged,
/// since m / sqrt(v) is scale-free). Measured worst over all cases and steps:
///
/// - loss: 6.5e-16 relative;
/// - gradients: 2.4e-12 relative, on elements of order 1e-4 where the data and L2 terms
///   cancel; 6e-16 absolute (gradients are of order 0.1);
/// - parameters: 1.4e-13 relative (on an element near zero), 1.3e-15 absolute.
///
/// The bounds below keep a margin of 10x or more over those figures, and stay far below
/// what a real mistake produces (a missed weight-decay term, bias correction or group
/// setting moves parameters by 1e-5 relative or more).
const E2E_LOSS_RTOL: f64 = 1e-14;
const E2E_GRAD_RTOL: f64 = 1e-10;
const E2E_GRAD_ATOL: f64 = 1e-14;
const E2E_PARAM_RTOL: f64 = 1e-11;
const E2E_PARAM_ATOL: f64 = 1e-14;

/// The loss the fixture's gradients come from; a changed formula must fail the test.
const LOSS_FORMULA: &str = "mean((tanh(X @ w + b) - Y)**2) + l2_coef * (sum(w**2) + sum(b**2))";

/// Keys of a torch param_group that select an implementation, not the math.
const IMPLEMENTATION_KEYS: &[&str] = &["foreach", "capturable", "differentiable", "fused"];

fn betas(group: &Kwargs, default: (f64, f64)) -> (f64, f64) {
    match group.f64_list("betas").as_deref() {
        None => default,
        Some([b1, b2]) => (*b1, *b2),
        Some(other) => panic!("betas must have two entries, found {other:?}"),
    }
}

/// Builds the rule the case's `param_group` describes and checks it against the steps.
fn check_case(case: &Case) {
    let group_json = case
        .get("param_group")
        .unwrap_or_else(|| case.fail("has no param_group"));
    let g = Kwargs::new(case, "param_group", group_json);
    g.ignore(IMPLEMENTATION_KEYS);
    match case.str("optimizer") {
        "SGD" => {
            let d = SgdConfig::default();
            let rule = SgdConfig {
                lr: g.f64_or("lr", d.lr),
                momentum: g.f64_or("momentum", d.momentum),
                dampening: g.f64_or("dampening", d.dampening),
                weight_decay: g.f64_or("weight_decay", d.weight_decay),
                nesterov: g.bool_or("nesterov", d.nesterov),
                maximize: g.bool_or("maximize", d.maximize),
            };
            g.finish();
            run(case, rule);
        }
        "RMSprop" => {
            let d = RmspropConfig::default();
            let rule = RmspropConfig {
                lr: g.f64_or("lr", d.lr),
                alpha: g.f64_or("alpha", d.alpha),
                eps: g.f64_or("eps", d.eps),
                weight_decay: g.f64_or("weight_decay", d.weight_decay),
                momentum: g.f64_or("momentum", d.momentum),
                centered: g.bool_or("centered", d.centered),
                maximize: g.bool_or("maximize", d.maximize),
            };
            g.finish();
            run(case, rule);
        }
        name @ ("Adam" | "AdamW") => {
            let d = if name == "AdamW" {
                AdamConfig::adamw()
            } else {
                AdamConfig::default()
            };
            let rule = AdamConfig {
                lr: g.f64_or("lr", d.lr),
                betas: betas(&g, d.betas),
                eps: g.f64_or("eps", d.eps),
                weight_decay: g.f64_or("weight_decay", d.weight_decay),
                amsgrad: g.bool_or("amsgrad", d.amsgrad),
                maximize: g.bool_or("maximize", d.maximize),
                decoupled_weight_decay: g
                    .bool_or("decoupled_weight_decay", d.decoupled_weight_decay),
            };
            g.finish();
            run(case, rule);
        }
        "Adagrad" => {
            let d = AdagradConfig::default();
            let rule = AdagradConfig {
                lr: g.f64_or("lr", d.lr),
                lr_decay: g.f64_or("lr_decay", d.lr_decay),
                weight_decay: g.f64_or("weight_decay", d.weight_decay),
                initial_accumulator_value: g
                    .f64_or("initial_accumulator_value", d.initial_accumulator_value),
                eps: g.f64_or("eps", d.eps),
                maximize: g.bool_or("maximize", d.maximize),
            };
            g.finish();
            run(case, rule);
        }
        "Adadelta" => {
            let d = AdadeltaConfig::default();
            let rule = AdadeltaConfig {
                lr: g.f64_or("lr", d.lr),
                rho: g.f64_or("rho", d.rho),
                eps: g.f64_or("eps", d.eps),
                weight_decay: g.f64_or("weight_decay", d.weight_decay),
                maximize: g.bool_or("maximize", d.maximize),
            };
            g.finish();
            run(case, rule);
        }
        "NAdam" => {
            let d = NadamConfig::default();
            let rule = NadamConfig {
                lr: g.f64_or("lr", d.lr),
                betas: betas(&g, d.betas),
                eps: g.f64_or("eps", d.eps),
                weight_decay: g.f64_or("weight_decay", d.weight_decay),
                momentum_decay: g.f64_or("momentum_decay", d.momentum_decay),
                decoupled_weight_decay: g
                    .bool_or("decoupled_weight_decay", d.decoupled_weight_decay),
                maximize: g.bool_or("maximize", d.maximize),
            };
            g.finish();
            run(case, rule);
        }
        "RAdam" => {
            let d = RadamConfig::default();
            let rule = RadamConfig {
                lr: g.f64_or("lr", d.lr),
                betas: betas(&g, d.betas),
                eps: g.f64_or("eps", d.eps),
                weight_decay: g.f64_or("weight_decay", d.weight_decay),
                decoupled_weight_decay: g
                    .bool_or("decoupled_weight_decay", d.decoupled_weight_decay),
                maximize: g.bool_or("maximize", d.maximize),
            };
            g.finish();
            run(case, rule);
        }
        other => case.fail(&format!(
            "uses optimizer `{other}`, which these tests do not know"
        )),
    }
}

/// The case's parameter names, in the order they were given to the optimizer.
fn param_order(case: &Case) -> Vec<String> {
    let order: Vec<String> = case
        .get("param_order")
        .and_then(|v| v.as_array())
        .unwrap_or_else(|| case.fail("has no param_order list"))
        .iter()
        .map(|v| v.as_str().expect("param names are strings").to_string())
        .collect();
    assert!(!order.is_empty(), "{}: no parameters", case.name());
    order
}

/// Runs both forms of the case.
fn run<R: UpdateRule>(case: &Case, rule: R) {
    rule.validate()
        .unwrap_or_else(|e| case.fail(&format!("has hyperparameters graft rejects: {e}")));
    run_recorded(case, rule.clone());
    run_end_to_end(case, rule);
}

/// The fixture tensor at `path` as a graft tensor.
fn tensor_at(case: &Case, path: &[&str]) -> Tensor<f64> {
    let t = case
        .tensor_at(path)
        .unwrap_or_else(|| case.fail(&format!("has no {}", path.join("."))));
    Tensor::from_vec(t.data, &t.shape)
}

/// Trains Var parameters with the generic optimizer on the case's problem, computing the
/// loss and gradients with autograd, and checks loss, gradients and parameters at every
/// step.
fn run_end_to_end<R: UpdateRule>(case: &Case, rule: R) {
    let problem = case
        .get("problem")
        .unwrap_or_else(|| case.fail("has no problem"));
    let formula = problem["loss"].as_str().unwrap_or_default();
    assert_eq!(formula, LOSS_FORMULA, "{}: unexpected loss", case.name());
    let l2 = problem["l2_coef"]
        .as_f64()
        .unwrap_or_else(|| case.fail("has no problem.l2_coef"));
    let x = Var::new(tensor_at(case, &["problem", "X"]));
    let y = Var::new(tensor_at(case, &["problem", "Y"]));

    let order = param_order(case);
    let params: Vec<Var<f64>> = order
        .iter()
        .map(|name| Var::parameter(tensor_at(case, &["initial_params", name])).with_name(name))
        .collect();
    let by_name = |name: &str| {
        let i = order
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| case.fail(&format!("has no parameter `{name}`")));
        params[i].clone()
    };
    let (w, b) = (by_name("w"), by_name("b"));
    let mut opt = GenericOptimizer::<R, f64>::new(params.clone(), rule)
        .unwrap_or_else(|e| case.fail(&format!("cannot build the optimizer: {e}")));

    let steps = case
        .get("steps")
        .and_then(|s| s.as_array())
        .map_or(0, Vec::len);
    for k in 0..steps {
        let step = k.to_string();
        let label = |what: &str| format!("{} end-to-end step {} {what}", case.name(), k + 1);
        opt.zero_grad();
        let loss = {
            let fit = (&(&x.matmul(&w) + &b).tanh() - &y).square().mean();
            &fit + &(&w.square().sum() + &b.square().sum()).mul_scalar(l2)
        };
        let expected_loss = case
            .get("steps")
            .and_then(|s| s[k]["loss"].as_f64())
            .unwrap_or_else(|| case.fail(&format!("has no steps[{k}].loss")));
        assert_close(
            &label("loss"),
            &[loss.item()],
            &[expected_loss],
            E2E_LOSS_RTOL,
            0.0,
        );
        loss.backward().unwrap();
        drop(loss); // free the graph, so the step updates the parameters without a copy
        for (p, name) in params.iter().zip(&order) {
            let expected = tensor_at(case, &["steps", &step, "grads", name]);
            let grad = p.grad().expect("backward gives every parameter a gradient");
            assert_eq!(grad.shape(), expected.shape(), "{}", label(name));
            assert_close(
                &label(&format!("grad {name}")),
                &grad.to_vec(),
                &expected.to_vec(),
                E2E_GRAD_RTOL,
                E2E_GRAD_ATOL,
            );
        }
        opt.step().unwrap();
        for (p, name) in params.iter().zip(&order) {
            let expected = tensor_at(case, &["steps", &step, "params_after", name]);
            assert_close(
                &label(&format!("param {name}")),
                &p.value().to_vec(),
                &expected.to_vec(),
                E2E_PARAM_RTOL,
                E2E_PARAM_ATOL,
            );
        }
    }
    assert_eq!(
        opt.param_state(0, 0).step(),
        steps as u64,
        "{}: the state did not count every step",
        case.name()
    );
}

/// Runs `rule` over the case's recorded gradients, comparing after each step.
fn run_recorded<R: UpdateRule>(case: &Case, rule: R) {
    let order = param_order(case);

    let mut params: Vec<Vec<f64>> = order
        .iter()
        .map(|name| {
            case.tensor_at(&["initial_params", name])
                .unwrap_or_else(|| case.fail(&format!("has no initial_params.{name}")))
                .data
        })
        .collect();
    let mut states: Vec<R::State<f64>> = params.iter().map(|p| rule.init_state(p.len())).collect();

    let num_steps = case
        .get("steps")
        .and_then(|s| s.as_array())
        .map(Vec::len)
        .unwrap_or_else(|| case.fail("has no steps list"));
    assert!(num_steps > 0, "{}: no steps", case.name());
    if let Some(declared) = case.get("num_steps").and_then(|v| v.as_u64()) {
        assert_eq!(
            declared as usize,
            num_steps,
            "{}: num_steps disagrees with steps",
            case.name()
        );
    }

    for k in 0..num_steps {
        let step = k.to_string();
        for (i, name) in order.iter().enumerate() {
            let grad = case
                .tensor_at(&["steps", &step, "grads", name])
                .unwrap_or_else(|| case.fail(&format!("has no steps[{k}].grads.{name}")));
            rule.update(&mut params[i], &grad.data, &mut states[i]);
        }
        for (i, name) in order.iter().enumerate() {
            let expected = case
                .tensor_at(&["steps", &step, "params_after", name])
                .unwrap_or_else(|| case.fail(&format!("has no steps[{k}].params_after.{name}")));
            let label = format!("{} step {} param {name}", case.name(), k + 1);
            assert_close(&label, &params[i], &expected, RTOL, ATOL);
        }
    }
}

#[test]
fn every_optimizer_case_matches_pytorch_at_every_step() {
    let cases = load("optimizers.json");
    for case in &cases {
        assert_eq!(case.op(), "optimizer", "{}: unexpected op", case.name());
        check_case(case);
    }
}

#[test]
fn a_wrong_fixture_value_fails() {
    // Guard against a harness that compares nothing: corrupt one recorded value.
    let mut raw = load("optimizers.json")[0].raw().clone();
    let w = &mut raw["steps"][3]["params_after"]["w"]["data"][0];
    *w = serde_json::json!(w.as_f64().unwrap() * (1.0 + 1e-9));
    let case = Case::new("optimizers.json", raw);
    let result = std::panic::catch_unwind(|| check_case(&case));
    assert!(
        result.is_err(),
        "a value off by 1e-9 relative went unnoticed"
    );
}

#[test]
fn a_wrong_recorded_loss_or_gradient_fails_the_end_to_end_form() {
    let original = load("optimizers.json")[0].raw().clone();
    let mut bad_loss = original.clone();
    let loss = &mut bad_loss["steps"][2]["loss"];
    *loss = serde_json::json!(loss.as_f64().unwrap() * (1.0 + 1e-9));
    let mut bad_grad = original;
    let g = &mut bad_grad["steps"][2]["grads"]["b"]["data"][1];
    *g = serde_json::json!(g.as_f64().unwrap() * (1.0 + 1e-8));
    for raw in [bad_loss, bad_grad] {
        let case = Case::new("optimizers.json", raw);
        let result = std::panic::catch_unwind(|| {
            run_end_to_end(&case, SgdConfig::default().lr(0.1));
        });
        assert!(result.is_err(), "a corrupted value went unnoticed");
    }
}
