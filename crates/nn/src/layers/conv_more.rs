//! 1-D convolution and 2-D transposed convolution layers, with PyTorch's parameter names,
//! layouts and default initialisation.

use graft_autograd::Var;
use graft_tensor::Float;
use rand::Rng;

use crate::functional::{conv1d, conv_transpose2d, Conv1dOptions, ConvTranspose2dOptions};
use crate::init::default_parameters;
use crate::module::{visit_weight_and_bias, Module, Visitor};

/// 1-D cross-correlation over `[N, C, L]` input; weight `[out, in/groups, k]` as in PyTorch.
pub struct Conv1d<T: Float = f32> {
    /// `[out_channels, in_channels / groups, k]`.
    pub weight: Var<T>,
    /// `[out_channels]`, if the layer has a bias.
    pub bias: Option<Var<T>>,
    /// Stride, padding, dilation and groups.
    pub options: Conv1dOptions,
}

impl<T: Float> Conv1d<T> {
    /// A width-`kernel` convolution, stride 1, no padding, with PyTorch's default init.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, rng: &mut impl Rng) -> Self {
        Self::with_options(
            in_channels,
            out_channels,
            kernel,
            Conv1dOptions::default(),
            true,
            rng,
        )
    }

    /// A convolution with every option spelled out. PyTorch's init: weight and bias
    /// U(-1/√fan_in, 1/√fan_in), fan_in = in_channels/groups · kernel.
    pub fn with_options(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        options: Conv1dOptions,
        bias: bool,
        rng: &mut impl Rng,
    ) -> Self {
        let shape = [out_channels, in_channels / options.groups.max(1), kernel];
        let (weight, bias) = default_parameters(&shape, bias.then_some(out_channels), rng);
        Conv1d {
            weight,
            bias,
            options,
        }
    }
}

impl<T: Float> Module<T> for Conv1d<T> {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        conv1d(x, &self.weight, self.bias.as_ref(), &self.options)
    }

    fn visit(&self, v: &mut dyn Visitor<T>) {
        visit_weight_and_bias(v, &self.weight, self.bias.as_ref());
    }
}

/// 2-D transposed convolution ("deconvolution") over NCHW input; weight
/// `[in, out/groups, kh, kw]`, PyTorch's transposed layout.
pub struct ConvTranspose2d<T: Float = f32> {
    /// `[in_channels, out_channels / groups, kh, kw]`.
    pub weight: Var<T>,
    /// `[out_channels]`, if the layer has a bias.
    pub bias: Option<Var<T>>,
    /// Stride, padding, output padding, dilation and groups.
    pub options: ConvTranspose2dOptions,
}

impl<T: Float> ConvTranspose2d<T> {
    /// A `kernel x kernel` transposed convolution with upsampling factor `stride`, no
    /// padding, with PyTorch's default init.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        rng: &mut impl Rng,
    ) -> Self {
        let options = ConvTranspose2dOptions {
            stride: [stride, stride],
            ..Default::default()
        };
        Self::with_options(
            in_channels,
            out_channels,
            [kernel, kernel],
            options,
            true,
            rng,
        )
    }

    /// A transposed convolution with every option spelled out. PyTorch's init computes the
    /// fan-in from the weight's dim 1, so it is `out_channels/groups · kh · kw` here.
    pub fn with_options(
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        options: ConvTranspose2dOptions,
        bias: bool,
        rng: &mut impl Rng,
    ) -> Self {
        let shape = [
            in_channels,
            out_channels / options.groups.max(1),
            kernel[0],
            kernel[1],
        ];
        let (weight, bias) = default_parameters(&shape, bias.then_some(out_channels), rng);
        ConvTranspose2d {
            weight,
            bias,
            options,
        }
    }
}

impl<T: Float> Module<T> for ConvTranspose2d<T> {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        conv_transpose2d(x, &self.weight, self.bias.as_ref(), &self.options)
    }

    fn visit(&self, v: &mut dyn Visitor<T>) {
        visit_weight_and_bias(v, &self.weight, self.bias.as_ref());
    }
}
