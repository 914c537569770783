//! Elementwise unary ops, scalar forms, and binary ops under NumPy broadcasting.

use graft_tensor::{broadcast_shapes, Float, Tensor};
use proptest::prelude::*;

use super::common::*;

/// erf by composite Simpson integration of 2/sqrt(pi) e^(-t^2) (error below 1e-10 on [-4, 4]).
fn erf_ref(x: f64) -> f64 {
    if x.abs() > 6.0 {
        return x.signum(); // 1 - erf(6) < 3e-17
    }
    let n = 2000;
    let h = x / n as f64;
    let f = |t: f64| (-t * t).exp();
    let mut s = f(0.0) + f(x);
    for i in 1..n {
        s += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    s * h / 3.0 * std::f64::consts::FRAC_2_SQRT_PI
}

fn sign_ref(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

type UnaryOp<T> = Box<dyn Fn(&Tensor<T>) -> Tensor<T>>;
/// (name, op, reference, extra absolute tolerance).
type UnaryCase<T> = (&'static str, UnaryOp<T>, fn(f64) -> f64, f64);

fn unary_ops<T: Float>() -> Vec<UnaryCase<T>> {
    let s = |v: f64| T::from_f64(v);
    vec![
        ("neg", Box::new(|t: &Tensor<T>| t.neg()), |x| -x, 0.0),
        ("neg operator", Box::new(|t: &Tensor<T>| -t), |x| -x, 0.0),
        (
            "neg operator by value",
            Box::new(|t: &Tensor<T>| -t.clone()),
            |x| -x,
            0.0,
        ),
        ("exp", Box::new(|t: &Tensor<T>| t.exp()), f64::exp, 0.0),
        ("log", Box::new(|t: &Tensor<T>| t.log()), f64::ln, 0.0),
        (
            "log1p",
            Box::new(|t: &Tensor<T>| t.log1p()),
            f64::ln_1p,
            0.0,
        ),
        ("sqrt", Box::new(|t: &Tensor<T>| t.sqrt()), f64::sqrt, 0.0),
        ("abs", Box::new(|t: &Tensor<T>| t.abs()), f64::abs, 0.0),
        ("tanh", Box::new(|t: &Tensor<T>| t.tanh()), f64::tanh, 0.0),
        (
            "sigmoid",
            Box::new(|t: &Tensor<T>| t.sigmoid()),
            |x| 1.0 / (1.0 + (-x).exp()),
            0.0,
        ),
        (
            "relu",
            Box::new(|t: &Tensor<T>| t.relu()),
            |x| if x > 0.0 { x } else { 0.0 },
            0.0,
        ),
        (
            "recip",
            Box::new(|t: &Tensor<T>| t.recip()),
            |x| 1.0 / x,
            0.0,
        ),
        (
            "square",
            Box::new(|t: &Tensor<T>| t.square()),
            |x| x * x,
            0.0,
        ),
        ("sin", Box::new(|t: &Tensor<T>| t.sin()), f64::sin, 0.0),
        ("cos", Box::new(|t: &Tensor<T>| t.cos()), f64::cos, 0.0),
        ("erf", Box::new(|t: &Tensor<T>| t.erf()), erf_ref, 1e-9),
        ("sign", Box::new(|t: &Tensor<T>| t.sign()), sign_ref, 0.0),
        (
            "clamp both",
            Box::new(move |t: &Tensor<T>| t.clamp(Some(s(-1.5)), Some(s(2.0)))),
            |x| x.clamp(-1.5, 2.0),
            0.0,
        ),
        (
            "clamp max",
            Box::new(move |t: &Tensor<T>| t.clamp(None, Some(s(0.5)))),
            |x| x.min(0.5),
            0.0,
        ),
        (
            "clamp min",
            Box::new(move |t: &Tensor<T>| t.clamp(Some(s(0.0)), None)),
            |x| x.max(0.0),
            0.0,
        ),
        (
            "add_scalar",
            Box::new(move |t: &Tensor<T>| t.add_scalar(s(1.5))),
            |x| x + 1.5,
            0.0,
        ),
        (
            "add scalar operator",
            Box::new(move |t: &Tensor<T>| t + s(1.5)),
            |x| x + 1.5,
            0.0,
        ),
        (
            "sub_scalar",
            Box::new(move |t: &Tensor<T>| t.sub_scalar(s(0.25))),
            |x| x - 0.25,
            0.0,
        ),
        (
            "sub scalar operator",
            Box::new(move |t: &Tensor<T>| t.clone() - s(0.25)),
            |x| x - 0.25,
            0.0,
        ),
        (
            "rsub_scalar",
            Box::new(move |t: &Tensor<T>| t.rsub_scalar(s(0.25))),
            |x| 0.25 - x,
            0.0,
        ),
        (
            "mul_scalar",
            Box::new(move |t: &Tensor<T>| t.mul_scalar(s(-3.0))),
            |x| x * -3.0,
            0.0,
        ),
        (
            "mul scalar operator",
            Box::new(move |t: &Tensor<T>| t * s(-3.0)),
            |x| x * -3.0,
            0.0,
        ),
        (
            "div_scalar",
            Box::new(move |t: &Tensor<T>| t.div_scalar(s(4.0))),
            |x| x / 4.0,
            0.0,
        ),
        (
            "div scalar operator",
            Box::new(move |t: &Tensor<T>| t / s(4.0)),
            |x| x / 4.0,
            0.0,
        ),
        (
            "rdiv_scalar",
            Box::new(move |t: &Tensor<T>| t.rdiv_scalar(s(2.0))),
            |x| 2.0 / x,
            0.0,
        ),
        (
            "pow_scalar 2",
            Box::new(move |t: &Tensor<T>| t.pow_scalar(s(2.0))),
            |x| x.powf(2.0),
            0.0,
        ),
        (
            "pow_scalar 3",
            Box::new(move |t: &Tensor<T>| t.pow_scalar(s(3.0))),
            |x| x.powf(3.0),
            0.0,
        ),
        (
            "pow_scalar -1",
            Box::new(move |t: &Tensor<T>| t.pow_scalar(s(-1.0))),
            |x| x.powf(-1.0),
            0.0,
        ),
        (
            "pow_scalar 0",
            Box::new(move |t: &Tensor<T>| t.pow_scalar(s(0.0))),
            |x| x.powf(0.0),
            0.0,
        ),
        (
            "pow_scalar 0.5",
            Box::new(move |t: &Tensor<T>| t.pow_scalar(s(0.5))),
            |x| x.powf(0.5),
            0.0,
        ),
        (
            "pow_scalar 1.5",
            Box::new(move |t: &Tensor<T>| t.pow_scalar(s(1.5))),
            |x| x.powf(1.5),
            0.0,
        ),
        (
            "maximum_scalar",
            Box::new(move |t: &Tensor<T>| t.maximum_scalar(s(0.5))),
            |x| x.max(0.5),
            0.0,
        ),
        (
            "minimum_scalar",
            Box::new(move |t: &Tensor<T>| t.minimum_scalar(s(0.5))),
            |x| x.min(0.5),
            0.0,
        ),
        (
            "map",
            Box::new(|t: &Tensor<T>| t.map(|x| x * x + T::ONE)),
            |x| x * x + 1.0,
            0.0,
        ),
        (
            "contiguous",
            Box::new(|t: &Tensor<T>| t.contiguous()),
            |x| x,
            0.0,
        ),
    ]
}

fn check_unary<T: Float>(a: &Arr, p: &Plan) -> TestResult {
    let (t, r) = build::<T>(a, p);
    let before = read(&t);
    for (name, op, f, atol) in unary_ops::<T>() {
        let got = op(&t);
        prop_assert!(got.is_contiguous(), "{} result is contiguous", name);
        let want = Arr::from_fn(&r.shape, |i| f(r.at(i))).round::<T>();
        check_close(
            &format!("{name} {}", T::DTYPE),
            &values(&got),
            &want,
            4.0 * eps::<T>(),
            atol + eps::<T>() * 1e-2,
        )?;
    }
    // No op wrote into its input.
    prop_assert_eq!(read(&t), before);
    Ok(())
}

/// Scalar-on-the-left operators exist for the concrete float types only.
fn check_scalar_lhs(a: &Arr, p: &Plan) -> TestResult {
    let (t, r) = build::<f32>(a, p);
    let want = |f: fn(f64) -> f64| Arr::from_fn(&r.shape, |i| f(r.at(i))).round::<f32>();
    check_close(
        "2 + t",
        &values(&(2.0f32 + &t)),
        &want(|x| 2.0 + x),
        1e-6,
        0.0,
    )?;
    check_close(
        "2 - t",
        &values(&(2.0f32 - &t)),
        &want(|x| 2.0 - x),
        1e-6,
        0.0,
    )?;
    check_close(
        "2 * t",
        &values(&(2.0f32 * &t)),
        &want(|x| 2.0 * x),
        1e-6,
        0.0,
    )?;
    check_close(
        "2 / t",
        &values(&(2.0f32 / &t)),
        &want(|x| 2.0 / x),
        1e-6,
        0.0,
    )?;
    let (t, r) = build::<f64>(a, p);
    let want = |f: fn(f64) -> f64| Arr::from_fn(&r.shape, |i| f(r.at(i)));
    check_exact("2 + t", &values(&(2.0f64 + &t)), &want(|x| 2.0 + x))?;
    check_exact("2 - t", &values(&(2.0f64 - &t)), &want(|x| 2.0 - x))?;
    check_exact("2 * t", &values(&(2.0f64 * &t)), &want(|x| 2.0 * x))?;
    check_exact("2 / t", &values(&(2.0f64 / &t)), &want(|x| 2.0 / x))?;
    Ok(())
}

type BinaryOp<T> = Box<dyn Fn(&Tensor<T>, &Tensor<T>) -> Tensor<T>>;
type BinaryCase<T> = (&'static str, BinaryOp<T>, fn(f64, f64) -> f64);

fn max_ref(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn min_ref(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn binary_ops<T: Float>() -> Vec<BinaryCase<T>> {
    vec![
        (
            "add",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a.add(b)),
            |x, y| x + y,
        ),
        (
            "try_add",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a.try_add(b).unwrap()),
            |x, y| x + y,
        ),
        (
            "&a + &b",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a + b),
            |x, y| x + y,
        ),
        (
            "a + b",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a.clone() + b.clone()),
            |x, y| x + y,
        ),
        (
            "sub",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a.sub(b)),
            |x, y| x - y,
        ),
        (
            "&a - b",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a - b.clone()),
            |x, y| x - y,
        ),
        (
            "mul",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a.mul(b)),
            |x, y| x * y,
        ),
        (
            "a * &b",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a.clone() * b),
            |x, y| x * y,
        ),
        (
            "div",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a.div(b)),
            |x, y| x / y,
        ),
        (
            "&a / &b",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a / b),
            |x, y| x / y,
        ),
        (
            "pow",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a.pow(b)),
            f64::powf,
        ),
        (
            "maximum",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a.maximum(b)),
            max_ref,
        ),
        (
            "minimum",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a.minimum(b)),
            min_ref,
        ),
    ]
}

fn check_binary<T: Float>(a: &Arr, pa: &Plan, b: &Arr, pb: &Plan) -> TestResult {
    let (ta, ra) = build::<T>(a, pa);
    let (tb, rb) = build::<T>(b, pb);
    let out = ref_broadcast(&[&a.shape, &b.shape]).expect("compatible by construction");
    for (name, op, f) in binary_ops::<T>() {
        let want = Arr::from_fn(&out, |i| {
            f(
                ra.at(&bcast_index(&ra.shape, i)),
                rb.at(&bcast_index(&rb.shape, i)),
            )
        });
        let got = op(&ta, &tb);
        // pow with an integer exponent goes through powi: a few roundings.
        check_close(
            &format!("{name} {}", T::DTYPE),
            &values(&got),
            &want.round::<T>(),
            8.0 * eps::<T>(),
            0.0,
        )?;
        // And the other way round: b op a broadcasts to the same shape.
        let want = Arr::from_fn(&out, |i| {
            f(
                rb.at(&bcast_index(&rb.shape, i)),
                ra.at(&bcast_index(&ra.shape, i)),
            )
        });
        check_close(
            &format!("{name} swapped {}", T::DTYPE),
            &values(&op(&tb, &ta)),
            &want.round::<T>(),
            8.0 * eps::<T>(),
            0.0,
        )?;
    }
    Ok(())
}

fn pair() -> impl Strategy<Value = ((Arr, Plan), (Arr, Plan))> {
    broadcast_family(2, 4)
        .prop_flat_map(|(_, shapes)| (input_of(shapes[0].clone()), input_of(shapes[1].clone())))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn unary_matches_reference((a, p) in input(4)) {
        both!(check_unary(&a, &p));
        check_scalar_lhs(&a, &p)?;
    }

    #[test]
    fn unary_on_large_magnitudes(
        (shape, p) in shape(3).prop_flat_map(|s| { let r = s.len(); (Just(s), plan(r)) }),
        scale in prop_oneof![Just(30.0f64), Just(100.0), Just(1000.0)],
        seed in any::<u64>(),
    ) {
        // exp/sigmoid/tanh/log must stay finite-correct out where naive formulas overflow.
        let n = numel(&shape);
        let data = (0..n).map(|i| ((seed.wrapping_add(i as u64 * 7919) % 2001) as f64 / 1000.0 - 1.0) * scale).collect();
        let a = Arr::new(&shape, data);
        both!(check_unary(&a, &p));
    }

    #[test]
    fn binary_broadcasts_like_numpy(((a, pa), (b, pb)) in pair()) {
        both!(check_binary(&a, &pa, &b, &pb));
    }

    #[test]
    fn broadcast_shapes_agrees_and_errors(sa in prop::collection::vec(0..=3usize, 0..=3), sb in prop::collection::vec(0..=3usize, 0..=3)) {
        let want = ref_broadcast(&[&sa, &sb]);
        prop_assert_eq!(broadcast_shapes(&sa, &sb).map(|s| s.to_vec()), want.clone());
        let (a, b) = (Tensor::<f64>::zeros(&sa), Tensor::<f64>::ones(&sb));
        match want {
            Some(out) => prop_assert_eq!(a.try_add(&b).unwrap().shape().to_vec(), out),
            None => {
                let e = a.try_add(&b).unwrap_err();
                prop_assert_eq!(e.to_string(), format!("add: shapes {sa:?} and {sb:?} cannot be broadcast together"));
            }
        }
    }
}
