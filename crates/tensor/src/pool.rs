//! A size-bucketed, thread-safe pool of storage buffers.
//!
//! glibc hands large freed blocks back to the OS, so a training loop that allocates and frees
//! same-sized tensors page-faults on every step. Buffers of at least [`MIN_POOLED_BYTES`] are
//! kept here when their tensor dies and handed out again for the next request of the same
//! length, so that after warm-up a repeated computation takes no memory from the OS.

use std::sync::Mutex;

/// Buffers smaller than this go straight back to the allocator, which keeps them anyway.
pub const MIN_POOLED_BYTES: usize = 16 * 1024;
/// The pool never holds more than this many bytes per element type.
pub const MAX_POOLED_BYTES: usize = 512 * 1024 * 1024;
/// At most this many idle buffers of one length are kept.
const MAX_PER_LEN: usize = 32;

/// A pool of `Vec<T>` buffers keyed by exact length.
pub struct BufferPool<T> {
    inner: Mutex<PoolInner<T>>,
}

struct PoolInner<T> {
    buckets: Vec<(usize, Vec<Vec<T>>)>,
    bytes: usize,
}

impl<T: Copy> BufferPool<T> {
    /// An empty pool.
    pub const fn new() -> Self {
        BufferPool {
            inner: Mutex::new(PoolInner {
                buckets: Vec::new(),
                bytes: 0,
            }),
        }
    }

    fn worth_pooling(len: usize) -> bool {
        len * std::mem::size_of::<T>() >= MIN_POOLED_BYTES
    }

    /// Takes a buffer of exactly `len` elements with unspecified (but initialized) contents.
    pub fn take(&self, len: usize) -> Option<Vec<T>> {
        if !Self::worth_pooling(len) {
            return None;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = inner.buckets.iter_mut().find(|(l, _)| *l == len)?;
        let buf = bucket.1.pop()?;
        inner.bytes -= len * std::mem::size_of::<T>();
        Some(buf)
    }

    /// Returns a buffer to the pool (or drops it if it is small or the pool is full).
    pub fn put(&self, buf: Vec<T>) {
        let len = buf.len();
        if !Self::worth_pooling(len) || buf.capacity() != len {
            return;
        }
        let bytes = len * std::mem::size_of::<T>();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.bytes + bytes > MAX_POOLED_BYTES {
            return;
        }
        let idx = match inner.buckets.iter().position(|(l, _)| *l == len) {
            Some(i) => i,
            None => {
                inner.buckets.push((len, Vec::new()));
                inner.buckets.len() - 1
            }
        };
        if inner.buckets[idx].1.len() >= MAX_PER_LEN {
            return;
        }
        inner.buckets[idx].1.push(buf);
        inner.bytes += bytes;
    }

    /// Bytes currently held idle in the pool.
    pub fn pooled_bytes(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).bytes
    }

    /// Drops every idle buffer, giving the memory back to the allocator.
    pub fn clear(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.buckets.clear();
        inner.bytes = 0;
    }
}

impl<T: Copy> Default for BufferPool<T> {
    fn default() -> Self {
        Self::new()
    }
}
