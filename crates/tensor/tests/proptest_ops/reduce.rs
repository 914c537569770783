//! Reductions over random axis sets, keepdim both ways, and over all elements.

use graft_tensor::{Float, Tensor};
use proptest::prelude::*;

use super::common::*;

/// Groups `a`'s values by their kept coordinates, each group in row-major order of the
/// reduced dims; returns the output shape (with `keepdim`) and the groups.
fn groups(a: &Arr, axes: &[usize], keepdim: bool) -> (Vec<usize>, Vec<Vec<f64>>) {
    let kept_shape: Vec<usize> = (0..a.shape.len())
        .filter(|d| !axes.contains(d))
        .map(|d| a.shape[d])
        .collect();
    let mut out = vec![Vec::new(); numel(&kept_shape)];
    for idx in indices(&a.shape) {
        let kept: Vec<usize> = (0..a.shape.len())
            .filter(|d| !axes.contains(d))
            .map(|d| idx[d])
            .collect();
        out[ravel(&kept_shape, &kept)].push(a.at(&idx));
    }
    let shape = if keepdim {
        (0..a.shape.len())
            .map(|d| if axes.contains(&d) { 1 } else { a.shape[d] })
            .collect()
    } else {
        kept_shape
    };
    (shape, out)
}

fn reduce_ref(a: &Arr, axes: &[usize], keepdim: bool, f: impl Fn(&[f64]) -> f64) -> Arr {
    let (shape, groups) = groups(a, axes, keepdim);
    Arr::new(&shape, groups.iter().map(|g| f(g)).collect())
}

fn sum(g: &[f64]) -> f64 {
    g.iter().sum()
}

fn abs_sum(g: &[f64]) -> f64 {
    g.iter().map(|v| v.abs()).sum()
}

fn var_ref(g: &[f64], correction: usize) -> f64 {
    let n = g.len() as f64;
    let mean = sum(g) / n;
    let ss: f64 = g.iter().map(|v| (v - mean) * (v - mean)).sum();
    ss / (n - correction as f64).max(0.0)
}

fn lse_ref(g: &[f64]) -> f64 {
    let m = g.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + g.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}

/// Index of the first largest (or smallest) value.
fn arg_ref(g: &[f64], larger: bool) -> f64 {
    let mut best = 0;
    for (i, &v) in g.iter().enumerate() {
        if (larger && v > g[best]) || (!larger && v < g[best]) {
            best = i;
        }
    }
    best as f64
}

fn check_axes<T: Float>(
    a: &Arr,
    p: &Plan,
    axes: &[isize],
    resolved: &[usize],
    keepdim: bool,
) -> TestResult {
    let (t, r) = build::<T>(a, p);
    let e = eps::<T>();
    let tag = |op: &str| format!("{op} over {axes:?} keepdim {keepdim} {}", T::DTYPE);
    let empty_reduced = resolved.iter().any(|&d| a.shape[d] == 0);

    // Sum and mean: tolerance scales with the sum of magnitudes of each group.
    let want = reduce_ref(&r, resolved, keepdim, sum);
    let scale = reduce_ref(&r, resolved, keepdim, abs_sum);
    let got = values(&t.sum_dims(axes, keepdim));
    check_with(&tag("sum"), &got, &want, |i| e * (scale.data[i] + 1e-3))?;
    let count = |g: &[f64]| g.len() as f64;
    let n = reduce_ref(&r, resolved, keepdim, count);
    let want = reduce_ref(&r, resolved, keepdim, |g| sum(g) / g.len() as f64);
    let got = values(&t.try_mean_dims(axes, keepdim).unwrap());
    check_with(&tag("mean"), &got, &want, |i| {
        e * (scale.data[i] / n.data[i] + 1e-3)
    })?;

    // max/min/argmax/argmin: exact; an empty reduced dim is an error.
    let max = t.try_max_dims(axes, keepdim);
    let min = t.try_min_dims(axes, keepdim);
    if empty_reduced {
        prop_assert!(
            max.is_err() && min.is_err(),
            "{}",
            tag("max/min of an empty dim")
        );
    } else {
        let fold = |init: f64, f: fn(f64, f64) -> f64| {
            move |g: &[f64]| g.iter().fold(init, |m, &v| f(m, v))
        };
        check_exact(
            &tag("max"),
            &values(&max.unwrap()),
            &reduce_ref(&r, resolved, keepdim, fold(f64::NEG_INFINITY, f64::max)),
        )?;
        check_exact(
            &tag("min"),
            &values(&min.unwrap()),
            &reduce_ref(&r, resolved, keepdim, fold(f64::INFINITY, f64::min)),
        )?;
    }

    // var/std with corrections 0, 1 and 2 (divisor max(n - c, 0), as PyTorch).
    for c in 0..=2 {
        let want = reduce_ref(&r, resolved, keepdim, |g| var_ref(g, c));
        let sq = reduce_ref(&r, resolved, keepdim, |g| {
            g.iter().map(|v| v * v).sum::<f64>() / (g.len() as f64 - c as f64).max(1.0)
        });
        let got = values(&t.var_dims(axes, c, keepdim));
        check_with(&tag(&format!("var({c})")), &got, &want, |i| {
            8.0 * e * (sq.data[i] + 1e-3)
        })?;
        let want = Arr::new(&want.shape, want.data.iter().map(|v| v.sqrt()).collect());
        let got = values(&t.try_std_dims(axes, c, keepdim).unwrap());
        check_with(&tag(&format!("std({c})")), &got, &want, |i| {
            (8.0 * e * (sq.data[i] + 1e-3)).sqrt()
        })?;
    }

    let want = reduce_ref(&r, resolved, keepdim, lse_ref);
    let got = values(&t.logsumexp_dims(axes, keepdim));
    check_close(&tag("logsumexp"), &got, &want, 4.0 * e, 4.0 * e)?;
    Ok(())
}

fn check_arg<T: Float>(a: &Arr, p: &Plan, dim: isize, keepdim: bool) -> TestResult {
    let (t, r) = build::<T>(a, p);
    let d = if dim < 0 {
        (dim + a.shape.len() as isize) as usize
    } else {
        dim as usize
    };
    let tag = |op: &str| format!("{op} dim {dim} keepdim {keepdim} {}", T::DTYPE);
    let (amax, amin) = (
        t.try_argmax_dim(dim, keepdim),
        t.try_argmin_dim(dim, keepdim),
    );
    if a.shape[d] == 0 {
        prop_assert!(
            amax.is_err() && amin.is_err(),
            "{}",
            tag("argmax of an empty dim")
        );
        return Ok(());
    }
    let (amax, amin) = (amax.unwrap(), amin.unwrap());
    prop_assert_eq!(amax.dtype(), "int64");
    check_exact(
        &tag("argmax"),
        &values(&amax),
        &reduce_ref(&r, &[d], keepdim, |g| arg_ref(g, true)),
    )?;
    check_exact(
        &tag("argmin"),
        &values(&amin),
        &reduce_ref(&r, &[d], keepdim, |g| arg_ref(g, false)),
    )?;
    Ok(())
}

fn check_all<T: Float>(a: &Arr, p: &Plan) -> TestResult {
    let (t, r) = build::<T>(a, p);
    let e = eps::<T>();
    let scalar = |v: f64| Arr::new(&[], vec![v]);
    let tag = |op: &str| format!("{op} {}", T::DTYPE);
    let total = sum(&r.data);
    let tol = e * (abs_sum(&r.data) + 1e-3);
    check_with(&tag("sum"), &values(&t.sum()), &scalar(total), |_| tol)?;
    let n = r.data.len() as f64;
    check_with(&tag("mean"), &values(&t.mean()), &scalar(total / n), |_| {
        tol / n.max(1.0)
    })?;
    let all: Vec<usize> = (0..a.shape.len()).collect();
    for c in 0..=2 {
        let sq = r.data.iter().map(|v| v * v).sum::<f64>() / (n - c as f64).max(1.0);
        check_with(
            &tag("var"),
            &values(&t.var(c)),
            &scalar(var_ref(&r.data, c)),
            |_| 8.0 * e * (sq + 1e-3),
        )?;
    }
    // The same through the axes form over every dim.
    let axes: Vec<isize> = all.iter().map(|&d| d as isize).collect();
    check_with(
        &tag("sum_dims(all)"),
        &values(&t.sum_dims(&axes, false)),
        &scalar(total),
        |_| tol,
    )?;
    if r.data.is_empty() {
        for res in [t.try_max(), t.try_min()] {
            prop_assert!(res.is_err());
        }
        prop_assert!(t.try_argmax().is_err() && t.try_argmin().is_err());
        return Ok(());
    }
    let mx = r.data.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let mn = r.data.iter().fold(f64::INFINITY, |m, &v| m.min(v));
    check_exact(&tag("max"), &values(&t.max()), &scalar(mx))?;
    check_exact(&tag("min"), &values(&t.min()), &scalar(mn))?;
    check_exact(
        &tag("argmax"),
        &values(&t.argmax()),
        &scalar(arg_ref(&r.data, true)),
    )?;
    check_exact(
        &tag("argmin"),
        &values(&t.argmin()),
        &scalar(arg_ref(&r.data, false)),
    )?;
    Ok(())
}

fn with_axes() -> impl Strategy<Value = (Arr, Plan, Vec<isize>, Vec<usize>, bool)> {
    input(4)
        .prop_flat_map(|(a, p)| {
            let r = a.shape.len();
            (Just(a), Just(p), axes(r), any::<bool>())
        })
        .prop_map(|(a, p, (ax, res), k)| (a, p, ax, res, k))
}

fn with_dim() -> impl Strategy<Value = (Arr, Plan, isize, bool)> {
    input(4)
        .prop_filter("needs a dim", |(a, _)| !a.shape.is_empty())
        .prop_flat_map(|(a, p)| {
            let r = a.shape.len() as isize;
            (Just(a), Just(p), -r..r, any::<bool>())
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn reductions_over_axes((a, p, axes, resolved, keepdim) in with_axes()) {
        both!(check_axes(&a, &p, &axes, &resolved, keepdim));
    }

    #[test]
    fn argmax_argmin_along_a_dim((a, p, dim, keepdim) in with_dim()) {
        both!(check_arg(&a, &p, dim, keepdim));
    }

    #[test]
    fn reductions_over_everything((a, p) in input(4)) {
        both!(check_all(&a, &p));
    }
}

#[test]
fn nan_propagates_through_max_and_argmax_picks_it() {
    let t = Tensor::from_vec(vec![1.0f64, f64::NAN, 3.0, 2.0], &[4]);
    assert!(t.max().item().is_nan());
    assert!(t.min().item().is_nan());
    assert_eq!(t.argmax().item(), 1);
    assert_eq!(t.argmin().item(), 1);
    assert!(t.sum().item().is_nan());
    assert!(t.logsumexp_dims(&[0], false).item().is_nan());
}

#[test]
fn logsumexp_handles_infinities() {
    let t = Tensor::from_vec(vec![f64::NEG_INFINITY, f64::NEG_INFINITY], &[2]);
    assert_eq!(t.logsumexp_dims(&[0], false).item(), f64::NEG_INFINITY);
    // PyTorch: logsumexp([inf, -inf]) = inf, logsumexp([inf, 1]) = inf.
    let t = Tensor::from_vec(vec![f64::INFINITY, f64::NEG_INFINITY], &[2]);
    assert_eq!(t.logsumexp_dims(&[0], false).item(), f64::INFINITY);
    let t = Tensor::from_vec(vec![f64::INFINITY, 1.0], &[2]);
    assert_eq!(t.logsumexp_dims(&[0], false).item(), f64::INFINITY);
    // Large finite values do not overflow.
    let t = Tensor::from_vec(vec![1000.0f32, 1000.0], &[2]);
    assert!((t.logsumexp_dims(&[0], false).item() - (1000.0 + 2f32.ln())).abs() < 1e-3);
    // An empty row gives -inf.
    let t = Tensor::<f64>::zeros(&[3, 0]);
    assert_eq!(
        t.logsumexp_dims(&[1], false).to_vec(),
        vec![f64::NEG_INFINITY; 3]
    );
}

#[test]
fn variance_of_too_few_elements_is_nan_or_inf() {
    // PyTorch divides by max(n - correction, 0).
    let one = Tensor::from_vec(vec![5.0f64], &[1]);
    assert!(one.var(1).item().is_nan());
    assert!(one.var(2).item().is_nan());
    assert_eq!(one.var(0).item(), 0.0);
    let two = Tensor::from_vec(vec![1.0f64, 3.0], &[2]);
    assert_eq!(two.var(3).item(), f64::INFINITY);
    let empty = Tensor::<f64>::zeros(&[0]);
    assert!(empty.var(0).item().is_nan());
    assert!(empty.var(1).item().is_nan());
    assert!(empty.mean().item().is_nan());
}
