//! `graft::run`: where a training loop should run so that each op's parallel kernels do not
//! pay a cross-thread hand-off.

/// Runs `f` on a worker of the thread pool graft's kernels use, and returns its result.
///
/// A kernel that splits its work over the pool, called from a thread outside it (`main`),
/// must hand the work over and wait to be woken: about 10-25 µs per op here, which made an
/// MLP training step 0.99 ms instead of 0.61 ms. Called from inside the pool, it only
/// wakes the other workers. `fit`, `evaluate` and `predict` use this; wrap your own
/// training loop in it to get the same speed:
///
/// ```
/// use graft::prelude::*;
/// let w = Var::parameter(Tensor::from_vec(vec![1.0f32, 2.0], &[2]));
/// let loss = graft::run(|| {
///     let loss = (&w * &w).sum();
///     loss.backward().unwrap();
///     loss.item()
/// });
/// assert_eq!(loss, 5.0);
/// assert_eq!(w.grad().unwrap().to_vec(), vec![2.0, 4.0]);
/// ```
///
/// Already on a pool worker (inside `fit`, or a pool of your own), it calls `f` directly:
/// kernels then use the pool they are running on.
pub fn run<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    // `join` from outside the pool injects the pair as one job and blocks until a worker
    // has run it; `f` then runs on that worker.
    rayon::join(f, || ()).0
}
