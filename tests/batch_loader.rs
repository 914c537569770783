//! The prefetching BatchLoader: the same batches as the single-threaded loaders for the
//! same seed whatever the worker count, seeded augmentation, lazy sources, errors, and
//! background work that overlaps with the consumer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use graft::data::transform::{Compose, RandomCrop, RandomHorizontalFlip, RandomRotation};
use graft::data::{
    BatchLoader, DataError, DataLoader, InMemory, SampleSource, Target, Targets, TensorDataset,
};
use graft::tensor::Tensor;

/// `n` 1x4x4 images whose pixels encode their index, classes `i % 3`.
fn images(n: usize) -> TensorDataset {
    let x: Vec<f32> = (0..n * 16)
        .map(|v| (v / 16) as f32 + (v % 16) as f32 / 16.0)
        .collect();
    let y: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
    TensorDataset::new(
        Tensor::from_vec(x, &[n, 1, 4, 4]),
        Targets::Classes(Tensor::from_vec(y, &[n])),
    )
    .unwrap()
}

fn classes(t: &Targets) -> Vec<i64> {
    match t {
        Targets::Classes(c) => c.to_vec(),
        Targets::Values(_) => panic!("classes expected"),
    }
}

fn augment() -> Compose {
    Compose::new()
        .then(RandomCrop::new(1))
        .then(RandomHorizontalFlip::new(0.5))
        .then(RandomRotation::new(15.0))
}

/// All batches of `epoch` as (inputs, classes).
fn collect(loader: &BatchLoader<InMemory>, epoch: usize) -> Vec<(Vec<f32>, Vec<i64>)> {
    loader
        .epoch(epoch)
        .map(|b| {
            let b = b.unwrap();
            (b.float_inputs().to_vec(), classes(&b.targets))
        })
        .collect()
}

#[test]
fn matches_the_single_threaded_data_loader() {
    let data = images(23);
    let old = DataLoader::new(&data, 5).shuffled(9);
    let new = BatchLoader::new(Arc::new(InMemory::new(&data)), 5)
        .shuffled(9)
        .workers(3, 2);
    assert_eq!(new.num_batches(), old.num_batches());
    for epoch in 0..2 {
        let a: Vec<_> = old
            .epoch(epoch)
            .map(|b| (b.float_inputs().to_vec(), classes(&b.targets)))
            .collect();
        assert_eq!(collect(&new, epoch), a, "epoch {epoch}");
    }
}

#[test]
fn augmented_batches_do_not_depend_on_the_worker_count() {
    let data = Arc::new(InMemory::new(&images(37)));
    let make = |workers| {
        BatchLoader::new(Arc::clone(&data), 4)
            .shuffled(3)
            .drop_last(true)
            .transform(augment())
            .workers(workers, 1)
    };
    let reference = collect(&make(0), 1);
    assert_eq!(reference.len(), 9);
    for workers in [1, 2, 5, 16] {
        assert_eq!(collect(&make(workers), 1), reference, "{workers} workers");
    }
    // Augmentation changed the pixels, and differs between epochs.
    let plain = collect(
        &BatchLoader::new(Arc::clone(&data), 4)
            .shuffled(3)
            .drop_last(true),
        1,
    );
    assert_ne!(plain, reference);
    assert_eq!(
        plain.iter().map(|b| &b.1).collect::<Vec<_>>(),
        reference.iter().map(|b| &b.1).collect::<Vec<_>>()
    );
    assert_ne!(collect(&make(2), 2), reference);
}

/// A lazy source that sleeps per example (like a slow disk) and fails at `bad`.
struct Slow {
    n: usize,
    delay: Duration,
    bad: Option<usize>,
}

impl SampleSource for Slow {
    fn len(&self) -> usize {
        self.n
    }
    fn sample_shape(&self) -> &[usize] {
        &[2]
    }
    fn read_input(&self, i: usize, out: &mut [f32]) -> Result<(), DataError> {
        std::thread::sleep(self.delay);
        if Some(i) == self.bad {
            return Err(DataError::invalid(format!("example-{i}.png"), "corrupt"));
        }
        out.copy_from_slice(&[i as f32, -(i as f32)]);
        Ok(())
    }
    fn target(&self, i: usize) -> Result<Target, DataError> {
        Ok(Target::Values(vec![i as f32 * 0.5]))
    }
}

#[test]
fn workers_overlap_slow_reads() {
    let source = Arc::new(Slow {
        n: 48,
        delay: Duration::from_millis(3),
        bad: None,
    });
    let time = |workers| {
        let loader = BatchLoader::new(Arc::clone(&source), 4).workers(workers, 2);
        let started = Instant::now();
        let batches: Vec<_> = loader.epoch(0).map(|b| b.unwrap()).collect();
        (started.elapsed(), batches)
    };
    let (serial, a) = time(0);
    let (parallel, b) = time(4);
    assert_eq!(a.len(), 12);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.float_inputs().to_vec(), y.float_inputs().to_vec());
        match (&x.targets, &y.targets) {
            (Targets::Values(p), Targets::Values(q)) => {
                assert_eq!(p.shape(), &[4]);
                assert_eq!(p.to_vec(), q.to_vec());
            }
            _ => panic!("values expected"),
        }
    }
    // 48 sleeps of 3 ms: about 144 ms in series, about a quarter of it on 4 workers.
    assert!(parallel < serial.mul_f64(0.6), "{parallel:?} vs {serial:?}");
}

#[test]
fn a_read_error_is_yielded_and_ends_the_epoch() {
    for workers in [0, 3] {
        let source = Arc::new(Slow {
            n: 20,
            delay: Duration::ZERO,
            bad: Some(9),
        });
        let loader = BatchLoader::new(source, 4).workers(workers, 1);
        let items: Vec<_> = loader.epoch(0).collect();
        assert_eq!(items.len(), 3, "{workers} workers");
        assert!(items[..2].iter().all(|b| b.is_ok()));
        let e = items[2].as_ref().err().unwrap().to_string();
        assert_eq!(e, "example-9.png: corrupt");
    }
}

#[test]
fn dropping_an_epoch_early_stops_its_workers() {
    let source = Arc::new(Slow {
        n: 400,
        delay: Duration::from_micros(200),
        bad: None,
    });
    let loader = BatchLoader::new(source, 2).workers(4, 1);
    let started = Instant::now();
    let first: Vec<_> = loader.epoch(0).take(3).collect();
    assert_eq!(first.len(), 3);
    // Finishing all 200 batches would take 80 ms of sleeps; the drop joins promptly.
    assert!(
        started.elapsed() < Duration::from_millis(70),
        "{:?}",
        started.elapsed()
    );
}
