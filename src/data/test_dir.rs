//! Test helpers: scratch directories and small MNIST-style data sets written to them.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::idx::{IdxArray, MNIST_FILES};

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TestDir(PathBuf);

impl TestDir {
    /// Creates a directory whose name is unique within this run (process id and a
    /// counter), since tests run in parallel.
    pub fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("graft-{tag}-{}-{n}", std::process::id()));
        // A leftover from an earlier, killed run would hold stale files.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Gzip-compresses bytes.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Writes `array` to `dir/name`, gzipped (with `.gz` appended) or plain.
pub fn write_idx(dir: &Path, name: &str, array: &IdxArray, gz: bool) {
    let bytes = array.to_bytes().unwrap();
    if gz {
        fs::write(dir.join(format!("{name}.gz")), gzip(&bytes)).unwrap();
    } else {
        fs::write(dir.join(name), bytes).unwrap();
    }
}

/// Writes a tiny data set of 2x3 images: `n_train` training and `n_test` test
/// images with their labels; the images gzipped and the labels plain, so both kinds
/// of file are exercised. Pixel values and labels count up from 0.
pub fn write_mnist_dir(dir: &Path, n_train: usize, n_test: usize) {
    let [train_x, train_y, test_x, test_y] = MNIST_FILES;
    for (images, labels, n) in [(train_x, train_y, n_train), (test_x, test_y, n_test)] {
        let counting = |len: usize| (0..len).map(|i| i as u8).collect();
        let x = IdxArray {
            dims: vec![n, 2, 3],
            data: counting(n * 6),
        };
        let y = IdxArray {
            dims: vec![n],
            data: counting(n),
        };
        write_idx(dir, images, &x, true);
        write_idx(dir, labels, &y, false);
    }
}
