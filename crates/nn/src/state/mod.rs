//! State dicts: a module's parameters and buffers under PyTorch's names, saved and loaded
//! as [safetensors](https://github.com/huggingface/safetensors) files.
//!
//! safetensors is the format PyTorch users exchange weights in (`safetensors.torch.save_file`
//! writes it): a little-endian `u64` header length, a JSON header naming each tensor's dtype,
//! shape and byte range, then the raw data. A state dict saved by PyTorch from an
//! `nn.Sequential` loads into the matching [`Sequential`](crate::Sequential) as it is, and one
//! saved here loads into PyTorch.
//!
//! Loading is all or nothing: every name, shape and dtype is checked first, every problem is
//! reported in one [`StateDictError::Mismatch`], and only then are values assigned. A corrupt
//! or truncated file is a [`StateDictError::Corrupt`] naming the file and, where the format
//! gives one, the byte offset; reading never panics.
//!
//! ```
//! use graft_nn::{state, Linear, Module, Relu, Sequential};
//! use rand::SeedableRng;
//!
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let model: Sequential = Sequential::new().add(Linear::new(4, 8, &mut rng)).add(Relu).add(Linear::new(8, 2, &mut rng));
//! let path = std::env::temp_dir().join(format!("graft-doc-{}.safetensors", std::process::id()));
//! state::save_state_dict(&model, &path).unwrap();
//!
//! let other: Sequential = Sequential::new().add(Linear::new(4, 8, &mut rng)).add(Relu).add(Linear::new(8, 2, &mut rng));
//! state::load_state_dict(&other, &path).unwrap();
//! assert_eq!(other.named_parameters()[0].1.value().to_vec(), model.named_parameters()[0].1.value().to_vec());
//!
//! // A model of another shape is refused, with every problem listed.
//! let wrong: Sequential = Sequential::new().add(Linear::new(4, 3, &mut rng));
//! let err = state::load_state_dict(&wrong, &path).unwrap_err();
//! assert!(err.to_string().contains("shape mismatch for 0.weight: expected [3, 4], file has [8, 4]"));
//! assert!(err.to_string().contains("unexpected: 2.weight"));
//! # std::fs::remove_file(&path).unwrap();
//! ```

mod api;
mod check;
mod codec;
mod error;

pub use api::{
    load_state_dict, load_state_dict_from_bytes, load_state_dict_tensors, load_tensors,
    load_tensors_from_bytes, save_state_dict, save_tensors, state_dict, state_dict_to_bytes,
};
pub use error::{Mismatch, StateDictError};
