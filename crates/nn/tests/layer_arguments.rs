//! Layer arguments PyTorch rejects are errors here too, naming the layer and the value:
//! Embedding's `padding_idx` (negative counts from the end, out of range is an error) and
//! Dropout's `p` (outside [0, 1] or NaN is an error, not clamped).

use graft_autograd::Var;
use graft_nn::functional::{try_dropout, try_embedding};
use graft_nn::spec::layer_from_spec;
use graft_nn::{Dropout, Dropout2d, Embedding, Module};
use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}

#[test]
fn negative_padding_idx_counts_from_the_end() {
    let emb = Embedding::<f64>::new(5, 2, Some(-1), &mut rng());
    assert_eq!(
        emb.padding_idx,
        Some(4),
        "stored normalised, as PyTorch does"
    );
    let w = emb.weight.value().to_vec();
    assert_eq!(&w[8..10], &[0.0, 0.0], "the last row starts at zero");
    assert!(w[..8].iter().all(|&v| v != 0.0));
    let out = emb.lookup(&Tensor::from_vec(vec![4, 1, 4], &[3]));
    out.sum().backward().unwrap();
    let g = emb.weight.grad().unwrap().to_vec();
    assert_eq!(&g[8..10], &[0.0, 0.0], "the padding row gets no gradient");
    assert_eq!(&g[2..4], &[1.0, 1.0]);
    // -num is the first row.
    let first = Embedding::<f64>::new(5, 2, Some(-5), &mut rng());
    assert_eq!(first.padding_idx, Some(0));
}

#[test]
fn out_of_range_padding_idx_is_an_error_naming_layer_and_value() {
    for bad in [5, 6, -6, i64::MIN] {
        let e = Embedding::<f32>::try_new(5, 2, Some(bad), &mut rng())
            .err()
            .unwrap_or_else(|| panic!("padding_idx {bad} was accepted"));
        assert_eq!(e.op, "Embedding");
        assert!(e.message.contains(&format!("padding_idx {bad}")), "{e}");
        assert!(e.message.contains("num_embeddings 5"), "{e}");
    }
    let panic = std::panic::catch_unwind(|| Embedding::<f32>::new(5, 2, Some(-6), &mut rng()));
    let msg = panic.err().unwrap();
    let msg = msg.downcast_ref::<String>().unwrap();
    assert!(msg.contains("padding_idx -6"), "{msg}");
}

#[test]
fn functional_embedding_normalises_and_checks_padding_idx() {
    let weight = Var::parameter(Tensor::from_vec((0..6).map(f64::from).collect(), &[3, 2]));
    let idx = Tensor::from_vec(vec![2, 0], &[2]);
    let out = try_embedding(&idx, &weight, Some(-1)).unwrap();
    out.sum().backward().unwrap();
    assert_eq!(
        weight.grad().unwrap().to_vec(),
        [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    );
    let e = try_embedding(&idx, &weight, Some(3)).unwrap_err();
    assert_eq!(e.op, "embedding");
    assert!(e.message.contains("padding_idx 3"), "{e}");
}

#[test]
fn dropout_rejects_p_outside_unit_interval_and_nan() {
    for bad in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
        let e = Dropout::try_new(bad, 0)
            .err()
            .unwrap_or_else(|| panic!("Dropout p = {bad} was accepted"));
        assert_eq!(e.op, "Dropout");
        assert!(e.message.contains(&format!("but got {bad}")), "{e}");
        let e = Dropout2d::try_new(bad, 0)
            .err()
            .unwrap_or_else(|| panic!("Dropout2d p = {bad} was accepted"));
        assert_eq!(e.op, "Dropout2d");
        let x = Var::new(Tensor::<f64>::ones(&[4]));
        assert!(try_dropout(&x, bad, true, &mut rng()).is_err());
    }
    for ok in [0.0, 0.25, 1.0] {
        assert_eq!(Dropout::try_new(ok, 0).unwrap().p(), ok);
        assert_eq!(Dropout2d::try_new(ok, 0).unwrap().p(), ok);
    }
    let panic = std::panic::catch_unwind(|| Dropout::new(f64::NAN, 0));
    let msg = panic.err().unwrap();
    let msg = msg.downcast_ref::<String>().unwrap();
    assert!(msg.contains("between 0 and 1, but got NaN"), "{msg}");
    // p = 1 drops everything; p = 0 keeps everything.
    let x = Var::new(Tensor::<f64>::ones(&[8]));
    assert!(Dropout::new(1.0, 0)
        .forward(&x)
        .value()
        .to_vec()
        .iter()
        .all(|&v| v == 0.0));
    assert_eq!(
        Dropout::new(0.0, 0).forward(&x).value().to_vec(),
        vec![1.0; 8]
    );
}

#[test]
fn spec_reports_bad_dropout_and_padding_idx_at_the_argument() {
    let spec = "Dropout(p=-0.1)";
    let e = layer_from_spec::<f32, _>(spec, &mut rng())
        .err()
        .expect("rejected");
    assert!(e.message().starts_with("Dropout: "), "{e}");
    assert!(e.message().contains("but got -0.1"), "{e}");
    assert_eq!(e.offset(), spec.find("-0.1").unwrap(), "{e}");
    let e = layer_from_spec::<f32, _>("Dropout2d(1.5)", &mut rng())
        .err()
        .expect("rejected");
    assert!(e.message().contains("but got 1.5"), "{e}");
    let spec = "Embedding(4, 2, padding_idx=-5)";
    let e = layer_from_spec::<f32, _>(spec, &mut rng())
        .err()
        .expect("rejected");
    assert_eq!(e.offset(), spec.find("-5").unwrap(), "{e}");
    assert!(e.message().contains("padding_idx -5"), "{e}");
    assert!(layer_from_spec::<f32, _>("Embedding(4, 2, padding_idx=-4)", &mut rng()).is_ok());
}
