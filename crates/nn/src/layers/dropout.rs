//! Dropout layer with its own seeded RNG.

use std::sync::atomic::{AtomicBool, Ordering};

use graft_autograd::{RngStream, Var};
use graft_tensor::Float;

use crate::functional::dropout;
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
    /// Dropout with probability `p` (clamped to [0, 1]) and an RNG seeded with `seed`.
    pub fn new(p: f64, seed: u64) -> Self {
        Dropout {
            p: p.clamp(0.0, 1.0),
            training: AtomicBool::new(true),
            rng: RngStream::new(seed),
        }
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
