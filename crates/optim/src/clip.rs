//! Gradient clipping by total norm and by value (PyTorch's `clip_grad_norm_` and
//! `clip_grad_value_`), over gradients given as flat slices.

use crate::error::ensure;
use crate::rules::{CHUNK, PARALLEL_MIN};
use crate::OptimError;
use graft_tensor::Float;
use rayon::prelude::*;

/// The norm of all `grads` taken together, as if concatenated into one vector:
/// `norm_type` 2.0 is the Euclidean norm, `f64::INFINITY` the largest absolute value,
/// any other `p > 0` the p-norm. Sums accumulate in f64 over fixed-size chunks, so the
/// result does not depend on the number of threads.
pub fn total_norm<T: Float>(grads: &[&[T]], norm_type: f64) -> Result<f64, OptimError> {
    check_norm_type(norm_type)?;
    // Like PyTorch: the norm of the per-tensor norms.
    let per_grad = grads.iter().map(|g| slice_norm(g, norm_type));
    Ok(if norm_type == f64::INFINITY {
        per_grad.fold(0.0, <f64 as Float>::max_nan)
    } else if norm_type == 2.0 {
        per_grad.map(|n| n * n).sum::<f64>().sqrt()
    } else {
        per_grad.map(|n| n.powf(norm_type)).sum::<f64>().powf(1.0 / norm_type)
    })
}

/// The factor `clip_grad_norm` scales gradients by: `max_norm / (total_norm + 1e-6)` when
/// that is below 1, `None` when the gradients are already small enough. A NaN norm gives
/// `Some(NaN)`, so non-finite gradients poison the step visibly, as in PyTorch.
pub fn clip_coefficient(total_norm: f64, max_norm: f64) -> Option<f64> {
    let coef = max_norm / (total_norm + 1e-6);
    // `!(coef >= 1)` rather than `coef < 1`: NaN must scale too.
    (!(coef >= 1.0)).then_some(coef)
}

/// Scales `grads` in place so their total norm is at most about `max_norm`, and returns
/// the total norm before clipping (PyTorch's `clip_grad_norm_`).
///
/// ```
/// let mut a = vec![3.0f64];
/// let mut b = vec![4.0f64];
/// let norm = graft_optim::clip_grad_norm(&mut [&mut a[..], &mut b[..]], 1.0, 2.0).unwrap();
/// assert_eq!(norm, 5.0);
/// assert!((a[0] - 0.6).abs() < 1e-6 && (b[0] - 0.8).abs() < 1e-6);
/// ```
pub fn clip_grad_norm<T: Float>(grads: &mut [&mut [T]], max_norm: f64, norm_type: f64) -> Result<f64, OptimError> {
    ensure(
        max_norm >= 0.0,
        "clip_grad_norm",
        "max_norm",
        max_norm,
        "a number >= 0",
    )?;
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

/// Clamps every gradient element to `[-clip_value, clip_value]` (PyTorch's
/// `clip_grad_value_`); NaN elements stay NaN.
pub fn clip_grad_value<T: Float>(grads: &mut [&mut [T]], clip_value: f64) -> Result<(), OptimError> {
    ensure(
        clip_value >= 0.0,
        "clip_grad_value",
        "clip_value",
        clip_value,
        "a number >= 0",
    )?;
    let (lo, hi) = (T::from_f64(-clip_value), T::from_f64(clip_value));
    let clamp = |chunk: &mut [T]| {
        for x in chunk {
            if *x < lo {
                *x = lo;
            } else if *x > hi {
                *x = hi;
            }
        }
    };
    for g in grads.iter_mut() {
        for_each_chunk_mut(g, &clamp);
    }
    Ok(())
}

/// Multiplies every element of `values` by `factor`.
pub fn scale<T: Float>(values: &mut [T], factor: T) {
    for_each_chunk_mut(values, &|chunk: &mut [T]| {
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

/// Runs an elementwise `f` over `values`, in parallel chunks when long.
fn for_each_chunk_mut<T: Float>(values: &mut [T], f: &(impl Fn(&mut [T]) + Sync)) {
    if values.len() < PARALLEL_MIN {
        f(values);
    } else {
        values.par_chunks_mut(CHUNK).for_each(f);
    }
}

/// The `norm_type` norm of one slice. Partial results are per fixed chunk and combined
/// in order, so the parallel and serial paths give identical bits.
fn slice_norm<T: Float>(values: &[T], norm_type: f64) -> f64 {
    let partial = |chunk: &[T]| -> f64 {
        if norm_type == f64::INFINITY {
            chunk.iter().fold(0.0, |m: f64, x| m.max_nan(x.to_f64().abs()))
        } else if norm_type == 2.0 {
            chunk.iter().map(|x| x.to_f64() * x.to_f64()).sum()
        } else {
            chunk.iter().map(|x| x.to_f64().abs().powf(norm_type)).sum()
        }
    };
    let partials: Vec<f64> = if values.len() < PARALLEL_MIN {
        values.chunks(CHUNK).map(partial).collect()
    } else {
        values.par_chunks(CHUNK).map(partial).collect()
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
        assert!(total_norm::<f64>(&[&[f64::NAN]], f64::INFINITY).unwrap().is_nan());
    }

    #[test]
    fn long_slices_give_the_same_norm_as_chunked_serial_sums() {
        let n = PARALLEL_MIN * 2 + 17;
        let v: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1000) as f64 * 1e-3 - 0.5).collect();
        let serial: f64 = v.chunks(CHUNK).map(|c| c.iter().map(|x| x * x).sum::<f64>()).sum::<f64>().sqrt();
        assert_eq!(total_norm(&[&v], 2.0).unwrap(), serial);
    }

    #[test]
    fn clips_only_when_above_max_norm() {
        let mut a = vec![0.3f32, 0.4];
        let norm = clip_grad_norm(&mut [&mut a[..]], 1.0, 2.0).unwrap();
        assert!((norm - 0.5).abs() < 1e-7);
        assert_eq!(a, vec![0.3, 0.4]);
        assert_eq!(clip_coefficient(0.5, 1.0), None);
        assert_eq!(clip_coefficient(2.0, 1.0), Some(1.0 / (2.0 + 1e-6)));
        assert!(clip_coefficient(f64::NAN, 1.0).unwrap().is_nan());
        assert!(clip_grad_norm(&mut [&mut a[..]], -1.0, 2.0).is_err());
    }

    #[test]
    fn clip_by_value() {
        let mut a = vec![-3.0f64, 0.5, 2.0, f64::NAN];
        clip_grad_value(&mut [&mut a[..]], 1.0).unwrap();
        assert_eq!(a[..3], [-1.0, 0.5, 1.0]);
        assert!(a[3].is_nan());
        assert!(clip_grad_value(&mut [&mut a[..]], -1.0).is_err());
    }
}
