//! In-memory datasets of (input, target) pairs: float features ([`TensorDataset`]) or
//! integer token indices ([`IndexDataset`]).

use graft_nn::Input;
use graft_tensor::{Result, Tensor, TensorError};

use super::dataset_trait::{check_indices, Batch, Dataset};
use super::error::DataError;

/// What a model is trained to predict: class indices or real values.
#[derive(Clone, Debug)]
pub enum Targets {
    /// One class index per example, `[N]`.
    Classes(Tensor<i64>),
    /// Real-valued targets, `[N, ...]`.
    Values(Tensor<f32>),
}

impl Targets {
    /// Number of examples.
    pub fn len(&self) -> usize {
        match self {
            Targets::Classes(t) => t.shape().first().copied().unwrap_or(0),
            Targets::Values(t) => t.shape().first().copied().unwrap_or(0),
        }
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The targets at `index` (along the example dim).
    pub fn select(&self, index: &Tensor<i64>) -> Targets {
        match self {
            Targets::Classes(t) => Targets::Classes(t.index_select(0, index)),
            Targets::Values(t) => Targets::Values(t.index_select(0, index)),
        }
    }

    /// Examples `start..start + len`, as a view.
    pub fn narrow(&self, start: usize, len: usize) -> Targets {
        match self {
            Targets::Classes(t) => Targets::Classes(t.narrow(0, start, len)),
            Targets::Values(t) => Targets::Values(t.narrow(0, start, len)),
        }
    }
}

/// Inputs of `input_shape` and `targets` must hold the same number of examples.
fn check_pairing(op: &str, input_shape: &[usize], targets: &Targets) -> Result<()> {
    let n = input_shape.first().copied().unwrap_or(0);
    if n == targets.len() {
        return Ok(());
    }
    Err(TensorError::shape_mismatch(
        op,
        format!(
            "inputs {input_shape:?} hold {n} examples but there are {} targets",
            targets.len()
        ),
    ))
}

/// A dataset held as two tensors whose first dim indexes the examples.
#[derive(Clone, Debug)]
pub struct TensorDataset {
    /// Inputs, `[N, ...]`.
    pub inputs: Tensor<f32>,
    /// Targets, `N` of them.
    pub targets: Targets,
}

impl TensorDataset {
    /// Pairs inputs with targets; errors if their example counts differ.
    pub fn new(inputs: Tensor<f32>, targets: Targets) -> Result<Self> {
        check_pairing("TensorDataset", inputs.shape(), &targets)?;
        Ok(TensorDataset { inputs, targets })
    }

    /// Examples `start..start + len`, sharing storage with `self`.
    pub fn slice(&self, start: usize, len: usize) -> TensorDataset {
        TensorDataset {
            inputs: self.inputs.narrow(0, start, len),
            targets: self.targets.narrow(start, len),
        }
    }

    /// Keras' `validation_split`: the last `fraction` of the examples (taken before any
    /// shuffling) for validation, the rest for training.
    pub fn split_last(&self, fraction: f64) -> (TensorDataset, TensorDataset) {
        let n = self.len();
        let n_val = ((n as f64) * fraction.clamp(0.0, 1.0)).round() as usize;
        (self.slice(0, n - n_val), self.slice(n - n_val, n_val))
    }

    /// A seeded random split into parts of the given fractions (the last part takes the
    /// remainder).
    pub fn random_split(&self, fractions: &[f64], seed: u64) -> Vec<TensorDataset> {
        let order = crate::data::loader::permutation(self.len(), seed);
        let mut parts = Vec::with_capacity(fractions.len());
        let mut start = 0;
        for (k, f) in fractions.iter().enumerate() {
            let len = if k + 1 == fractions.len() {
                self.len() - start
            } else {
                ((self.len() as f64) * f).round() as usize
            };
            let len = len.min(self.len() - start);
            parts.push(self.gather(&order[start..start + len]));
            start += len;
        }
        parts
    }

    fn gather(&self, indices: &[usize]) -> TensorDataset {
        let index = index_tensor(indices);
        TensorDataset {
            inputs: self.inputs.index_select(0, &index),
            targets: self.targets.select(&index),
        }
    }
}

/// `indices` as the `Tensor<i64>` that `index_select` takes.
fn index_tensor(indices: &[usize]) -> Tensor<i64> {
    Tensor::from_vec(
        indices.iter().map(|&i| i as i64).collect(),
        &[indices.len()],
    )
}

impl Dataset for TensorDataset {
    fn len(&self) -> usize {
        self.targets.len()
    }

    fn try_batch(&self, indices: &[usize]) -> std::result::Result<Batch, DataError> {
        check_indices(indices, self.len())?;
        let index = index_tensor(indices);
        Ok(Batch {
            inputs: Input::Float(graft_autograd::Var::new(
                self.inputs.index_select(0, &index),
            )),
            targets: self.targets.select(&index),
        })
    }

    fn sample_source(&self) -> Option<std::sync::Arc<dyn super::sample::SampleSource>> {
        Some(std::sync::Arc::new(super::sample::InMemory::new(self)))
    }
}

/// A dataset of integer inputs (token ids, contexts of a character model) `[N, ...]` and
/// their targets: the indices reach the model as `Tensor<i64>` ([`Input::Index`]), so an
/// `Embedding` gets them without a float round trip.
#[derive(Clone, Debug)]
pub struct IndexDataset {
    /// Inputs, `[N, ...]`.
    pub inputs: Tensor<i64>,
    /// Targets, `N` of them.
    pub targets: Targets,
}

impl IndexDataset {
    /// Pairs inputs with targets; errors if their example counts differ.
    pub fn new(inputs: Tensor<i64>, targets: Targets) -> Result<Self> {
        check_pairing("IndexDataset", inputs.shape(), &targets)?;
        Ok(IndexDataset { inputs, targets })
    }
}

impl Dataset for IndexDataset {
    fn len(&self) -> usize {
        self.targets.len()
    }

    fn try_batch(&self, indices: &[usize]) -> std::result::Result<Batch, DataError> {
        check_indices(indices, self.len())?;
        let index = index_tensor(indices);
        Ok(Batch {
            inputs: Input::Index(self.inputs.index_select(0, &index)),
            targets: self.targets.select(&index),
        })
    }
}

/// Pixels as floats in [0, 1]: `u8 / 255`.
pub fn scale_u8(pixels: &[u8], shape: &[usize]) -> Tensor<f32> {
    Tensor::from_vec(pixels.iter().map(|&p| p as f32 / 255.0).collect(), shape)
}

/// `(x - mean) / std`, with the mean and standard deviation of all elements; returns them
/// too, so the same transform can be applied to test data.
pub fn standardize(x: &Tensor<f32>) -> (Tensor<f32>, f32, f32) {
    let mean = x.mean().item();
    let std = x.var(0).item().sqrt().max(1e-12);
    (x.sub_scalar(mean).div_scalar(std), mean, std)
}
