//! What sampling from a model needs, on plain tensors (no autograd): softmax and
//! log-softmax, top-k, one-hot, random integers, multinomial draws and categorical
//! sampling with a temperature. Random draws take a caller-supplied, seeded RNG.

use rand::Rng;

use crate::element::{Element, Float};
use crate::error::{fmt_shape, Result, TensorError};
use crate::tensor::Tensor;

/// The rows of `t` along `dim`: `t` with `dim` moved last, contiguous, plus the row length.
fn rows_along<T: Element>(t: &Tensor<T>, op: &str, dim: isize) -> Result<(Tensor<T>, usize)> {
    let d = t.try_dim(op, dim)?;
    let last = t.ndim() - 1;
    let moved = t.try_transpose(d as isize, last as isize)?.contiguous();
    let len = t.shape()[d];
    Ok((moved, len))
}

/// Undoes `rows_along`: a `[..., k]` result back with its last dim at `dim`.
fn rows_back<U: Element>(t: Tensor<U>, dim: usize) -> Result<Tensor<U>> {
    let last = t.ndim() - 1;
    Ok(t.try_transpose(dim as isize, last as isize)?.contiguous())
}

impl<T: Float> Tensor<T> {
    /// `exp(x - logsumexp(x))` along `dim`: probabilities summing to 1 along `dim`.
    pub fn try_softmax(&self, dim: isize) -> Result<Tensor<T>> {
        Ok(self.try_log_softmax(dim)?.exp())
    }

    /// `x - logsumexp(x)` along `dim`, computed stably (no overflow for large logits).
    pub fn try_log_softmax(&self, dim: isize) -> Result<Tensor<T>> {
        let d = self.try_dim("log_softmax", dim)? as isize;
        let lse = self.try_logsumexp_dims(&[d], true)?;
        self.try_sub(&lse)
    }

    /// [`Tensor::try_softmax`], panicking with its message.
    #[track_caller]
    pub fn softmax(&self, dim: isize) -> Tensor<T> {
        crate::error::or_panic(self.try_softmax(dim))
    }

    /// [`Tensor::try_log_softmax`], panicking with its message.
    #[track_caller]
    pub fn log_softmax(&self, dim: isize) -> Tensor<T> {
        crate::error::or_panic(self.try_log_softmax(dim))
    }

    /// The `k` largest elements along `dim`, largest first, and their indices (PyTorch's
    /// `topk(k, dim)` with `largest=True, sorted=True`; ties keep the lower index first,
    /// NaN counts as largest).
    pub fn try_topk(&self, k: usize, dim: isize) -> Result<(Tensor<T>, Tensor<i64>)> {
        let d = self.try_dim("topk", dim)?;
        let (rows, len) = rows_along(self, "topk", dim)?;
        if k > len {
            return Err(TensorError::new(
                "topk",
                format!(
                    "k = {k} is larger than dim {dim} of shape {} ({len})",
                    fmt_shape(self.shape())
                ),
            ));
        }
        let data = rows.to_vec();
        let mut values = Vec::with_capacity(data.len() / len.max(1) * k);
        let mut indices = Vec::with_capacity(values.capacity());
        for row in data.chunks(len.max(1)).filter(|_| len > 0) {
            let mut order: Vec<usize> = (0..len).collect();
            // Stable sort, descending, NaN first: ties keep index order.
            order.sort_by(|&a, &b| {
                let (x, y) = (row[a].to_f64(), row[b].to_f64());
                match (x.is_nan(), y.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Less,
                    (false, true) => std::cmp::Ordering::Greater,
                    _ => y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal),
                }
            });
            for &i in &order[..k] {
                values.push(row[i]);
                indices.push(i as i64);
            }
        }
        let mut shape = rows.shape().to_vec();
        *shape.last_mut().expect("at least one dim") = k;
        Ok((
            rows_back(Tensor::from_vec(values, &shape), d)?,
            rows_back(Tensor::from_vec(indices, &shape), d)?,
        ))
    }

    /// `num_samples` category indices per row of `self` (`[C]` or `[N, C]`), drawn with
    /// probability proportional to the row's weights (PyTorch's `torch.multinomial`).
    /// Without replacement a category is drawn at most once, so `num_samples` may not
    /// exceed the number of non-zero weights. Errors on negative, NaN or infinite weights,
    /// a row summing to 0, and `num_samples` of 0.
    pub fn try_multinomial(
        &self,
        num_samples: usize,
        replacement: bool,
        rng: &mut impl Rng,
    ) -> Result<Tensor<i64>> {
        let bad = |why: String| TensorError::new("multinomial", why);
        if self.ndim() != 1 && self.ndim() != 2 {
            return Err(bad(format!(
                "expects probabilities [C] or [N, C], got {}",
                fmt_shape(self.shape())
            )));
        }
        if num_samples == 0 {
            return Err(bad("num_samples must be at least 1, got 0".into()));
        }
        let c = self.shape()[self.ndim() - 1];
        let weights: Vec<f64> = self
            .contiguous()
            .to_vec()
            .iter()
            .map(|w| w.to_f64())
            .collect();
        let rows = if self.ndim() == 1 { 1 } else { self.shape()[0] };
        let mut out = Vec::with_capacity(rows * num_samples);
        for (r, row) in weights.chunks(c.max(1)).take(rows).enumerate() {
            if let Some(w) = row.iter().find(|w| !w.is_finite() || **w < 0.0) {
                return Err(bad(format!(
                    "row {r} holds the weight {w}; weights must be finite and non-negative"
                )));
            }
            let nonzero = row.iter().filter(|w| **w > 0.0).count();
            if nonzero == 0 {
                return Err(bad(format!("row {r} sums to 0: nothing to draw")));
            }
            if !replacement && num_samples > nonzero {
                return Err(bad(format!(
                    "cannot draw {num_samples} samples without replacement from row {r}, \
                     which has {nonzero} non-zero weights"
                )));
            }
            let mut w = row.to_vec();
            for _ in 0..num_samples {
                let i = draw(&w, rng);
                out.push(i as i64);
                if !replacement {
                    w[i] = 0.0;
                }
            }
        }
        let shape: Vec<usize> = if self.ndim() == 1 {
            vec![num_samples]
        } else {
            vec![rows, num_samples]
        };
        Ok(Tensor::from_vec(out, &shape))
    }

    /// One category index per row of logits (`[C]` -> `[1]`, `[N, C]` -> `[N]`), drawn from `softmax(logits / temperature)`: temperature 1 samples the
    /// model's distribution, lower is greedier, higher flatter. Errors on a temperature
    /// that is not positive and finite.
    pub fn try_sample_categorical(
        &self,
        temperature: f64,
        rng: &mut impl Rng,
    ) -> Result<Tensor<i64>> {
        if !(temperature > 0.0 && temperature.is_finite()) {
            return Err(TensorError::new(
                "sample_categorical",
                format!("temperature must be positive and finite, got {temperature}"),
            ));
        }
        let probs = self.div_scalar(T::from_f64(temperature)).try_softmax(-1)?;
        let drawn = probs.try_multinomial(1, true, rng)?;
        let n = drawn.numel();
        drawn.try_reshape(&[n])
    }
}

/// An index drawn with probability proportional to `w` (positive sum): inverse CDF.
fn draw(w: &[f64], rng: &mut impl Rng) -> usize {
    let total: f64 = w.iter().sum();
    let u = rng.gen::<f64>() * total;
    let mut acc = 0.0;
    for (i, &x) in w.iter().enumerate() {
        acc += x;
        if u < acc && x > 0.0 {
            return i;
        }
    }
    // Rounding can leave u at the very top: the last category with weight.
    w.iter().rposition(|&x| x > 0.0).expect("a positive weight")
}

impl Tensor<i64> {
    /// Integers drawn uniformly from `[low, high)` (PyTorch's `randint`); errors if the
    /// range is empty.
    pub fn try_randint(
        low: i64,
        high: i64,
        shape: &[usize],
        rng: &mut impl Rng,
    ) -> Result<Tensor<i64>> {
        if low >= high {
            return Err(TensorError::new(
                "randint",
                format!("the range [{low}, {high}) is empty"),
            ));
        }
        let n: usize = shape.iter().product();
        let data = (0..n).map(|_| rng.gen_range(low..high)).collect();
        Ok(Tensor::from_vec(data, shape))
    }

    /// Class indices `[...]` as one-hot rows `[..., num_classes]` of element type `U`
    /// (ones and zeros); errors on an index outside `[0, num_classes)`.
    pub fn try_one_hot<U: Float>(&self, num_classes: usize) -> Result<Tensor<U>> {
        let idx = self.contiguous().to_vec();
        let mut data = vec![U::ZERO; idx.len() * num_classes];
        for (row, &i) in idx.iter().enumerate() {
            if i < 0 || i as usize >= num_classes {
                return Err(TensorError::new(
                    "one_hot",
                    format!("class index {i} is outside [0, {num_classes})"),
                ));
            }
            data[row * num_classes + i as usize] = U::ONE;
        }
        let mut shape = self.shape().to_vec();
        shape.push(num_classes);
        Ok(Tensor::from_vec(data, &shape))
    }
}
