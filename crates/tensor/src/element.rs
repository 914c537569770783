//! Element types a tensor can hold, and the float operations math kernels need.

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

/// e^x for f32 without a libm call, so that loops over slices vectorize: x = n·ln2 + r
/// with |r| <= ln2/2 (Cody-Waite split of ln2), e^r by its degree-7 Taylor polynomial
/// (truncation below 1e-8 relative), then 2^n applied in two halves so that results down
/// in the subnormal range and up to overflow come out right. Within 2 ulp of the
/// correctly rounded value; NaN, ±inf, overflow and underflow behave as `f32::exp`.
#[inline(always)]
fn exp_f32(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding 1.5·2^23 rounds to an integer in the mantissa bits: round-to-nearest without
    // a float-to-int conversion, which would keep the loop from vectorizing.
    const SHIFTER: f32 = 12_582_912.0;
    let xc = x.clamp(-104.0, 89.0);
    let t = xc * std::f32::consts::LOG2_E + SHIFTER;
    let n = t - SHIFTER;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.0 / 5040.0;
    for c in [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    let n = t.to_bits() as i32 - SHIFTER.to_bits() as i32;
    let half = n >> 1;
    let pow2 = |k: i32| f32::from_bits(((k + 127) as u32) << 23);
    p * pow2(half) * pow2(n - half)
}

macro_rules! float_element {
    ($t:ty, $name:expr, $gemm:path, $pool:ident, $exp:expr) => {
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
                $exp(self)
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
float_element!(f32, "float32", matrixmultiply::sgemm, F32_POOL, exp_f32);
float_element!(f64, "float64", matrixmultiply::dgemm, F64_POOL, f64::exp);

#[cfg(test)]
mod exp_tests {
    use super::exp_f32;

    /// Distance in units in the last place between two finite f32 of the same sign.
    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn fast_exp_is_within_two_ulp_of_f64_exp_everywhere() {
        let mut worst = 0;
        let mut x = -103.0f32;
        while x < 88.7 {
            let exact = (x as f64).exp() as f32;
            worst = worst.max(ulps(exp_f32(x), exact));
            x += 0.000_97;
        }
        assert!(worst <= 2, "worst error {worst} ulp");
    }

    #[test]
    fn fast_exp_edge_cases_match_std() {
        for x in [
            0.0f32, -0.0, 1.0, -1.0, 88.72, 89.0, 100.0, -87.0, -103.5, -104.5, -200.0,
        ] {
            let (fast, std) = (exp_f32(x), x.exp());
            assert!(
                ulps(fast, std) <= 2 || (fast == std),
                "exp({x}) = {fast}, std {std}"
            );
        }
        assert!(exp_f32(f32::NAN).is_nan());
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(0.0), 1.0);
    }
}
