//! [`DistributedSampler`]: each rank's share of an epoch, as PyTorch's sampler cuts it.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::comm::Communicator;
use crate::error::DistError;

/// The indices one rank trains on in an epoch.
///
/// Every rank draws the same seeded permutation of `0..len` (seed + epoch, as PyTorch
/// does, so [`set_epoch`](Self::set_epoch) gives each epoch its own order), pads it by
/// repeating its start until its length divides by the number of ranks (or, with
/// `drop_last`, cuts the tail), and takes every `replicas`-th index starting at its rank.
/// So the shards of an epoch are disjoint up to the padding, equally sized, and together
/// cover the data set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistributedSampler {
    len: usize,
    replicas: usize,
    rank: usize,
    shuffle: bool,
    seed: u64,
    drop_last: bool,
    epoch: usize,
}

impl DistributedSampler {
    /// The sampler of `rank` out of `replicas` over `len` examples: shuffled, seed 0,
    /// epoch 0, padded. Errors if `rank >= replicas` or `replicas == 0`.
    pub fn new(len: usize, replicas: usize, rank: usize) -> Result<Self, DistError> {
        if replicas == 0 || rank >= replicas {
            return Err(DistError::Config(format!(
                "DistributedSampler: rank {rank} is not in 0..{replicas}"
            )));
        }
        Ok(DistributedSampler {
            len,
            replicas,
            rank,
            shuffle: true,
            seed: 0,
            drop_last: false,
            epoch: 0,
        })
    }

    /// The sampler of this process's rank in `comm`.
    pub fn for_comm(len: usize, comm: &Communicator) -> Self {
        DistributedSampler {
            len,
            replicas: comm.size(),
            rank: comm.rank(),
            shuffle: true,
            seed: 0,
            drop_last: false,
            epoch: 0,
        }
    }

    /// Shuffles each epoch (default) or keeps the data set's order.
    pub fn shuffle(mut self, on: bool) -> Self {
        self.shuffle = on;
        self
    }

    /// Sets the seed every rank must share.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Cuts the tail instead of padding when `len` does not divide by the ranks.
    pub fn drop_last(mut self, on: bool) -> Self {
        self.drop_last = on;
        self
    }

    /// Selects the epoch whose permutation [`indices`](Self::indices) draws from.
    pub fn set_epoch(&mut self, epoch: usize) {
        self.epoch = epoch;
    }

    /// Examples per rank per epoch.
    pub fn num_samples(&self) -> usize {
        if self.drop_last && !self.len.is_multiple_of(self.replicas) {
            // PyTorch: ceil((len - replicas) / replicas), i.e. the whole rounds only.
            self.len
                .saturating_sub(self.replicas)
                .div_ceil(self.replicas)
        } else {
            self.len.div_ceil(self.replicas)
        }
    }

    /// Examples over all ranks per epoch (`num_samples() * replicas`).
    pub fn total_size(&self) -> usize {
        self.num_samples() * self.replicas
    }

    /// This rank's indices for the current epoch, in the order to train on them.
    pub fn indices(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.len).collect();
        if self.shuffle {
            let seed = self.seed.wrapping_add(self.epoch as u64);
            order.shuffle(&mut StdRng::seed_from_u64(seed));
        }
        let total = self.total_size();
        if order.len() < total && !order.is_empty() {
            // Pad by repeating from the start, as often as needed (tiny data sets).
            let mut k = 0;
            while order.len() < total {
                order.push(order[k]);
                k += 1;
            }
        }
        order.truncate(total);
        order
            .into_iter()
            .skip(self.rank)
            .step_by(self.replicas)
            .collect()
    }
}
