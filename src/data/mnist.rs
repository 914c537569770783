//! MNIST-family data as ready-to-train tensors.

use std::path::Path;

use graft_tensor::Tensor;

use super::dataset::{scale_u8, Targets, TensorDataset};
use super::idx::{read_mnist_splits, Images};
use super::DataError;

/// Training and test sets of an MNIST-style directory, pixels scaled to [0, 1], images
/// flattened to `[N, rows * cols]` (reshape to `[N, 1, rows, cols]` for a CNN; it is a view).
pub struct MnistSets {
    /// The training set.
    pub train: TensorDataset,
    /// The test set.
    pub test: TensorDataset,
    /// Image height and width.
    pub image_size: (usize, usize),
}

/// One split's pixels scaled to f32 `[N, rows * cols]`, with its labels as class indices.
fn to_dataset(images: Images, labels: Vec<u8>) -> TensorDataset {
    let inputs = scale_u8(&images.data, &[images.n, images.rows * images.cols]);
    let targets = Tensor::from_vec(labels.iter().map(|&l| l as i64).collect(), &[images.n]);
    TensorDataset {
        inputs,
        targets: Targets::Classes(targets),
    }
}

/// Loads `train-*` and `t10k-*` IDX files (plain or gzip) from `dir`, checking that each
/// images file has as many images as its labels file has labels and that both splits'
/// images are the same size. Each split becomes f32 before the next file is read.
pub fn load_mnist(dir: &Path) -> Result<MnistSets, DataError> {
    let split = read_mnist_splits(dir, to_dataset)?;
    let (train, test) = split.splits;
    Ok(MnistSets {
        train,
        test,
        image_size: split.image_size,
    })
}
