//! A directory holding an MNIST-style data set: four IDX files, plain or gzip.

use std::path::{Path, PathBuf};

use super::{read_images, read_labels, Images};
use crate::data::DataError;

/// Base names of the four files of an MNIST-style data set (MNIST, Fashion-MNIST,
/// KMNIST), in the order: training images, training labels, test images, test
/// labels. Each may also be present gzipped, with `.gz` appended.
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// An MNIST-style data set: training and test images with one label per image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MnistData {
    /// Training images (60,000 in the full MNIST family sets).
    pub train_images: Images,
    /// One label per training image.
    pub train_labels: Vec<u8>,
    /// Test images (10,000 in the full sets).
    pub test_images: Images,
    /// One label per test image.
    pub test_labels: Vec<u8>,
}

/// The paths of the four files in `dir`, in [`MNIST_FILES`] order, taking the plain
/// file where both it and its `.gz` are present; fails on the first one missing.
pub fn mnist_files(dir: &Path) -> Result<[PathBuf; 4], DataError> {
    let find = |name: &str| {
        [name.to_string(), format!("{name}.gz")]
            .into_iter()
            .map(|file| dir.join(file))
            .find(|path| path.is_file())
            .ok_or_else(|| DataError::MissingFile {
                dir: dir.to_path_buf(),
                name: name.into(),
            })
    };
    let [a, b, c, d] = MNIST_FILES;
    Ok([find(a)?, find(b)?, find(c)?, find(d)?])
}

/// Reads the four files of an MNIST-style data set from `dir` (see [`MNIST_FILES`]),
/// checking that each images file has as many images as its labels file has labels,
/// and that training and test images are the same size.
pub fn load_mnist_dir(dir: &Path) -> Result<MnistData, DataError> {
    let split = read_mnist_splits(dir, |images, labels| (images, labels))?;
    let ((train_images, train_labels), (test_images, test_labels)) = split.splits;
    Ok(MnistData {
        train_images,
        train_labels,
        test_images,
        test_labels,
    })
}

/// Both splits of an MNIST-style directory, each as `convert` made it.
pub struct MnistSplits<S> {
    /// (training split, test split).
    pub splits: (S, S),
    /// Image height and width, the same in both splits.
    pub image_size: (usize, usize),
}

/// Reads the training then the test split of `dir`, handing each to `convert` before the
/// next is read, so a caller that converts (to f32, say) never holds both splits' raw bytes
/// next to its own copy (peak memory). The one place the directory's checks live: every
/// file present, image and label counts equal within a split, image sizes equal across.
pub fn read_mnist_splits<S>(
    dir: &Path,
    mut convert: impl FnMut(Images, Vec<u8>) -> S,
) -> Result<MnistSplits<S>, DataError> {
    let [train_x, train_y, test_x, test_y] = mnist_files(dir)?;
    let (train_images, train_labels) = load_split(&train_x, &train_y)?;
    let train_size = (train_images.rows, train_images.cols);
    let train = convert(train_images, train_labels);
    let (test_images, test_labels) = load_split(&test_x, &test_y)?;
    let test_size = (test_images.rows, test_images.cols);
    if train_size != test_size {
        return Err(DataError::ImageSizeMismatch {
            train_file: train_x.display().to_string(),
            train: train_size,
            test_file: test_x.display().to_string(),
            test: test_size,
        });
    }
    let test = convert(test_images, test_labels);
    Ok(MnistSplits {
        splits: (train, test),
        image_size: train_size,
    })
}

/// Reads one images file and its labels file, and checks their counts agree.
fn load_split(images_path: &Path, labels_path: &Path) -> Result<(Images, Vec<u8>), DataError> {
    let images = read_images(images_path)?;
    let labels = read_labels(labels_path)?;
    if images.n != labels.len() {
        return Err(DataError::CountMismatch {
            images_file: images_path.display().to_string(),
            images: images.n,
            labels_file: labels_path.display().to_string(),
            labels: labels.len(),
        });
    }
    Ok((images, labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::idx::IdxArray;
    use crate::data::test_dir::{write_idx, write_mnist_dir, TestDir};

    #[test]
    fn loads_mixed_plain_and_gzip() {
        let dir = TestDir::new("mnist-load");
        write_mnist_dir(dir.path(), 3, 2);
        let m = load_mnist_dir(dir.path()).unwrap();
        assert_eq!(
            (m.train_images.n, m.train_images.rows, m.train_images.cols),
            (3, 2, 3)
        );
        assert_eq!(m.train_labels, vec![0, 1, 2]);
        assert_eq!(m.test_images.image(1), Some(&[6, 7, 8, 9, 10, 11][..]));
        assert_eq!(m.test_labels, vec![0, 1]);
    }

    #[test]
    fn prefers_plain_when_both_are_present() {
        let dir = TestDir::new("mnist-both");
        write_mnist_dir(dir.path(), 3, 2);
        let plain = IdxArray {
            dims: vec![1, 2, 3],
            data: vec![9; 6],
        };
        write_idx(dir.path(), MNIST_FILES[0], &plain, false);
        let files = mnist_files(dir.path()).unwrap();
        assert_eq!(files[0], dir.path().join(MNIST_FILES[0]));
        assert_eq!(files[2], dir.path().join("t10k-images-idx3-ubyte.gz"));
    }

    #[test]
    fn count_mismatch_names_both_files_and_counts() {
        let dir = TestDir::new("mnist-count");
        write_mnist_dir(dir.path(), 3, 2);
        let two = IdxArray {
            dims: vec![2],
            data: vec![0, 1],
        };
        write_idx(dir.path(), MNIST_FILES[1], &two, false);
        let e = load_mnist_dir(dir.path()).unwrap_err().to_string();
        let images = dir.path().join("train-images-idx3-ubyte.gz");
        let labels = dir.path().join("train-labels-idx1-ubyte");
        assert_eq!(
            e,
            format!(
                "{} holds 3 images but {} holds 2 labels",
                images.display(),
                labels.display()
            )
        );
    }

    #[test]
    fn image_sizes_must_agree() {
        let dir = TestDir::new("mnist-size");
        write_mnist_dir(dir.path(), 3, 2);
        let wide = IdxArray {
            dims: vec![2, 2, 4],
            data: vec![0; 16],
        };
        write_idx(dir.path(), MNIST_FILES[2], &wide, true);
        let e = load_mnist_dir(dir.path()).unwrap_err();
        assert!(matches!(
            e,
            DataError::ImageSizeMismatch {
                train: (2, 3),
                test: (2, 4),
                ..
            }
        ));
    }

    #[test]
    fn missing_file_is_named() {
        let dir = TestDir::new("mnist-missing");
        let e = load_mnist_dir(dir.path()).unwrap_err().to_string();
        assert!(
            e.ends_with("found neither train-images-idx3-ubyte nor train-images-idx3-ubyte.gz"),
            "{e}"
        );
    }
}
