//! Datasets read one example at a time: the small trait the lazy datasets (memory-mapped
//! `.npy`, image folders) implement and the prefetching loader consumes.
//!
//! Unlike [`Dataset`](super::Dataset), which gathers a whole batch at once, a
//! [`SampleSource`] writes one example into a buffer the caller owns, so a loader can
//! assemble a batch without an intermediate copy and apply per-example transforms, and
//! reading may fail (a corrupt image) with an error rather than a panic.

use std::sync::Arc;

use graft_autograd::Var;
use graft_nn::Input;
use graft_tensor::Tensor;

use super::dataset::{Targets, TensorDataset};
use super::dataset_trait::Batch;
use super::DataError;

/// The target of one example.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A class index.
    Class(i64),
    /// Real values (shape [`SampleSource::target_shape`]).
    Values(Vec<f32>),
}

/// A dataset whose examples are read one at a time into caller-owned buffers.
pub trait SampleSource: Send + Sync {
    /// Number of examples.
    fn len(&self) -> usize;

    /// True when empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of one input (e.g. `[C, H, W]`); a batch's inputs are `[B, ..shape]`.
    fn sample_shape(&self) -> &[usize];

    /// The shape of one real-valued target (`[]` for a scalar); unused for classes.
    fn target_shape(&self) -> &[usize] {
        &[]
    }

    /// Writes input `i` into `out` (`out.len()` is the product of `sample_shape`).
    fn read_input(&self, i: usize, out: &mut [f32]) -> Result<(), DataError>;

    /// The target of example `i`.
    fn target(&self, i: usize) -> Result<Target, DataError>;
}

/// Elements in one input of `source`.
pub fn sample_len<S: SampleSource + ?Sized>(source: &S) -> usize {
    source.sample_shape().iter().product()
}

/// Stacks per-example targets into a batch's [`Targets`]: `[B]` class indices or
/// `[B, ..target_shape]` values. Errors if classes and values are mixed.
pub fn stack_targets(targets: Vec<Target>, target_shape: &[usize]) -> Result<Targets, DataError> {
    let b = targets.len();
    if targets.iter().all(|t| matches!(t, Target::Class(_))) {
        let classes = targets
            .into_iter()
            .map(|t| match t {
                Target::Class(c) => c,
                Target::Values(_) => unreachable!("checked above"),
            })
            .collect();
        return Ok(Targets::Classes(Tensor::from_vec(classes, &[b])));
    }
    let per: usize = target_shape.iter().product();
    let mut values = Vec::with_capacity(b * per);
    for t in targets {
        match t {
            Target::Values(v) if v.len() == per => values.extend(v),
            other => {
                return Err(DataError::invalid(
                    "batch",
                    format!("a target {other:?} does not fit the target shape {target_shape:?}"),
                ))
            }
        }
    }
    let mut shape = vec![b];
    shape.extend_from_slice(target_shape);
    Ok(Targets::Values(Tensor::from_vec(values, &shape)))
}

/// Reads the examples at `indices` into one batch, calling `each` on every input buffer
/// right after it is read (the loader's transforms).
pub fn read_batch<S: SampleSource + ?Sized>(
    source: &S,
    indices: &[usize],
    mut each: impl FnMut(&mut [f32]),
) -> Result<Batch, DataError> {
    let per = sample_len(source);
    let mut inputs = vec![0.0f32; indices.len() * per];
    let mut targets = Vec::with_capacity(indices.len());
    for (slot, &i) in inputs.chunks_mut(per.max(1)).zip(indices) {
        source.read_input(i, &mut slot[..per])?;
        each(&mut slot[..per]);
        targets.push(source.target(i)?);
    }
    let mut shape = vec![indices.len()];
    shape.extend_from_slice(source.sample_shape());
    Ok(Batch {
        inputs: Input::Float(Var::new(Tensor::from_vec(inputs, &shape))),
        targets: stack_targets(targets, source.target_shape())?,
    })
}

/// Reads every example into memory (for a lazy dataset that fits).
pub fn materialize<S: SampleSource + ?Sized>(source: &S) -> Result<TensorDataset, DataError> {
    let all: Vec<usize> = (0..source.len()).collect();
    let b = read_batch(source, &all, |_| ())?;
    Ok(TensorDataset {
        inputs: b.float_inputs(),
        targets: b.targets,
    })
}

/// An in-memory [`TensorDataset`] as a sample source (so the prefetching loader and its
/// transforms work on it too). Sample `i` is row `i` of the inputs.
pub struct InMemory {
    sample_shape: Vec<usize>,
    target_shape: Vec<usize>,
    /// The inputs in C order, so a row is a slice (shares storage with the dataset's
    /// tensor when that is already contiguous, as a training split is).
    inputs: Tensor<f32>,
    /// The targets in C order: class indices, or values with `target_shape` per example.
    targets: Result<Vec<i64>, Vec<f32>>,
    len: usize,
}

impl InMemory {
    /// Wraps `data`; its inputs are copied only if they are not contiguous.
    pub fn new(data: &TensorDataset) -> Self {
        let sample_shape = data.inputs.shape().get(1..).unwrap_or(&[]).to_vec();
        let (target_shape, targets) = match &data.targets {
            Targets::Values(t) => (t.shape().get(1..).unwrap_or(&[]).to_vec(), Err(t.to_vec())),
            Targets::Classes(t) => (Vec::new(), Ok(t.to_vec())),
        };
        InMemory {
            sample_shape,
            target_shape,
            inputs: data.inputs.contiguous(),
            targets,
            len: data.targets.len(),
        }
    }
}

impl SampleSource for InMemory {
    fn len(&self) -> usize {
        self.len
    }

    fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    fn target_shape(&self) -> &[usize] {
        &self.target_shape
    }

    fn read_input(&self, i: usize, out: &mut [f32]) -> Result<(), DataError> {
        let per = out.len();
        // `contiguous()` made this a C-order tensor, which always has a slice.
        let all = self.inputs.as_slice().unwrap_or(&[]);
        out.copy_from_slice(&all[i * per..(i + 1) * per]);
        Ok(())
    }

    fn target(&self, i: usize) -> Result<Target, DataError> {
        Ok(match &self.targets {
            Ok(classes) => Target::Class(classes[i]),
            Err(values) => {
                let per: usize = self.target_shape.iter().product();
                Target::Values(values[i * per..(i + 1) * per].to_vec())
            }
        })
    }
}

/// Examples `start..start + len` of another source, without copying (the training part of
/// a split, for the prefetching loader).
pub struct SourceRange {
    inner: Arc<dyn SampleSource>,
    start: usize,
    len: usize,
}

impl SourceRange {
    /// Examples `start..start + len` of `inner` (clamped to what it holds).
    pub fn new(inner: Arc<dyn SampleSource>, start: usize, len: usize) -> Self {
        let start = start.min(inner.len());
        let len = len.min(inner.len() - start);
        SourceRange { inner, start, len }
    }
}

impl SampleSource for SourceRange {
    fn len(&self) -> usize {
        self.len
    }

    fn sample_shape(&self) -> &[usize] {
        self.inner.sample_shape()
    }

    fn target_shape(&self) -> &[usize] {
        self.inner.target_shape()
    }

    fn read_input(&self, i: usize, out: &mut [f32]) -> Result<(), DataError> {
        self.check(i)?;
        self.inner.read_input(self.start + i, out)
    }

    fn target(&self, i: usize) -> Result<Target, DataError> {
        self.check(i)?;
        self.inner.target(self.start + i)
    }
}

impl SourceRange {
    fn check(&self, i: usize) -> Result<(), DataError> {
        if i < self.len {
            Ok(())
        } else {
            Err(DataError::invalid(
                "sample",
                format!("example {i} is out of range for {} examples", self.len),
            ))
        }
    }
}
