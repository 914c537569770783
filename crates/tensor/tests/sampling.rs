//! Sampling helpers checked against naive references and by frequencies over many seeded
//! draws: softmax/log_softmax, topk, one_hot, randint, multinomial, categorical sampling.

use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn softmax_matches_the_naive_formula_and_log_softmax_is_stable() {
    let x = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, -1.0, 0.0, 4.0], &[2, 3]);
    let naive: Vec<f64> = x
        .to_vec()
        .chunks(3)
        .flat_map(|r| {
            let s: f64 = r.iter().map(|v| v.exp()).sum();
            r.iter().map(move |v| v.exp() / s).collect::<Vec<_>>()
        })
        .collect();
    assert!(close(&x.softmax(1).to_vec(), &naive, 1e-12));
    // Along dim 0: each column sums to 1.
    let cols = x.softmax(0).to_vec();
    for j in 0..3 {
        assert!((cols[j] + cols[3 + j] - 1.0).abs() < 1e-12);
    }
    let big = Tensor::from_vec(vec![1000.0f32, 1001.0], &[2]);
    let ls = big.log_softmax(0).to_vec();
    // Finite, and right to the f32 spacing at 1000 (6e-5): no overflow of exp(1000).
    assert!(
        (ls[1] - (-(1.0f32 + (-1.0f32).exp()).ln())).abs() < 1.5e-4,
        "{ls:?}"
    );
    assert!(x.try_softmax(2).is_err());
}

#[test]
fn topk_returns_the_largest_first_with_their_indices() {
    let x = Tensor::from_vec(vec![3.0f32, 9.0, 1.0, 9.0, 5.0, 0.0], &[2, 3]);
    let (v, i) = x.try_topk(2, 1).unwrap();
    assert_eq!(v.to_vec(), vec![9.0, 3.0, 9.0, 5.0]);
    assert_eq!(i.to_vec(), vec![1, 0, 0, 1]);
    let (v, i) = x.try_topk(1, 0).unwrap();
    assert_eq!(v.shape(), &[1, 3]);
    assert_eq!(v.to_vec(), vec![9.0, 9.0, 1.0]);
    assert_eq!(i.to_vec(), vec![1, 0, 0]);
    let err = x.try_topk(4, 1).unwrap_err().to_string();
    assert!(err.starts_with("topk: k = 4"), "{err}");
}

#[test]
fn one_hot_and_randint() {
    let c = Tensor::from_vec(vec![2i64, 0], &[2]);
    let h = c.try_one_hot::<f32>(3).unwrap();
    assert_eq!(h.shape(), &[2, 3]);
    assert_eq!(h.to_vec(), vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    assert!(c.try_one_hot::<f32>(2).is_err());
    let mut rng = StdRng::seed_from_u64(0);
    let r = Tensor::try_randint(-2, 3, &[1000], &mut rng)
        .unwrap()
        .to_vec();
    assert!(r.iter().all(|&v| (-2..3).contains(&v)));
    for v in -2..3 {
        assert!(r.contains(&v), "{v} never drawn");
    }
    assert!(Tensor::try_randint(3, 3, &[1], &mut rng).is_err());
}

#[test]
fn multinomial_draws_in_proportion_to_the_weights() {
    let mut rng = StdRng::seed_from_u64(1);
    let w = Tensor::from_vec(vec![1.0f32, 2.0, 7.0, 0.0], &[4]);
    let n = 20_000;
    let d = w.try_multinomial(n, true, &mut rng).unwrap().to_vec();
    let freq = |k: i64| d.iter().filter(|&&v| v == k).count() as f64 / n as f64;
    assert!(close(
        &[freq(0), freq(1), freq(2), freq(3)],
        &[0.1, 0.2, 0.7, 0.0],
        0.015
    ));
    // Without replacement: distinct categories, every non-zero one when all are asked for.
    let rows = Tensor::from_vec(vec![1.0f64, 1.0, 1.0, 0.0, 5.0, 1.0], &[2, 3]);
    let d = rows.try_multinomial(2, false, &mut rng).unwrap();
    assert_eq!(d.shape(), &[2, 2]);
    let v = d.to_vec();
    assert_ne!(v[0], v[1]);
    let mut second = vec![v[2], v[3]];
    second.sort();
    assert_eq!(second, vec![1, 2]);
    for (bad, n, repl) in [
        (vec![1.0f64, 1.0, 1.0, 0.0, 5.0, 1.0], 3, false),
        (vec![1.0, -1.0, 1.0, 1.0, 1.0, 1.0], 1, true),
        (vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0], 1, true),
        (vec![1.0, f64::NAN, 1.0, 1.0, 1.0, 1.0], 1, true),
        (vec![1.0; 6], 0, true),
    ] {
        let t = Tensor::from_vec(bad, &[2, 3]);
        let err = t.try_multinomial(n, repl, &mut rng).unwrap_err();
        assert!(err.to_string().starts_with("multinomial: "), "{err}");
    }
}

#[test]
fn categorical_sampling_follows_the_tempered_softmax() {
    let mut rng = StdRng::seed_from_u64(2);
    let logits = Tensor::from_vec(vec![0.0f64, (3.0f64).ln()], &[1, 2]).expand(&[20_000, 2]);
    // At temperature 1 the odds are 1 : 3; at temperature 2 they are 1 : sqrt(3).
    for (t, p1) in [(1.0, 0.75), (2.0, 3f64.sqrt() / (1.0 + 3f64.sqrt()))] {
        let d = logits.try_sample_categorical(t, &mut rng).unwrap();
        assert_eq!(d.shape(), &[20_000]);
        let f = d.to_vec().iter().filter(|&&v| v == 1).count() as f64 / 20_000.0;
        assert!((f - p1).abs() < 0.015, "temperature {t}: {f} vs {p1}");
    }
    // A tiny temperature is the argmax.
    let row = Tensor::from_vec(vec![0.1f32, 0.3, 0.2], &[3]);
    assert_eq!(
        row.try_sample_categorical(1e-3, &mut rng).unwrap().to_vec(),
        vec![1]
    );
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(row.try_sample_categorical(bad, &mut rng).is_err());
    }
}
