//! A module in another element type, and a gradient check of a whole module.
//!
//! Rust has no reflection to build "the same model in f64" from an f32 one, so the target
//! is built by the caller (the model's own constructor, generic over the element type)
//! and [`cast_into`] copies every parameter and buffer into it by name, converted.
//! [`gradcheck_module`] then checks the f64 twin's gradients for its parameters and its
//! input in one call.

use graft_autograd::{no_grad, GradcheckOptions, Var};
use graft_tensor::{Float, Tensor};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::module::Module;
use crate::state::{load_state_dict_tensors, state_dict, StateDictError};

/// Copies `src`'s parameters and buffers, converted to `U`, into `dst`: a module of the
/// same structure in element type `U` (e.g. `Mlp::<f64>::new(..)` for an `Mlp<f32>`).
/// Every name, shape and count is checked as `load_state_dict` does.
///
/// ```
/// use graft_nn::{cast_into, Linear, Module};
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let fc32 = Linear::<f32>::new(3, 2, &mut rng);
/// let fc64 = Linear::<f64>::new(3, 2, &mut rng);
/// cast_into(&fc32, &fc64).unwrap();
/// assert_eq!(fc64.weight.value().to_vec()[0], fc32.weight.value().to_vec()[0] as f64);
/// ```
pub fn cast_into<T: Float, U: Float, A: Module<T> + ?Sized, B: Module<U> + ?Sized>(
    src: &A,
    dst: &B,
) -> Result<(), StateDictError> {
    let converted: Vec<(String, Tensor<U>)> = state_dict(src)
        .into_iter()
        .map(|(name, t)| (name, t.cast::<U>()))
        .collect();
    load_state_dict_tensors(dst, converted)
}

/// Checks the gradients of `model` (f64) with respect to each of its parameters and to
/// `input`, against central differences: the scalar checked is `Σ u ⊙ model(input)` for a
/// fixed random `u`, so every output element takes part. Tolerances are `options`'
/// (PyTorch's defaults: eps 1e-6, atol 1e-5, rtol 1e-3). The model runs in its current
/// mode: put Dropout in evaluation mode first. Errors name the parameter (or `input`), the
/// element and both derivatives.
pub fn gradcheck_module<M: Module<f64> + ?Sized>(
    model: &M,
    input: &Tensor<f64>,
    options: &GradcheckOptions,
) -> Result<(), String> {
    let x = Var::parameter(input.clone());
    let out_shape = model
        .try_forward(&x)
        .map_err(|e| format!("gradcheck_module: {e}"))?
        .shape()
        .to_vec();
    let u = Tensor::<f64>::uniform(
        &out_shape,
        -1.0,
        1.0,
        &mut StdRng::seed_from_u64(options.seed),
    );
    let scalar = |x: &Var<f64>| -> Result<Var<f64>, String> {
        let y = model
            .try_forward(x)
            .map_err(|e| format!("gradcheck_module: {e}"))?;
        y.try_mul(&Var::new(u.clone()))
            .map(|p| p.sum())
            .map_err(|e| format!("gradcheck_module: {e}"))
    };
    let mut targets: Vec<(String, Var<f64>)> = model.named_parameters();
    targets.push(("input".into(), x.clone()));
    for (_, v) in &targets {
        v.zero_grad();
    }
    scalar(&x)?
        .backward()
        .map_err(|e| format!("gradcheck_module: {e}"))?;
    for (name, v) in &targets {
        let analytic = v
            .grad()
            .unwrap_or_else(|| Tensor::zeros(v.shape()))
            .contiguous()
            .to_vec();
        let original = v.value();
        let values = original.contiguous().to_vec();
        for (i, &a) in analytic.iter().enumerate() {
            let at = |delta: f64| -> Result<f64, String> {
                let mut moved = values.clone();
                moved[i] += delta;
                v.set_value(Tensor::from_vec(moved, original.shape()));
                let s = no_grad(|| scalar(&x))?.item();
                Ok(s)
            };
            let plus = at(options.eps);
            let minus = at(-options.eps);
            v.set_value(original.clone());
            let numeric = (plus? - minus?) / (2.0 * options.eps);
            if (a - numeric).abs() > options.atol + options.rtol * numeric.abs() {
                return Err(format!(
                    "gradcheck_module: {name} element {i}: analytic {a:.10e} vs numeric \
                     {numeric:.10e} (difference {:.3e})",
                    (a - numeric).abs()
                ));
            }
        }
    }
    Ok(())
}
