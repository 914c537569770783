//! `backward` twice on one graph accumulates a second time (PyTorch's `retain_graph=True`
//! behaviour), as `Var::backward` documents.

use graft_autograd::Var;
use graft_tensor::Tensor;

#[test]
fn a_second_backward_accumulates_the_same_gradient_again() {
    let w = Var::parameter(Tensor::from_vec(vec![1.0f64, -2.0], &[2]));
    let y = (&w * &w).sum(); // dy/dw = 2w
    y.backward().unwrap();
    assert_eq!(w.grad().unwrap().to_vec(), vec![2.0, -4.0]);
    y.backward().unwrap();
    assert_eq!(w.grad().unwrap().to_vec(), vec![4.0, -8.0]);
    w.zero_grad();
    y.backward().unwrap();
    assert_eq!(w.grad().unwrap().to_vec(), vec![2.0, -4.0]);
}
