//! Data: readers for the MNIST family's IDX files, NumPy's `.npy`/`.npz`, CSV tables and
//! image folders; in-memory and lazy (memory-mapped, decoded on demand) datasets;
//! per-example transforms; and reproducible batch loaders, single-threaded or prefetching.

pub mod csv_table;
pub mod dataset;
pub mod dataset_trait;
pub mod error;
pub mod idx;
mod image_decode;
pub mod image_folder;
pub mod loader;
pub mod locate;
pub mod mnist;
pub mod npy;
pub mod prefetch;
pub mod sample;
#[cfg(test)]
mod test_dir;
pub mod transform;

pub use dataset::{scale_u8, standardize, IndexDataset, Targets, TensorDataset};
pub use dataset_trait::{Batch, Dataset, Subset};
pub use error::DataError;
pub use loader::{epoch_order, permutation, DataLoader};
pub use locate::{find_mnist_dir, DataSource};
pub use mnist::{load_mnist, MnistSets};
pub use prefetch::BatchLoader;
pub use sample::{materialize, read_batch, InMemory, SampleSource, SourceRange, Target};
