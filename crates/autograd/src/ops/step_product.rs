//! The recurrence's per-step matrix products: `[N, K] × [K, M]` against the same weight on
//! every time step of a sequence.
//!
//! `matmul` (a blocked gemm) packs the weight into its blocked layout on every
//! call. For a GRU's `h [64, 128] × W_hhᵀ [128, 384]` that repacking of the unchanged weight
//! was about a fifth of the product's time (perf on `examples/char_lm.rs`), paid T times per
//! sequence in the forward pass and again in the backward pass. Here the weight is packed
//! once per sequence ([`PackedWeight`]) and each step runs a register-blocked kernel that
//! reads the state's rows where they are.

use graft_tensor::parallel::for_each_chunk_indexed;
use graft_tensor::Float;

/// Rows of the left operand per kernel call ([`block4`]): each of them is multiplied with
/// one packed panel row while it is in registers.
const MR: usize = 4;
/// Products with fewer multiply-adds than this run on the calling thread: below it, handing
/// half the rows to another thread costs more than it saves (the same bound as graft-tensor's
/// matmul uses inside the pool).
const PAR_MIN_MACS: usize = 1 << 21;
/// Rows per parallel task when split. A constant, so that the split never depends on the
/// number of threads (it cannot change a result anyway: each output is one row's sums).
const ROWS_PER_TASK: usize = 32;

/// A `[K, M]` right operand stored as panels of `nr` columns: panel `q` holds, for every
/// `p` in `0..K`, the `nr` values `B[p, q·nr .. (q+1)·nr]` side by side (zeros past `M`).
/// The kernel then reads one panel front to back, and a panel (`K·nr` values) stays in L1.
pub(crate) struct PackedWeight<T> {
    data: Vec<T>,
    k: usize,
    m: usize,
    nr: usize,
}

impl<T: Float> PackedWeight<T> {
    /// Packs the `[k, m]` matrix whose element `(p, j)` is `b[p * rs + j * cs]`.
    pub(crate) fn new(b: &[T], (k, m): (usize, usize), (rs, cs): (usize, usize)) -> Self {
        // 32 f32 or 16 f64 per row of the accumulator block: 4 x 128 bytes, which fits the
        // vector registers with room for the panel row being read.
        let nr = if std::mem::size_of::<T>() <= 4 {
            32
        } else {
            16
        };
        let panels = m.div_ceil(nr);
        let mut data = vec![T::ZERO; panels * k * nr];
        for (q, panel) in data
            .chunks_exact_mut((k * nr).max(1))
            .enumerate()
            .take(panels)
        {
            for (p, row) in panel.chunks_exact_mut(nr).enumerate() {
                for (jj, v) in row.iter_mut().enumerate().take(m.saturating_sub(q * nr)) {
                    *v = b[p * rs + (q * nr + jj) * cs];
                }
            }
        }
        PackedWeight { data, k, m, nr }
    }

    /// `c = a · B` for `a` `[n, K]` and `c` `[n, M]`, both dense row-major.
    pub(crate) fn product(&self, a: &[T], c: &mut [T]) {
        let (k, m) = (self.k, self.m);
        if m == 0 {
            return;
        }
        let n = c.len() / m;
        assert!(
            c.len() == n * m && a.len() == n * k,
            "step product: a has {} values and c {} for [n, {k}] x [{k}, {m}]",
            a.len(),
            c.len()
        );
        if n.saturating_mul(k).saturating_mul(m) < PAR_MIN_MACS || n <= ROWS_PER_TASK {
            self.rows(a, c);
            return;
        }
        for_each_chunk_indexed(c, ROWS_PER_TASK * m, |i, piece| {
            let r0 = i * ROWS_PER_TASK;
            let rows = piece.len() / m;
            self.rows(&a[r0 * k..(r0 + rows) * k], piece)
        });
    }

    /// The product for the rows in `a` into `c` on this thread.
    fn rows(&self, a: &[T], c: &mut [T]) {
        match self.nr {
            32 => self.rows_nr::<32>(a, c),
            16 => self.rows_nr::<16>(a, c),
            nr => unreachable!("panels are 16 or 32 wide, not {nr}"),
        }
    }

    fn rows_nr<const NR: usize>(&self, a: &[T], c: &mut [T]) {
        let (k, m) = (self.k, self.m);
        let n = c.len() / m;
        for q in 0..m.div_ceil(NR) {
            let panel = &self.data[q * k * NR..(q + 1) * k * NR];
            let (j0, w) = (q * NR, NR.min(m - q * NR));
            let mut i = 0;
            while i + MR <= n {
                let acc = block4::<T, NR>(&a[i * k..(i + MR) * k], k, panel);
                for (r, acc) in acc.iter().enumerate() {
                    c[(i + r) * m + j0..][..w].copy_from_slice(&acc[..w]);
                }
                i += MR;
            }
            for i in i..n {
                let acc = block1::<T, NR>(&a[i * k..(i + 1) * k], panel);
                c[i * m + j0..][..w].copy_from_slice(&acc[..w]);
            }
        }
    }
}

/// Four rows of `a` (`[4, k]`) times one panel (`[k, NR]`), accumulated in four arrays the
/// compiler keeps in vector registers: per `p`, one panel row is loaded and each row's value
/// `a[r, p]` is broadcast against it. The four rows are spelled out: written as a loop over
/// an array of rows, the compiler kept the accumulators in memory, one lane at a time (4x
/// slower training than matmul).
// One index into several arrays: the form the vectorizer turns into lane-wise code.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn block4<T: Float, const NR: usize>(a: &[T], k: usize, panel: &[T]) -> [[T; NR]; 4] {
    let (mut c0, mut c1, mut c2, mut c3) =
        ([T::ZERO; NR], [T::ZERO; NR], [T::ZERO; NR], [T::ZERO; NR]);
    let (a0, rest) = a.split_at(k);
    let (a1, rest) = rest.split_at(k);
    let (a2, a3) = rest.split_at(k);
    for ((((b, &x0), &x1), &x2), &x3) in panel.chunks_exact(NR).zip(a0).zip(a1).zip(a2).zip(a3) {
        let b: &[T; NR] = b.try_into().expect("a panel row");
        for j in 0..NR {
            c0[j] += x0 * b[j];
            c1[j] += x1 * b[j];
            c2[j] += x2 * b[j];
            c3[j] += x3 * b[j];
        }
    }
    [c0, c1, c2, c3]
}

/// One row of `a` (`[k]`) times one panel: the rows [`block4`] leaves over.
// One index into several arrays: the form the vectorizer turns into lane-wise code.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn block1<T: Float, const NR: usize>(a: &[T], panel: &[T]) -> [T; NR] {
    let mut c = [T::ZERO; NR];
    for (b, &x) in panel.chunks_exact(NR).zip(a) {
        let b: &[T; NR] = b.try_into().expect("a panel row");
        for j in 0..NR {
            c[j] += x * b[j];
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use graft_tensor::Tensor;

    fn values<T: Float>(len: usize, seed: usize) -> Vec<T> {
        (0..len)
            .map(|i| T::from_f64((((i * 7919 + seed * 104_729) % 1000) as f64) / 500.0 - 1.0))
            .collect()
    }

    /// Every shape class (row remainders, partial panels, K = 0, large enough to split)
    /// against matmul, with the weight read both as it is and transposed.
    fn check<T: Float>(tol: f64) {
        for &(n, k, m) in &[
            (1, 1, 1),
            (3, 5, 7),
            (4, 0, 9),
            (5, 17, 33),
            (9, 128, 384),
            (64, 128, 384),
            (64, 384, 128),
            (70, 33, 1000),
            (2, 3, 0),
        ] {
            let a = values::<T>(n * k, 1);
            let w = values::<T>(k * m, 2);
            let want_plain =
                Tensor::from_slice(&a, &[n, k]).matmul(&Tensor::from_slice(&w, &[k, m]));
            let want_t =
                Tensor::from_slice(&a, &[n, k]).matmul(&Tensor::from_slice(&w, &[m, k]).t());
            for (packed, want) in [
                (PackedWeight::new(&w, (k, m), (m, 1)), want_plain),
                (PackedWeight::new(&w, (k, m), (1, k)), want_t),
            ] {
                let mut c = vec![T::from_f64(f64::NAN); n * m];
                packed.product(&a, &mut c);
                for (i, (&got, &want)) in c.iter().zip(want.to_vec().iter()).enumerate() {
                    let (g, w) = (got.to_f64(), want.to_f64());
                    assert!(
                        (g - w).abs() <= tol * (1.0 + w.abs()),
                        "[{n}, {k}] x [{k}, {m}] at {i}: {g} vs {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_step_product_equals_matmul_f32() {
        check::<f32>(1e-4);
    }

    #[test]
    fn the_step_product_equals_matmul_f64() {
        check::<f64>(1e-12);
    }
}
