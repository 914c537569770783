//! `Var`: a tensor value plus, when computed from tracked inputs, the node that made it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use graft_tensor::{or_panic, Float, Result, Tensor, TensorError};
use smallvec::SmallVec;

use crate::graph::{check_finite, is_grad_enabled, Node, Op};
use crate::ops::elementwise::BinaryForward;
use crate::value::ValueCell;

/// A differentiable value: a tensor and, for computed values, the op and inputs that made
/// it. Cheap to clone (an `Arc`), `Send + Sync`.
///
/// ```
/// use graft_autograd::Var;
/// use graft_tensor::Tensor;
/// let w = Var::parameter(Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]));
/// let loss = (&w * &w).sum(); // sum of squares
/// loss.backward().unwrap();
/// assert_eq!(w.grad().unwrap().to_vec(), vec![2.0, 4.0, 6.0]);
/// ```
pub struct Var<T: Float = f32>(pub(crate) Arc<VarInner<T>>);

pub(crate) struct VarInner<T: Float> {
    pub(crate) value: ValueCell<T>,
    /// Made on the first gradient: most Vars (every computed one) never hold one, and a
    /// boxed slot keeps them smaller.
    grad: OnceLock<Box<GradSlot<T>>>,
    requires_grad: AtomicBool,
    version: AtomicU64,
    name: OnceLock<String>,
    node: Option<Node<T>>,
}

/// Where a Var's accumulated gradient lives.
type GradSlot<T> = Mutex<Option<Tensor<T>>>;

impl<T: Float> Clone for Var<T> {
    fn clone(&self) -> Self {
        Var(Arc::clone(&self.0))
    }
}

impl<T: Float> Var<T> {
    fn from_parts(value: ValueCell<T>, requires_grad: bool, node: Option<Node<T>>) -> Self {
        Var(Arc::new(VarInner {
            value,
            grad: OnceLock::new(),
            requires_grad: AtomicBool::new(requires_grad),
            version: AtomicU64::new(0),
            name: OnceLock::new(),
            node,
        }))
    }

    /// A constant: no gradient flows into it.
    ///
    /// Its value is read without a lock. Replacing it ([`Var::set_value`],
    /// [`Var::update_value`]) works, but keeps the first value alive beside the current one
    /// (harmless for a buffer such as a running statistic); tracked leaves, which optimizers
    /// update every step, are made with [`Var::parameter`] or [`Var::requires_grad`] (on an
    /// unshared Var) and keep one copy.
    pub fn new(value: Tensor<T>) -> Self {
        Self::from_parts(ValueCell::fixed(value), false, None)
    }

    /// A tracked leaf (a parameter): `backward` accumulates its gradient in [`Var::grad`].
    pub fn parameter(value: Tensor<T>) -> Self {
        Self::from_parts(ValueCell::locked(value), true, None)
    }

    /// Marks a leaf as tracked (PyTorch's `requires_grad_()`), returning it.
    pub fn requires_grad(mut self) -> Self {
        if self.0.node.is_none() {
            self.0.requires_grad.store(true, Ordering::Relaxed);
            // A tracked leaf is what optimizers update in place: keep its value behind the
            // lock, as `parameter` does, so that updates never leave the first value behind.
            // (Only when unshared: other clones may be reading the cell.)
            if let Some(inner) = Arc::get_mut(&mut self.0) {
                inner.value.make_locked();
            }
        }
        self
    }

    /// Gives the Var a label that error and anomaly reports use (first name sticks).
    pub fn with_name(self, name: impl Into<String>) -> Self {
        let _ = self.0.name.set(name.into());
        self
    }

    /// The label given with [`Var::with_name`], if any.
    pub fn name(&self) -> Option<&str> {
        self.0.name.get().map(String::as_str)
    }

    /// True if gradients flow to this Var: a tracked leaf, or computed from one.
    pub fn needs_grad(&self) -> bool {
        self.0.node.is_some() || self.0.requires_grad.load(Ordering::Relaxed)
    }

    /// True for Vars not computed by a recorded op (constants and parameters).
    pub fn is_leaf(&self) -> bool {
        self.0.node.is_none()
    }

    /// The value (a cheap clone sharing storage).
    pub fn value(&self) -> Tensor<T> {
        self.0.value.get()
    }

    /// The value's shape.
    pub fn shape(&self) -> &[usize] {
        self.0.value.shape()
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape().iter().product()
    }

    /// The single value of a one-element Var.
    #[track_caller]
    pub fn item(&self) -> T {
        self.value().item()
    }

    /// The accumulated gradient of a tracked leaf (`None` before any backward or after
    /// [`Var::zero_grad`]).
    pub fn grad(&self) -> Option<Tensor<T>> {
        let slot = self.0.grad.get()?;
        slot.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Clears the accumulated gradient (PyTorch's `set_to_none` behaviour).
    pub fn zero_grad(&self) {
        if let Some(slot) = self.0.grad.get() {
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }

    /// Replaces the accumulated gradient (used by optimizers and gradient clipping).
    pub fn set_grad(&self, grad: Option<Tensor<T>>) {
        if grad.is_none() && self.0.grad.get().is_none() {
            return;
        }
        *self.grad_slot().lock().unwrap_or_else(|p| p.into_inner()) = grad;
    }

    /// The gradient slot, made on first use.
    fn grad_slot(&self) -> &GradSlot<T> {
        self.0.grad.get_or_init(|| Box::new(Mutex::new(None)))
    }

    /// Adds `g` into the accumulated gradient.
    pub(crate) fn accumulate_grad(&self, g: Tensor<T>) {
        let mut slot = self.grad_slot().lock().unwrap_or_else(|p| p.into_inner());
        *slot = Some(match slot.take() {
            Some(prev) => &prev + &g,
            None => g,
        });
    }

    /// How many times the value has been modified in place.
    pub fn version(&self) -> u64 {
        self.0.version.load(Ordering::Relaxed)
    }

    /// Modifies the value in place (copy-on-write if its storage is shared), bumping the
    /// version so that a backward through a graph that saved the old value fails loudly.
    /// Recorded by no graph: this is how optimizers update parameters.
    pub fn update_value<R>(&self, f: impl FnOnce(&mut [T]) -> R) -> R {
        let r = self.0.value.write(|value| f(value.data_mut()));
        self.0.version.fetch_add(1, Ordering::Relaxed);
        r
    }

    /// Replaces the value with a tensor of the same shape (bumps the version).
    pub fn try_set_value(&self, value: Tensor<T>) -> Result<()> {
        if value.shape() != self.shape() {
            return Err(TensorError::shape_mismatch(
                "set_value",
                format!(
                    "new value of shape {:?} does not match the Var's shape {:?}",
                    value.shape(),
                    self.shape()
                ),
            ));
        }
        self.0.value.write(|slot| *slot = value);
        self.0.version.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Replaces the value with a tensor of the same shape; panics on a shape mismatch.
    #[track_caller]
    pub fn set_value(&self, value: Tensor<T>) {
        or_panic(self.try_set_value(value))
    }

    /// A constant sharing this Var's value: gradients stop here.
    pub fn detach(&self) -> Var<T> {
        Var::new(self.value())
    }

    /// Applies `op` to `inputs`, recording a node when grad mode is on and any input is
    /// tracked. This is how every op, built-in or user-defined, enters the graph.
    ///
    /// ```
    /// use graft_autograd::{Op, Var};
    /// use graft_tensor::{Tensor, TensorError};
    ///
    /// /// cube(x) = x³, with its gradient 3x² written in Var ops.
    /// struct Cube;
    /// impl Op<f64> for Cube {
    ///     fn name(&self) -> &'static str { "cube" }
    ///     fn forward(&self, x: &[Tensor<f64>]) -> Result<Tensor<f64>, TensorError> {
    ///         Ok(x[0].pow_scalar(3.0))
    ///     }
    ///     fn backward(&self, x: &[Var<f64>], _out: &Var<f64>, g: &Var<f64>) -> Vec<Option<Var<f64>>> {
    ///         vec![Some(g * &(&x[0] * &x[0]).mul_scalar(3.0))]
    ///     }
    /// }
    /// let x = Var::parameter(Tensor::from_vec(vec![2.0], &[1]));
    /// Var::apply(Cube, &[&x]).sum().backward().unwrap();
    /// assert_eq!(x.grad().unwrap().to_vec(), vec![12.0]);
    /// ```
    pub fn try_apply(op: impl Op<T>, inputs: &[&Var<T>]) -> Result<Var<T>> {
        let out = if let [x] = inputs {
            // One input: its value is the slice, borrowed rather than cloned.
            x.with_value(|v| op.forward(std::slice::from_ref(v)))?
        } else {
            let mut values: SmallVec<[Tensor<T>; 2]> = SmallVec::new();
            for v in inputs {
                values.push(v.value());
            }
            op.forward(&values)?
        };
        Self::check_forward(&out, op.name(), inputs)?;
        Ok(Self::record(out, op, inputs))
    }

    /// [`Var::try_apply`] for a two-input primitive, reading both values by reference:
    /// no tensor is cloned into a slice (the binary ops are the most frequent small ops).
    pub(crate) fn try_apply_binary(
        op: impl BinaryForward<T>,
        a: &Var<T>,
        b: &Var<T>,
    ) -> Result<Var<T>> {
        let out = a.with_value(|x| b.with_value(|y| op.forward2(x, y)))?;
        let inputs = [a, b];
        Self::check_forward(&out, op.name(), &inputs)?;
        Ok(Self::record(out, op, &inputs))
    }

    /// Anomaly mode's check of a forward output (one atomic load when it is off).
    fn check_forward(out: &Tensor<T>, op: &str, inputs: &[&Var<T>]) -> Result<()> {
        if crate::graph::check_forward_anomalies() {
            let shapes: Vec<Vec<usize>> = inputs.iter().map(|v| v.shape().to_vec()).collect();
            let label = inputs.iter().find_map(|v| v.name());
            check_finite(out, op, "forward", &shapes, label)?;
        }
        Ok(())
    }

    /// Runs `f` on the value, borrowed where that needs no lock (else on a clone).
    pub(crate) fn with_value<R>(&self, f: impl FnOnce(&Tensor<T>) -> R) -> R {
        self.0.value.with(f)
    }

    /// Wraps `out`, computed by `op` from `inputs`, recording a node when grad mode is on
    /// and any input is tracked.
    pub(crate) fn record(out: Tensor<T>, op: impl Op<T>, inputs: &[&Var<T>]) -> Var<T> {
        let track = is_grad_enabled() && inputs.iter().any(|v| v.needs_grad());
        if !track {
            // Checkpointing runs its function untracked and learns here which tracked
            // Vars (parameters it captured) that function reads.
            crate::graph::note_tracked_inputs(inputs);
            return Var::new(out);
        }
        let node = Node::new(Box::new(op), inputs);
        Self::from_parts(ValueCell::fixed(out), false, Some(node))
    }

    /// Applies `op` to `inputs`; panics with the op's error message on failure.
    #[track_caller]
    pub fn apply(op: impl Op<T>, inputs: &[&Var<T>]) -> Var<T> {
        or_panic(Self::try_apply(op, inputs))
    }

    /// The node that computed this Var, if it was recorded.
    pub(crate) fn node(&self) -> Option<&Node<T>> {
        self.0.node.as_ref()
    }

    /// A key identifying this Var while it is alive.
    pub(crate) fn key(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// If this is the last reference, hands back its node so the caller can free the graph
    /// behind it iteratively.
    pub(crate) fn into_node_if_last(mut self) -> Option<Node<T>> {
        // A plain load first: a Var others still hold (a parameter, a constant) is then
        // dropped with one atomic instead of `get_mut`'s three. If another thread drops its
        // clone just after this load, the Var is freed by an ordinary drop instead, which
        // frees its own graph iteratively: one stack frame deeper, never unbounded.
        if Arc::strong_count(&self.0) != 1 {
            return None;
        }
        // Take the node in place: unwrapping the Arc would move the whole VarInner out.
        Arc::get_mut(&mut self.0).and_then(|inner| inner.node.take())
    }
}

impl<T: Float> std::fmt::Debug for Var<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = self
            .node()
            .map(|n| n.op.name())
            .unwrap_or(if self.needs_grad() {
                "parameter"
            } else {
                "constant"
            });
        write!(
            f,
            "Var({op}{}, {})",
            self.name().map(|n| format!(" '{n}'")).unwrap_or_default(),
            self.value()
        )
    }
}

impl<T: Float> std::fmt::Display for Var<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gradient_slot_is_made_on_first_use_and_cleared_in_place() {
        let w = Var::parameter(Tensor::from_vec(vec![1.0f64, 2.0], &[2]));
        assert!(w.grad().is_none());
        w.zero_grad();
        w.set_grad(None);
        assert!(
            w.0.grad.get().is_none(),
            "clearing an absent gradient makes no slot"
        );
        (&w * &w).sum().backward().unwrap();
        (&w * &w).sum().backward().unwrap();
        assert_eq!(w.grad().unwrap().to_vec(), vec![4.0, 8.0]);
        w.zero_grad();
        assert!(w.grad().is_none());
        let computed = &w + &w;
        computed.set_grad(Some(Tensor::from_vec(vec![5.0, 6.0], &[2])));
        assert_eq!(computed.grad().unwrap().to_vec(), vec![5.0, 6.0]);
    }
}
