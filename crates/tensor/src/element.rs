//! Element types a tensor can hold, and the float operations math kernels need.

use crate::fastmath::{erf_f32, exp_f32, ln_f32, sigmoid_f32, sigmoid_f64, tanh_f32};
use std::fmt::{Debug, Display};
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, Sub, SubAssign};

/// Keeps [`Element`] and [`Float`] implemented by graft's own types only: the kernels rely
/// on what each impl promises (Float's `unsafe fn gemm` above all).
mod sealed {
    /// Implemented for exactly the element types below.
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for i64 {}
    impl Sealed for i32 {}
    impl Sealed for u8 {}
    impl Sealed for bool {}
}

/// A type a [`Tensor`](crate::Tensor) can store: floats for math, integers for labels and
/// indices, `bool` for masks. Sealed: graft implements it for its element types only.
pub trait Element:
    sealed::Sealed + Copy + Send + Sync + Default + PartialEq + PartialOrd + Debug + Display + 'static
{
    /// The dtype name as PyTorch and safetensors spell it (`"float32"`, `"int64"`, ...).
    const DTYPE: &'static str;
    /// Converts to f64 (`true` is 1.0).
    fn to_f64(self) -> f64;
    /// Converts from f64, rounding or truncating as `as` does (nonzero is `true`).
    fn from_f64(v: f64) -> Self;
    /// The buffer pool for this element type, where one exists (crate-internal: the trait
    /// is sealed, so no other crate implements or calls it).
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn pool() -> Option<&'static crate::pool::BufferPool<Self>> {
        None
    }
}

/// A floating-point element (`f32` or `f64`): everything the math kernels call. Sealed
/// through [`Element`].
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
    /// The logistic function 1 / (1 + e^-x), computed without overflow for any x.
    fn sigmoid(self) -> Self;
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
    /// `C = alpha * A B + beta * C` with arbitrary element strides (matrixmultiply's gemm;
    /// for f32, `sgemm::sgemm`, which keeps its results).
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

/// `Element` for a primitive number type, cast with `as`; with `$pool`, its buffers are
/// recycled through a pool of that name.
macro_rules! cast_element {
    ($t:ty, $name:expr $(, $pool:ident)?) => {
        $(static $pool: crate::pool::BufferPool<$t> = crate::pool::BufferPool::new();)?

        impl Element for $t {
            const DTYPE: &'static str = $name;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            $(fn pool() -> Option<&'static crate::pool::BufferPool<Self>> {
                Some(&$pool)
            })?
        }
    };
}
// i64 is pooled like the floats: max pooling's argmax indices are a large i64 tensor made
// and dropped on every training step.
cast_element!(i64, "int64", I64_POOL);
cast_element!(i32, "int32");
cast_element!(u8, "uint8");

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
    ($t:ty, $name:expr, $gemm:path, $pool:ident, [$exp:expr, $ln:expr, $tanh:expr, $sigmoid:expr, $erf:expr]) => {
        cast_element!($t, $name, $pool);

        // `#[inline]`: without it (and without LTO) each element would be a call into this
        // crate, and the elementwise loops of other crates could not vectorize.
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const INFINITY: Self = <$t>::INFINITY;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            const EPSILON: Self = <$t>::EPSILON;
            #[inline]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline]
            fn ln(self) -> Self {
                $ln(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline]
            fn sigmoid(self) -> Self {
                $sigmoid(self)
            }
            #[inline]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline]
            fn powf(self, e: Self) -> Self {
                <$t>::powf(self, e)
            }
            #[inline]
            fn powi(self, n: i32) -> Self {
                <$t>::powi(self, n)
            }
            #[inline]
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline]
            fn cos(self) -> Self {
                <$t>::cos(self)
            }
            #[inline]
            fn sin(self) -> Self {
                <$t>::sin(self)
            }
            #[inline]
            fn erf(self) -> Self {
                $erf(self)
            }
            #[inline]
            fn max_nan(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() {
                    <$t>::NAN
                } else if self >= o {
                    self
                } else {
                    o
                }
            }
            #[inline]
            fn min_nan(self, o: Self) -> Self {
                if self.is_nan() || o.is_nan() {
                    <$t>::NAN
                } else if self <= o {
                    self
                } else {
                    o
                }
            }
            #[inline]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline]
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
// f32 gets the vectorizing kernels of `fastmath`; f64 keeps libm (and the full-precision
// erf above) because gradient checks run in f64.
float_element!(
    f32,
    "float32",
    crate::sgemm::sgemm,
    F32_POOL,
    [exp_f32, ln_f32, tanh_f32, sigmoid_f32, erf_f32]
);
float_element!(
    f64,
    "float64",
    matrixmultiply::dgemm,
    F64_POOL,
    [f64::exp, f64::ln, f64::tanh, sigmoid_f64, erf_f64]
);
