//! A character-level language model over a list of words, in the spirit of Karpathy's
//! makemore: `--model gru` (Embedding → 2-layer GRU → Linear) or `--model transformer`
//! (Embedding + learned positions → 2 causal Transformer encoder layers → Linear).
//!
//! Words come from `/usr/share/dict/words` (Debian's `wamerican`), or `--data FILE` (one
//! word per line), or the small bundled list `data-bundled/words/words.txt`. They are split
//! by word into train/validation/test (80/10/10, seeded). Each epoch prints train and
//! validation loss in nats per character beside a bigram model's; the end prints the test
//! loss and 20 sampled words.
//!
//! `cargo run --release --example char_lm -- --model gru --epochs 3`

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use graft::autograd::{no_grad, Var};
use graft::nn::functional::EncoderLayerOptions;
use graft::nn::loss::{cross_entropy_with, CrossEntropyOptions, Reduction};
use graft::nn::{Embedding, Gru, Linear, Module, RnnConfig, TransformerEncoder};
use graft::optim::rules::AdamConfig;
use graft::optim::{Adam, Optimizer};
use graft::tensor::Tensor;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const BUNDLED: &str = include_str!("../data-bundled/words/words.txt");
const SYSTEM_WORDS: &str = "/usr/share/dict/words";
/// Token 0 marks both ends of a word ('.' in makemore).
const BOUNDARY: i64 = 0;
const IGNORE: i64 = -100;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Model {
    Gru,
    Transformer,
}

/// Train a character-level language model on words.
#[derive(Parser, Debug)]
struct Cli {
    /// The model.
    #[arg(long, value_enum, default_value_t = Model::Gru)]
    model: Model,
    /// A text file of one word per line (default: /usr/share/dict/words, else the bundled list).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Epochs.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Words per batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Sampling temperature (1 = the model's distribution; lower is more conservative).
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// Words longer than this are skipped.
    #[arg(long, default_value_t = 24)]
    max_len: usize,
    /// Seed for the split, initialisation, batch order and sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The characters seen, token 0 being the word boundary.
struct Vocab {
    chars: Vec<char>,
}

impl Vocab {
    fn new(words: &[String]) -> Self {
        let mut chars: Vec<char> = words.iter().flat_map(|w| w.chars()).collect();
        chars.sort_unstable();
        chars.dedup();
        Vocab { chars }
    }

    fn size(&self) -> usize {
        self.chars.len() + 1
    }

    fn encode(&self, word: &str) -> Vec<i64> {
        word.chars()
            .map(|c| self.chars.binary_search(&c).expect("char in vocab") as i64 + 1)
            .collect()
    }

    fn decode(&self, ids: &[i64]) -> String {
        ids.iter().map(|&i| self.chars[i as usize - 1]).collect()
    }
}

/// Token indices as the Embedding takes them today (a `Tensor<i64>`): the one place that
/// turns index data into a model input.
fn token_input(ids: Vec<i64>, shape: &[usize]) -> Tensor<i64> {
    Tensor::from_vec(ids, shape)
}

/// A batch of words as `[B, L]` inputs (boundary, then the word, padded with boundaries)
/// and targets (the word, then the boundary, padded with `IGNORE`).
fn batch(words: &[Vec<i64>]) -> (Tensor<i64>, Tensor<i64>, usize) {
    let l = words.iter().map(|w| w.len() + 1).max().unwrap_or(1);
    let (mut input, mut target) = (Vec::new(), Vec::new());
    let mut count = 0;
    for w in words {
        let pad = l - 1 - w.len();
        input.push(BOUNDARY);
        input.extend(w);
        input.resize(input.len() + pad, BOUNDARY);
        target.extend(w);
        target.push(BOUNDARY);
        target.resize(target.len() + pad, IGNORE);
        count += w.len() + 1;
    }
    let shape = [words.len(), l];
    (
        token_input(input, &shape),
        Tensor::from_vec(target, &[words.len() * l]),
        count,
    )
}

/// What both models offer: logits `[B, L, V]` for inputs `[B, L]`, and their parameters.
trait CharModel {
    fn logits(&self, ids: &Tensor<i64>) -> Var;
    fn parameters(&self) -> Vec<Var>;
}

struct GruLm {
    emb: Embedding,
    gru: Gru,
    head: Linear,
}

impl GruLm {
    fn new(vocab: usize, rng: &mut StdRng) -> Self {
        GruLm {
            emb: Embedding::new(vocab, 32, None, rng),
            gru: Gru::new(RnnConfig::new(32, 128).num_layers(2).batch_first(true), rng),
            head: Linear::new(128, vocab, rng),
        }
    }
}

impl CharModel for GruLm {
    fn logits(&self, ids: &Tensor<i64>) -> Var {
        self.head.forward(&self.gru.forward(&self.emb.lookup(ids)))
    }

    fn parameters(&self) -> Vec<Var> {
        let mut p = self.emb.parameters();
        p.extend(self.gru.parameters());
        p.extend(self.head.parameters());
        p
    }
}

struct TransformerLm {
    emb: Embedding,
    pos: Embedding,
    enc: TransformerEncoder,
    head: Linear,
}

impl TransformerLm {
    fn new(vocab: usize, max_len: usize, rng: &mut StdRng) -> Self {
        let d = 64;
        let mut opt = EncoderLayerOptions::new(4);
        opt.batch_first = true;
        opt.norm_first = true;
        TransformerLm {
            emb: Embedding::new(vocab, d, None, rng),
            pos: Embedding::new(max_len + 1, d, None, rng),
            enc: TransformerEncoder::new(d, 4 * d, opt, 2, true, rng),
            head: Linear::new(d, vocab, rng),
        }
    }
}

impl CharModel for TransformerLm {
    fn logits(&self, ids: &Tensor<i64>) -> Var {
        let l = ids.shape()[1];
        let positions = token_input((0..l as i64).collect(), &[l]);
        let x = &self.emb.lookup(ids) + &self.pos.lookup(&positions);
        let h = self
            .enc
            .forward_masked(&x, None, None, true)
            .unwrap_or_else(|e| panic!("{e}"));
        self.head.forward(&h)
    }

    fn parameters(&self) -> Vec<Var> {
        let mut p = self.emb.parameters();
        p.extend(self.pos.parameters());
        p.extend(self.enc.parameters());
        p.extend(self.head.parameters());
        p
    }
}

/// Summed cross-entropy (nats) of a batch and its number of predicted characters.
fn batch_loss(model: &dyn CharModel, words: &[Vec<i64>]) -> (Var, usize) {
    let (input, target, count) = batch(words);
    let logits = model.logits(&input);
    let v = logits.shape()[2];
    let flat = logits.reshape(&[target.numel(), v]);
    let opt = CrossEntropyOptions {
        reduction: Reduction::Sum,
        ignore_index: IGNORE,
        ..Default::default()
    };
    (cross_entropy_with(&flat, &target, &opt), count)
}

/// Nats per character over a word set.
fn evaluate(model: &dyn CharModel, words: &[Vec<i64>]) -> f64 {
    no_grad(|| {
        let (mut total, mut count) = (0.0, 0);
        for chunk in words.chunks(256) {
            let (loss, n) = batch_loss(model, chunk);
            total += loss.item() as f64;
            count += n;
        }
        total / count.max(1) as f64
    })
}

/// A bigram model with add-one smoothing, fitted on `train`.
struct Bigram {
    logp: Vec<Vec<f64>>,
}

impl Bigram {
    fn fit(train: &[Vec<i64>], v: usize) -> Self {
        let mut counts = vec![vec![1.0; v]; v];
        for w in train {
            let seq: Vec<i64> = std::iter::once(BOUNDARY)
                .chain(w.iter().copied())
                .chain(std::iter::once(BOUNDARY))
                .collect();
            for p in seq.windows(2) {
                counts[p[0] as usize][p[1] as usize] += 1.0;
            }
        }
        let logp = counts
            .into_iter()
            .map(|row| {
                let z: f64 = row.iter().sum();
                row.into_iter().map(|c| (c / z).ln()).collect()
            })
            .collect();
        Bigram { logp }
    }

    fn nats_per_char(&self, words: &[Vec<i64>]) -> f64 {
        let (mut total, mut count) = (0.0, 0);
        for w in words {
            let seq: Vec<i64> = std::iter::once(BOUNDARY)
                .chain(w.iter().copied())
                .chain(std::iter::once(BOUNDARY))
                .collect();
            for p in seq.windows(2) {
                total -= self.logp[p[0] as usize][p[1] as usize];
                count += 1;
            }
        }
        total / count.max(1) as f64
    }
}

/// One word drawn from the model, character by character.
fn sample(
    model: &dyn CharModel,
    vocab: &Vocab,
    temperature: f64,
    max_len: usize,
    rng: &mut StdRng,
) -> String {
    no_grad(|| {
        let mut ids = vec![BOUNDARY];
        while ids.len() <= max_len {
            let l = ids.len();
            let logits = model.logits(&token_input(ids.clone(), &[1, l]));
            let v = logits.shape()[2];
            let last = logits.value().reshape(&[l, v]).narrow(0, l - 1, 1).to_vec();
            let scaled: Vec<f64> = last
                .iter()
                .map(|&x| x as f64 / temperature.max(1e-6))
                .collect();
            let m = scaled.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = scaled.iter().map(|x| (x - m).exp()).collect();
            let mut r = rng.gen::<f64>() * weights.iter().sum::<f64>();
            let mut next = v - 1;
            for (i, w) in weights.iter().enumerate() {
                if r < *w {
                    next = i;
                    break;
                }
                r -= w;
            }
            if next as i64 == BOUNDARY {
                break;
            }
            ids.push(next as i64);
        }
        vocab.decode(&ids[1..])
    })
}

/// The words and where they came from.
fn load_words(cli: &Cli) -> Result<(Vec<String>, String), String> {
    let (text, source) = match &cli.data {
        Some(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --data {}: {e}", path.display()))?,
            path.display().to_string(),
        ),
        None => match std::fs::read_to_string(SYSTEM_WORDS) {
            Ok(t) => (t, SYSTEM_WORDS.to_string()),
            Err(_) => (
                BUNDLED.to_string(),
                format!(
                    "the bundled list data-bundled/words/words.txt ({SYSTEM_WORDS} not found; \
                     install Debian's wamerican or pass --data FILE)"
                ),
            ),
        },
    };
    let mut words: Vec<String> = text
        .lines()
        .map(|l| l.trim().to_lowercase())
        .filter(|w| !w.is_empty() && w.chars().count() <= cli.max_len)
        .collect();
    words.sort();
    words.dedup();
    if words.len() < 10 {
        return Err(format!(
            "{source} holds {} usable words; at least 10 are needed",
            words.len()
        ));
    }
    Ok((words, source))
}

fn main() {
    let cli = Cli::parse();
    // On a worker of graft's thread pool, each op's parallel kernels only wake the other
    // worker instead of handing their work over from `main` and waiting (see `graft::run`).
    graft::run(move || train_and_sample(&cli));
}

/// Loads the words, trains the chosen model, reports losses and prints samples.
fn train_and_sample(cli: &Cli) {
    let (mut words, source) = load_words(cli).unwrap_or_else(|e| {
        eprintln!("char_lm: {e}");
        std::process::exit(1)
    });
    let mut rng = StdRng::seed_from_u64(cli.seed);
    words.shuffle(&mut rng);
    let vocab = Vocab::new(&words);
    let encoded: Vec<Vec<i64>> = words.iter().map(|w| vocab.encode(w)).collect();
    let (n_train, n_val) = (encoded.len() * 8 / 10, encoded.len() / 10);
    let mut train = encoded[..n_train].to_vec();
    let val = &encoded[n_train..n_train + n_val];
    let test = &encoded[n_train + n_val..];
    println!(
        "{} words from {source}: {} train, {} validation, {} test; {} characters + boundary",
        words.len(),
        train.len(),
        val.len(),
        test.len(),
        vocab.size() - 1
    );
    let bigram = Bigram::fit(&train, vocab.size());
    let bigram_val = bigram.nats_per_char(val);
    let model: Box<dyn CharModel> = match cli.model {
        Model::Gru => Box::new(GruLm::new(vocab.size(), &mut rng)),
        Model::Transformer => Box::new(TransformerLm::new(vocab.size(), cli.max_len, &mut rng)),
    };
    let params = model.parameters();
    let n_params: usize = params.iter().map(Var::numel).sum();
    println!("model {:?}: {n_params} parameters", cli.model);
    let config = AdamConfig {
        lr: cli.lr,
        ..Default::default()
    };
    let mut opt = Adam::new(params, config).unwrap_or_else(|e| panic!("{e}"));
    for epoch in 1..=cli.epochs {
        train.shuffle(&mut rng);
        let batches = train.len().div_ceil(cli.batch);
        let bar = ProgressBar::new(batches as u64).with_style(
            ProgressStyle::with_template("epoch {msg} [{bar:30}] {pos}/{len} {per_sec} {eta}")
                .expect("valid template"),
        );
        bar.set_message(format!("{epoch}/{}", cli.epochs));
        let (mut total, mut count) = (0.0, 0);
        let start = std::time::Instant::now();
        for chunk in train.chunks(cli.batch) {
            opt.zero_grad();
            let (loss, n) = batch_loss(model.as_ref(), chunk);
            total += loss.item() as f64;
            count += n;
            loss.div_scalar(n as f32)
                .backward()
                .unwrap_or_else(|e| panic!("{e}"));
            opt.step().unwrap_or_else(|e| panic!("{e}"));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "epoch {epoch}: train {:.4} nats/char, validation {:.4} (bigram {:.4}); {:.0} training tokens/s",
            total / count.max(1) as f64,
            evaluate(model.as_ref(), val),
            bigram_val,
            count as f64 / secs
        );
    }
    println!(
        "test: {:.4} nats/char (bigram {:.4})",
        evaluate(model.as_ref(), test),
        bigram.nats_per_char(test)
    );
    let mut sampler = StdRng::seed_from_u64(cli.seed.wrapping_add(1));
    let samples: Vec<String> = (0..20)
        .map(|_| {
            sample(
                model.as_ref(),
                &vocab,
                cli.temperature,
                cli.max_len,
                &mut sampler,
            )
        })
        .collect();
    println!("20 samples (temperature {}):", cli.temperature);
    for s in samples {
        println!("  {s}");
    }
}
