//! The most parameters one layer built from a spec, or one safetensors file read, may hold.
//!
//! A spec such as `Linear(4611686018427387904, 4)` or a corrupt header must be an error
//! before anything is allocated, not a wrapped size or an aborted process. The cap is
//! process-wide and can be raised for models that really are that large.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The default cap: 2^32 parameters (16 GiB of f32).
pub const DEFAULT_MAX_PARAMETERS: usize = 1 << 32;

static MAX_PARAMETERS: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_PARAMETERS);

/// The current cap on parameters per spec layer and per loaded file.
pub fn max_parameters() -> usize {
    MAX_PARAMETERS.load(Ordering::Relaxed)
}

/// Sets the cap (for the whole process) and returns the previous one.
pub fn set_max_parameters(n: usize) -> usize {
    MAX_PARAMETERS.swap(n, Ordering::Relaxed)
}

/// The total element count of `shapes`, or a message saying that it overflows or exceeds
/// [`max_parameters`]; `what` names the layer or file in the message.
pub fn check_parameter_count(what: &str, shapes: &[&[usize]]) -> Result<usize, String> {
    let cap = max_parameters();
    let total = shapes.iter().try_fold(0usize, |acc, s| {
        let n = if s.contains(&0) {
            Some(0)
        } else {
            s.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
        };
        n.and_then(|n| acc.checked_add(n))
    });
    let shapes_text = shapes
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    match total {
        Some(n) if n <= cap => Ok(n),
        Some(n) => Err(format!(
            "{what} would hold {n} parameters (shapes {shapes_text}), more than the limit of \
             {cap}; graft_nn::limits::set_max_parameters raises it"
        )),
        None => Err(format!(
            "{what}: the parameter count of shapes {shapes_text} overflows"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_overflow_and_the_cap() {
        assert_eq!(check_parameter_count("x", &[&[3, 4], &[4]]), Ok(16));
        assert_eq!(check_parameter_count("x", &[&[usize::MAX, 2, 0]]), Ok(0));
        let e = check_parameter_count("Linear", &[&[4, 1 << 62], &[4]]).unwrap_err();
        assert!(e.contains("overflows") && e.contains("Linear"), "{e}");
        let e = check_parameter_count("Linear", &[&[1 << 20, 1 << 20]]).unwrap_err();
        assert!(e.contains("more than the limit of 4294967296"), "{e}");
    }
}
