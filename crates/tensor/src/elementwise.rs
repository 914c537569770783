//! Elementwise math: unary functions, broadcasting binary ops, scalar forms and clamping.

use crate::element::Float;
use crate::error::{plain, Result};
use crate::kernels::{map, zip};
use crate::tensor::Tensor;

macro_rules! unary_ops {
    ($($(#[$m:meta])* $name:ident => $f:expr;)*) => {
        impl<T: Float> Tensor<T> {
            $(
                $(#[$m])*
                pub fn $name(&self) -> Tensor<T> {
                    map(self, $f)
                }
            )*
        }
    };
}

unary_ops! {
    /// -x.
    neg => |x: T| -x;
    /// e^x.
    exp => |x: T| x.exp();
    /// Natural logarithm.
    log => |x: T| x.ln();
    /// ln(1 + x).
    log1p => |x: T| x.ln_1p();
    /// Square root.
    sqrt => |x: T| x.sqrt();
    /// |x|.
    abs => |x: T| x.abs();
    /// Hyperbolic tangent.
    tanh => |x: T| x.tanh();
    /// 1 / (1 + e^-x), stable for large |x|.
    sigmoid => |x: T| x.sigmoid();
    /// max(x, 0).
    /// (NaN stays NaN, as in PyTorch, so a diverging run is not hidden.)
    relu => |x: T| if x <= T::ZERO { T::ZERO } else { x };
    /// 1 / x.
    recip => |x: T| T::ONE / x;
    /// x².
    square => |x: T| x * x;
    /// Sine.
    sin => |x: T| x.sin();
    /// Cosine.
    cos => |x: T| x.cos();
    /// The error function.
    erf => |x: T| x.erf();
    /// -1, 0 or 1 by the sign of x (0 for NaN-free zero).
    sign => |x: T| if x > T::ZERO { T::ONE } else if x < T::ZERO { -T::ONE } else { T::ZERO };
}

macro_rules! binary_ops {
    ($($(#[$m:meta])* $name:ident, $try:ident, $scalar:ident => $f:expr;)*) => {
        impl<T: Float> Tensor<T> {
            $(
                $(#[$m])*
                /// Broadcasts under NumPy rules; errors naming both shapes when they clash.
                pub fn $try(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
                    zip(stringify!($name), self, other, $f)
                }

                $(#[$m])*
                /// The other operand is a scalar.
                pub fn $scalar(&self, s: T) -> Tensor<T> {
                    let f = $f;
                    map(self, move |x| f(x, s))
                }
            )*
            plain! {
                $($(#[$m])* fn $name => $try(other: &Tensor<T>) -> Tensor<T>;)*
            }
        }
    };
}

binary_ops! {
    /// Elementwise a + b.
    add, try_add, add_scalar => |a: T, b: T| a + b;
    /// Elementwise a - b.
    sub, try_sub, sub_scalar => |a: T, b: T| a - b;
    /// Elementwise a * b.
    mul, try_mul, mul_scalar => |a: T, b: T| a * b;
    /// Elementwise a / b.
    div, try_div, div_scalar => |a: T, b: T| a / b;
    /// Elementwise a ^ b.
    pow, try_pow, pow_scalar => |a: T, b: T| pow_value(a, b);
    /// Elementwise larger of a and b (NaN if either is NaN).
    maximum, try_maximum, maximum_scalar => |a: T, b: T| a.max_nan(b);
    /// Elementwise smaller of a and b (NaN if either is NaN).
    minimum, try_minimum, minimum_scalar => |a: T, b: T| a.min_nan(b);
}

/// a^b, with an exact integer power for whole exponents (as PyTorch: (-2)^2 = 4, not NaN).
fn pow_value<T: Float>(a: T, b: T) -> T {
    let bf = b.to_f64();
    if bf == bf.trunc() && bf.abs() <= 64.0 {
        a.powi(bf as i32)
    } else {
        a.powf(b)
    }
}

impl<T: Float> Tensor<T> {
    /// s - x for a scalar s.
    pub fn rsub_scalar(&self, s: T) -> Tensor<T> {
        map(self, move |x| s - x)
    }

    /// s / x for a scalar s.
    pub fn rdiv_scalar(&self, s: T) -> Tensor<T> {
        map(self, move |x| s / x)
    }

    /// Limits every element to `[min, max]` (either bound may be absent).
    pub fn clamp(&self, min: Option<T>, max: Option<T>) -> Tensor<T> {
        map(self, move |x| {
            let x = match min {
                Some(m) if x < m => m,
                _ => x,
            };
            match max {
                Some(m) if x > m => m,
                _ => x,
            }
        })
    }

    /// Applies any two-argument function elementwise over the broadcast of two tensors.
    pub fn try_zip_map(
        &self,
        other: &Tensor<T>,
        f: impl Fn(T, T) -> T + Sync,
    ) -> Result<Tensor<T>> {
        zip("zip_map", self, other, f)
    }

    /// Applies any function elementwise (handy in tests and user code).
    pub fn map(&self, f: impl Fn(T) -> T + Sync) -> Tensor<T> {
        map(self, f)
    }
}
