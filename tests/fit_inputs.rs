//! fit, evaluate and predict take any Dataset, and a model's input need not be one float
//! tensor: token indices reach an Embedding as i64, and a tuple carries tokens with a mask.
//! evaluate and predict leave the model's training/evaluation modes as they found them.

use graft::autograd::Var;
use graft::data::{Batch, DataError, Dataset, IndexDataset, Targets};
use graft::nn::{
    Dropout, Embedding, Flatten, Input, Linear, Module, Sequential, TrainingModes, Visitor,
};
use graft::optim::rules::AdamConfig;
use graft::optim::Adam;
use graft::tensor::{Result as TensorResult, Tensor};
use graft::train::{evaluate, fit, losses, predict, predict_dataset, FitConfig, Metric, Verbosity};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn quiet() -> FitConfig {
    FitConfig::new().batch_size(16).verbosity(Verbosity::Silent)
}

/// Contexts of 3 tokens out of 10; the target is the first token.
fn contexts(n: usize, seed: u64) -> IndexDataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let xs: Vec<i64> = (0..n * 3).map(|_| rng.gen_range(0..10)).collect();
    let ys: Vec<i64> = xs.chunks(3).map(|c| c[0]).collect();
    IndexDataset::new(
        Tensor::from_vec(xs, &[n, 3]),
        Targets::Classes(Tensor::from_vec(ys, &[n])),
    )
    .unwrap()
}

#[test]
fn a_sequential_starting_with_an_embedding_trains_on_token_indices() {
    let mut rng = StdRng::seed_from_u64(0);
    let model = Sequential::new()
        .add(Embedding::new(10, 4, None, &mut rng))
        .add(Flatten::new())
        .add(Linear::new(12, 10, &mut rng));
    let train = contexts(320, 1);
    // The indices go to the table as they are: the same rows as a direct lookup.
    let probe = Tensor::from_vec(vec![3i64, 1, 4], &[1, 3]);
    let Some(first) = model.get(0) else {
        unreachable!()
    };
    let direct = first.forward_input(&Input::Index(probe.clone())).unwrap();
    let mut rng = StdRng::seed_from_u64(0);
    let table = Embedding::<f32>::new(10, 4, None, &mut rng);
    assert_eq!(
        direct.value().to_vec(),
        table.lookup(&probe).value().to_vec()
    );

    let mut opt = Adam::new(model.parameters(), AdamConfig::default().lr(3e-2)).unwrap();
    let history = fit(
        &model,
        &mut opt,
        &losses::cross_entropy,
        &train,
        quiet().epochs(8).validation_data(contexts(80, 2)),
    )
    .unwrap();
    let last = history.last().unwrap();
    assert!(last.loss < 0.3 * history.epochs[0].loss, "{history:?}");
    assert!(last.get("val_accuracy").unwrap() > 0.95, "{last:?}");
    let out = predict(&model, Tensor::from_vec(vec![7i64, 0, 0], &[1, 3]), 8).unwrap();
    assert_eq!(out.argmax_dim(1, false).to_vec(), vec![7]);
    assert_eq!(
        predict_dataset(&model, &train, 50).unwrap().shape(),
        &[320, 10]
    );
}

/// Token bags of length 4 with a mask: the unmasked tokens all equal the target, the
/// masked ones are noise, so only a model that reads the mask can be right.
struct Bags {
    tokens: Tensor<i64>,
    mask: Tensor<f32>,
    targets: Tensor<i64>,
}

impl Bags {
    fn new(n: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let (mut tokens, mut mask, mut targets) = (vec![], vec![], vec![]);
        for _ in 0..n {
            let t = rng.gen_range(0..8i64);
            let len = rng.gen_range(1..=4);
            for j in 0..4 {
                let real = j < len;
                tokens.push(if real { t } else { rng.gen_range(0..8) });
                mask.push(if real { 1.0 } else { 0.0 });
            }
            targets.push(t);
        }
        Bags {
            tokens: Tensor::from_vec(tokens, &[n, 4]),
            mask: Tensor::from_vec(mask, &[n, 4]),
            targets: Tensor::from_vec(targets, &[n]),
        }
    }
}

impl Dataset for Bags {
    fn len(&self) -> usize {
        self.targets.numel()
    }

    fn try_batch(&self, indices: &[usize]) -> Result<Batch, DataError> {
        graft::data::dataset_trait::check_indices(indices, self.len())?;
        let index = Tensor::from_vec(
            indices.iter().map(|&i| i as i64).collect(),
            &[indices.len()],
        );
        Ok(Batch {
            inputs: Input::Tuple(vec![
                Input::Index(self.tokens.index_select(0, &index)),
                Input::Float(Var::new(self.mask.index_select(0, &index))),
            ]),
            targets: Targets::Classes(self.targets.index_select(0, &index)),
        })
    }
}

/// The mean over positions of `h` `[n, l, d]` where `mask` `[n, l]` is 1.
fn masked_mean(h: &Var, mask: &Var) -> TensorResult<Var> {
    let (n, l) = (mask.shape()[0], mask.shape()[1]);
    let summed = h
        .try_mul(&mask.try_reshape(&[n, l, 1])?)?
        .try_sum_dims(&[1], false)?;
    summed.try_div(&mask.try_sum_dims(&[1], true)?)
}

/// A float caller gives token ids as floats and no mask: every position counts.
fn unmasked(x: &Var, f: impl Fn(&Tensor<i64>, &Var) -> TensorResult<Var>) -> Var {
    let ones = Var::new(Tensor::ones(x.shape()));
    f(&x.value().cast::<i64>(), &ones).unwrap_or_else(|e| panic!("{e}"))
}

/// The (tokens, mask) tuple a `Bags` batch carries.
fn tokens_and_mask(
    x: &Input,
    f: impl Fn(&Tensor<i64>, &Var) -> TensorResult<Var>,
) -> TensorResult<Var> {
    let parts = x.as_tuple()?;
    f(parts[0].as_index()?, parts[1].as_float()?)
}

/// Masked mean of token embeddings, then a linear read-out.
struct MaskedBag {
    emb: Embedding,
    out: Linear,
}

impl MaskedBag {
    fn bag(&self, tokens: &Tensor<i64>, mask: &Var) -> TensorResult<Var> {
        let e = self.emb.lookup(tokens); // [n, l, d]
        self.out.try_forward(&masked_mean(&e, mask)?)
    }
}

impl Module for MaskedBag {
    fn forward(&self, x: &Var) -> Var {
        unmasked(x, |t, m| self.bag(t, m))
    }

    fn forward_input(&self, x: &Input) -> TensorResult<Var> {
        tokens_and_mask(x, |t, m| self.bag(t, m))
    }

    fn visit(&self, v: &mut dyn Visitor<f32>) {
        v.child("emb", &self.emb);
        v.child("out", &self.out);
    }
}

#[test]
fn a_custom_dataset_feeds_tokens_and_a_mask_to_a_custom_model() {
    let mut rng = StdRng::seed_from_u64(3);
    let model = MaskedBag {
        emb: Embedding::new(8, 8, None, &mut rng),
        out: Linear::new(8, 8, &mut rng),
    };
    let mut opt = Adam::new(model.parameters(), AdamConfig::default().lr(3e-2)).unwrap();
    let history = fit(
        &model,
        &mut opt,
        &losses::cross_entropy,
        &Bags::new(400, 4),
        quiet().epochs(10).validation_split(0.2),
    )
    .unwrap();
    let val_acc = history.last().unwrap().get("val_accuracy").unwrap();
    assert!(val_acc > 0.97, "the mask must reach the model: {history:?}");
}

#[test]
fn evaluate_and_predict_restore_the_models_modes() {
    let mut rng = StdRng::seed_from_u64(0);
    let model = Sequential::new()
        .add(Embedding::new(10, 2, None, &mut rng))
        .add(Flatten::new())
        .add(Dropout::new(0.5, 1))
        .add(Linear::new(6, 10, &mut rng));
    let data = contexts(20, 5);
    let mut metrics: Vec<Box<dyn Metric>> = vec![];
    for training in [false, true] {
        if training {
            model.train()
        } else {
            model.eval()
        }
        let before = TrainingModes::of(&model);
        evaluate(&model, &losses::cross_entropy, &data, 8, &mut metrics).unwrap();
        assert_eq!(
            TrainingModes::of(&model),
            before,
            "evaluate, training = {training}"
        );
        predict(&model, &data.inputs, 8).unwrap();
        assert_eq!(
            TrainingModes::of(&model),
            before,
            "predict, training = {training}"
        );
        assert_eq!(model.get(2).unwrap().own_training(), Some(training));
    }
}

/// Self-attention over the token embeddings with the padding as `key_padding_mask`, then a
/// masked mean and a read-out: an attention model fed tokens and a mask through fit.
struct MaskedAttention {
    emb: Embedding,
    attn: graft::nn::MultiheadAttention,
    out: Linear,
}

impl MaskedAttention {
    fn run(&self, tokens: &Tensor<i64>, mask: &Var) -> TensorResult<Var> {
        let (n, l) = (tokens.shape()[0], tokens.shape()[1]);
        let e = self.emb.lookup(tokens); // [n, l, d]
        let padding: Vec<bool> = mask.value().to_vec().iter().map(|&m| m == 0.0).collect();
        let padding = Tensor::from_vec(padding, &[n, l]);
        let options = graft::nn::AttendOptions {
            key_padding_mask: Some(&padding),
            ..Default::default()
        };
        let (h, _) = self.attn.attend(&e, &e, &e, &options)?;
        self.out.try_forward(&masked_mean(&h, mask)?)
    }
}

impl Module for MaskedAttention {
    fn forward(&self, x: &Var) -> Var {
        unmasked(x, |t, m| self.run(t, m))
    }

    fn forward_input(&self, x: &Input) -> TensorResult<Var> {
        tokens_and_mask(x, |t, m| self.run(t, m))
    }

    fn visit(&self, v: &mut dyn Visitor<f32>) {
        v.child("emb", &self.emb);
        v.child("attn", &self.attn);
        v.child("out", &self.out);
    }
}

#[test]
fn an_attention_model_with_a_key_padding_mask_trains_through_fit() {
    let mut rng = StdRng::seed_from_u64(5);
    let model = MaskedAttention {
        emb: Embedding::new(8, 8, None, &mut rng),
        attn: graft::nn::MultiheadAttention::new(8, 2, true, &mut rng).with_batch_first(true),
        out: Linear::new(8, 8, &mut rng),
    };
    let mut opt = Adam::new(model.parameters(), AdamConfig::default().lr(3e-2)).unwrap();
    let history = fit(
        &model,
        &mut opt,
        &losses::cross_entropy,
        &Bags::new(400, 6),
        quiet().epochs(15).validation_split(0.2),
    )
    .unwrap();
    let val_acc = history.last().unwrap().get("val_accuracy").unwrap();
    assert!(
        val_acc > 0.9,
        "tokens and mask through fit to attention: {history:?}"
    );
}
