//! proptest strategies for property-testing gradients: small shapes, broadcast-compatible
//! shape pairs, tensors with values kept away from kinks, and non-contiguous views.
//!
//! ```
//! use graft_autograd::strategies::{shape, tensor_in};
//! use graft_autograd::{gradcheck, GradcheckOptions, Var};
//! use proptest::prelude::*;
//!
//! proptest!(ProptestConfig::with_cases(8), |(x in shape(3, 3).prop_flat_map(|s| tensor_in(s, -2.0, 2.0)))| {
//!     // The user's own function: a smooth activation.
//!     let f = |v: &[Var<f64>]| &v[0] * &v[0].sigmoid();
//!     prop_assert!(gradcheck(f, &[x], &GradcheckOptions::default()).is_ok());
//! });
//! ```

use graft_tensor::Tensor;
use proptest::prelude::*;

/// Shapes of rank `0..=max_rank` with each dim in `1..=max_dim`.
pub fn shape(max_rank: usize, max_dim: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1..=max_dim, 0..=max_rank)
}

/// Two shapes that broadcast together: each is the common shape with some leading dims
/// dropped and some dims set to 1.
pub fn broadcast_pair(
    max_rank: usize,
    max_dim: usize,
) -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    shape(max_rank, max_dim).prop_flat_map(|full| {
        let n = full.len();
        let derive = move |full: Vec<usize>| {
            (0..=n, prop::collection::vec(any::<bool>(), n)).prop_map(move |(drop, ones)| {
                full.iter()
                    .zip(&ones)
                    .skip(drop)
                    .map(|(&d, &one)| if one { 1 } else { d })
                    .collect::<Vec<_>>()
            })
        };
        (derive(full.clone()), derive(full))
    })
}

/// A tensor of `shape` with values uniform in `[lo, hi]`.
pub fn tensor_in(shape: Vec<usize>, lo: f64, hi: f64) -> impl Strategy<Value = Tensor<f64>> {
    let n: usize = shape.iter().product();
    prop::collection::vec(lo..=hi, n).prop_map(move |data| Tensor::from_vec(data, &shape))
}

/// A tensor of `shape` with values in `[lo, hi]` but at least `margin` from every kink
/// (e.g. 0 for relu and abs), where finite differences would be wrong.
pub fn tensor_away_from(
    shape: Vec<usize>,
    lo: f64,
    hi: f64,
    kinks: Vec<f64>,
    margin: f64,
) -> impl Strategy<Value = Tensor<f64>> {
    let n: usize = shape.iter().product();
    let value = (lo..=hi).prop_map(move |v| {
        kinks.iter().fold(v, |v, &k| {
            if (v - k).abs() < margin {
                if v >= k {
                    k + margin
                } else {
                    k - margin
                }
            } else {
                v
            }
        })
    });
    prop::collection::vec(value, n).prop_map(move |data| Tensor::from_vec(data, &shape))
}

/// Views with the same values as `t` but other layouts: transposed storage, a stride-2
/// slice, and flipped storage (those that apply to its rank).
pub fn noncontiguous_views(t: &Tensor<f64>) -> Vec<Tensor<f64>> {
    let mut views = vec![];
    if t.ndim() >= 2 {
        let last = t.ndim() as isize - 1;
        views.push(t.transpose(0, last).contiguous().transpose(0, last));
    }
    if t.ndim() >= 1 {
        let doubled = Tensor::stack(&[t, &t.map(|v| v + 1000.0)], -1);
        views.push(doubled.select(-1, 0));
        views.push(t.flip(0).contiguous().flip(0));
    }
    views
}

/// `t` itself or one of its [`noncontiguous_views`].
pub fn any_layout(t: Tensor<f64>) -> impl Strategy<Value = Tensor<f64>> {
    let mut all = noncontiguous_views(&t);
    all.push(t);
    proptest::sample::select(all)
}
