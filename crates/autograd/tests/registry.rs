//! The op registry: one entry per differentiable op, primitive or composed, each run
//! through gradcheck, gradgradcheck (where the op is smooth) and the non-contiguous-input
//! consistency check. Inputs are seeded random values inside each op's domain.

use graft_autograd::testing::{check_registry, OpEntry};
use graft_autograd::{GradcheckError, GradcheckOptions, Var};
use graft_tensor::{Tensor, Window2d};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn rand_in(shape: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor<f64> {
    Tensor::uniform(shape, lo, hi, &mut StdRng::seed_from_u64(seed))
}

/// Values in ±[0.2, 1.5]: away from the kink at 0 of relu, abs and friends.
fn away_from_zero(shape: &[usize], seed: u64) -> Tensor<f64> {
    rand_in(shape, 0.2, 1.5, seed).mul(&rand_in(shape, -1.0, 1.0, seed + 100).sign())
}

/// Distinct values, so max/min have no ties.
fn distinct(shape: &[usize], seed: u64) -> Tensor<f64> {
    graft_autograd::testing::distinct_values(shape, 0.37, seed)
}

fn idx(v: Vec<i64>, shape: &[usize]) -> Tensor<i64> {
    Tensor::from_vec(v, shape)
}

fn entries() -> Vec<OpEntry> {
    let r = |s: &[usize], seed| rand_in(s, -1.0, 1.0, seed);
    let pos = |s: &[usize], seed| rand_in(s, 0.5, 2.0, seed);
    let mask = Tensor::from_vec(vec![true, false, true, true, false, false], &[2, 3]);
    let mask2 = mask.clone();
    let win = Window2d::new([2, 2]).stride([1, 2]).padding([1, 0]);
    vec![
        // Primitives.
        OpEntry::new("neg", vec![r(&[2, 3], 1)], |v| v[0].neg()),
        OpEntry::new("exp", vec![r(&[2, 3], 2)], |v| v[0].exp()),
        OpEntry::new("log", vec![pos(&[2, 3], 3)], |v| v[0].log()),
        OpEntry::new("log1p", vec![pos(&[2, 3], 3)], |v| v[0].log1p()),
        OpEntry::new("sqrt", vec![pos(&[2, 3], 4)], |v| v[0].sqrt()),
        OpEntry::new("tanh", vec![r(&[2, 3], 5)], |v| v[0].tanh()),
        OpEntry::new("sigmoid", vec![r(&[2, 3], 6)], |v| v[0].sigmoid()),
        OpEntry::new("relu", vec![away_from_zero(&[2, 3], 7)], |v| v[0].relu()).first_order_only(),
        OpEntry::new("erf", vec![r(&[2, 3], 8)], |v| v[0].erf()),
        OpEntry::new("sin", vec![r(&[2, 3], 9)], |v| v[0].sin()),
        OpEntry::new("cos", vec![r(&[2, 3], 10)], |v| v[0].cos()),
        OpEntry::new("add_scalar", vec![r(&[3], 11)], |v| v[0].add_scalar(2.5)),
        OpEntry::new("mul_scalar", vec![r(&[3], 12)], |v| v[0].mul_scalar(-1.5)),
        OpEntry::new("pow_scalar", vec![pos(&[2, 3], 13)], |v| {
            v[0].pow_scalar(-1.5)
        }),
        OpEntry::new("add", vec![r(&[2, 1, 3], 14), r(&[4, 1], 15)], |v| {
            &v[0] + &v[1]
        }),
        OpEntry::new("sub", vec![r(&[2, 3], 16), r(&[3], 17)], |v| &v[0] - &v[1]),
        OpEntry::new("mul", vec![r(&[2, 3], 18), r(&[2, 1], 19)], |v| {
            &v[0] * &v[1]
        }),
        OpEntry::new("div", vec![r(&[2, 3], 20), pos(&[3], 21)], |v| {
            &v[0] / &v[1]
        }),
        OpEntry::new("where", vec![r(&[2, 3], 22), r(&[3], 23)], move |v| {
            Var::where_cond(&mask, &v[0], &v[1])
        }),
        OpEntry::new("sum_dims", vec![r(&[2, 3, 4], 24)], |v| {
            v[0].sum_dims(&[0, 2], false)
        }),
        OpEntry::new("max_dims", vec![distinct(&[3, 4], 25)], |v| {
            v[0].max_dims(&[1], true)
        }),
        OpEntry::new("reshape", vec![r(&[2, 6], 26)], |v| {
            v[0].reshape(&[3, 4]).square()
        }),
        OpEntry::new("permute", vec![r(&[2, 3, 4], 27)], |v| {
            v[0].permute(&[2, 0, 1]).square()
        }),
        OpEntry::new("expand", vec![r(&[3, 1], 28)], |v| {
            v[0].expand(&[2, 3, 4]).square()
        }),
        OpEntry::new("slice", vec![r(&[3, 7], 29)], |v| {
            v[0].slice(1, 1, 6, 2).square()
        }),
        OpEntry::new("pad", vec![r(&[2, 3], 30)], |v| {
            v[0].pad(&[(1, 2)], 0.5).square()
        }),
        OpEntry::new("concat", vec![r(&[2, 3], 31), r(&[2, 2], 32)], |v| {
            Var::concat(&[&v[0], &v[1]], 1).square()
        }),
        OpEntry::new("index_select", vec![r(&[4, 3], 33)], |v| {
            v[0].index_select(0, &idx(vec![3, 0, 3], &[3])).square()
        }),
        OpEntry::new("index_add", vec![r(&[4, 2], 34), r(&[3, 2], 35)], |v| {
            v[0].index_add(0, &idx(vec![1, 1, 3], &[3]), &v[1]).square()
        }),
        OpEntry::new("gather", vec![r(&[3, 4], 36)], |v| {
            v[0].gather(1, &idx(vec![0, 3, 3, 1, 2, 0], &[3, 2]))
                .square()
        }),
        OpEntry::new("scatter_add", vec![r(&[3, 4], 37), r(&[3, 2], 38)], |v| {
            v[0].scatter_add(1, &idx(vec![0, 3, 3, 3, 2, 0], &[3, 2]), &v[1])
                .square()
        }),
        OpEntry::new("matmul", vec![r(&[2, 3, 4], 39), r(&[4, 2], 40)], |v| {
            v[0].matmul(&v[1])
        }),
        OpEntry::new(
            "matmul_vectors",
            vec![r(&[4], 41), r(&[2, 4, 3], 42)],
            |v| v[0].matmul(&v[1]),
        ),
        OpEntry::new("unfold", vec![r(&[1, 2, 3, 4], 43)], move |v| {
            v[0].unfold(&win).square()
        }),
        OpEntry::new(
            "unfold_batch_inner",
            vec![r(&[2, 2, 3, 4], 143)],
            move |v| v[0].unfold_batch_inner(&win).square(),
        ),
        OpEntry::new("max_pool2d_2x2", vec![distinct(&[2, 2, 4, 6], 144)], |v| {
            v[0].max_pool2d(&Window2d::new([2, 2]).stride([2, 2]))
                .square()
        }),
        OpEntry::new(
            "max_pool2d_padded",
            vec![distinct(&[1, 2, 5, 5], 145)],
            |v| {
                let win = Window2d::new([3, 3]).stride([2, 2]).padding([1, 1]);
                v[0].max_pool2d(&win).square()
            },
        ),
        OpEntry::new("fold", vec![r(&[1, 8, 8], 44)], move |v| {
            v[0].fold([3, 4], &win).square()
        }),
        OpEntry::new(
            "conv2d",
            vec![r(&[2, 2, 4, 5], 146), r(&[3, 2, 2, 2], 147)],
            move |v| v[0].conv2d(&v[1], None, &win).square(),
        ),
        OpEntry::new(
            "conv2d_bias",
            vec![r(&[2, 2, 4, 5], 152), r(&[3, 2, 2, 2], 153), r(&[3], 154)],
            move |v| v[0].conv2d(&v[1], Some(&v[2]), &win).square(),
        ),
        OpEntry::new(
            "conv2d_input_grad",
            vec![r(&[2, 3, 5, 2], 148), r(&[3, 2, 2, 2], 149)],
            move |v| v[0].conv2d_input_grad(&v[1], &win, [4, 5]).square(),
        ),
        OpEntry::new(
            "conv2d_weight_grad",
            vec![r(&[2, 2, 4, 5], 150), r(&[2, 3, 5, 2], 151)],
            move |v| v[0].conv2d_weight_grad(&v[1], &win).square(),
        ),
        // Composed ops.
        OpEntry::new("mean", vec![r(&[2, 3], 45)], |v| v[0].mean_dims(&[1], true)),
        OpEntry::new("var", vec![r(&[3, 4], 46)], |v| {
            v[0].var_dims(&[0], 1, false)
        }),
        OpEntry::new("std", vec![r(&[3, 4], 47)], |v| {
            v[0].std_dims(&[1], 0, true)
        }),
        OpEntry::new("min", vec![distinct(&[3, 4], 48)], |v| {
            v[0].min_dims(&[0], false)
        }),
        OpEntry::new("logsumexp", vec![r(&[3, 4], 49)], |v| {
            v[0].logsumexp_dims(&[1], false)
        }),
        OpEntry::new("softmax", vec![r(&[3, 4], 50)], |v| v[0].softmax(-1)),
        OpEntry::new("log_softmax", vec![r(&[3, 4], 51)], |v| v[0].log_softmax(0)),
        OpEntry::new(
            "maximum",
            vec![distinct(&[2, 3], 52), r(&[2, 3], 53)],
            |v| v[0].maximum(&v[1]),
        )
        .first_order_only(),
        OpEntry::new(
            "minimum",
            vec![distinct(&[2, 3], 54), r(&[2, 3], 55)],
            |v| v[0].minimum(&v[1]),
        )
        .first_order_only(),
        OpEntry::new("clamp", vec![away_from_zero(&[2, 3], 56)], |v| {
            v[0].clamp(Some(-0.1), Some(0.1)).square()
        })
        .first_order_only(),
        OpEntry::new("abs", vec![away_from_zero(&[2, 3], 57)], |v| v[0].abs()).first_order_only(),
        OpEntry::new("leaky_relu", vec![away_from_zero(&[2, 3], 58)], |v| {
            v[0].leaky_relu(0.1)
        })
        .first_order_only(),
        OpEntry::new("gelu", vec![r(&[2, 3], 59)], |v| v[0].gelu(false)),
        OpEntry::new("gelu_tanh", vec![r(&[2, 3], 60)], |v| v[0].gelu(true)),
        OpEntry::new("softplus", vec![rand_in(&[2, 3], -3.0, 3.0, 61)], |v| {
            v[0].softplus(2.0, 4.0)
        }),
        OpEntry::new("masked_fill", vec![r(&[2, 3], 62)], move |v| {
            v[0].masked_fill(&mask2, 0.3).square()
        }),
        OpEntry::new("transpose", vec![r(&[2, 3, 4], 63)], |v| {
            v[0].transpose(0, 2).square()
        }),
        OpEntry::new("select", vec![r(&[2, 3], 64)], |v| {
            v[0].select(1, 2).square()
        }),
        OpEntry::new("narrow", vec![r(&[4, 3], 65)], |v| {
            v[0].narrow(0, 1, 2).square()
        }),
        OpEntry::new("stack", vec![r(&[2, 3], 66), r(&[2, 3], 67)], |v| {
            Var::stack(&[&v[0], &v[1]], 1).square()
        }),
        OpEntry::new("flatten", vec![r(&[2, 3, 2], 68)], |v| {
            v[0].flatten(1, 2).square()
        }),
        OpEntry::new("unsqueeze_squeeze", vec![r(&[2, 3], 69)], |v| {
            v[0].unsqueeze(1).squeeze_dim(1).square()
        }),
        OpEntry::new("rdiv_rsub", vec![pos(&[3], 70)], |v| {
            v[0].rdiv_scalar(2.0).rsub_scalar(1.0)
        }),
        // N = 2, H = 3: gx, gh [2, 9], h [2, 3], bias [9]. Inputs in ±2 so that both
        // sigmoids and the tanh are exercised away from their linear range.
        OpEntry::new(
            "gru_cell",
            vec![
                rand_in(&[2, 9], -2.0, 2.0, 71),
                rand_in(&[2, 9], -2.0, 2.0, 72),
                r(&[2, 3], 73),
                r(&[9], 74),
            ],
            |v| Var::try_gru_cell(&v[0], &v[1], &v[2], Some(&v[3])).unwrap(),
        ),
        OpEntry::new(
            "gru_cell_no_bias",
            vec![
                rand_in(&[2, 9], -2.0, 2.0, 75),
                rand_in(&[2, 9], -2.0, 2.0, 76),
                r(&[2, 3], 77),
            ],
            |v| Var::try_gru_cell(&v[0], &v[1], &v[2], None).unwrap(),
        ),
        // T = 3, N = 2, H = 2, both directions.
        OpEntry::new(
            "gru_sequence",
            vec![
                rand_in(&[3, 2, 6], -2.0, 2.0, 78),
                r(&[6, 2], 79),
                r(&[2, 2], 80),
                r(&[6], 81),
            ],
            |v| Var::try_gru_sequence(&v[0], &v[1], &v[2], Some(&v[3]), false).unwrap(),
        ),
        OpEntry::new(
            "gru_sequence_reverse_no_bias",
            vec![
                rand_in(&[3, 2, 6], -2.0, 2.0, 82),
                r(&[6, 2], 83),
                r(&[2, 2], 84),
            ],
            |v| Var::try_gru_sequence(&v[0], &v[1], &v[2], None, true).unwrap(),
        ),
    ]
}

#[test]
fn every_op_passes_gradcheck_gradgradcheck_and_layout_checks() {
    if let Err(report) = check_registry(&entries(), &GradcheckOptions::default()) {
        panic!("ops: {report}");
    }
}

#[test]
fn fast_mode_agrees_on_a_larger_input() {
    let x = rand_in(&[16, 24], -1.0, 1.0, 99);
    let w = rand_in(&[24, 8], -1.0, 1.0, 98);
    let options = GradcheckOptions {
        fast: true,
        ..Default::default()
    };
    graft_autograd::gradcheck(|v| v[0].matmul(&v[1]).tanh(), &[x, w], &options).unwrap();
}

#[test]
fn a_wrong_gradient_is_reported_with_input_element_and_values() {
    use graft_autograd::Op;
    use graft_tensor::TensorError;
    /// x² with a deliberately wrong gradient (x instead of 2x).
    struct BadSquare;
    impl Op<f64> for BadSquare {
        fn name(&self) -> &'static str {
            "bad_square"
        }
        fn forward(&self, x: &[Tensor<f64>]) -> Result<Tensor<f64>, TensorError> {
            Ok(x[0].square())
        }
        fn backward(&self, x: &[Var<f64>], _: &Var<f64>, g: &Var<f64>) -> Vec<Option<Var<f64>>> {
            vec![Some(g * &x[0])]
        }
    }
    let x = Tensor::from_vec(vec![1.0, -2.0, 3.0], &[3]);
    let err = graft_autograd::gradcheck(
        |v| Var::apply(BadSquare, &[&v[0]]),
        std::slice::from_ref(&x),
        &Default::default(),
    )
    .unwrap_err();
    let GradcheckError::Mismatch(m) = &err else {
        panic!("expected a mismatch, got {err}");
    };
    assert_eq!(m.input, 0);
    assert_eq!(m.element, vec![2], "worst element is the largest |x|");
    assert!(
        (m.analytic - 3.0).abs() < 1e-9 && (m.numeric - 6.0).abs() < 1e-4,
        "{err}"
    );
    assert!(err.to_string().contains("input 0 element [2]"), "{err}");
    let fast = GradcheckOptions {
        fast: true,
        ..Default::default()
    };
    assert!(graft_autograd::gradcheck(|v| Var::apply(BadSquare, &[&v[0]]), &[x], &fast).is_err());
}

/// A gradient rule that fails (here: a gradient of the wrong shape) is reported as the
/// backward error it is, by gradcheck and gradgradcheck alike, never as a zero gradient.
#[test]
fn gradcheck_reports_a_failing_backward_as_an_error() {
    use graft_autograd::Op;
    use graft_tensor::TensorError;
    struct WrongShapeGrad;
    impl Op<f64> for WrongShapeGrad {
        fn name(&self) -> &'static str {
            "wrong_shape_grad"
        }
        fn forward(&self, x: &[Tensor<f64>]) -> Result<Tensor<f64>, TensorError> {
            Ok(x[0].square())
        }
        fn backward(&self, _: &[Var<f64>], _: &Var<f64>, g: &Var<f64>) -> Vec<Option<Var<f64>>> {
            vec![Some(g.narrow(0, 0, 2))]
        }
    }
    let x = Tensor::from_vec(vec![1.0, -2.0, 3.0], &[3]);
    let f = |v: &[Var<f64>]| Var::apply(WrongShapeGrad, &[&v[0]]);
    for fast in [false, true] {
        let options = GradcheckOptions {
            fast,
            ..Default::default()
        };
        let err = graft_autograd::gradcheck(f, std::slice::from_ref(&x), &options).unwrap_err();
        assert!(matches!(err, GradcheckError::Backward(_)), "{err}");
        assert!(
            err.to_string().starts_with("gradcheck: backward failed: "),
            "{err}"
        );
    }
    let err = graft_autograd::gradgradcheck(f, &[x], &Default::default()).unwrap_err();
    assert!(matches!(err, GradcheckError::Backward(_)), "{err}");
}
