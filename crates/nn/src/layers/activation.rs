//! Activation functions as modules (no parameters).

use graft_autograd::Var;
use graft_tensor::Float;

use crate::module::Module;

/// max(x, 0).
#[derive(Clone, Copy, Debug, Default)]
pub struct Relu;

impl<T: Float> Module<T> for Relu {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        x.relu()
    }
}

/// x for x > 0, else `slope · x` (PyTorch's default slope 0.01).
#[derive(Clone, Copy, Debug)]
pub struct LeakyRelu(pub f64);

impl Default for LeakyRelu {
    fn default() -> Self {
        LeakyRelu(0.01)
    }
}

impl<T: Float> Module<T> for LeakyRelu {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        x.leaky_relu(T::from_f64(self.0))
    }
}

/// Logistic sigmoid.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sigmoid;

impl<T: Float> Module<T> for Sigmoid {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        x.sigmoid()
    }
}

/// Hyperbolic tangent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tanh;

impl<T: Float> Module<T> for Tanh {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        x.tanh()
    }
}

/// GELU; `Gelu { approximate: true }` is PyTorch's `approximate="tanh"`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gelu {
    /// Use the tanh approximation.
    pub approximate: bool,
}

impl<T: Float> Module<T> for Gelu {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        x.gelu(self.approximate)
    }
}

/// (1/β)·ln(1 + e^(βx)), linear above `threshold` (PyTorch's defaults β = 1, threshold 20).
#[derive(Clone, Copy, Debug)]
pub struct Softplus {
    /// β.
    pub beta: f64,
    /// Above β·x > threshold the output is x.
    pub threshold: f64,
}

impl Default for Softplus {
    fn default() -> Self {
        Softplus {
            beta: 1.0,
            threshold: 20.0,
        }
    }
}

impl<T: Float> Module<T> for Softplus {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        x.softplus(T::from_f64(self.beta), T::from_f64(self.threshold))
    }
}

/// Softmax along a dim.
#[derive(Clone, Copy, Debug)]
pub struct Softmax(pub isize);

impl<T: Float> Module<T> for Softmax {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        x.softmax(self.0)
    }
}

/// Log-softmax along a dim.
#[derive(Clone, Copy, Debug)]
pub struct LogSoftmax(pub isize);

impl<T: Float> Module<T> for LogSoftmax {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        x.log_softmax(self.0)
    }
}
