//! # graft-nn
//!
//! Layers, losses and regularizers for graft, every one composed from `graft-autograd`
//! ops: nothing here states a gradient rule, so every layer has gradients of any order
//! for free. Weight layouts follow PyTorch (Linear `[out, in]`, Conv2d
//! `[out, in/groups, kh, kw]`, images NCHW) and parameter names do too (`0.weight`,
//! `fc1.bias`), so PyTorch state dicts saved as safetensors load as they are.

#![forbid(unsafe_code)]

mod convert;
pub mod functional;
pub mod init;
mod input;
mod layers;
pub mod limits;
pub mod loss;
mod module;
pub mod regularize;

pub use convert::{cast_into, gradcheck_module};
pub use input::Input;
pub use layers::*;
pub use mode::TrainingModes;
pub use module::{Module, Visitor};
mod mode;
pub mod spec;
pub mod state;
pub use spec::{sequential_from_spec, SpecError};
pub use state::{load_state_dict, save_state_dict, StateDictError};
