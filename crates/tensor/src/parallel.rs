//! Parallel sections, and the per-task mode word that must not leak into stolen work.
//!
//! Crates above this one keep per-thread modes (autograd's grad mode and in-backward flag).
//! A rayon worker that waits inside a parallel section — for the other half of a `join`, or
//! for the chunks of a `par_iter` — runs other queued jobs meanwhile, possibly a whole task
//! of the user's own `par_iter` (one training of a hyperparameter search). That task would
//! then start under the waiting task's modes: with recording off if the waiting task was in
//! `no_grad` or `backward`. A second thread pool for the kernels would not help: a worker of
//! one pool waiting on another pool keeps running its own pool's jobs (rayon's
//! `ThreadPool::install` says so).
//!
//! So the modes live in one word here, [`task_mode`], and every parallel section in graft
//! runs through [`section`], which resets the word to 0 (every mode at its default) while
//! the thread may run other jobs, and restores it after, also when the section panics.
//! Work stolen inside a section therefore starts with the defaults, as on a fresh worker;
//! the section's own chunks never read the modes.

use std::cell::Cell;
use std::sync::{Mutex, PoisonError};

thread_local! {
    static TASK_MODE: Cell<u32> = const { Cell::new(0) };
}

/// This thread's mode word; 0 means every mode is at its default. Its bits belong to the
/// crates that define them (autograd: grad mode off, in backward).
#[inline]
pub fn task_mode() -> u32 {
    TASK_MODE.with(Cell::get)
}

/// Sets this thread's mode word and returns the previous one (for a guard to restore).
#[inline]
pub fn replace_task_mode(mode: u32) -> u32 {
    TASK_MODE.with(|m| m.replace(mode))
}

/// Restores a saved mode word when dropped, so that a panic cannot leave a mode switched.
pub struct ModeGuard(u32);

impl ModeGuard {
    /// Sets the mode word to `mode` until the guard is dropped.
    #[inline]
    pub fn set(mode: u32) -> ModeGuard {
        ModeGuard(replace_task_mode(mode))
    }
}

impl Drop for ModeGuard {
    #[inline]
    fn drop(&mut self) {
        replace_task_mode(self.0);
    }
}

/// Runs `f`, which may enter rayon (`join`, `par_iter`), with the mode word at its default,
/// so that any job this thread runs while it waits starts with default modes.
#[inline]
pub fn section<R>(f: impl FnOnce() -> R) -> R {
    let _restore = ModeGuard::set(0);
    f()
}

/// Runs `task(i)` for every `i` in `0..tasks` on the pool, inside a [`section`].
///
/// Every parallel loop in graft goes through this one non-generic function, so rayon's job,
/// join and iterator machinery is compiled once, here, instead of once per kernel closure in
/// every crate that instantiates a kernel: it was 40% of the code a user's crate compiled
/// for its model. The price is one indirect call per task (a task is thousands of elements).
pub fn for_each_task(tasks: usize, task: &(dyn Fn(usize) + Sync)) {
    use rayon::prelude::*;
    section(|| (0..tasks).into_par_iter().for_each(task));
}

/// Runs `f(i, piece)` for every piece on the pool (through [`for_each_task`]), each task
/// owning its piece: the safe way to hand tasks disjoint `&mut` borrows (slice chunks, or
/// strided sets of rows cut beforehand). Each piece waits in a slot its task takes it from.
pub fn for_each_piece<P: Send>(pieces: impl IntoIterator<Item = P>, f: impl Fn(usize, P) + Sync) {
    let slots: Vec<Mutex<Option<P>>> = pieces.into_iter().map(|p| Mutex::new(Some(p))).collect();
    for_each_task(slots.len(), &|i| {
        let piece = slots[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(piece) = piece {
            f(i, piece);
        }
    });
}

/// Calls `f(i, piece)` for the consecutive `chunk`-element pieces of `out` (the last may be
/// shorter), in parallel through [`for_each_piece`]. `chunk` must be positive.
pub fn for_each_chunk_indexed<U: Send>(
    out: &mut [U],
    chunk: usize,
    f: impl Fn(usize, &mut [U]) + Sync,
) {
    assert!(chunk > 0, "for_each_chunk_indexed: chunk must be positive");
    for_each_piece(out.chunks_mut(chunk), f);
}

/// Like [`for_each_chunk_indexed`] over two equally long slices cut alike: `f(i, a_piece,
/// b_piece)` for their `chunk`-element pieces. Panics if the lengths differ.
pub fn for_each_chunk_pair<A: Send, B: Send>(
    a: &mut [A],
    b: &mut [B],
    chunk: usize,
    f: impl Fn(usize, &mut [A], &mut [B]) + Sync,
) {
    assert!(chunk > 0, "for_each_chunk_pair: chunk must be positive");
    assert_eq!(
        a.len(),
        b.len(),
        "for_each_chunk_pair: slices of different lengths"
    );
    let pieces = a.chunks_mut(chunk).zip(b.chunks_mut(chunk));
    for_each_piece(pieces, |i, (x, y)| f(i, x, y));
}

/// graft's one parallel-chunking policy, for crates above that split their own loops (the
/// optimizers' update rules and gradient clipping): a slice shorter than this stays on the
/// calling thread. The same threshold as this crate's elementwise kernels; it depends on
/// whether the caller is a rayon worker (a split costs less there), never on the data.
/// Splitting never changes a result: see [`chunk_len`].
#[inline]
pub fn min_len_for_parallel() -> usize {
    crate::kernels::par_min_elems()
}

/// Elements per parallel work item under [`min_len_for_parallel`]'s policy. A constant
/// (never the thread count), so a computation that reduces per chunk and then combines the
/// chunks in order gives the same bits on any machine, split or not.
#[inline]
pub fn chunk_len() -> usize {
    crate::kernels::PAR_CHUNK
}

/// Runs `f` on `values`, or on consecutive [`chunk_len`] pieces of it in parallel (inside a
/// [`section`]) when it holds at least [`min_len_for_parallel`] elements. For elementwise
/// updates, whose result does not depend on the split.
pub fn for_each_chunk_mut<U: Send>(values: &mut [U], f: impl Fn(&mut [U]) + Sync) {
    crate::kernels::fill_chunks(values, |_, chunk| f(chunk));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_resets_the_mode_and_restores_it_even_on_panic() {
        let _outer = ModeGuard::set(5);
        assert_eq!(section(task_mode), 0);
        assert_eq!(task_mode(), 5);
        let caught = std::panic::catch_unwind(|| section(|| panic!("kernel failed")));
        assert!(caught.is_err());
        assert_eq!(task_mode(), 5);
    }

    #[test]
    fn chunked_for_each_visits_every_element_once_in_fixed_chunks() {
        let n = min_len_for_parallel() * 2 + 3;
        let mut v = vec![1u32; n];
        let calls = std::sync::atomic::AtomicUsize::new(0);
        for_each_chunk_mut(&mut v, |c| {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            assert!(c.len() <= chunk_len());
            c.iter_mut().for_each(|x| *x += 1);
        });
        assert!(v.iter().all(|&x| x == 2));
        assert_eq!(calls.into_inner(), n.div_ceil(chunk_len()));
        let mut small = vec![0u8; 10];
        for_each_chunk_mut(&mut small, |c| assert_eq!(c.len(), 10));
    }

    #[test]
    fn indexed_chunks_cover_the_slice_once_with_their_own_index() {
        for (len, chunk) in [(0usize, 3usize), (1, 1), (10, 3), (12, 4), (1000, 7)] {
            let mut v = vec![usize::MAX; len];
            for_each_chunk_indexed(&mut v, chunk, |i, piece| {
                assert!(piece.len() <= chunk && !piece.is_empty());
                for (k, x) in piece.iter_mut().enumerate() {
                    assert_eq!(*x, usize::MAX, "written twice");
                    *x = i * chunk + k;
                }
            });
            assert_eq!(v, (0..len).collect::<Vec<_>>());
        }
    }

    #[test]
    fn paired_chunks_are_cut_alike() {
        let (mut a, mut b) = (vec![0usize; 1000], vec![0u8; 1000]);
        for_each_chunk_pair(&mut a, &mut b, 7, |i, x, y| {
            assert_eq!(x.len(), y.len());
            x.iter_mut().for_each(|v| *v = i);
            y.iter_mut().for_each(|v| *v = (i % 251) as u8);
        });
        assert!((0..1000).all(|k| a[k] == k / 7 && b[k] == ((k / 7) % 251) as u8));
    }
}
