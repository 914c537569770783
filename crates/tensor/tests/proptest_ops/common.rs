//! Shared helpers: a naive row-major reference array, input strategies, and a builder that
//! lays the same logical values out contiguously, transposed, stepped, broadcast, flipped
//! or all of these at once.

use graft_tensor::{Element, Tensor};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// What a property body returns.
pub type TestResult = Result<(), TestCaseError>;

/// Few enough cases that the whole binary runs in seconds, enough to cover the layouts;
/// `PROPTEST_CASES=5000` runs a longer search.
pub fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok());
    ProptestConfig::with_cases(cases.unwrap_or(64))
}

/// Relative tolerance for one rounding-level op in element type `T`.
pub fn eps<T: Element>() -> f64 {
    if T::DTYPE == "float32" {
        1e-5
    } else {
        1e-12
    }
}

/// Number of elements of a shape.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// The multi-index of row-major position `flat`.
pub fn unravel(shape: &[usize], mut flat: usize) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = flat % shape[d];
        flat /= shape[d];
    }
    idx
}

/// The row-major position of a multi-index.
pub fn ravel(shape: &[usize], idx: &[usize]) -> usize {
    assert_eq!(shape.len(), idx.len(), "rank of {idx:?} for {shape:?}");
    let mut flat = 0;
    for d in 0..shape.len() {
        assert!(idx[d] < shape[d], "index {idx:?} out of {shape:?}");
        flat = flat * shape[d] + idx[d];
    }
    flat
}

/// Every multi-index of `shape`, in row-major order.
pub fn indices(shape: &[usize]) -> Vec<Vec<usize>> {
    (0..numel(shape)).map(|i| unravel(shape, i)).collect()
}

/// A plain row-major n-d array of f64: the reference every op is checked against.
#[derive(Clone, Debug, PartialEq)]
pub struct Arr {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Arr {
    pub fn new(shape: &[usize], data: Vec<f64>) -> Arr {
        assert_eq!(numel(shape), data.len());
        Arr {
            shape: shape.to_vec(),
            data,
        }
    }

    /// `f(index)` at every index, in row-major order.
    pub fn from_fn(shape: &[usize], mut f: impl FnMut(&[usize]) -> f64) -> Arr {
        let data = indices(shape).iter().map(|i| f(i)).collect();
        Arr {
            shape: shape.to_vec(),
            data,
        }
    }

    pub fn at(&self, idx: &[usize]) -> f64 {
        self.data[ravel(&self.shape, idx)]
    }

    /// The values as element type `T` holds them.
    pub fn round<T: Element>(&self) -> Arr {
        Arr {
            shape: self.shape.clone(),
            data: self.data.iter().map(|&v| T::from_f64(v).to_f64()).collect(),
        }
    }

    /// A contiguous tensor with these values.
    pub fn tensor<T: Element>(&self) -> Tensor<T> {
        Tensor::from_vec(
            self.data.iter().map(|&v| T::from_f64(v)).collect(),
            &self.shape,
        )
    }
}

/// A tensor's logical values read one element at a time through `get`, which only uses the
/// layout's offset arithmetic (independent of the copy kernels).
pub fn read<T: Element>(t: &Tensor<T>) -> Arr {
    Arr::from_fn(t.shape(), |i| t.get(i).to_f64())
}

/// A tensor's values through `to_vec` (the strided copy kernel for non-contiguous layouts).
pub fn values<T: Element>(t: &Tensor<T>) -> Arr {
    Arr::new(t.shape(), t.to_vec().iter().map(|v| v.to_f64()).collect())
}

/// Equal, counting NaN as equal to NaN.
pub fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Checks the shape, then every element with tolerance `tol(i)` for element `i`
/// (`|got - want| <= tol`; infinities and NaNs must match exactly).
pub fn check_with(what: &str, got: &Arr, want: &Arr, tol: impl Fn(usize) -> f64) -> TestResult {
    prop_assert_eq!(&got.shape, &want.shape, "{}: shape", what);
    for (i, (&g, &w)) in got.data.iter().zip(&want.data).enumerate() {
        let ok = same(g, w) || (g.is_finite() && w.is_finite() && (g - w).abs() <= tol(i));
        prop_assert!(
            ok,
            "{}: element {:?} of {:?} is {:e}, expected {:e} (tolerance {:e})",
            what,
            unravel(&want.shape, i),
            want.shape,
            g,
            w,
            tol(i)
        );
    }
    Ok(())
}

/// Checks with `|got - want| <= atol + rtol * |want|`.
pub fn check_close(what: &str, got: &Arr, want: &Arr, rtol: f64, atol: f64) -> TestResult {
    check_with(what, got, want, |i| {
        atol + rtol * want.data.get(i).map_or(0.0, |w| w.abs())
    })
}

/// Checks shape and exact values.
pub fn check_exact(what: &str, got: &Arr, want: &Arr) -> TestResult {
    check_with(what, got, want, |_| 0.0)
}

// ---------------------------------------------------------------------------------------
// Strategies.

/// Element values: small integers (ties, exact zeros) and continuous values.
pub fn value() -> impl Strategy<Value = f64> {
    prop_oneof![2 => (-3i32..=3).prop_map(f64::from), 3 => -4.0..4.0f64]
}

/// A dimension size, 0 and 1 included.
pub fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(0usize), 2 => Just(1usize), 9 => 2..=4usize]
}

pub fn shape(max_rank: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(dim(), 0..=max_rank)
}

pub fn arr_of(shape: Vec<usize>) -> impl Strategy<Value = Arr> {
    let n = numel(&shape);
    prop::collection::vec(value(), n).prop_map(move |data| Arr {
        shape: shape.clone(),
        data,
    })
}

pub fn arr(max_rank: usize) -> impl Strategy<Value = Arr> {
    shape(max_rank).prop_flat_map(arr_of)
}

/// How an input is laid out in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Contiguous,
    /// Dims permuted in storage, permuted back as a view.
    Transposed,
    /// Every dim sliced out of a larger buffer with a start and a step.
    Stepped,
    /// Some dims stride 0 (`broadcast_to` from size 1): the values repeat along them.
    Broadcast,
    /// Some dims flipped (negative strides).
    Flipped,
    /// All of the above at once.
    Mixed,
}

/// A concrete layout for an input of a given rank.
#[derive(Clone, Debug)]
pub struct Plan {
    pub kind: Kind,
    perm: Vec<usize>,
    step: Vec<usize>,
    start: Vec<usize>,
    flip: Vec<bool>,
    bcast: Vec<bool>,
}

impl Plan {
    pub fn contiguous(rank: usize) -> Plan {
        Plan {
            kind: Kind::Contiguous,
            perm: (0..rank).collect(),
            step: vec![1; rank],
            start: vec![0; rank],
            flip: vec![false; rank],
            bcast: vec![false; rank],
        }
    }
}

pub fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Contiguous),
        Just(Kind::Transposed),
        Just(Kind::Stepped),
        Just(Kind::Broadcast),
        Just(Kind::Flipped),
        Just(Kind::Mixed),
    ]
}

pub fn plan(rank: usize) -> impl Strategy<Value = Plan> {
    let vb = || prop::collection::vec(any::<bool>(), rank);
    (
        kind(),
        Just((0..rank).collect::<Vec<_>>()).prop_shuffle(),
        prop::collection::vec(1..=3usize, rank),
        prop::collection::vec(0..=2usize, rank),
        vb(),
        vb(),
    )
        .prop_map(move |(kind, perm, step, start, flip, bcast)| {
            let mut p = Plan::contiguous(rank);
            p.kind = kind;
            let identity: Vec<usize> = (0..rank).collect();
            let (t, s, f, b) = match kind {
                Kind::Contiguous => (false, false, false, false),
                Kind::Transposed => (true, false, false, false),
                Kind::Stepped => (false, true, false, false),
                Kind::Broadcast => (false, false, false, true),
                Kind::Flipped => (false, false, true, false),
                Kind::Mixed => (true, true, true, true),
            };
            if t {
                p.perm = if perm == identity && kind == Kind::Transposed {
                    identity.into_iter().rev().collect()
                } else {
                    perm
                };
            }
            if s {
                p.step = step;
                p.start = start;
                if kind == Kind::Stepped && rank > 0 && p.step.iter().all(|&s| s == 1) {
                    p.step[rank - 1] = 2;
                }
            }
            if f {
                p.flip = if kind == Kind::Flipped && !flip.contains(&true) {
                    vec![true; rank]
                } else {
                    flip
                };
            }
            if b {
                p.bcast = bcast;
                if kind == Kind::Broadcast && rank > 0 && !p.bcast.contains(&true) {
                    p.bcast[0] = true;
                }
            }
            p
        })
}

/// An array and a layout for it.
pub fn input(max_rank: usize) -> impl Strategy<Value = (Arr, Plan)> {
    arr(max_rank).prop_flat_map(|a| {
        let r = a.shape.len();
        (Just(a), plan(r))
    })
}

/// An array of a given shape and a layout for it.
pub fn input_of(shape: Vec<usize>) -> impl Strategy<Value = (Arr, Plan)> {
    let r = shape.len();
    (arr_of(shape), plan(r))
}

/// A tensor holding `a`'s values (rounded to `T`) in the layout `p`, and the values it
/// really holds: for a broadcast plan, index 0 of each broadcast dim repeated along it.
pub fn build<T: Element>(a: &Arr, p: &Plan) -> (Tensor<T>, Arr) {
    let r = a.shape.len();
    assert_eq!(p.perm.len(), r, "plan rank");
    let small_shape: Vec<usize> = (0..r)
        .map(|d| if p.bcast[d] { 1 } else { a.shape[d] })
        .collect();
    let collapse = |idx: &[usize]| -> Vec<usize> {
        idx.iter()
            .enumerate()
            .map(|(d, &i)| if p.bcast[d] { 0 } else { i })
            .collect()
    };
    let small = Arr::from_fn(&small_shape, |idx| {
        if a.data.is_empty() {
            0.5
        } else {
            a.at(&collapse(idx))
        }
    });
    let effective = Arr::from_fn(&a.shape, |idx| small.at(&collapse(idx))).round::<T>();

    // The strided buffer in logical dim order; junk everywhere the view does not look.
    let phys_shape: Vec<usize> = (0..r)
        .map(|d| p.start[d] + small_shape[d] * p.step[d])
        .collect();
    let mut phys = Arr::from_fn(&phys_shape, |idx| 100.0 + ravel(&phys_shape, idx) as f64);
    for idx in indices(&small_shape) {
        let pos: Vec<usize> = (0..r)
            .map(|d| {
                let i = if p.flip[d] {
                    small_shape[d] - 1 - idx[d]
                } else {
                    idx[d]
                };
                p.start[d] + i * p.step[d]
            })
            .collect();
        let k = ravel(&phys_shape, &pos);
        phys.data[k] = small.at(&idx);
    }
    // Storage dim k holds logical dim perm[k].
    let stor_shape: Vec<usize> = p.perm.iter().map(|&d| phys_shape[d]).collect();
    let stor = Arr::from_fn(&stor_shape, |j| {
        let mut idx = vec![0; r];
        for k in 0..r {
            idx[p.perm[k]] = j[k];
        }
        phys.at(&idx)
    });
    let mut inv = vec![0isize; r];
    for k in 0..r {
        inv[p.perm[k]] = k as isize;
    }
    let mut t = stor.tensor::<T>().permute(&inv);
    for (d, &n) in small_shape.iter().enumerate() {
        if p.step[d] != 1 || p.start[d] != 0 {
            let end = p.start[d] + n * p.step[d];
            t = t.slice(d as isize, p.start[d] as isize, end as isize, p.step[d]);
        }
        if p.flip[d] {
            t = t.flip(d as isize);
        }
    }
    if p.bcast.contains(&true) {
        t = t.broadcast_to(&a.shape);
    }
    assert_eq!(t.shape(), &a.shape[..], "built shape for {p:?}");
    assert_eq!(read(&t), effective, "built values for {p:?}");
    (t, effective)
}

// ---------------------------------------------------------------------------------------
// Broadcasting reference.

/// NumPy's broadcast of several shapes, or `None` when two dims clash.
pub fn ref_broadcast(shapes: &[&[usize]]) -> Option<Vec<usize>> {
    let r = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; r];
    for s in shapes {
        let lead = r - s.len();
        for (i, &n) in s.iter().enumerate() {
            let o = &mut out[lead + i];
            if *o == 1 {
                *o = n;
            } else if n != 1 && n != *o {
                return None;
            }
        }
    }
    Some(out)
}

/// The index into an operand of shape `src` that output index `out_idx` reads.
pub fn bcast_index(src: &[usize], out_idx: &[usize]) -> Vec<usize> {
    let lead = out_idx.len() - src.len();
    src.iter()
        .enumerate()
        .map(|(i, &n)| if n == 1 { 0 } else { out_idx[lead + i] })
        .collect()
}

/// An output shape and `n` operand shapes that broadcast to (at most) it: each operand
/// takes a suffix of the output's dims and replaces some with 1.
pub fn broadcast_family(
    n: usize,
    max_rank: usize,
) -> impl Strategy<Value = (Vec<usize>, Vec<Vec<usize>>)> {
    shape(max_rank)
        .prop_flat_map(move |out| {
            let r = out.len();
            let operand = (0..=r, prop::collection::vec(any::<bool>(), r));
            (Just(out), prop::collection::vec(operand, n))
        })
        .prop_map(|(out, ops)| {
            let r = out.len();
            let shapes = ops
                .into_iter()
                .map(|(rank, ones)| {
                    (r - rank..r)
                        .map(|d| if ones[d] { 1 } else { out[d] })
                        .collect()
                })
                .collect();
            (out, shapes)
        })
}

/// Axes for a reduction over a tensor of rank `rank`: a subset in random order, each
/// possibly written as a negative index. Returns (as passed, resolved and sorted).
pub fn axes(rank: usize) -> impl Strategy<Value = (Vec<isize>, Vec<usize>)> {
    (
        prop::collection::vec(any::<bool>(), rank),
        prop::collection::vec(any::<bool>(), rank),
    )
        .prop_flat_map(move |(pick, neg)| {
            let chosen: Vec<isize> = (0..rank)
                .filter(|&d| pick[d])
                .map(|d| {
                    if neg[d] {
                        d as isize - rank as isize
                    } else {
                        d as isize
                    }
                })
                .collect();
            let sorted: Vec<usize> = (0..rank).filter(|&d| pick[d]).collect();
            (Just(chosen).prop_shuffle(), Just(sorted))
        })
}

/// Runs a generic check in f32 and in f64.
macro_rules! both {
    ($f:ident($($arg:expr),*)) => {{
        $f::<f32>($($arg),*)?;
        $f::<f64>($($arg),*)?;
    }};
}
