//! index_select / gather and their adjoints index_add / scatter_add, concat, stack, pad.

use graft_tensor::{Float, Tensor};
use proptest::prelude::*;

use super::common::*;

fn dot(a: &Arr, b: &Arr) -> f64 {
    a.data.iter().zip(&b.data).map(|(x, y)| x * y).sum()
}

fn abs_dot(a: &Arr, b: &Arr) -> f64 {
    a.data.iter().zip(&b.data).map(|(x, y)| (x * y).abs()).sum()
}

/// (x, dim, negative dim?, index values, src for index_add).
type IndexSelectCase = ((Arr, Plan), usize, bool, Vec<i64>, (Arr, Plan));

/// x, a dim, and a 1-D index vector (repeats allowed) valid for that dim, and a src for index_add.
fn index_select_case() -> impl Strategy<Value = IndexSelectCase> {
    shape(4)
        .prop_filter("needs a dim", |s| !s.is_empty())
        .prop_flat_map(|s| {
            let r = s.len();
            (Just(s), 0..r, any::<bool>())
        })
        .prop_flat_map(|(s, d, neg)| {
            let n = s[d];
            let len = if n == 0 { 0..=0usize } else { 0..=5usize };
            let idx = prop::collection::vec(0..n.max(1) as i64, len);
            (Just(s), Just(d), Just(neg), idx)
        })
        .prop_flat_map(|(s, d, neg, idx)| {
            let mut src_shape = s.clone();
            src_shape[d] = idx.len();
            (
                input_of(s),
                Just(d),
                Just(neg),
                Just(idx),
                input_of(src_shape),
            )
        })
}

fn check_index_select<T: Float>(
    x: &(Arr, Plan),
    d: usize,
    neg: bool,
    idx: &[i64],
    src: &(Arr, Plan),
) -> TestResult {
    let (t, r) = build::<T>(&x.0, &x.1);
    let rank = r.shape.len();
    let sd = if neg {
        d as isize - rank as isize
    } else {
        d as isize
    };
    let index = Tensor::from_vec(idx.to_vec(), &[idx.len()]);
    // index_select
    let mut shape = r.shape.clone();
    shape[d] = idx.len();
    let want = Arr::from_fn(&shape, |i| {
        let mut j = i.to_vec();
        j[d] = idx[i[d]] as usize;
        r.at(&j)
    });
    check_exact("index_select", &values(&t.index_select(sd, &index)), &want)?;
    // The same through a non-contiguous (reversed) index tensor.
    let rev: Vec<i64> = idx.iter().rev().copied().collect();
    let index_flipped = Tensor::from_vec(rev, &[idx.len()]).flip(0);
    check_exact(
        "index_select (flipped index)",
        &values(&t.index_select(sd, &index_flipped)),
        &want,
    )?;
    // index_add: out = x; out[.., idx[j], ..] += src[.., j, ..]
    let (ts, rs) = build::<T>(&src.0, &src.1);
    let mut want = r.clone();
    for i in indices(&rs.shape) {
        let mut j = i.clone();
        j[d] = idx[i[d]] as usize;
        let k = ravel(&want.shape, &j);
        want.data[k] += rs.at(&i);
    }
    let got = values(&t.index_add(sd, &index, &ts));
    check_close(
        &format!("index_add {}", T::DTYPE),
        &got,
        &want.round::<T>(),
        4.0 * eps::<T>(),
        4.0 * eps::<T>(),
    )?;
    // Adjoint: <index_select(x, i), y> == <x, index_add(0, i, y)>.
    let lhs = dot(&values(&t.index_select(sd, &index)), &rs);
    let rhs = dot(&r, &values(&t.zeros_like().index_add(sd, &index, &ts)));
    let scale = abs_dot(&values(&t.index_select(sd, &index)), &rs) + 1e-3;
    prop_assert!(
        (lhs - rhs).abs() <= 8.0 * eps::<T>() * scale,
        "index_add is the adjoint of index_select: {} vs {}",
        lhs,
        rhs
    );
    Ok(())
}

/// x, dim, an index array (values valid for x's dim, shape fitting gather's rule) and a src
/// at least as large as the index.
type GatherCase = ((Arr, Plan), usize, (Arr, Plan), (Arr, Plan));

fn gather_case() -> impl Strategy<Value = GatherCase> {
    shape(4)
        .prop_filter("needs a dim", |s| !s.is_empty())
        .prop_flat_map(|s| {
            let r = s.len();
            (
                Just(s.clone()),
                0..r,
                prop::collection::vec(0..=4usize, r),
                prop::collection::vec(0..=1usize, r),
            )
        })
        .prop_flat_map(|(s, d, cut, grow)| {
            // index dims: <= x's outside d (any size along d, 0 if x's is 0)
            let ishape: Vec<usize> = (0..s.len())
                .map(|k| {
                    if k == d {
                        if s[d] == 0 {
                            0
                        } else {
                            cut[k]
                        }
                    } else {
                        s[k].saturating_sub(cut[k] % 2)
                    }
                })
                .collect();
            let src_shape: Vec<usize> = ishape.iter().zip(&grow).map(|(&n, &g)| n + g).collect();
            let n = numel(&ishape);
            let vals = prop::collection::vec(0..s[d].max(1) as i64, n);
            let r = s.len();
            (
                input_of(s),
                Just(d),
                Just(ishape),
                vals,
                plan(r),
                input_of(src_shape),
            )
        })
        .prop_map(|(x, d, ishape, vals, ip, src)| {
            let idx = Arr::new(&ishape, vals.into_iter().map(|v| v as f64).collect());
            (x, d, (idx, ip), src)
        })
}

fn check_gather<T: Float>(case: &GatherCase) -> TestResult {
    let ((xa, xp), d, (ia, ip), (sa, sp)) = case;
    let d = *d;
    let (t, r) = build::<T>(xa, xp);
    // The index tensor itself is laid out like any input (broadcast repeats its values).
    let (index, ri) = build::<i64>(ia, ip);
    let (src, rs) = build::<T>(sa, sp);
    let want = Arr::from_fn(&ri.shape, |i| {
        let mut j = i.to_vec();
        j[d] = ri.at(i) as usize;
        r.at(&j)
    });
    check_exact("gather", &values(&t.gather(d as isize, &index)), &want)?;
    // scatter_add: out = x; out[i with d -> index[i]] += src[i] for i over the index.
    let mut want = r.clone();
    for i in indices(&ri.shape) {
        let mut j = i.clone();
        j[d] = ri.at(&i) as usize;
        let k = ravel(&want.shape, &j);
        want.data[k] += rs.at(&i);
    }
    let got = values(&t.scatter_add(d as isize, &index, &src));
    check_close(
        &format!("scatter_add {}", T::DTYPE),
        &got,
        &want.round::<T>(),
        8.0 * eps::<T>(),
        8.0 * eps::<T>(),
    )?;
    // Adjoint: <gather(x, i), y> == <x, scatter_add(0, i, y)> with y the index-sized part of src.
    let y = Arr::from_fn(&ri.shape, |i| rs.at(i));
    let ty = y.tensor::<T>();
    let g = values(&t.gather(d as isize, &index));
    let lhs = dot(&g, &y);
    let rhs = dot(
        &r,
        &values(&t.zeros_like().scatter_add(d as isize, &index, &ty)),
    );
    prop_assert!(
        (lhs - rhs).abs() <= 8.0 * eps::<T>() * (abs_dot(&g, &y) + 1e-3),
        "scatter_add is the adjoint of gather: {} vs {}",
        lhs,
        rhs
    );
    Ok(())
}

/// 1 to 3 inputs that agree outside dim `d` (concat) or entirely (stack).
fn concat_case() -> impl Strategy<Value = (Vec<(Arr, Plan)>, usize, bool)> {
    shape(4)
        .prop_filter("needs a dim", |s| !s.is_empty())
        .prop_flat_map(|s| {
            let r = s.len();
            (
                Just(s),
                0..r,
                prop::collection::vec(dim(), 1..=3),
                any::<bool>(),
            )
        })
        .prop_flat_map(|(s, d, sizes, neg)| {
            let parts: Vec<_> = sizes
                .into_iter()
                .map(|n| {
                    let mut sh = s.clone();
                    sh[d] = n;
                    input_of(sh)
                })
                .collect();
            (parts, Just(d), Just(neg))
        })
}

fn check_concat<T: Float>(parts: &[(Arr, Plan)], d: usize, neg: bool) -> TestResult {
    let built: Vec<(Tensor<T>, Arr)> = parts.iter().map(|(a, p)| build::<T>(a, p)).collect();
    let refs: Vec<&Tensor<T>> = built.iter().map(|(t, _)| t).collect();
    let rank = parts[0].0.shape.len();
    let sd = if neg {
        d as isize - rank as isize
    } else {
        d as isize
    };
    let mut shape = parts[0].0.shape.clone();
    shape[d] = parts.iter().map(|(a, _)| a.shape[d]).sum();
    let want = Arr::from_fn(&shape, |i| {
        let mut j = i.to_vec();
        for (_, r) in &built {
            if j[d] < r.shape[d] {
                return r.at(&j);
            }
            j[d] -= r.shape[d];
        }
        unreachable!()
    });
    check_exact("concat", &values(&Tensor::concat(&refs, sd)), &want)?;
    Ok(())
}

fn stack_case() -> impl Strategy<Value = (Vec<(Arr, Plan)>, usize, bool)> {
    (shape(3), 1..=3usize).prop_flat_map(|(s, k)| {
        let r = s.len();
        (prop::collection::vec(input_of(s), k), 0..=r, any::<bool>())
    })
}

fn check_stack<T: Float>(parts: &[(Arr, Plan)], d: usize, neg: bool) -> TestResult {
    let built: Vec<(Tensor<T>, Arr)> = parts.iter().map(|(a, p)| build::<T>(a, p)).collect();
    let refs: Vec<&Tensor<T>> = built.iter().map(|(t, _)| t).collect();
    let rank = parts[0].0.shape.len();
    let sd = if neg {
        d as isize - (rank as isize + 1)
    } else {
        d as isize
    };
    let mut shape = parts[0].0.shape.clone();
    shape.insert(d, parts.len());
    let want = Arr::from_fn(&shape, |i| {
        let mut j = i.to_vec();
        let k = j.remove(d);
        built[k].1.at(&j)
    });
    check_exact("stack", &values(&Tensor::stack(&refs, sd)), &want)?;
    Ok(())
}

fn pad_case() -> impl Strategy<Value = ((Arr, Plan), Vec<(usize, usize)>)> {
    input(4).prop_flat_map(|(a, p)| {
        let r = a.shape.len();
        (
            Just((a, p)),
            prop::collection::vec((0..=2usize, 0..=2usize), 0..=r),
        )
    })
}

fn check_pad<T: Float>(x: &(Arr, Plan), pads: &[(usize, usize)]) -> TestResult {
    let (t, r) = build::<T>(&x.0, &x.1);
    let lead = r.shape.len() - pads.len();
    let mut shape = r.shape.clone();
    for (k, &(b, a)) in pads.iter().enumerate() {
        shape[lead + k] += b + a;
    }
    let want = Arr::from_fn(&shape, |i| {
        let mut j = i.to_vec();
        for (k, &(b, _)) in pads.iter().enumerate() {
            let d = lead + k;
            if i[d] < b || i[d] >= b + r.shape[d] {
                return -1.25;
            }
            j[d] = i[d] - b;
        }
        r.at(&j)
    });
    check_exact("pad", &values(&t.pad(pads, T::from_f64(-1.25))), &want)?;
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn index_select_and_index_add((x, d, neg, idx, src) in index_select_case()) {
        both!(check_index_select(&x, d, neg, &idx, &src));
    }

    #[test]
    fn gather_and_scatter_add(case in gather_case()) {
        both!(check_gather(&case));
    }

    #[test]
    fn concat_matches_reference((parts, d, neg) in concat_case()) {
        both!(check_concat(&parts, d, neg));
    }

    #[test]
    fn stack_matches_reference((parts, d, neg) in stack_case()) {
        both!(check_stack(&parts, d, neg));
    }

    #[test]
    fn pad_matches_reference((x, pads) in pad_case()) {
        both!(check_pad(&x, &pads));
    }
}
