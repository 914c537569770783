//! MNIST-family data as ready-to-train tensors.

use std::path::Path;

use graft_tensor::Tensor;

use super::dataset::{scale_u8, Targets, TensorDataset};
use super::idx::{mnist_files, read_images, read_labels};
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

/// Loads one split, converting its pixels to f32 before the next file is read, so the
/// raw bytes of only one file are ever held next to the floats (peak memory).
fn load_split(
    images_path: &Path,
    labels_path: &Path,
) -> Result<(TensorDataset, (usize, usize)), DataError> {
    let images = read_images(images_path)?;
    let (n, size) = (images.n, (images.rows, images.cols));
    let inputs = scale_u8(&images.data, &[n, size.0 * size.1]);
    drop(images);
    let labels = read_labels(labels_path)?;
    if labels.len() != n {
        return Err(DataError::CountMismatch {
            images_file: images_path.display().to_string(),
            images: n,
            labels_file: labels_path.display().to_string(),
            labels: labels.len(),
        });
    }
    let targets = Tensor::from_vec(labels.iter().map(|&l| l as i64).collect(), &[n]);
    Ok((
        TensorDataset {
            inputs,
            targets: Targets::Classes(targets),
        },
        size,
    ))
}

/// Loads `train-*` and `t10k-*` IDX files (plain or gzip) from `dir`, checking that each
/// images file has as many images as its labels file has labels and that both splits'
/// images are the same size.
pub fn load_mnist(dir: &Path) -> Result<MnistSets, DataError> {
    let [train_x, train_y, test_x, test_y] = mnist_files(dir)?;
    let (train, train_size) = load_split(&train_x, &train_y)?;
    let (test, test_size) = load_split(&test_x, &test_y)?;
    if train_size != test_size {
        return Err(DataError::ImageSizeMismatch {
            train_file: train_x.display().to_string(),
            train: train_size,
            test_file: test_x.display().to_string(),
            test: test_size,
        });
    }
    Ok(MnistSets {
        train,
        test,
        image_size: train_size,
    })
}
