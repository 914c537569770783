//! `graft::run`: where a training loop should run so that each op's parallel kernels do not
//! pay a cross-thread hand-off.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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
/// While `f` runs, the pool's other workers wait actively: each runs pool work as soon as it
/// is posted and otherwise yields its core to the OS, so they show as busy CPUs. Set
/// `GRAFT_WAIT_POLICY=passive` to let them sleep instead (slower, for a shared machine).
///
/// Already on a pool worker (inside `fit`, or a pool of your own), it calls `f` directly:
/// kernels then use the pool they are running on.
pub fn run<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    // `join` from outside the pool injects the pair as one job and blocks until a worker
    // has run it; `f` then runs on that worker, with the others kept awake.
    rayon::join(
        || {
            let _awake = KeepAwake::start();
            f()
        },
        || (),
    )
    .0
}

/// Keeps the pool's other workers looking for work while a training loop runs, instead of
/// letting them fall asleep between two ops (OpenMP's active wait, which PyTorch's threads
/// use too): a sleeping worker took 17-30 µs to pick up the next op's posted half on the
/// 2-core VM, several times per training step. Each other worker runs pending pool work
/// as it appears and, when there is none, yields its core to the OS, so a machine with
/// other runnable threads still runs them. Stops when dropped. `GRAFT_WAIT_POLICY=passive`
/// turns it off (OpenMP's `OMP_WAIT_POLICY`): idle workers then sleep, as rayon's do.
struct KeepAwake(Option<Arc<AtomicBool>>);

impl KeepAwake {
    fn start() -> KeepAwake {
        // (`run` starts it on a pool worker; off the pool there is nothing to keep awake.)
        let Some(me) = rayon::current_thread_index() else {
            return KeepAwake(None);
        };
        let passive =
            std::env::var("GRAFT_WAIT_POLICY").is_ok_and(|p| p.eq_ignore_ascii_case("passive"));
        if rayon::current_num_threads() < 2 || passive {
            return KeepAwake(None);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        // One job on each worker (a broadcast job is never stolen by another worker); the
        // loop's own worker returns at once when it gets to it.
        rayon::spawn_broadcast(move |ctx| {
            if ctx.index() == me {
                return;
            }
            while !flag.load(Ordering::Relaxed) {
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    std::thread::yield_now();
                }
            }
        });
        KeepAwake(Some(stop))
    }
}

impl Drop for KeepAwake {
    fn drop(&mut self) {
        if let Some(stop) = &self.0 {
            stop.store(true, Ordering::Relaxed);
        }
    }
}
