//! Gradient clipping by total norm and by value (PyTorch's `clip_grad_norm_` and
//! `clip_grad_value_`) over parameter Vars or over flat slices, and the finiteness check
//! a training loop runs before stepping.

use crate::error::ensure;
use crate::OptimError;
use graft_autograd::Var;
use graft_tensor::parallel::{
    chunk_len, for_each_chunk_indexed, for_each_chunk_mut, min_len_for_parallel,
};
use graft_tensor::Float;

/// Calls `f` with every gradient of `params` as one contiguous slice (copying only a
/// gradient that is not contiguous), skipping parameters without a gradient.
fn for_each_grad<T: Float>(params: &[Var<T>], mut f: impl FnMut(&[T])) {
    for p in params {
        if let Some(g) = p.grad() {
            let g = g.contiguous();
            f(g.as_slice().expect("a contiguous tensor is one slice"));
        }
    }
}

/// Replaces every gradient of `params` by `f` applied to it in place. The gradient is
/// taken out of the Var first, so that it is written without a copy unless someone else
/// holds it.
fn update_grads<T: Float>(params: &[Var<T>], f: impl Fn(&mut [T])) {
    for p in params {
        if let Some(mut g) = p.grad() {
            p.set_grad(None);
            f(g.data_mut());
            p.set_grad(Some(g));
        }
    }
}

/// The norm of all gradients of `params` taken together, as if concatenated into one
/// vector (parameters without a gradient contribute nothing): `norm_type` 2.0 for the
/// Euclidean norm, `f64::INFINITY` for the largest absolute value, any other `p > 0` for
/// the p-norm. NaN if any gradient element is NaN.
pub fn grad_norm<T: Float>(params: &[Var<T>], norm_type: f64) -> Result<f64, OptimError> {
    check_norm_type(norm_type)?;
    let mut norms = Vec::with_capacity(params.len());
    for_each_grad(params, |g| norms.push(slice_norm(g, norm_type)));
    Ok(combine_norms(norms.into_iter(), norm_type))
}

/// Scales the gradients of `params` in place so that their total norm is at most about
/// `max_norm`, and returns the total norm before clipping (PyTorch's `clip_grad_norm_`
/// with `error_if_nonfinite=False`). `norm_type` as in [`grad_norm`]: 2.0 or
/// `f64::INFINITY` usually.
///
/// A NaN or infinite gradient element makes the norm NaN or infinite and, as in PyTorch,
/// turns every gradient into NaN (or zeros); check [`grads_are_finite`] first to skip
/// such a step. Allocates one small vector of per-parameter norms per call.
///
/// ```
/// use graft_autograd::Var;
/// use graft_tensor::Tensor;
/// let a = Var::parameter(Tensor::from_vec(vec![3.0f64], &[1]));
/// let b = Var::parameter(Tensor::from_vec(vec![4.0f64], &[1]));
/// a.set_grad(Some(Tensor::from_vec(vec![3.0], &[1])));
/// b.set_grad(Some(Tensor::from_vec(vec![4.0], &[1])));
/// let norm = graft_optim::clip_grad_norm(&[a.clone(), b.clone()], 1.0, 2.0).unwrap();
/// assert_eq!(norm, 5.0);
/// assert!((a.grad().unwrap().to_vec()[0] - 0.6).abs() < 1e-6);
/// ```
pub fn clip_grad_norm<T: Float>(
    params: &[Var<T>],
    max_norm: f64,
    norm_type: f64,
) -> Result<f64, OptimError> {
    check_max_norm(max_norm)?;
    let norm = grad_norm(params, norm_type)?;
    if let Some(coef) = clip_coefficient(norm, max_norm) {
        let coef = T::from_f64(coef);
        update_grads(params, |g| scale(g, coef));
    }
    Ok(norm)
}

/// Clamps every gradient element of `params` to `[-clip_value, clip_value]` (PyTorch's
/// `clip_grad_value_`); NaN elements stay NaN.
pub fn clip_grad_value<T: Float>(params: &[Var<T>], clip_value: f64) -> Result<(), OptimError> {
    check_clip_value(clip_value)?;
    update_grads(params, |g| clamp(g, clip_value));
    Ok(())
}

/// True when no gradient of `params` holds a NaN or an infinity (parameters without a
/// gradient count as finite). A training loop calls it after backward and before
/// [`Optimizer::step`](crate::Optimizer::step) to skip a step that would spread NaN into
/// the parameters and the optimizer's running averages.
///
/// ```
/// use graft_autograd::Var;
/// use graft_tensor::Tensor;
/// let w = Var::parameter(Tensor::from_vec(vec![1.0f32, 2.0], &[2]));
/// assert!(graft_optim::grads_are_finite(&[w.clone()]));
/// w.set_grad(Some(Tensor::from_vec(vec![0.5, f32::NAN], &[2])));
/// assert!(!graft_optim::grads_are_finite(&[w]));
/// ```
pub fn grads_are_finite<T: Float>(params: &[Var<T>]) -> bool {
    let mut finite = true;
    for_each_grad(params, |g| finite = finite && slice_is_finite(g));
    finite
}

/// `f` of each consecutive `chunk`-element piece of `values`, in order, computed in
/// parallel through graft-tensor's one parallel loop.
fn per_chunk<T: Sync, R: Send + Default + Clone>(
    values: &[T],
    chunk: usize,
    f: impl Fn(&[T]) -> R + Sync,
) -> Vec<R> {
    let mut out = vec![R::default(); values.len().div_ceil(chunk)];
    for_each_chunk_indexed(&mut out, 1, |i, r| {
        r[0] = f(&values[i * chunk..((i + 1) * chunk).min(values.len())]);
    });
    out
}

/// True when no element of `values` is NaN or infinite.
fn slice_is_finite<T: Float>(values: &[T]) -> bool {
    // A branch-free fold per chunk vectorizes; chunks let a long slice stop early.
    let chunk_ok = |c: &[T]| c.iter().fold(true, |ok, x| ok & x.is_finite());
    if values.len() < min_len_for_parallel() {
        values.chunks(1024).all(chunk_ok)
    } else {
        per_chunk(values, chunk_len(), chunk_ok)
            .into_iter()
            .all(|ok| ok)
    }
}

/// The norm of all `grads` taken together, as if concatenated into one vector:
/// `norm_type` 2.0 is the Euclidean norm, `f64::INFINITY` the largest absolute value,
/// any other `p > 0` the p-norm. Sums accumulate in f64 over fixed-size chunks, so the
/// result does not depend on the number of threads.
pub fn total_norm<T: Float>(grads: &[&[T]], norm_type: f64) -> Result<f64, OptimError> {
    check_norm_type(norm_type)?;
    Ok(combine_norms(
        grads.iter().map(|g| slice_norm(g, norm_type)),
        norm_type,
    ))
}

/// The norm of per-gradient norms, which is the norm of all gradients together (how
/// PyTorch computes it).
fn combine_norms(per_grad: impl Iterator<Item = f64>, norm_type: f64) -> f64 {
    if norm_type == f64::INFINITY {
        per_grad.fold(0.0, <f64 as Float>::max_nan)
    } else if norm_type == 2.0 {
        per_grad.map(|n| n * n).sum::<f64>().sqrt()
    } else {
        per_grad
            .map(|n| n.powf(norm_type))
            .sum::<f64>()
            .powf(1.0 / norm_type)
    }
}

/// The factor `clip_grad_norm` scales gradients by: `max_norm / (total_norm + 1e-6)` when
/// that is below 1, `None` when the gradients are already small enough. A NaN norm gives
/// `Some(NaN)`, so non-finite gradients poison the step visibly, as in PyTorch.
pub fn clip_coefficient(total_norm: f64, max_norm: f64) -> Option<f64> {
    let coef = max_norm / (total_norm + 1e-6);
    // NaN must scale too, so test "below 1 or NaN" rather than just `coef < 1.0`.
    (coef < 1.0 || coef.is_nan()).then_some(coef)
}

/// [`clip_grad_norm`] over gradients given as flat slices: scales `grads` in place so
/// their total norm is at most about `max_norm`, and returns the total norm before
/// clipping.
///
/// ```
/// let mut a = vec![3.0f64];
/// let mut b = vec![4.0f64];
/// let norm = graft_optim::clip_grad_norm_slices(&mut [&mut a[..], &mut b[..]], 1.0, 2.0).unwrap();
/// assert_eq!(norm, 5.0);
/// assert!((a[0] - 0.6).abs() < 1e-6 && (b[0] - 0.8).abs() < 1e-6);
/// ```
pub fn clip_grad_norm_slices<T: Float>(
    grads: &mut [&mut [T]],
    max_norm: f64,
    norm_type: f64,
) -> Result<f64, OptimError> {
    check_max_norm(max_norm)?;
    let views: Vec<&[T]> = grads.iter().map(|g| &**g).collect();
    let norm = total_norm(&views, norm_type)?;
    if let Some(coef) = clip_coefficient(norm, max_norm) {
        let coef = T::from_f64(coef);
        for g in grads.iter_mut() {
            scale(g, coef);
        }
    }
    Ok(norm)
}

/// [`clip_grad_value`] over gradients given as flat slices: clamps every element to
/// `[-clip_value, clip_value]`; NaN elements stay NaN.
pub fn clip_grad_value_slices<T: Float>(
    grads: &mut [&mut [T]],
    clip_value: f64,
) -> Result<(), OptimError> {
    check_clip_value(clip_value)?;
    for g in grads.iter_mut() {
        clamp(g, clip_value);
    }
    Ok(())
}

/// Clamps every element of `values` to `[-clip_value, clip_value]`, keeping NaN.
fn clamp<T: Float>(values: &mut [T], clip_value: f64) {
    let (lo, hi) = (T::from_f64(-clip_value), T::from_f64(clip_value));
    for_each_chunk_mut(values, |chunk: &mut [T]| {
        for x in chunk {
            if *x < lo {
                *x = lo;
            } else if *x > hi {
                *x = hi;
            }
        }
    });
}

fn check_max_norm(max_norm: f64) -> Result<(), OptimError> {
    ensure(
        max_norm >= 0.0,
        "clip_grad_norm",
        "max_norm",
        max_norm,
        "a number >= 0",
    )
}

fn check_clip_value(clip_value: f64) -> Result<(), OptimError> {
    ensure(
        clip_value >= 0.0,
        "clip_grad_value",
        "clip_value",
        clip_value,
        "a number >= 0",
    )
}

/// Multiplies every element of `values` by `factor`.
pub fn scale<T: Float>(values: &mut [T], factor: T) {
    for_each_chunk_mut(values, |chunk: &mut [T]| {
        for x in chunk {
            *x *= factor;
        }
    });
}

fn check_norm_type(norm_type: f64) -> Result<(), OptimError> {
    ensure(
        norm_type > 0.0,
        "clip_grad_norm",
        "norm_type",
        norm_type,
        "a number > 0 or f64::INFINITY",
    )
}

/// The `norm_type` norm of one slice. Partial results are per fixed chunk and combined
/// in order, so the parallel and serial paths give identical bits.
fn slice_norm<T: Float>(values: &[T], norm_type: f64) -> f64 {
    let partial = |chunk: &[T]| -> f64 {
        if norm_type == f64::INFINITY {
            chunk
                .iter()
                .fold(0.0, |m: f64, x| m.max_nan(x.to_f64().abs()))
        } else if norm_type == 2.0 {
            chunk.iter().map(|x| x.to_f64() * x.to_f64()).sum()
        } else {
            chunk.iter().map(|x| x.to_f64().abs().powf(norm_type)).sum()
        }
    };
    let chunk = chunk_len();
    let partials: Vec<f64> = if values.len() < min_len_for_parallel() {
        values.chunks(chunk).map(partial).collect()
    } else {
        per_chunk(values, chunk, partial)
    };
    if norm_type == f64::INFINITY {
        partials.into_iter().fold(0.0, <f64 as Float>::max_nan)
    } else {
        let sum: f64 = partials.into_iter().sum();
        if norm_type == 2.0 {
            sum.sqrt()
        } else {
            sum.powf(1.0 / norm_type)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norms_over_several_slices() {
        let a = [3.0f64, 0.0];
        let b = [-4.0f64];
        assert_eq!(total_norm(&[&a, &b], 2.0).unwrap(), 5.0);
        assert_eq!(total_norm(&[&a, &b], f64::INFINITY).unwrap(), 4.0);
        assert!((total_norm(&[&a, &b], 1.0).unwrap() - 7.0).abs() < 1e-12);
        assert!(total_norm(&[&a, &b], 0.0).is_err());
        assert!(total_norm::<f64>(&[&[f64::NAN]], 2.0).unwrap().is_nan());
        assert!(total_norm::<f64>(&[&[f64::NAN]], f64::INFINITY)
            .unwrap()
            .is_nan());
    }

    #[test]
    fn long_slices_give_the_same_norm_as_chunked_serial_sums() {
        let n = min_len_for_parallel() * 2 + 17;
        let v: Vec<f64> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f64 * 1e-3 - 0.5)
            .collect();
        let serial: f64 = v
            .chunks(chunk_len())
            .map(|c| c.iter().map(|x| x * x).sum::<f64>())
            .sum::<f64>()
            .sqrt();
        assert_eq!(total_norm(&[&v], 2.0).unwrap(), serial);
    }

    #[test]
    fn clips_only_when_above_max_norm() {
        let mut a = vec![0.3f32, 0.4];
        let norm = clip_grad_norm_slices(&mut [&mut a[..]], 1.0, 2.0).unwrap();
        assert!((norm - 0.5).abs() < 1e-7);
        assert_eq!(a, vec![0.3, 0.4]);
        assert_eq!(clip_coefficient(0.5, 1.0), None);
        assert_eq!(clip_coefficient(2.0, 1.0), Some(1.0 / (2.0 + 1e-6)));
        assert!(clip_coefficient(f64::NAN, 1.0).unwrap().is_nan());
        assert!(clip_grad_norm_slices(&mut [&mut a[..]], -1.0, 2.0).is_err());
    }

    #[test]
    fn clip_by_value() {
        let mut a = [-3.0f64, 0.5, 2.0, f64::NAN];
        clip_grad_value_slices(&mut [&mut a[..]], 1.0).unwrap();
        assert_eq!(a[..3], [-1.0, 0.5, 1.0]);
        assert!(a[3].is_nan());
        assert!(clip_grad_value_slices(&mut [&mut a[..]], -1.0).is_err());
    }

    use graft_tensor::Tensor;

    /// A gradient's elements (empty when there is none).
    fn grad_vec<T: Float>(p: &Var<T>) -> Vec<T> {
        p.grad().map(|g| g.to_vec()).unwrap_or_default()
    }

    fn param(values: Vec<f64>) -> Var<f64> {
        let n = values.len();
        let p = Var::parameter(Tensor::from_vec(vec![0.0; n], &[n]));
        p.set_grad(Some(Tensor::from_vec(values, &[n])));
        p
    }

    #[test]
    fn var_clipping_matches_slice_clipping() {
        let (ga, gb) = (vec![3.0f64, -1.0, 2.0], vec![-4.0f64, 0.5]);
        let params = [param(ga.clone()), param(gb.clone())];
        let untouched = Var::parameter(Tensor::from_vec(vec![1.0f64], &[1]));
        let with_none = [params[0].clone(), untouched.clone(), params[1].clone()];
        let (mut a, mut b) = (ga.clone(), gb.clone());
        for norm_type in [2.0, f64::INFINITY, 1.5] {
            assert_eq!(
                grad_norm(&with_none, norm_type).unwrap(),
                total_norm(&[&a, &b], norm_type).unwrap()
            );
        }
        let expected = clip_grad_norm_slices(&mut [&mut a[..], &mut b[..]], 2.0, 2.0).unwrap();
        assert_eq!(clip_grad_norm(&with_none, 2.0, 2.0).unwrap(), expected);
        assert_eq!(grad_vec(&params[0]), a);
        assert_eq!(grad_vec(&params[1]), b);
        assert!(untouched.grad().is_none());
        clip_grad_value(&params, 0.5).unwrap();
        assert!(grad_vec(&params[0]).iter().all(|x| x.abs() <= 0.5));
        assert!(clip_grad_value(&params, -1.0).is_err());
        assert!(clip_grad_norm(&params, 1.0, -2.0).is_err());
    }

    #[test]
    fn clipping_does_not_change_a_gradient_someone_else_holds() {
        let p = param(vec![3.0, 4.0]);
        let held = p.grad().unwrap();
        clip_grad_norm(std::slice::from_ref(&p), 1.0, 2.0).unwrap();
        assert_eq!(held.to_vec(), vec![3.0, 4.0]);
        assert!((grad_vec(&p)[0] - 0.6).abs() < 1e-6);
    }

    #[test]
    fn finiteness_of_gradients() {
        let n = min_len_for_parallel() + 5;
        let mut values = vec![1.0f64; n];
        let big = param(values.clone());
        assert!(grads_are_finite(std::slice::from_ref(&big)));
        values[n - 1] = f64::INFINITY;
        let bad = param(values);
        assert!(!grads_are_finite(&[big, bad]));
        assert!(!grads_are_finite(&[param(vec![f64::NAN])]));
        assert!(grads_are_finite::<f64>(&[]));
        // A NaN gradient turns every gradient NaN under norm clipping, as in PyTorch.
        let (a, b) = (param(vec![f64::NAN]), param(vec![1.0]));
        assert!(clip_grad_norm(&[a, b.clone()], 1.0, 2.0).unwrap().is_nan());
        assert!(grad_vec(&b)[0].is_nan());
    }
}
