//! A batch loader that assembles batches on background threads (PyTorch's `DataLoader`
//! with `num_workers` and `prefetch_factor`): reading, decoding and augmentation overlap
//! with training.
//!
//! Reproducible by construction: the order of an epoch is [`epoch_order`]'s (the same as
//! [`DataLoader`](super::DataLoader)'s), batch `b` is always made of the same examples,
//! and its transforms draw from an RNG seeded by `(seed, epoch, b)`. Worker `w` builds
//! batches `w, w + W, w + 2W, ...` in turn and the consumer takes them round-robin, so the
//! batches arrive in order and are the same for any number of workers, including none.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::dataset_trait::Batch;
use super::loader::epoch_order;
use super::sample::{read_batch, SampleSource};
use super::transform::Transform;
use super::DataError;

/// Loads batches from a [`SampleSource`] with optional per-example transforms, on
/// `num_workers` background threads (none: on the caller's thread).
pub struct BatchLoader<S: SampleSource + ?Sized + 'static> {
    source: Arc<S>,
    transform: Option<Arc<dyn Transform>>,
    /// Examples per batch.
    pub batch_size: usize,
    /// Shuffle each epoch (a new permutation per epoch, derived from `seed`).
    pub shuffle: bool,
    /// Seed of the shuffling and of the transforms.
    pub seed: u64,
    /// Drop a last batch smaller than `batch_size`.
    pub drop_last: bool,
    /// Background threads building batches; 0 builds them on the caller's thread.
    pub num_workers: usize,
    /// Batches each worker may have ready ahead of the consumer.
    pub prefetch: usize,
}

impl<S: SampleSource + ?Sized + 'static> BatchLoader<S> {
    /// Batches of `batch_size` (at least 1) in order, on the caller's thread.
    pub fn new(source: Arc<S>, batch_size: usize) -> Self {
        BatchLoader {
            source,
            transform: None,
            batch_size: batch_size.max(1),
            shuffle: false,
            seed: 0,
            drop_last: false,
            num_workers: 0,
            prefetch: 2,
        }
    }

    /// Shuffles with `seed` (which also seeds the transforms).
    pub fn shuffled(mut self, seed: u64) -> Self {
        self.shuffle = true;
        self.seed = seed;
        self
    }

    /// Seeds the transforms without shuffling.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Drops a short last batch.
    pub fn drop_last(mut self, drop: bool) -> Self {
        self.drop_last = drop;
        self
    }

    /// Builds batches on `n` background threads, each up to `prefetch` batches ahead.
    pub fn workers(mut self, n: usize, prefetch: usize) -> Self {
        self.num_workers = n;
        self.prefetch = prefetch.max(1);
        self
    }

    /// Applies `t` to each example's input as it is read.
    pub fn transform(mut self, t: impl Transform + 'static) -> Self {
        self.transform = Some(Arc::new(t));
        self
    }

    /// Applies a shared transform.
    pub fn transform_arc(mut self, t: Arc<dyn Transform>) -> Self {
        self.transform = Some(t);
        self
    }

    /// The source batches are read from.
    pub fn source(&self) -> &Arc<S> {
        &self.source
    }

    /// Number of batches per epoch.
    pub fn num_batches(&self) -> usize {
        let n = self.source.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The batches of epoch `epoch` (0-based), in order. A read error ends the epoch
    /// after it is yielded.
    pub fn epoch(&self, epoch: usize) -> Epoch {
        let plan = Arc::new(Plan {
            order: epoch_order(self.source.len(), self.shuffle, self.seed, epoch),
            batch_size: self.batch_size,
            batches: self.num_batches(),
            seed: self.seed,
            epoch,
        });
        let mut workers = Vec::new();
        for w in 0..self.num_workers.min(plan.batches) {
            let (tx, rx) = sync_channel(self.prefetch);
            let (source, transform, plan) = (
                Arc::clone(&self.source),
                self.transform.clone(),
                Arc::clone(&plan),
            );
            let stride = self.num_workers.min(plan.batches);
            let handle = std::thread::spawn(move || {
                for b in (w..plan.batches).step_by(stride) {
                    let batch = plan.build(&*source, transform.as_deref(), b);
                    let failed = batch.is_err();
                    // The consumer hung up (dropped the epoch early): stop quietly.
                    if tx.send(batch).is_err() || failed {
                        break;
                    }
                }
            });
            workers.push((rx, handle));
        }
        let inline: Option<InlineBuild> = if workers.is_empty() {
            let (source, transform, plan) = (
                Arc::clone(&self.source),
                self.transform.clone(),
                Arc::clone(&plan),
            );
            Some(Box::new(move |b| {
                plan.build(&*source, transform.as_deref(), b)
            }))
        } else {
            None
        };
        Epoch {
            next: 0,
            batches: plan.batches,
            workers,
            inline,
            done: false,
        }
    }
}

/// A batch as a worker or the inline builder hands it over.
type BatchResult = Result<Batch, DataError>;

/// Builds batch `b` on the caller's thread (the loader without workers).
type InlineBuild = Box<dyn Fn(usize) -> BatchResult + Send>;

/// What every worker needs to build any batch of one epoch.
struct Plan {
    order: Vec<usize>,
    batch_size: usize,
    batches: usize,
    seed: u64,
    epoch: usize,
}

impl Plan {
    /// Batch `b`: its examples, read and transformed with the batch's own RNG.
    fn build<S: SampleSource + ?Sized>(
        &self,
        source: &S,
        transform: Option<&dyn Transform>,
        b: usize,
    ) -> Result<Batch, DataError> {
        let end = ((b + 1) * self.batch_size).min(self.order.len());
        let indices = &self.order[b * self.batch_size..end];
        let shape = source.sample_shape().to_vec();
        let mut rng = StdRng::seed_from_u64(batch_seed(self.seed, self.epoch, b));
        read_batch(source, indices, |x| {
            if let Some(t) = transform {
                t.apply(x, &shape, &mut rng);
            }
        })
    }
}

/// The seed of batch `b`'s transforms: the three numbers mixed (SplitMix64's finalizer)
/// so that nearby epochs and batches get unrelated streams.
fn batch_seed(seed: u64, epoch: usize, b: usize) -> u64 {
    let mut z = seed
        ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (b as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The batches of one epoch, in order; dropping it early stops the workers.
pub struct Epoch {
    next: usize,
    batches: usize,
    workers: Vec<(Receiver<BatchResult>, JoinHandle<()>)>,
    inline: Option<InlineBuild>,
    done: bool,
}

impl Iterator for Epoch {
    type Item = Result<Batch, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.next >= self.batches {
            return None;
        }
        let b = self.next;
        self.next += 1;
        let item = match &self.inline {
            Some(build) => build(b),
            None => {
                let (rx, _) = &self.workers[b % self.workers.len()];
                rx.recv().unwrap_or_else(|_| {
                    Err(DataError::invalid(
                        "BatchLoader",
                        format!("the worker building batch {b} stopped (it panicked)"),
                    ))
                })
            }
        };
        self.done = item.is_err();
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = if self.done {
            0
        } else {
            self.batches - self.next
        };
        (0, Some(left))
    }
}

impl Drop for Epoch {
    fn drop(&mut self) {
        // Hang up first, so a worker blocked on a full channel wakes with an error and
        // exits; then wait for each.
        let handles: Vec<JoinHandle<()>> =
            self.workers.drain(..).map(|(_, handle)| handle).collect();
        for h in handles {
            let _ = h.join();
        }
    }
}
