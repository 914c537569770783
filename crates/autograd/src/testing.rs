//! The registry runner for gradient checks: a table of differentiable ops with example
//! inputs ([`OpEntry`]), checked together by [`check_registry`] (first and, where smooth,
//! second derivatives, on contiguous and strided inputs), and tie-free inputs for max-like
//! ops ([`distinct_values`]). What graft's own test suites use to cover every op, layer and
//! loss; a user's crate registers its own ops the same way.

use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::gradcheck::{gradcheck, gradgradcheck, GradcheckError, GradcheckOptions};
use crate::var::Var;

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
