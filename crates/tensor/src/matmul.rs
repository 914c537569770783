//! Matrix products with `torch.matmul` semantics, on matrixmultiply's gemm (f32 products on
//! AVX-512 CPUs take `sgemm`'s own path, with the same bits).
//!
//! Operands are passed with their own strides, so a transposed or sliced view costs no
//! copy. Work is split on rayon (the crate's one thread pool): across batch entries when
//! there are several, otherwise across rows or columns of one large product; a large product
//! whose inner dimension is long, or runs contiguously in both operands, is summed in two
//! halves along it (`split_inner`). No split depends on the number of threads, so neither do
//! the results; they do depend on the product's shape and layout (as a blocked gemm's do).

use crate::element::Float;
use crate::error::{fmt_shape, plain, Result, TensorError};
use crate::layout::checked_numel;
use crate::layout::{broadcast_shapes, Layout};
use crate::storage::try_alloc_uninit;
use crate::tensor::Tensor;

/// Products with fewer multiply-adds than this run on one thread when the caller is a rayon
/// worker (code under `ThreadPool::install` or `rayon::scope`): below it the second thread's
/// packing and wake-up cost more than it saves. Measured with the `tensor` bench's threshold
/// sweep on the 2-core machine while idle workers slept: 96³ gained nothing, 128³ (2M) 1.5x,
/// 32x784x128 1.4x. With the workers kept awake (`graft::run`) a split starts sooner, so the
/// threshold went from 2M down to 256K: the MLP's 256x128x10 products at batch 256 then split,
/// `mnist` 0.077-0.078 -> 0.076 s/epoch (alternating binaries); batch 32 unchanged.
pub(crate) const PAR_MATMUL_MIN_MACS: usize = 1 << 18;
/// The same threshold for callers outside any pool (a plain `main`), where a split also pays
/// for sending the work to the pool and waiting for it, 10-25 µs on the 2-core VM: there
/// 128³ and 32x784x128 gain 0.65-1.15x depending on the machine's load, 4M-MAC products
/// 0.75-1.3x, 16M ones 1.2-1.6x.
const PAR_MATMUL_MIN_MACS_OUTSIDE_POOL: usize = 1 << 22;

/// The size from which a product splits across threads, for the calling thread.
fn par_min_macs() -> usize {
    if rayon::current_thread_index().is_some() {
        PAR_MATMUL_MIN_MACS
    } else {
        PAR_MATMUL_MIN_MACS_OUTSIDE_POOL
    }
}

/// A raw pointer that may cross threads; every user writes a disjoint region.
#[derive(Clone, Copy)]
struct SendPtr<T>(*mut T);
// SAFETY: only used to hand disjoint output blocks of one buffer to rayon tasks.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above; the pointer itself is never written through concurrently at one address.
unsafe impl<T> Sync for SendPtr<T> {}

/// One 2-D product `c[m, n] = a[m, k] b[k, n]` over strided operands.
struct Gemm<'a, T> {
    a: &'a [T],
    a_off: isize,
    a_st: [isize; 2],
    b: &'a [T],
    b_off: isize,
    b_st: [isize; 2],
    m: usize,
    k: usize,
    n: usize,
}

impl<T: Float> Gemm<'_, T> {
    /// Computes rows `r0..r1` and columns `c0..c1` into `c` (row stride `ldc`).
    ///
    /// # Safety
    /// `c` must point at a writable `m x ldc` row-major block that no one else touches in the
    /// given rows and columns while this runs.
    unsafe fn run(&self, c: *mut T, ldc: usize, rows: (usize, usize), cols: (usize, usize)) {
        self.run_onto(c, ldc, rows, cols, false)
    }

    /// [`run`](Self::run), adding the product to what `c` holds when `add`.
    ///
    /// # Safety
    /// As `run`.
    unsafe fn run_onto(
        &self,
        c: *mut T,
        ldc: usize,
        rows: (usize, usize),
        cols: (usize, usize),
        add: bool,
    ) {
        let (m, n) = (rows.1 - rows.0, cols.1 - cols.0);
        if m == 0 || n == 0 {
            return;
        }
        debug_assert!(rows.1 <= self.m && cols.1 <= self.n && self.n <= ldc);
        let c = c.add(rows.0 * ldc + cols.0);
        if self.k == 0 {
            if add {
                return;
            }
            for i in 0..m {
                for j in 0..n {
                    *c.add(i * ldc + j) = T::ZERO;
                }
            }
            return;
        }
        debug_assert!(
            in_storage(self.a.len(), self.a_off, self.a_st, rows, (0, self.k)),
            "gemm: a's block leaves its storage"
        );
        debug_assert!(
            in_storage(self.b.len(), self.b_off, self.b_st, (0, self.k), cols),
            "gemm: b's block leaves its storage"
        );
        // SAFETY: the offsets and strides come from layouts validated against these
        // storages, so every addressed element is in bounds (checked above in debug
        // builds); `c` is disjoint from a and b.
        let a = self
            .a
            .as_ptr()
            .offset(self.a_off + rows.0 as isize * self.a_st[0]);
        let b = self
            .b
            .as_ptr()
            .offset(self.b_off + cols.0 as isize * self.b_st[1]);
        T::gemm(
            m,
            self.k,
            n,
            T::ONE,
            a,
            self.a_st[0],
            self.a_st[1],
            b,
            self.b_st[0],
            self.b_st[1],
            if add { T::ONE } else { T::ZERO },
            c,
            ldc as isize,
            1,
        );
    }
}

/// `c = a b` (`c += a b` with `add`) for an `m x k` and a `k x n` operand, each given as a
/// slice with its (row, column) strides from the slice's start, into row-major `m x n` `c`:
/// for kernels that multiply blocks of their own buffers (a convolution's per-image
/// products). Panics if a stride leaves its operand's slice or `c` is too short.
pub(crate) fn block_product<T: Float>(
    (m, k, n): (usize, usize, usize),
    (a, a_st): (&[T], [isize; 2]),
    (b, b_st): (&[T], [isize; 2]),
    c: &mut [T],
    add: bool,
) {
    assert!(
        c.len() >= m * n,
        "block_product: c holds {} of {m}x{n}",
        c.len()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k > 0 {
        assert!(
            in_storage(a.len(), 0, a_st, (0, m), (0, k))
                && in_storage(b.len(), 0, b_st, (0, k), (0, n)),
            "block_product: an operand's strides leave its slice"
        );
    }
    let g = Gemm {
        a,
        a_off: 0,
        a_st,
        b,
        b_off: 0,
        b_st,
        m,
        k,
        n,
    };
    // SAFETY: both operands' blocks lie in their slices (checked above), and `c` is a
    // separate, exclusively borrowed m x n block.
    unsafe { g.run_onto(c.as_mut_ptr(), n, (0, m), (0, n), add) }
}

/// Whether every element `off + i * st[0] + j * st[1]` for `i` in `rows` and `j` in `cols`
/// (both non-empty) lies in a storage of `len` elements: the lowest and highest such offsets
/// take each stride at its range's end that minimizes or maximizes it.
fn in_storage(
    len: usize,
    off: isize,
    st: [isize; 2],
    rows: (usize, usize),
    cols: (usize, usize),
) -> bool {
    let (mut lo, mut hi) = (off as i128, off as i128);
    for (s, (first, end)) in st.iter().zip([rows, cols]) {
        let (a, b) = (*s as i128 * first as i128, *s as i128 * (end as i128 - 1));
        lo += a.min(b);
        hi += a.max(b);
    }
    lo >= 0 && hi < len as i128
}

fn err(a: &[usize], b: &[usize], why: String) -> TensorError {
    TensorError::shape_mismatch(
        "matmul",
        format!("{} x {}: {why}", fmt_shape(a), fmt_shape(b)),
    )
}

impl<T: Float> Tensor<T> {
    /// Matrix product with `torch.matmul` semantics: 2-D @ 2-D, batched with broadcast
    /// batch dims, and 1-D operands treated as vectors (dim removed from the result).
    pub fn try_matmul(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        let (sa, sb) = (self.shape(), other.shape());
        if self.ndim() == 0 || other.ndim() == 0 {
            return Err(err(sa, sb, "both operands need at least 1 dim".into()));
        }
        let a = if self.ndim() == 1 {
            self.unsqueeze(0)
        } else {
            self.clone()
        };
        let b = if other.ndim() == 1 {
            other.unsqueeze(1)
        } else {
            other.clone()
        };
        let (an, bn) = (a.ndim(), b.ndim());
        let (m, k) = (a.shape()[an - 2], a.shape()[an - 1]);
        let (k2, n) = (b.shape()[bn - 2], b.shape()[bn - 1]);
        if k != k2 {
            return Err(err(sa, sb, format!("inner dimensions {k} and {k2} differ")));
        }
        let batch = broadcast_shapes(&a.shape()[..an - 2], &b.shape()[..bn - 2])
            .ok_or_else(|| err(sa, sb, "batch dimensions cannot be broadcast".into()))?;
        let mut a_full = batch.to_vec();
        a_full.extend([m, k]);
        let mut b_full = batch.to_vec();
        b_full.extend([k, n]);
        let size = std::mem::size_of::<T>();
        // The broadcast operands are views, but their sizes bound every offset computed
        // below; the output is allocated. All three must be representable.
        checked_numel("matmul", &a_full, size)?;
        checked_numel("matmul", &b_full, size)?;
        let la = a.layout().broadcast_to(&a_full).expect("checked");
        let lb = b.layout().broadcast_to(&b_full).expect("checked");
        let nb = crate::layout::numel(&batch);
        let mut out_full = batch.to_vec();
        out_full.extend([m, n]);
        let mut out = try_alloc_uninit::<T>("matmul", &out_full)?;
        batched_gemm(&a, &la, &b, &lb, nb, (m, k, n), &mut out);
        let mut shape = batch.to_vec();
        if self.ndim() > 1 {
            shape.push(m);
        }
        if other.ndim() > 1 {
            shape.push(n);
        }
        Ok(Tensor::from_buffer(out, &shape))
    }

    plain! {
        /// Matrix product (`torch.matmul` semantics).
        fn matmul => try_matmul(other: &Tensor<T>) -> Tensor<T>;
    }
}

/// Storage offset of batch entry `i` (row-major over the batch dims) in a broadcast layout.
fn batch_offset(l: &Layout, i: usize) -> isize {
    let nd = l.ndim() - 2;
    let mut off = l.offset() as isize;
    let mut rem = i;
    for d in (0..nd).rev() {
        off += (rem % l.shape()[d]) as isize * l.strides()[d];
        rem /= l.shape()[d];
    }
    off
}

fn batched_gemm<T: Float>(
    a: &Tensor<T>,
    la: &Layout,
    b: &Tensor<T>,
    lb: &Layout,
    nb: usize,
    (m, k, n): (usize, usize, usize),
    out: &mut [T],
) {
    if out.is_empty() {
        // Nothing to write; below, `m * n` then cannot overflow (it divides the output size).
        return;
    }
    let st = |l: &Layout| [l.strides()[l.ndim() - 2], l.strides()[l.ndim() - 1]];
    // A batch of rows against one shared matrix (x[B, T, in] @ W) is a single taller product.
    let b_shared = lb.strides()[..lb.ndim() - 2].iter().all(|&s| s == 0);
    if nb > 1 && b_shared {
        // (`nb * m` overflows only for an empty product, which then takes the loop below.)
        let rows = nb.checked_mul(m);
        if let Some((flat, rows)) = rows.and_then(|r| Some((la.view(&[r, k])?, r))) {
            let g = Gemm {
                a: a.storage_slice(),
                a_off: flat.offset() as isize,
                a_st: [flat.strides()[0], flat.strides()[1]],
                b: b.storage_slice(),
                b_off: batch_offset(lb, 0),
                b_st: st(lb),
                m: rows,
                k,
                n,
            };
            return split_one(&g, out);
        }
    }
    let gemm_at = |i: usize| Gemm {
        a: a.storage_slice(),
        a_off: batch_offset(la, i),
        a_st: st(la),
        b: b.storage_slice(),
        b_off: batch_offset(lb, i),
        b_st: st(lb),
        m,
        k,
        n,
    };
    let threads = rayon::current_num_threads();
    if nb == 1 {
        split_one(&gemm_at(0), out);
    } else if nb.saturating_mul(m * n).saturating_mul(k) >= par_min_macs()
        && threads > 1
        && m * n > 0
    {
        crate::parallel::for_each_chunk_indexed(out, m * n, |i, c| {
            // SAFETY: `c` is this batch entry's own m x n block.
            unsafe { gemm_at(i).run(c.as_mut_ptr(), n, (0, m), (0, n)) }
        });
    } else {
        for (i, c) in out.chunks_mut((m * n).max(1)).enumerate().take(nb) {
            // SAFETY: `c` is this batch entry's own m x n block.
            unsafe { gemm_at(i).run(c.as_mut_ptr(), n, (0, m), (0, n)) }
        }
    }
}

/// The threads one product should use from the calling thread: the pool's, or 1 below the
/// parallel size. (Only how the work is spread: no product's bits depend on it.)
fn threads_for<T: Float>(g: &Gemm<'_, T>) -> usize {
    if (g.m * g.n).saturating_mul(g.k) < par_min_macs() {
        1
    } else {
        rayon::current_num_threads()
    }
}

/// Runs one product, split across threads along its longer output side when large; a
/// product that `halves_along_k` picks is summed as two halves (see `split_inner`).
fn split_one<T: Float>(g: &Gemm<'_, T>, out: &mut [T]) {
    let threads = threads_for(g);
    if halves_along_k(g) {
        return split_inner(g, out, threads);
    }
    let (m, n) = (g.m, g.n);
    if threads < 2 {
        // SAFETY: `out` is the whole m x n block, exclusively ours.
        unsafe { g.run(out.as_mut_ptr(), n, (0, m), (0, n)) };
        return;
    }
    let ptr = SendPtr(out.as_mut_ptr());
    let (along_rows, piece, pieces) = output_pieces(m, n, threads);
    crate::parallel::for_each_task(pieces, &|p| {
        let c = ptr;
        // SAFETY: each task writes only its own rows (or columns) of the m x n output.
        unsafe { g.run_piece(c.0, n, along_rows, piece, p) }
    });
}

/// How a product's output splits into `threads` pieces: along its longer side, in pieces
/// aligned to the gemm micro-kernel (multiples of 16: whole 8-row tiles, whole 16-column
/// vectors of the 32-column tiles), so each thread packs only its share of
/// the operand that side belongs to. Returns (along rows, piece length, number of pieces).
fn output_pieces(m: usize, n: usize, threads: usize) -> (bool, usize, usize) {
    let along_rows = m >= n;
    let len = if along_rows { m } else { n };
    let piece = len.div_ceil(threads.max(1)).div_ceil(16) * 16;
    (along_rows, piece, len.div_ceil(piece))
}

impl<T: Float> Gemm<'_, T> {
    /// Computes output piece `p` of `output_pieces`'s split into `c` (row stride `ldc`).
    ///
    /// # Safety
    /// As `run`, for that piece's rows or columns.
    unsafe fn run_piece(&self, c: *mut T, ldc: usize, along_rows: bool, piece: usize, p: usize) {
        let len = if along_rows { self.m } else { self.n };
        let range = (p * piece, ((p + 1) * piece).min(len));
        if along_rows {
            self.run(c, ldc, range, (0, self.n))
        } else {
            self.run(c, ldc, (0, self.m), range)
        }
    }

    /// The same product over inner indices `k0..k1` only.
    fn inner_range(&self, k0: usize, k1: usize) -> Self {
        Gemm {
            a_off: self.a_off + k0 as isize * self.a_st[1],
            b_off: self.b_off + k0 as isize * self.b_st[0],
            k: k1 - k0,
            ..*self
        }
    }
}

/// The inner dimension, as a multiple of the longer output side, from which a product is
/// summed in two halves (see `split_inner`).
const SPLIT_K_RATIO: usize = 8;
/// The inner dimension from which a product whose operands both run contiguously along it
/// is summed in two halves (each half then still fills the gemm's 256-deep blocks).
const SPLIT_K_MIN: usize = 512;

/// Whether `split_inner` computes this product. Decided by its shape and layout alone, never
/// by the thread count or the calling thread, so that a product has the same bits on any
/// number of threads, in a pool or not. The bits do depend on the shape and layout: a row of
/// `x @ w.t()` can round differently at another batch size (the product halves only from
/// `PAR_MATMUL_MIN_MACS` on), as one entry of a batched product (entries never halve), or
/// with `w.t().contiguous()`.
fn halves_along_k<T: Float>(g: &Gemm<'_, T>) -> bool {
    let (m, n, k) = (g.m, g.n, g.k);
    // Both operands run contiguously along k (`x @ w.t()`, a convolution's weight gradient):
    // B is then packed by transposes, and an output split, which has every thread pack the
    // whole of one operand, repeats that work (measured again with the 8x32 kernel, which
    // reads x's rows directly: the MLP's 256x784x128 `x @ w.t()` 111 us halved along k, 132
    // split along rows, 2 threads).
    let along_k = g.a_st[1] == 1 && g.b_st[0] == 1;
    (m * n).saturating_mul(k) >= PAR_MATMUL_MIN_MACS
        && (k >= SPLIT_K_RATIO * m.max(n) || (along_k && k >= SPLIT_K_MIN))
}

/// Computes a product whose inner dimension is long against its output (a convolution's
/// weight gradient, `[O, N·L] @ [N·L, C·k·k]`) or whose operands both run along it, as the
/// sum of two half products over the first and second half of `k`, each split along its
/// output for the remaining threads: the halves run on different threads, so no thread packs
/// more than its share of either operand. (Split along the output alone, each thread packed
/// the whole of one operand's long side; the CNN's first weight gradient, 9 columns wide, did
/// not split at all.) The halves are the same on any number of threads, one included, and
/// are added in the same order, so the result does not depend on the thread count.
/// Measured alone, 2 threads, against the output split: the CNN's weight gradients 1.8x and
/// 1.06x faster, `x @ w.t()` of the MLP (256x784x128) 1.09x and of the CNN's first linear
/// layer (64x1600x128) 1.14x.
fn split_inner<T: Float>(g: &Gemm<'_, T>, out: &mut [T], threads: usize) {
    let (m, n) = (g.m, g.n);
    let halves = [g.inner_range(0, g.k / 2), g.inner_range(g.k / 2, g.k)];
    // The first half goes straight to `out`; the second to scratch (from the buffer pool:
    // this runs every step), added afterwards.
    let mut scratch = crate::storage::alloc_uninit::<T>(m * n);
    let targets = [SendPtr(out.as_mut_ptr()), SendPtr(scratch.as_mut_ptr())];
    if threads < 2 {
        for (half, c) in halves.iter().zip(targets) {
            // SAFETY: each half writes its own whole m x n block.
            unsafe { half.run(c.0, n, (0, m), (0, n)) };
        }
    } else {
        let (along_rows, piece, pieces) = output_pieces(m, n, threads / 2);
        crate::parallel::for_each_task(2 * pieces, &|t| {
            // (A closure capturing only the pointer field would not be Sync.)
            let whole = targets;
            // SAFETY: each task writes one output piece of its own half's m x n block.
            unsafe {
                halves[t / pieces].run_piece(whole[t / pieces].0, n, along_rows, piece, t % pieces)
            }
        });
    }
    for (o, &v) in out.iter_mut().zip(&scratch) {
        *o += v;
    }
    crate::storage::recycle(scratch);
}
