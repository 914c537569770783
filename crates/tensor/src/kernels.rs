//! The elementwise engine: map one tensor, or zip two or three broadcast tensors, into a new
//! contiguous tensor. Dense runs become plain slice loops the compiler vectorizes; every
//! other layout walks runs of the innermost dimension. Large outputs split into fixed-size
//! chunks on rayon; elementwise results never depend on the split.

use crate::element::Element;
use crate::error::{fmt_shape, Result, TensorError};
use crate::layout::{broadcast_shapes, coalesce, for_each_run, Shape};
use crate::storage::try_alloc_uninit;
use crate::tensor::Tensor;

/// Outputs with fewer elements than this stay on the calling thread when it is a rayon worker
/// (code running under `ThreadPool::install` or `rayon::scope`), where a split only costs
/// waking the other worker. Measured with the `tensor` bench's threshold sweep on the 2-core
/// machine: an add of 32K f32 gains 1.1x there, 64K 1.4x.
pub(crate) const PAR_MIN_ELEMS: usize = 1 << 15;
/// The same threshold for calls from a thread outside any pool (a plain `main`): each split
/// then sends the work to the pool and waits for it to come back, 10-25 µs on the 2-core VM,
/// and an add only breaks even at 256K elements (measured: 0.4x at 32K, 0.65x at 128K, 1.05x
/// at 256K, 1.6x at 512K).
pub(crate) const PAR_MIN_ELEMS_OUTSIDE_POOL: usize = 1 << 18;
/// Elements per parallel work item; fixed so that results never depend on thread count.
pub(crate) const PAR_CHUNK: usize = 1 << 14;

/// The size from which an elementwise kernel or reduction splits across threads, for the
/// calling thread (see [`PAR_MIN_ELEMS`]). Results never depend on it.
pub(crate) fn par_min_elems() -> usize {
    if rayon::current_thread_index().is_some() {
        PAR_MIN_ELEMS
    } else {
        PAR_MIN_ELEMS_OUTSIDE_POOL
    }
}

/// Fills `out` by calling `f(start, chunk)` on consecutive pieces, in parallel when large.
pub(crate) fn fill_chunks<U: Send>(out: &mut [U], f: impl Fn(usize, &mut [U]) + Sync) {
    if out.len() < par_min_elems() {
        f(0, out);
    } else {
        crate::parallel::for_each_chunk_indexed(out, PAR_CHUNK, |i, c| f(i * PAR_CHUNK, c));
    }
}

/// Calls `f(i, piece)` for every piece, on rayon when `work` (elements the whole call
/// touches) is large, in order on this thread otherwise.
pub(crate) fn run_pieces<P: Send>(
    pieces: impl IntoIterator<Item = P>,
    work: usize,
    f: impl Fn(usize, P) + Sync,
) {
    if work < par_min_elems() {
        pieces.into_iter().enumerate().for_each(|(i, p)| f(i, p));
    } else {
        crate::parallel::for_each_piece(pieces, f);
    }
}

/// Fills `out` block by block (`f(block_index, block)`), on rayon when `work` is large (see
/// [`run_pieces`]). For kernels whose unit is a whole image plane.
pub(crate) fn fill_blocks<U: Send>(
    out: &mut [U],
    block: usize,
    work: usize,
    f: impl Fn(usize, &mut [U]) + Sync,
) {
    if block > 0 {
        run_pieces(out.chunks_mut(block), work, f);
    }
}

/// `f` applied to every element of `x`, as a new contiguous tensor; panics (rather than
/// aborting) when the output cannot be allocated.
pub(crate) fn map<T: Element, U: Element>(x: &Tensor<T>, f: impl Fn(T) -> U + Sync) -> Tensor<U> {
    crate::error::or_panic(try_map("map", x, f))
}

/// `f` applied to every element of `x`, as a new contiguous tensor; an error naming `op`
/// when the output cannot be allocated.
pub(crate) fn try_map<T: Element, U: Element>(
    op: &str,
    x: &Tensor<T>,
    f: impl Fn(T) -> U + Sync,
) -> Result<Tensor<U>> {
    let mut out = try_alloc_uninit::<U>(op, x.shape())?;
    // Fast path for the common dense input: one slice loop, no layout walk (this is most of
    // the fixed cost of a small op).
    if let Some(src) = x.as_slice() {
        fill_chunks(&mut out, |start, chunk| {
            let end = start + chunk.len();
            for (d, &v) in chunk.iter_mut().zip(&src[start..end]) {
                *d = f(v);
            }
        });
        return Ok(Tensor::from_buffer(out, x.shape()));
    }
    let (shape, strides) = coalesce(x.shape(), [x.strides()]);
    let src = x.storage_slice();
    let base = [x.layout().offset() as isize];
    fill_chunks(&mut out, |start, chunk| {
        for_each_run(
            &shape,
            &strides,
            base,
            start..start + chunk.len(),
            |pos, offs, len, st| {
                let dst = &mut chunk[pos - start..pos - start + len];
                if st[0] == 1 {
                    let s = &src[offs[0] as usize..offs[0] as usize + len];
                    for (d, &v) in dst.iter_mut().zip(s) {
                        *d = f(v);
                    }
                } else {
                    for (i, d) in dst.iter_mut().enumerate() {
                        *d = f(src[(offs[0] + i as isize * st[0]) as usize]);
                    }
                }
            },
        );
    });
    Ok(Tensor::from_buffer(out, x.shape()))
}

/// The broadcast shape of several operands, or an error naming `op` and every shape (also
/// when the broadcast shape has too many elements to allocate).
pub(crate) fn broadcast_all<U>(op: &str, shapes: &[&[usize]]) -> Result<Shape> {
    let mut out: Shape = shapes[0].into();
    for s in &shapes[1..] {
        out = broadcast_shapes(&out, s).ok_or_else(|| {
            let all = shapes
                .iter()
                .map(|s| fmt_shape(s))
                .collect::<Vec<_>>()
                .join(" and ");
            TensorError::shape_mismatch(op, format!("shapes {all} cannot be broadcast together"))
        })?;
    }
    crate::layout::checked_numel(op, &out, std::mem::size_of::<U>())?;
    Ok(out)
}

/// `f(a, b)` elementwise over the broadcast of `a` and `b`.
pub(crate) fn zip<A: Element, B: Element, U: Element>(
    op: &str,
    a: &Tensor<A>,
    b: &Tensor<B>,
    f: impl Fn(A, B) -> U + Sync,
) -> Result<Tensor<U>> {
    // Fast path for two dense operands of one shape: no broadcast or layout walk.
    if a.shape() == b.shape() {
        if let (Some(sa), Some(sb)) = (a.as_slice(), b.as_slice()) {
            let mut out = try_alloc_uninit::<U>(op, a.shape())?;
            fill_chunks(&mut out, |start, chunk| {
                let end = start + chunk.len();
                for ((d, &x), &y) in chunk.iter_mut().zip(&sa[start..end]).zip(&sb[start..end]) {
                    *d = f(x, y);
                }
            });
            return Ok(Tensor::from_buffer(out, a.shape()));
        }
    }
    let shape = broadcast_all::<U>(op, &[a.shape(), b.shape()])?;
    let la = a.layout().broadcast_to(&shape).expect("broadcast checked");
    let lb = b.layout().broadcast_to(&shape).expect("broadcast checked");
    let mut out = try_alloc_uninit::<U>(op, &shape)?;
    let (cshape, strides) = coalesce(&shape, [la.strides(), lb.strides()]);
    let (sa, sb) = (a.storage_slice(), b.storage_slice());
    let base = [la.offset() as isize, lb.offset() as isize];
    fill_chunks(&mut out, |start, chunk| {
        for_each_run(
            &cshape,
            &strides,
            base,
            start..start + chunk.len(),
            |pos, offs, len, st| {
                let dst = &mut chunk[pos - start..pos - start + len];
                let (oa, ob) = (offs[0] as usize, offs[1] as usize);
                match (st[0], st[1]) {
                    (1, 1) => {
                        for ((d, &x), &y) in
                            dst.iter_mut().zip(&sa[oa..oa + len]).zip(&sb[ob..ob + len])
                        {
                            *d = f(x, y);
                        }
                    }
                    (1, 0) => {
                        let y = sb[ob];
                        for (d, &x) in dst.iter_mut().zip(&sa[oa..oa + len]) {
                            *d = f(x, y);
                        }
                    }
                    (0, 1) => {
                        let x = sa[oa];
                        for (d, &y) in dst.iter_mut().zip(&sb[ob..ob + len]) {
                            *d = f(x, y);
                        }
                    }
                    _ => {
                        for (i, d) in dst.iter_mut().enumerate() {
                            let i = i as isize;
                            *d = f(
                                sa[(offs[0] + i * st[0]) as usize],
                                sb[(offs[1] + i * st[1]) as usize],
                            );
                        }
                    }
                }
            },
        );
    });
    Ok(Tensor::from_buffer(out, &shape))
}

/// `f(a, b, c)` elementwise over the broadcast of three operands (used by `where`).
pub(crate) fn zip3<A: Element, B: Element, C: Element, U: Element>(
    op: &str,
    a: &Tensor<A>,
    b: &Tensor<B>,
    c: &Tensor<C>,
    f: impl Fn(A, B, C) -> U + Sync,
) -> Result<Tensor<U>> {
    let shape = broadcast_all::<U>(op, &[a.shape(), b.shape(), c.shape()])?;
    let la = a.layout().broadcast_to(&shape).expect("broadcast checked");
    let lb = b.layout().broadcast_to(&shape).expect("broadcast checked");
    let lc = c.layout().broadcast_to(&shape).expect("broadcast checked");
    let mut out = try_alloc_uninit::<U>(op, &shape)?;
    let (cshape, strides) = coalesce(&shape, [la.strides(), lb.strides(), lc.strides()]);
    let (sa, sb, sc) = (a.storage_slice(), b.storage_slice(), c.storage_slice());
    let base = [
        la.offset() as isize,
        lb.offset() as isize,
        lc.offset() as isize,
    ];
    fill_chunks(&mut out, |start, chunk| {
        for_each_run(
            &cshape,
            &strides,
            base,
            start..start + chunk.len(),
            |pos, offs, len, st| {
                for (i, d) in chunk[pos - start..pos - start + len].iter_mut().enumerate() {
                    let i = i as isize;
                    *d = f(
                        sa[(offs[0] + i * st[0]) as usize],
                        sb[(offs[1] + i * st[1]) as usize],
                        sc[(offs[2] + i * st[2]) as usize],
                    );
                }
            },
        );
    });
    Ok(Tensor::from_buffer(out, &shape))
}

/// Asks the CPU to start loading `data` into its caches (every 64-byte line of it) without
/// waiting for it: for reads that will come soon from memory the hardware's prefetcher cannot
/// predict, such as the rows of a shuffled batch. A hint only; nothing on other targets.
#[inline]
pub(crate) fn prefetch_read<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        let bytes = std::mem::size_of_val(data);
        let base = data.as_ptr().cast::<i8>();
        for offset in (0..bytes).step_by(64) {
            // SAFETY: a prefetch never faults and reads nothing observable; the address lies
            // inside `data`. SSE is part of every x86_64 target.
            unsafe {
                std::arch::x86_64::_mm_prefetch(base.add(offset), std::arch::x86_64::_MM_HINT_T0)
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}
