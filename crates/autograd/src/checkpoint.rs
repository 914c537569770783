//! Gradient checkpointing: trade compute for memory by keeping only a function's inputs
//! and recomputing its inside during the backward pass.

use std::sync::Arc;

use graft_tensor::{Float, Tensor, TensorError};

use crate::backward::partial_grad;
use crate::graph::{capture_tracked_inputs, is_grad_enabled, no_grad, with_grad_mode, Op};
use crate::rng::{record_streams, replay_streams, Snapshot};
use crate::var::Var;

/// The function a checkpoint recomputes.
type CheckpointFn<T> = dyn Fn(&[Var<T>]) -> Var<T> + Send + Sync;

/// The graph node of a checkpointed call: its inputs are the call's explicit inputs followed
/// by the tracked Vars the function captured (parameters); it saves nothing else.
struct Checkpoint<T: Float> {
    f: Arc<CheckpointFn<T>>,
    explicit: usize,
    streams: Vec<Snapshot>,
}

impl<T: Float> Op<T> for Checkpoint<T> {
    fn name(&self) -> &'static str {
        "checkpoint"
    }

    /// Runs `f` untracked on the explicit inputs' values, with the recorded random
    /// streams replayed. ([`checkpoint`] builds the node around the value of its first run
    /// and does not call this.)
    fn forward(&self, inputs: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        let vars: Vec<Var<T>> = inputs[..self.explicit]
            .iter()
            .cloned()
            .map(Var::new)
            .collect();
        Ok(replay_streams(&self.streams, || no_grad(|| (self.f)(&vars))).value())
    }

    fn backward(&self, inputs: &[Var<T>], output: &Var<T>, grad: &Var<T>) -> Vec<Option<Var<T>>> {
        // Grad mode here is the outer pass's create_graph: keep it for the gradients, but
        // record the recomputation in any case, since it is what gets differentiated.
        let create_graph = is_grad_enabled();
        let recomputed = replay_streams(&self.streams, || {
            with_grad_mode(true, || (self.f)(&inputs[..self.explicit]))
        });
        if recomputed.shape() != output.shape() {
            panic!(
                "checkpoint: the recomputed output has shape {:?} but the forward pass gave {:?}; \
                 the checkpointed function must compute the same thing each time it runs",
                recomputed.shape(),
                output.shape()
            );
        }
        // A Var passed twice is one variable: its gradient goes to its first position only.
        let mut targets: Vec<&Var<T>> = Vec::with_capacity(inputs.len());
        let first: Vec<bool> = inputs
            .iter()
            .enumerate()
            .map(|(i, v)| !inputs[..i].iter().any(|u| u.key() == v.key()))
            .collect();
        targets.extend(inputs.iter());
        let grads = partial_grad(
            std::slice::from_ref(&recomputed),
            std::slice::from_ref(grad),
            &targets,
            create_graph,
        )
        .unwrap_or_else(|e| panic!("checkpoint: backward of the recomputation failed: {e}"));
        grads
            .into_iter()
            .zip(first)
            .map(|(g, first)| if first { g } else { None })
            .collect()
    }
}

/// Calls `f(inputs)` without keeping its intermediate values: the backward pass runs `f`
/// again, recording, and differentiates that (PyTorch's non-reentrant
/// `torch.utils.checkpoint`, `jax.checkpoint`). Memory for `f`'s activations is spent only
/// while its gradient is computed; the price is one more forward pass of `f`.
///
/// - Gradients reach `inputs` and every tracked Var `f` captures (a layer's parameters):
///   those are found while `f` first runs, untracked.
/// - Random draws from an [`RngStream`](crate::RngStream) (what nn's `Dropout` uses) are
///   replayed: the recomputation sees the same dropout mask, and the stream ends where the
///   forward pass left it.
/// - With `create_graph` the recomputation is recorded into the outer graph, so
///   checkpointed code has second derivatives too.
/// - Outside grad mode (or with nothing tracked) it is a plain call of `f`.
///
/// `f` must compute the same thing when run again: state it changes (BatchNorm's running
/// statistics) is changed twice, and random numbers from other sources differ. A
/// recomputation whose output shape differs from the first run's panics in the backward
/// pass, naming both shapes. Only tracked Vars that `f` reads through ops are found; one it
/// reads inside a region where it switches grad mode back on itself is not.
///
/// ```
/// use graft_autograd::{checkpoint, Var};
/// use graft_tensor::Tensor;
/// let w = Var::parameter(Tensor::from_vec(vec![0.5f64, -1.0], &[2]));
/// let x = Var::new(Tensor::from_vec(vec![1.0, 2.0], &[2]));
/// let w2 = w.clone();
/// let y = checkpoint(move |v: &[Var<f64>]| (&v[0] * &w2).tanh().sum(), &[x]);
/// y.backward().unwrap();
/// let expect = |x: f64, w: f64| x * (1.0 - (x * w).tanh().powi(2));
/// assert!((w.grad().unwrap().to_vec()[1] - expect(2.0, -1.0)).abs() < 1e-12);
/// ```
pub fn checkpoint<T: Float>(
    f: impl Fn(&[Var<T>]) -> Var<T> + Send + Sync + 'static,
    inputs: &[Var<T>],
) -> Var<T> {
    if !is_grad_enabled() {
        return f(inputs);
    }
    let ((out, streams), captured) =
        capture_tracked_inputs::<T, _>(|| record_streams(|| no_grad(|| f(inputs))));
    let mut node_inputs: Vec<&Var<T>> = inputs.iter().collect();
    // f may hand back a tracked Var it was given or captured, untouched by any op.
    let returned = out.needs_grad().then(|| out.clone());
    for v in captured.iter().chain(returned.as_ref()) {
        if !node_inputs.iter().any(|u| u.key() == v.key()) {
            node_inputs.push(v);
        }
    }
    let op = Checkpoint {
        f: Arc::new(f),
        explicit: inputs.len(),
        streams,
    };
    Var::record(out.value(), op, &node_inputs)
}
