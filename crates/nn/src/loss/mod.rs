//! Loss functions in PyTorch's names and semantics (`torch.nn.functional.*_loss`), each a
//! composition of autograd ops: gradients of any order come from the primitives, and
//! nothing here states a gradient rule.
//!
//! Every loss takes a [`Reduction`] (`Mean`, `Sum` or `None`; [`kl_div`] also has
//! `BatchMean`). Float targets are [`Var`](graft_autograd::Var)s, so a loss is differentiable in its target too
//! (pass `Var::new(t)` for a constant target); class-index targets are `Tensor<i64>`.
//!
//! Each loss has a `try_` form that returns a [`TensorError`](graft_tensor::TensorError) naming the loss and the
//! shapes involved (mismatched input and target shapes, out-of-range class indices, bad
//! parameters); the plain form panics with the same message.
//!
//! ```
//! use graft_autograd::Var;
//! use graft_nn::loss::{cross_entropy, cross_entropy_with, mse_loss, CrossEntropyOptions, Reduction};
//! use graft_tensor::Tensor;
//!
//! let logits = Var::parameter(Tensor::from_vec(vec![2.0f64, 0.5, -1.0, 0.1, 0.2, 3.0], &[2, 3]));
//! let labels = Tensor::from_vec(vec![0i64, 2], &[2]);
//! let loss = cross_entropy(&logits, &labels);
//! loss.backward().unwrap();
//! assert!(loss.item() > 0.0 && logits.grad().is_some());
//!
//! let smoothed = cross_entropy_with(
//!     &logits,
//!     &labels,
//!     &CrossEntropyOptions { label_smoothing: 0.1, ..Default::default() },
//! );
//! assert!(smoothed.item() > loss.item());
//!
//! let target = Var::new(Tensor::zeros(&[2, 3]));
//! let per_element = mse_loss(&logits, &target, Reduction::None);
//! assert_eq!(per_element.shape(), &[2, 3]);
//! ```

mod binary;
mod classification;
mod kl;
mod reduction;
mod regression;

pub use binary::*;
pub use classification::*;
pub use kl::*;
pub use reduction::{KlDivReduction, Reduction};
pub use regression::*;
