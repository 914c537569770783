//! A user's custom model and training loop (about 300 lines), used to time the edit-compile
//! loop of a crate that depends on graft: `bash benches/user_crate/rebuild.sh`.
//!
//! The model is a gated residual MLP with layer norm and a hand-written loss (label-smoothed
//! cross-entropy plus an L2 penalty), trained on Gaussian blobs by a plain loop with Adam,
//! a warm-up-then-cosine learning rate and gradient clipping, then evaluated.

use graft::autograd::Var;
use graft::nn::{LayerNorm, Linear, Module, Visitor};
use graft::optim::{Adam, Optimizer};
use graft::prelude::AdamConfig;
use graft::tensor::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Input features.
const FEATURES: usize = 32;
/// Classes of the blobs.
const CLASSES: usize = 6;
/// Hidden width of the residual blocks.
const HIDDEN: usize = 128;
/// Examples per batch.
const BATCH: usize = 64;
/// Training steps.
const STEPS: usize = 400;

/// One gated residual block: `x + g ⊙ f(norm(x))` with `g = σ(W_g norm(x))`.
struct GatedBlock {
    norm: LayerNorm<f32>,
    value: Linear<f32>,
    gate: Linear<f32>,
    out: Linear<f32>,
}

impl GatedBlock {
    fn new(width: usize, rng: &mut StdRng) -> Self {
        GatedBlock {
            norm: LayerNorm::new(&[width]),
            value: Linear::new(width, 2 * width, rng),
            gate: Linear::new(width, 2 * width, rng),
            out: Linear::new(2 * width, width, rng),
        }
    }
}

impl Module<f32> for GatedBlock {
    fn forward(&self, x: &Var<f32>) -> Var<f32> {
        let h = self.norm.forward(x);
        let v = self.value.forward(&h).gelu(false);
        let g = self.gate.forward(&h).sigmoid();
        x + &self.out.forward(&(&v * &g))
    }

    fn visit(&self, v: &mut dyn Visitor<f32>) {
        v.child("norm", &self.norm);
        v.child("value", &self.value);
        v.child("gate", &self.gate);
        v.child("out", &self.out);
    }
}

/// The model: an input projection, residual blocks, a final norm and a classifier head.
struct Model {
    stem: Linear<f32>,
    blocks: Vec<GatedBlock>,
    norm: LayerNorm<f32>,
    head: Linear<f32>,
}

impl Model {
    fn new(depth: usize, rng: &mut StdRng) -> Self {
        Model {
            stem: Linear::new(FEATURES, HIDDEN, rng),
            blocks: (0..depth).map(|_| GatedBlock::new(HIDDEN, rng)).collect(),
            norm: LayerNorm::new(&[HIDDEN]),
            head: Linear::new(HIDDEN, CLASSES, rng),
        }
    }
}

impl Module<f32> for Model {
    fn forward(&self, x: &Var<f32>) -> Var<f32> {
        let mut h = self.stem.forward(x).relu();
        for b in &self.blocks {
            h = b.forward(&h);
        }
        self.head.forward(&self.norm.forward(&h))
    }

    fn visit(&self, v: &mut dyn Visitor<f32>) {
        v.child("stem", &self.stem);
        for (i, b) in self.blocks.iter().enumerate() {
            v.child(&format!("blocks.{i}"), b);
        }
        v.child("norm", &self.norm);
        v.child("head", &self.head);
    }
}

/// Gaussian blobs: one centre per class, unit noise.
struct Blobs {
    x: Vec<f32>,
    y: Vec<usize>,
}

impl Blobs {
    fn new(n: usize, seed: u64) -> Self {
        let mut centres = StdRng::seed_from_u64(7);
        let c: Vec<f32> = (0..CLASSES * FEATURES)
            .map(|_| centres.gen_range(-1.5f32..1.5))
            .collect();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut x = Vec::with_capacity(n * FEATURES);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let k = rng.gen_range(0..CLASSES);
            y.push(k);
            for f in 0..FEATURES {
                x.push(c[k * FEATURES + f] + normal(&mut rng));
            }
        }
        Blobs { x, y }
    }

    fn len(&self) -> usize {
        self.y.len()
    }

    /// The examples at `idx` as a `[B, FEATURES]` input and their labels.
    fn batch(&self, idx: &[usize]) -> (Tensor<f32>, Vec<usize>) {
        let mut xs = Vec::with_capacity(idx.len() * FEATURES);
        for &i in idx {
            xs.extend_from_slice(&self.x[i * FEATURES..(i + 1) * FEATURES]);
        }
        let ys = idx.iter().map(|&i| self.y[i]).collect();
        (Tensor::from_vec(xs, &[idx.len(), FEATURES]), ys)
    }
}

/// A standard normal sample (Box-Muller), so the crate needs no distribution crate.
fn normal(rng: &mut StdRng) -> f32 {
    let u: f32 = rng.gen_range(f32::EPSILON..1.0);
    let v: f32 = rng.gen_range(0.0..1.0);
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}

/// Label-smoothed cross-entropy written by hand from log-softmax: the target puts
/// `1 - smoothing` on the label and spreads `smoothing` over all classes.
fn smoothed_cross_entropy(logits: &Var<f32>, labels: &[usize], smoothing: f32) -> Var<f32> {
    let n = labels.len();
    let mut target = vec![smoothing / CLASSES as f32; n * CLASSES];
    for (i, &k) in labels.iter().enumerate() {
        target[i * CLASSES + k] += 1.0 - smoothing;
    }
    let target = Var::new(Tensor::from_vec(target, &[n, CLASSES]));
    let log_p = logits.log_softmax(1);
    -(&log_p * &target).sum().div_scalar(n as f32)
}

/// Sum of squared weights of every matrix (biases and norms are not decayed).
fn l2_penalty(model: &Model) -> Var<f32> {
    let mut total: Option<Var<f32>> = None;
    for (name, p) in model.named_parameters() {
        if name.ends_with("weight") && p.ndim() == 2 {
            let s = p.square().sum();
            total = Some(match total {
                Some(t) => &t + &s,
                None => s,
            });
        }
    }
    total.expect("the model has weight matrices")
}

/// Linear warm-up for the first tenth of training, then cosine decay to zero.
fn learning_rate(step: usize, peak: f64) -> f64 {
    let warm = STEPS / 10;
    if step < warm {
        peak * (step + 1) as f64 / warm as f64
    } else {
        let t = (step - warm) as f64 / (STEPS - warm) as f64;
        0.5 * peak * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

/// Scales every gradient so that their global L2 norm is at most `max_norm`; returns the
/// norm before clipping.
fn clip_gradients(params: &[Var<f32>], max_norm: f64) -> f64 {
    let mut sq = 0.0f64;
    for p in params {
        if let Some(g) = p.grad() {
            sq += g
                .to_vec()
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>();
        }
    }
    let norm = sq.sqrt();
    if norm > max_norm {
        let scale = (max_norm / norm) as f32;
        for p in params {
            if let Some(g) = p.grad() {
                p.set_grad(Some(g.mul_scalar(scale)));
            }
        }
    }
    norm
}

/// Fraction of `data` the model classifies correctly, in batches, without a graph.
fn accuracy(model: &Model, data: &Blobs) -> f64 {
    let idx: Vec<usize> = (0..data.len()).collect();
    let correct: usize = graft::autograd::no_grad(|| {
        idx.chunks(256)
            .map(|chunk| {
                let (x, y) = data.batch(chunk);
                let logits = model.forward(&Var::new(x)).value().to_vec();
                y.iter()
                    .enumerate()
                    .filter(|&(i, &label)| {
                        let row = &logits[i * CLASSES..(i + 1) * CLASSES];
                        let best = (0..CLASSES)
                            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                            .expect("at least one class");
                        best == label
                    })
                    .count()
            })
            .sum()
    });
    correct as f64 / data.len() as f64
}

/// Trains the model with the loop above and returns the last step's loss.
fn train(model: &Model, data: &Blobs, seed: u64) -> f32 {
    let params = model.parameters();
    let mut opt = Adam::new(params.clone(), AdamConfig::default().lr(1e-3))
        .expect("Adam accepts the default configuration");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut cursor = order.len();
    let mut last = f32::NAN;
    for step in 0..STEPS {
        if cursor + BATCH > order.len() {
            // Fisher-Yates: a fresh permutation each pass over the data.
            for i in (1..order.len()).rev() {
                order.swap(i, rng.gen_range(0..=i));
            }
            cursor = 0;
        }
        let (x, y) = data.batch(&order[cursor..cursor + BATCH]);
        cursor += BATCH;
        opt.set_lr(learning_rate(step, 3e-3));
        let logits = model.forward(&Var::new(x));
        let loss = &smoothed_cross_entropy(&logits, &y, 0.1) + &l2_penalty(model).mul_scalar(1e-5);
        opt.zero_grad();
        loss.backward().expect("the loss is a scalar");
        let norm = clip_gradients(&params, 5.0);
        opt.step().expect("the gradients are finite");
        last = loss.item();
        if step % 100 == 0 {
            println!("step {step:4}: loss {last:.4}, gradient norm {norm:.3}");
        }
    }
    last
}

fn main() {
    let mut rng = StdRng::seed_from_u64(0);
    let model = Model::new(3, &mut rng);
    println!("parameters: {}", model.num_parameters());
    let train_set = Blobs::new(4096, 1);
    let test_set = Blobs::new(1024, 2);
    let loss = train(&model, &train_set, 3);
    println!("final loss {loss:.4}");
    println!("test accuracy {:.2}%", 100.0 * accuracy(&model, &test_set));
}
