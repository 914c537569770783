//! Dropout layer with its own seeded RNG.

use std::sync::atomic::{AtomicBool, Ordering};

use graft_autograd::{RngStream, Var};
use graft_tensor::{or_panic, Float};

use crate::functional::{check_dropout_p, dropout};
use crate::module::Module;

/// Zeroes elements with probability `p` in training mode (scaling the rest by 1/(1-p));
/// the identity in evaluation mode. Its masks come from its own RNG, seeded at
/// construction, so runs are reproducible. The RNG is an [`RngStream`], so a checkpointed
/// forward pass (`graft_autograd::checkpoint`) replays the same mask when it recomputes.
pub struct Dropout {
    p: f64,
    training: AtomicBool,
    rng: RngStream,
}

impl Dropout {
    /// Dropout with probability `p` and an RNG seeded with `seed`; panics with
    /// [`try_new`](Self::try_new)'s message when `p` is outside [0, 1] or NaN.
    #[track_caller]
    pub fn new(p: f64, seed: u64) -> Self {
        or_panic(Self::try_new(p, seed))
    }

    /// Dropout with probability `p` and an RNG seeded with `seed`; a `p` outside [0, 1] or
    /// NaN is an error, as in PyTorch (not clamped: a typo should not silently train).
    pub fn try_new(p: f64, seed: u64) -> graft_tensor::Result<Self> {
        check_dropout_p("Dropout", p)?;
        Ok(Dropout {
            p,
            training: AtomicBool::new(true),
            rng: RngStream::new(seed),
        })
    }

    /// The drop probability.
    pub fn p(&self) -> f64 {
        self.p
    }
}

impl<T: Float> Module<T> for Dropout {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        let training = self.training.load(Ordering::Relaxed);
        self.rng.with(|rng| dropout(x, self.p, training, rng))
    }

    fn own_training(&self) -> Option<bool> {
        Some(self.training.load(Ordering::Relaxed))
    }

    fn set_own_training(&self, training: bool) {
        self.training.store(training, Ordering::Relaxed);
    }
}
