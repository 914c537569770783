//! A makemore-style character model (Karpathy's MLP, after Bengio et al. 2003) on English
//! words: 3-character contexts of token indices -> Embedding -> Linear -> BatchNorm1d ->
//! tanh -> Linear over 27 characters, trained with `fit` on an `IndexDataset`, compared with
//! a count-based bigram baseline, then sampled, gradchecked (a block in f64) and saved.
//!
//! Words come from `/usr/share/dict/words` (Debian's `wamerican`), else from the bundled
//! list in `examples/makemore_data/words.txt`.
//!
//! `cargo run --release --example makemore -- --steps 4000`

#[path = "common/exit.rs"]
mod exit;

use std::path::Path;

use graft::autograd::GradcheckOptions;
use graft::data::{IndexDataset, Targets};
use graft::nn::{cast_into, gradcheck_module, state};
use graft::prelude::*;
use graft::tensor::Float;
use graft::train::{losses, TrainError, Verbosity};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// Characters of context.
const BLOCK: usize = 3;
/// `.` (start and end of a word) and a-z.
const VOCAB: usize = 27;

/// Lower-case a-z words of at least 2 letters: the system dictionary, else the bundled list.
pub fn load_words() -> (Vec<String>, &'static str) {
    if let Ok(text) = std::fs::read_to_string("/usr/share/dict/words") {
        let words: Vec<String> = text.lines().filter(|w| keep(w)).map(String::from).collect();
        if !words.is_empty() {
            return (words, "/usr/share/dict/words");
        }
    }
    (
        bundled_words(),
        "examples/makemore_data/words.txt (bundled)",
    )
}

/// The bundled fallback list (CC0, see its header).
pub fn bundled_words() -> Vec<String> {
    include_str!("makemore_data/words.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(str::split_whitespace)
        .filter(|w| keep(w))
        .map(String::from)
        .collect()
}

fn keep(w: &str) -> bool {
    w.len() >= 2 && w.bytes().all(|b| b.is_ascii_lowercase())
}

fn token(c: u8) -> i64 {
    if c == b'.' {
        0
    } else {
        (c - b'a' + 1) as i64
    }
}

/// Every (3 previous characters, next character) pair of the words, `.`-padded.
pub fn contexts(words: &[String]) -> IndexDataset {
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for w in words {
        let mut ctx = [0i64; BLOCK];
        for c in w.bytes().chain(std::iter::once(b'.')) {
            xs.extend_from_slice(&ctx);
            ys.push(token(c));
            ctx.rotate_left(1);
            ctx[BLOCK - 1] = token(c);
        }
    }
    let n = ys.len();
    IndexDataset::new(
        Tensor::from_vec(xs, &[n, BLOCK]),
        Targets::Classes(Tensor::from_vec(ys, &[n])),
    )
    .expect("one target per context")
}

/// The character model; generic over the element type so an f64 twin can be gradchecked.
pub struct CharMlp<T: Float = f32> {
    emb: Embedding<T>,
    fc1: Linear<T>,
    bn: BatchNorm1d<T>,
    fc2: Linear<T>,
}

impl<T: Float> CharMlp<T> {
    /// Embedding 10, hidden 200, as makemore part 3.
    pub fn new(rng: &mut StdRng) -> Self {
        CharMlp {
            emb: Embedding::new(VOCAB, 10, None, rng),
            fc1: Linear::no_bias(BLOCK * 10, 200, rng),
            bn: BatchNorm1d::new(200),
            fc2: Linear::new(200, VOCAB, rng),
        }
    }

    /// Logits `[N, 27]` for contexts `[N, 3]`.
    fn logits(&self, ctx: &Tensor<i64>) -> graft::tensor::Result<Var<T>> {
        let n = ctx.shape()[0];
        let e = self.emb.lookup(ctx).try_reshape(&[n, BLOCK * 10])?;
        self.fc2
            .try_forward(&self.bn.try_forward(&self.fc1.try_forward(&e)?)?.tanh())
    }
}

impl<T: Float> Module<T> for CharMlp<T> {
    /// Contexts given as floats (the float-only path); `fit` sends indices instead.
    fn forward(&self, x: &Var<T>) -> Var<T> {
        self.logits(&x.value().cast())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn forward_input(&self, x: &Input<T>) -> graft::tensor::Result<Var<T>> {
        self.logits(x.as_index()?)
    }

    fn visit(&self, v: &mut dyn Visitor<T>) {
        v.child("emb", &self.emb);
        v.child("fc1", &self.fc1);
        v.child("bn", &self.bn);
        v.child("fc2", &self.fc2);
    }
}

/// Mean negative log-likelihood of a bigram model (add-one counts from `train`) on `val`:
/// the baseline a context model must beat.
pub fn bigram_loss(train: &[String], val: &[String]) -> f64 {
    let mut counts = vec![[1.0f64; VOCAB]; VOCAB];
    let pairs = |w: &String| {
        let t: Vec<usize> = std::iter::once(0)
            .chain(w.bytes().map(|c| token(c) as usize))
            .chain(std::iter::once(0))
            .collect();
        t.windows(2).map(|p| (p[0], p[1])).collect::<Vec<_>>()
    };
    for (a, b) in train.iter().flat_map(pairs) {
        counts[a][b] += 1.0;
    }
    let (mut nll, mut n) = (0.0, 0usize);
    for (a, b) in val.iter().flat_map(pairs) {
        nll -= (counts[a][b] / counts[a].iter().sum::<f64>()).ln();
        n += 1;
    }
    nll / n as f64
}

/// What a run measured.
pub struct Report {
    /// Validation loss of the trained model, nats per character.
    pub val_loss: f64,
    /// The bigram baseline's on the same validation words.
    pub bigram_loss: f64,
}

/// Shuffles the words (seeded), holds out the last tenth, trains `model` for `steps` steps
/// of 32 contexts with Adam, and measures it and the bigram baseline on the held-out words.
pub fn train(
    model: &CharMlp,
    words: &[String],
    steps: usize,
    seed: u64,
) -> Result<Report, TrainError> {
    let mut words = words.to_vec();
    words.shuffle(&mut StdRng::seed_from_u64(seed));
    let split = words.len() - words.len() / 10;
    let (train_words, val_words) = words.split_at(split);
    let mut opt = Adam::new(model.parameters(), AdamConfig::default().lr(1e-2))?;
    let decay = CosineAnnealingLr::new(steps as u64, 1e-3)?.attach(&mut opt);
    let config = FitConfig::new()
        .batch_size(32)
        .max_steps(steps)
        .steps_per_epoch(steps.div_ceil(4).max(1))
        .validation_data(contexts(val_words))
        .metrics(vec![])
        .seed(seed)
        .verbosity(Verbosity::Silent)
        .callback(LrSchedulerCallback::per_step(decay));
    let history = fit(
        model,
        &mut opt,
        &losses::cross_entropy,
        &contexts(train_words),
        config,
    )?;
    Ok(Report {
        val_loss: history.last().and_then(|e| e.val_loss).unwrap_or(f64::NAN),
        bigram_loss: bigram_loss(train_words, val_words),
    })
}

/// A word sampled from the model, one character at a time, at `temperature`.
pub fn sample(model: &CharMlp, temperature: f64, rng: &mut StdRng) -> String {
    model.eval();
    let mut ctx = vec![0i64; BLOCK];
    let mut out = String::new();
    while out.len() < 30 {
        let logits = no_grad(|| model.logits(&Tensor::from_vec(ctx.clone(), &[1, BLOCK])))
            .expect("contexts are in range");
        let next = logits
            .value()
            .try_sample_categorical(temperature, rng)
            .expect("temperature is positive")
            .to_vec()[0];
        if next == 0 {
            break;
        }
        out.push((b'a' + next as u8 - 1) as char);
        ctx.rotate_left(1);
        ctx[BLOCK - 1] = next;
    }
    model.train();
    out
}

#[allow(dead_code)] // the integration test includes this file for `train`
fn main() {
    exit::report(run());
}

/// The example; errors end it through `report`, printed with their message.
fn run() -> Result<(), Box<dyn std::error::Error>> {
    let steps = std::env::args()
        .skip_while(|a| a != "--steps")
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(4000);
    let (words, source) = load_words();
    println!("{} words from {source}", words.len());
    let mut rng = StdRng::seed_from_u64(42);
    let model = CharMlp::<f32>::new(&mut rng);
    // One line checks the block's gradients, in f64, parameters and input alike.
    let twin = CharMlp::<f64>::new(&mut rng);
    cast_into(&model, &twin)?;
    let block = Sequential::<f64>::new()
        .add(Linear::new(4, 6, &mut rng))
        .add(Tanh);
    gradcheck_module(
        &block,
        &Tensor::uniform(&[5, 4], -1.0, 1.0, &mut rng),
        &GradcheckOptions::default(),
    )?;
    println!("gradcheck of a Linear + tanh block in f64: ok");

    let started = std::time::Instant::now();
    let report = graft::run(|| train(&model, &words, steps, 0))?;
    println!(
        "{steps} steps in {:.1} s: validation loss {:.4} nats/char (bigram baseline {:.4})",
        started.elapsed().as_secs_f64(),
        report.val_loss,
        report.bigram_loss
    );
    for t in [0.5, 1.0] {
        let words: Vec<String> = (0..6).map(|_| sample(&model, t, &mut rng)).collect();
        println!("samples at temperature {t}: {}", words.join(" "));
    }
    let path = std::env::temp_dir().join("makemore.safetensors");
    state::save_state_dict(&model, &path)?;
    let reloaded = CharMlp::<f32>::new(&mut StdRng::seed_from_u64(7));
    state::load_state_dict(&reloaded, Path::new(&path))?;
    println!("saved and reloaded {}", path.display());
    Ok(())
}
