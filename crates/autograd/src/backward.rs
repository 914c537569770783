//! Reverse-mode differentiation: walk the graph once in reverse topological order,
//! iteratively, calling each node's gradient rule.

use std::cell::RefCell;
use std::collections::hash_map::Entry;
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

/// The Vars reachable from `roots` through tracked inputs, ordered so that every Var comes
/// before the inputs it was computed from, each with its slot: where its gradient lives in
/// the pass's gradient table (a Vec, so that taking a Var's gradient needs no hashing; giving
/// one to an input still looks the input's slot up by key).
struct Walk<'a, T: Float> {
    order: Vec<(&'a Var<T>, usize)>,
    /// Slot of every Var in `order`, by key.
    slots: KeyMap<usize>,
}

impl<T: Float> Walk<'_, T> {
    /// The slot of a Var the walk visited.
    fn slot(&self, var: &Var<T>) -> Option<usize> {
        self.slots.get(&var.key()).copied()
    }

    /// Hands the slot map back for the thread's next pass (emptied, capacity kept).
    fn recycle(self) {
        let mut slots = self.slots;
        slots.clear();
        if slots.capacity() <= MAX_KEPT_SLOTS {
            SLOTS.with(|s| *s.borrow_mut() = slots);
        }
    }
}

/// Walks the graph from `roots`; the walk does not go past Vars in `stop`. Iterative: a
/// million-op chain is fine.
fn topological_order<'a, T: Float>(roots: &'a [Var<T>], stop: &KeySet) -> Walk<'a, T> {
    let mut post_order = Vec::new();
    // The slot map is reused from the thread's last pass: growing it from empty rehashed it
    // about log2(nodes) times per pass, a few percent of a small op's backward.
    let mut slots = SLOTS.with(|s| std::mem::take(&mut *s.borrow_mut()));
    // (var, its slot once its inputs are pushed)
    let mut stack: Vec<(&Var<T>, Option<usize>)> = roots.iter().map(|r| (r, None)).collect();
    while let Some((var, visited)) = stack.pop() {
        if let Some(slot) = visited {
            post_order.push((var, slot));
            continue;
        }
        let slot = slots.len();
        match slots.entry(var.key()) {
            Entry::Occupied(_) => continue,
            Entry::Vacant(e) => {
                e.insert(slot);
            }
        }
        stack.push((var, Some(slot)));
        if !stop.is_empty() && stop.contains(&var.key()) {
            continue;
        }
        if let Some(node) = var.node() {
            for input in &node.inputs {
                if input.needs_grad() && !slots.contains_key(&input.key()) {
                    stack.push((input, None));
                }
            }
        }
    }
    post_order.reverse();
    Walk {
        order: post_order,
        slots,
    }
}

/// The largest slot map kept for the next pass (entries; about 16 bytes each).
const MAX_KEPT_SLOTS: usize = 1 << 16;

thread_local! {
    /// An empty slot map with the capacity the thread's last pass needed.
    static SLOTS: RefCell<KeyMap<usize>> = RefCell::new(KeyMap::default());
}

/// The Vars of `order` (outputs before inputs) on some path to one of `targets`: only their
/// gradients are needed, so `grad` runs no rule whose inputs all lie off those paths (the
/// pruning PyTorch, tinygrad and candle do; without it, a gradient with respect to one
/// early activation would run the whole model's backward).
fn on_paths_to<T: Float>(order: &[(&Var<T>, usize)], targets: &KeySet) -> KeySet {
    let mut needed = targets.clone();
    for (var, _) in order.iter().rev() {
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
    sum_to_owned(g.clone(), shape)
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
    let walk = topological_order(roots, if partial { &keep } else { &no_stop });
    // `None`: every tracked Var needs its gradient (backward fills every leaf's `.grad`).
    let needed = match &sink {
        Sink::Capture(_) | Sink::Partial(_) => Some(on_paths_to(&walk.order, &keep)),
        Sink::LeafGrads => None,
    };
    let is_needed = |key: usize| needed.as_ref().is_none_or(|n| n.contains(&key));
    let mut grads: Vec<Option<Var<T>>> = Vec::new();
    grads.resize_with(walk.slots.len(), || None);
    for (root, seed) in roots.iter().zip(seeds) {
        let slot = walk.slot(root).expect("every root is visited");
        add_grad(&mut grads, slot, seed);
    }
    with_grad_mode(create_graph, || -> Result<()> {
        for &(var, slot) in &walk.order {
            let kept = !keep.is_empty() && keep.contains(&var.key());
            let Some(g) = (if kept {
                grads[slot].clone()
            } else {
                grads[slot].take()
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
                // Every input that needed a gradient when the walk ran was visited; one
                // marked `requires_grad` since (by another thread) gets none from this pass.
                let Some(slot) = walk.slot(input) else {
                    continue;
                };
                add_grad(&mut grads, slot, grad);
            }
        }
        Ok(())
    })?;
    let captured = match sink {
        Sink::Capture(vars) | Sink::Partial(vars) => vars
            .iter()
            .map(|v| walk.slot(v).and_then(|slot| grads[slot].clone()))
            .collect(),
        Sink::LeafGrads => Vec::new(),
    };
    walk.recycle();
    Ok(captured)
}

/// Adds `g` into the gradient in `slot`.
fn add_grad<T: Float>(grads: &mut [Option<Var<T>>], slot: usize, g: Var<T>) {
    let total = match grads[slot].take() {
        Some(prev) => &prev + &g,
        None => g,
    };
    grads[slot] = Some(total);
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
            vec![Var::new(grad_output.clone())],
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
        seeds.push(Var::new(seed));
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
