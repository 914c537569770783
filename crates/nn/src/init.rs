//! Weight initialisation (Xavier/Glorot, Kaiming/He, PyTorch's layer defaults), always from
//! a caller-supplied RNG so that runs are reproducible.

use graft_tensor::{Float, Tensor};
use rand::Rng;

/// Which fan a Kaiming init preserves the variance of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanMode {
    /// The number of inputs per output (keeps forward activations' variance).
    FanIn,
    /// The number of outputs per input (keeps backward gradients' variance).
    FanOut,
}

/// (fan_in, fan_out) of a weight shape as PyTorch computes them: `[out, in, k...]` has
/// fan_in = in·k…, fan_out = out·k….
pub fn fans(shape: &[usize]) -> (usize, usize) {
    match shape.len() {
        0 => (1, 1),
        1 => (shape[0], shape[0]),
        _ => {
            let receptive: usize = shape[2..].iter().product();
            (shape[1] * receptive, shape[0] * receptive)
        }
    }
}

/// PyTorch's recommended gain for a nonlinearity: `"linear"`/`"sigmoid"` 1, `"tanh"` 5/3,
/// `"relu"` √2, `"leaky_relu"` √(2/(1+slope²)), `"selu"` 3/4. Unknown names give 1.
pub fn calculate_gain(nonlinearity: &str, slope: Option<f64>) -> f64 {
    match nonlinearity {
        "tanh" => 5.0 / 3.0,
        "relu" => 2f64.sqrt(),
        "leaky_relu" => (2.0 / (1.0 + slope.unwrap_or(0.01).powi(2))).sqrt(),
        "selu" => 0.75,
        _ => 1.0,
    }
}

/// Xavier/Glorot uniform: U(-a, a) with a = gain·√(6/(fan_in + fan_out)).
pub fn xavier_uniform<T: Float>(shape: &[usize], gain: f64, rng: &mut impl Rng) -> Tensor<T> {
    let (fi, fo) = fans(shape);
    let a = gain * (6.0 / (fi + fo) as f64).sqrt();
    Tensor::uniform(shape, T::from_f64(-a), T::from_f64(a), rng)
}

/// Xavier/Glorot normal: N(0, std²) with std = gain·√(2/(fan_in + fan_out)).
pub fn xavier_normal<T: Float>(shape: &[usize], gain: f64, rng: &mut impl Rng) -> Tensor<T> {
    let (fi, fo) = fans(shape);
    let std = gain * (2.0 / (fi + fo) as f64).sqrt();
    Tensor::normal(shape, T::ZERO, T::from_f64(std), rng)
}

fn kaiming_std(shape: &[usize], mode: FanMode, gain: f64) -> f64 {
    let (fi, fo) = fans(shape);
    let fan = if mode == FanMode::FanIn { fi } else { fo };
    gain / (fan.max(1) as f64).sqrt()
}

/// Kaiming/He uniform: U(-b, b) with b = gain·√(3/fan).
pub fn kaiming_uniform<T: Float>(
    shape: &[usize],
    mode: FanMode,
    gain: f64,
    rng: &mut impl Rng,
) -> Tensor<T> {
    let b = 3f64.sqrt() * kaiming_std(shape, mode, gain);
    Tensor::uniform(shape, T::from_f64(-b), T::from_f64(b), rng)
}

/// Kaiming/He normal: N(0, std²) with std = gain/√fan.
pub fn kaiming_normal<T: Float>(
    shape: &[usize],
    mode: FanMode,
    gain: f64,
    rng: &mut impl Rng,
) -> Tensor<T> {
    Tensor::normal(
        shape,
        T::ZERO,
        T::from_f64(kaiming_std(shape, mode, gain)),
        rng,
    )
}

/// PyTorch's default for Linear and Conv2d weights: Kaiming uniform with a = √5, which
/// works out to U(-1/√fan_in, 1/√fan_in).
pub fn default_weight<T: Float>(shape: &[usize], rng: &mut impl Rng) -> Tensor<T> {
    kaiming_uniform(
        shape,
        FanMode::FanIn,
        calculate_gain("leaky_relu", Some(5f64.sqrt())),
        rng,
    )
}

/// PyTorch's default for Linear and Conv2d biases: U(-1/√fan_in, 1/√fan_in).
pub fn default_bias<T: Float>(len: usize, fan_in: usize, rng: &mut impl Rng) -> Tensor<T> {
    let b = 1.0 / (fan_in.max(1) as f64).sqrt();
    Tensor::uniform(&[len], T::from_f64(-b), T::from_f64(b), rng)
}

/// A weight of `shape` and, with `bias_len`, a bias, as parameters with PyTorch's defaults
/// for Linear and every convolution ([`default_weight`], [`default_bias`]): the bias's fan-in
/// is the weight's ([`fans`]: dim 1 times the kernel, for a transposed convolution too).
pub(crate) fn default_parameters<T: Float>(
    shape: &[usize],
    bias_len: Option<usize>,
    rng: &mut impl Rng,
) -> (graft_autograd::Var<T>, Option<graft_autograd::Var<T>>) {
    let weight = graft_autograd::Var::parameter(default_weight(shape, rng));
    let fan_in = fans(shape).0;
    let bias = bias_len.map(|len| graft_autograd::Var::parameter(default_bias(len, fan_in, rng)));
    (weight, bias)
}
