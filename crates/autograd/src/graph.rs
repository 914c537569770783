//! The recorded graph: nodes, the `Op` trait every differentiable op implements, and the
//! switches that decide whether anything is recorded (grad mode, anomaly mode).

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};

use graft_tensor::parallel::{task_mode, ModeGuard};
use graft_tensor::{ErrorKind, Float, Tensor, TensorError};
use smallvec::SmallVec;

use crate::var::Var;

/// A differentiable operation: a forward on tensors and a backward written in `Var` ops,
/// so that the backward pass can itself be recorded (grad-of-grad).
///
/// Built-in primitives and user-defined ops implement the same trait; see
/// [`Var::apply`](crate::Var::apply) for a user-defined example.
pub trait Op<T: Float>: Send + Sync + 'static {
    /// The op's name, used in error messages and anomaly reports.
    fn name(&self) -> &'static str;

    /// Computes the output from the input values.
    fn forward(&self, inputs: &[Tensor<T>]) -> Result<Tensor<T>, TensorError>;

    /// Given the inputs, the output and the gradient of the loss with respect to the output,
    /// returns the gradient for each input (`None` where an input gets none).
    ///
    /// Gradients may have the broadcast shape of the output: the engine sums them back to
    /// each input's shape. Write them in `Var` ops so they can be differentiated again.
    fn backward(&self, inputs: &[Var<T>], output: &Var<T>, grad: &Var<T>) -> Vec<Option<Var<T>>>;
}

/// What made a computed `Var`: the op and its inputs, with their versions at record time.
pub(crate) struct Node<T: Float> {
    pub(crate) op: Box<dyn Op<T>>,
    pub(crate) inputs: SmallVec<[Var<T>; 2]>,
    pub(crate) versions: SmallVec<[u64; 2]>,
}

static ANOMALY: AtomicBool = AtomicBool::new(false);

/// The live-node count, kept per thread so that making and freeing a node costs no atomic
/// read-modify-write (two of them per op were a measurable part of a small op's cost). Each
/// thread adds to its own counter with a plain load and store (nobody else writes it);
/// [`live_nodes`] sums every thread's counter. A counter may go negative: a node made on one
/// thread and freed on another counts +1 on the first and -1 on the second.
mod node_count {
    use std::sync::atomic::{AtomicIsize, Ordering};
    use std::sync::{Arc, Mutex};

    /// Every thread's counter; a thread's entry outlives the thread (its count stays valid).
    static COUNTERS: Mutex<Vec<Arc<AtomicIsize>>> = Mutex::new(Vec::new());
    /// The counts of exited threads, folded in when their entries are dropped, and the
    /// changes made while a thread's own counter was already torn down at its exit.
    static RETIRED: AtomicIsize = AtomicIsize::new(0);

    thread_local! {
        static MINE: Arc<AtomicIsize> = {
            let mine = Arc::new(AtomicIsize::new(0));
            let mut all = COUNTERS.lock().unwrap_or_else(|p| p.into_inner());
            // Fold the entries of exited threads (only the list still holds them) so the
            // list stays as long as the number of live threads.
            all.retain(|c| {
                let alive = Arc::strong_count(c) > 1;
                if !alive {
                    RETIRED.fetch_add(c.load(Ordering::Relaxed), Ordering::Relaxed);
                }
                alive
            });
            all.push(Arc::clone(&mine));
            mine
        };
    }

    /// Adds `delta` to this thread's count.
    pub(super) fn add(delta: isize) {
        let done = MINE.try_with(|c| c.store(c.load(Ordering::Relaxed) + delta, Ordering::Relaxed));
        if done.is_err() {
            RETIRED.fetch_add(delta, Ordering::Relaxed);
        }
    }

    /// The sum over all threads.
    pub(super) fn total() -> isize {
        let all = COUNTERS.lock().unwrap_or_else(|p| p.into_inner());
        let live: isize = all.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        live + RETIRED.load(Ordering::Relaxed)
    }
}

// The per-thread modes are bits of graft_tensor's task mode word, not thread-locals of
// their own: every parallel section in graft resets that word while its thread may run
// stolen jobs, so a task stolen by a worker waiting inside `no_grad` or `backward` starts
// with recording on, as on a fresh worker (see graft_tensor::parallel). 0 is the default.

/// Set inside [`no_grad`] (and an untracked backward): recording is off.
const GRAD_OFF: u32 = 1 << 0;
/// Set while gradient rules run: anomaly mode then checks each rule's result, not the
/// Var ops inside it (which would panic mid-rule instead of returning an error).
const IN_BACKWARD: u32 = 1 << 1;

/// Runs `f` with `bit` set or cleared in this thread's mode word, restoring the word after,
/// also when `f` panics.
fn with_mode_bit<R>(bit: u32, on: bool, f: impl FnOnce() -> R) -> R {
    let current = task_mode();
    let wanted = if on { current | bit } else { current & !bit };
    let _restore = ModeGuard::set(wanted);
    f()
}

/// Tracked Vars (keyed by address, type-erased) noted while a capture frame is open.
type CaptureFrame = Vec<(usize, Box<dyn Any>)>;

thread_local! {
    /// Open capture frames (innermost last): each collects the tracked Vars that untracked
    /// ops read while it is open, type-erased because thread-locals cannot be generic.
    static CAPTURES: RefCell<Vec<CaptureFrame>> = const { RefCell::new(Vec::new()) };
}

/// Notes the tracked Vars among `inputs` of an op that ran untracked, in the innermost
/// open capture frame (nothing when none is open: one thread-local read).
pub(crate) fn note_tracked_inputs<T: Float>(inputs: &[&Var<T>]) {
    CAPTURES.with(|c| {
        let mut frames = c.borrow_mut();
        let Some(frame) = frames.last_mut() else {
            return;
        };
        for v in inputs.iter().filter(|v| v.needs_grad()) {
            if !frame.iter().any(|(k, _)| *k == v.key()) {
                frame.push((v.key(), Box::new((*v).clone())));
            }
        }
    });
}

/// Runs `f` with a capture frame open and returns what it returned plus the tracked Vars
/// that untracked ops inside it read, in first-use order.
pub(crate) fn capture_tracked_inputs<T: Float, R>(f: impl FnOnce() -> R) -> (R, Vec<Var<T>>) {
    struct Close;
    impl Drop for Close {
        fn drop(&mut self) {
            CAPTURES.with(|c| c.borrow_mut().pop());
        }
    }
    CAPTURES.with(|c| c.borrow_mut().push(Vec::new()));
    let close = Close;
    let r = f();
    let frame = CAPTURES.with(|c| c.borrow_mut().last_mut().map(std::mem::take));
    drop(close);
    let vars = frame
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(_, v)| v.downcast::<Var<T>>().ok().map(|v| *v))
        .collect();
    (r, vars)
}

/// Runs gradient rules with the in-backward flag set on this thread (cleared again after,
/// also if a rule panics).
pub(crate) fn in_backward_pass<R>(f: impl FnOnce() -> R) -> R {
    with_mode_bit(IN_BACKWARD, true, f)
}

/// Whether forward-pass anomaly checks apply right now.
pub(crate) fn check_forward_anomalies() -> bool {
    is_anomaly_mode() && task_mode() & IN_BACKWARD == 0
}

impl<T: Float> Node<T> {
    pub(crate) fn new(op: Box<dyn Op<T>>, inputs: &[&Var<T>]) -> Self {
        node_count::add(1);
        // One pass with plain pushes: `collect` into a SmallVec costs more than the copies.
        let mut held = SmallVec::with_capacity(inputs.len());
        let mut versions = SmallVec::with_capacity(inputs.len());
        for &v in inputs {
            held.push(v.clone());
            versions.push(v.version());
        }
        Node {
            op,
            inputs: held,
            versions,
        }
    }
}

impl<T: Float> Drop for Node<T> {
    /// Frees the graph behind this node without recursion: a chain of a million ops would
    /// otherwise overflow the stack as each `Var` dropped the next.
    fn drop(&mut self) {
        node_count::add(-1);
        // Only inputs this node held last lead further; most nodes free none, and then
        // nothing is allocated here.
        let mut pending: Vec<Var<T>> = Vec::new();
        for var in self.inputs.drain(..) {
            if let Some(mut node) = var.into_node_if_last() {
                pending.extend(node.inputs.drain(..));
            }
        }
        while let Some(var) = pending.pop() {
            if let Some(node) = var.into_node_if_last() {
                let mut node = node;
                pending.extend(node.inputs.drain(..));
            }
        }
    }
}

/// Number of graph nodes alive in the process (to check that graphs are freed).
pub fn live_nodes() -> usize {
    // Never negative once every thread's changes are visible; clamp a read racing them.
    usize::try_from(node_count::total()).unwrap_or(0)
}

/// True unless inside [`no_grad`] on this thread.
pub fn is_grad_enabled() -> bool {
    task_mode() & GRAD_OFF == 0
}

/// Runs `f` with recording switched on or off on this thread, restoring the mode after
/// (also when `f` panics).
pub(crate) fn with_grad_mode<R>(enabled: bool, f: impl FnOnce() -> R) -> R {
    with_mode_bit(GRAD_OFF, !enabled, f)
}

/// Runs `f` without recording any graph on this thread: results are constants.
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    with_grad_mode(false, f)
}

/// Turns anomaly mode on or off for the whole process. When on, the first op whose forward
/// output or backward gradient holds a NaN or infinity is reported as an error naming the
/// op, its input shapes, the pass and the Var's name. Off by default; costs one atomic load
/// per op when off.
pub fn set_anomaly_mode(on: bool) {
    ANOMALY.store(on, Ordering::Relaxed);
}

/// Whether anomaly mode is on.
pub fn is_anomaly_mode() -> bool {
    ANOMALY.load(Ordering::Relaxed)
}

/// The anomaly-mode check: an error if `t` holds a NaN or infinity.
pub(crate) fn check_finite<T: Float>(
    t: &Tensor<T>,
    op: &str,
    pass: &str,
    input_shapes: &[Vec<usize>],
    label: Option<&str>,
) -> Result<(), TensorError> {
    if !is_anomaly_mode() {
        return Ok(());
    }
    match t.to_vec().iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => {
            let shapes = input_shapes
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            let named = label.map(|l| format!(" (Var '{l}')")).unwrap_or_default();
            Err(TensorError::of_kind(
                ErrorKind::Anomaly,
                op,
                format!(
                    "anomaly: {pass} pass produced {} at element {i} of shape {:?}{named}; inputs {shapes}",
                    t.to_vec()[i],
                    t.shape()
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_rule_or_no_grad_body_leaves_no_mode_switched() {
        let rule = std::panic::catch_unwind(|| in_backward_pass(|| panic!("rule failed")));
        assert!(rule.is_err());
        assert_eq!(task_mode() & IN_BACKWARD, 0, "in-backward flag left set");
        let body = std::panic::catch_unwind(|| no_grad(|| panic!("body failed")));
        assert!(body.is_err());
        assert!(is_grad_enabled());
    }
}
