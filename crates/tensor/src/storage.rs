//! Shared element buffers that return to the pool when the last owner drops them.

use crate::element::Element;

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
        if let Some(pool) = T::pool() {
            pool.put(std::mem::take(&mut self.data));
        }
    }
}

/// A buffer of `len` elements whose contents the caller must overwrite entirely: it may come
/// from the pool with a previous tensor's values in it.
pub(crate) fn alloc_uninit<T: Element>(len: usize) -> Vec<T> {
    if let Some(buf) = T::pool().and_then(|p| p.take(len)) {
        return buf;
    }
    vec![T::default(); len]
}

/// A buffer of `len` copies of `value`.
pub(crate) fn alloc_filled<T: Element>(len: usize, value: T) -> Vec<T> {
    match T::pool().and_then(|p| p.take(len)) {
        Some(mut buf) => {
            buf.fill(value);
            buf
        }
        None => vec![value; len],
    }
}
