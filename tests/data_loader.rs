//! Datasets, splits and the DataLoader: batch sizes, drop_last, seeded shuffling with a new
//! permutation each epoch, Keras' validation split, random splits, scaling helpers.

use graft::data::{
    permutation, scale_u8, standardize, DataLoader, Dataset, Targets, TensorDataset,
};
use graft::tensor::Tensor;

/// Ten examples whose single input value is their own index.
fn numbered(n: usize) -> TensorDataset {
    let inputs = Tensor::from_vec((0..n).map(|i| i as f32).collect(), &[n, 1]);
    let targets = Targets::Classes(Tensor::from_vec((0..n as i64).collect(), &[n]));
    TensorDataset::new(inputs, targets).unwrap()
}

fn order(loader: &DataLoader<'_, TensorDataset>, epoch: usize) -> Vec<Vec<i64>> {
    loader
        .epoch(epoch)
        .map(|b| match b.targets {
            Targets::Classes(c) => c.to_vec(),
            Targets::Values(_) => unreachable!(),
        })
        .collect()
}

#[test]
fn batches_cover_the_data_in_order_with_a_short_last_batch() {
    let data = numbered(10);
    let loader = DataLoader::new(&data, 4);
    assert_eq!(loader.num_batches(), 3);
    assert_eq!(
        order(&loader, 0),
        vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
    );
    let batch = loader.epoch(0).next().unwrap();
    assert_eq!(batch.float_inputs().shape(), &[4, 1]);
    assert_eq!(batch.float_inputs().to_vec(), vec![0.0, 1.0, 2.0, 3.0]);
    let dropping = DataLoader::new(&data, 4).drop_last(true);
    assert_eq!(dropping.num_batches(), 2);
    assert_eq!(order(&dropping, 0).concat().len(), 8);
}

#[test]
fn shuffling_is_seeded_and_new_each_epoch() {
    let data = numbered(50);
    let a = DataLoader::new(&data, 7).shuffled(3);
    let b = DataLoader::new(&data, 7).shuffled(3);
    assert_eq!(
        order(&a, 0),
        order(&b, 0),
        "same seed, same epoch: same order"
    );
    assert_ne!(
        order(&a, 0),
        order(&a, 1),
        "each epoch gets its own permutation"
    );
    assert_ne!(
        order(&a, 0),
        order(&DataLoader::new(&data, 7).shuffled(4), 0)
    );
    let mut seen = order(&a, 1).concat();
    seen.sort();
    assert_eq!(
        seen,
        (0..50).collect::<Vec<i64>>(),
        "every example exactly once"
    );
    let mut p = permutation(20, 9);
    p.sort();
    assert_eq!(p, (0..20).collect::<Vec<usize>>());
}

#[test]
fn validation_split_takes_the_last_fraction_before_shuffling() {
    let data = numbered(10);
    let (train, val) = data.split_last(0.2);
    assert_eq!((train.len(), val.len()), (8, 2));
    assert_eq!(val.inputs.to_vec(), vec![8.0, 9.0]);
    assert!(
        val.inputs.shares_storage(&data.inputs),
        "the split is a view"
    );
}

#[test]
fn random_split_is_seeded_and_partitions_the_data() {
    let data = numbered(20);
    let parts = data.random_split(&[0.75, 0.25], 5);
    assert_eq!((parts[0].len(), parts[1].len()), (15, 5));
    let again = data.random_split(&[0.75, 0.25], 5);
    assert_eq!(parts[1].inputs.to_vec(), again[1].inputs.to_vec());
    let mut all: Vec<f32> = parts.iter().flat_map(|p| p.inputs.to_vec()).collect();
    all.sort_by(f32::total_cmp);
    assert_eq!(all, (0..20).map(|i| i as f32).collect::<Vec<_>>());
}

#[test]
fn mismatched_counts_and_scaling_helpers() {
    let err = TensorDataset::new(
        Tensor::zeros(&[3, 2]),
        Targets::Classes(Tensor::zeros(&[4])),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("[3, 2]") && err.to_string().contains('4'),
        "{err}"
    );
    let x = scale_u8(&[0, 51, 255], &[3]);
    assert_eq!(x.to_vec(), vec![0.0, 0.2, 1.0]);
    let (z, mean, std) = standardize(&Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[4]));
    assert!((mean - 2.5).abs() < 1e-6 && (std - 1.25f32.sqrt()).abs() < 1e-6);
    assert!(z.mean().item().abs() < 1e-6);
}
