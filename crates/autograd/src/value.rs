//! Where a `Var` keeps its value: read without a lock for the Vars ops compute, behind a
//! lock for leaves (which optimizers update in place).
//!
//! Every op reads its inputs' values, so a read lock per read (two atomic read-modify-writes)
//! was the largest single cost of recording a small op. The values of computed Vars and
//! constants are almost never replaced, so they are stored as they are and read with one
//! reference-count increment; only if someone does replace one (`set_value`, `update_value`)
//! does it move behind a lock, and reads of that Var take the lock from then on. Tracked
//! leaves (parameters), which optimizers update every step, live behind the lock from the
//! start, so an update never leaves their first value behind.

use std::sync::{OnceLock, RwLock};

use graft_tensor::{Float, Shape, Tensor};

/// A Var's value cell.
pub(crate) enum ValueCell<T: Float> {
    /// The value an op or a constant was made with. `replaced`, once set, holds
    /// the current value instead; `value` then only gives the shape, which replacing keeps.
    Fixed {
        value: Tensor<T>,
        replaced: OnceLock<Box<RwLock<Tensor<T>>>>,
    },
    /// A tracked leaf's value (a parameter), updated in place by optimizers: kept
    /// behind the lock from the start, so an update never leaves a second copy behind.
    /// Boxed: parameters are few, and every other Var is smaller for it.
    Locked(Box<Locked<T>>),
}

/// A leaf's value behind its lock, with the shape kept apart so that reading it takes none.
pub(crate) struct Locked<T: Float> {
    shape: Shape,
    value: RwLock<Tensor<T>>,
}

impl<T: Float> ValueCell<T> {
    /// A value read without locking until it is first replaced.
    pub(crate) fn fixed(value: Tensor<T>) -> Self {
        ValueCell::Fixed {
            value,
            replaced: OnceLock::new(),
        }
    }

    /// A value behind a lock (for leaves, which are updated in place).
    pub(crate) fn locked(value: Tensor<T>) -> Self {
        ValueCell::Locked(Box::new(Locked {
            shape: Shape::from_slice(value.shape()),
            value: RwLock::new(value),
        }))
    }

    /// Moves the value behind the lock (the leaf form), taking the current value.
    pub(crate) fn make_locked(&mut self) {
        if let ValueCell::Fixed { value, replaced } = self {
            let current = match replaced.take() {
                Some(lock) => lock.into_inner().unwrap_or_else(|p| p.into_inner()),
                None => value.clone(),
            };
            *self = ValueCell::locked(current);
        }
    }

    /// The current value (a cheap clone sharing storage).
    pub(crate) fn get(&self) -> Tensor<T> {
        match self {
            ValueCell::Fixed { value, replaced } => match replaced.get() {
                None => value.clone(),
                Some(lock) => lock.read().unwrap_or_else(|p| p.into_inner()).clone(),
            },
            ValueCell::Locked(locked) => locked
                .value
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    /// Runs `f` on the current value: borrowed when it is fixed and was never replaced (no
    /// lock, no clone), else on a clone taken under the read lock (the lock is not held
    /// while `f` runs, so `f` may read this cell again).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Tensor<T>) -> R) -> R {
        match self {
            ValueCell::Fixed { value, replaced } if replaced.get().is_none() => f(value),
            _ => f(&self.get()),
        }
    }

    /// The value's shape (the same for every value the cell ever holds).
    pub(crate) fn shape(&self) -> &[usize] {
        match self {
            ValueCell::Fixed { value, .. } => value.shape(),
            ValueCell::Locked(locked) => &locked.shape,
        }
    }

    /// Runs `f` on the current value under the write lock (moving a fixed value behind one
    /// first). The caller keeps the shape unchanged.
    pub(crate) fn write<R>(&self, f: impl FnOnce(&mut Tensor<T>) -> R) -> R {
        let lock = match self {
            ValueCell::Fixed { value, replaced } => {
                &**replaced.get_or_init(|| Box::new(RwLock::new(value.clone())))
            }
            ValueCell::Locked(locked) => &locked.value,
        };
        let mut guard = lock.write().unwrap_or_else(|p| p.into_inner());
        let r = f(&mut guard);
        debug_assert_eq!(guard.shape(), self.shape(), "a Var's shape never changes");
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Var;

    fn t(v: &[f64]) -> Tensor<f64> {
        Tensor::from_vec(v.to_vec(), &[v.len()])
    }

    #[test]
    fn a_fixed_value_once_replaced_reads_the_new_value_and_keeps_its_shape() {
        let cell = ValueCell::fixed(t(&[1.0, 2.0]));
        assert_eq!(cell.get().to_vec(), vec![1.0, 2.0]);
        cell.write(|v| *v = t(&[3.0, 4.0]));
        assert_eq!(cell.get().to_vec(), vec![3.0, 4.0]);
        cell.write(|v| v.data_mut()[0] = 5.0);
        assert_eq!(cell.get().to_vec(), vec![5.0, 4.0]);
        assert_eq!(cell.shape(), &[2]);
    }

    #[test]
    fn constants_computed_vars_and_parameters_all_take_updates() {
        let x = Var::parameter(t(&[1.0, 2.0]));
        let c = Var::new(t(&[10.0, 20.0]));
        let y = &x + &c;
        for v in [&x, &c, &y] {
            v.update_value(|d| d[0] = -1.0);
            assert_eq!(v.value().to_vec()[0], -1.0);
            v.set_value(t(&[7.0, 8.0]));
            assert_eq!(v.value().to_vec(), vec![7.0, 8.0]);
            assert_eq!(v.version(), 2);
        }
        // Ops read the replaced values (a binary op reading one Var twice, and a unary op).
        assert_eq!((&c * &c).value().to_vec(), vec![49.0, 64.0]);
        assert_eq!(y.neg().value().to_vec(), vec![-7.0, -8.0]);
        // The graph saw its inputs change: backward refuses, as before.
        assert!(y.sum().backward().is_err());
    }

    #[test]
    fn requires_grad_moves_an_unshared_constant_behind_the_lock() {
        let p = Var::new(t(&[1.0])).requires_grad();
        assert!(matches!(p.0.value, ValueCell::Locked(_)));
        assert_eq!(p.value().to_vec(), vec![1.0]);
        let c = Var::new(t(&[1.0]));
        let shared = c.clone();
        let p = c.requires_grad();
        // Shared: stays fixed, but is tracked and still updatable.
        assert!(matches!(p.0.value, ValueCell::Fixed { .. }));
        assert!(shared.needs_grad());
        p.update_value(|d| d[0] = 2.0);
        assert_eq!(shared.value().to_vec(), vec![2.0]);
    }
}
