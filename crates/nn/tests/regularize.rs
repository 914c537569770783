//! L1/L2 penalties: values, gradients, parameter selection by name, parameter-set forms,
//! and use next to a loss (`&loss + &l2(&model, coef)`).

use graft_autograd::Var;
use graft_nn::loss::{mse_loss, Reduction};
use graft_nn::regularize::{l1, l1_filtered, l1_penalty, l2, l2_filtered, l2_penalty, not_bias};
use graft_nn::{Module, Visitor};
use graft_tensor::{Float, Tensor};

/// `x Wᵀ + b`, written here so the tests do not depend on the layer code.
struct Affine<T: Float> {
    weight: Var<T>,
    bias: Var<T>,
}

impl<T: Float> Module<T> for Affine<T> {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        &x.matmul(&self.weight.t()) + &self.bias
    }
    fn visit(&self, v: &mut dyn Visitor<T>) {
        v.parameter("weight", &self.weight);
        v.parameter("bias", &self.bias);
    }
}

/// Two affine layers and a buffer: parameters `fc1.weight`, `fc1.bias`, `out.weight`,
/// `out.bias`, and a buffer `scale` that no penalty may touch.
struct Net<T: Float> {
    fc1: Affine<T>,
    out: Affine<T>,
    scale: Var<T>,
}

impl<T: Float> Module<T> for Net<T> {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        self.out.forward(&self.fc1.forward(x).tanh()) * &self.scale
    }
    fn visit(&self, v: &mut dyn Visitor<T>) {
        v.child("fc1", &self.fc1);
        v.child("out", &self.out);
        v.buffer("scale", &self.scale);
    }
}

fn net<T: Float>() -> Net<T> {
    let p = |v: &[f64], shape: &[usize]| {
        Var::parameter(Tensor::from_vec(
            v.iter().map(|&x| T::from_f64(x)).collect(),
            shape,
        ))
    };
    Net {
        fc1: Affine {
            weight: p(&[0.5, -1.0, 0.0, 2.0, 1.5, -0.25], &[3, 2]),
            bias: p(&[0.1, -0.2, 0.3], &[3]),
        },
        out: Affine {
            weight: p(&[1.0, -0.5, 0.75], &[1, 3]),
            bias: p(&[-4.0], &[1]),
        },
        scale: Var::new(Tensor::from_vec(vec![T::from_f64(10.0)], &[1])),
    }
}

fn sum_sq(vals: &[f64]) -> f64 {
    vals.iter().map(|v| v * v).sum()
}

fn sum_abs(vals: &[f64]) -> f64 {
    vals.iter().map(|v| v.abs()).sum()
}

const W1: [f64; 6] = [0.5, -1.0, 0.0, 2.0, 1.5, -0.25];
const B1: [f64; 3] = [0.1, -0.2, 0.3];
const W2: [f64; 3] = [1.0, -0.5, 0.75];
const B2: [f64; 1] = [-4.0];

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * (1.0 + b.abs())
}

#[test]
fn l2_and_l1_over_a_module_cover_every_parameter_and_no_buffer() {
    let m = net::<f64>();
    let all: Vec<f64> = [&W1[..], &B1, &W2, &B2].concat();
    let p2 = l2(&m, 0.01);
    assert_eq!(p2.shape(), &[] as &[usize]);
    assert!(close(p2.item(), 0.01 * sum_sq(&all)), "{}", p2.item());
    assert!(close(l1(&m, 0.1).item(), 0.1 * sum_abs(&all)));
}

#[test]
fn filtered_penalties_select_by_name() {
    let m = net::<f64>();
    let weights: Vec<f64> = [&W1[..], &W2].concat();
    assert!(close(
        l2_filtered(&m, 0.5, not_bias).item(),
        0.5 * sum_sq(&weights)
    ));
    assert!(close(
        l1_filtered(&m, 0.5, not_bias).item(),
        0.5 * sum_abs(&weights)
    ));
    let first_layer = l2_filtered(&m, 1.0, |name| name.starts_with("fc1."));
    assert!(close(first_layer.item(), sum_sq(&[&W1[..], &B1].concat())));
    let none = l2_filtered(&m, 1.0, |_| false);
    assert_eq!(none.item(), 0.0);
    assert!(!none.needs_grad());
}

#[test]
fn not_bias_keeps_weights_and_drops_biases_by_last_segment() {
    assert!(!not_bias("bias"));
    assert!(!not_bias("fc1.bias"));
    assert!(!not_bias("0.bias"));
    assert!(not_bias("weight"));
    assert!(not_bias("0.weight"));
    assert!(not_bias("bias_net.weight"));
    assert!(not_bias("fc.bias_hh"));
}

#[test]
fn penalty_gradients_are_2_coef_p_and_coef_sign_p() {
    let m = net::<f64>();
    let coef = 0.3;
    (l2_filtered(&m, coef, not_bias) + l1(&m, 0.1))
        .backward()
        .unwrap();
    let sign = |v: f64| {
        if v > 0.0 {
            1.0
        } else if v < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    let g = m.fc1.weight.grad().unwrap().to_vec();
    for (i, w) in W1.iter().enumerate() {
        assert!(
            close(g[i], 2.0 * coef * w + 0.1 * sign(*w)),
            "weight {i}: {}",
            g[i]
        );
    }
    let gb = m.fc1.bias.grad().unwrap().to_vec();
    for (i, b) in B1.iter().enumerate() {
        assert!(close(gb[i], 0.1 * sign(*b)), "bias {i}: {}", gb[i]);
    }
    assert!(m.scale.grad().is_none(), "buffers get no gradient");
}

#[test]
fn penalties_add_to_a_loss_and_flow_into_backward() {
    let m = net::<f64>();
    let x = Var::new(Tensor::from_vec(vec![0.2, -0.4, 1.0, 0.5], &[2, 2]));
    let y = Var::new(Tensor::from_vec(vec![1.0, -1.0], &[2, 1]));
    let data = mse_loss(&m.forward(&x), &y, Reduction::Mean);
    data.backward().unwrap();
    let data_grad = m.out.weight.grad().unwrap().to_vec();
    m.zero_grad();
    let total = &data + &l2(&m, 1e-2);
    total.backward().unwrap();
    let g = m.out.weight.grad().unwrap().to_vec();
    for i in 0..3 {
        assert!(close(g[i], data_grad[i] + 2.0 * 1e-2 * W2[i]));
    }
}

#[test]
fn parameter_set_forms_accept_slices_vecs_and_references() {
    let a = Var::parameter(Tensor::from_vec(vec![1.0f64, -2.0], &[2]));
    let b = Var::parameter(Tensor::from_vec(vec![3.0f64], &[1]));
    let expected = 0.5 * (1.0 + 4.0 + 9.0);
    assert!(close(l2_penalty([&a, &b], 0.5).item(), expected));
    assert!(close(
        l2_penalty(vec![a.clone(), b.clone()], 0.5).item(),
        expected
    ));
    assert!(close(
        l2_penalty(&[a.clone(), b.clone()], 0.5).item(),
        expected
    ));
    assert!(close(l1_penalty([&a, &b], 2.0).item(), 12.0));
    let empty: Vec<Var<f64>> = Vec::new();
    assert_eq!(l1_penalty(empty, 1.0).item(), 0.0);
}

#[test]
fn penalties_infer_f32_from_the_module() {
    let m = net::<f32>();
    let x = Var::new(Tensor::from_vec(vec![0.2f32, -0.4], &[1, 2]));
    let loss = m.forward(&x).square().sum();
    let total = &loss + &l2(&m, 1e-4);
    total.backward().unwrap();
    assert!(m.fc1.weight.grad().is_some());
    let p: f32 = l1_filtered(&m, 1.0, not_bias).item();
    assert!((p - sum_abs(&[&W1[..], &W2].concat()) as f32).abs() < 1e-5);
}
