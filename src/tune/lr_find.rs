//! Leslie Smith's learning-rate range test, as fastai's `lr_find` runs it: one mini-batch
//! per learning rate, the rate growing exponentially from `start_lr` to `end_lr`, the loss
//! smoothed by a debiased moving average, stopping once it exceeds 4× the best seen. The
//! model and the optimizer are put back exactly as they were.

use graft_nn::state::{load_state_dict_tensors, state_dict};
use graft_nn::Module;
use graft_optim::Optimizer;
use graft_tensor::Tensor;

use crate::data::{DataLoader, TensorDataset};
use crate::train::{LossFn, TrainError};

/// Settings of [`lr_find`], with fastai's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct LrFindConfig {
    /// First learning rate (1e-7).
    pub start_lr: f64,
    /// Last learning rate (10).
    pub end_lr: f64,
    /// Number of mini-batches, one learning rate each (100).
    pub num_iter: usize,
    /// Examples per mini-batch (32).
    pub batch_size: usize,
    /// Smoothing of the loss, `avg = beta·avg + (1 - beta)·loss`, debiased (0.98).
    pub beta: f64,
    /// Stop once the smoothed loss exceeds this multiple of the best (4).
    pub diverge: f64,
    /// Seed of the batch order.
    pub seed: u64,
}

impl Default for LrFindConfig {
    fn default() -> Self {
        LrFindConfig {
            start_lr: 1e-7,
            end_lr: 10.0,
            num_iter: 100,
            batch_size: 32,
            beta: 0.98,
            diverge: 4.0,
            seed: 0,
        }
    }
}

/// The curve of a range test and fastai's two suggestions.
#[derive(Clone, Debug, PartialEq)]
pub struct LrFindResult {
    /// The learning rate of each mini-batch.
    pub lrs: Vec<f64>,
    /// The smoothed (debiased) loss after each mini-batch.
    pub losses: Vec<f64>,
    /// The raw mini-batch losses.
    pub raw_losses: Vec<f64>,
    /// fastai's `lr_steep`: where the smoothed loss falls fastest per decade of lr.
    pub steep: Option<f64>,
    /// fastai's `lr_min`: the lr of the lowest smoothed loss, divided by 10.
    pub min_div10: Option<f64>,
    /// True when the test stopped early because the loss diverged.
    pub diverged: bool,
}

impl LrFindResult {
    /// The curve as CSV: `lr,loss,raw_loss`.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("lr,loss,raw_loss\n");
        for ((lr, l), r) in self.lrs.iter().zip(&self.losses).zip(&self.raw_losses) {
            out += &format!("{lr},{l},{r}\n");
        }
        out
    }
}

/// The learning rate of step `i` of `n`: `start · (end / start)^(i / n)` (fastai's
/// `SchedExp` at position `i / n`).
pub fn lr_at(config: &LrFindConfig, i: usize) -> f64 {
    let pos = i as f64 / config.num_iter.max(1) as f64;
    config.start_lr * (config.end_lr / config.start_lr).powf(pos)
}

/// Runs the range test of `model` on `data` with `optimizer` and `loss`, then restores
/// the model's parameters and buffers and the optimizer's state (learning rate, moments,
/// step counts) bit for bit and clears the gradients.
pub fn lr_find<M: Module<f32>>(
    model: &M,
    optimizer: &mut dyn Optimizer<f32>,
    loss: &LossFn<'_>,
    data: &TensorDataset,
    config: &LrFindConfig,
) -> Result<LrFindResult, TrainError> {
    if !(config.start_lr > 0.0 && config.end_lr > config.start_lr) || config.num_iter < 2 {
        return Err(TrainError::Config(format!(
            "lr_find: needs 0 < start_lr < end_lr and num_iter >= 2, got start_lr {}, end_lr {}, num_iter {}",
            config.start_lr, config.end_lr, config.num_iter
        )));
    }
    if data.targets.is_empty() {
        return Err(TrainError::Config("lr_find: the data set is empty".into()));
    }
    // Deep copies: nothing the test does can reach them.
    let saved: Vec<(String, Tensor<f32>)> = state_dict(model)
        .into_iter()
        .map(|(n, t)| (n, Tensor::from_vec(t.to_vec(), t.shape())))
        .collect();
    let saved_opt = optimizer.state_dict();
    let result = rayon::join(|| sweep(model, &mut *optimizer, loss, data, config), || ()).0;
    load_state_dict_tensors(model, saved)?;
    optimizer.load_state_dict(&saved_opt)?;
    optimizer.zero_grad();
    result
}

fn sweep<M: Module<f32>>(
    model: &M,
    optimizer: &mut dyn Optimizer<f32>,
    loss: &LossFn<'_>,
    data: &TensorDataset,
    config: &LrFindConfig,
) -> Result<LrFindResult, TrainError> {
    model.train();
    let loader = DataLoader::new(data, config.batch_size).shuffled(config.seed);
    let (mut lrs, mut losses, mut raw) = (Vec::new(), Vec::new(), Vec::new());
    let (mut avg, mut best) = (0.0f64, f64::INFINITY);
    let mut diverged = false;
    let mut epoch = 0;
    'outer: loop {
        for batch in loader.epoch(epoch) {
            let i = lrs.len();
            if i >= config.num_iter {
                break 'outer;
            }
            let lr = lr_at(config, i);
            optimizer.set_lr(lr);
            let outputs = model.forward_input(&batch.inputs)?;
            let l = loss(&outputs, &batch.targets)?;
            let value = l.item() as f64;
            if !value.is_finite() {
                diverged = true;
                break 'outer;
            }
            avg = config.beta * avg + (1.0 - config.beta) * value;
            let smooth = avg / (1.0 - config.beta.powi(i as i32 + 1));
            lrs.push(lr);
            losses.push(smooth);
            raw.push(value);
            best = best.min(smooth);
            if smooth > config.diverge * best {
                diverged = true;
                break 'outer;
            }
            optimizer.zero_grad();
            l.backward()?;
            drop((l, outputs));
            optimizer.step()?;
        }
        epoch += 1;
    }
    let (steep, min_div10) = suggestions(&lrs, &losses, config.num_iter);
    Ok(LrFindResult {
        lrs,
        losses,
        raw_losses: raw,
        steep,
        min_div10,
        diverged,
    })
}

/// fastai's suggestions over the curve without its first `num_iter / 10` and last 5
/// points (the warm-up of the average and the divergence): the steepest descent of the
/// loss against `ln(lr)`, and the lr of the minimum divided by 10.
pub fn suggestions(lrs: &[f64], losses: &[f64], num_iter: usize) -> (Option<f64>, Option<f64>) {
    let n = lrs.len().min(losses.len());
    let (mut lo, mut hi) = (num_iter / 10, n.saturating_sub(5));
    if hi <= lo + 1 {
        (lo, hi) = (0, n);
    }
    let (l, y) = (&lrs[lo..hi], &losses[lo..hi]);
    let min_div10 = y
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| l[i] / 10.0);
    let steep = (1..l.len())
        .map(|i| (i - 1, (y[i] - y[i - 1]) / (l[i].ln() - l[i - 1].ln())))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| l[i]);
    (steep, min_div10)
}
