//! End-to-end checks of the IDX reader on real data: the bundled Fashion-MNIST subset
//! always, and the full set when Debian's dataset-fashion-mnist is installed.

use std::path::Path;
use std::time::Instant;

use graft::data::idx::load_mnist_dir;
use graft::data::locate::{bundled_dir, SYSTEM_DIR};

#[test]
fn bundled_subset_loads() {
    let m = load_mnist_dir(&bundled_dir()).unwrap();
    assert_eq!((m.train_images.n, m.test_images.n), (5_000, 1_000));
    assert_eq!((m.train_images.rows, m.train_images.cols), (28, 28));
    assert!(m.train_labels.iter().chain(&m.test_labels).all(|&y| y < 10));
    // Every class is present, so a model trained on the subset sees them all.
    for class in 0..10 {
        assert!(m.train_labels.contains(&class), "class {class} missing");
    }
}

#[test]
fn full_set_loads_fast_and_starts_with_the_subset() {
    let dir = Path::new(SYSTEM_DIR);
    if !dir.exists() {
        eprintln!("skipped: {SYSTEM_DIR} not installed (Debian package dataset-fashion-mnist)");
        return;
    }
    let start = Instant::now();
    let full = load_mnist_dir(dir).unwrap();
    eprintln!("loaded the full Fashion-MNIST in {:?}", start.elapsed());
    assert_eq!((full.train_images.n, full.test_images.n), (60_000, 10_000));

    let subset = load_mnist_dir(&bundled_dir()).unwrap();
    let prefix = |data: &[u8], n: usize| data[..n].to_vec();
    assert_eq!(
        subset.train_images.data,
        prefix(&full.train_images.data, 5_000 * 784)
    );
    assert_eq!(subset.train_labels, prefix(&full.train_labels, 5_000));
    assert_eq!(
        subset.test_images.data,
        prefix(&full.test_images.data, 1_000 * 784)
    );
    assert_eq!(subset.test_labels, prefix(&full.test_labels, 1_000));
}
