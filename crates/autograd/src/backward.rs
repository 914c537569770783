//! Reverse-mode differentiation: walk the graph once in reverse topological order,
//! iteratively, calling each node's gradient rule.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use graft_tensor::{ErrorKind, Float, Result, Tensor, TensorError};

use crate::graph::{check_finite, with_grad_mode};
use crate::var::Var;

/// Hashes a Var key (an address) with one folded multiply: the default SipHash costs more
/// than the rest of a small op's backward step, and addresses need no DoS protection.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_usize(&mut self, key: usize) {
        self.write_u64(key as u64);
    }
    fn write_u64(&mut self, key: u64) {
        let m = u128::from(self.0 ^ key).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}

type KeyMap<V> = HashMap<usize, V, BuildHasherDefault<KeyHasher>>;
type KeySet = HashSet<usize, BuildHasherDefault<KeyHasher>>;

/// Vars reachable from `roots` through tracked inputs, ordered so that every Var comes
/// before the inputs it was computed from; the walk does not go past Vars in `stop`.
/// Iterative: a million-op chain is fine.
fn topological_order<'a, T: Float>(roots: &'a [Var<T>], stop: &KeySet) -> Vec<&'a Var<T>> {
    let mut post_order = Vec::new();
    // The visited set is reused from the thread's last backward: growing it from empty
    // rehashed it about log2(nodes) times per pass, a few percent of a small op's backward.
    let mut visited = VISITED.with(|v| std::mem::take(&mut *v.borrow_mut()));
    let mut stack: Vec<(&Var<T>, bool)> = roots.iter().map(|r| (r, false)).collect();
    while let Some((var, inputs_done)) = stack.pop() {
        if inputs_done {
            post_order.push(var);
            continue;
        }
        if !visited.insert(var.key()) {
            continue;
        }
        stack.push((var, true));
        if !stop.is_empty() && stop.contains(&var.key()) {
            continue;
        }
        if let Some(node) = var.node() {
            for input in &node.inputs {
                if input.needs_grad() && !visited.contains(&input.key()) {
                    stack.push((input, false));
                }
            }
        }
    }
    visited.clear();
    if visited.capacity() <= MAX_KEPT_VISITED {
        VISITED.with(|v| *v.borrow_mut() = visited);
    }
    post_order.reverse();
    post_order
}

/// The largest visited set kept for the next pass (entries; about 16 bytes each).
const MAX_KEPT_VISITED: usize = 1 << 16;

thread_local! {
    /// An empty visited set with the capacity the thread's last backward needed.
    static VISITED: RefCell<KeySet> = RefCell::new(KeySet::default());
}

/// The Vars of `order` (outputs before inputs) on some path to one of `targets`: only their
/// gradients are needed, so `grad` runs no rule whose inputs all lie off those paths (the
/// pruning PyTorch, tinygrad and candle do; without it, a gradient with respect to one
/// early activation would run the whole model's backward).
fn on_paths_to<T: Float>(order: &[&Var<T>], targets: &KeySet) -> KeySet {
    let mut needed = targets.clone();
    for var in order.iter().rev() {
        let reaches = var.node().is_some_and(|node| {
            node.inputs
                .iter()
                .any(|input| needed.contains(&input.key()))
        });
        if reaches {
            needed.insert(var.key());
        }
    }
    needed
}

/// Sums `g` over the dims that broadcasting added or stretched, back to `shape`.
pub(crate) fn sum_to<T: Float>(g: &Var<T>, shape: &[usize]) -> Var<T> {
    if g.shape() == shape {
        return g.clone();
    }
    sum_down(g, shape)
}

/// [`sum_to`] taking the gradient by value: the common same-shape case hands it straight
/// back, without a reference-count round trip.
fn sum_to_owned<T: Float>(g: Var<T>, shape: &[usize]) -> Var<T> {
    if g.shape() == shape {
        return g;
    }
    sum_down(&g, shape)
}

/// Sums `g` over the dims broadcasting added or stretched (`g`'s shape is not `shape`).
fn sum_down<T: Float>(g: &Var<T>, shape: &[usize]) -> Var<T> {
    let lead = g.ndim() - shape.len();
    let axes: Vec<isize> = (0..g.ndim())
        .filter(|&d| d < lead || (shape[d - lead] == 1 && g.shape()[d] != 1))
        .map(|d| d as isize)
        .collect();
    g.sum_dims(&axes, true).reshape(shape)
}

/// Where the gradients of the graph's leaves go.
enum Sink<'a, T: Float> {
    /// Accumulate into every tracked leaf's `.grad` (what `backward` does).
    LeafGrads,
    /// Keep the gradients of these Vars and return them (what `grad` does).
    Capture(&'a [&'a Var<T>]),
    /// Like `Capture`, but the Vars are independent variables: the walk stops at them, so
    /// what they were computed from is neither visited nor counted (partial derivatives).
    Partial(&'a [&'a Var<T>]),
}

/// Runs the reverse pass from `roots` seeded with `seeds`, returning the captured gradients.
fn run<T: Float>(
    roots: &[Var<T>],
    seeds: Vec<Var<T>>,
    create_graph: bool,
    sink: Sink<'_, T>,
) -> Result<Vec<Option<Var<T>>>> {
    let keep: KeySet = match &sink {
        Sink::Capture(vars) | Sink::Partial(vars) => vars.iter().map(|v| v.key()).collect(),
        Sink::LeafGrads => KeySet::default(),
    };
    let partial = matches!(sink, Sink::Partial(_));
    let no_stop = KeySet::default();
    let order = topological_order(roots, if partial { &keep } else { &no_stop });
    // `None`: every tracked Var needs its gradient (backward fills every leaf's `.grad`).
    let needed = match &sink {
        Sink::Capture(_) | Sink::Partial(_) => Some(on_paths_to(&order, &keep)),
        Sink::LeafGrads => None,
    };
    let is_needed = |key: usize| needed.as_ref().is_none_or(|n| n.contains(&key));
    let mut grads: KeyMap<Var<T>> = KeyMap::default();
    for (root, seed) in roots.iter().zip(seeds) {
        add_grad(&mut grads, root.key(), seed);
    }
    with_grad_mode(create_graph, || -> Result<()> {
        for &var in &order {
            let kept = !keep.is_empty() && keep.contains(&var.key());
            let Some(g) = (if kept {
                grads.get(&var.key()).cloned()
            } else {
                grads.remove(&var.key())
            }) else {
                continue;
            };
            if partial && kept {
                continue;
            }
            let Some(node) = var.node() else {
                if matches!(sink, Sink::LeafGrads) {
                    var.accumulate_grad(g.value());
                }
                continue;
            };
            if !node.inputs.iter().any(|input| is_needed(input.key())) {
                continue;
            }
            for (input, &saved) in node.inputs.iter().zip(&node.versions) {
                if input.version() != saved {
                    return Err(TensorError::of_kind(
                        ErrorKind::InPlaceModified,
                        node.op.name(),
                        format!(
                            "an input of shape {:?}{} was modified in place after the forward pass \
                             (version {} now, {saved} when saved); recompute the forward pass after updating it",
                            input.shape(),
                            input.name().map(|n| format!(" ('{n}')")).unwrap_or_default(),
                            input.version()
                        ),
                    ));
                }
            }
            let input_grads =
                crate::graph::in_backward_pass(|| node.op.backward(&node.inputs, var, &g));
            for (input, grad) in node.inputs.iter().zip(input_grads) {
                let Some(grad) = grad else { continue };
                if !input.needs_grad() || !is_needed(input.key()) {
                    continue;
                }
                // A rule's gradient may be broadcast (the engine sums it back down), but
                // anything else is a bug in that rule: say which, rather than panic.
                if grad.shape() != input.shape()
                    && graft_tensor::broadcast_shapes(input.shape(), grad.shape()).as_deref()
                        != Some(grad.shape())
                {
                    return Err(TensorError::shape_mismatch(
                        node.op.name(),
                        format!(
                            "backward returned a gradient of shape {:?} for an input of shape {:?}",
                            grad.shape(),
                            input.shape()
                        ),
                    ));
                }
                let grad = sum_to_owned(grad, input.shape());
                if crate::graph::is_anomaly_mode() {
                    let shapes: Vec<Vec<usize>> =
                        node.inputs.iter().map(|v| v.shape().to_vec()).collect();
                    let label = input.name().or(var.name());
                    check_finite(&grad.value(), node.op.name(), "backward", &shapes, label)?;
                }
                add_grad(&mut grads, input.key(), grad);
            }
        }
        Ok(())
    })?;
    Ok(match sink {
        Sink::Capture(vars) | Sink::Partial(vars) => {
            vars.iter().map(|v| grads.get(&v.key()).cloned()).collect()
        }
        Sink::LeafGrads => Vec::new(),
    })
}

fn add_grad<T: Float>(grads: &mut KeyMap<Var<T>>, key: usize, g: Var<T>) {
    match grads.get_mut(&key) {
        Some(prev) => *prev = &*prev + &g,
        None => {
            grads.insert(key, g);
        }
    }
}

fn check_root<T: Float>(op: &str, root: &Var<T>) -> Result<()> {
    if !root.needs_grad() {
        return Err(TensorError::new(
            op,
            format!(
                "the Var of shape {:?} does not depend on any tracked parameter",
                root.shape()
            ),
        ));
    }
    Ok(())
}

impl<T: Float> Var<T> {
    /// Backpropagates from this scalar, accumulating into every tracked leaf's `.grad`.
    /// Errors (naming the shape) if the Var is not a scalar: use [`Var::backward_with`].
    ///
    /// Calling it twice on one graph is allowed and accumulates the gradients a second
    /// time: PyTorch's behaviour with `retain_graph=True`, always. PyTorch frees the saved
    /// tensors during backward to save memory and so must refuse a second pass; graft's
    /// graph nodes hold their inputs by reference count, and backward reads them without
    /// consuming them, so the graph stays whole until its last `Var` is dropped: there is
    /// nothing to free early and no error to raise. Zero the gradients between passes
    /// (`optimizer.zero_grad()`) if you want them replaced rather than summed.
    pub fn backward(&self) -> Result<()> {
        if self.numel() != 1 {
            return Err(TensorError::new(
                "backward",
                format!(
                    "needs a scalar to start from, got shape {:?}; use backward_with(grad_output)",
                    self.shape()
                ),
            ));
        }
        self.backward_with(&Tensor::full(self.shape(), T::ONE))
    }

    /// Backpropagates `grad_output` (same shape as this Var): the vector-Jacobian product.
    pub fn backward_with(&self, grad_output: &Tensor<T>) -> Result<()> {
        check_root("backward", self)?;
        if grad_output.shape() != self.shape() {
            return Err(TensorError::shape_mismatch(
                "backward",
                format!(
                    "grad_output of shape {:?} does not match output {:?}",
                    grad_output.shape(),
                    self.shape()
                ),
            ));
        }
        run(
            std::slice::from_ref(self),
            vec![Var::computed(grad_output.clone())],
            false,
            Sink::LeafGrads,
        )?;
        Ok(())
    }
}

/// Gradients of `outputs` with respect to `inputs`, without touching any `.grad`.
///
/// `grad_outputs` seeds each output (ones for scalars when `None`). With `create_graph`
/// the returned gradients are themselves differentiable: call `grad` on them again for
/// second derivatives and Hessian-vector products. An input the outputs do not depend on
/// gets `None`.
///
/// ```
/// use graft_autograd::{grad, Var};
/// use graft_tensor::Tensor;
/// let x = Var::parameter(Tensor::from_vec(vec![3.0f64], &[1]));
/// let y = (&x * &x * &x).sum(); // x³
/// let dy = grad(&[&y], &[&x], None, true).unwrap()[0].clone().unwrap(); // 3x² = 27
/// let d2y = grad(&[&dy.sum()], &[&x], None, false).unwrap()[0].clone().unwrap(); // 6x = 18
/// assert_eq!((dy.item(), d2y.item()), (27.0, 18.0));
/// ```
pub fn grad<T: Float>(
    outputs: &[&Var<T>],
    inputs: &[&Var<T>],
    grad_outputs: Option<&[Tensor<T>]>,
    create_graph: bool,
) -> Result<Vec<Option<Var<T>>>> {
    let mut seeds = Vec::with_capacity(outputs.len());
    for (i, out) in outputs.iter().enumerate() {
        check_root("grad", out)?;
        let seed = match grad_outputs {
            Some(g) => {
                let g = g.get(i).ok_or_else(|| {
                    TensorError::new(
                        "grad",
                        format!("{} outputs but {} grad_outputs", outputs.len(), g.len()),
                    )
                })?;
                if g.shape() != out.shape() {
                    return Err(TensorError::shape_mismatch(
                        "grad",
                        format!(
                            "grad_output {i} of shape {:?} does not match output {:?}",
                            g.shape(),
                            out.shape()
                        ),
                    ));
                }
                g.clone()
            }
            None if out.numel() == 1 => Tensor::full(out.shape(), T::ONE),
            None => {
                return Err(TensorError::new(
                    "grad",
                    format!(
                        "output {i} of shape {:?} is not a scalar: pass grad_outputs",
                        out.shape()
                    ),
                ))
            }
        };
        seeds.push(Var::computed(seed));
    }
    let roots: Vec<Var<T>> = outputs.iter().map(|v| (*v).clone()).collect();
    run(&roots, seeds, create_graph, Sink::Capture(inputs))
}

/// Partial derivatives of `roots` (seeded with `seeds`, which may themselves be tracked so
/// that the result can be differentiated with respect to them) with respect to `targets`,
/// each treated as an independent variable: the walk stops at the targets. Roots that do
/// not need gradients contribute nothing; a target no root reaches gets `None`.
pub(crate) fn partial_grad<T: Float>(
    roots: &[Var<T>],
    seeds: &[Var<T>],
    targets: &[&Var<T>],
    create_graph: bool,
) -> Result<Vec<Option<Var<T>>>> {
    let mut live_roots = Vec::with_capacity(roots.len());
    let mut live_seeds = Vec::with_capacity(roots.len());
    for (root, seed) in roots.iter().zip(seeds) {
        if seed.shape() != root.shape() {
            return Err(TensorError::new(
                "grad",
                format!(
                    "seed of shape {:?} does not match output {:?}",
                    seed.shape(),
                    root.shape()
                ),
            ));
        }
        if root.needs_grad() {
            live_roots.push(root.clone());
            live_seeds.push(seed.clone());
        }
    }
    if live_roots.is_empty() {
        return Ok(vec![None; targets.len()]);
    }
    run(
        &live_roots,
        live_seeds,
        create_graph,
        Sink::Partial(targets),
    )
}
