//! Finite-difference gradient checks in f64, with PyTorch's defaults: compare the Jacobian
//! that backward computes against central differences, element by element (or, in fast
//! mode, along random projections).

use std::cell::RefCell;
use std::fmt;

use graft_tensor::{Tensor, TensorError};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::backward::grad;
use crate::graph::no_grad;
use crate::var::Var;

/// Tolerances and mode of a gradient check.
#[derive(Clone, Debug)]
pub struct GradcheckOptions {
    /// Finite-difference step (PyTorch: 1e-6).
    pub eps: f64,
    /// Absolute tolerance (PyTorch: 1e-5).
    pub atol: f64,
    /// Relative tolerance (PyTorch: 1e-3).
    pub rtol: f64,
    /// Compare one random projection `uᵀ J v` per input instead of the whole Jacobian:
    /// two evaluations per input instead of two per input element.
    pub fast: bool,
    /// Seed for the random projections (fast mode) and gradgradcheck's upstream gradient.
    pub seed: u64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
            fast: false,
            seed: 0,
        }
    }
}

/// Where analytic and numeric derivatives disagree: which input, which element, both values.
#[derive(Clone, Debug, PartialEq)]
pub struct GradientMismatch {
    /// Index of the input whose gradient is wrong.
    pub input: usize,
    /// Multi-index of the worst input element (empty in fast mode).
    pub element: Vec<usize>,
    /// Flat index of the output element (0 in fast mode).
    pub output: usize,
    /// The derivative backward computed.
    pub analytic: f64,
    /// The central-difference estimate.
    pub numeric: f64,
}

/// A failed gradient check.
#[derive(Clone, Debug, PartialEq)]
pub enum GradcheckError {
    /// Backward ran, and its derivative differs from the finite difference.
    Mismatch(GradientMismatch),
    /// Backward itself failed (a gradient rule returned an error): reported as such,
    /// never as a zero gradient that a finite difference might happen to match.
    Backward(TensorError),
}

impl fmt::Display for GradientMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.element.is_empty() {
            write!(f, "gradcheck: input {}: random projection uᵀJv", self.input)?;
        } else {
            write!(
                f,
                "gradcheck: input {} element {:?}, output element {}",
                self.input, self.element, self.output
            )?;
        }
        write!(
            f,
            ": analytic {:.10e} vs numeric {:.10e} (difference {:.3e})",
            self.analytic,
            self.numeric,
            (self.analytic - self.numeric).abs()
        )
    }
}

impl fmt::Display for GradcheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GradcheckError::Mismatch(m) => m.fmt(f),
            GradcheckError::Backward(e) => write!(f, "gradcheck: backward failed: {e}"),
        }
    }
}

impl std::error::Error for GradcheckError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GradcheckError::Mismatch(_) => None,
            GradcheckError::Backward(e) => Some(e),
        }
    }
}

fn unflatten(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = flat % shape[d];
        flat /= shape[d];
    }
    idx
}

/// The output of `f` at `inputs`. The inputs are tracked, because `f` may itself take
/// gradients (gradgradcheck's `f` does); the graph is dropped right after.
fn evaluate(f: &impl Fn(&[Var<f64>]) -> Var<f64>, inputs: &[Tensor<f64>]) -> Vec<f64> {
    let vars: Vec<Var<f64>> = inputs.iter().cloned().map(Var::parameter).collect();
    f(&vars).value().to_vec()
}

/// `inputs` with element `j` of input `i` moved by `delta`.
fn perturbed(inputs: &[Tensor<f64>], i: usize, j: usize, delta: f64) -> Vec<Tensor<f64>> {
    let mut out = inputs.to_vec();
    out[i].data_mut()[j] += delta;
    out
}

/// Vector-Jacobian product `uᵀ J` for every input (zeros where an input is unreached),
/// or the error backward returned.
fn vjp(
    f: &impl Fn(&[Var<f64>]) -> Var<f64>,
    inputs: &[Tensor<f64>],
    u: &Tensor<f64>,
) -> Result<Vec<Vec<f64>>, TensorError> {
    let params: Vec<Var<f64>> = inputs.iter().cloned().map(Var::parameter).collect();
    let out = f(&params);
    if !out.needs_grad() {
        return Ok(inputs.iter().map(|t| vec![0.0; t.numel()]).collect());
    }
    let refs: Vec<&Var<f64>> = params.iter().collect();
    let gs = grad(&[&out], &refs, Some(std::slice::from_ref(u)), false)?;
    Ok(gs
        .into_iter()
        .zip(inputs)
        .map(|(g, t)| g.map_or_else(|| vec![0.0; t.numel()], |g| g.value().to_vec()))
        .collect())
}

fn close(a: f64, n: f64, o: &GradcheckOptions) -> bool {
    (a - n).abs() <= o.atol + o.rtol * n.abs()
}

/// Checks the gradients of `f` at `inputs` against central differences.
///
/// `f` maps Vars to a Var of any shape; inputs are made contiguous before perturbing.
/// On failure the error names the input, the worst element, and both values.
///
/// ```
/// use graft_autograd::{gradcheck, GradcheckOptions, Var};
/// use graft_tensor::{Tensor, TensorError};
/// let x = Tensor::from_vec(vec![0.3, -0.7, 1.1], &[3]);
/// gradcheck(|v: &[Var<f64>]| v[0].sigmoid().square(), &[x], &GradcheckOptions::default()).unwrap();
/// ```
pub fn gradcheck(
    f: impl Fn(&[Var<f64>]) -> Var<f64>,
    inputs: &[Tensor<f64>],
    options: &GradcheckOptions,
) -> Result<(), GradcheckError> {
    let inputs: Vec<Tensor<f64>> = inputs
        .iter()
        .map(|t| Tensor::from_vec(t.to_vec(), t.shape()))
        .collect();
    let out_shape = {
        let vars: Vec<Var<f64>> = inputs.iter().cloned().map(Var::parameter).collect();
        f(&vars).shape().to_vec()
    };
    if options.fast {
        return fast_check(&f, &inputs, &out_shape, options);
    }
    let n_out: usize = out_shape.iter().product();
    // analytic[k][i][j] = d out_k / d input_i[j]
    let analytic: Vec<Vec<Vec<f64>>> = (0..n_out)
        .map(|k| {
            let mut onehot = vec![0.0; n_out];
            onehot[k] = 1.0;
            vjp(&f, &inputs, &Tensor::from_vec(onehot, &out_shape))
        })
        .collect::<Result<_, _>>()
        .map_err(GradcheckError::Backward)?;
    let mut worst: Option<(f64, GradcheckError)> = None;
    for (i, x) in inputs.iter().enumerate() {
        // `j` names one input element in the perturbation, the Jacobian and the report.
        #[allow(clippy::needless_range_loop)]
        for j in 0..x.numel() {
            let plus = evaluate(&f, &perturbed(&inputs, i, j, options.eps));
            let minus = evaluate(&f, &perturbed(&inputs, i, j, -options.eps));
            for (k, (p, m)) in plus.iter().zip(&minus).enumerate() {
                let numeric = (p - m) / (2.0 * options.eps);
                let a = analytic[k][i][j];
                let excess = (a - numeric).abs() - (options.atol + options.rtol * numeric.abs());
                let is_nan = a.is_nan() != numeric.is_nan();
                if (!close(a, numeric, options) || is_nan)
                    && worst.as_ref().is_none_or(|(e, _)| excess > *e || is_nan)
                {
                    let err = GradcheckError::Mismatch(GradientMismatch {
                        input: i,
                        element: unflatten(j, x.shape()),
                        output: k,
                        analytic: a,
                        numeric,
                    });
                    worst = Some((if is_nan { f64::INFINITY } else { excess }, err));
                }
            }
        }
    }
    worst.map_or(Ok(()), |(_, e)| Err(e))
}

fn fast_check(
    f: &impl Fn(&[Var<f64>]) -> Var<f64>,
    inputs: &[Tensor<f64>],
    out_shape: &[usize],
    options: &GradcheckOptions,
) -> Result<(), GradcheckError> {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let u = Tensor::<f64>::uniform(out_shape, -1.0, 1.0, &mut rng);
    let g = vjp(f, inputs, &u).map_err(GradcheckError::Backward)?;
    let uv = u.to_vec();
    for (i, x) in inputs.iter().enumerate() {
        let v = Tensor::<f64>::uniform(x.shape(), -1.0, 1.0, &mut rng).to_vec();
        let analytic: f64 = g[i].iter().zip(&v).map(|(a, b)| a * b).sum();
        let shifted = |sign: f64| {
            let mut moved = inputs.to_vec();
            let data = moved[i].data_mut();
            for (d, dv) in data.iter_mut().zip(&v) {
                *d += sign * options.eps * dv;
            }
            evaluate(f, &moved)
        };
        let (plus, minus) = (shifted(1.0), shifted(-1.0));
        let numeric: f64 = plus
            .iter()
            .zip(&minus)
            .zip(&uv)
            .map(|((p, m), u)| (p - m) / (2.0 * options.eps) * u)
            .sum();
        if !close(analytic, numeric, options) || analytic.is_nan() {
            return Err(GradcheckError::Mismatch(GradientMismatch {
                input: i,
                element: vec![],
                output: 0,
                analytic,
                numeric,
            }));
        }
    }
    Ok(())
}

/// Checks second derivatives: gradchecks the map from the inputs to the gradients of
/// `<f(inputs), u>` (computed with `create_graph`), for a fixed random `u`.
pub fn gradgradcheck(
    f: impl Fn(&[Var<f64>]) -> Var<f64>,
    inputs: &[Tensor<f64>],
    options: &GradcheckOptions,
) -> Result<(), GradcheckError> {
    let out_shape = no_grad(|| {
        let vars: Vec<Var<f64>> = inputs.iter().cloned().map(Var::new).collect();
        f(&vars).shape().to_vec()
    });
    let mut rng = StdRng::seed_from_u64(options.seed.wrapping_add(1));
    let u = Tensor::<f64>::uniform(&out_shape, -1.0, 1.0, &mut rng);
    // The first backward runs inside the function being checked, which must return a
    // Var; its first error is kept here and reported in place of any mismatch.
    let backward_error: RefCell<Option<TensorError>> = RefCell::new(None);
    let first_derivatives = |xs: &[Var<f64>]| -> Var<f64> {
        let out = f(xs);
        let refs: Vec<&Var<f64>> = xs.iter().collect();
        let grads = if out.needs_grad() {
            grad(&[&out], &refs, Some(std::slice::from_ref(&u)), true).unwrap_or_else(|e| {
                backward_error.borrow_mut().get_or_insert(e);
                vec![None; xs.len()]
            })
        } else {
            vec![None; xs.len()]
        };
        let flat: Vec<Var<f64>> = grads
            .into_iter()
            .zip(xs)
            .map(|(g, x)| {
                g.unwrap_or_else(|| Var::new(Tensor::zeros(x.shape())))
                    .reshape(&[x.numel()])
            })
            .collect();
        let refs: Vec<&Var<f64>> = flat.iter().collect();
        Var::concat(&refs, 0)
    };
    let result = gradcheck(first_derivatives, inputs, options);
    match backward_error.into_inner() {
        Some(e) => Err(GradcheckError::Backward(e)),
        None => result,
    }
}
