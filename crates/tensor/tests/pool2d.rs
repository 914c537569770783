//! Max pooling's argmax kernel against a naive reference: the indices (first on ties, a NaN
//! wins, padding never chosen) and the values it returns with them (the elements at those
//! indices), for the 2x2 stride-2 fast path and the general padded/strided/dilated path.

use graft_tensor::{Tensor, Window2d};

/// Naive argmax of every window of one `[h, w]` plane, by the stated rules.
fn reference(plane: &[f64], h: usize, w: usize, win: &Window2d) -> Vec<usize> {
    let (oh, ow) = win.output_size(h, w).unwrap();
    let mut out = Vec::new();
    for oy in 0..oh {
        for ox in 0..ow {
            let mut best: Option<usize> = None;
            for i in 0..win.kernel[0] {
                for j in 0..win.kernel[1] {
                    let y = (oy * win.stride[0] + i * win.dilation[0]) as isize
                        - win.padding[0] as isize;
                    let x = (ox * win.stride[1] + j * win.dilation[1]) as isize
                        - win.padding[1] as isize;
                    if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
                        continue;
                    }
                    let at = y as usize * w + x as usize;
                    best = match best {
                        None => Some(at),
                        Some(b) if plane[b].is_nan() => Some(b),
                        Some(_) if plane[at].is_nan() => Some(at),
                        Some(b) if plane[at] > plane[b] => Some(at),
                        keep => keep,
                    };
                }
            }
            out.push(best.unwrap());
        }
    }
    out
}

fn check(shape: [usize; 4], win: Window2d, data: Vec<f64>) {
    let [n, c, h, w] = shape;
    let x64 = Tensor::<f64>::from_vec(data.clone(), &shape);
    let x32 = Tensor::<f32>::from_vec(data.iter().map(|&v| v as f32).collect(), &shape);
    let (v64, i64_) = x64.try_max_pool2d_with_indices(&win).unwrap();
    let (v32, i32_) = x32.try_max_pool2d_with_indices(&win).unwrap();
    let mut want = Vec::new();
    for p in 0..n * c {
        want.extend(reference(&data[p * h * w..(p + 1) * h * w], h, w, &win));
    }
    let got: Vec<usize> = i64_.to_vec().iter().map(|&i| i as usize).collect();
    assert_eq!(got, want, "indices {win:?}");
    assert_eq!(
        i32_.to_vec(),
        i64_.to_vec(),
        "f32 and f64 pick the same {win:?}"
    );
    assert_eq!(
        i64_.to_vec(),
        x64.try_max_pool2d_indices(&win).unwrap().to_vec()
    );
    // The values are the elements at the indices (NaN compared as NaN).
    let gathered = x64.reshape(&[n, c, h * w]).gather(2, &i64_).to_vec();
    for (k, (a, b)) in v64.to_vec().iter().zip(&gathered).enumerate() {
        assert!(
            a == b || (a.is_nan() && b.is_nan()),
            "value {k}: {a} vs {b}"
        );
    }
    for (a, b) in v32.to_vec().iter().zip(&gathered) {
        assert!(*a as f64 == *b || (a.is_nan() && b.is_nan()));
    }
}

/// Values with many ties and a few NaNs: (i * 7) % 5, NaN at every 13th.
fn tricky(len: usize) -> Vec<f64> {
    (0..len)
        .map(|i| {
            if i % 13 == 5 {
                f64::NAN
            } else {
                ((i * 7) % 5) as f64 - 2.0
            }
        })
        .collect()
}

#[test]
fn two_by_two_pooling_matches_the_reference_with_ties_and_nans() {
    let shape = [2, 3, 6, 8];
    check(
        shape,
        Window2d::new([2, 2]).stride([2, 2]),
        tricky(2 * 3 * 6 * 8),
    );
    // Rows of 13 and 9 windows: blocks of four windows, then the rest one by one.
    check(
        [2, 2, 6, 26],
        Window2d::new([2, 2]).stride([2, 2]),
        tricky(2 * 2 * 6 * 26),
    );
    check(
        [1, 3, 5, 19],
        Window2d::new([2, 2]).stride([2, 2]),
        tricky(3 * 5 * 19),
    );
    // Odd sizes drop the last row and column, as PyTorch does.
    check(
        [1, 2, 7, 5],
        Window2d::new([2, 2]).stride([2, 2]),
        tricky(70),
    );
}

#[test]
fn general_windows_match_the_reference() {
    let data = tricky(2 * 2 * 7 * 9);
    let shape = [2, 2, 7, 9];
    check(
        shape,
        Window2d::new([3, 3]).stride([2, 2]).padding([1, 1]),
        data.clone(),
    );
    check(shape, Window2d::new([2, 3]).stride([1, 2]), data.clone());
    check(
        shape,
        Window2d::new([2, 2]).dilation([2, 2]).stride([2, 1]),
        data,
    );
}

#[test]
fn large_pooling_runs_in_parallel_blocks_with_the_same_result() {
    // Above the parallel threshold: 64 x 8 planes of 26 x 26.
    let shape = [64, 8, 26, 26];
    let data: Vec<f64> = (0..64 * 8 * 26 * 26usize)
        .map(|i| ((i * 7919) % 1013) as f64)
        .collect();
    check(shape, Window2d::new([2, 2]).stride([2, 2]), data);
}

#[test]
fn pooling_an_empty_plane_is_an_error_not_a_panic() {
    let x = Tensor::<f32>::zeros(&[1, 1, 0, 3]);
    let win = Window2d::new([2, 2]).padding([1, 1]);
    let err = x.try_max_pool2d_with_indices(&win).unwrap_err();
    assert!(err.to_string().contains("max_pool2d"), "{err}");
}
