//! BatchNorm as PyTorch behaves (one value per channel in training is an error; the batch
//! counter moves whenever the running statistics do), typed inputs (`Input`), layer errors
//! that name the layer, and saving/restoring training modes.

use graft_autograd::{no_grad, Var};
use graft_nn::{
    BatchNorm1d, Dropout, Embedding, Input, Linear, Module, Relu, Sequential, TrainingModes,
};
use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

#[test]
fn batchnorm_refuses_one_value_per_channel_in_training() {
    let bn = BatchNorm1d::<f32>::new(3);
    for shape in [&[1, 3][..], &[1, 3, 1]] {
        let x = Var::new(Tensor::ones(shape));
        let err = bn.try_forward(&x).unwrap_err().to_string();
        assert!(
            err.contains("expected more than 1 value per channel when training"),
            "{err}"
        );
    }
    assert_eq!(bn.num_batches_tracked.value().item(), 0.0);
    assert_eq!(
        bn.running_mean.value().to_vec(),
        vec![0.0; 3],
        "nothing updated"
    );
    // Two values per channel train; evaluation takes a single example.
    assert!(bn.try_forward(&Var::new(Tensor::ones(&[1, 3, 2]))).is_ok());
    bn.eval();
    assert!(bn.try_forward(&Var::new(Tensor::ones(&[1, 3]))).is_ok());
}

#[test]
fn num_batches_tracked_moves_with_the_running_stats_even_without_grad() {
    let bn = BatchNorm1d::<f32>::new(2);
    let x = Var::new(Tensor::from_vec(vec![1.0, 2.0, 3.0, 6.0], &[2, 2]));
    bn.forward(&x);
    no_grad(|| bn.forward(&x));
    assert_eq!(bn.num_batches_tracked.value().item(), 2.0);
    // Mean 2 and 4 per channel, momentum 0.1, twice: 0.19 of the batch mean.
    let rm = bn.running_mean.value().to_vec();
    assert!(
        (rm[0] - 0.38).abs() < 1e-6 && (rm[1] - 0.76).abs() < 1e-6,
        "{rm:?}"
    );
    bn.eval();
    bn.forward(&x);
    assert_eq!(
        bn.num_batches_tracked.value().item(),
        2.0,
        "eval mode tracks nothing"
    );
}

#[test]
fn sequential_errors_name_the_layer_and_index_inputs_reach_an_embedding() {
    let mut rng = StdRng::seed_from_u64(0);
    let model = Sequential::new()
        .add(Linear::<f32>::new(4, 3, &mut rng))
        .add(Relu)
        .add(Linear::new(5, 2, &mut rng));
    let err = model
        .try_forward(&Var::new(Tensor::zeros(&[2, 4])))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("layer 2 (Linear): linear: input [2, 3]"),
        "{err}"
    );
    let err = model
        .forward_input(&Input::Index(Tensor::zeros(&[2, 4])))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("layer 0 (Linear)") && err.contains("index [2, 4]"),
        "{err}"
    );

    let emb = Embedding::<f32>::new(5, 2, None, &mut rng);
    let idx = Tensor::from_vec(vec![4i64, 0], &[2]);
    let via_input = emb.forward_input(&Input::from(&idx)).unwrap().value();
    assert_eq!(via_input.to_vec(), emb.lookup(&idx).value().to_vec());
    let bad = emb.forward_input(&Input::Index(Tensor::from_vec(vec![5i64], &[1])));
    assert!(
        bad.is_err(),
        "an out-of-range index is an error, not a panic"
    );
}

#[test]
fn training_modes_are_restored_module_by_module() {
    let model = Sequential::<f32>::new()
        .add(Dropout::new(0.5, 0))
        .add(BatchNorm1d::new(2))
        .add(Dropout::new(0.5, 1));
    model.train();
    model.get(1).unwrap().set_own_training(false);
    let saved = TrainingModes::of(&model);
    model.eval();
    saved.restore(&model);
    let modes: Vec<Option<bool>> = (0..3)
        .map(|i| model.get(i).unwrap().own_training())
        .collect();
    assert_eq!(modes, vec![Some(true), Some(false), Some(true)]);
}
