//! Layer benchmarks for the MNIST CNN, in training images per second (forward + backward
//! of a batch of 64): Conv2d 1->32 3x3 on 28x28, Conv2d 32->64 3x3 on 13x13, MaxPool2d 2
//! on each conv's output, and the whole CNN training step (forward, backward, Adam).
//!
//! `cargo bench -p graft-benches --bench nn` (add `-- --warm-up-time 1 --measurement-time 3` to shorten).
//! Criterion's `elem/s` is images/s. The CNN step's target is 5,000 images/s, so each
//! layer's own rate must be well above that.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use graft::autograd::Var;
use graft::nn::functional::{conv2d, max_pool2d, Conv2dOptions};
use graft::nn::loss::cross_entropy;
use graft::nn::{Conv2d, Flatten, Linear, MaxPool2d, Module, Relu, Sequential};
use graft::optim::rules::AdamConfig;
use graft::optim::{Adam, Optimizer};
use graft::tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

const BATCH: usize = 64;

fn layers(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0);
    let mut group = c.benchmark_group("mnist_cnn_layers");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    // conv1 sees the images, which need no gradient; conv2 sees activations, which do.
    for (name, cin, cout, hw, input_grad) in [
        ("conv1_1to32_28x28", 1, 32, 28, false),
        ("conv2_32to64_13x13", 32, 64, 13, true),
    ] {
        let x = Tensor::<f32>::uniform(&[BATCH, cin, hw, hw], -1.0, 1.0, &mut rng);
        let x = if input_grad {
            Var::parameter(x)
        } else {
            Var::new(x)
        };
        let w = Var::parameter(Tensor::uniform(&[cout, cin, 3, 3], -0.1, 0.1, &mut rng));
        let b = Var::parameter(Tensor::uniform(&[cout], -0.1, 0.1, &mut rng));
        group.bench_function(format!("{name}_fwd_bwd"), |bench| {
            bench.iter(|| {
                let y = conv2d(&x, &w, Some(&b), &Conv2dOptions::default());
                y.sum().backward().unwrap();
            })
        });
        let out = hw - 2;
        let p = Var::parameter(Tensor::<f32>::uniform(
            &[BATCH, cout, out, out],
            -1.0,
            1.0,
            &mut rng,
        ));
        group.bench_function(format!("maxpool2_after_{name}_fwd_bwd"), |bench| {
            bench.iter(|| {
                max_pool2d(&p, [2, 2], [2, 2], [0, 0])
                    .sum()
                    .backward()
                    .unwrap()
            })
        });
    }
    group.finish();
}

fn cnn_step(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0);
    let model = Sequential::new()
        .add(Conv2d::new(1, 32, 3, &mut rng))
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Conv2d::new(32, 64, 3, &mut rng))
        .add(Relu)
        .add(MaxPool2d::new(2))
        .add(Flatten::new())
        .add(Linear::new(1600, 128, &mut rng))
        .add(Relu)
        .add(Linear::new(128, 10, &mut rng));
    let mut opt = Adam::new(model.parameters(), AdamConfig::default()).unwrap();
    let x = Var::new(Tensor::<f32>::uniform(
        &[BATCH, 1, 28, 28],
        0.0,
        1.0,
        &mut rng,
    ));
    let y = Tensor::from_vec((0..BATCH as i64).map(|i| i % 10).collect(), &[BATCH]);
    let mut group = c.benchmark_group("mnist_cnn_train_step");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.bench_function("batch64_fwd_bwd_adam", |bench| {
        bench.iter(|| {
            let loss = cross_entropy(&model.forward(&x), &y);
            opt.zero_grad();
            loss.backward().unwrap();
            drop(loss);
            opt.step().unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, layers, cnn_step);
criterion_main!(benches);
