//! What a model can be fed: a float tensor, integer indices (tokens, classes), or several
//! of them (tokens and a mask).
//!
//! `Module::forward` keeps taking one float `Var`, the common case. Models whose input is
//! not one float tensor implement [`crate::Module::forward_input`], which receives an
//! [`Input`]: integer token indices reach an `Embedding` as `Tensor<i64>`, with no float
//! round trip (floats are exact for integers only up to 2^24 in f32).

use graft_autograd::Var;
use graft_tensor::{Float, Result, Tensor, TensorError};

/// One model input: a float tensor, integer indices, or a tuple of inputs.
#[derive(Clone, Debug)]
pub enum Input<T: Float = f32> {
    /// Float features, `[N, ...]`.
    Float(Var<T>),
    /// Integer indices (token ids, positions), `[N, ...]`.
    Index(Tensor<i64>),
    /// Several inputs for one example batch (e.g. tokens and a padding mask), each `[N, ...]`.
    Tuple(Vec<Input<T>>),
}

impl<T: Float> Input<T> {
    /// The float input, or an error naming `op` and what it got instead.
    pub fn as_float(&self) -> Result<&Var<T>> {
        match self {
            Input::Float(v) => Ok(v),
            other => Err(TensorError::new(
                "forward_input",
                format!("expected a float input, got {}", other.describe()),
            )),
        }
    }

    /// The index input, or an error saying what it got instead.
    pub fn as_index(&self) -> Result<&Tensor<i64>> {
        match self {
            Input::Index(t) => Ok(t),
            other => Err(TensorError::new(
                "forward_input",
                format!("expected an index (i64) input, got {}", other.describe()),
            )),
        }
    }

    /// The parts of a tuple input, or an error saying what it got instead.
    pub fn as_tuple(&self) -> Result<&[Input<T>]> {
        match self {
            Input::Tuple(parts) => Ok(parts),
            other => Err(TensorError::new(
                "forward_input",
                format!("expected a tuple input, got {}", other.describe()),
            )),
        }
    }

    /// Number of examples: the first dim (of the first part, for a tuple); 0 for a scalar.
    pub fn batch_len(&self) -> usize {
        match self {
            Input::Float(v) => v.shape().first().copied().unwrap_or(0),
            Input::Index(t) => t.shape().first().copied().unwrap_or(0),
            Input::Tuple(parts) => parts.first().map_or(0, Input::batch_len),
        }
    }

    /// Examples `start..start + len` of every part, as views.
    pub fn try_narrow(&self, start: usize, len: usize) -> Result<Input<T>> {
        Ok(match self {
            Input::Float(v) => Input::Float(Var::new(v.value().try_narrow(0, start, len)?)),
            Input::Index(t) => Input::Index(t.try_narrow(0, start, len)?),
            Input::Tuple(parts) => Input::Tuple(
                parts
                    .iter()
                    .map(|p| p.try_narrow(start, len))
                    .collect::<Result<_>>()?,
            ),
        })
    }

    /// The examples at `index` (along the first dim) of every part, copied.
    pub fn try_select(&self, index: &Tensor<i64>) -> Result<Input<T>> {
        Ok(match self {
            Input::Float(v) => Input::Float(Var::new(v.value().try_index_select(0, index)?)),
            Input::Index(t) => Input::Index(t.try_index_select(0, index)?),
            Input::Tuple(parts) => Input::Tuple(
                parts
                    .iter()
                    .map(|p| p.try_select(index))
                    .collect::<Result<_>>()?,
            ),
        })
    }

    /// `float [2, 784]`, `index [2, 3]`, `(index [2, 3], float [2, 3])`: for error messages.
    pub fn describe(&self) -> String {
        match self {
            Input::Float(v) => format!("float {:?}", v.shape()),
            Input::Index(t) => format!("index {:?}", t.shape()),
            Input::Tuple(parts) => {
                let inner: Vec<String> = parts.iter().map(Input::describe).collect();
                format!("({})", inner.join(", "))
            }
        }
    }
}

impl<T: Float> From<Var<T>> for Input<T> {
    fn from(v: Var<T>) -> Self {
        Input::Float(v)
    }
}

impl<T: Float> From<&Var<T>> for Input<T> {
    fn from(v: &Var<T>) -> Self {
        Input::Float(v.clone())
    }
}

impl From<Tensor<f32>> for Input<f32> {
    fn from(t: Tensor<f32>) -> Self {
        Input::Float(Var::new(t))
    }
}

impl From<Tensor<f64>> for Input<f64> {
    fn from(t: Tensor<f64>) -> Self {
        Input::Float(Var::new(t))
    }
}

impl<T: Float> From<Tensor<i64>> for Input<T> {
    fn from(t: Tensor<i64>) -> Self {
        Input::Index(t)
    }
}

impl<T: Float> From<Vec<Input<T>>> for Input<T> {
    fn from(parts: Vec<Input<T>>) -> Self {
        Input::Tuple(parts)
    }
}

impl From<&Tensor<f32>> for Input<f32> {
    fn from(t: &Tensor<f32>) -> Self {
        Input::Float(Var::new(t.clone()))
    }
}

impl From<&Tensor<f64>> for Input<f64> {
    fn from(t: &Tensor<f64>) -> Self {
        Input::Float(Var::new(t.clone()))
    }
}

impl<T: Float> From<&Tensor<i64>> for Input<T> {
    fn from(t: &Tensor<i64>) -> Self {
        Input::Index(t.clone())
    }
}
