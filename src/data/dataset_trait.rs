//! What a dataset is to `fit`, `evaluate` and `predict`: a number of examples, and a way to
//! assemble any of them into a batch. In-memory tensors, token sequences and lazily read
//! files all fit behind it.

use std::sync::Arc;

use graft_nn::Input;
use graft_tensor::Tensor;

use super::dataset::Targets;
use super::error::DataError;
use super::sample::SampleSource;

/// A batch: inputs (float features, token indices, or several tensors), first dim the
/// batch, and their targets.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Inputs, first dim the batch.
    pub inputs: Input<f32>,
    /// Targets for the same examples.
    pub targets: Targets,
}

impl Batch {
    /// Number of examples in the batch.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// True when the batch holds no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The float inputs (panics with a clear message for other input kinds): the common
    /// case, for code that knows its data set holds float features.
    #[track_caller]
    pub fn float_inputs(&self) -> Tensor<f32> {
        match self.inputs.as_float() {
            Ok(v) => v.value(),
            Err(e) => panic!("{e}"),
        }
    }
}

/// A collection of examples that can be gathered into batches: implement `len` and
/// `try_batch` for your own data (sequences, files read on demand) and `fit` takes it.
///
/// ```
/// use graft::data::{Batch, DataError, Dataset, Targets};
/// use graft::nn::Input;
/// use graft::tensor::Tensor;
///
/// /// The n-th example is the token n % 10; its target the next token.
/// struct Counting(usize);
/// impl Dataset for Counting {
///     fn len(&self) -> usize { self.0 }
///     fn try_batch(&self, indices: &[usize]) -> Result<Batch, DataError> {
///         let x: Vec<i64> = indices.iter().map(|&i| (i % 10) as i64).collect();
///         let y: Vec<i64> = x.iter().map(|t| (t + 1) % 10).collect();
///         Ok(Batch {
///             inputs: Input::Index(Tensor::from_vec(x, &[indices.len()])),
///             targets: Targets::Classes(Tensor::from_vec(y, &[indices.len()])),
///         })
///     }
/// }
/// assert_eq!(Counting(25).batch(&[3, 12]).len(), 2);
/// ```
pub trait Dataset: Send + Sync {
    /// Number of examples.
    fn len(&self) -> usize;

    /// True when empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The examples at `indices` (each below `len()`), as one batch, in that order.
    fn try_batch(&self, indices: &[usize]) -> Result<Batch, DataError>;

    /// [`Dataset::try_batch`], panicking with its error's message.
    #[track_caller]
    fn batch(&self, indices: &[usize]) -> Batch {
        self.try_batch(indices).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Example `i` as a batch of one.
    fn get(&self, i: usize) -> Batch {
        self.batch(&[i])
    }

    /// The examples as a [`SampleSource`] of float inputs that background threads can
    /// read, where the dataset can give one (`TensorDataset` does, sharing its storage):
    /// what `fit`'s augmentation runs its prefetching loader on. `None` by default.
    fn sample_source(&self) -> Option<Arc<dyn SampleSource>> {
        None
    }
}

/// Examples `start..start + len` of another dataset, without copying: what `fit`'s
/// `validation_split` makes of any dataset.
pub struct Subset<'a, D: Dataset + ?Sized> {
    dataset: &'a D,
    start: usize,
    len: usize,
}

impl<'a, D: Dataset + ?Sized> Subset<'a, D> {
    /// The examples `start..start + len` of `dataset` (clamped to its length).
    pub fn new(dataset: &'a D, start: usize, len: usize) -> Self {
        let start = start.min(dataset.len());
        let len = len.min(dataset.len() - start);
        Subset {
            dataset,
            start,
            len,
        }
    }
}

impl<D: Dataset + ?Sized> Dataset for Subset<'_, D> {
    fn len(&self) -> usize {
        self.len
    }

    fn try_batch(&self, indices: &[usize]) -> Result<Batch, DataError> {
        check_indices(indices, self.len)?;
        let shifted: Vec<usize> = indices.iter().map(|&i| i + self.start).collect();
        self.dataset.try_batch(&shifted)
    }
}

/// Errors on the first index that is not below `len`.
pub fn check_indices(indices: &[usize], len: usize) -> Result<(), DataError> {
    match indices.iter().find(|&&i| i >= len) {
        Some(&index) => Err(DataError::IndexOutOfRange { index, len }),
        None => Ok(()),
    }
}
