//! Random streams that gradient checkpointing can replay: a layer that draws random numbers
//! in its forward pass (dropout) draws them from an [`RngStream`], and
//! [`checkpoint`](crate::checkpoint()) snapshots every stream its function touches, so the
//! recomputation in the backward pass sees the same numbers (the same dropout mask).

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::SeedableRng;

/// A seeded random number generator shared by its clones, whose state checkpointing can
/// capture and restore. Draw from it with [`RngStream::with`].
///
/// ```
/// use graft_autograd::RngStream;
/// use rand::Rng;
/// let stream = RngStream::new(7);
/// let saved = stream.state();
/// let a: f64 = stream.with(|r| r.gen());
/// stream.set_state(saved);
/// let b: f64 = stream.with(|r| r.gen());
/// assert_eq!(a, b);
/// ```
#[derive(Clone, Debug)]
pub struct RngStream(Arc<Mutex<StdRng>>);

/// A stream and its state when a checkpointed function first drew from it.
pub(crate) struct Snapshot {
    stream: RngStream,
    state: StdRng,
}

thread_local! {
    /// Open recording frames (one per checkpointed forward in progress on this thread).
    static FRAMES: RefCell<Vec<Vec<Snapshot>>> = const { RefCell::new(Vec::new()) };
}

impl RngStream {
    /// A stream seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        RngStream(Arc::new(Mutex::new(StdRng::seed_from_u64(seed))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StdRng> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` with the generator. Inside a checkpointed function, the state before the
    /// first draw is recorded so that the backward pass can replay the same numbers.
    pub fn with<R>(&self, f: impl FnOnce(&mut StdRng) -> R) -> R {
        let mut rng = self.lock();
        FRAMES.with(|frames| {
            for frame in frames.borrow_mut().iter_mut() {
                if !frame.iter().any(|s| Arc::ptr_eq(&s.stream.0, &self.0)) {
                    frame.push(Snapshot {
                        stream: self.clone(),
                        state: rng.clone(),
                    });
                }
            }
        });
        f(&mut rng)
    }

    /// A copy of the generator's current state.
    pub fn state(&self) -> StdRng {
        self.lock().clone()
    }

    /// Replaces the generator's state (with one from [`RngStream::state`]).
    pub fn set_state(&self, state: StdRng) {
        *self.lock() = state;
    }
}

/// Runs `f` recording the state of every stream it draws from before its first draw.
pub(crate) fn record_streams<R>(f: impl FnOnce() -> R) -> (R, Vec<Snapshot>) {
    struct Close;
    impl Drop for Close {
        fn drop(&mut self) {
            FRAMES.with(|frames| frames.borrow_mut().pop());
        }
    }
    FRAMES.with(|frames| frames.borrow_mut().push(Vec::new()));
    let close = Close;
    let r = f();
    let snapshots = FRAMES.with(|frames| frames.borrow_mut().last_mut().map(std::mem::take));
    drop(close);
    (r, snapshots.unwrap_or_default())
}

/// Runs `f` with every snapshotted stream rewound to its recorded state, then puts each
/// stream back where it was, so replaying costs the streams nothing (PyTorch's `fork_rng`).
pub(crate) fn replay_streams<R>(snapshots: &[Snapshot], f: impl FnOnce() -> R) -> R {
    struct Restore<'a>(Vec<(&'a RngStream, StdRng)>);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            for (stream, state) in self.0.drain(..) {
                stream.set_state(state);
            }
        }
    }
    let _restore = Restore(
        snapshots
            .iter()
            .map(|s| {
                let now = std::mem::replace(&mut *s.stream.lock(), s.state.clone());
                (&s.stream, now)
            })
            .collect(),
    );
    f()
}
