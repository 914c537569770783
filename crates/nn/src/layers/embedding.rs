//! Embedding table.

use graft_autograd::Var;
use graft_tensor::{or_panic, Float, Tensor};
use rand::Rng;

use crate::functional::{normalize_padding_idx, try_embedding};
use crate::input::Input;
use crate::module::{Module, Visitor};

/// A table of `num` vectors of size `dim`, looked up by integer index: call
/// [`Embedding::lookup`] with a `Tensor<i64>`, or `forward_input` with [`Input::Index`] (what
/// `fit` does, also as the first layer of a `Sequential`). `forward` takes indices stored as
/// floats, for the float-only path.
pub struct Embedding<T: Float = f32> {
    /// `[num_embeddings, embedding_dim]`.
    pub weight: Var<T>,
    /// A row that is read but never trained (PyTorch's `padding_idx`); a negative value
    /// counts from the end.
    pub padding_idx: Option<i64>,
}

impl<T: Float> Embedding<T> {
    /// A table initialised N(0, 1), as PyTorch; the padding row starts at zero. Panics with
    /// [`try_new`](Self::try_new)'s message on an out-of-range `padding_idx`.
    #[track_caller]
    pub fn new(num: usize, dim: usize, padding_idx: Option<i64>, rng: &mut impl Rng) -> Self {
        or_panic(Self::try_new(num, dim, padding_idx, rng))
    }

    /// A table initialised N(0, 1), as PyTorch; the padding row starts at zero. A negative
    /// `padding_idx` counts from the end, as in PyTorch (`-1` is the last row) and is stored
    /// normalised; one outside `-num..num` is an error naming the layer and the value.
    pub fn try_new(
        num: usize,
        dim: usize,
        padding_idx: Option<i64>,
        rng: &mut impl Rng,
    ) -> graft_tensor::Result<Self> {
        let padding_idx = padding_idx
            .map(|p| normalize_padding_idx("Embedding", p, num))
            .transpose()?;
        let mut w = Tensor::normal(&[num, dim], T::ZERO, T::ONE, rng);
        if let Some(p) = padding_idx {
            let p = p as usize;
            w.data_mut()[p * dim..(p + 1) * dim].fill(T::ZERO);
        }
        Ok(Embedding {
            weight: Var::parameter(w),
            padding_idx,
        })
    }

    /// The rows for `indices` (any shape) -> `[..., dim]`; panics on an out-of-range index.
    #[track_caller]
    pub fn lookup(&self, indices: &Tensor<i64>) -> Var<T> {
        or_panic(try_embedding(indices, &self.weight, self.padding_idx))
    }
}

impl<T: Float> Module<T> for Embedding<T> {
    /// Looks up the indices held (as floats) in `x`: lets an embedding sit in a Sequential.
    fn forward(&self, x: &Var<T>) -> Var<T> {
        self.try_forward(x).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_forward(&self, x: &Var<T>) -> graft_tensor::Result<Var<T>> {
        try_embedding(&x.value().cast::<i64>(), &self.weight, self.padding_idx)
    }

    /// Index inputs go straight to the table; float inputs are cast as in `forward`.
    fn forward_input(&self, x: &Input<T>) -> graft_tensor::Result<Var<T>> {
        match x {
            Input::Index(indices) => try_embedding(indices, &self.weight, self.padding_idx),
            other => self.try_forward(other.as_float()?),
        }
    }

    fn visit(&self, v: &mut dyn Visitor<T>) {
        v.parameter("weight", &self.weight);
    }
}
