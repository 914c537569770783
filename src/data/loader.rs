//! Batches in order or shuffled, reproducibly: the same seed and epoch give the same
//! permutation, and every epoch gets a new one.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::dataset_trait::{Batch, Dataset};
use super::error::DataError;

/// A seeded random permutation of `0..n`.
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    order
}

/// The order of the examples in epoch `epoch`: `0..n`, or when shuffling a permutation
/// of its own for each epoch, derived from `seed`. Shared by both loaders, so they yield
/// the same batches for the same seed.
pub fn epoch_order(n: usize, shuffle: bool, seed: u64, epoch: usize) -> Vec<usize> {
    if shuffle {
        // Mix the epoch into the seed so each epoch has its own permutation.
        permutation(
            n,
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(epoch as u64),
        )
    } else {
        (0..n).collect()
    }
}

/// Draws batches from a dataset: batch size, optional seeded shuffling, drop_last.
pub struct DataLoader<'a, D: Dataset + ?Sized> {
    dataset: &'a D,
    /// Examples per batch.
    pub batch_size: usize,
    /// Shuffle each epoch (a new permutation per epoch, derived from `seed`).
    pub shuffle: bool,
    /// Seed of the shuffling.
    pub seed: u64,
    /// Drop a last batch smaller than `batch_size`.
    pub drop_last: bool,
}

impl<'a, D: Dataset + ?Sized> DataLoader<'a, D> {
    /// Batches of `batch_size` (at least 1) in order, keeping a short last batch.
    pub fn new(dataset: &'a D, batch_size: usize) -> Self {
        DataLoader {
            dataset,
            batch_size: batch_size.max(1),
            shuffle: false,
            seed: 0,
            drop_last: false,
        }
    }

    /// Shuffles with `seed`.
    pub fn shuffled(mut self, seed: u64) -> Self {
        self.shuffle = true;
        self.seed = seed;
        self
    }

    /// Drops a short last batch.
    pub fn drop_last(mut self, drop: bool) -> Self {
        self.drop_last = drop;
        self
    }

    /// Number of batches per epoch.
    pub fn num_batches(&self) -> usize {
        let n = self.dataset.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The batches of epoch `epoch` (0-based); panics if the dataset fails to assemble one
    /// (see [`DataLoader::try_epoch`]).
    pub fn epoch(&self, epoch: usize) -> impl Iterator<Item = Batch> + '_ {
        self.try_epoch(epoch)
            .map(|b| b.unwrap_or_else(|e| panic!("{e}")))
    }

    /// The batches of epoch `epoch` (0-based), each as the dataset's `try_batch` returns it.
    pub fn try_epoch(&self, epoch: usize) -> impl Iterator<Item = Result<Batch, DataError>> + '_ {
        let n = self.dataset.len();
        let order = epoch_order(n, self.shuffle, self.seed, epoch);
        let batches = self.num_batches();
        let size = self.batch_size;
        (0..batches).map(move |b| {
            let end = ((b + 1) * size).min(n);
            self.dataset.try_batch(&order[b * size..end])
        })
    }
}
