//! Pooling and flattening layers (no parameters).

use graft_autograd::Var;
use graft_tensor::Float;

use crate::functional::{adaptive_avg_pool2d, avg_pool2d, max_pool2d};
use crate::module::Module;

/// Max over `kernel` windows; stride defaults to the kernel size, as in PyTorch.
#[derive(Clone, Copy, Debug)]
pub struct MaxPool2d {
    /// Window size `[h, w]`.
    pub kernel: [usize; 2],
    /// Step between windows.
    pub stride: [usize; 2],
    /// Implicit -inf padding on each side.
    pub padding: [usize; 2],
}

impl MaxPool2d {
    /// A `k x k` window with stride `k`.
    pub fn new(k: usize) -> Self {
        MaxPool2d {
            kernel: [k, k],
            stride: [k, k],
            padding: [0, 0],
        }
    }
}

impl<T: Float> Module<T> for MaxPool2d {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        max_pool2d(x, self.kernel, self.stride, self.padding)
    }

    fn try_forward(&self, x: &Var<T>) -> graft_tensor::Result<Var<T>> {
        crate::functional::try_max_pool2d(x, self.kernel, self.stride, self.padding)
    }
}

/// Mean over `kernel` windows; stride defaults to the kernel size.
#[derive(Clone, Copy, Debug)]
pub struct AvgPool2d {
    /// Window size `[h, w]`.
    pub kernel: [usize; 2],
    /// Step between windows.
    pub stride: [usize; 2],
    /// Zero padding on each side.
    pub padding: [usize; 2],
    /// Whether padded zeros count in the divisor (PyTorch's default: true).
    pub count_include_pad: bool,
}

impl AvgPool2d {
    /// A `k x k` window with stride `k`.
    pub fn new(k: usize) -> Self {
        AvgPool2d {
            kernel: [k, k],
            stride: [k, k],
            padding: [0, 0],
            count_include_pad: true,
        }
    }
}

impl<T: Float> Module<T> for AvgPool2d {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        avg_pool2d(
            x,
            self.kernel,
            self.stride,
            self.padding,
            self.count_include_pad,
        )
    }
}

/// Average pooling to a fixed output size (`[1, 1]`: global average).
#[derive(Clone, Copy, Debug)]
pub struct AdaptiveAvgPool2d(pub [usize; 2]);

impl<T: Float> Module<T> for AdaptiveAvgPool2d {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        adaptive_avg_pool2d(x, self.0)
    }
}

/// Merges dims `start..=end` (PyTorch's default: 1 to -1, keeping the batch dim).
#[derive(Clone, Copy, Debug)]
pub struct Flatten {
    /// First dim merged.
    pub start: isize,
    /// Last dim merged.
    pub end: isize,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten { start: 1, end: -1 }
    }
}

impl Flatten {
    /// Flattens everything but the batch dim.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<T: Float> Module<T> for Flatten {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        x.flatten(self.start, self.end)
    }

    fn try_forward(&self, x: &Var<T>) -> graft_tensor::Result<Var<T>> {
        x.try_flatten(self.start, self.end)
    }
}
