//! Conv1d, ConvTranspose2d, GroupNorm, Upsample, Dropout2d, Residual and BasicBlock against
//! their documented semantics on shapes and options the PyTorch fixtures do not cover:
//! naive loops written here, identities with other layers, and adjoint relations.

use graft_autograd::Var;
use graft_nn::functional::*;
use graft_nn::{BasicBlock, Linear, Module, Residual, Sequential, Tanh};
use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn rand(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::uniform(shape, -1.0, 1.0, &mut StdRng::seed_from_u64(seed))
}

fn assert_close(what: &str, a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-12 + 1e-10 * y.abs(),
            "{what}: element {i}: {x} vs {y}"
        );
    }
}

/// conv_transpose2d by its definition: every input pixel scatters `x · w` into the output
/// at `i·stride + k·dilation - padding`, within each group.
fn naive_conv_transpose2d(
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    b: &Tensor<f64>,
    o: &ConvTranspose2dOptions,
) -> (Vec<f64>, Vec<usize>) {
    let (xs, ws) = (x.shape().to_vec(), w.shape().to_vec());
    let (xv, wv, bv) = (x.to_vec(), w.to_vec(), b.to_vec());
    let [n, cin, h, wd] = [xs[0], xs[1], xs[2], xs[3]];
    let [cog, kh, kw] = [ws[1], ws[2], ws[3]];
    let (g, cig) = (o.groups, cin / o.groups);
    let cout = cog * g;
    let size = |d: usize, len: usize, k: usize| {
        (len - 1) * o.stride[d] + o.dilation[d] * (k - 1) + o.output_padding[d] + 1
            - 2 * o.padding[d]
    };
    let (oh, ow) = (size(0, h, kh), size(1, wd, kw));
    let mut out = vec![0.0; n * cout * oh * ow];
    for bn in 0..n {
        for co in 0..cout {
            for p in 0..oh * ow {
                out[(bn * cout + co) * oh * ow + p] = bv[co];
            }
        }
        for ci in 0..cin {
            for i in 0..h {
                for j in 0..wd {
                    let xval = xv[((bn * cin + ci) * h + i) * wd + j];
                    for c in 0..cog {
                        let co = (ci / cig) * cog + c;
                        for ki in 0..kh {
                            for kj in 0..kw {
                                let y = (i * o.stride[0] + ki * o.dilation[0]) as isize
                                    - o.padding[0] as isize;
                                let z = (j * o.stride[1] + kj * o.dilation[1]) as isize
                                    - o.padding[1] as isize;
                                if y < 0 || z < 0 || y >= oh as isize || z >= ow as isize {
                                    continue;
                                }
                                let wval = wv[((ci * cog + c) * kh + ki) * kw + kj];
                                out[((bn * cout + co) * oh + y as usize) * ow + z as usize] +=
                                    xval * wval;
                            }
                        }
                    }
                }
            }
        }
    }
    (out, vec![n, cout, oh, ow])
}

type Case = ([usize; 4], [usize; 4], ConvTranspose2dOptions);

fn transpose_cases() -> Vec<Case> {
    let opt = |stride, padding, output_padding, dilation, groups| ConvTranspose2dOptions {
        stride,
        padding,
        output_padding,
        dilation,
        groups,
    };
    vec![
        // x shape, weight shape [C_in, C_out/groups, kh, kw], options
        (
            [2, 4, 3, 4],
            [4, 3, 3, 2],
            opt([2, 3], [1, 0], [1, 2], [1, 1], 2),
        ),
        (
            [1, 3, 4, 5],
            [3, 1, 2, 2],
            opt([3, 1], [2, 0], [0, 0], [2, 1], 3),
        ),
        (
            [2, 2, 3, 3],
            [2, 2, 3, 3],
            opt([2, 2], [0, 1], [1, 0], [2, 3], 1),
        ),
        (
            [1, 1, 3, 2],
            [1, 2, 1, 1],
            opt([2, 2], [0, 0], [1, 1], [1, 1], 1),
        ),
        // output_padding >= stride is allowed when smaller than the dilation.
        (
            [1, 2, 3, 3],
            [2, 2, 3, 2],
            opt([1, 1], [1, 0], [1, 1], [2, 2], 1),
        ),
        (
            [2, 6, 2, 3],
            [6, 2, 2, 3],
            opt([2, 1], [1, 1], [1, 1], [3, 2], 3),
        ),
    ]
}

#[test]
fn conv_transpose2d_is_the_scatter_definition() {
    for (i, (xs, ws, o)) in transpose_cases().into_iter().enumerate() {
        let x = rand(&xs, 10 + i as u64);
        let w = rand(&ws, 20 + i as u64);
        let b = rand(&[ws[1] * o.groups], 30 + i as u64);
        let y = conv_transpose2d(
            &Var::new(x.clone()),
            &Var::new(w.clone()),
            Some(&Var::new(b.clone())),
            &o,
        );
        let (expected, shape) = naive_conv_transpose2d(&x, &w, &b, &o);
        assert_eq!(y.shape(), shape.as_slice(), "case {i}: {o:?}");
        assert_close(&format!("case {i}"), &y.value().to_vec(), &expected);
    }
}

#[test]
fn conv_transpose2d_is_the_adjoint_of_conv2d() {
    // <conv_transpose2d(x, w), z> = <x, conv2d(z, w)> with the same stride, padding,
    // dilation and groups (when output_padding < stride, so conv2d maps back to x's size).
    for (i, (xs, ws, o)) in transpose_cases().into_iter().enumerate() {
        if (0..2).any(|d| o.output_padding[d] >= o.stride[d]) {
            continue;
        }
        let x = Var::new(rand(&xs, 40 + i as u64));
        let w = Var::new(rand(&ws, 50 + i as u64));
        let y = conv_transpose2d(&x, &w, None, &o);
        let z = Var::new(rand(y.shape(), 60 + i as u64));
        let c = Conv2dOptions {
            stride: o.stride,
            padding: o.padding,
            dilation: o.dilation,
            groups: o.groups,
        };
        let back = conv2d(&z, &w, None, &c);
        assert_eq!(back.shape(), x.shape(), "case {i}");
        let lhs = (&y * &z).sum().item();
        let rhs = (&x * &back).sum().item();
        assert!(
            (lhs - rhs).abs() < 1e-10 * lhs.abs().max(1.0),
            "case {i}: {lhs} vs {rhs}"
        );
    }
}

#[test]
fn conv_transpose2d_rejects_bad_input_with_the_shapes() {
    let x = Var::new(rand(&[1, 2, 3, 3], 1));
    let w = Var::new(rand(&[2, 2, 3, 3], 2));
    let too_much = ConvTranspose2dOptions {
        stride: [2, 2],
        output_padding: [2, 0],
        ..Default::default()
    };
    let e = try_conv_transpose2d(&x, &w, None, &too_much)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("conv_transpose2d: input [1, 2, 3, 3], weight [2, 2, 3, 3]"),
        "{e}"
    );
    assert!(e.contains("output_padding"), "{e}");
    let wrong = Var::new(rand(&[3, 2, 3, 3], 3));
    let e = try_conv_transpose2d(&x, &wrong, None, &Default::default()).unwrap_err();
    assert!(e.to_string().contains("C_in"), "{e}");
    let b = Var::new(rand(&[3], 4));
    assert!(try_conv_transpose2d(&x, &w, Some(&b), &Default::default()).is_err());
}

#[test]
fn conv1d_is_conv2d_over_a_height_one_image() {
    for (i, (c, o, k, opt)) in [
        (3, 5, 3, Conv1dOptions::default()),
        (
            4,
            6,
            3,
            Conv1dOptions {
                stride: 2,
                padding: 1,
                dilation: 2,
                groups: 2,
            },
        ),
        (
            4,
            4,
            2,
            Conv1dOptions {
                stride: 3,
                padding: 2,
                dilation: 1,
                groups: 4,
            },
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let x = Var::new(rand(&[2, c, 11], 70 + i as u64));
        let w = Var::new(rand(&[o, c / opt.groups, k], 80 + i as u64));
        let b = Var::new(rand(&[o], 90 + i as u64));
        let y = conv1d(&x, &w, Some(&b), &opt);
        let c2 = Conv2dOptions {
            stride: [1, opt.stride],
            padding: [0, opt.padding],
            dilation: [1, opt.dilation],
            groups: opt.groups,
        };
        let y2 = conv2d(
            &x.reshape(&[2, c, 1, 11]),
            &w.reshape(&[o, c / opt.groups, 1, k]),
            Some(&b),
            &c2,
        );
        assert_eq!(y.shape(), [2, o, y2.shape()[3]]);
        assert_eq!(y.value().to_vec(), y2.value().to_vec(), "case {i}");
    }
    let e = try_conv1d(
        &Var::new(rand(&[1, 2, 3, 3], 1)),
        &Var::new(rand(&[2, 2, 3], 2)),
        None,
        &Default::default(),
    );
    assert!(e
        .unwrap_err()
        .to_string()
        .starts_with("conv1d: input [1, 2, 3, 3], weight [2, 2, 3]"));
}

#[test]
fn group_norm_with_one_group_is_layer_norm_over_channels_and_space() {
    let x = Var::new(rand(&[3, 4, 2, 5], 100));
    let (w, b) = (Var::new(rand(&[4], 101)), Var::new(rand(&[4], 102)));
    let y = group_norm(&x, 1, Some(&w), Some(&b), 1e-5);
    let ln = try_layer_norm(&x, &[4, 2, 5], None, None, 1e-5).unwrap();
    let expected = &(&ln * &w.reshape(&[1, 4, 1, 1])) + &b.reshape(&[1, 4, 1, 1]);
    assert_close("1 group", &y.value().to_vec(), &expected.value().to_vec());
}

#[test]
fn group_norm_with_one_channel_per_group_is_instance_norm() {
    let (n, c, l) = (2, 3, 7);
    let x = rand(&[n, c, l], 103);
    let y = group_norm(&Var::new(x.clone()), c, None, None, 1e-3)
        .value()
        .to_vec();
    let xv = x.to_vec();
    for row in 0..n * c {
        let v = &xv[row * l..(row + 1) * l];
        let mean = v.iter().sum::<f64>() / l as f64;
        let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / l as f64;
        let expected: Vec<f64> = v.iter().map(|a| (a - mean) / (var + 1e-3).sqrt()).collect();
        assert_close("instance norm", &y[row * l..(row + 1) * l], &expected);
    }
    let e = try_group_norm(&Var::new(x), 2, None, None, 1e-5).unwrap_err();
    assert!(
        e.to_string().starts_with("group_norm: input [2, 3, 7]"),
        "{e}"
    );
}

#[test]
fn upsample_repeats_each_element() {
    let x = rand(&[2, 3, 4, 5], 110);
    for s in [1, 2, 3] {
        let y = upsample_nearest(&Var::new(x.clone()), s);
        assert_eq!(y.shape(), [2, 3, 4 * s, 5 * s]);
        let (yv, xv) = (y.value().to_vec(), x.to_vec());
        for nc in 0..6 {
            for i in 0..4 * s {
                for j in 0..5 * s {
                    let got = yv[(nc * 4 * s + i) * 5 * s + j];
                    assert_eq!(got, xv[(nc * 4 + i / s) * 5 + j / s]);
                }
            }
        }
    }
    let y = upsample_nearest(&Var::new(rand(&[1, 2, 3], 111)), 2);
    assert_eq!(y.shape(), [1, 2, 6]);
    assert!(try_upsample_nearest(&Var::new(rand(&[2, 3], 1)), 2).is_err());
}

#[test]
fn dropout2d_drops_whole_channels_and_scales_the_rest() {
    let x = Var::new(Tensor::<f64>::ones(&[40, 50, 2, 3]));
    let mut rng = StdRng::seed_from_u64(5);
    let y = dropout2d(&x, 0.3, true, &mut rng).value().to_vec();
    let mut dropped = 0;
    for ch in y.chunks(6) {
        let first = ch[0];
        assert!(
            ch.iter().all(|&v| v == first),
            "a channel is dropped or kept whole"
        );
        if first == 0.0 {
            dropped += 1;
        } else {
            assert!((first - 1.0 / 0.7).abs() < 1e-15);
        }
    }
    let frac = dropped as f64 / 2000.0;
    assert!((frac - 0.3).abs() < 0.04, "dropped fraction {frac}");
    let eval = dropout2d(&x, 0.3, false, &mut rng);
    assert_eq!(eval.value().to_vec(), x.value().to_vec());
    assert!(dropout2d(&x, 1.0, true, &mut rng)
        .value()
        .to_vec()
        .iter()
        .all(|&v| v == 0.0));
    assert!(try_dropout2d(&Var::new(rand(&[4, 3], 1)), 0.5, true, &mut rng).is_err());
}

#[test]
fn residual_adds_the_input_and_keeps_the_branch_names() {
    let mut rng = StdRng::seed_from_u64(6);
    let branch = Sequential::<f64>::new()
        .add(Linear::new(4, 4, &mut rng))
        .add(Tanh);
    let x = Var::new(rand(&[3, 4], 7));
    let expected = &x + &branch.forward(&x);
    let model = Sequential::new().add(Residual::new(branch));
    assert_eq!(
        model.forward(&x).value().to_vec(),
        expected.value().to_vec()
    );
    let names: Vec<String> = model
        .named_parameters()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["0.0.weight", "0.0.bias"]);
}

#[test]
fn basic_block_names_shapes_and_shortcuts() {
    let mut rng = StdRng::seed_from_u64(8);
    let same = BasicBlock::<f64>::new(4, 4, 1, &mut rng);
    assert!(same.downsample.is_none());
    let names: Vec<String> = same.named_state().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[..3], ["conv1.weight", "bn1.weight", "bn1.bias"]);
    assert_eq!(names.len(), 2 + 2 * 5);
    // With bn2's scale at zero the residual branch vanishes: identity shortcut, then relu.
    same.bn2.weight.set_value(Tensor::zeros(&[4]));
    let x = Var::new(rand(&[2, 4, 5, 5], 9));
    assert_eq!(same.forward(&x).value().to_vec(), x.relu().value().to_vec());

    let down = BasicBlock::<f64>::new(4, 8, 2, &mut rng);
    let state: Vec<(String, Vec<usize>)> = down
        .named_state()
        .into_iter()
        .map(|(n, v)| (n, v.shape().to_vec()))
        .collect();
    let get = |n: &str| state.iter().find(|(k, _)| k == n).map(|(_, s)| s.clone());
    assert_eq!(get("conv1.weight"), Some(vec![8, 4, 3, 3]));
    assert_eq!(get("conv1.bias"), None);
    assert_eq!(get("downsample.0.weight"), Some(vec![8, 4, 1, 1]));
    assert_eq!(get("downsample.1.running_var"), Some(vec![8]));
    let x = Var::new(rand(&[2, 4, 6, 6], 10));
    down.bn2.weight.set_value(Tensor::zeros(&[8]));
    let projected = down.downsample.as_ref().unwrap().forward(&x).relu();
    let y = down.forward(&x);
    assert_eq!(y.shape(), [2, 8, 3, 3]);
    assert_close(
        "projection shortcut",
        &y.value().to_vec(),
        &projected.value().to_vec(),
    );
}
