//! Shared element buffers that return to the pool when the last owner drops them.

use crate::element::Element;
use crate::error::{fmt_shape, Result, TensorError};
use crate::layout::checked_numel;

/// A flat buffer of elements, shared between tensors through an `Arc`.
pub(crate) struct Storage<T: Element> {
    pub(crate) data: Vec<T>,
}

impl<T: Element> Storage<T> {
    pub(crate) fn new(data: Vec<T>) -> Self {
        Storage { data }
    }
}

impl<T: Element> Clone for Storage<T> {
    fn clone(&self) -> Self {
        let mut data = alloc_uninit(self.data.len());
        data.copy_from_slice(&self.data);
        Storage { data }
    }
}

impl<T: Element> Drop for Storage<T> {
    fn drop(&mut self) {
        recycle(std::mem::take(&mut self.data));
    }
}

/// Hands a buffer back to its element type's pool (a tensor's storage when it dies, or a
/// kernel's scratch), so the next request of the same length takes no memory from the OS.
pub(crate) fn recycle<T: Element>(buf: Vec<T>) {
    if let Some(pool) = T::pool() {
        pool.put(buf);
    }
}

/// `len` copies of `value` in a fresh buffer, or an error naming `op`, the shape and the
/// bytes asked when the allocator refuses: `vec!` would abort the whole process instead.
fn try_vec<T: Element>(op: &str, shape: &[usize], len: usize, value: T) -> Result<Vec<T>> {
    let mut buf = Vec::new();
    if buf.try_reserve_exact(len).is_err() {
        let bytes = len as u128 * std::mem::size_of::<T>() as u128;
        return Err(TensorError::new(
            op,
            format!(
                "out of memory: shape {} needs {bytes} bytes ({len} elements of {})",
                fmt_shape(shape),
                T::DTYPE
            ),
        ));
    }
    buf.resize(len, value);
    Ok(buf)
}

/// A buffer for a tensor of `shape` whose contents the caller must overwrite entirely (it
/// may come from the pool with a previous tensor's values in it); an error naming `op` when
/// the shape is too large or the memory cannot be had.
pub(crate) fn try_alloc_uninit<T: Element>(op: &str, shape: &[usize]) -> Result<Vec<T>> {
    let len = checked_numel(op, shape, std::mem::size_of::<T>())?;
    if let Some(buf) = T::pool().and_then(|p| p.take(len)) {
        return Ok(buf);
    }
    try_vec(op, shape, len, T::default())
}

/// A buffer of `len` elements for a kernel whose output size is already known to be valid
/// (it is an input's size or was checked); panics with a message, instead of aborting, when
/// memory runs out.
pub(crate) fn alloc_uninit<T: Element>(len: usize) -> Vec<T> {
    crate::error::or_panic(try_alloc_uninit("alloc", &[len]))
}

/// A buffer for a tensor of `shape` filled with `value`; errors like [`try_alloc_uninit`].
pub(crate) fn try_alloc_filled<T: Element>(op: &str, shape: &[usize], value: T) -> Result<Vec<T>> {
    let len = checked_numel(op, shape, std::mem::size_of::<T>())?;
    match T::pool().and_then(|p| p.take(len)) {
        Some(mut buf) => {
            buf.fill(value);
            Ok(buf)
        }
        None => try_vec(op, shape, len, value),
    }
}
