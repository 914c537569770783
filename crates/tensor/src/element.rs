//! Element types a tensor can hold, and the float operations math kernels need.

use std::fmt::{Debug, Display};
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, Sub, SubAssign};

/// A type a [`Tensor`](crate::Tensor) can store: floats for math, integers for labels and
/// indices, `bool` for masks.
pub trait Element:
    Copy + Send + Sync + Default + PartialEq + PartialOrd + Debug + Display + 'static
{
    /// The dtype name as PyTorch and safetensors spell it (`"float32"`, `"int64"`, ...).
    const DTYPE: &'static str;
    /// Converts to f64 (`true` is 1.0).
    fn to_f64(self) -> f64;
    /// Converts from f64, rounding or truncating as `as` does (nonzero is `true`).
    fn from_f64(v: f64) -> Self;
    /// The buffer pool for this element type, where one exists.
    #[doc(hidden)]
    fn pool() -> Option<&'static crate::pool::BufferPool<Self>> {
        None
    }
}

/// A floating-point element (`f32` or `f64`): everything the math kernels call.
pub trait Float:
    Element
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Rem<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + std::iter::Sum
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// Positive infinity.
    const INFINITY: Self;
    /// Negative infinity.
    const NEG_INFINITY: Self;
    /// Machine epsilon.
    const EPSILON: Self;
    /// e^x.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// self^e for a float exponent.
    fn powf(self, e: Self) -> Self;
    /// self^n for an integer exponent.
    fn powi(self, n: i32) -> Self;
    /// ln(1 + x), accurate near 0.
    fn ln_1p(self) -> Self;
    /// Cosine.
    fn cos(self) -> Self;
    /// Sine.
    fn sin(self) -> Self;
    /// Error function.
    fn erf(self) -> Self;
    /// The larger of two values; NaN if either is NaN (PyTorch's `maximum`).
    fn max_nan(self, o: Self) -> Self;
    /// The smaller of two values; NaN if either is NaN (PyTorch's `minimum`).
    fn min_nan(self, o: Self) -> Self;
    /// True for NaN.
    fn is_nan(self) -> bool;
    /// True unless NaN or infinite.
    fn is_finite(self) -> bool;
    /// `C = alpha * A B + beta * C` with arbitrary element strides (matrixmultiply's gemm).
    ///
    /// # Safety
    /// The pointers with their strides must address valid memory for the m x k, k x n and
    /// m x n operands, and `c` must not alias `a` or `b`.
    #[allow(clippy::too_many_arguments)]
    #[doc(hidden)]
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

/// erf by Abramowitz-Stegun 7.1.26 is too coarse for f64 gradients, so use a series near 0
/// and the continued fraction for erfc in the tails (both to full f64 precision).
fn erf_f64(x: f64) -> f64 {
    let ax = x.abs();
    if ax < 2.5 {
        // Maclaurin series: erf x = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)).
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        let mut n = 0.0;
        loop {
            n += 1.0;
            term *= -x2 / n;
            let add = term / (2.0 * n + 1.0);
            sum += add;
            // `<=`: at x = 0 every term is 0, and `<` would never stop.
            if add.abs() <= 1e-17 * sum.abs() {
                break;
            }
        }
        sum * std::f64::consts::FRAC_2_SQRT_PI
    } else if ax > 6.0 {
        x.signum()
    } else {
        // erfc x = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))), evaluated backwards.
        let mut f = 0.0;
        let mut k = 60.0;
        while k > 0.0 {
            f = (k / 2.0) / (ax + f);
            k -= 1.0;
        }
        let erfc = (-ax * ax).exp() / std::f64::consts::PI.sqrt() / (ax + f);
        x.signum() * (1.0 - erfc)
    }
}

macro_rules! int_element {
    ($t:ty, $name:expr) => {
        impl Element for $t {
            const DTYPE: &'static str = $name;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
        }
    };
}
int_element!(i64, "int64");
int_element!(i32, "int32");
int_element!(u8, "uint8");

impl Element for bool {
    const DTYPE: &'static str = "bool";
    fn to_f64(self) -> f64 {
        if self {
            1.0
        } else {
            0.0
        }
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
}

macro_rules! float_element {
    ($t:ty, $name:expr, $gemm:path, $pool:ident) => {
        static $pool: crate::pool::BufferPool<$t> = crate::pool::BufferPool::new();

        impl Element for $t {
            const DTYPE: &'static str = $name;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn pool() -> Option<&'static crate::pool::BufferPool<Self>> {
                Some(&$pool)
            }
        }

        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const INFINITY: Self = <$t>::INFINITY;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            const EPSILON: Self = <$t>::EPSILON;
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            fn powf(self, e: Self) -> Self {
                <$t>::powf(self, e)
            }
            fn powi(self, n: i32) -> Self {
                <$t>::powi(self, n)
            }
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            fn erf(self) -> Self {
                erf_f64(self as f64) as $t
            }
            fn max_nan(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() {
                    <$t>::NAN
                } else if self >= o {
                    self
                } else {
                    o
                }
            }
            fn min_nan(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() {
                    <$t>::NAN
                } else if self <= o {
                    self
                } else {
                    o
                }
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            unsafe fn gemm(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                // SAFETY: forwarded from this function's contract.
                unsafe { $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
        }
    };
}
float_element!(f32, "float32", matrixmultiply::sgemm, F32_POOL);
float_element!(f64, "float64", matrixmultiply::dgemm, F64_POOL);
