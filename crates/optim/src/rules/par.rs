//! Running an elementwise update over several equally long slices, in parallel when they
//! are long.
//!
//! Every update rule is elementwise, so splitting the slices changes no result. When to
//! split and how big a task is come from graft-tensor's one policy
//! ([`graft_tensor::parallel::min_len_for_parallel`] and
//! [`chunk_len`](graft_tensor::parallel::chunk_len)), the same as its kernels'; what is
//! here is only the cutting of several slices at once.

use graft_tensor::parallel::{chunk_len, min_len_for_parallel};

/// A set of slices (or an optional slice, or a tuple of them) that can be cut at the
/// same index and sent to another thread.
pub(crate) trait Lanes: Sized + Send {
    /// The common length (`usize::MAX` for an absent optional slice).
    fn len(&self) -> usize;
    /// Cuts every slice at `mid`.
    fn split_at(self, mid: usize) -> (Self, Self);
}

impl<T: Send> Lanes for &mut [T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        self.split_at_mut(mid)
    }
}

impl<T: Sync> Lanes for &[T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        <[T]>::split_at(self, mid)
    }
}

impl<L: Lanes> Lanes for Option<L> {
    fn len(&self) -> usize {
        self.as_ref().map_or(usize::MAX, L::len)
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        match self {
            Some(lanes) => {
                let (a, b) = lanes.split_at(mid);
                (Some(a), Some(b))
            }
            None => (None, None),
        }
    }
}

macro_rules! tuple_lanes {
    ($($name:ident),+) => {
        impl<$($name: Lanes),+> Lanes for ($($name,)+) {
            #[allow(non_snake_case)]
            fn len(&self) -> usize {
                let ($($name,)+) = self;
                usize::MAX $(.min($name.len()))+
            }

            #[allow(non_snake_case)]
            fn split_at(self, mid: usize) -> (Self, Self) {
                let ($($name,)+) = self;
                $(let $name = $name.split_at(mid);)+
                (($($name.0,)+), ($($name.1,)+))
            }
        }
    };
}
tuple_lanes!(A, B);
tuple_lanes!(A, B, C);
tuple_lanes!(A, B, C, D);
tuple_lanes!(A, B, C, D, E);
tuple_lanes!(A, B, C, D, E, F);

/// Runs `f` on `lanes`, or on [`chunk_len`] chunks of it in parallel when it holds at least
/// [`min_len_for_parallel`] elements.
pub(crate) fn for_each_chunk<L: Lanes>(lanes: L, f: &(impl Fn(L) + Sync)) {
    let len = lanes.len();
    let chunk = chunk_len();
    if len < min_len_for_parallel() || len <= chunk {
        f(lanes);
        return;
    }
    // Cut into chunks here, then let graft-tensor's one parallel loop (compiled once, in
    // that crate) hand each task its chunk.
    let mut rest = Some(lanes);
    let pieces = std::iter::from_fn(|| {
        let lanes = rest.take()?;
        if lanes.len() <= chunk {
            return Some(lanes);
        }
        let (piece, tail) = lanes.split_at(chunk);
        rest = Some(tail);
        Some(piece)
    });
    graft_tensor::parallel::for_each_piece(pieces, |_, piece| f(piece));
}

/// Panics unless `actual` equals the parameter's length `expected`: a state buffer or
/// gradient of the wrong size is a bug in the caller.
pub(crate) fn check_len(rule: &str, what: &str, expected: usize, actual: usize) {
    assert_eq!(
        actual, expected,
        "{rule}: {what} has {actual} elements but the parameter has {expected}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn visits_every_element_once_in_fixed_chunks() {
        let n = min_len_for_parallel() * 3 + 5;
        let mut a = vec![0u32; n];
        let b: Vec<u32> = (0..n as u32).collect();
        let mut c = vec![1u32; n];
        let calls = AtomicUsize::new(0);
        for_each_chunk((&mut a[..], &b[..], Some(&mut c[..])), &|(a, b, c)| {
            calls.fetch_add(1, Ordering::Relaxed);
            assert!(a.len() <= chunk_len());
            let c = c.unwrap();
            for i in 0..a.len() {
                a[i] += b[i] + 1;
                c[i] += 1;
            }
        });
        assert!(a.iter().zip(&b).all(|(a, b)| *a == b + 1));
        assert!(c.iter().all(|&c| c == 2));
        assert_eq!(calls.load(Ordering::Relaxed), n.div_ceil(chunk_len()));
    }

    #[test]
    fn small_inputs_run_in_one_call() {
        let mut a = vec![0.0f64; 10];
        let calls = AtomicUsize::new(0);
        for_each_chunk((&mut a[..], None::<&[f64]>), &|(a, _)| {
            calls.fetch_add(1, Ordering::Relaxed);
            a.fill(1.0);
        });
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert_eq!(a, vec![1.0; 10]);
    }
}
