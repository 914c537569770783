//! Indexing primitives and their adjoints: index_select <-> index_add and
//! gather <-> scatter_add. Indices are constants held by the op.

use graft_tensor::{Float, Tensor, TensorError};

use crate::graph::Op;
use crate::var::Var;

type Grads<T> = Vec<Option<Var<T>>>;

/// Entries at `index` along `dim`.
pub(crate) struct IndexSelect {
    pub(crate) dim: isize,
    pub(crate) index: Tensor<i64>,
}
impl<T: Float> Op<T> for IndexSelect {
    fn name(&self) -> &'static str {
        "index_select"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        x[0].try_index_select(self.dim, &self.index)
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        let zeros = Var::new(Tensor::zeros(x[0].shape()));
        vec![Some(zeros.index_add(self.dim, &self.index, g))]
    }
}

/// `self` with rows of `src` added at `index` along `dim`.
pub(crate) struct IndexAdd {
    pub(crate) dim: isize,
    pub(crate) index: Tensor<i64>,
}
impl<T: Float> Op<T> for IndexAdd {
    fn name(&self) -> &'static str {
        "index_add"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        x[0].try_index_add(self.dim, &self.index, &x[1])
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        vec![
            Some(g.clone()),
            x[1].needs_grad()
                .then(|| g.index_select(self.dim, &self.index)),
        ]
    }
}

/// Entries picked by an index tensor along `dim`.
pub(crate) struct Gather {
    pub(crate) dim: isize,
    pub(crate) index: Tensor<i64>,
}
impl<T: Float> Op<T> for Gather {
    fn name(&self) -> &'static str {
        "gather"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        x[0].try_gather(self.dim, &self.index)
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        let scatter = ScatterIntoZeros {
            dim: self.dim,
            index: self.index.clone(),
            shape: x[0].shape().to_vec(),
        };
        vec![Some(Var::apply(scatter, &[g]))]
    }
}

/// `src` scattered (added) into zeros of `shape` at `index` along `dim`: gather's adjoint,
/// without building and copying a zero tensor first (max pooling's backward runs on it).
pub(crate) struct ScatterIntoZeros {
    pub(crate) dim: isize,
    pub(crate) index: Tensor<i64>,
    pub(crate) shape: Vec<usize>,
}
impl<T: Float> Op<T> for ScatterIntoZeros {
    fn name(&self) -> &'static str {
        "scatter_add"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        Tensor::try_scatter_add_zeros(&self.shape, self.dim, &self.index, &x[0])
    }
    fn backward(&self, _: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        vec![Some(g.gather(self.dim, &self.index))]
    }
}

/// `self` with `src` added at the positions `index` names along `dim`.
pub(crate) struct ScatterAdd {
    pub(crate) dim: isize,
    pub(crate) index: Tensor<i64>,
}
impl<T: Float> Op<T> for ScatterAdd {
    fn name(&self) -> &'static str {
        "scatter_add"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        if x[1].shape() != self.index.shape() {
            return Err(TensorError::new(
                "scatter_add",
                format!(
                    "src {:?} must have the index's shape {:?}",
                    x[1].shape(),
                    self.index.shape()
                ),
            ));
        }
        x[0].try_scatter_add(self.dim, &self.index, &x[1])
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        vec![
            Some(g.clone()),
            x[1].needs_grad().then(|| g.gather(self.dim, &self.index)),
        ]
    }
}
