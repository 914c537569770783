//! The f32 gemm: matrixmultiply's, except on AVX-512 CPUs for operands that run along the
//! inner dimension (`x @ w.t()`, weight gradients), where this module's own blocked gemm
//! packs them with 8x8 register transposes instead of matrixmultiply's element-by-element
//! gathers.
//!
//! The blocking is matrixmultiply's (256 deep, 64 rows, 1024 columns; its `MATMUL_SGEMM_*`
//! build-time overrides are not followed), and so is the arithmetic of its f32 kernels: each
//! element of a block is one chain of fused multiply-adds along k from zero, and each
//! block's sum is added to C. So both give the same bits for every product, which keeps
//! results independent of how a product is split (a piece one row tall goes to
//! matrixmultiply); the test below holds them to it.

/// Depth of one packed block along k.
const KC: usize = 256;
/// Rows of A packed at once.
const MC: usize = 64;
/// Columns of B packed at once.
const NC: usize = 1024;
/// The micro-kernel's tile: 16 rows by 16 columns.
const MR: usize = 16;

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
        // Only where the gathers would run: elsewhere matrixmultiply's packing is a copy.
        // Negative strides (flipped views) stay there too: the tile transposes step rows by
        // an unsigned stride.
        let a_along_k = csa == 1 && rsa > 1 && m > 1;
        let b_along_k = rsb == 1 && csb > 1 && n > 1;
        let forward_only = [rsa, csa, rsb, csb].iter().all(|&s| s >= 0);
        if (a_along_k || b_along_k)
            && forward_only
            && alpha == 1.0
            && (beta == 0.0 || beta == 1.0)
            && csc == 1
            && m > 0
            && n > 0
            && k > 0
            && std::arch::is_x86_feature_detected!("avx512f")
        {
            let add_to_c = beta == 1.0;
            return avx512::gemm(m, k, n, (a, rsa, csa), (b, rsb, csb), (c, rsc, add_to_c));
        }
    }
    matrixmultiply::sgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{KC, MC, MR, NC};
    use std::arch::x86_64::*;
    use std::cell::RefCell;

    /// A strided operand: base pointer, stride between rows, stride between columns.
    pub(super) type Strided = (*const f32, isize, isize);

    thread_local! {
        /// Each thread's packing buffer (A~ then B~), kept between calls.
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
        let a_len = MC.min(m.next_multiple_of(MR)) * KC.min(k);
        let b_len = NC.min(n.next_multiple_of(MR)) * KC.min(k);
        PACKED.with(|cell| {
            // Nothing below calls back into a gemm, so the borrow is never taken twice.
            let mut buf = cell.borrow_mut();
            if buf.len() < a_len + b_len {
                buf.resize(a_len + b_len, 0.0);
            }
            let (ap, bp) = buf.split_at_mut(a_len);
            let packed = (ap.as_mut_ptr(), bp.as_mut_ptr());
            blocks(m, k, n, a, b, (c, rsc, add_to_c), packed);
        });
    }

    /// The three blocking loops around the micro-kernel (matrixmultiply's order).
    unsafe fn blocks(
        m: usize,
        k: usize,
        n: usize,
        (a, rsa, csa): Strided,
        (b, rsb, csb): Strided,
        (c, rsc, add_to_c): (*mut f32, isize, bool),
        (ap, bp): (*mut f32, *mut f32),
    ) {
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            for pc in (0..k).step_by(KC) {
                let kc = KC.min(k - pc);
                // B's columns are packed like A's rows: B^T walks them along its rows.
                let b_blk = b.offset(pc as isize * rsb + jc as isize * csb);
                pack(b_blk, csb, rsb, nc, kc, bp);
                for ic in (0..m).step_by(MC) {
                    let mc = MC.min(m - ic);
                    pack(
                        a.offset(ic as isize * rsa + pc as isize * csa),
                        rsa,
                        csa,
                        mc,
                        kc,
                        ap,
                    );
                    for jr in (0..nc).step_by(MR) {
                        for ir in (0..mc).step_by(MR) {
                            let tile = c.offset((ic + ir) as isize * rsc + (jc + jr) as isize);
                            kernel(
                                kc,
                                ap.add(ir * kc),
                                bp.add(jr * kc),
                                tile,
                                rsc,
                                (MR.min(mc - ir), MR.min(nc - jr)),
                                pc > 0 || add_to_c,
                            );
                        }
                    }
                }
            }
        }
    }

    /// Packs `rows` rows (row stride `rs`) by `kc` (stride `cs`) of a strided matrix into
    /// panels of 16 rows, each `kc x 16` with the 16 rows contiguous (`dst[p * 16 + i]`),
    /// the last panel padded with zeros. Strides are not negative (see `sgemm`).
    #[target_feature(enable = "avx512f")]
    unsafe fn pack(src: *const f32, rs: isize, cs: isize, rows: usize, kc: usize, dst: *mut f32) {
        for (panel, r0) in (0..rows).step_by(MR).enumerate() {
            let out = dst.add(panel * kc * MR);
            let src = src.offset(r0 as isize * rs);
            let count = MR.min(rows - r0);
            if count == MR && rs == 1 {
                for p in 0..kc {
                    let from = src.offset(p as isize * cs);
                    _mm512_storeu_ps(out.add(p * MR), _mm512_loadu_ps(from));
                }
            } else if count == MR && cs == 1 {
                // Rows run along k: 8x8 tiles transposed in registers.
                let full = kc / 8 * 8;
                for p in (0..full).step_by(8) {
                    for half in [0, 8] {
                        let from = src.offset(half as isize * rs + p as isize);
                        tile8(from, rs as usize, out.add(p * MR + half), MR);
                    }
                }
                for p in full..kc {
                    for i in 0..MR {
                        *out.add(p * MR + i) = *src.offset(i as isize * rs + p as isize);
                    }
                }
            } else {
                for p in 0..kc {
                    for i in 0..MR {
                        *out.add(p * MR + i) = if i < count {
                            *src.offset(i as isize * rs + p as isize * cs)
                        } else {
                            0.0
                        };
                    }
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

    /// One 16x16 tile of C from a packed A panel and B panel, `kc` deep: row `i` of the tile
    /// accumulates `a[p][i] * b[p][..]` for p in order (matrixmultiply's kernel). Stores
    /// `rows x cols` of it, added to C when `accumulate`.
    #[target_feature(enable = "avx512f")]
    unsafe fn kernel(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        rsc: isize,
        (rows, cols): (usize, usize),
        accumulate: bool,
    ) {
        let mut acc = [_mm512_setzero_ps(); MR];
        for p in 0..kc {
            let bv = _mm512_loadu_ps(b.add(p * MR));
            let ar = a.add(p * MR);
            for (i, row) in acc.iter_mut().enumerate() {
                *row = _mm512_fmadd_ps(_mm512_set1_ps(*ar.add(i)), bv, *row);
            }
        }
        let mask: __mmask16 = if cols == MR {
            0xffff
        } else {
            (1u16 << cols) - 1
        };
        for (i, row) in acc.iter().enumerate().take(rows) {
            let out = c.offset(i as isize * rsc);
            let v = if accumulate {
                _mm512_add_ps(_mm512_maskz_loadu_ps(mask, out), *row)
            } else {
                *row
            };
            _mm512_mask_storeu_ps(out, mask, v);
        }
    }
}

#[cfg(test)]
mod tests {
    /// matrixmultiply's sgemm signature.
    type Sgemm = unsafe fn(
        usize,
        usize,
        usize,
        f32,
        *const f32,
        isize,
        isize,
        *const f32,
        isize,
        isize,
        f32,
        *mut f32,
        isize,
        isize,
    );

    /// Every layout of A and B (row- or column-major, rows padded to a longer stride) at
    /// shapes around the block and tile edges, into C or added to it: the same bits as
    /// matrixmultiply's sgemm.
    /// (On a CPU without AVX-512 both sides are matrixmultiply's.)
    #[test]
    fn same_bits_as_matrixmultiply_on_every_layout() {
        #[cfg(target_arch = "x86_64")]
        if !std::arch::is_x86_feature_detected!("avx512f") {
            eprintln!("no AVX-512 here: graft's f32 gemm is matrixmultiply's on every layout");
        }
        let dims = [1, 7, 16, 17, 64, 65, 130];
        let depths = [1, 8, 9, 255, 256, 257, 600];
        let value = |i: usize| ((i * 7919 % 1013) as f32 - 506.0) / 97.0;
        for &m in &dims {
            for &n in &dims {
                for &k in &depths {
                    let a: Vec<f32> = (0..(m + 3) * (k + 3)).map(value).collect();
                    let b: Vec<f32> = (0..(k + 3) * (n + 3)).map(|i| value(i + 11)).collect();
                    // (row stride, column stride) of A (m x k) and B (k x n).
                    let a_layouts = [(k as isize + 3, 1), (1, m as isize + 3)];
                    let b_layouts = [(n as isize + 3, 1), (1, k as isize + 3)];
                    for (rsa, csa) in a_layouts {
                        for (rsb, csb) in b_layouts {
                            // beta 0 into NaN (which must not be read), beta 1 onto values.
                            let run = |gemm: Sgemm, beta: f32| {
                                let mut c: Vec<f32> = (0..m * n)
                                    .map(|i| if beta == 0.0 { f32::NAN } else { value(i + 5) })
                                    .collect();
                                let (a, b, out) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
                                // SAFETY: the strides address inside a and b; c is m x n.
                                unsafe {
                                    gemm(
                                        m, k, n, 1.0, a, rsa, csa, b, rsb, csb, beta, out,
                                        n as isize, 1,
                                    )
                                };
                                c.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                            };
                            for beta in [0.0, 1.0] {
                                assert!(
                                    run(super::sgemm, beta) == run(matrixmultiply::sgemm, beta),
                                    "{m}x{k}x{n}, a strides {:?}, b strides {:?}, beta {beta}",
                                    (rsa, csa),
                                    (rsb, csb)
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// Past one 1024-column block, into a C with longer rows, and with flipped operands
    /// (negative strides, which stay with matrixmultiply): the same bits again.
    #[test]
    fn same_bits_past_a_column_block_and_on_flipped_operands() {
        let value = |i: usize| ((i * 7919 % 1013) as f32 - 506.0) / 97.0;
        let (m, k, n, ldc) = (33, 70, 1100, 1107);
        let a: Vec<f32> = (0..m * k).map(value).collect();
        let b: Vec<f32> = (0..k * n).map(|i| value(i + 3)).collect();
        // (offset, row stride, column stride) of A (m x k) and B (k x n), all along k.
        let last_a = ((m - 1) * k) as isize;
        let last_b = ((n - 1) * k) as isize;
        let cases = [
            ((0, k as isize, 1), (0, 1, k as isize)),
            ((last_a, -(k as isize), 1), (0, 1, k as isize)),
            ((0, k as isize, 1), (last_b, 1, -(k as isize))),
        ];
        for ((ao, rsa, csa), (bo, rsb, csb)) in cases {
            let run = |gemm: Sgemm| {
                let mut c = vec![f32::NAN; m * ldc];
                // SAFETY: the offsets and strides address inside a and b; c is m x ldc.
                unsafe {
                    let (pa, pb) = (a.as_ptr().offset(ao), b.as_ptr().offset(bo));
                    gemm(
                        m,
                        k,
                        n,
                        1.0,
                        pa,
                        rsa,
                        csa,
                        pb,
                        rsb,
                        csb,
                        0.0,
                        c.as_mut_ptr(),
                        ldc as isize,
                        1,
                    )
                };
                let rows = c.chunks(ldc).map(|r| r[..n].iter().map(|v| v.to_bits()));
                rows.flatten().collect::<Vec<_>>()
            };
            assert!(
                run(super::sgemm) == run(matrixmultiply::sgemm),
                "a strides {:?}, b strides {:?}",
                (rsa, csa),
                (rsb, csb)
            );
        }
    }
}
