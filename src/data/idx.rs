//! The IDX file format of the MNIST family (MNIST, Fashion-MNIST, KMNIST), plain or
//! gzip.
//!
//! An IDX file is a header — two zero bytes, a type code (0x08 for u8), a dimension
//! count, then each dimension as a big-endian u32 — followed by the elements in
//! row-major order. Images files are 3-D `[n, rows, cols]`, labels files 1-D `[n]`.
//! Gzip is recognized by its magic bytes, not by the file name.
//!
//! ```no_run
//! use graft::data::idx::load_mnist_dir;
//!
//! let mnist = load_mnist_dir("/usr/share/datasets/fashion-mnist".as_ref())?;
//! assert_eq!(mnist.train_images.n, mnist.train_labels.len());
//! # Ok::<(), graft::data::DataError>(())
//! ```

mod array;
mod decode;
mod header;
mod images;
mod mnist;
#[cfg(test)]
mod proptests;

pub use array::IdxArray;
pub use decode::{parse_idx, read_idx};
pub use images::{read_images, read_labels, Images};
pub use mnist::{
    load_mnist_dir, mnist_files, read_mnist_splits, MnistData, MnistSplits, MNIST_FILES,
};

pub use super::DataError;
