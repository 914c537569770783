//! Data sets: the IDX reader for the MNIST family and where to find the data.

pub mod error;
pub mod idx;
pub mod locate;
#[cfg(test)]
mod test_dir;

pub use error::DataError;
pub use locate::{find_mnist_dir, DataSource};
