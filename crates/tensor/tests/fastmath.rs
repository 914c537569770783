//! Accuracy of the f32 `exp`, `log`, `tanh`, `sigmoid` and `erf` kernels against f64
//! references, on fine grids through the tensor ops themselves, plus the special values
//! (±0, ±inf, NaN, subnormals, saturation). An ignored test times them against the libm
//! scalar loops they replace and against `copy_from_slice` bandwidth.

use graft_tensor::Tensor;

/// Worst absolute error and worst error in f32 ulps (at the reference value, counted only
/// where the reference is a normal f32) of `fast` against `exact` over `xs`.
struct Worst {
    abs: f64,
    abs_at: f32,
    ulp: f64,
    ulp_at: f32,
}

fn worst(xs: &[f32], fast: impl Fn(&Tensor<f32>) -> Tensor<f32>, exact: &[f64]) -> Worst {
    let got = fast(&Tensor::from_slice(xs, &[xs.len()])).to_vec();
    let mut w = Worst {
        abs: 0.0,
        abs_at: 0.0,
        ulp: 0.0,
        ulp_at: 0.0,
    };
    for ((&x, &g), &e) in xs.iter().zip(&got).zip(exact) {
        assert!(!g.is_nan(), "NaN at x = {x} (reference {e})");
        let abs = (g as f64 - e).abs();
        if abs > w.abs {
            (w.abs, w.abs_at) = (abs, x);
        }
        let mag = (e as f32).abs();
        if mag >= f32::MIN_POSITIVE && mag.is_finite() {
            // One ulp of the f32 nearest the reference.
            let ulp = (f32::from_bits(mag.to_bits() + 1) - mag) as f64;
            if abs / ulp > w.ulp {
                (w.ulp, w.ulp_at) = (abs / ulp, x);
            }
        }
    }
    w
}

/// A linear grid from `lo` to `hi` with `n` points, plus every 1024th f32 bit pattern in
/// [lo, hi] of each sign (so the small magnitudes, subnormals included, are covered too).
fn grid(lo: f32, hi: f32, n: usize) -> Vec<f32> {
    let mut xs: Vec<f32> = (0..n)
        .map(|i| lo + (hi - lo) * i as f32 / (n - 1) as f32)
        .collect();
    let top = lo.abs().max(hi.abs()).to_bits();
    for bits in (1..top).step_by(1024) {
        for v in [f32::from_bits(bits), -f32::from_bits(bits)] {
            if v >= lo && v <= hi {
                xs.push(v);
            }
        }
    }
    xs
}

fn sigmoid64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        x.exp() / (1.0 + x.exp())
    }
}

/// `f` of every x, in f64.
fn reference(xs: &[f32], f: impl Fn(f64) -> f64) -> Vec<f64> {
    xs.iter().map(|&x| f(x as f64)).collect()
}

/// The f64 erf (full precision: a series and a continued fraction), as the reference.
fn erf64(xs: &[f32]) -> Vec<f64> {
    let x64: Vec<f64> = xs.iter().map(|&x| x as f64).collect();
    Tensor::from_slice(&x64, &[x64.len()]).erf().to_vec()
}

#[test]
fn f32_exp_is_within_two_ulp() {
    let xs = grid(-103.0, 88.7, 200_000);
    let w = worst(&xs, |t| t.exp(), &reference(&xs, f64::exp));
    println!("exp: worst {:.3} ulp at {}", w.ulp, w.ulp_at);
    assert!(w.ulp <= 2.0, "exp: {:.3} ulp at {}", w.ulp, w.ulp_at);
}

#[test]
fn f32_log_is_within_two_ulp_for_all_positive_inputs() {
    let mut xs = grid(0.0, 4.0, 400_000);
    // Large inputs too: every 1024th f32 pattern up to f32::MAX.
    xs.extend(
        (4.0f32.to_bits()..f32::MAX.to_bits())
            .step_by(1024)
            .map(f32::from_bits),
    );
    xs.retain(|&x| x > 0.0);
    let w = worst(&xs, |t| t.log(), &reference(&xs, f64::ln));
    println!("log: worst {:.3} ulp at {}", w.ulp, w.ulp_at);
    assert!(w.ulp <= 2.0, "log: {:.3} ulp at {}", w.ulp, w.ulp_at);
}

#[test]
fn f32_tanh_is_within_two_e_minus_7_and_a_few_ulp() {
    let xs = grid(-12.0, 12.0, 400_000);
    let w = worst(&xs, |t| t.tanh(), &reference(&xs, f64::tanh));
    println!(
        "tanh: worst {:.2e} abs at {}, {:.3} ulp at {}",
        w.abs, w.abs_at, w.ulp, w.ulp_at
    );
    assert!(
        w.abs <= 2e-7 && w.ulp <= 4.0,
        "tanh: {:.2e} abs, {:.3} ulp at {}",
        w.abs,
        w.ulp,
        w.ulp_at
    );
}

#[test]
fn f32_sigmoid_is_within_two_e_minus_7_and_a_few_ulp() {
    // Down to -87, where e^x is still a normal f32 (below, results are subnormal and only
    // the absolute bound, which the wider grid checks, is meaningful).
    let xs = grid(-87.0, 40.0, 400_000);
    let w = worst(&xs, |t| t.sigmoid(), &reference(&xs, sigmoid64));
    println!(
        "sigmoid: worst {:.2e} abs at {}, {:.3} ulp at {}",
        w.abs, w.abs_at, w.ulp, w.ulp_at
    );
    assert!(
        w.abs <= 2e-7 && w.ulp <= 4.0,
        "sigmoid: {:.2e} abs, {:.3} ulp at {}",
        w.abs,
        w.ulp,
        w.ulp_at
    );
    let xs = grid(-200.0, 200.0, 100_000);
    let w = worst(&xs, |t| t.sigmoid(), &reference(&xs, sigmoid64));
    assert!(w.abs <= 2e-7, "sigmoid: {:.2e} abs at {}", w.abs, w.abs_at);
}

#[test]
fn f32_erf_is_within_two_e_minus_7_and_a_few_ulp() {
    let xs = grid(-6.0, 6.0, 400_000);
    let w = worst(&xs, |t| t.erf(), &erf64(&xs));
    println!(
        "erf: worst {:.2e} abs at {}, {:.3} ulp at {}",
        w.abs, w.abs_at, w.ulp, w.ulp_at
    );
    assert!(
        w.abs <= 2e-7 && w.ulp <= 4.0,
        "erf: {:.2e} abs, {:.3} ulp at {}",
        w.abs,
        w.ulp,
        w.ulp_at
    );
}

fn f32_op(op: impl Fn(&Tensor<f32>) -> Tensor<f32>, x: f32) -> f32 {
    op(&Tensor::from_slice(&[x], &[1])).to_vec()[0]
}

#[test]
fn f32_special_values_match_pytorch() {
    let (inf, nan) = (f32::INFINITY, f32::NAN);
    let sub = f32::from_bits(1); // the smallest subnormal
    let log = |x| f32_op(|t| t.log(), x);
    assert_eq!(log(0.0), -inf);
    assert_eq!(log(-0.0), -inf);
    assert_eq!(log(inf), inf);
    assert_eq!(log(1.0), 0.0);
    assert!(log(-1.0).is_nan() && log(-inf).is_nan() && log(nan).is_nan());
    assert!(log(-sub).is_nan());
    // ln of the smallest subnormal: -149 ln 2.
    assert!((log(sub) as f64 - (-149.0 * std::f64::consts::LN_2)).abs() < 1e-5);
    assert_eq!(log(f32::MAX), f32::MAX.ln());

    for (name, op) in [
        (
            "tanh",
            (|t: &Tensor<f32>| t.tanh()) as fn(&Tensor<f32>) -> Tensor<f32>,
        ),
        ("erf", |t: &Tensor<f32>| t.erf()),
    ] {
        let f = |x| f32_op(op, x);
        assert!(f(nan).is_nan(), "{name}(NaN)");
        assert_eq!(f(inf), 1.0, "{name}(inf)");
        assert_eq!(f(-inf), -1.0, "{name}(-inf)");
        for x in [10.0, 50.0, 100.0, 1e30, f32::MAX] {
            assert_eq!(f(x), 1.0, "{name}({x})");
            assert_eq!(f(-x), -1.0, "{name}(-{x})");
        }
        assert_eq!(f(0.0).to_bits(), 0.0f32.to_bits(), "{name}(0)");
        assert_eq!(f(-0.0).to_bits(), (-0.0f32).to_bits(), "{name}(-0)");
    }
    // Odd functions, keeping subnormal inputs: tanh x = x there, erf x = 2x/√π.
    assert_eq!(f32_op(|t| t.tanh(), sub), sub);
    assert_eq!(f32_op(|t| t.tanh(), -sub), -sub);
    let tiny = f32::MIN_POSITIVE;
    let e = f32_op(|t| t.erf(), tiny) as f64;
    assert!((e / (tiny as f64 * std::f64::consts::FRAC_2_SQRT_PI) - 1.0).abs() < 1e-6);

    let sig = |x| f32_op(|t| t.sigmoid(), x);
    assert!(sig(nan).is_nan());
    assert_eq!(sig(0.0), 0.5);
    assert_eq!(sig(-0.0), 0.5);
    assert_eq!(sig(inf), 1.0);
    assert_eq!(sig(-inf), 0.0);
    for x in [20.0, 100.0, 1e30, f32::MAX] {
        assert_eq!(sig(x), 1.0, "sigmoid({x})");
        assert!(sig(-x) >= 0.0 && sig(-x) < 3e-9, "sigmoid(-{x})");
    }
    assert_eq!(sig(sub), 0.5);

    let exp = |x| f32_op(|t| t.exp(), x);
    assert!(exp(nan).is_nan());
    assert_eq!(exp(inf), inf);
    assert_eq!(exp(-inf), 0.0);
    assert_eq!(exp(0.0), 1.0);
    assert_eq!(exp(100.0), inf);
    assert_eq!(exp(-200.0), 0.0);
}

/// Times each kernel on 16M f32 in one thread against the libm scalar loop it replaced and
/// against `copy_from_slice` (the memory-bandwidth floor). Run with
/// `cargo test --release -p graft-tensor --test tensor_suite fastmath -- --ignored --nocapture`.
#[test]
#[ignore]
fn time_f32_kernels_against_libm() {
    use std::time::Instant;
    const LEN: usize = 1 << 24;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let xs: Vec<f32> = (0..LEN)
        .map(|i| ((i as u64 * 2_654_435_761) % 1_000_003) as f32 / 1_000_003.0 * 8.0 - 4.0)
        .collect();
    let pos: Vec<f32> = xs.iter().map(|x| x.abs() + 1e-3).collect();
    let best = |f: &mut dyn FnMut()| {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let mut dst = vec![0.0f32; LEN];
    let copy = best(&mut || dst.copy_from_slice(std::hint::black_box(&xs)));
    println!("copy_from_slice 16M f32: {:.2} ms", copy * 1e3);
    let x = Tensor::from_slice(&xs, &[LEN]);
    let p = Tensor::from_slice(&pos, &[LEN]);
    let x64 = Tensor::from_slice(&xs.iter().map(|&v| v as f64).collect::<Vec<_>>(), &[LEN]);
    let old_sigmoid = |v: f32| {
        if v >= 0.0 {
            1.0 / (1.0 + (-v).exp())
        } else {
            let e = v.exp();
            e / (1.0 + e)
        }
    };
    type Case<'a> = (
        &'a str,
        Box<dyn Fn() + Sync + 'a>,
        Box<dyn Fn() + Sync + 'a>,
    );
    let cases: Vec<Case> = vec![
        (
            "tanh",
            Box::new(|| drop(std::hint::black_box(x.tanh()))),
            Box::new(|| {
                drop(std::hint::black_box(
                    xs.iter().map(|v| v.tanh()).collect::<Vec<_>>(),
                ))
            }),
        ),
        (
            "sigmoid",
            Box::new(|| drop(std::hint::black_box(x.sigmoid()))),
            Box::new(|| {
                drop(std::hint::black_box(
                    xs.iter().map(|&v| old_sigmoid(v)).collect::<Vec<_>>(),
                ))
            }),
        ),
        (
            "log",
            Box::new(|| drop(std::hint::black_box(p.log()))),
            Box::new(|| {
                drop(std::hint::black_box(
                    pos.iter().map(|v| v.ln()).collect::<Vec<_>>(),
                ))
            }),
        ),
        (
            "erf",
            Box::new(|| drop(std::hint::black_box(x.erf()))),
            // The old f32 erf was this f64 series per element (here with f64 storage).
            Box::new(|| drop(std::hint::black_box(x64.erf()))),
        ),
        (
            "exp",
            Box::new(|| drop(std::hint::black_box(x.exp()))),
            Box::new(|| {
                drop(std::hint::black_box(
                    xs.iter().map(|v| v.exp()).collect::<Vec<_>>(),
                ))
            }),
        ),
    ];
    for (name, new, old) in &cases {
        let (tn, to) = pool.install(|| (best(&mut || new()), best(&mut || old())));
        println!(
            "{name:8} new {:7.2} ms ({:5.2}x copy)   old libm {:7.2} ms ({:5.2}x copy)   speedup {:.1}x",
            tn * 1e3,
            tn / copy,
            to * 1e3,
            to / copy,
            to / tn
        );
    }
}
