//! View ops checked by element positions: every op maps output index -> input index in a
//! naive reference, and the tensor must agree element by element (read through `get`, and
//! through `to_vec`), share storage with its input, and report contiguity truthfully.

use graft_tensor::{Element, Tensor};
use proptest::prelude::*;

use super::common::*;

/// The storage offset of every logical element, in row-major order.
fn offsets<T: Element>(t: &Tensor<T>) -> Vec<isize> {
    let (st, off) = (t.strides(), t.layout().offset() as isize);
    indices(t.shape())
        .iter()
        .map(|i| {
            off + i
                .iter()
                .zip(st)
                .map(|(&i, &s)| i as isize * s)
                .sum::<isize>()
        })
        .collect()
}

/// Brute force: can `shape` be laid over these element offsets with some strides?
/// (Each stride is forced by the offset of a unit step; then every element must agree.)
fn view_possible(offs: &[isize], shape: &[usize]) -> bool {
    if offs.len() <= 1 {
        return true;
    }
    let strides: Vec<isize> = (0..shape.len())
        .map(|d| {
            if shape[d] == 1 {
                return 0;
            }
            let mut unit = vec![0; shape.len()];
            unit[d] = 1;
            offs[ravel(shape, &unit)] - offs[0]
        })
        .collect();
    indices(shape).iter().enumerate().all(|(flat, idx)| {
        offs[flat]
            == offs[0]
                + idx
                    .iter()
                    .zip(&strides)
                    .map(|(&i, &s)| i as isize * s)
                    .sum::<isize>()
    })
}

/// Dense row-major, by brute force (ignoring where it starts); vacuous for <= 1 element.
fn really_contiguous(offs: &[isize]) -> bool {
    offs.iter()
        .enumerate()
        .all(|(i, &o)| o - offs[0] == i as isize)
}

/// Remaps a reference array: output index -> input index.
fn remap(a: &Arr, shape: &[usize], f: impl Fn(&[usize]) -> Vec<usize>) -> Arr {
    Arr::from_fn(shape, |i| a.at(&f(i)))
}

/// A shape with `n` elements chosen by `seed` (any rank up to 4; may contain 1s, and 0s
/// when `n == 0`).
fn shape_with(n: usize, seed: u64) -> Vec<usize> {
    let mut s = seed;
    let mut next = |m: u64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) % m.max(1)) as usize
    };
    let rank = next(5);
    if n == 0 {
        let mut shape: Vec<usize> = (0..rank.max(1)).map(|_| next(4)).collect();
        let z = next(shape.len() as u64);
        shape[z] = 0;
        return shape;
    }
    let mut shape = Vec::new();
    let mut rest = n;
    for _ in 1..rank.max(1) {
        let divisors: Vec<usize> = (1..=rest).filter(|&d| rest / d * d == rest).collect();
        let d = divisors[next(divisors.len() as u64)];
        shape.push(d);
        rest /= d;
    }
    if rank > 0 || rest != 1 {
        shape.push(rest);
    }
    shape
}

/// One view op, with raw random parameters mapped onto whatever shape it meets.
#[derive(Clone, Debug)]
struct Op {
    kind: u8,
    p: [u64; 3],
    neg: bool,
}

fn op() -> impl Strategy<Value = Op> {
    (0u8..14, any::<[u64; 3]>(), any::<bool>()).prop_map(|(kind, p, neg)| Op { kind, p, neg })
}

/// `d` in `0..rank` written as a negative index when `neg`.
fn signed(d: usize, rank: usize, neg: bool) -> isize {
    if neg {
        d as isize - rank as isize
    } else {
        d as isize
    }
}

/// Applies `op` to the tensor and to the reference; `None` when it does not apply to this shape.
fn apply<T: Element>(t: &Tensor<T>, r: &Arr, op: &Op) -> Option<(String, Tensor<T>, Arr, bool)> {
    let shape = r.shape.clone();
    let rank = shape.len();
    let [p0, p1, p2] = op.p;
    let pick = |p: u64, n: usize| (p % n.max(1) as u64) as usize;
    let out = match op.kind {
        0 => {
            // reshape / view to a random shape of the same size.
            let new = shape_with(numel(&shape), p0);
            let possible = view_possible(&offsets(t), &new);
            let want = Arr::new(&new, r.data.clone());
            if p1 % 2 == 0 {
                let v = t.try_view(&new);
                match v {
                    Ok(v) => {
                        assert!(
                            possible,
                            "view {shape:?} -> {new:?} with strides {:?} should need a copy",
                            t.strides()
                        );
                        (format!("view {new:?}"), v, want, true)
                    }
                    Err(e) => {
                        assert!(
                            !possible,
                            "view {shape:?} -> {new:?} with strides {:?} refused: {e}",
                            t.strides()
                        );
                        let r = t.reshape(&new);
                        assert!(!r.shares_storage(t), "a reshape that needs a copy copies");
                        assert!(r.is_contiguous());
                        (format!("reshape (copy) {new:?}"), r, want, false)
                    }
                }
            } else {
                let v = t.reshape(&new);
                assert_eq!(
                    v.shares_storage(t),
                    possible,
                    "reshape {shape:?} -> {new:?} copies iff it must"
                );
                (format!("reshape {new:?}"), v, want, possible)
            }
        }
        1 => {
            // permute by a random permutation.
            let mut perm: Vec<usize> = (0..rank).collect();
            let mut s = p0;
            for i in (1..rank).rev() {
                perm.swap(i, (s % (i as u64 + 1)) as usize);
                s /= i as u64 + 1;
            }
            let dims: Vec<isize> = perm
                .iter()
                .map(|&d| signed(d, rank, op.neg && d % 2 == 0))
                .collect();
            let new: Vec<usize> = perm.iter().map(|&d| shape[d]).collect();
            let want = remap(r, &new, |i| {
                let mut j = vec![0; rank];
                for (k, &d) in perm.iter().enumerate() {
                    j[d] = i[k];
                }
                j
            });
            (format!("permute {dims:?}"), t.permute(&dims), want, true)
        }
        2 => {
            if rank == 0 {
                return None;
            }
            let (a, b) = (pick(p0, rank), pick(p1, rank));
            let mut new = shape.clone();
            new.swap(a, b);
            let want = remap(r, &new, |i| {
                let mut j = i.to_vec();
                j.swap(a, b);
                j
            });
            let (sa, sb) = (signed(a, rank, op.neg), signed(b, rank, false));
            (
                format!("transpose {sa} {sb}"),
                t.transpose(sa, sb),
                want,
                true,
            )
        }
        3 => {
            if rank > 2 {
                return None;
            }
            let new: Vec<usize> = shape.iter().rev().copied().collect();
            let want = remap(r, &new, |i| i.iter().rev().copied().collect());
            ("t".into(), t.t(), want, true)
        }
        4 => {
            if rank == 0 {
                return None;
            }
            let d = pick(p0, rank);
            let start = pick(p1, shape[d] + 1);
            let len = pick(p2, shape[d] - start + 1);
            let mut new = shape.clone();
            new[d] = len;
            let want = remap(r, &new, |i| {
                let mut j = i.to_vec();
                j[d] += start;
                j
            });
            let sd = signed(d, rank, op.neg);
            (
                format!("narrow {sd} {start} {len}"),
                t.narrow(sd, start, len),
                want,
                true,
            )
        }
        5 => {
            // Python slicing, with negative and out-of-range bounds.
            if rank == 0 {
                return None;
            }
            let d = pick(p0, rank);
            let n = shape[d] as isize;
            let start = (p1 % 13) as isize - 6;
            let end = ((p1 / 13) % 13) as isize - 6;
            let step = 1 + (p2 % 3) as usize;
            let norm = |i: isize| (if i < 0 { i + n } else { i }).clamp(0, n) as usize;
            let picked: Vec<usize> = (norm(start)..norm(end)).step_by(step).collect();
            let mut new = shape.clone();
            new[d] = picked.len();
            let want = remap(r, &new, |i| {
                let mut j = i.to_vec();
                j[d] = picked[i[d]];
                j
            });
            let sd = signed(d, rank, op.neg);
            (
                format!("slice {sd} {start}:{end}:{step}"),
                t.slice(sd, start, end, step),
                want,
                true,
            )
        }
        6 => {
            if rank == 0 {
                return None;
            }
            let d = pick(p0, rank);
            if shape[d] == 0 {
                return None;
            }
            let i0 = pick(p1, shape[d]);
            let mut new = shape.clone();
            new.remove(d);
            let want = remap(r, &new, |i| {
                let mut j = i.to_vec();
                j.insert(d, i0);
                j
            });
            let sd = signed(d, rank, op.neg);
            (format!("select {sd} {i0}"), t.select(sd, i0), want, true)
        }
        7 => {
            let keep: Vec<usize> = (0..rank).filter(|&d| shape[d] != 1).collect();
            let new: Vec<usize> = keep.iter().map(|&d| shape[d]).collect();
            let want = remap(r, &new, |i| {
                let mut j = vec![0; rank];
                for (k, &d) in keep.iter().enumerate() {
                    j[d] = i[k];
                }
                j
            });
            ("squeeze".into(), t.squeeze(), want, true)
        }
        8 => {
            if rank == 0 {
                return None;
            }
            let d = pick(p0, rank);
            let sd = signed(d, rank, op.neg);
            if shape[d] != 1 {
                return Some((
                    format!("squeeze_dim {sd} (no-op)"),
                    t.squeeze_dim(sd),
                    r.clone(),
                    true,
                ));
            }
            let mut new = shape.clone();
            new.remove(d);
            let want = remap(r, &new, |i| {
                let mut j = i.to_vec();
                j.insert(d, 0);
                j
            });
            (format!("squeeze_dim {sd}"), t.squeeze_dim(sd), want, true)
        }
        9 => {
            let d = pick(p0, rank + 1);
            let mut new = shape.clone();
            new.insert(d, 1);
            let want = remap(r, &new, |i| {
                let mut j = i.to_vec();
                j.remove(d);
                j
            });
            let sd = signed(d, rank + 1, op.neg);
            (format!("unsqueeze {sd}"), t.unsqueeze(sd), want, true)
        }
        10 => {
            // broadcast_to: up to 2 new leading dims, size-1 dims stretched.
            let lead: Vec<usize> = (0..pick(p0, 3)).map(|k| pick(p1 >> (8 * k), 4)).collect();
            let mut new = lead.clone();
            new.extend(shape.iter().enumerate().map(|(d, &n)| {
                if n == 1 {
                    pick(p2 >> (4 * d), 4)
                } else {
                    n
                }
            }));
            let want = remap(r, &new, |i| bcast_index(&shape, i));
            let v = if op.neg {
                t.expand(&new)
            } else {
                t.broadcast_to(&new)
            };
            (format!("broadcast_to {new:?}"), v, want, true)
        }
        11 => {
            if rank == 0 {
                return None;
            }
            let d = pick(p0, rank);
            let want = remap(r, &shape, |i| {
                let mut j = i.to_vec();
                j[d] = shape[d] - 1 - i[d];
                j
            });
            let sd = signed(d, rank, op.neg);
            (format!("flip {sd}"), t.flip(sd), want, true)
        }
        12 => {
            if rank == 0 {
                let v = t.flatten(0, -1);
                return Some((
                    "flatten of a scalar".into(),
                    v,
                    Arr::new(&[1], r.data.clone()),
                    false,
                ));
            }
            let s = pick(p0, rank);
            let e = s + pick(p1, rank - s);
            let mut new = shape[..s].to_vec();
            new.push(shape[s..=e].iter().product());
            new.extend_from_slice(&shape[e + 1..]);
            let possible = view_possible(&offsets(t), &new);
            let (ss, se) = (signed(s, rank, op.neg), signed(e, rank, op.neg));
            (
                format!("flatten {ss} {se}"),
                t.flatten(ss, se),
                Arr::new(&new, r.data.clone()),
                possible,
            )
        }
        _ => {
            let c = t.contiguous();
            assert!(c.is_contiguous());
            ("contiguous".into(), c, r.clone(), t.is_contiguous())
        }
    };
    Some(out)
}

fn check_chain<T: Element>(a: &Arr, p: &Plan, ops: &[Op]) -> TestResult {
    let (mut t, mut r) = build::<T>(a, p);
    let mut trail = format!("{:?} {:?}", a.shape, p.kind);
    for op in ops {
        let Some((name, next, want, shares)) = apply(&t, &r, op) else {
            continue;
        };
        trail = format!("{trail} -> {name}");
        check_exact(&format!("{trail} [get]"), &read(&next), &want)?;
        check_exact(&format!("{trail} [to_vec]"), &values(&next), &want)?;
        if shares {
            prop_assert!(next.shares_storage(&t), "{}: a view shares storage", trail);
        }
        let offs = offsets(&next);
        if offs.len() > 1 {
            prop_assert_eq!(
                next.is_contiguous(),
                really_contiguous(&offs),
                "{}: is_contiguous, strides {:?}",
                trail,
                next.strides()
            );
        }
        prop_assert_eq!(
            next.as_slice().is_some(),
            next.is_contiguous(),
            "{}: as_slice iff contiguous",
            trail
        );
        check_exact(
            &format!("{trail} [contiguous]"),
            &values(&next.contiguous()),
            &want,
        )?;
        t = next;
        r = want;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn view_chains_match_reference((a, p) in input(4), ops in prop::collection::vec(op(), 1..=4)) {
        check_chain::<f32>(&a, &p, &ops)?;
        check_chain::<f64>(&a, &p, &ops)?;
        check_chain::<i64>(&a, &p, &ops)?;
    }

    #[test]
    fn reshape_to_any_same_size_shape((a, p) in input(4), seed in any::<u64>()) {
        // Many reshapes per case: the view/copy decision is the subtle part.
        for k in 0..8u64 {
            let op = Op { kind: 0, p: [seed.wrapping_add(k), k, 0], neg: false };
            check_chain::<f64>(&a, &p, &[op])?;
        }
    }
}

#[test]
fn views_of_empty_tensors_read_back() {
    // Storage of a [3, 0] tensor is empty while its strides are [1, 1] (as PyTorch), so a
    // select or narrow moves the offset past the end of the (empty) buffer.
    let t = Tensor::<f32>::zeros(&[3, 0]);
    assert_eq!(t.select(0, 2).to_vec(), Vec::<f32>::new());
    assert_eq!(t.narrow(0, 2, 1).to_vec(), Vec::<f32>::new());
    assert_eq!(t.narrow(0, 2, 1).sum().item(), 0.0);
    assert_eq!(t.select(0, 2).sum_dims(&[0], false).shape(), &[0usize; 0]);
    let t = Tensor::<f64>::zeros(&[0, 3]);
    assert_eq!(t.slice(1, 2, 3, 1).to_vec(), Vec::<f64>::new());
    assert_eq!(t.slice(1, 2, 3, 1).max_dims(&[1], false).shape(), &[0usize]);
    assert!(t.slice(1, 2, 3, 1).as_slice().is_some_and(|s| s.is_empty()));
}
