//! # graft
//!
//! A deep-learning framework in Rust: N-d tensors ([`tensor`]), reverse-mode automatic
//! differentiation with grad-of-grad and a gradient-check kit ([`autograd`]), layers and
//! losses ([`nn`]), optimizers and schedulers ([`optim`]), and MNIST-style data loading
//! ([`data`]).

pub mod data;

pub use graft_autograd as autograd;
/// Data-parallel training across processes; real MPI with the cargo feature `mpi`,
/// otherwise the single-process form (rank 0 of 1).
pub use graft_distributed as distributed;
pub use graft_nn as nn;
pub use graft_optim as optim;
pub use graft_tensor as tensor;
mod run;
pub mod train;
pub mod tune;

pub use run::run;

/// Sets the number of threads graft's kernels use (rayon's global pool); call it once,
/// before any tensor work. Errors if the pool was already built.
pub fn set_num_threads(n: usize) -> Result<(), rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
}

/// The names most programs need, a custom model and loop included.
pub mod prelude {
    pub use crate::data::{
        load_mnist, Batch, DataLoader, Dataset, IndexDataset, Targets, TensorDataset,
    };
    pub use crate::run;
    pub use crate::train::{
        evaluate, fit, losses, predict, Accuracy, Callback, Control, FitConfig, History,
        LrSchedulerCallback, Metric, StepCallback, StepLogs, Verbosity,
    };
    pub use graft_autograd::{grad, no_grad, Var};
    pub use graft_nn::{
        BatchNorm1d, Conv2d, Embedding, Flatten, Input, LayerNorm, Linear, MaxPool2d, Module, Relu,
        Sequential, Tanh, Visitor,
    };
    pub use graft_optim::rules::{AdamConfig, SgdConfig};
    pub use graft_optim::{Adam, CosineAnnealingLr, LrScheduler, Optimizer, Schedule, Sgd, StepLr};
    pub use graft_tensor::{Float, Tensor};
}
