//! Matmul's gradient for a weight against a wide row-major operand (a convolution's
//! `[O, C*kh*kw] @ [C*kh*kw, N*L]`), which the rule computes as a transposed product:
//! same values as `g @ b^T`, first and second derivatives checked numerically.

use graft_autograd::{gradcheck, gradgradcheck, GradcheckOptions, Var};
use graft_tensor::Tensor;

fn filled(shape: &[usize], seed: usize) -> Tensor<f64> {
    let n: usize = shape.iter().product();
    let v = (0..n)
        .map(|i| (((i + seed) * 7919) % 101) as f64 / 50.0 - 1.0)
        .collect();
    Tensor::from_vec(v, shape)
}

#[test]
fn weight_gradient_against_a_wide_operand_matches_g_times_b_transposed() {
    // k = 6 >= 2m, n = 30 >= 4k: the transposed form is taken.
    let (a, b) = (filled(&[2, 6], 1), filled(&[6, 30], 2));
    let g = filled(&[2, 30], 3);
    let av = Var::parameter(a.clone());
    let bv = Var::parameter(b.clone());
    let out = av.matmul(&bv);
    (&out * &Var::new(g.clone())).sum().backward().unwrap();
    let expected_a = g.matmul(&b.t());
    let expected_b = a.t().matmul(&g);
    let close = |x: &Tensor<f64>, y: &Tensor<f64>| {
        assert_eq!(x.shape(), y.shape());
        for (p, q) in x.to_vec().iter().zip(y.to_vec()) {
            assert!((p - q).abs() < 1e-12, "{p} vs {q}");
        }
    };
    close(&av.grad().unwrap(), &expected_a);
    close(&bv.grad().unwrap(), &expected_b);
}

#[test]
fn weight_gradient_against_a_wide_operand_passes_gradcheck_and_gradgradcheck() {
    let f = |v: &[Var<f64>]| v[0].matmul(&v[1]).tanh();
    let inputs = [filled(&[2, 6], 4), filled(&[6, 30], 5)];
    let opts = GradcheckOptions::default();
    gradcheck(f, &inputs, &opts).unwrap();
    gradgradcheck(f, &inputs, &opts).unwrap();
}
