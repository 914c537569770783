//! Data: the IDX reader for the MNIST family, where to find the data, in-memory datasets,
//! and a reproducible batch loader.

pub mod dataset;
pub mod dataset_trait;
pub mod error;
pub mod idx;
pub mod loader;
pub mod locate;
pub mod mnist;
#[cfg(test)]
mod test_dir;

pub use dataset::{scale_u8, standardize, IndexDataset, Targets, TensorDataset};
pub use dataset_trait::{Batch, Dataset, Subset};
pub use error::DataError;
pub use loader::{permutation, DataLoader};
pub use locate::{find_mnist_dir, DataSource};
pub use mnist::{load_mnist, MnistSets};
