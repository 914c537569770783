//! The own gemm against matrixmultiply's: the same bits on every layout, and no read past
//! an operand's end.
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

/// An operand: its first element, the stride between rows and between columns.
type Operand = (*const f32, isize, isize);

/// The bits of `c` (rows of `ldc`, the first `n` of each written) after `gemm` computed
/// `c = a b + beta c` for an `m x k` A and a `k x n` B.
///
/// # Safety
/// The operands' strides must address valid memory; `c` holds `m` rows of `ldc`.
unsafe fn product_bits(
    gemm: Sgemm,
    (m, k, n): (usize, usize, usize),
    (a, rsa, csa): Operand,
    (b, rsb, csb): Operand,
    beta: f32,
    mut c: Vec<f32>,
    ldc: usize,
) -> Vec<u32> {
    let out = c.as_mut_ptr();
    gemm(
        m,
        k,
        n,
        1.0,
        a,
        rsa,
        csa,
        b,
        rsb,
        csb,
        beta,
        out,
        ldc as isize,
        1,
    );
    c.iter().map(|v| v.to_bits()).collect()
}

/// Every layout of A and B (row- or column-major, rows padded to a longer stride, 1 KiB
/// between A's columns or B's rows, every other element, broadcast) at shapes around the
/// block and tile edges, into C or added to it: the same bits as matrixmultiply's sgemm. (On
/// a CPU without AVX-512 both sides are matrixmultiply's.)
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
                let a_len = (2 * (m + 3)).max(256) * (k + 3);
                let a: Vec<f32> = (0..a_len).map(value).collect();
                let b_len = (2 * (n + 3)).max(256) * (k + 3);
                let b: Vec<f32> = (0..b_len).map(|i| value(i + 11)).collect();
                // (row stride, column stride) of A (m x k) and B (k x n): row-major,
                // column-major (A's columns, and B's rows, also 1 KiB apart: packed),
                // every other element of a row-major one, and broadcast (a stride of
                // 0: every row, or every step along k, the same).
                let (ka, ma, na) = (k as isize + 3, m as isize + 3, n as isize + 3);
                let a_layouts = [(ka, 1), (1, ma), (1, 256), (2 * ka, 2), (0, 1), (1, 0)];
                let b_layouts = [(na, 1), (256, 1), (1, ka), (2 * na, 2), (0, 1), (1, 0)];
                for (rsa, csa) in a_layouts {
                    for (rsb, csb) in b_layouts {
                        // beta 0 into NaN (which must not be read), beta 1 onto values.
                        let run = |gemm: Sgemm, beta: f32| {
                            let c =
                                (0..m * n)
                                    .map(|i| if beta == 0.0 { f32::NAN } else { value(i + 5) });
                            let (a, b) = ((a.as_ptr(), rsa, csa), (b.as_ptr(), rsb, csb));
                            // SAFETY: the strides address inside a and b; c is m x n.
                            unsafe { product_bits(gemm, (m, k, n), a, b, beta, c.collect(), n) }
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

/// Past several 256-column blocks and a 256-deep block, into a C with longer rows (whose
/// padding must stay as it was), on every forward layout and with flipped operands
/// (negative strides, which stay with matrixmultiply): the same bits again.
#[test]
fn same_bits_past_column_and_depth_blocks_and_on_flipped_operands() {
    let value = |i: usize| ((i * 7919 % 1013) as f32 - 506.0) / 97.0;
    let (m, k, n, ldc) = (33, 300, 1100, 1107);
    let a: Vec<f32> = (0..2 * m * k).map(value).collect();
    let b: Vec<f32> = (0..2 * k * n).map(|i| value(i + 3)).collect();
    let (mi, ki, ni) = (m as isize, k as isize, n as isize);
    // (offset, row stride, column stride) of A (m x k) and B (k x n).
    let forward_a = [(0, ki, 1), (0, 1, mi), (0, 2 * ki, 2)];
    let forward_b = [(0, ni, 1), (0, 1, ki), (0, 2 * ni, 2)];
    let mut cases: Vec<_> = forward_a
        .iter()
        .flat_map(|&la| forward_b.iter().map(move |&lb| (la, lb)))
        .collect();
    cases.push(((ki * (mi - 1), -ki, 1), (0, 1, ki)));
    cases.push(((0, ki, 1), (ki * (ni - 1), 1, -ki)));
    for ((ao, rsa, csa), (bo, rsb, csb)) in cases {
        for beta in [0.0, 1.0] {
            let run = |gemm: Sgemm| {
                let nan_unless_added = |i: usize| beta == 0.0 && i % ldc < n;
                let c = (0..m * ldc).map(|i| {
                    if nan_unless_added(i) {
                        f32::NAN
                    } else {
                        value(i)
                    }
                });
                // SAFETY: the offsets and strides address inside a and b; c is m x ldc.
                unsafe {
                    let (pa, pb) = (a.as_ptr().offset(ao), b.as_ptr().offset(bo));
                    let (a, b) = ((pa, rsa, csa), (pb, rsb, csb));
                    product_bits(gemm, (m, k, n), a, b, beta, c.collect(), ldc)
                }
            };
            assert!(
                run(super::sgemm) == run(matrixmultiply::sgemm),
                "a strides {:?}, b strides {:?}, beta {beta}",
                (rsa, csa),
                (rsb, csb)
            );
        }
    }
}

/// Which operands the kernel reads where they lie, and which it packs: steps along k a
/// multiple of 1 KiB apart are packed (their cache lines would evict each other).
#[cfg(target_arch = "x86_64")]
#[test]
fn operands_with_steps_1_kib_apart_are_packed() {
    use super::avx512::{reads_a_directly, reads_b_directly};
    let p = std::ptr::null();
    // x in `x @ w.t()`, g.t() in `g.t() @ x` (columns 512 B apart): read in place.
    assert!(reads_a_directly((p, 784, 1)) && reads_a_directly((p, 1, 128)));
    assert!(!reads_a_directly((p, 1, 256)) && !reads_a_directly((p, 1, 1024)));
    assert!(!reads_a_directly((p, 2, 2)));
    // A row-major B (x in the weight gradient) in place; rows 1 KiB apart, or B along k
    // (`w.t()`), packed.
    assert!(reads_b_directly((p, 784, 1)));
    assert!(!reads_b_directly((p, 1024, 1)) && !reads_b_directly((p, 1, 784)));
}

/// An operand alone in a mapping whose last element ends where an inaccessible page begins,
/// so that a read past its end faults instead of going unseen.
#[cfg(unix)]
struct Guarded {
    map: *mut libc::c_void,
    map_len: usize,
    data: *const f32,
}

#[cfg(unix)]
impl Guarded {
    fn new(values: &[f32]) -> Self {
        // SAFETY: a fresh private anonymous mapping; its last page is made inaccessible and
        // the values are copied to the bytes just before that page, inside the mapping.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
            let bytes = std::mem::size_of_val(values);
            let data_pages = bytes.div_ceil(page).max(1);
            let map_len = (data_pages + 1) * page;
            let prot = libc::PROT_READ | libc::PROT_WRITE;
            let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
            let map = libc::mmap(std::ptr::null_mut(), map_len, prot, flags, -1, 0);
            assert!(map != libc::MAP_FAILED, "mmap failed");
            let guard = map.cast::<u8>().add(data_pages * page);
            assert_eq!(libc::mprotect(guard.cast(), page, libc::PROT_NONE), 0);
            let data = guard.sub(bytes).cast::<f32>();
            std::ptr::copy_nonoverlapping(values.as_ptr(), data, values.len());
            Guarded { map, map_len, data }
        }
    }
}

#[cfg(unix)]
impl Drop for Guarded {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.map, self.map_len) };
    }
}

/// Each operand held exactly (its last element the last before an inaccessible page), on
/// every layout the kernel reads in place or packs, with partial tiles and panels: nothing
/// reads past an operand's end (a read there faults), and the bits are matrixmultiply's.
#[cfg(unix)]
#[test]
fn no_read_past_an_operands_end() {
    let value = |i: usize| ((i * 7919 % 1013) as f32 - 506.0) / 97.0;
    for (m, k, n) in [
        (7, 9, 33),
        (17, 257, 65),
        (9, 300, 300),
        (1, 5, 1),
        (64, 16, 32),
    ] {
        // (row stride, column stride): row-major, column-major, 1 KiB between steps along k.
        let a_layouts = [(k, 1), (1, m), (1, 256), (2, 2 * m)];
        let b_layouts = [(n, 1), (1, k), (256, 1), (2 * n, 2)];
        for &(rsa, csa) in &a_layouts {
            for &(rsb, csb) in &b_layouts {
                let a: Vec<f32> = (0..(m - 1) * rsa + (k - 1) * csa + 1).map(value).collect();
                let b: Vec<f32> = (0..(k - 1) * rsb + (n - 1) * csb + 1)
                    .map(|i| value(i + 7))
                    .collect();
                let (guarded_a, guarded_b) = (Guarded::new(&a), Guarded::new(&b));
                for beta in [0.0, 1.0] {
                    let run = |gemm: Sgemm, pa: *const f32, pb: *const f32| {
                        let c = (0..m * n).map(|i| value(i + 3)).collect();
                        let a = (pa, rsa as isize, csa as isize);
                        let b = (pb, rsb as isize, csb as isize);
                        // SAFETY: the strides address inside each operand; c is m x n.
                        unsafe { product_bits(gemm, (m, k, n), a, b, beta, c, n) }
                    };
                    assert!(
                        run(super::sgemm, guarded_a.data, guarded_b.data)
                            == run(matrixmultiply::sgemm, a.as_ptr(), b.as_ptr()),
                        "{m}x{k}x{n}, a strides {:?}, b strides {:?}, beta {beta}",
                        (rsa, csa),
                        (rsb, csb)
                    );
                }
            }
        }
    }
}
