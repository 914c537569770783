//! 2-D convolution layer.

use graft_autograd::Var;
use graft_tensor::Float;
use rand::Rng;

use crate::functional::{conv2d, Conv2dOptions};
use crate::init::default_parameters;
use crate::module::{visit_weight_and_bias, Module, Visitor};

/// 2-D cross-correlation over NCHW input; weight `[out, in/groups, kh, kw]` as in PyTorch.
pub struct Conv2d<T: Float = f32> {
    /// `[out_channels, in_channels / groups, kh, kw]`.
    pub weight: Var<T>,
    /// `[out_channels]`, if the layer has a bias.
    pub bias: Option<Var<T>>,
    /// Stride, padding, dilation and groups.
    pub options: Conv2dOptions,
}

impl<T: Float> Conv2d<T> {
    /// A `kernel x kernel` convolution, stride 1, no padding, with PyTorch's default init.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, rng: &mut impl Rng) -> Self {
        Self::with_options(
            in_channels,
            out_channels,
            [kernel, kernel],
            Conv2dOptions::default(),
            true,
            rng,
        )
    }

    /// A convolution with every option spelled out.
    pub fn with_options(
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        options: Conv2dOptions,
        bias: bool,
        rng: &mut impl Rng,
    ) -> Self {
        let groups = options.groups.max(1);
        let shape = [out_channels, in_channels / groups, kernel[0], kernel[1]];
        let (weight, bias) = default_parameters(&shape, bias.then_some(out_channels), rng);
        Conv2d {
            weight,
            bias,
            options,
        }
    }

    /// A layer from given parameters.
    pub fn from_parameters(weight: Var<T>, bias: Option<Var<T>>, options: Conv2dOptions) -> Self {
        Conv2d {
            weight,
            bias,
            options,
        }
    }
}

impl<T: Float> Module<T> for Conv2d<T> {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        conv2d(x, &self.weight, self.bias.as_ref(), &self.options)
    }

    fn try_forward(&self, x: &Var<T>) -> graft_tensor::Result<Var<T>> {
        crate::functional::try_conv2d(x, &self.weight, self.bias.as_ref(), &self.options)
    }

    fn visit(&self, v: &mut dyn Visitor<T>) {
        visit_weight_and_bias(v, &self.weight, self.bias.as_ref());
    }
}
