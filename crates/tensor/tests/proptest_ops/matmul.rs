//! matmul with torch.matmul semantics against a naive triple loop: 2-D, batched with
//! broadcast batch dims, and 1-D operands; plus products large enough to be split over
//! threads.

use graft_tensor::{Float, Tensor};
use proptest::prelude::*;

use super::common::*;

/// torch.matmul on reference arrays; also returns the sum of |a_ik b_kj| per output (for
/// the tolerance).
fn matmul_ref(a: &Arr, b: &Arr) -> (Arr, Arr) {
    let a2 = if a.shape.len() == 1 {
        Arr::new(&[1, a.shape[0]], a.data.clone())
    } else {
        a.clone()
    };
    let b2 = if b.shape.len() == 1 {
        Arr::new(&[b.shape[0], 1], b.data.clone())
    } else {
        b.clone()
    };
    let (ra, rb) = (a2.shape.len(), b2.shape.len());
    let (m, k, n) = (a2.shape[ra - 2], a2.shape[ra - 1], b2.shape[rb - 1]);
    assert_eq!(k, b2.shape[rb - 2]);
    let batch = ref_broadcast(&[&a2.shape[..ra - 2], &b2.shape[..rb - 2]]).unwrap();
    let mut full = batch.clone();
    full.extend([m, n]);
    let mut out = Arr::from_fn(&full, |_| 0.0);
    let mut mag = out.clone();
    for (pos, idx) in indices(&full).iter().enumerate() {
        let (bi, i, j) = (&idx[..batch.len()], idx[batch.len()], idx[batch.len() + 1]);
        let ia = bcast_index(&a2.shape[..ra - 2], bi);
        let ib = bcast_index(&b2.shape[..rb - 2], bi);
        for kk in 0..k {
            let mut ai = ia.clone();
            ai.extend([i, kk]);
            let mut bj = ib.clone();
            bj.extend([kk, j]);
            let p = a2.at(&ai) * b2.at(&bj);
            out.data[pos] += p;
            mag.data[pos] += p.abs();
        }
    }
    let mut shape = batch;
    if a.shape.len() > 1 {
        shape.push(m);
    }
    if b.shape.len() > 1 {
        shape.push(n);
    }
    (Arr::new(&shape, out.data), Arr::new(&shape, mag.data))
}

/// Operand shapes: each operand 1-D, 2-D or batched (batch dims broadcast-compatible).
fn matmul_shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    let size = || prop_oneof![1 => Just(0usize), 2 => Just(1usize), 6 => 2..=5usize];
    (
        size(),
        size(),
        size(),
        broadcast_family(2, 2),
        1..=3usize,
        1..=3usize,
    )
        .prop_map(|(m, k, n, (_, batch), ka, kb)| {
            // ka/kb: 1 = vector, 2 = matrix, 3 = batched
            let a = match ka {
                1 => vec![k],
                2 => vec![m, k],
                _ => batch[0].iter().copied().chain([m, k]).collect(),
            };
            let b = match kb {
                1 => vec![k],
                2 => vec![k, n],
                _ => batch[1].iter().copied().chain([k, n]).collect(),
            };
            (a, b)
        })
}

fn check_matmul<T: Float>(a: &(Arr, Plan), b: &(Arr, Plan)) -> TestResult {
    let (ta, ra) = build::<T>(&a.0, &a.1);
    let (tb, rb) = build::<T>(&b.0, &b.1);
    let (want, mag) = matmul_ref(&ra, &rb);
    let got = values(&ta.matmul(&tb));
    let e = eps::<T>();
    check_with(
        &format!("matmul {:?} x {:?} {}", ra.shape, rb.shape, T::DTYPE),
        &got,
        &want,
        |i| 4.0 * e * (mag.data[i] + 1e-3),
    )?;
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn matmul_matches_reference(((a, pa), (b, pb)) in matmul_shapes()
        .prop_flat_map(|(a, b)| (input_of(a), input_of(b)))) {
        let (a, b) = ((a, pa), (b, pb));
        both!(check_matmul(&a, &b));
    }
}

fn random_arr(shape: &[usize], seed: u64) -> Arr {
    let mut s = seed;
    Arr::from_fn(shape, |_| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    })
}

/// Products above the threading cut-off, with transposed / sliced / broadcast operands,
/// in the default pool and in explicit 1- and 2-thread pools.
fn check_large<T: Float>(
    a_shape: &[usize],
    b_shape: &[usize],
    transpose_a: bool,
    transpose_b: bool,
) {
    let ra = random_arr(a_shape, 1);
    let rb = random_arr(b_shape, 2);
    let lay = |r: &Arr, tr: bool| -> Tensor<T> {
        if !tr || r.shape.len() < 2 {
            return r.tensor::<T>();
        }
        // Stored transposed, viewed back: a non-contiguous operand with the same values.
        let nd = r.shape.len();
        let mut perm: Vec<usize> = (0..nd).collect();
        perm.swap(nd - 2, nd - 1);
        let stored = Arr::from_fn(&perm.iter().map(|&d| r.shape[d]).collect::<Vec<_>>(), |i| {
            let mut j = i.to_vec();
            j.swap(nd - 2, nd - 1);
            r.at(&j)
        });
        stored.tensor::<T>().transpose(-1, -2)
    };
    let (ta, tb) = (lay(&ra, transpose_a), lay(&rb, transpose_b));
    let (want, mag) = matmul_ref(&ra.round::<T>(), &rb.round::<T>());
    let tol = |i: usize| 8.0 * eps::<T>() * (mag.data[i] + 1e-3);
    let default = values(&ta.matmul(&tb));
    check_with(
        &format!("large matmul {a_shape:?} x {b_shape:?}"),
        &default,
        &want,
        tol,
    )
    .unwrap();
    for threads in [1, 2, 4] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let got = pool.install(|| values(&ta.matmul(&tb)));
        check_with(
            &format!("large matmul on {threads} threads"),
            &got,
            &want,
            tol,
        )
        .unwrap();
    }
}

#[test]
fn large_matmuls_split_over_threads() {
    // One product split along rows (m >= n) and along columns (n > m).
    check_large::<f32>(&[160, 128], &[128, 130], false, false);
    check_large::<f64>(&[160, 128], &[128, 130], true, true);
    check_large::<f32>(&[17, 512], &[512, 301], true, false);
    check_large::<f64>(&[17, 512], &[512, 301], false, true);
    // Split along k: a long inner dimension against a small output (a conv weight gradient,
    // 9 columns wide), and operands both contiguous along k (`x @ w.t()`), with a k that
    // does not halve evenly.
    check_large::<f32>(&[24, 12001], &[12001, 9], false, true);
    check_large::<f64>(&[9, 12001], &[12001, 24], true, false);
    check_large::<f32>(&[64, 641], &[641, 80], false, true);
    check_large::<f64>(&[64, 641], &[641, 80], false, true);
    // Batched, each batch entry its own product.
    check_large::<f32>(&[3, 65, 97], &[3, 97, 120], true, false);
    // A batch against one shared matrix (flattened into one taller product).
    check_large::<f64>(&[4, 50, 96], &[96, 110], false, true);
    // Broadcast batch dims: [2, 1, m, k] x [3, k, n].
    check_large::<f32>(&[2, 1, 40, 64], &[3, 64, 140], false, true);
}

#[test]
fn matmul_of_broadcast_and_sliced_views() {
    // A stride-0 batch for b (expanded weights) and a stepped, offset slice for a.
    let base = Tensor::<f64>::arange(0.0, 96.0, 1.0).reshape(&[4, 24]);
    let a = base.slice(1, 1, 24, 3).unsqueeze(0).expand(&[2, 4, 8]);
    let w = Tensor::<f64>::arange(0.0, 16.0, 1.0)
        .reshape(&[8, 2])
        .unsqueeze(0)
        .expand(&[2, 8, 2]);
    let ra = read(&a);
    let rw = read(&w);
    let (want, _) = matmul_ref(&ra, &rw);
    assert_eq!(values(&a.matmul(&w)), want);
}

/// Every pairing of batch shapes whose broadcast is [2, 3] (full, partial, absent, all-1),
/// with contiguous and transposed operands: each batch entry must use its own matrices.
#[test]
fn every_batch_broadcast_pattern() {
    let batches: [&[usize]; 6] = [&[2, 3], &[3], &[1, 3], &[2, 1], &[1], &[]];
    let (m, k, n) = (3, 4, 5);
    let mut seed = 10;
    for ba in batches {
        for bb in batches {
            if ref_broadcast(&[ba, bb]).is_none_or(|s| s.iter().product::<usize>() < 2) {
                continue;
            }
            let sa: Vec<usize> = ba.iter().copied().chain([m, k]).collect();
            let sb: Vec<usize> = bb.iter().copied().chain([k, n]).collect();
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                seed += 1;
                let (ra, rb) = (random_arr(&sa, seed), random_arr(&sb, seed + 1000));
                let lay = |r: &Arr, tr: bool| -> Tensor<f64> {
                    if !tr {
                        return r.tensor();
                    }
                    let nd = r.shape.len();
                    let mut st = r.shape.clone();
                    st.swap(nd - 2, nd - 1);
                    let stored = Arr::from_fn(&st, |i| {
                        let mut j = i.to_vec();
                        j.swap(nd - 2, nd - 1);
                        r.at(&j)
                    });
                    stored.tensor::<f64>().transpose(-1, -2)
                };
                let (want, mag) = matmul_ref(&ra, &rb);
                let got = values(&lay(&ra, ta).matmul(&lay(&rb, tb)));
                let what = format!("matmul {sa:?} (transposed {ta}) x {sb:?} (transposed {tb})");
                check_with(&what, &got, &want, |i| 1e-12 * (mag.data[i] + 1e-3)).unwrap();
            }
        }
    }
}
