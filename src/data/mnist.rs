//! MNIST-family data as ready-to-train tensors.

use std::path::Path;

use graft_tensor::Tensor;

use super::dataset::{scale_u8, Targets, TensorDataset};
use super::idx::{load_mnist_dir, Images};
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

fn to_dataset(images: &Images, labels: &[u8]) -> TensorDataset {
    let inputs = scale_u8(&images.data, &[images.n, images.rows * images.cols]);
    let targets = Tensor::from_vec(labels.iter().map(|&l| l as i64).collect(), &[labels.len()]);
    TensorDataset {
        inputs,
        targets: Targets::Classes(targets),
    }
}

/// Loads `train-*` and `t10k-*` IDX files (plain or gzip) from `dir`.
pub fn load_mnist(dir: &Path) -> Result<MnistSets, DataError> {
    let data = load_mnist_dir(dir)?;
    Ok(MnistSets {
        train: to_dataset(&data.train_images, &data.train_labels),
        test: to_dataset(&data.test_images, &data.test_labels),
        image_size: (data.train_images.rows, data.train_images.cols),
    })
}
