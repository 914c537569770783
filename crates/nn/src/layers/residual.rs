//! Residual connections: the `Residual` combinator and ResNet's `BasicBlock`, an example of
//! a custom module made of other modules.

use graft_autograd::Var;
use graft_tensor::Float;
use rand::Rng;

use crate::functional::Conv2dOptions;
use crate::module::{Module, Visitor};
use crate::{BatchNorm, Conv2d, Sequential};

/// `x + f(x)` for a module `f` whose output has the input's shape.
///
/// `f`'s parameters keep their own names (a `Residual(Linear)` at position 0 of a
/// Sequential holds `0.weight`): the wrapper adds no level to the state dict, as a
/// PyTorch model that adds the skip inside its `forward` would not.
pub struct Residual<M> {
    /// The residual branch.
    pub inner: M,
}

impl<M> Residual<M> {
    /// Wraps `inner` in a skip connection.
    pub fn new(inner: M) -> Self {
        Residual { inner }
    }
}

impl<T: Float, M: Module<T>> Module<T> for Residual<M> {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        let y = self.inner.forward(x);
        x.try_add(&y)
            .unwrap_or_else(|e| panic!("Residual: the branch must keep the input's shape: {e}"))
    }

    fn visit(&self, v: &mut dyn Visitor<T>) {
        self.inner.visit(v);
    }

    // The branch is visited in place rather than as a child, so its own mode is set here.
    fn set_own_training(&self, training: bool) {
        self.inner.set_own_training(training);
    }
}

/// ResNet's basic block (He et al. 2016; torchvision's `BasicBlock`): 3x3 conv (stride
/// `s`) - BatchNorm - ReLU - 3x3 conv - BatchNorm, plus the shortcut, then ReLU. The
/// shortcut is the identity when the shape is kept, else a 1x1 conv (stride `s`) and
/// BatchNorm. Names match torchvision: `conv1`, `bn1`, `conv2`, `bn2`, `downsample.0`,
/// `downsample.1`, so its state dicts load as they are.
pub struct BasicBlock<T: Float = f32> {
    /// First 3x3 convolution (carries the stride), no bias.
    pub conv1: Conv2d<T>,
    /// BatchNorm after `conv1`.
    pub bn1: BatchNorm<T>,
    /// Second 3x3 convolution, no bias.
    pub conv2: Conv2d<T>,
    /// BatchNorm after `conv2`.
    pub bn2: BatchNorm<T>,
    /// 1x1 projection (conv, BatchNorm) when the channels or the size change.
    pub downsample: Option<Sequential<T>>,
}

impl<T: Float> BasicBlock<T> {
    /// A block from `in_channels` to `out_channels` channels that divides the spatial size
    /// by `stride`, with PyTorch's default init.
    pub fn new(in_channels: usize, out_channels: usize, stride: usize, rng: &mut impl Rng) -> Self {
        let conv = |cin, stride, kernel: usize, rng: &mut _| {
            let pad = kernel / 2;
            let options = Conv2dOptions {
                stride: [stride, stride],
                padding: [pad, pad],
                ..Default::default()
            };
            Conv2d::with_options(cin, out_channels, [kernel, kernel], options, false, rng)
        };
        let conv1 = conv(in_channels, stride, 3, rng);
        let conv2 = conv(out_channels, 1, 3, rng);
        let downsample = (stride != 1 || in_channels != out_channels).then(|| {
            Sequential::new()
                .add(conv(in_channels, stride, 1, rng))
                .add(BatchNorm::new(out_channels))
        });
        BasicBlock {
            conv1,
            bn1: BatchNorm::new(out_channels),
            conv2,
            bn2: BatchNorm::new(out_channels),
            downsample,
        }
    }
}

impl<T: Float> Module<T> for BasicBlock<T> {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        let h = self.bn1.forward(&self.conv1.forward(x)).relu();
        let h = self.bn2.forward(&self.conv2.forward(&h));
        let shortcut = match &self.downsample {
            Some(d) => d.forward(x),
            None => x.clone(),
        };
        (&h + &shortcut).relu()
    }

    fn visit(&self, v: &mut dyn Visitor<T>) {
        v.child("conv1", &self.conv1);
        v.child("bn1", &self.bn1);
        v.child("conv2", &self.conv2);
        v.child("bn2", &self.bn2);
        if let Some(d) = &self.downsample {
            v.child("downsample", d);
        }
    }
}
