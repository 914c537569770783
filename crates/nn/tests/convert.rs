//! A module copied into its f64 twin (`cast_into`), and `gradcheck_module` checking a
//! block's parameters and input in one call, catching a gradient that is wrong.

use graft_autograd::{GradcheckOptions, Var};
use graft_nn::{
    cast_into, gradcheck_module, BatchNorm1d, LayerNorm, Linear, Module, Sequential, Tanh, Visitor,
};
use graft_tensor::{Float, Tensor};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn block<T: Float>(seed: u64) -> Sequential<T> {
    let mut rng = StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(Linear::new(3, 4, &mut rng))
        .add(BatchNorm1d::new(4))
        .add(Tanh)
        .add(LayerNorm::new(&[4]))
        .add(Linear::new(4, 2, &mut rng))
}

#[test]
fn an_f32_model_copied_into_its_f64_twin_computes_the_same() {
    let m32 = block::<f32>(1);
    let m64 = block::<f64>(2);
    cast_into(&m32, &m64).unwrap();
    m32.eval();
    m64.eval();
    let x: Vec<f64> = (0..12).map(|i| (i as f64 * 0.37).sin()).collect();
    let y32 = m32.forward(&Var::new(Tensor::from_vec(
        x.iter().map(|&v| v as f32).collect(),
        &[4, 3],
    )));
    let y64 = m64.forward(&Var::new(Tensor::from_vec(x, &[4, 3])));
    for (a, b) in y32.value().to_vec().iter().zip(y64.value().to_vec()) {
        assert!((*a as f64 - b).abs() < 1e-5, "{a} vs {b}");
    }
    // A different structure is refused, naming what does not match.
    let mut rng = StdRng::seed_from_u64(0);
    let other = Sequential::<f64>::new().add(Linear::new(3, 5, &mut rng));
    let err = cast_into(&m32, &other).unwrap_err().to_string();
    assert!(err.contains("0.weight"), "{err}");
}

#[test]
fn gradcheck_module_passes_a_correct_block_in_training_mode() {
    let m = block::<f64>(3);
    let x = Tensor::from_vec((0..15).map(|i| (i as f64 * 0.61).cos()).collect(), &[5, 3]);
    gradcheck_module(&m, &x, &GradcheckOptions::default()).unwrap();
}

/// A layer whose author detached the weight by mistake: its gradient never reaches it.
struct Detached(Linear<f64>);

impl Module<f64> for Detached {
    fn forward(&self, x: &Var<f64>) -> Var<f64> {
        graft_nn::functional::linear(x, &self.0.weight.detach(), self.0.bias.as_ref())
    }

    fn visit(&self, v: &mut dyn Visitor<f64>) {
        v.child("fc", &self.0);
    }
}

#[test]
fn gradcheck_module_names_the_parameter_whose_gradient_is_wrong() {
    let mut rng = StdRng::seed_from_u64(4);
    let m = Detached(Linear::new(3, 2, &mut rng));
    let x = Tensor::from_vec(vec![0.5, -1.0, 2.0, 1.5, 0.25, -0.75], &[2, 3]);
    let err = gradcheck_module(&m, &x, &GradcheckOptions::default()).unwrap_err();
    assert!(
        err.starts_with("gradcheck_module: fc.weight element 0"),
        "{err}"
    );
}
