//! # graft
//!
//! A deep-learning framework in Rust: N-d tensors ([`tensor`]), reverse-mode automatic
//! differentiation with grad-of-grad and a gradient-check kit ([`autograd`]), layers and
//! losses ([`nn`]), optimizers and schedulers ([`optim`]), and MNIST-style data loading
//! ([`data`]).

pub mod data;

pub use graft_autograd as autograd;
pub use graft_nn as nn;
pub use graft_optim as optim;
pub use graft_tensor as tensor;
pub mod train;
pub mod tune;

/// Sets the number of threads graft's kernels use (rayon's global pool); call it once,
/// before any tensor work. Errors if the pool was already built.
pub fn set_num_threads(n: usize) -> Result<(), rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
}

/// The names most programs need.
pub mod prelude {
    pub use crate::data::{load_mnist, Dataset, Targets, TensorDataset};
    pub use crate::train::{fit, FitConfig, History};
    pub use graft_autograd::{grad, no_grad, Var};
    pub use graft_nn::{Conv2d, Flatten, Linear, MaxPool2d, Module, Relu, Sequential};
    pub use graft_optim::rules::{AdamConfig, SgdConfig};
    pub use graft_optim::{Adam, Optimizer, Sgd};
    pub use graft_tensor::Tensor;
}
