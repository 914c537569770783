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
