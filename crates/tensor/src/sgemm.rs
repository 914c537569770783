//! The f32 gemm: matrixmultiply's, except on AVX-512 CPUs, where this module's own blocked
//! gemm runs every product with `alpha = 1`, `beta` 0 or 1, C's columns contiguous and no
//! negative stride (all of graft's own products).
//!
//! Why its own: matrixmultiply's AVX-512 micro-kernel is a 16x16 tile, which issues one
//! broadcast load per fused multiply-add and so runs at about 87% of the FMA units' peak even
//! from L1 (230 against 263 GFLOP/s on one Zen 5 core); an 8x32 tile (two vectors per row)
//! needs 10 loads per 16 FMAs and runs at 99%. The kernel also reads operands where they lie
//! instead of packing them (`x @ w.t()` reads x's rows, a weight gradient `g.t() @ x` g's and
//! x's rows; see `reads_a_directly` and `reads_b_directly` for when), and packs a B that runs
//! along k (`w.t()`) with 8x8 register transposes where matrixmultiply gathers element by
//! element.
//!
//! The blocking along k is matrixmultiply's (256 deep; its `MATMUL_SGEMM_*` build-time
//! overrides are not followed), and so is the arithmetic of its f32 kernels: each element of
//! a block is one chain of fused multiply-adds along k from zero, and each block's sum is
//! added to C. So both give the same bits for every product, which keeps results independent
//! of how a product is split and of which path computes it; the tests below hold them to it.

/// Depth of one packed block along k (matrixmultiply's: the sums' association depends on it).
const KC: usize = 256;
/// Rows of A taken at once (eight kernel tiles).
const MC: usize = 64;
/// Columns of B packed at once.
const NC: usize = 256;
/// The micro-kernel's tile: 8 rows by 32 columns.
const MR: usize = 8;
/// Columns of the micro-kernel's tile: two 16-lane vectors.
const NR: usize = 32;
/// f32 lanes in one AVX-512 vector.
const LANES: usize = 16;

/// `c = alpha * a b + beta * c` with matrixmultiply's contract (strides in elements). Its
/// own path takes `alpha = 1` with `beta` 0 or 1 (`c + a b` is what matrixmultiply's
/// `c * 1 + a b` gives).
///
/// # Safety
/// As `matrixmultiply::sgemm`: the pointers and strides must address valid `m x k`, `k x n`
/// and `m x n` operands, and `c` must not alias `a` or `b`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    beta: f32,
    c: *mut f32,
    rsc: isize,
    csc: isize,
) {
    #[cfg(target_arch = "x86_64")]
    {
        // Negative strides (flipped views) stay with matrixmultiply: the packing and the
        // kernel step along rows and k by unsigned strides.
        let forward_only = [rsa, csa, rsb, csb].iter().all(|&s| s >= 0);
        if forward_only
            && alpha == 1.0
            && (beta == 0.0 || beta == 1.0)
            && csc == 1
            && m > 0
            && n > 0
            && k > 0
            && std::arch::is_x86_feature_detected!("avx512f")
        {
            let add_to_c = beta == 1.0;
            let (a, b) = (
                (a, rsa as usize, csa as usize),
                (b, rsb as usize, csb as usize),
            );
            return avx512::gemm(m, k, n, a, b, (c, rsc, add_to_c));
        }
    }
    matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{KC, LANES, MC, MR, NC, NR};
    use std::arch::x86_64::*;
    use std::cell::RefCell;

    /// A strided operand: base pointer, stride between rows, stride between columns.
    pub(super) type Strided = (*const f32, usize, usize);

    thread_local! {
        /// Each thread's packing buffer (B~, then A~ when A is packed), kept between calls.
        static PACKED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    }

    /// `c = a b` (or `c += a b` with `add_to_c`) for an `m x k` and a `k x n` operand into
    /// row-major `c` (row stride `rsc`).
    ///
    /// # Safety
    /// As [`super::sgemm`], with `m, k, n > 0` on a CPU with AVX-512F.
    pub(super) unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: Strided,
        b: Strided,
        (c, rsc, add_to_c): (*mut f32, isize, bool),
    ) {
        let b_len = NC.min(n.next_multiple_of(NR)) * KC.min(k);
        let a_len = if reads_a_directly(a) {
            0
        } else {
            MC.min(m.next_multiple_of(MR)) * KC.min(k)
        };
        PACKED.with(|cell| {
            // Nothing below calls back into a gemm, so the borrow is never taken twice.
            let mut buf = cell.borrow_mut();
            if buf.len() < a_len + b_len {
                buf.resize(a_len + b_len, 0.0);
            }
            let (bp, ap) = buf.split_at_mut(b_len);
            let packed = (ap.as_mut_ptr(), bp.as_mut_ptr());
            blocks(m, k, n, a, b, (c, rsc, add_to_c), packed);
        });
    }

    /// Whether the kernel reads A where it lies, which saves packing it: when its rows run
    /// along k (`x` in `x @ w.t()`), or when its columns do (`g.t()` in a weight gradient)
    /// and its steps along k are not a multiple of 1 KiB apart. Steps a multiple of 1 KiB
    /// apart share at most 4 of L1's 64 sets, and a 256-deep panel's lines then evict each
    /// other: `a.t() @ b` at 1024x1024 ran at 0.84x the row-major product read directly.
    pub(super) fn reads_a_directly((_, rsa, csa): Strided) -> bool {
        csa == 1 || (rsa == 1 && csa % 256 != 0)
    }

    /// Whether the kernel reads B's whole 32-column panels where they lie: when B's rows run
    /// along its columns and are not a multiple of 1 KiB apart (for the cache-set reason
    /// given at [`reads_a_directly`]). A partial last panel is packed all the same: 32
    /// columns read there would run past the row.
    pub(super) fn reads_b_directly((_, rsb, csb): Strided) -> bool {
        csb == 1 && rsb % 256 != 0
    }

    /// The three blocking loops around the micro-kernel (matrixmultiply's order).
    unsafe fn blocks(
        m: usize,
        k: usize,
        n: usize,
        a: Strided,
        (b, rsb, csb): Strided,
        (c, rsc, add_to_c): (*mut f32, isize, bool),
        (ap, bp): (*mut f32, *mut f32),
    ) {
        let (a, rsa, csa) = a;
        let direct = reads_a_directly((a, rsa, csa));
        let b_direct = reads_b_directly((b, rsb, csb));
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            for pc in (0..k).step_by(KC) {
                let kc = KC.min(k - pc);
                let b_blk = b.add(pc * rsb + jc * csb);
                // Panels before `unpacked` are read where they lie; the rest are packed.
                let unpacked = if b_direct { nc / NR * NR } else { 0 };
                pack_b(b_blk.add(unpacked * csb), rsb, csb, nc - unpacked, kc, bp);
                for ic in (0..m).step_by(MC) {
                    let mc = MC.min(m - ic);
                    let a_blk = a.add(ic * rsa + pc * csa);
                    // Where the tile starting at row `ir` begins, the step between its rows
                    // and the step along k: in A itself, or in its packed 8-row panel.
                    let tile_at = |ir: usize| -> (*const f32, usize, usize) {
                        if direct {
                            (a_blk.add(ir * rsa), rsa, csa)
                        } else {
                            (ap.add(ir * kc), 1, MR)
                        }
                    };
                    if !direct {
                        pack_a(a_blk, rsa, csa, mc, kc, ap);
                    }
                    for jr in (0..nc).step_by(NR) {
                        let cols = NR.min(nc - jr);
                        let b_panel = if jr < unpacked {
                            (b_blk.add(jr), rsb)
                        } else {
                            (bp.add((jr - unpacked) * kc) as *const f32, NR)
                        };
                        for ir in (0..mc).step_by(MR) {
                            let rows = MR.min(mc - ir);
                            // Rows past the edge read the last row again; they are not stored.
                            let (first, row_step, a_step) = tile_at(ir);
                            let a_rows =
                                std::array::from_fn(|i| first.add(i.min(rows - 1) * row_step));
                            let tile = c.offset((ic + ir) as isize * rsc + (jc + jr) as isize);
                            let tile = Tile {
                                c: tile,
                                rsc,
                                rows,
                                cols,
                                accumulate: pc > 0 || add_to_c,
                            };
                            if cols <= LANES {
                                kernel::<1>(kc, a_rows, a_step, b_panel, tile);
                            } else {
                                kernel::<2>(kc, a_rows, a_step, b_panel, tile);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Packs `cols` columns (stride `cs`) by `kc` steps along k (stride `ps`) of B into
    /// panels of 32 columns, each `kc x 32` with the columns contiguous (`dst[p * 32 + j]`),
    /// the last panel padded with zeros.
    #[target_feature(enable = "avx512f")]
    unsafe fn pack_b(src: *const f32, ps: usize, cs: usize, cols: usize, kc: usize, dst: *mut f32) {
        for (panel, j0) in (0..cols).step_by(NR).enumerate() {
            let out = dst.add(panel * kc * NR);
            let src = src.add(j0 * cs);
            let count = NR.min(cols - j0);
            if count == NR && cs == 1 {
                for p in 0..kc {
                    let from = src.add(p * ps);
                    for h in [0, LANES] {
                        _mm512_storeu_ps(out.add(p * NR + h), _mm512_loadu_ps(from.add(h)));
                    }
                }
            } else if count == NR && ps == 1 {
                // Columns run along k: 8x8 tiles transposed in registers.
                let full = kc / 8 * 8;
                for p in (0..full).step_by(8) {
                    for j in (0..NR).step_by(8) {
                        tile8(src.add(j * cs + p), cs, out.add(p * NR + j), NR);
                    }
                }
                for p in full..kc {
                    for j in 0..NR {
                        *out.add(p * NR + j) = *src.add(j * cs + p);
                    }
                }
            } else {
                for p in 0..kc {
                    for j in 0..NR {
                        *out.add(p * NR + j) = if j < count {
                            *src.add(j * cs + p * ps)
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }

    /// Packs `rows` rows (stride `rs`) by `kc` steps along k (stride `ps`) of an A that the
    /// kernel does not read directly into panels of 8 rows, each `kc x 8` with the rows
    /// contiguous (`dst[p * 8 + i]`); rows past the last are left as they are (the kernel
    /// reads the last row in their place).
    #[target_feature(enable = "avx")]
    unsafe fn pack_a(src: *const f32, rs: usize, ps: usize, rows: usize, kc: usize, dst: *mut f32) {
        let panel_at = |row: usize| dst.add(row / MR * MR * kc + row % MR);
        if rs == 1 {
            // Step along k outermost: each step reads the block's rows as one run, whole
            // cache lines once (panel by panel, each line was read once per panel, and lines
            // a multiple of 1 KiB apart were evicted in between).
            let whole = rows / MR * MR;
            for p in 0..kc {
                let from = src.add(p * ps);
                for r in (0..whole).step_by(MR) {
                    _mm256_storeu_ps(panel_at(r).add(p * MR), _mm256_loadu_ps(from.add(r)));
                }
                for r in whole..rows {
                    *panel_at(r).add(p * MR) = *from.add(r);
                }
            }
        } else {
            for r in 0..rows {
                for p in 0..kc {
                    *panel_at(r).add(p * MR) = *src.add(r * rs + p * ps);
                }
            }
        }
    }

    /// `dst[j * ld + i] = src[i * ls + j]` for an 8x8 tile: eight rows of eight f32 in
    /// ymm registers, transposed by unpack, shuffle and lane swap.
    #[target_feature(enable = "avx")]
    unsafe fn tile8(src: *const f32, ls: usize, dst: *mut f32, ld: usize) {
        let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * ls)));
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let cols = [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ];
        for (j, col) in cols.into_iter().enumerate() {
            _mm256_storeu_ps(dst.add(j * ld), col);
        }
    }

    /// Where the kernel stores its tile: `rows x cols` of C from `c` (row stride `rsc`),
    /// added to what is there when `accumulate`.
    struct Tile {
        c: *mut f32,
        rsc: isize,
        rows: usize,
        cols: usize,
        accumulate: bool,
    }

    /// One 8-row tile of C, `VECS` vectors (16 or 32 columns) wide, `kc` deep: row `i`
    /// accumulates `a[i][p] * b[p][..]` for p in order (matrixmultiply's arithmetic), where
    /// `a[i][p]` is at `a_rows[i] + p * a_step` and `b[p][..]` at `b_panel.0 + p * b_panel.1`
    /// (a packed panel, or B's own rows).
    #[target_feature(enable = "avx512f")]
    unsafe fn kernel<const VECS: usize>(
        kc: usize,
        a_rows: [*const f32; MR],
        a_step: usize,
        (b, b_step): (*const f32, usize),
        tile: Tile,
    ) {
        let mut acc = [[_mm512_setzero_ps(); VECS]; MR];
        for p in 0..kc {
            let bv: [__m512; VECS] =
                std::array::from_fn(|h| _mm512_loadu_ps(b.add(p * b_step + h * LANES)));
            let at = p * a_step;
            for (row, a) in acc.iter_mut().zip(a_rows) {
                let av = _mm512_set1_ps(*a.add(at));
                for (sum, bh) in row.iter_mut().zip(bv) {
                    *sum = _mm512_fmadd_ps(av, bh, *sum);
                }
            }
        }
        for (i, row) in acc.iter().enumerate().take(tile.rows) {
            let out = tile.c.offset(i as isize * tile.rsc);
            for (h, sum) in row.iter().enumerate() {
                let lanes = tile.cols.saturating_sub(h * LANES).min(LANES);
                let mask = ((1u32 << lanes) - 1) as __mmask16;
                let o = out.add(h * LANES);
                let v = if tile.accumulate {
                    _mm512_add_ps(_mm512_maskz_loadu_ps(mask, o), *sum)
                } else {
                    *sum
                };
                _mm512_mask_storeu_ps(o, mask, v);
            }
        }
    }
}

#[cfg(test)]
mod tests;
