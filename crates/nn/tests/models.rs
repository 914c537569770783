//! PyTorch models from the shared fixtures (`models/models.json`): each architecture is
//! rebuilt from its PyTorch string, its state dict (`NAME.safetensors`) loaded, and its
//! recorded input run through it in eval mode; the logits must match PyTorch's within the
//! stated tolerance. A missing file fails the test: nothing is skipped.

use std::collections::BTreeMap;
use std::path::PathBuf;

use graft_autograd::{no_grad, Var};
use graft_nn::{state, Module, Sequential};
use graft_tensor::{Float, Tensor};
use rand::SeedableRng;
use serde_json::Value;

fn models_dir() -> PathBuf {
    graft_fixtures::fixtures_dir().join("models")
}

fn manifest() -> Value {
    let path = models_dir().join("models.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

fn field<'a>(model: &'a Value, name: &str, key: &str) -> &'a str {
    model[key]
        .as_str()
        .unwrap_or_else(|| panic!("models.json: model {name} has no string field `{key}`"))
}

/// The number after `<=` in e.g. "max abs difference of logits <= 1e-4".
fn tolerance(text: &str, name: &str) -> f64 {
    text.rsplit("<=")
        .next()
        .and_then(|t| t.trim().parse().ok())
        .filter(|_| text.contains("<="))
        .unwrap_or_else(|| {
            panic!("models.json: model {name}: cannot read a tolerance from {text:?}")
        })
}

fn existing(path: PathBuf) -> PathBuf {
    assert!(path.is_file(), "fixture file {} is missing", path.display());
    path
}

/// Runs one model in element type `T`; returns the max abs logits difference.
fn check_model<T: Float>(name: &str, model: &Value) -> f64 {
    let arch = field(model, name, "architecture");
    let weights = existing(models_dir().join(field(model, name, "weights")));
    let io = existing(models_dir().join(field(model, name, "io")));
    let tol = tolerance(field(model, name, "tolerance"), name);

    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let net: Sequential<T> = Sequential::from_spec(arch, &mut rng)
        .unwrap_or_else(|e| panic!("model {name}: architecture {arch:?}: {e}"));

    // The architecture's state-dict entries are exactly those models.json lists.
    let expected: BTreeMap<String, Vec<usize>> = model["state_dict_keys"]
        .as_object()
        .unwrap_or_else(|| panic!("models.json: model {name} has no object `state_dict_keys`"))
        .iter()
        .map(|(k, v)| {
            let shape = v
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .map(|d| d.as_u64().map(|d| d as usize))
                        .collect::<Option<Vec<_>>>()
                })
                .unwrap_or_else(|| {
                    panic!("models.json: model {name}: shape of {k} is not a list of sizes")
                });
            (k.clone(), shape)
        })
        .collect();
    assert!(
        !expected.is_empty(),
        "models.json: model {name} lists no state_dict_keys"
    );
    let actual: BTreeMap<String, Vec<usize>> = net
        .named_state()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec()))
        .collect();
    assert_eq!(
        actual, expected,
        "model {name}: the architecture's state dict differs from state_dict_keys"
    );

    // So are the file's, and loading it changes every entry.
    let file: BTreeMap<String, Vec<usize>> = state::load_tensors::<T>(&weights)
        .unwrap_or_else(|e| panic!("model {name}: {e}"))
        .into_iter()
        .map(|(n, t)| (n, t.shape().to_vec()))
        .collect();
    assert_eq!(
        file,
        expected,
        "model {name}: {} differs from state_dict_keys",
        weights.display()
    );
    let before = state::state_dict(&net);
    state::load_state_dict(&net, &weights).unwrap_or_else(|e| panic!("model {name}: {e}"));
    for ((n, old), (_, new)) in before.iter().zip(state::state_dict(&net)) {
        assert_ne!(
            old.to_vec(),
            new.to_vec(),
            "model {name}: loading left {n} at its initial value"
        );
    }

    let tensors = state::load_tensors::<T>(&io).unwrap_or_else(|e| panic!("model {name}: {e}"));
    let get = |key: &str| -> Tensor<T> {
        tensors
            .iter()
            .find(|(n, _)| n == key)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| panic!("model {name}: {} has no tensor `{key}`", io.display()))
    };
    let (input, logits) = (get("input"), get("logits"));

    net.eval();
    let out = no_grad(|| net.forward(&Var::new(input.clone())));
    assert_eq!(
        out.shape(),
        logits.shape(),
        "model {name}: output shape vs recorded logits"
    );
    let max_diff = max_abs_diff(&out.value(), &logits);
    println!("model {name}: input {:?}, logits {:?}, max abs difference {max_diff:.3e} (tolerance {tol:e})", input.shape(), logits.shape());
    assert!(
        max_diff <= tol,
        "model {name}: max abs logits difference {max_diff:e} exceeds {tol:e}"
    );
    max_diff
}

fn max_abs_diff<T: Float>(a: &Tensor<T>, b: &Tensor<T>) -> f64 {
    a.to_vec()
        .iter()
        .zip(b.to_vec())
        .map(|(x, y)| (x.to_f64() - y.to_f64()).abs())
        .fold(0.0, |m, d| if d.is_nan() { f64::NAN } else { m.max(d) })
}

#[test]
fn every_model_reproduces_pytorch_logits() {
    let manifest = manifest();
    let models = manifest["models"]
        .as_object()
        .expect("models.json: `models` must be an object");
    assert!(!models.is_empty(), "models.json lists no model");
    for (name, model) in models {
        match field(model, name, "dtype") {
            "float32" => check_model::<f32>(name, model),
            "float64" => check_model::<f64>(name, model),
            other => panic!("models.json: model {name} has dtype {other}, which graft cannot run"),
        };
    }
}

/// The check fails on a wrong value: perturb one weight and the logits drift past 1e-4.
#[test]
fn a_wrong_weight_is_detected() {
    let manifest = manifest();
    let (name, model) = manifest["models"]
        .as_object()
        .and_then(|m| m.iter().next())
        .expect("a model");
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let net: Sequential<f32> =
        Sequential::from_spec(field(model, name, "architecture"), &mut rng).unwrap();
    state::load_state_dict(&net, models_dir().join(field(model, name, "weights"))).unwrap();
    let tensors = state::load_tensors::<f32>(models_dir().join(field(model, name, "io"))).unwrap();
    let input = &tensors.iter().find(|(n, _)| n == "input").unwrap().1;
    let logits = &tensors.iter().find(|(n, _)| n == "logits").unwrap().1;
    net.eval();
    let bias = net
        .named_parameters()
        .into_iter()
        .rev()
        .find(|(n, _)| n.ends_with("bias"))
        .unwrap()
        .1;
    bias.update_value(|b| b[0] += 1e-3);
    let out = no_grad(|| net.forward(&Var::new(input.clone())));
    assert!(max_abs_diff(&out.value(), logits) > 1e-4);
}
