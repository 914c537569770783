//! The Module contract: PyTorch names under nesting, buffers, train/eval, zero_grad,
//! parameter counts, seeded dropout, and a custom model struct.

use graft_autograd::Var;
use graft_nn::{
    BatchNorm1d, Conv2d, Dropout, Embedding, Flatten, LayerNorm, Linear, MaxPool2d, Module, Relu,
    Sequential, Visitor,
};
use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn rng() -> StdRng {
    StdRng::seed_from_u64(0)
}

#[test]
fn sequential_names_match_pytorch_and_nest() {
    let mut rng = rng();
    let inner = Sequential::new()
        .add(Linear::new(4, 3, &mut rng))
        .add(Relu)
        .add(BatchNorm1d::new(3));
    let model = Sequential::new()
        .add(inner)
        .add(Linear::<f32>::no_bias(3, 2, &mut rng));
    let names: Vec<String> = model
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        [
            "0.0.weight",
            "0.0.bias",
            "0.2.weight",
            "0.2.bias",
            "1.weight"
        ]
    );
    let buffers: Vec<String> = model.named_buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        buffers,
        [
            "0.2.running_mean",
            "0.2.running_var",
            "0.2.num_batches_tracked"
        ]
    );
    assert_eq!(model.num_parameters(), 4 * 3 + 3 + 3 + 3 + 3 * 2);
}

#[test]
fn cnn_forward_shapes_and_zero_grad() {
    let mut rng = rng();
    let model = Sequential::<f32>::new()
        .add(Conv2d::new(1, 4, 3, &mut rng))
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Flatten::new())
        .add(Linear::new(4 * 13 * 13, 10, &mut rng));
    let x = Var::new(Tensor::uniform(&[2, 1, 28, 28], 0.0, 1.0, &mut rng));
    let y = model.forward(&x);
    assert_eq!(y.shape(), &[2, 10]);
    y.sum().backward().unwrap();
    assert!(model.parameters().iter().all(|p| p.grad().is_some()));
    model.zero_grad();
    assert!(model.parameters().iter().all(|p| p.grad().is_none()));
}

#[test]
fn train_and_eval_switch_dropout_and_batchnorm_in_children() {
    let model = Sequential::<f64>::new()
        .add(Dropout::new(0.5, 1))
        .add(BatchNorm1d::new(3));
    let x = Var::new(Tensor::uniform(&[8, 3], -1.0, 1.0, &mut rng()));
    model.eval();
    let y = model.forward(&x);
    // Eval: dropout is the identity and batchnorm uses running stats (0 mean, 1 var).
    let expected = x.value().div_scalar((1.0f64 + 1e-5).sqrt());
    assert!(y.value().allclose(&expected, 1e-12, 1e-12));
    model.train();
    let a = model.forward(&x).value();
    assert!(!a.allclose(&y.value(), 1e-6, 1e-6));
}

#[test]
fn dropout_is_seeded_and_scales_kept_values() {
    let x = Var::new(Tensor::<f64>::ones(&[1000]));
    let a = Dropout::new(0.3, 42).forward(&x).value().to_vec();
    let b = Dropout::new(0.3, 42).forward(&x).value().to_vec();
    assert_eq!(a, b);
    let kept = a.iter().filter(|v| **v != 0.0).count();
    assert!((650..750).contains(&kept), "kept {kept}");
    assert!(a
        .iter()
        .all(|v| *v == 0.0 || (*v - 1.0 / 0.7).abs() < 1e-12));
}

#[test]
fn embedding_padding_row_gets_no_gradient() {
    let emb = Embedding::<f64>::new(5, 2, Some(0), &mut rng());
    assert_eq!(&emb.weight.value().to_vec()[..2], &[0.0, 0.0]);
    let out = emb.lookup(&Tensor::from_vec(vec![0, 3, 0], &[3]));
    assert_eq!(out.shape(), &[3, 2]);
    out.sum().backward().unwrap();
    let g = emb.weight.grad().unwrap().to_vec();
    assert_eq!(&g[..2], &[0.0, 0.0]);
    assert_eq!(&g[6..8], &[1.0, 1.0]);
}

/// A user's model: a struct of layers, with its own forward.
struct Classifier {
    features: Sequential<f64>,
    norm: LayerNorm<f64>,
    head: Linear<f64>,
}

impl Module<f64> for Classifier {
    fn forward(&self, x: &Var<f64>) -> Var<f64> {
        self.head
            .forward(&self.norm.forward(&self.features.forward(x)))
    }
    fn visit(&self, v: &mut dyn Visitor<f64>) {
        v.child("features", &self.features);
        v.child("norm", &self.norm);
        v.child("head", &self.head);
    }
}

#[test]
fn a_custom_model_struct_gets_names_and_gradients() {
    let mut rng = rng();
    let model = Classifier {
        features: Sequential::new().add(Linear::new(3, 4, &mut rng)).add(Relu),
        norm: LayerNorm::new(&[4]),
        head: Linear::new(4, 2, &mut rng),
    };
    let names: Vec<String> = model
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        [
            "features.0.weight",
            "features.0.bias",
            "norm.weight",
            "norm.bias",
            "head.weight",
            "head.bias"
        ]
    );
    let x = Var::new(Tensor::uniform(&[5, 3], -1.0, 1.0, &mut rng));
    model.forward(&x).square().mean().backward().unwrap();
    assert_eq!(
        model
            .parameters()
            .iter()
            .filter(|p| p.grad().is_some())
            .count(),
        6
    );
}

#[test]
fn default_init_matches_pytorch_bounds() {
    let lin = Linear::<f64>::new(100, 50, &mut rng());
    let bound = 1.0 / 10.0;
    assert!(lin.weight.value().to_vec().iter().all(|w| w.abs() <= bound));
    let max = lin.weight.value().abs().max().item();
    assert!(max > 0.9 * bound, "uniform over the whole range, max {max}");
}
