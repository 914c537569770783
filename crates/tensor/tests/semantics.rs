//! Storage semantics (copy-on-write, shared views, view vs reshape), constructors, Display,
//! allclose, cast, item, to_vec, and determinism / correctness of the parallel kernels on
//! large tensors run inside rayon pools of 1 and 2 threads.

use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn range(n: usize) -> Vec<f32> {
    (0..n).map(|v| v as f32).collect()
}

fn grid() -> Tensor<f32> {
    Tensor::from_vec(range(12), &[3, 4])
}

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

// ---------------------------------------------------------------------------------------
// Copy-on-write and shared storage.

#[test]
fn writing_through_a_view_never_changes_the_base() {
    let base = grid();
    let mut v = base.narrow(0, 1, 2);
    assert!(v.shares_storage(&base));
    v.data_mut()[0] = 100.0;
    assert_eq!(base.to_vec(), range(12));
    assert_eq!(v.to_vec(), vec![100.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
    assert_eq!(v.shape(), &[2, 4]);
    assert!(!v.shares_storage(&base));
}

#[test]
fn writing_the_base_never_changes_a_view() {
    let mut base = grid();
    let views = [
        base.t(),
        base.select(0, 1),
        base.flip(1),
        base.slice(1, 0, 4, 2),
        base.reshape(&[2, 6]),
    ];
    let before: Vec<Vec<f32>> = views.iter().map(|v| v.to_vec()).collect();
    base.data_mut().iter_mut().for_each(|x| *x = -1.0);
    assert_eq!(base.to_vec(), vec![-1.0; 12]);
    for (v, b) in views.iter().zip(&before) {
        assert_eq!(&v.to_vec(), b);
    }
}

#[test]
fn clones_are_copy_on_write_both_ways() {
    let mut a = grid();
    let mut c = a.clone();
    assert!(c.shares_storage(&a));
    c.data_mut()[3] = 7.5;
    assert_eq!(a.get(&[0, 3]), 3.0);
    assert_eq!(c.get(&[0, 3]), 7.5);
    let d = a.clone();
    a.data_mut()[0] = -2.0;
    assert_eq!(d.get(&[0, 0]), 0.0);
    assert_eq!(a.get(&[0, 0]), -2.0);
}

#[test]
fn unique_dense_tensors_are_written_in_place() {
    let mut a = grid();
    let p = a.as_slice().unwrap().as_ptr();
    a.data_mut()[5] = 50.0;
    assert_eq!(
        a.as_slice().unwrap().as_ptr(),
        p,
        "no copy when nobody else sees the storage"
    );
    assert_eq!(a.get(&[1, 1]), 50.0);
    // Once the only other owner is gone, writes are in place again.
    let other = a.clone();
    drop(other);
    a.data_mut()[6] = 60.0;
    assert_eq!(a.as_slice().unwrap().as_ptr(), p);
}

#[test]
fn data_mut_on_strided_views_is_the_views_row_major_data() {
    let base = grid();
    for mut v in [
        base.t(),
        base.flip(0),
        base.slice(1, 1, 4, 2),
        base.narrow(1, 1, 2).unsqueeze(0),
    ] {
        let want = v.to_vec();
        let shape = v.shape().to_vec();
        assert_eq!(v.data_mut().to_vec(), want);
        v.data_mut()[0] += 1000.0;
        assert!(v.is_contiguous());
        assert_eq!(v.shape(), &shape[..]);
        let mut w = want.clone();
        w[0] += 1000.0;
        assert_eq!(v.to_vec(), w);
    }
    assert_eq!(base.to_vec(), range(12));
    // A broadcast view materializes: one write changes one element.
    let row = Tensor::from_vec(vec![1.0f64, 2.0], &[2]);
    let mut b = row.broadcast_to(&[3, 2]);
    b.data_mut()[2] = 9.0;
    assert_eq!(b.to_vec(), vec![1.0, 2.0, 9.0, 2.0, 1.0, 2.0]);
    assert_eq!(row.to_vec(), vec![1.0, 2.0]);
}

#[test]
fn views_share_storage_and_copies_do_not() {
    let base = Tensor::<f64>::from_vec((0..24).map(f64::from).collect(), &[2, 3, 4]);
    let views = [
        base.view(&[6, 4]),
        base.reshape(&[4, 6]),
        base.flatten(0, 1),
        base.permute(&[2, 0, 1]),
        base.transpose(0, -1),
        base.select(1, 2).t(),
        base.narrow(2, 1, 2),
        base.slice(2, -3, 4, 2),
        base.unsqueeze(1).squeeze(),
        base.squeeze_dim(0),
        base.select(0, 0).broadcast_to(&[5, 3, 4]),
        base.select(0, 1).expand(&[2, 3, 4]),
        base.flip(1),
        base.contiguous(),
        base.clone(),
    ];
    for v in &views {
        assert!(v.shares_storage(&base), "{v:?}");
    }
    let copies = [
        base.transpose(0, 1).contiguous(),
        base.transpose(0, 1).reshape(&[24]),
        base.add_scalar(0.0),
        base.cast::<f64>(),
        base.map(|x| x),
        Tensor::concat(&[&base], 0),
    ];
    for c in &copies {
        assert!(!c.shares_storage(&base), "{c:?}");
        assert!(c.is_contiguous());
    }
}

#[test]
fn view_refuses_where_reshape_copies() {
    let t = grid().t(); // [4, 3], strides [1, 4]
    assert!(!t.is_contiguous());
    let e = t.try_view(&[12]).unwrap_err();
    assert_eq!(e.op, "view");
    assert_eq!(e.to_string(), "view: shape [4, 3] with strides [1, 4] cannot be viewed as [12] without a copy; use reshape");
    let r = t.reshape(&[12]);
    assert!(!r.shares_storage(&t));
    assert_eq!(
        r.to_vec(),
        vec![0.0, 4.0, 8.0, 1.0, 5.0, 9.0, 2.0, 6.0, 10.0, 3.0, 7.0, 11.0]
    );
    // Splitting a dimension of the transposed view needs no copy.
    let v = t.view(&[2, 2, 3]);
    assert!(v.shares_storage(&t));
    assert_eq!(v.to_vec(), t.to_vec());
}

// ---------------------------------------------------------------------------------------
// Constructors and accessors.

#[test]
fn constructors() {
    assert_eq!(Tensor::<f32>::zeros(&[2, 2]).to_vec(), vec![0.0; 4]);
    assert_eq!(Tensor::<i64>::ones(&[3]).to_vec(), vec![1; 3]);
    assert_eq!(Tensor::<bool>::zeros(&[2]).to_vec(), vec![false; 2]);
    assert_eq!(Tensor::full(&[2], 2.5f64).to_vec(), vec![2.5, 2.5]);
    let g = grid();
    assert_eq!(g.zeros_like().shape(), &[3, 4]);
    assert_eq!(g.ones_like().to_vec(), vec![1.0; 12]);
    assert_eq!(g.full_like(3.0).to_vec(), vec![3.0; 12]);
    assert_eq!(
        Tensor::<f64>::arange(0.0, 1.0, 0.25).to_vec(),
        vec![0.0, 0.25, 0.5, 0.75]
    );
    assert_eq!(
        Tensor::<f64>::arange(3.0, 0.0, -1.0).to_vec(),
        vec![3.0, 2.0, 1.0]
    );
    assert_eq!(Tensor::<f32>::arange(0.0, 0.0, 1.0).shape(), &[0]);
    assert_eq!(Tensor::<f32>::arange(0.0, -5.0, 1.0).shape(), &[0]);
    assert_eq!(
        Tensor::<f64>::linspace(0.0, 1.0, 5).to_vec(),
        vec![0.0, 0.25, 0.5, 0.75, 1.0]
    );
    assert_eq!(Tensor::<f64>::linspace(2.0, 3.0, 1).to_vec(), vec![2.0]);
    assert_eq!(Tensor::<f64>::linspace(2.0, 3.0, 0).shape(), &[0]);
    assert_eq!(
        Tensor::<f32>::eye(3).to_vec(),
        vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    );
    assert_eq!(Tensor::<f32>::eye(0).shape(), &[0, 0]);
    let s = Tensor::scalar(4.0f32);
    assert_eq!((s.shape(), s.ndim(), s.numel()), (&[][..], 0, 1));
    assert_eq!(
        Tensor::from_slice(&[1u8, 2, 3, 4], &[2, 2]).to_vec(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(Tensor::<f32>::zeros(&[2, 3]).dtype(), "float32");
    assert_eq!(Tensor::<i32>::zeros(&[1]).dtype(), "int32");
    assert_eq!(grid().dim_size(-1), 4);
    assert_eq!(grid().dim_size(0), 3);
}

#[test]
fn random_fills_are_seeded_and_in_range() {
    let a = Tensor::<f32>::uniform(&[1000], -2.0, 3.0, &mut StdRng::seed_from_u64(7));
    let b = Tensor::<f32>::uniform(&[1000], -2.0, 3.0, &mut StdRng::seed_from_u64(7));
    let c = Tensor::<f32>::uniform(&[1000], -2.0, 3.0, &mut StdRng::seed_from_u64(8));
    assert_eq!(a.to_vec(), b.to_vec());
    assert_ne!(a.to_vec(), c.to_vec());
    assert!(a.to_vec().iter().all(|&v| (-2.0..3.0).contains(&v)));
    let mean = a.mean().item();
    assert!((mean - 0.5).abs() < 0.2, "uniform mean {mean}");

    let n = Tensor::<f64>::normal(&[20001], 1.0, 2.0, &mut StdRng::seed_from_u64(3));
    let m = n.mean().item();
    let s = n.var(1).item().sqrt();
    assert!((m - 1.0).abs() < 0.06, "normal mean {m}");
    assert!((s - 2.0).abs() < 0.06, "normal std {s}");
    let again = Tensor::<f64>::normal(&[20001], 1.0, 2.0, &mut StdRng::seed_from_u64(3));
    assert_eq!(n.to_vec(), again.to_vec());
    let like = n.normal_like(0.0, 1.0, &mut StdRng::seed_from_u64(1));
    assert_eq!(like.shape(), &[20001]);
    assert_eq!(
        grid()
            .uniform_like(0.0, 1.0, &mut StdRng::seed_from_u64(1))
            .shape(),
        &[3, 4]
    );
}

#[test]
fn item_reads_the_single_element_of_any_layout() {
    assert_eq!(Tensor::scalar(3.5f64).item(), 3.5);
    assert_eq!(Tensor::from_vec(vec![2i64], &[1, 1, 1]).item(), 2);
    let g = grid();
    assert_eq!(g.select(0, 2).select(0, 1).item(), 9.0);
    assert_eq!(g.narrow(1, 3, 1).narrow(0, 1, 1).item(), 7.0);
    assert_eq!(
        g.flip(0).flip(1).narrow(0, 0, 1).narrow(1, 0, 1).item(),
        11.0
    );
    assert_eq!(g.sum().item(), 66.0);
    assert!(g.try_item().is_err());
    assert!(Tensor::<f32>::zeros(&[0]).try_item().is_err());
}

#[test]
fn to_vec_of_every_layout_is_row_major() {
    let g = grid();
    assert_eq!(
        g.t().to_vec(),
        vec![0.0, 4.0, 8.0, 1.0, 5.0, 9.0, 2.0, 6.0, 10.0, 3.0, 7.0, 11.0]
    );
    assert_eq!(g.flip(1).select(0, 0).to_vec(), vec![3.0, 2.0, 1.0, 0.0]);
    assert_eq!(
        g.slice(1, 1, 4, 2).to_vec(),
        vec![1.0, 3.0, 5.0, 7.0, 9.0, 11.0]
    );
    assert_eq!(
        g.select(1, 0).unsqueeze(1).expand(&[3, 2]).to_vec(),
        vec![0.0, 0.0, 4.0, 4.0, 8.0, 8.0]
    );
    assert_eq!(g.narrow(0, 3, 0).to_vec(), Vec::<f32>::new());
    assert_eq!(g.to_vec(), range(12));
    assert_eq!(g.get(&[2, 1]), 9.0);
    assert_eq!(g.t().get(&[1, 2]), 9.0);
}

#[test]
fn cast_converts_between_element_types() {
    let a = Tensor::from_vec(vec![1.5f32, -2.75, 1e30, 0.1], &[2, 2]);
    let b = a.cast::<f64>();
    assert_eq!(b.dtype(), "float64");
    assert_eq!(b.to_vec(), vec![1.5, -2.75, 1e30f32 as f64, 0.1f32 as f64]);
    assert_eq!(b.cast::<f32>().to_vec(), a.to_vec());
    let d = Tensor::from_vec(vec![0.1f64, 1e300], &[2]).cast::<f32>();
    assert_eq!(d.to_vec(), vec![0.1f32, f32::INFINITY]);
    // Truncation toward zero into integers, nonzero into true.
    let f = Tensor::from_vec(vec![2.9f64, -2.9, 0.0, 0.4], &[4]);
    assert_eq!(f.cast::<i64>().to_vec(), vec![2, -2, 0, 0]);
    assert_eq!(f.cast::<bool>().to_vec(), vec![true, true, false, true]);
    assert_eq!(
        Tensor::from_vec(vec![true, false], &[2])
            .cast::<f32>()
            .to_vec(),
        vec![1.0, 0.0]
    );
    // Non-contiguous input keeps its logical order.
    assert_eq!(
        grid().t().cast::<f64>().to_vec(),
        grid()
            .t()
            .to_vec()
            .iter()
            .map(|&v| v as f64)
            .collect::<Vec<_>>()
    );
}

#[test]
fn allclose_uses_rtol_and_atol() {
    let a = Tensor::from_vec(vec![1.0f64, 100.0, 0.0], &[3]);
    let b = Tensor::from_vec(vec![1.0 + 1e-9, 100.0 + 1e-6, 1e-9], &[3]);
    assert!(a.allclose(&b, 1e-8, 1e-8));
    assert!(!a.allclose(&b, 1e-12, 1e-12));
    assert!(!a.allclose(&b, 1e-8, 0.0), "|0 - 1e-9| needs atol");
    assert!(a.allclose(&b, 0.0, 1e-6));
    // Shape must match exactly (no broadcasting).
    assert!(!a.allclose(&a.reshape(&[3, 1]), 1.0, 1.0));
    // NaN never matches; equal infinities do.
    let n = Tensor::from_vec(vec![f64::NAN], &[1]);
    assert!(!n.allclose(&n, 1.0, 1.0));
    let i = Tensor::from_vec(vec![f64::INFINITY, f64::NEG_INFINITY], &[2]);
    assert!(i.allclose(&i, 0.0, 0.0));
    assert!(!i.allclose(&i.flip(0), 1.0, 1.0));
    let one = Tensor::from_vec(vec![1.0f64], &[1]);
    let inf = Tensor::from_vec(vec![f64::INFINITY], &[1]);
    assert!(!one.allclose(&inf, 1.0, 1.0) && !inf.allclose(&one, 1.0, 1.0));
    // Views compare by logical values.
    assert!(grid()
        .t()
        .allclose(&Tensor::from_vec(grid().t().to_vec(), &[4, 3]), 0.0, 0.0));
}

#[test]
fn nan_semantics_follow_pytorch() {
    let x = Tensor::from_vec(vec![f64::NAN, 1.0], &[2]);
    let y = Tensor::from_vec(vec![0.0, f64::NAN], &[2]);
    assert!(x.maximum(&y).to_vec().iter().all(|v| v.is_nan()));
    assert!(x.minimum(&y).to_vec().iter().all(|v| v.is_nan()));
    assert!(x.clamp(Some(0.0), Some(0.5)).to_vec()[0].is_nan());
    assert!(x.exp().to_vec()[0].is_nan());
    assert!(x.sigmoid().to_vec()[0].is_nan());
    assert!(x.erf().to_vec()[0].is_nan());
    assert_eq!(
        Tensor::from_vec(vec![0.0f64, -0.0], &[2]).erf().to_vec(),
        vec![0.0, 0.0]
    );
}

// ---------------------------------------------------------------------------------------
// Display and Debug.

#[test]
fn display_small_tensors_like_pytorch() {
    let show = |s: String| s;
    assert_eq!(
        show(format!("{}", Tensor::from_vec(range(6), &[2, 3]))),
        "tensor([[0., 1., 2.],\n        [3., 4., 5.]])"
    );
    assert_eq!(
        format!("{}", Tensor::from_vec(vec![1.5f32, -2.25, 3.0], &[3])),
        "tensor([ 1.5000, -2.2500,  3.0000])"
    );
    assert_eq!(format!("{}", Tensor::scalar(2.0f32)), "tensor(2.)");
    assert_eq!(
        format!("{}", Tensor::scalar(0.5f64)),
        "tensor(0.5000, dtype=float64)"
    );
    assert_eq!(format!("{}", Tensor::<f32>::zeros(&[0])), "tensor([])");
    assert_eq!(
        format!("{}", Tensor::from_vec(vec![1i64, -20, 3], &[3])),
        "tensor([  1, -20,   3], dtype=int64)"
    );
    assert_eq!(
        format!("{}", Tensor::from_vec(range(8), &[2, 2, 2])),
        "tensor([[[0., 1.],\n         [2., 3.]],\n\n        [[4., 5.],\n         [6., 7.]]])"
    );
    assert_eq!(
        format!("{}", Tensor::from_vec(vec![1e-5f32, 1.0, 1e9], &[3])),
        "tensor([1.0000e-05, 1.0000e+00, 1.0000e+09])"
    );
    assert_eq!(
        format!(
            "{}",
            Tensor::from_vec(vec![f32::NAN, f32::INFINITY, -1.5], &[3])
        ),
        "tensor([    nan,     inf, -1.5000])"
    );
    // A view prints its logical values.
    assert_eq!(
        format!("{}", Tensor::from_vec(range(6), &[2, 3]).t()),
        "tensor([[0., 3.],\n        [1., 4.],\n        [2., 5.]])"
    );
}

#[test]
fn display_summarizes_past_1000_elements() {
    let t = Tensor::<f32>::arange(0.0, 2000.0, 1.0);
    assert_eq!(
        format!("{t}"),
        "tensor([   0.,    1.,    2., ..., 1997., 1998., 1999.])"
    );
    let m = Tensor::<f64>::arange(0.0, 1600.0, 1.0).reshape(&[40, 40]);
    let want = "tensor([[   0.,    1.,    2., ...,   37.,   38.,   39.],\n        \
                [  40.,   41.,   42., ...,   77.,   78.,   79.],\n        \
                [  80.,   81.,   82., ...,  117.,  118.,  119.],\n        \
                ...,\n        \
                [1480., 1481., 1482., ..., 1517., 1518., 1519.],\n        \
                [1520., 1521., 1522., ..., 1557., 1558., 1559.],\n        \
                [1560., 1561., 1562., ..., 1597., 1598., 1599.]], dtype=float64)";
    assert_eq!(format!("{m}"), want);
    // Exactly 1000 elements are not summarized.
    let k = format!("{}", Tensor::<f32>::zeros(&[1000]));
    assert!(!k.contains("..."));
    assert_eq!(k.matches("0.").count(), 1000);
}

#[test]
fn debug_shows_the_layout() {
    let d = format!("{:?}", Tensor::from_vec(range(6), &[2, 3]).t());
    assert_eq!(d, "Tensor<float32> { shape: [3, 2], strides: [1, 3], offset: 0, values: tensor([[0., 3.],\n        [1., 4.],\n        [2., 5.]]) }");
}

// ---------------------------------------------------------------------------------------
// Large tensors: the parallel paths are right at chunk boundaries, and bit-identical on any
// number of threads.

fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn large_sum_is_bit_identical_on_1_and_2_threads() {
    let n = 1013 * 4937; // several million, not a multiple of the chunk
    let t = Tensor::from_vec(noise(n, 11), &[n]);
    let one = in_pool(1, || t.sum().item());
    let two = in_pool(2, || t.sum().item());
    let default = t.sum().item();
    assert_eq!(one.to_bits(), two.to_bits());
    assert_eq!(one.to_bits(), default.to_bits());
    let exact: f64 = t.to_vec().iter().map(|&v| v as f64).sum();
    assert!(
        (one as f64 - exact).abs() < 1e-3 * (n as f64).sqrt(),
        "sum {one} vs {exact}"
    );
    // And through the other reductions that split work.
    let m = t.reshape(&[1013, 4937]);
    let run = || {
        (
            m.sum_dims(&[1], false).to_vec(),
            m.sum_dims(&[0], false).to_vec(),
            m.mean().item(),
            m.var_dims(&[0], 1, false).to_vec(),
            m.logsumexp_dims(&[1], false).to_vec(),
            m.t().sum_dims(&[0], true).to_vec(),
            m.max_dims(&[1], false).to_vec(),
        )
    };
    let (a, b) = (in_pool(1, run), in_pool(2, run));
    let bits = |v: &Vec<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.0), bits(&b.0));
    assert_eq!(bits(&a.1), bits(&b.1));
    assert_eq!(a.2.to_bits(), b.2.to_bits());
    assert_eq!(bits(&a.3), bits(&b.3));
    assert_eq!(bits(&a.4), bits(&b.4));
    assert_eq!(bits(&a.5), bits(&b.5));
    assert_eq!(a.6, b.6);
}

#[test]
fn large_matmul_is_bit_identical_on_any_number_of_threads() {
    // Split along the output; summed in two halves along k because both operands run along
    // it (`a @ w.t()`); and because k is long against the output (a conv weight gradient).
    // Each is above the parallel size (2^21 multiply-adds).
    let cases = [
        ([300, 200], [200, 250], false),
        ([96, 700], [80, 700], true),
    ];
    let long = ([24, 12001], [12001, 9], false);
    for (i, (sa, sb, transpose_b)) in cases.into_iter().chain([long]).enumerate() {
        let a = Tensor::from_vec(noise(sa[0] * sa[1], 2 * i as u64 + 1), &sa);
        let b = Tensor::from_vec(noise(sb[0] * sb[1], 2 * i as u64 + 2), &sb);
        let b = if transpose_b { b.t() } else { b };
        let outside_any_pool = a.matmul(&b).to_vec();
        // From 4 threads on, each half is split along its output too.
        for threads in [1, 2, 3, 4, 16] {
            let got = in_pool(threads, || a.matmul(&b).to_vec());
            assert!(
                got.iter()
                    .zip(&outside_any_pool)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "case {i} on {threads} threads"
            );
        }
    }
}

/// Large elementwise and reduction kernels against naive loops, on awkward sizes and
/// layouts, so every parallel chunk boundary is crossed.
#[test]
fn large_kernels_match_naive_loops() {
    // 155_617 elements: several times the parallel threshold (2^15 elements) and no
    // multiple of the chunk size (2^14), whatever power of two either is tuned to below 2^15.
    let (r, c) = (301, 517);
    assert!(r * c > 4 * (1 << 15) && (r * c) % 2 != 0);
    let x = Tensor::from_vec(noise(r * c, 5), &[r, c]);
    let xv = x.to_vec();
    let row = Tensor::from_vec(noise(c, 6), &[c]);
    let rv = row.to_vec();
    let col = Tensor::from_vec(noise(r, 7), &[r, 1]);
    let cv = col.to_vec();
    for threads in [1, 2] {
        in_pool(threads, || {
            // broadcast [r, c] + [c] and [r, c] * [r, 1]
            let s = (&x + &row).to_vec();
            let p = (&x * &col).to_vec();
            for i in 0..r {
                for j in 0..c {
                    assert_eq!(s[i * c + j], xv[i * c + j] + rv[j]);
                    assert_eq!(p[i * c + j], xv[i * c + j] * cv[i]);
                }
            }
            // transposed and flipped maps, and a strided zip
            let e = x.t().exp().to_vec();
            let f = x.flip(1).neg().to_vec();
            let g = x.t().sub(&x.flip(0).t()).to_vec();
            for j in 0..c {
                for i in 0..r {
                    assert_eq!(e[j * r + i], graft_tensor::Float::exp(xv[i * c + j]));
                    assert_eq!(g[j * r + i], xv[i * c + j] - xv[(r - 1 - i) * c + j]);
                }
            }
            for i in 0..r {
                for j in 0..c {
                    assert_eq!(f[i * c + j], -xv[i * c + c - 1 - j]);
                }
            }
            // dense views that start at an offset (the slice fast paths)
            let lo = x.narrow(0, 1, r - 1);
            let hi = x.narrow(0, 0, r - 1);
            let (sq, df) = (lo.square().to_vec(), (&lo - &hi).to_vec());
            for k in 0..(r - 1) * c {
                assert_eq!(sq[k], xv[k + c] * xv[k + c]);
                assert_eq!(df[k], xv[k + c] - xv[k]);
            }
            // where over three large broadcast operands
            let w = Tensor::where_cond(&x.gt_scalar(0.0), &x, &row).to_vec();
            for k in 0..r * c {
                assert_eq!(w[k], if xv[k] > 0.0 { xv[k] } else { rv[k % c] });
            }
            // row sums, column sums (the row-adding path), max and argmax along both axes
            let rs = x.sum_dims(&[1], false).to_vec();
            let cs = x.sum_dims(&[0], false).to_vec();
            let am = x.argmax_dim(0, false).to_vec();
            let mx = x.max_dims(&[1], true).to_vec();
            for i in 0..r {
                let want: f64 = (0..c).map(|j| xv[i * c + j] as f64).sum();
                assert!((rs[i] as f64 - want).abs() < 1e-4, "row {i}");
                let m = (0..c)
                    .map(|j| xv[i * c + j])
                    .fold(f32::NEG_INFINITY, f32::max);
                assert_eq!(mx[i], m);
            }
            for j in 0..c {
                let want: f64 = (0..r).map(|i| xv[i * c + j] as f64).sum();
                assert!((cs[j] as f64 - want).abs() < 1e-4, "col {j}");
                let mut best = 0;
                for i in 0..r {
                    if xv[i * c + j] > xv[best * c + j] {
                        best = i;
                    }
                }
                assert_eq!(am[j], best as i64);
            }
        });
    }
}

#[test]
fn scatter_add_into_zeros_equals_scatter_add_on_a_zero_tensor() {
    let index = Tensor::from_vec(vec![0i64, 2, 2, 1, 0, 0], &[2, 3]);
    let src = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2]).t();
    let expected = Tensor::<f64>::zeros(&[2, 4]).scatter_add(1, &index, &src);
    let direct = Tensor::try_scatter_add_zeros(&[2, 4], 1, &index, &src).unwrap();
    assert_eq!(direct.to_vec(), expected.to_vec());
    assert!(Tensor::try_scatter_add_zeros(&[2, 2], 1, &index, &src).is_err());
}

#[test]
fn row_scatter_into_zeros_matches_the_general_path_and_checks_indices() {
    // Contiguous src with the index along the last dim over every row: the parallel row
    // path (large enough to split), against scatter_add on a zero tensor (general path).
    let (rows, row, irow) = (300usize, 1000usize, 400usize);
    let index: Vec<i64> = (0..rows * irow)
        .map(|i| ((i * 7919) % row) as i64)
        .collect();
    let index = Tensor::from_vec(index, &[3, rows / 3, irow]);
    let src: Vec<f32> = (0..rows * irow).map(|i| (i % 13) as f32 - 6.0).collect();
    let src = Tensor::from_vec(src, &[3, rows / 3, irow]);
    let expected = Tensor::<f32>::zeros(&[3, rows / 3, row]).scatter_add(2, &index, &src);
    let direct = Tensor::try_scatter_add_zeros(&[3, rows / 3, row], -1, &index, &src).unwrap();
    assert_eq!(direct.to_vec(), expected.to_vec());
    for bad in [row as i64, -1] {
        let mut v = index.to_vec();
        v[rows * irow - 5] = bad;
        let bad_index = Tensor::from_vec(v, index.shape());
        let err = Tensor::try_scatter_add_zeros(&[3, rows / 3, row], -1, &bad_index, &src)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("scatter_add") && err.contains(&format!("index {bad}")),
            "{err}"
        );
    }
}

#[test]
fn sum_over_leading_and_trailing_axes_matches_a_naive_sum() {
    // [N, C, H, W] over [0, 2, 3] (a bias gradient), small and large enough to split, and a
    // [A, K1, K2, B] case with a two-axis kept block; keepdim both ways.
    for (shape, axes) in [
        (vec![3usize, 4, 2, 5], vec![0isize, 2, 3]),
        (vec![16, 40, 20, 21], vec![0, -2, -1]),
        (vec![2, 3, 4, 5], vec![0, 3]),
    ] {
        let n: usize = shape.iter().product();
        let x = Tensor::from_vec(
            (0..n).map(|i| ((i * 37) % 19) as f64 - 9.0).collect(),
            &shape,
        );
        let kept: Vec<usize> = (0..4)
            .filter(|d| !axes.iter().any(|&a| (a + 4) as usize % 4 == *d))
            .collect();
        let mut expected = vec![0.0f64; kept.iter().map(|&d| shape[d]).product()];
        for (i, v) in x.to_vec().into_iter().enumerate() {
            let (mut rem, mut idx) = (i, [0usize; 4]);
            for d in (0..4).rev() {
                idx[d] = rem % shape[d];
                rem /= shape[d];
            }
            let o = kept.iter().fold(0, |acc, &d| acc * shape[d] + idx[d]);
            expected[o] += v;
        }
        for keep in [false, true] {
            let got = x.sum_dims(&axes, keep);
            let want: Vec<usize> = (0..4)
                .filter_map(|d| match (kept.contains(&d), keep) {
                    (true, _) => Some(shape[d]),
                    (false, true) => Some(1),
                    (false, false) => None,
                })
                .collect();
            assert_eq!(got.shape(), want.as_slice());
            for (g, e) in got.to_vec().iter().zip(&expected) {
                assert!((g - e).abs() < 1e-9, "{shape:?} {axes:?}: {g} vs {e}");
            }
        }
    }
}

#[test]
fn sum_around_a_kept_block_has_the_bits_of_the_row_sum() {
    // The in-place path (contiguous input) against the copy-into-rows path (the same values
    // in a non-contiguous layout), in f32 with magnitudes that make the order show; runs
    // shorter than 8 spread the last elements over several images.
    for shape in [
        [9usize, 3, 1, 1],
        [13, 2, 1, 3],
        [64, 5, 11, 11],
        [7, 4, 26, 26],
    ] {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 1013) as f32 * 10f32.powi((i % 7) as i32 - 3))
            .collect();
        let x = Tensor::from_vec(v, &shape);
        let strided = x.permute(&[1, 0, 2, 3]).contiguous().permute(&[1, 0, 2, 3]);
        assert!(x.is_contiguous() && !strided.is_contiguous());
        let (a, b) = (
            x.sum_dims(&[0, 2, 3], false),
            strided.sum_dims(&[0, 2, 3], false),
        );
        assert_eq!(a.to_vec(), b.to_vec(), "{shape:?}");
    }
}

#[test]
fn a_large_index_select_on_two_threads_equals_the_row_by_row_copy() {
    // Large enough to split across the pool, with repeats and the last row; checked against a
    // plain loop on 1 and 2 threads. Rows of 7 (5 outer blocks, 3,000 picks), and rows of
    // 300 (1,200 bytes: long enough that rows are prefetched ahead of the copy).
    for (outer, n, inner, picks) in [(5usize, 1_000usize, 7usize, 3_000), (3, 200, 300, 700)] {
        let values = range(outer * n * inner);
        let x = Tensor::from_vec(values.clone(), &[outer, n, inner]);
        let picks: Vec<i64> = (0..picks).map(|k| (k * 37 % n) as i64).collect();
        let index = Tensor::from_vec(picks.clone(), &[picks.len()]);
        let mut expected = Vec::new();
        for o in 0..outer {
            for &i in &picks {
                let start = (o * n + i as usize) * inner;
                expected.extend_from_slice(&values[start..start + inner]);
            }
        }
        for threads in [1, 2] {
            let got = in_pool(threads, || x.index_select(1, &index));
            assert_eq!(got.shape(), &[outer, picks.len(), inner]);
            assert_eq!(got.to_vec(), expected, "{threads} threads, rows of {inner}");
        }
    }
}
