//! # graft-autograd
//!
//! Reverse-mode automatic differentiation on a recorded graph. A [`Var`] holds a tensor
//! and, when computed from tracked inputs, the op that made it. Thirty-nine
//! primitive ops state gradient rules, each next to its forward and written in `Var` ops,
//! so the backward pass can itself be recorded: second derivatives and Hessian-vector
//! products come for free ([`grad`] with `create_graph`). Everything else — mean, var,
//! softmax, every loss and layer — is composed from the primitives.
//!
//! [`functional`] turns that into function transforms (vjp, jvp, jacobian, hessian, hvp,
//! vhp), and [`checkpoint()`] trades compute for memory by recomputing a function's inside
//! in the backward pass.
//!
//! The public gradient-check kit ([`gradcheck()`], [`gradgradcheck()`], the registry runner
//! in [`testing`] and, with the `proptest` feature, strategies in `strategies`) lets users
//! check their own models and ops.
//!
//! ```
//! use graft_autograd::{grad, Var};
//! use graft_tensor::Tensor;
//! let x = Var::parameter(Tensor::from_vec(vec![0.5f64, -1.0], &[2]));
//! let y = x.tanh().square().sum();
//! y.backward().unwrap();
//! let g = x.grad().unwrap(); // 2 tanh(x) (1 - tanh²(x))
//! assert!((g.to_vec()[0] - 2.0 * 0.5f64.tanh() * (1.0 - 0.5f64.tanh().powi(2))).abs() < 1e-12);
//! ```

#![forbid(unsafe_code)]

mod api;
mod backward;
mod checkpoint;
mod composite;
pub mod functional;
pub mod gradcheck;
mod graph;
mod operators;
mod ops;
mod pool;
mod rng;
#[cfg(feature = "proptest")]
pub mod strategies;
pub mod testing;
mod value;
mod var;

pub use backward::grad;
pub use checkpoint::checkpoint;
pub use gradcheck::{gradcheck, gradgradcheck, GradcheckError, GradcheckOptions, GradientMismatch};
pub use graph::{is_anomaly_mode, is_grad_enabled, live_nodes, no_grad, set_anomaly_mode, Op};
pub use rng::RngStream;
pub use var::Var;
