//! unfold (im2col) against a naive im2col, fold (col2im) as its adjoint, for random kernel,
//! stride, padding and dilation.

use graft_tensor::{Float, Tensor, Window2d};
use proptest::prelude::*;

use super::common::*;

/// Output length along one axis, or None when the window does not fit.
pub(super) fn out_len(size: usize, k: usize, s: usize, p: usize, d: usize) -> Option<usize> {
    let span = d * (k - 1) + 1;
    if size + 2 * p < span {
        return None;
    }
    Some((size + 2 * p - span) / s + 1)
}

/// Naive im2col: out[n, (c*kh + i)*kw + j, oy*ow + ox] = x[n, c, oy*s - p + i*d, ox*s - p + j*d].
pub(super) fn im2col(x: &Arr, w: &Window2d) -> Option<Arr> {
    let [n, c, h, wd] = [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
    let [kh, kw] = w.kernel;
    let oh = out_len(h, kh, w.stride[0], w.padding[0], w.dilation[0])?;
    let ow = out_len(wd, kw, w.stride[1], w.padding[1], w.dilation[1])?;
    Some(Arr::from_fn(&[n, c * kh * kw, oh * ow], |idx| {
        let (b, row, col) = (idx[0], idx[1], idx[2]);
        let (ch, i, j) = (row / (kh * kw), (row / kw) % kh, row % kw);
        let (oy, ox) = (col / ow, col % ow);
        let y = (oy * w.stride[0] + i * w.dilation[0]) as isize - w.padding[0] as isize;
        let xx = (ox * w.stride[1] + j * w.dilation[1]) as isize - w.padding[1] as isize;
        if y < 0 || xx < 0 || y >= h as isize || xx >= wd as isize {
            0.0
        } else {
            x.at(&[b, ch, y as usize, xx as usize])
        }
    }))
}

/// Naive col2im: every column entry added back where im2col read it from.
pub(super) fn col2im(cols: &Arr, c: usize, h: usize, wd: usize, w: &Window2d) -> Arr {
    let n = cols.shape[0];
    let [kh, kw] = w.kernel;
    let ow = out_len(wd, kw, w.stride[1], w.padding[1], w.dilation[1]).unwrap();
    let mut out = Arr::from_fn(&[n, c, h, wd], |_| 0.0);
    for idx in indices(&cols.shape) {
        let (b, row, col) = (idx[0], idx[1], idx[2]);
        let (ch, i, j) = (row / (kh * kw), (row / kw) % kh, row % kw);
        let (oy, ox) = (col / ow, col % ow);
        let y = (oy * w.stride[0] + i * w.dilation[0]) as isize - w.padding[0] as isize;
        let xx = (ox * w.stride[1] + j * w.dilation[1]) as isize - w.padding[1] as isize;
        if y >= 0 && xx >= 0 && y < h as isize && xx < wd as isize {
            let k = ravel(&out.shape, &[b, ch, y as usize, xx as usize]);
            out.data[k] += cols.at(&idx);
        }
    }
    out
}

pub(super) fn window() -> impl Strategy<Value = Window2d> {
    let k = || 1..=3usize;
    (
        (k(), k()),
        (1..=3usize, 1..=3usize),
        (0..=2usize, 0..=2usize),
        (1..=2usize, 1..=2usize),
    )
        .prop_map(|(k, s, p, d)| {
            Window2d::new([k.0, k.1])
                .stride([s.0, s.1])
                .padding([p.0, p.1])
                .dilation([d.0, d.1])
        })
}

pub(super) fn image() -> impl Strategy<Value = Vec<usize>> {
    (0..=2usize, 0..=3usize, 0..=7usize, 0..=19usize).prop_map(|(n, c, h, w)| vec![n, c, h, w])
}

fn dot(a: &Arr, b: &Arr) -> (f64, f64) {
    let d = a.data.iter().zip(&b.data).map(|(x, y)| x * y).sum();
    let m = a.data.iter().zip(&b.data).map(|(x, y)| (x * y).abs()).sum();
    (d, m)
}

fn check_unfold<T: Float>(
    x: &(Arr, Plan),
    win: &Window2d,
    y_vals: &[f64],
    py: &Plan,
) -> TestResult {
    let (t, r) = build::<T>(&x.0, &x.1);
    let Some(want) = im2col(&r, win) else {
        prop_assert!(
            t.try_unfold(win).is_err(),
            "unfold must refuse a window that does not fit"
        );
        return Ok(());
    };
    let cols = t.unfold(win);
    check_exact(&format!("unfold {win:?}"), &values(&cols), &want)?;
    // The batch-inner layout: the same values, stored [C*kh*kw, N, L].
    let inner = t.unfold_batch_inner(win);
    check_exact(
        &format!("unfold_batch_inner {win:?}"),
        &values(&inner),
        &want,
    )?;
    prop_assert!(
        inner.permute(&[1, 0, 2]).is_contiguous(),
        "unfold_batch_inner must be stored [C*kh*kw, N, L]"
    );

    // fold against naive col2im, on a y laid out like any input.
    let y0 = Arr::new(&want.shape, y_vals[..numel(&want.shape)].to_vec());
    let (ty, ry) = build::<T>(&y0, py);
    let [c, h, w] = [r.shape[1], r.shape[2], r.shape[3]];
    let folded = values(&ty.fold([h, w], win));
    let want_fold = col2im(&ry, c, h, w, win);
    let mag = col2im(
        &Arr::new(&ry.shape, ry.data.iter().map(|v| v.abs()).collect()),
        c,
        h,
        w,
        win,
    );
    let e = eps::<T>();
    check_with(
        &format!("fold {win:?} {}", T::DTYPE),
        &folded,
        &want_fold,
        |i| 4.0 * e * (mag.data[i] + 1e-3),
    )?;

    // Adjoint: <unfold(x), y> == <x, fold(y)>.
    let (lhs, ml) = dot(&values(&cols), &ry);
    let (rhs, _) = dot(&r, &folded);
    prop_assert!(
        (lhs - rhs).abs() <= 8.0 * e * (ml + 1e-3),
        "fold is the adjoint of unfold: {} vs {}",
        lhs,
        rhs
    );
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn unfold_and_fold_match_reference(
        (x, win, y_vals, py) in (image(), window()).prop_flat_map(|(s, w)| {
            // Enough values for the largest columns: N 2, C*kh*kw 27, oh*ow <= 11*23.
            (input_of(s), Just(w), prop::collection::vec(value(), 2 * 27 * 11 * 23), plan(3))
        })
    ) {
        both!(check_unfold(&x, &win, &y_vals, &py));
    }
}

#[test]
fn large_unfold_and_fold_run_in_parallel_chunks() {
    // Above the parallel threshold: [2, 3, 40, 37] with a 3x3 window, padding 1.
    let shape = [2, 3, 40, 37];
    let x = Arr::from_fn(&shape, |i| {
        ((i[0] * 7 + i[1] * 5 + i[2] * 3 + i[3]) % 11) as f64 - 5.0
    });
    let win = Window2d::new([3, 3]).padding([1, 1]).stride([1, 2]);
    let want = im2col(&x, &win).unwrap();
    let t = x.tensor::<f64>();
    let cols = t.unfold(&win);
    assert_eq!(values(&cols), want);
    let back = values(&cols.fold([40, 37], &win));
    assert_eq!(back, col2im(&want, 3, 40, 37, &win));
    // Stride 1 copies (and fold adds) whole runs of a row (35-38 long here, and 11 below).
    for (k, pad) in [(3, 0), (3, 1), (27, 0)] {
        let w1 = Window2d::new([3, k]).padding([pad, pad]);
        let want1 = im2col(&x, &w1).unwrap();
        assert_eq!(values(&t.unfold(&w1)), want1);
        assert_eq!(values(&t.unfold_batch_inner(&w1)), want1);
        let back1 = col2im(&want1, 3, 40, 37, &w1);
        assert_eq!(values(&t.unfold(&w1).fold([40, 37], &w1)), back1);
        assert_eq!(
            values(&t.unfold_batch_inner(&w1).fold([40, 37], &w1)),
            back1
        );
    }
    // The batch-inner layout holds the same values, and fold reads it in place.
    let inner = t.unfold_batch_inner(&win);
    assert_eq!(values(&inner), want);
    assert_eq!(values(&inner.fold([40, 37], &win)), back);
    // Same results on 1 and 2 threads.
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let (c2, b2, i2) = pool.install(|| {
            let c = t.unfold(&win);
            let b = c.fold([40, 37], &win);
            // The batch-inner layout folds alike on the pool.
            let i = t.unfold_batch_inner(&win).fold([40, 37], &win);
            (values(&c), values(&b), values(&i))
        });
        assert_eq!(c2, want);
        assert_eq!(b2, back);
        assert_eq!(i2, back);
    }
    let _ = Tensor::<f32>::zeros(&[1]);
}
