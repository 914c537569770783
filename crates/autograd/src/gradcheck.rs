//! Finite-difference gradient checks in f64, with PyTorch's defaults: compare the Jacobian
//! that backward computes against central differences, element by element (or, in fast
//! mode, along random projections).

use std::fmt;

use graft_tensor::Tensor;
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

/// A failed gradient check: which input, which element, and both derivatives.
#[derive(Clone, Debug, PartialEq)]
pub struct GradcheckError {
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

impl fmt::Display for GradcheckError {
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

impl std::error::Error for GradcheckError {}

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

/// Vector-Jacobian product `uᵀ J` for every input (zeros where an input is unreached).
fn vjp(
    f: &impl Fn(&[Var<f64>]) -> Var<f64>,
    inputs: &[Tensor<f64>],
    u: &Tensor<f64>,
) -> Vec<Vec<f64>> {
    let params: Vec<Var<f64>> = inputs.iter().cloned().map(Var::parameter).collect();
    let out = f(&params);
    let zeros = || inputs.iter().map(|t| vec![0.0; t.numel()]).collect();
    if !out.needs_grad() {
        return zeros();
    }
    let refs: Vec<&Var<f64>> = params.iter().collect();
    match grad(&[&out], &refs, Some(std::slice::from_ref(u)), false) {
        Ok(gs) => gs
            .into_iter()
            .zip(inputs)
            .map(|(g, t)| g.map_or_else(|| vec![0.0; t.numel()], |g| g.value().to_vec()))
            .collect(),
        Err(_) => zeros(),
    }
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
/// use graft_tensor::Tensor;
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
        .collect();
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
                    let err = GradcheckError {
                        input: i,
                        element: unflatten(j, x.shape()),
                        output: k,
                        analytic: a,
                        numeric,
                    };
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
    let g = vjp(f, inputs, &u);
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
            return Err(GradcheckError {
                input: i,
                element: vec![],
                output: 0,
                analytic,
                numeric,
            });
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
    let first_derivatives = |xs: &[Var<f64>]| -> Var<f64> {
        let out = f(xs);
        let refs: Vec<&Var<f64>> = xs.iter().collect();
        let grads = if out.needs_grad() {
            grad(&[&out], &refs, Some(std::slice::from_ref(&u)), true)
                .unwrap_or_else(|_| vec![None; xs.len()])
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
    gradcheck(first_derivatives, inputs, options)
}

/// A seeded shuffle of evenly spaced values (`step` apart, centred on 0): inputs without
/// ties, for checking ops whose gradient picks one element (max, min, max pooling), where
/// a tie would make finite differences meaningless.
pub fn distinct_values(shape: &[usize], step: f64, seed: u64) -> Tensor<f64> {
    let n: usize = shape.iter().product();
    let keys = Tensor::<f64>::uniform(&[n], 0.0, 1.0, &mut StdRng::seed_from_u64(seed)).to_vec();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| keys[*a].total_cmp(&keys[*b]));
    let mut values = vec![0.0; n];
    for (rank, &i) in order.iter().enumerate() {
        values[i] = (rank as f64 - n as f64 / 2.0) * step;
    }
    Tensor::from_vec(values, shape)
}

/// A function of f64 Vars to a Var: what gradcheck checks.
pub type OpFn = dyn Fn(&[Var<f64>]) -> Var<f64>;

/// One differentiable op in a test registry: how to call it, example inputs from its
/// value domain, and whether its second derivative is smooth enough to check.
pub struct OpEntry {
    /// The op's name in reports.
    pub name: &'static str,
    /// The op applied to Vars.
    pub f: Box<OpFn>,
    /// Inputs inside the op's domain (away from kinks and poles).
    pub inputs: Vec<Tensor<f64>>,
    /// True when gradgradcheck applies (false for piecewise-linear ops such as relu,
    /// whose second derivative is zero almost everywhere and checks nothing).
    pub second_order: bool,
}

impl OpEntry {
    /// An entry checked to first and second order.
    pub fn new(
        name: &'static str,
        inputs: Vec<Tensor<f64>>,
        f: impl Fn(&[Var<f64>]) -> Var<f64> + 'static,
    ) -> Self {
        OpEntry {
            name,
            f: Box::new(f),
            inputs,
            second_order: true,
        }
    }

    /// Marks the entry as first-order only.
    pub fn first_order_only(mut self) -> Self {
        self.second_order = false;
        self
    }

    /// Runs gradcheck, gradgradcheck (when it applies) and the layout check: the output and
    /// gradients on non-contiguous views of the inputs equal those on contiguous inputs.
    pub fn check(&self, options: &GradcheckOptions) -> Result<(), String> {
        let tag = |e: GradcheckError| format!("{}: {e}", self.name);
        gradcheck(&self.f, &self.inputs, options).map_err(tag)?;
        if self.second_order {
            gradgradcheck(&self.f, &self.inputs, options)
                .map_err(|e| format!("{} (second order): {e}", self.name))?;
        }
        self.check_layouts()
    }

    fn check_layouts(&self) -> Result<(), String> {
        let (out, grads) = self.value_and_grads(&self.inputs);
        for variant in 0..3 {
            let views: Vec<Tensor<f64>> = self
                .inputs
                .iter()
                .map(|t| strided_copy(t, variant))
                .collect();
            let (o, g) = self.value_and_grads(&views);
            if o != out || g != grads {
                return Err(format!(
                    "{}: non-contiguous inputs (layout {variant}) change the result",
                    self.name
                ));
            }
        }
        Ok(())
    }

    fn value_and_grads(&self, inputs: &[Tensor<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
        let params: Vec<Var<f64>> = inputs.iter().cloned().map(Var::parameter).collect();
        let out = (self.f)(&params);
        if out.needs_grad() {
            let seed = Tensor::from_vec(
                (0..out.numel())
                    .map(|i| 0.5 + 0.25 * (i % 3) as f64)
                    .collect(),
                out.shape(),
            );
            out.backward_with(&seed).expect("backward");
        }
        let grads = params
            .iter()
            .map(|p| p.grad().map(|g| g.to_vec()).unwrap_or_default())
            .collect();
        (out.value().to_vec(), grads)
    }
}

/// Runs [`OpEntry::check`] on every entry of a registry, collecting every failure (not
/// just the first) into one report.
pub fn check_registry(entries: &[OpEntry], options: &GradcheckOptions) -> Result<(), String> {
    let failures: Vec<String> = entries
        .iter()
        .filter_map(|e| e.check(options).err())
        .collect();
    if failures.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} of {} entries failed:\n{}",
        failures.len(),
        entries.len(),
        failures.join("\n")
    ))
}

/// The same values as `t` in another layout: 0 = transposed storage, 1 = every other
/// element of a wider buffer, 2 = flipped storage.
fn strided_copy(t: &Tensor<f64>, variant: usize) -> Tensor<f64> {
    match (variant, t.ndim()) {
        (_, 0) => t.clone(),
        (0, n) if n >= 2 => t.transpose(0, -1).contiguous().transpose(0, -1),
        (1, _) => Tensor::stack(&[t, &t.map(|v| v * 7.0 + 1.0)], -1).select(-1, 0),
        _ => t.flip(0).contiguous().flip(0),
    }
}
