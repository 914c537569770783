//! Unbatched inputs, as PyTorch accepts them: recurrent layers on `[T, I]` with states
//! `[D·L, H]`, multi-head attention on `[L, E]`. Each must equal the batched computation
//! with N = 1, minus the batch dim, in value and gradient; wrong shapes are errors naming
//! the op and the shapes.

use graft_autograd::Var;
use graft_nn::functional::AttnMask;
use graft_nn::{AttendOptions, Gru, Lstm, MultiheadAttention, Rnn, RnnConfig, RnnNonlinearity};
use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn rand_t(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::uniform(shape, -1.0, 1.0, &mut StdRng::seed_from_u64(seed))
}

fn same(a: &Var<f64>, b: &Var<f64>) {
    assert_eq!(a.shape(), b.shape());
    assert_eq!(a.value().to_vec(), b.value().to_vec());
}

/// Gradient of `sum(out · weights)` with respect to `x`.
fn grad_of(out: &Var<f64>, x: &Var<f64>) -> Vec<f64> {
    let w = Var::new(rand_t(out.shape(), 99));
    graft_autograd::grad(&[&(out * &w).sum()], &[x], None, false).unwrap()[0]
        .as_ref()
        .unwrap()
        .value()
        .to_vec()
}

#[test]
fn recurrent_layers_take_unbatched_input_as_a_batch_of_one() {
    for batch_first in [false, true] {
        let cfg = RnnConfig::new(3, 4)
            .num_layers(2)
            .bidirectional(true)
            .batch_first(batch_first);
        let bd = if batch_first { 0 } else { 1 };
        let x = Var::parameter(rand_t(&[5, 3], 1));
        let xb = x.unsqueeze(bd);
        let h0 = Var::parameter(rand_t(&[4, 4], 2));
        let c0 = Var::parameter(rand_t(&[4, 4], 3));
        let (h0b, c0b) = (h0.unsqueeze(1), c0.unsqueeze(1));

        let gru = Gru::<f64>::new(cfg, &mut StdRng::seed_from_u64(4));
        let (y, h) = gru.forward_with_state(&x, Some(&h0)).unwrap();
        let (yb, hb) = gru.forward_with_state(&xb, Some(&h0b)).unwrap();
        assert_eq!(y.shape(), [5, 8]);
        assert_eq!(h.shape(), [4, 4]);
        same(&y, &yb.squeeze_dim(bd));
        same(&h, &hb.squeeze_dim(1));
        assert_eq!(grad_of(&y, &x), grad_of(&yb.squeeze_dim(bd), &x));

        let lstm = Lstm::<f64>::new(cfg, &mut StdRng::seed_from_u64(5));
        let (y, (h, c)) = lstm.forward_with_state(&x, Some((&h0, &c0))).unwrap();
        let (yb, (hb, cb)) = lstm.forward_with_state(&xb, Some((&h0b, &c0b))).unwrap();
        same(&y, &yb.squeeze_dim(bd));
        same(&h, &hb.squeeze_dim(1));
        same(&c, &cb.squeeze_dim(1));
        assert_eq!(grad_of(&c, &c0), grad_of(&cb.squeeze_dim(1), &c0));

        let rnn = Rnn::<f64>::new(cfg, RnnNonlinearity::Tanh, &mut StdRng::seed_from_u64(6));
        let (y, _) = rnn.forward_with_state(&x, None).unwrap();
        let (yb, _) = rnn.forward_with_state(&xb, None).unwrap();
        same(&y, &yb.squeeze_dim(bd));
    }
}

#[test]
fn unbatched_recurrent_input_rejects_batched_states_naming_the_shapes() {
    let gru = Gru::<f64>::new(RnnConfig::new(3, 4), &mut StdRng::seed_from_u64(0));
    let x = Var::new(rand_t(&[5, 3], 1));
    let h0 = Var::new(rand_t(&[1, 1, 4], 2));
    let err = gru
        .forward_with_state(&x, Some(&h0))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("gru") && err.contains("[5, 3]") && err.contains("[1, 1, 4]"),
        "{err}"
    );
    // Wrong feature count on an unbatched input: the batched check names the weights.
    let err = gru
        .forward_with_state(&Var::new(rand_t(&[5, 7], 1)), None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("gru") && err.contains("[12, 3]"), "{err}");
}

#[test]
fn multi_head_attention_takes_unbatched_input_as_a_batch_of_one() {
    let mha = MultiheadAttention::<f64>::new(6, 2, true, &mut StdRng::seed_from_u64(7));
    let q = Var::parameter(rand_t(&[4, 6], 8));
    let kv = Var::parameter(rand_t(&[5, 6], 9));
    let kpm = Tensor::from_vec(vec![false, false, true, false, false], &[5]);
    let kpm_b = kpm.reshape(&[1, 5]);
    let mask = Tensor::from_vec((0..2 * 4 * 5).map(|i| i % 7 == 3).collect(), &[2, 4, 5]);
    for average in [true, false] {
        let opt = AttendOptions {
            key_padding_mask: Some(&kpm),
            attn_mask: Some(AttnMask::Block(&mask)),
            average_attn_weights: average,
            ..Default::default()
        };
        let opt_b = AttendOptions {
            key_padding_mask: Some(&kpm_b),
            ..opt
        };
        let (y, a) = mha.attend(&q, &kv, &kv, &opt).unwrap();
        let (yb, ab) = mha
            .attend(&q.unsqueeze(1), &kv.unsqueeze(1), &kv.unsqueeze(1), &opt_b)
            .unwrap();
        assert_eq!(y.shape(), [4, 6]);
        same(&y, &yb.squeeze_dim(1));
        let (a, ab) = (a.unwrap(), ab.unwrap());
        assert_eq!(a.shape(), if average { vec![4, 5] } else { vec![2, 4, 5] });
        same(&a, &ab.squeeze_dim(0));
        assert_eq!(grad_of(&y, &kv), grad_of(&yb.squeeze_dim(1), &kv));
    }
}

#[test]
fn unbatched_attention_errors_name_the_op_and_shapes() {
    let mha = MultiheadAttention::<f64>::new(6, 2, true, &mut StdRng::seed_from_u64(7));
    let q = Var::new(rand_t(&[4, 6], 8));
    let kv3 = Var::new(rand_t(&[5, 1, 6], 9));
    let err = mha
        .attend(&q, &kv3, &kv3, &AttendOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("multi_head_attention") && err.contains("[4, 6]") && err.contains("[5, 1, 6]"),
        "{err}"
    );
    let kv = Var::new(rand_t(&[5, 6], 9));
    let kpm = Tensor::from_vec(vec![false; 5], &[1, 5]);
    let opt = AttendOptions {
        key_padding_mask: Some(&kpm),
        ..Default::default()
    };
    let err = mha.attend(&q, &kv, &kv, &opt).err().unwrap().to_string();
    assert!(
        err.contains("key_padding_mask must be [S]") && err.contains("[1, 5]"),
        "{err}"
    );
}
