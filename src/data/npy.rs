//! NumPy's `.npy` (format versions 1.0 to 3.0) and `.npz` files: reading into tensors,
//! memory-mapping for datasets larger than memory, and writing arrays NumPy reads back.
//!
//! Element types: f32, f64, i64, i32, u8 and bool, either byte order, C or Fortran order.
//!
//! ```no_run
//! use graft::data::npy::{NpyArray, Npz};
//!
//! let x = NpyArray::read("x.npy".as_ref())?.to_f32();
//! NpyArray::from_f32(&x).write("copy.npy".as_ref())?;
//! let archive = Npz::read("arrays.npz".as_ref())?;
//! let y = archive.get("y").map(|a| a.to_i64());
//! # Ok::<(), graft::data::DataError>(())
//! ```

mod array;
mod header;
mod mmap;
mod npz;
#[cfg(test)]
mod proptests;

pub use array::NpyArray;
pub use header::{encode_header, parse_header, DType, Header};
pub use mmap::{NpyDataset, NpyMmap};
pub use npz::Npz;
