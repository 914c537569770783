//! 2-D convolution as a primitive, with its two gradients as primitives of their own: the
//! three are linear maps, each the adjoint of another in one argument, so every rule is
//! written with the other two and can be differentiated again.
//!
//! (A convolution composed of unfold and matmul is the same function; as one op it runs
//! image by image in cache: see `Tensor::try_conv2d`.)

use graft_tensor::{Float, Tensor, TensorError, Window2d};

use crate::graph::Op;
use crate::var::Var;

type Grads<T> = Vec<Option<Var<T>>>;

/// `[H, W]` of an `[N, C, H, W]` input: what its gradient's transposed convolution restores.
fn image_size<T: Float>(input: &Var<T>) -> [usize; 2] {
    [input.shape()[2], input.shape()[3]]
}

/// `conv2d(x, w)` or `conv2d(x, w, b)`: `[N, C, H, W]`, `[O, C, kh, kw]` and `[O]` to
/// `[N, O, oh, ow]` (the bias added per output channel).
pub(crate) struct Conv2d {
    pub(crate) window: Window2d,
}
impl<T: Float> Op<T> for Conv2d {
    fn name(&self) -> &'static str {
        "conv2d"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        x[0].try_conv2d(&x[1], x.get(2), &self.window)
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        let (input, weight) = (&x[0], &x[1]);
        let size = image_size(input);
        let mut grads = vec![
            input
                .needs_grad()
                .then(|| g.conv2d_input_grad(weight, &self.window, size)),
            weight
                .needs_grad()
                .then(|| input.conv2d_weight_grad(g, &self.window)),
        ];
        if let Some(bias) = x.get(2) {
            grads.push(bias.needs_grad().then(|| g.sum_dims(&[0, 2, 3], false)));
        }
        grads
    }
}

/// `conv2d_input_grad(g, w)`: the adjoint of `conv2d(., w)`, `[N, O, oh, ow]` to
/// `[N, C, H, W]`. For `gg` against its output: `<gg, A_w^T g> = <A_w gg, g>`, so g's
/// gradient is `conv2d(gg, w)` and w's is `conv2d_weight_grad(gg, g)`.
pub(crate) struct Conv2dInputGrad {
    pub(crate) window: Window2d,
    pub(crate) size: [usize; 2],
}
impl<T: Float> Op<T> for Conv2dInputGrad {
    fn name(&self) -> &'static str {
        "conv2d_input_grad"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        x[0].try_conv2d_input_grad(&x[1], &self.window, self.size)
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, gg: &Var<T>) -> Grads<T> {
        let (g, weight) = (&x[0], &x[1]);
        vec![
            g.needs_grad()
                .then(|| gg.conv2d(weight, None, &self.window)),
            weight
                .needs_grad()
                .then(|| gg.conv2d_weight_grad(g, &self.window)),
        ]
    }
}

/// `conv2d_weight_grad(x, g)`: `[O, C, kh, kw]`, bilinear in the input and the output's
/// gradient. For `gw` against it: `<gw, dW(x, g)> = <conv2d(x, gw), g>`, so x's gradient is
/// `conv2d_input_grad(g, gw)` and g's is `conv2d(x, gw)`.
pub(crate) struct Conv2dWeightGrad {
    pub(crate) window: Window2d,
}
impl<T: Float> Op<T> for Conv2dWeightGrad {
    fn name(&self) -> &'static str {
        "conv2d_weight_grad"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        x[0].try_conv2d_weight_grad(&x[1], &self.window)
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, gw: &Var<T>) -> Grads<T> {
        let (input, g) = (&x[0], &x[1]);
        let size = image_size(input);
        vec![
            input
                .needs_grad()
                .then(|| g.conv2d_input_grad(gw, &self.window, size)),
            g.needs_grad().then(|| input.conv2d(gw, None, &self.window)),
        ]
    }
}
