//! Tests of the spec parser and builders.

use super::*;
use graft_autograd::Var;
use graft_tensor::Tensor;
use rand::SeedableRng;

fn build(spec: &str) -> Result<Sequential<f64>, SpecError> {
    Sequential::from_spec(spec, &mut rand::rngs::StdRng::seed_from_u64(0))
}

fn state(m: &Sequential<f64>) -> Vec<(String, Vec<usize>)> {
    m.named_state()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec()))
        .collect()
}

fn out_shape(m: &Sequential<f64>, input: &[usize]) -> Vec<usize> {
    m.eval();
    m.forward(&Var::new(Tensor::ones(input))).shape().to_vec()
}

fn err(spec: &str) -> SpecError {
    match build(spec) {
        Ok(_) => panic!("{spec:?} should not build"),
        Err(e) => e,
    }
}

#[test]
fn fixture_architectures() {
    let mlp = build("Sequential(Linear(784,128), ReLU, Linear(128,10))").unwrap();
    assert_eq!(
        state(&mlp),
        [
            ("0.weight".to_string(), vec![128, 784]),
            ("0.bias".to_string(), vec![128]),
            ("2.weight".to_string(), vec![10, 128]),
            ("2.bias".to_string(), vec![10])
        ]
    );
    assert_eq!(out_shape(&mlp, &[2, 784]), [2, 10]);
    let cnn = build("Sequential(Conv2d(1,8,3), ReLU, MaxPool2d(2), Conv2d(8,16,3), ReLU, MaxPool2d(2), Flatten, Linear(400,10))").unwrap();
    let names: Vec<String> = state(&cnn).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias"]
    );
    assert_eq!(out_shape(&cnn, &[2, 1, 28, 28]), [2, 10]);
}

#[test]
fn pytorch_printed_form() {
    let spec = "Sequential(
  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (2): ReLU(inplace=True)
  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (4): Conv2d(8, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), groups=2, bias=False)
  (5): AvgPool2d(kernel_size=2, stride=2, padding=0)
  (6): AdaptiveAvgPool2d(output_size=(1, 1))
  (7): Flatten(start_dim=1, end_dim=-1)
  (8): Dropout(p=0.5, inplace=False)
  (9): Linear(in_features=16, out_features=12, bias=True)
  (10): LayerNorm((12,), eps=1e-05, elementwise_affine=True)
  (11): GELU(approximate='tanh')
  (12): LeakyReLU(negative_slope=0.2)
  (13): Softplus(beta=1.0, threshold=20.0)
  (14): Sequential(
(0): Linear(in_features=12, out_features=6, bias=False)
(1): BatchNorm1d(6, eps=0.001, momentum=0.01, affine=True, track_running_stats=True)
(2): Tanh()
(3): Sigmoid()
(4): Identity()
  )
  (15): LogSoftmax(dim=1)
)";
    let m = build(spec).unwrap();
    let st = state(&m);
    let get = |n: &str| st.iter().find(|(k, _)| k == n).map(|(_, s)| s.clone());
    assert_eq!(get("0.weight"), Some(vec![8, 3, 3, 3]));
    assert_eq!(get("1.running_var"), Some(vec![8]));
    assert_eq!(get("1.num_batches_tracked"), Some(vec![]));
    assert_eq!(get("4.weight"), Some(vec![16, 4, 3, 3]));
    assert_eq!(get("4.bias"), None);
    assert_eq!(get("10.weight"), Some(vec![12]));
    assert_eq!(get("14.0.weight"), Some(vec![6, 12]));
    assert_eq!(get("14.0.bias"), None);
    assert_eq!(get("14.1.running_mean"), Some(vec![6]));
    assert_eq!(st.len(), 2 + 5 + 1 + 2 + 2 + 1 + 5);
    assert_eq!(out_shape(&m, &[2, 3, 16, 16]), [2, 6]);
    // Padded 3x3 keeps 16x16, pool 8x8, stride-2 conv 4x4, pool 2x2, global pool 1x1.
    let mid = build(
        &spec
            .replace(
                "(6): AdaptiveAvgPool2d(output_size=(1, 1))",
                "(6): Identity()",
            )
            .replace("(9): Linear(in_features=16", "(9): Linear(in_features=64"),
    )
    .unwrap();
    assert_eq!(out_shape(&mid, &[2, 3, 16, 16]), [2, 6]);
}

#[test]
fn short_forms_and_defaults() {
    let m = build(
        "nn.Sequential(nn.Linear(4, 6, bias=False), ReLU(), LeakyReLU(0.1), torch.nn.Dropout(0.25), \
         Linear(6, 5), Softmax(dim=-1))",
    )
    .unwrap();
    assert_eq!(
        state(&m),
        [
            ("0.weight".to_string(), vec![6, 4]),
            ("4.weight".to_string(), vec![5, 6]),
            ("4.bias".to_string(), vec![5])
        ]
    );
    let y = m.forward(&Var::new(Tensor::ones(&[3, 4])));
    let sums: Vec<f64> = y.value().sum_dims(&[1], false).to_vec();
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-12));
    let conv = build("Sequential(Conv2d(2, 4, 5, padding='same'), Conv2d(4, 4, (3, 1), stride=(2, 1), dilation=1, padding='valid'))").unwrap();
    assert_eq!(out_shape(&conv, &[1, 2, 9, 9]), [1, 4, 4, 9]);
    let ln = build("Sequential(LayerNorm([3, 4]))");
    assert!(ln.is_err(), "lists are not Python tuples");
    let ln = build("Sequential(LayerNorm((3, 4)), Embedding(10, 3, padding_idx=-1))").unwrap();
    assert_eq!(state(&ln)[0].1, [3, 4]);
    assert_eq!(state(&ln)[2], ("1.weight".to_string(), vec![10, 3]));
}

#[test]
fn errors_say_what_and_where() {
    let e = err("Sequential(Linear(784,128), Relu, Linear(128,10))");
    assert_eq!((e.line(), e.column(), e.offset()), (1, 29, 28));
    assert!(
        e.message()
            .starts_with("unknown layer `Relu`; known layers: Sequential, Linear"),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("model spec, line 1 column 29: unknown layer `Relu`"),
        "{e}"
    );

    let e = err("Sequential(\n  (0): Linear(784)\n)");
    assert_eq!((e.line(), e.column()), (2, 8));
    assert!(
        e.message()
            .contains("Linear is missing its argument `out_features`"),
        "{e}"
    );

    for (spec, column, text) in [
        (
            "Sequential(Linear(784, 128, 5))",
            29,
            "`bias` must be True or False",
        ),
        (
            "Sequential(Linear(1, 2, True, 4))",
            31,
            "too many arguments to Linear; it takes (in_features, out_features, bias)",
        ),
        (
            "Sequential(Linear(1, 2, biass=False))",
            25,
            "Linear has no argument `biass`",
        ),
        (
            "Sequential(Linear(in_features=1, 2))",
            34,
            "positional argument after a keyword argument",
        ),
        (
            "Sequential(Linear(1, out_features=2, out_features=3))",
            38,
            "got argument `out_features` twice",
        ),
        (
            "Sequential(Conv2d(3, 8, 3, groups=2))",
            35,
            "groups=2 must be positive and divide in_channels=3",
        ),
        (
            "Sequential(Conv2d(3, 8, (3, 3, 3)))",
            25,
            "`kernel_size` must be an integer or a pair like (3, 3)",
        ),
        (
            "Sequential(Conv2d(3, 8, 0))",
            25,
            "`kernel_size` must be positive",
        ),
        (
            "Sequential(Conv2d(3, 8, 4, padding='same'))",
            36,
            "pads unevenly",
        ),
        (
            "Sequential(Conv2d(3, 8, 3, padding_mode='reflect'))",
            41,
            "padding_mode='reflect' is not supported",
        ),
        (
            "Sequential(MaxPool2d(2, ceil_mode=True))",
            35,
            "ceil_mode=True is not supported",
        ),
        (
            "Sequential(MaxPool2d(2, padding=2))",
            33,
            "must be at most half of kernel_size",
        ),
        ("Sequential(Dropout(1.5))", 20, "between 0 and 1"),
        ("Sequential(Softmax)", 12, "Softmax needs an explicit dim"),
        (
            "Sequential(Softmax(dim=None))",
            12,
            "Softmax needs an explicit dim",
        ),
        (
            "Sequential(BatchNorm2d(4, affine=False))",
            34,
            "affine=False is not supported",
        ),
        (
            "Sequential(BatchNorm1d(4, momentum=None))",
            36,
            "momentum=None",
        ),
        (
            "Sequential(GELU(approximate='fast'))",
            29,
            "approximate='fast'",
        ),
        (
            "Sequential((0): ReLU(), (2): ReLU())",
            26,
            "child (2) is at position 1",
        ),
        (
            "Sequential((fc1): Linear(2, 2))",
            13,
            "named children are not supported",
        ),
        (
            "Sequential(ReLU, 3)",
            18,
            "expected a layer inside Sequential",
        ),
        (
            "Sequential(Linear(1, 2)",
            24,
            "expected `,` or `)` after an argument, found the end of the spec",
        ),
        (
            "Sequential(Linear(1, 2))) ",
            25,
            "unexpected `) ` after the model",
        ),
        (
            "Sequential(Linear(1 2))",
            21,
            "expected `,` or `)` after an argument, found `2`",
        ),
        ("Sequential(Linear(1, 2e))", 22, "`2e` is not a number"),
        (
            "Sequential(GELU(approximate='tanh))",
            29,
            "unterminated string",
        ),
        (
            "Linear(1, 2)",
            1,
            "expected `Sequential(...)` at the top level",
        ),
        ("   ", 4, "empty model spec"),
        (
            "Sequential(Linear(1, 2, bias=False) = 3)",
            37,
            "`=` must follow an argument name",
        ),
    ] {
        let e = err(spec);
        assert!(e.message().contains(text), "{spec:?}: {e}");
        assert_eq!(e.column(), column, "{spec:?}: {e}");
    }
}

#[test]
fn single_layers() {
    let l = layer_from_spec::<f32, _>("Linear(3, 2)", &mut rand::rngs::StdRng::seed_from_u64(0))
        .unwrap();
    assert_eq!(l.num_parameters(), 8);
    assert!(
        layer_from_spec::<f32, _>("(1, 2)", &mut rand::rngs::StdRng::seed_from_u64(0)).is_err()
    );
}

#[test]
fn conv_and_channel_layers() {
    let spec = "Sequential(
  (0): Conv1d(4, 6, kernel_size=(3,), stride=(2,), padding=(1,), groups=2)
  (1): GroupNorm(3, 6, eps=1e-05, affine=True)
  (2): Dropout2d(p=0.1, inplace=False)
)";
    let m = build(spec).unwrap();
    assert_eq!(
        state(&m),
        [
            ("0.weight".to_string(), vec![6, 2, 3]),
            ("0.bias".to_string(), vec![6]),
            ("1.weight".to_string(), vec![6]),
            ("1.bias".to_string(), vec![6]),
        ]
    );
    assert_eq!(out_shape(&m, &[2, 4, 9]), [2, 6, 5]);
    let m = build(
        "Sequential(Conv1d(2, 3, 5, padding='same', dilation=2, bias=False), GroupNorm(1, 3, affine=False))",
    )
    .unwrap();
    assert_eq!(state(&m), [("0.weight".to_string(), vec![3, 2, 5])]);
    assert_eq!(out_shape(&m, &[1, 2, 7]), [1, 3, 7]);

    let decoder = "Sequential(
  (0): ConvTranspose2d(8, 4, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), output_padding=(1, 1))
  (1): ReLU()
  (2): Upsample(scale_factor=2.0, mode='nearest')
  (3): ConvTranspose2d(4, 2, kernel_size=(2, 2), stride=(1, 1), groups=2, bias=False, dilation=(2, 2))
)";
    let m = build(decoder).unwrap();
    assert_eq!(
        state(&m),
        [
            ("0.weight".to_string(), vec![8, 4, 3, 3]),
            ("0.bias".to_string(), vec![4]),
            ("3.weight".to_string(), vec![4, 1, 2, 2]),
        ]
    );
    // 3x3 -> (3-1)*2 - 2 + 2 + 1 + 1 = 6 -> upsampled 12 -> 12 - 1 + 2 + 1 = 14.
    assert_eq!(out_shape(&m, &[1, 8, 3, 3]), [1, 2, 14, 14]);
    assert_eq!(
        out_shape(
            &build("Sequential(Upsample(scale_factor=3))").unwrap(),
            &[1, 1, 2, 2]
        ),
        [1, 1, 6, 6]
    );
}

#[test]
fn conv_and_channel_layer_errors() {
    for (spec, column, text) in [
        (
            "Sequential(Conv1d(3, 8, (3, 3)))",
            25,
            "`kernel_size` must be an integer or a 1-tuple like (3,)",
        ),
        (
            "Sequential(Conv1d(3, 8, 4, padding='same'))",
            36,
            "graft's Conv1d does not support",
        ),
        (
            "Sequential(ConvTranspose2d(3, 8, 3, stride=2, output_padding=2))",
            62,
            "output_padding [2, 2] must be smaller than either stride [2, 2] or dilation [1, 1]",
        ),
        (
            "Sequential(ConvTranspose2d(3, 8, 3, groups=2))",
            44,
            "groups=2 must be positive and divide in_channels=3",
        ),
        (
            "Sequential(GroupNorm(4, 6))",
            22,
            "num_groups=4 must be positive and divide num_channels=6",
        ),
        (
            "Sequential(Upsample(scale_factor=1.5))",
            34,
            "`scale_factor` must be a positive whole number",
        ),
        (
            "Sequential(Upsample(scale_factor=2, mode='bilinear'))",
            42,
            "mode='bilinear' is not supported",
        ),
        (
            "Sequential(Upsample(size=(4, 4)))",
            26,
            "size= is not supported",
        ),
        (
            "Sequential(Upsample())",
            12,
            "Upsample is missing its argument `scale_factor`",
        ),
        ("Sequential(Dropout2d(2))", 22, "between 0 and 1"),
    ] {
        let e = err(spec);
        assert!(e.message().contains(text), "{spec:?}: {e}");
        assert_eq!(e.column(), column, "{spec:?}: {e}");
    }
}

#[test]
fn every_known_layer_is_in_the_table_once() {
    let names = known_layers();
    for name in [
        "Conv1d",
        "ConvTranspose2d",
        "GroupNorm",
        "Upsample",
        "Dropout2d",
        "Linear",
    ] {
        assert_eq!(names.iter().filter(|n| **n == name).count(), 1, "{name}");
    }
    let e = err("Sequential(Conv3d(1, 1, 1))");
    assert!(e.message().contains(&names.join(", ")), "{e}");
}

#[test]
fn pytorch_named_state_dict_loads_into_a_spec_model() {
    // The names and shapes a PyTorch `nn.Sequential` of these layers has in its state dict.
    let m = build("Sequential(Conv1d(2, 4, 3), GroupNorm(2, 4), ReLU(), Flatten(), Linear(20, 3))")
        .unwrap();
    let torch: Vec<(String, Tensor<f64>)> = [
        ("0.weight", vec![4, 2, 3]),
        ("0.bias", vec![4]),
        ("1.weight", vec![4]),
        ("1.bias", vec![4]),
        ("4.weight", vec![3, 20]),
        ("4.bias", vec![3]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), Tensor::full(&s, 0.25)))
    .collect();
    crate::state::load_state_dict_tensors(&m, torch).unwrap();
    assert!(m
        .parameters()
        .iter()
        .all(|p| p.value().to_vec().iter().all(|&v| v == 0.25)));
}
