//! conv2d and its input and weight gradients against products over the naive im2col, for
//! random kernel, stride, padding, dilation and layouts.

use graft_tensor::{Float, Tensor, Window2d};
use proptest::prelude::*;

use super::common::*;
use super::unfold::{col2im, im2col, image, window};

/// The three results from the naive columns `cols` (`[N, C*kk, L]`), the weight `w`
/// (`[O, C*kk]` flat) and the output gradient `g` (`[N, O, L]` flat), with the sums of
/// absolute products that bound each one's rounding.
struct Reference {
    out: Vec<f64>,
    out_mag: Vec<f64>,
    dcols: Arr,
    dcols_mag: Arr,
    dw: Vec<f64>,
    dw_mag: Vec<f64>,
}

fn reference(cols: &Arr, w: &Arr, g: &Arr) -> Reference {
    let [n, r, l] = [cols.shape[0], cols.shape[1], cols.shape[2]];
    let o = w.shape[0];
    let zeros = |len| vec![0.0; len];
    let (mut out, mut out_mag) = (zeros(n * o * l), zeros(n * o * l));
    let (mut dcols, mut dcols_mag) = (zeros(n * r * l), zeros(n * r * l));
    let (mut dw, mut dw_mag) = (zeros(o * r), zeros(o * r));
    for b in 0..n {
        for oc in 0..o {
            for k in 0..r {
                let wv = w.data[oc * r + k];
                for p in 0..l {
                    let (x, gv) = (cols.at(&[b, k, p]), g.data[(b * o + oc) * l + p]);
                    out[(b * o + oc) * l + p] += wv * x;
                    out_mag[(b * o + oc) * l + p] += (wv * x).abs();
                    dcols[(b * r + k) * l + p] += wv * gv;
                    dcols_mag[(b * r + k) * l + p] += (wv * gv).abs();
                    dw[oc * r + k] += gv * x;
                    dw_mag[oc * r + k] += (gv * x).abs();
                }
            }
        }
    }
    Reference {
        out,
        out_mag,
        dcols: Arr::new(&[n, r, l], dcols),
        dcols_mag: Arr::new(&[n, r, l], dcols_mag),
        dw,
        dw_mag,
    }
}

/// Four roundings of the sum of absolute products (plus a floor for sums near zero).
fn tol(e: f64, mag: &[f64]) -> impl Fn(usize) -> f64 + '_ {
    move |i| 4.0 * e * (mag[i] + 1e-3)
}

fn check_conv<T: Float>(
    x: &(Arr, Plan),
    win: &Window2d,
    o: usize,
    vals: &[f64],
    pw: &Plan,
    pg: &Plan,
) -> TestResult {
    let (tx, rx) = build::<T>(&x.0, &x.1);
    let [n, c, h, wd] = [rx.shape[0], rx.shape[1], rx.shape[2], rx.shape[3]];
    let [kh, kw] = win.kernel;
    let w_shape = [o, c, kh, kw];
    let w0 = Arr::new(&w_shape, vals[..numel(&w_shape)].to_vec());
    let (tw, rw) = build::<T>(&w0, pw);
    let Some(cols) = im2col(&rx, win) else {
        prop_assert!(
            tx.try_conv2d(&tw, None, win).is_err(),
            "a window that does not fit"
        );
        return Ok(());
    };
    let l = cols.shape[2];
    let (oh, ow) = win.output_size(h, wd).expect("fits");
    let g_shape = [n, o, oh, ow];
    let g0 = Arr::new(&g_shape, vals[vals.len() - numel(&g_shape)..].to_vec());
    let (tg, rg) = build::<T>(&g0, pg);
    let want = reference(&cols, &Arr::new(&[o, c * kh * kw], rw.data.clone()), &rg);
    let e = eps::<T>();
    let out = values(&tx.conv2d(&tw, None, win));
    check_with(
        &format!("conv2d {win:?} {}", T::DTYPE),
        &out,
        &Arr::new(&g_shape, want.out.clone()),
        tol(e, &want.out_mag),
    )?;
    // With a bias: each output channel's plane shifted by its entry.
    let bias: Vec<f64> = (0..o).map(|i| vals[i + 7]).collect();
    let with_bias: Vec<f64> = want
        .out
        .iter()
        .enumerate()
        .map(|(i, v)| v + bias[i / (oh * ow).max(1) % o.max(1)])
        .collect();
    let tb = Arr::new(&[o], bias).tensor::<T>();
    check_with(
        &format!("conv2d with bias {win:?} {}", T::DTYPE),
        &values(&tx.conv2d(&tw, Some(&tb), win)),
        &Arr::new(&g_shape, with_bias),
        |i| tol(e, &want.out_mag)(i) + 4.0 * e * 4.0,
    )?;
    let dx = values(&tg.conv2d_input_grad(&tw, win, [h, wd]));
    let dx_want = col2im(&want.dcols, c, h, wd, win);
    let dx_mag = col2im(&want.dcols_mag, c, h, wd, win);
    check_with(
        &format!("conv2d_input_grad {win:?} {}", T::DTYPE),
        &dx,
        &dx_want,
        tol(e, &dx_mag.data),
    )?;
    let dw = values(&tx.conv2d_weight_grad(&tg, win));
    check_with(
        &format!("conv2d_weight_grad {win:?} {}", T::DTYPE),
        &dw,
        &Arr::new(&w_shape, want.dw.clone()),
        tol(e, &want.dw_mag),
    )?;
    prop_assert_eq!(l, oh * ow);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn conv2d_and_its_gradients_match_products_over_im2col(
        (x, win, o, vals, pw, pg) in (image(), window(), 0..=3usize).prop_flat_map(|(s, w, o)| {
            (input_of(s), Just(w), Just(o), prop::collection::vec(value(), 2 * 3 * 3 * 9 + 4 * 3 * 400), plan(4), plan(4))
        })
    ) {
        both!(check_conv(&x, &win, o, &vals, &pw, &pg));
    }
}

/// A batch above the parallel threshold, with more images than weight-gradient runs: the
/// same values as the reference, and the same bits on 1, 2 and 3 threads.
#[test]
fn large_conv2d_is_the_same_on_any_number_of_threads() {
    let (n, c, h, w, o) = (11, 5, 23, 19, 7);
    let win = Window2d::new([3, 3]).padding([1, 0]);
    let x = Arr::from_fn(&[n, c, h, w], |i| {
        ((i[0] * 7 + i[1] * 5 + i[2] * 3 + i[3]) % 11) as f64 - 5.0
    });
    let wt = Arr::from_fn(&[o, c, 3, 3], |i| {
        ((i[0] * 3 + i[1] + i[2] * 2 + i[3]) % 5) as f64 - 2.0
    });
    let (oh, ow) = win.output_size(h, w).unwrap();
    let g = Arr::from_fn(&[n, o, oh, ow], |i| {
        ((i[0] + i[1] * 2 + i[2] + i[3] * 3) % 7) as f64 - 3.0
    });
    let cols = im2col(&x, &win).unwrap();
    let want = reference(&cols, &Arr::new(&[o, c * 9], wt.data.clone()), &g);
    let run = || {
        let (tx, tw, tg) = (x.tensor::<f32>(), wt.tensor::<f32>(), g.tensor::<f32>());
        let bits = |t: Tensor<f32>| t.to_vec().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        (
            bits(tx.conv2d(&tw, None, &win)),
            bits(tg.conv2d_input_grad(&tw, &win, [h, w])),
            bits(tx.conv2d_weight_grad(&tg, &win)),
        )
    };
    let on = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(run)
    };
    let one = on(1);
    // Small integers: every sum is exact in f32, so the values must equal the reference.
    let as_f64 = |b: &[u32]| {
        b.iter()
            .map(|&v| f32::from_bits(v) as f64)
            .collect::<Vec<_>>()
    };
    assert_eq!(as_f64(&one.0), want.out);
    assert_eq!(as_f64(&one.1), col2im(&want.dcols, c, h, w, &win).data);
    assert_eq!(as_f64(&one.2), want.dw);
    for threads in [2, 3] {
        assert!(on(threads) == one, "conv2d on {threads} threads");
    }
    assert!(run() == one, "conv2d outside a pool");
}

#[test]
fn conv2d_names_the_op_and_the_shapes_on_bad_input() {
    let win = Window2d::new([3, 3]);
    let x = Tensor::<f32>::zeros(&[2, 3, 8, 8]);
    let cases: [(Tensor<f32>, &str); 3] = [
        (Tensor::zeros(&[4, 2, 3, 3]), "channels"),
        (Tensor::zeros(&[4, 3, 2, 3]), "kernel"),
        (Tensor::zeros(&[4, 3, 3]), "weight [O, C, kh, kw]"),
    ];
    for (w, why) in cases {
        let e = x.try_conv2d(&w, None, &win).unwrap_err().to_string();
        assert!(
            e.contains("conv2d") && e.contains("[2, 3, 8, 8]") && e.contains(why),
            "{e}"
        );
    }
    let small = Tensor::<f32>::zeros(&[2, 3, 2, 2]);
    let e = small
        .try_conv2d(&Tensor::zeros(&[4, 3, 3, 3]), None, &win)
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not fit"), "{e}");
    let bias = Tensor::<f32>::zeros(&[3]);
    let e = x
        .try_conv2d(&Tensor::zeros(&[4, 3, 3, 3]), Some(&bias), &win)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("conv2d") && e.contains("bias [3]") && e.contains("[4]"),
        "{e}"
    );
    // Padding so large that the output (and each image's columns) cannot be addressed.
    let huge = Window2d::new([1, 1]).padding([1 << 31, 1 << 31]);
    let one = Tensor::<f32>::zeros(&[1, 1, 1, 1]);
    let e = one.try_conv2d(&one, None, &huge).unwrap_err().to_string();
    assert!(e.contains("conv2d") && e.contains("too large"), "{e}");
    let g = Tensor::<f32>::zeros(&[2, 4, 5, 6]);
    let e = g
        .try_conv2d_input_grad(&Tensor::zeros(&[4, 3, 3, 3]), &win, [8, 8])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("conv2d_input_grad") && e.contains("[2, 4, 5, 6]"),
        "{e}"
    );
    let e = x.try_conv2d_weight_grad(&g, &win).unwrap_err().to_string();
    assert!(
        e.contains("conv2d_weight_grad") && e.contains("[2, 4, 5, 6]"),
        "{e}"
    );
}
