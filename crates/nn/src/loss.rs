//! Loss functions in PyTorch's names and semantics (`torch.nn.functional.*_loss`), each a
//! composition of autograd ops: gradients of any order come from the primitives, and
//! nothing here states a gradient rule.
//!
//! Every loss takes a [`Reduction`] (`Mean`, `Sum` or `None`; [`kl_div`] also has
//! `BatchMean`). Float targets are [`Var`]s, so a loss is differentiable in its target too
//! (pass `Var::new(t)` for a constant target); class-index targets are `Tensor<i64>`.
//!
//! Each loss has a `try_` form that returns a [`TensorError`] naming the loss and the
//! shapes involved (mismatched input and target shapes, out-of-range class indices, bad
//! parameters); the plain form panics with the same message.
//!
//! ```
//! use graft_autograd::Var;
//! use graft_nn::loss::{cross_entropy, cross_entropy_with, mse_loss, CrossEntropyOptions, Reduction};
//! use graft_tensor::Tensor;
//!
//! let logits = Var::parameter(Tensor::from_vec(vec![2.0f64, 0.5, -1.0, 0.1, 0.2, 3.0], &[2, 3]));
//! let labels = Tensor::from_vec(vec![0i64, 2], &[2]);
//! let loss = cross_entropy(&logits, &labels);
//! loss.backward().unwrap();
//! assert!(loss.item() > 0.0 && logits.grad().is_some());
//!
//! let smoothed = cross_entropy_with(
//!     &logits,
//!     &labels,
//!     &CrossEntropyOptions { label_smoothing: 0.1, ..Default::default() },
//! );
//! assert!(smoothed.item() > loss.item());
//!
//! let target = Var::new(Tensor::zeros(&[2, 3]));
//! let per_element = mse_loss(&logits, &target, Reduction::None);
//! assert_eq!(per_element.shape(), &[2, 3]);
//! ```

use graft_autograd::Var;
use graft_tensor::{broadcast_shapes, Float, Result, Tensor, TensorError};

/// How a loss reduces its per-element (or per-sample) losses: PyTorch's `reduction`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Reduction {
    /// The losses unreduced, one per element (or per sample for class losses).
    None,
    /// The mean (PyTorch's default). Class-index losses divide by the total weight of the
    /// samples that are not ignored, as PyTorch does.
    #[default]
    Mean,
    /// The sum.
    Sum,
}

/// The reductions of [`kl_div`]: [`Reduction`]'s three plus `BatchMean`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum KlDivReduction {
    /// The pointwise losses unreduced.
    None,
    /// The sum divided by the batch size `input.shape()[0]`: the true KL divergence per
    /// sample, and what PyTorch recommends.
    BatchMean,
    /// The sum over all elements.
    Sum,
    /// The sum divided by the number of elements (PyTorch's default, which is not the KL
    /// divergence of anything unless there is one class).
    #[default]
    Mean,
}

impl From<Reduction> for KlDivReduction {
    fn from(r: Reduction) -> Self {
        match r {
            Reduction::None => KlDivReduction::None,
            Reduction::Mean => KlDivReduction::Mean,
            Reduction::Sum => KlDivReduction::Sum,
        }
    }
}

/// Options of [`cross_entropy_with`] and [`cross_entropy_probs_with`] (PyTorch's keyword
/// arguments, with PyTorch's defaults from `Default`).
#[derive(Clone, Debug)]
pub struct CrossEntropyOptions<T: Float = f32> {
    /// Per-class weights, shape `[C]` (no gradient flows into them).
    pub weight: Option<Tensor<T>>,
    /// Samples whose class index equals this contribute nothing (default -100). It may be
    /// a real class id. Not used with probability targets.
    pub ignore_index: i64,
    /// Mixes the target with the uniform distribution: `(1 - ls)·target + ls/C`, in `[0, 1]`.
    pub label_smoothing: T,
    /// Mean (default), sum or none.
    pub reduction: Reduction,
}

impl<T: Float> Default for CrossEntropyOptions<T> {
    fn default() -> Self {
        CrossEntropyOptions {
            weight: None,
            ignore_index: -100,
            label_smoothing: T::ZERO,
            reduction: Reduction::Mean,
        }
    }
}

/// Options of [`nll_loss_with`] (PyTorch's keyword arguments and defaults).
#[derive(Clone, Debug)]
pub struct NllLossOptions<T: Float = f32> {
    /// Per-class weights, shape `[C]` (no gradient flows into them).
    pub weight: Option<Tensor<T>>,
    /// Samples whose class index equals this contribute nothing (default -100).
    pub ignore_index: i64,
    /// Mean (default), sum or none.
    pub reduction: Reduction,
}

impl<T: Float> Default for NllLossOptions<T> {
    fn default() -> Self {
        NllLossOptions {
            weight: None,
            ignore_index: -100,
            reduction: Reduction::Mean,
        }
    }
}

#[track_caller]
fn unwrap<V>(r: Result<V>) -> V {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

fn c<T: Float>(v: f64) -> T {
    T::from_f64(v)
}

fn constant<T: Float>(v: T) -> Var<T> {
    Var::new(Tensor::scalar(v))
}

fn reduce<T: Float>(losses: Var<T>, reduction: Reduction) -> Var<T> {
    match reduction {
        Reduction::None => losses,
        Reduction::Mean => losses.mean(),
        Reduction::Sum => losses.sum(),
    }
}

/// Input and target must have the same shape: PyTorch only warns when they broadcast,
/// and a broadcast there (`[N, 1]` against `[N]`) is almost always a bug.
fn same_shape<T: Float>(op: &str, input: &Var<T>, target: &Var<T>) -> Result<()> {
    if input.shape() == target.shape() {
        Ok(())
    } else {
        Err(TensorError::new(
            op,
            format!(
                "input shape {:?} and target shape {:?} must be equal",
                input.shape(),
                target.shape()
            ),
        ))
    }
}

/// Elementwise mean squared error: `(input - target)²`, reduced.
///
/// Panics with the message of [`try_mse_loss`].
#[track_caller]
pub fn mse_loss<T: Float>(input: &Var<T>, target: &Var<T>, reduction: Reduction) -> Var<T> {
    unwrap(try_mse_loss(input, target, reduction))
}

/// Elementwise mean squared error `(input - target)²`, reduced; an error if the shapes
/// differ.
pub fn try_mse_loss<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    reduction: Reduction,
) -> Result<Var<T>> {
    same_shape("mse_loss", input, target)?;
    Ok(reduce((input - target).square(), reduction))
}

/// Elementwise absolute error: `|input - target|`, reduced (gradient 0 where they are equal).
///
/// Panics with the message of [`try_l1_loss`].
#[track_caller]
pub fn l1_loss<T: Float>(input: &Var<T>, target: &Var<T>, reduction: Reduction) -> Var<T> {
    unwrap(try_l1_loss(input, target, reduction))
}

/// Elementwise absolute error `|input - target|`, reduced; an error if the shapes differ.
pub fn try_l1_loss<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    reduction: Reduction,
) -> Result<Var<T>> {
    same_shape("l1_loss", input, target)?;
    Ok(reduce((input - target).abs(), reduction))
}

/// Huber loss: with `d = input - target`, `0.5·d²` where `|d| < delta`, else
/// `delta·(|d| - 0.5·delta)`, reduced.
///
/// Panics with the message of [`try_huber_loss`].
#[track_caller]
pub fn huber_loss<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    delta: T,
    reduction: Reduction,
) -> Var<T> {
    unwrap(try_huber_loss(input, target, delta, reduction))
}

/// Huber loss (see [`huber_loss`]); an error if the shapes differ or `delta <= 0`.
pub fn try_huber_loss<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    delta: T,
    reduction: Reduction,
) -> Result<Var<T>> {
    same_shape("huber_loss", input, target)?;
    if delta.is_nan() || delta <= T::ZERO {
        return Err(TensorError::new(
            "huber_loss",
            format!(
                "delta must be positive, got {delta} (input shape {:?})",
                input.shape()
            ),
        ));
    }
    let d = input - target;
    let abs = d.abs();
    let quadratic = abs.value().lt_scalar(delta);
    let inner = d.square().mul_scalar(c(0.5));
    let outer = abs.sub_scalar(delta * c(0.5)).mul_scalar(delta);
    Ok(reduce(
        Var::where_cond(&quadratic, &inner, &outer),
        reduction,
    ))
}

/// Smooth L1 loss: with `d = input - target`, `0.5·d²/beta` where `|d| < beta`, else
/// `|d| - 0.5·beta`, reduced; `beta = 0` is the L1 loss. Equals `huber_loss / beta`.
///
/// Panics with the message of [`try_smooth_l1_loss`].
#[track_caller]
pub fn smooth_l1_loss<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    beta: T,
    reduction: Reduction,
) -> Var<T> {
    unwrap(try_smooth_l1_loss(input, target, beta, reduction))
}

/// Smooth L1 loss (see [`smooth_l1_loss`]); an error if the shapes differ or `beta < 0`.
pub fn try_smooth_l1_loss<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    beta: T,
    reduction: Reduction,
) -> Result<Var<T>> {
    same_shape("smooth_l1_loss", input, target)?;
    if beta.is_nan() || beta < T::ZERO {
        return Err(TensorError::new(
            "smooth_l1_loss",
            format!(
                "beta must be >= 0, got {beta} (input shape {:?})",
                input.shape()
            ),
        ));
    }
    let d = input - target;
    let abs = d.abs();
    if beta == T::ZERO {
        // The quadratic branch would divide by zero (and its unused gradient be NaN).
        return Ok(reduce(abs, reduction));
    }
    let quadratic = abs.value().lt_scalar(beta);
    let inner = d.square().mul_scalar(c::<T>(0.5) / beta);
    let outer = abs.sub_scalar(beta * c(0.5));
    Ok(reduce(
        Var::where_cond(&quadratic, &inner, &outer),
        reduction,
    ))
}

/// `log_softmax(x, dim)` as `(x - m) - ln Σ e^(x - m)` with `m` the (constant) max along
/// `dim`. Autograd's `x - logsumexp(x)` adds `m` back before subtracting, which costs an
/// ulp of `m` in absolute error: 1e-13 for f64 logits near 1000, 6e-5 for f32. Here
/// `x - m` is exact where it matters (Sterbenz), so the log-probabilities are accurate to
/// their own size. Value and gradients are otherwise the same (`m` is a constant).
fn log_softmax<T: Float>(x: &Var<T>, dim: usize) -> Result<Var<T>> {
    let m =
        x.value()
            .try_max_dims(&[dim as isize], true)?
            .map(|v| if v.is_finite() { v } else { T::ZERO });
    let shifted = x - &Var::new(m);
    let log_sum = shifted.exp().try_sum_dims(&[dim as isize], true)?.log();
    Ok(&shifted - &log_sum)
}

/// The class layout of a class-index loss: `input` is `[C]` (one sample, target `[]`),
/// `[N, C]` (target `[N]`) or `[N, C, d1, ...]` (target `[N, d1, ...]`); the class dim is 1.
struct ClassLayout {
    classes: usize,
    /// False for the unbatched `[C]` form.
    batched: bool,
}

fn class_layout<T: Float>(
    op: &str,
    input_shape: &[usize],
    target_shape: &[usize],
    weight: Option<&Tensor<T>>,
) -> Result<ClassLayout> {
    let err = |msg: String| Err(TensorError::new(op, msg));
    let (classes, batched, expected): (usize, bool, Vec<usize>) = match input_shape {
        [] => {
            return err(format!(
                "input must have shape [C], [N, C] or [N, C, d1, ...], got [] (target shape {target_shape:?})"
            ))
        }
        [c] => (*c, false, vec![]),
        [n, c, rest @ ..] => (*c, true, std::iter::once(*n).chain(rest.iter().copied()).collect()),
    };
    if target_shape != expected.as_slice() {
        return err(format!(
            "target shape {target_shape:?} does not match input shape {input_shape:?}: expected target shape {expected:?} (the class dim of the input is {})",
            if batched { 1 } else { 0 }
        ));
    }
    if let Some(w) = weight {
        if w.shape() != [classes] {
            return err(format!(
                "weight shape {:?} does not match the {classes} classes of input shape {input_shape:?} (expected [{classes}])",
                w.shape()
            ));
        }
    }
    Ok(ClassLayout { classes, batched })
}

fn check_label_smoothing<T: Float>(op: &str, ls: T, input_shape: &[usize]) -> Result<()> {
    if ls.is_nan() || ls < T::ZERO || ls > T::ONE {
        return Err(TensorError::new(
            op,
            format!("label_smoothing must be in [0, 1], got {ls} (input shape {input_shape:?})"),
        ));
    }
    Ok(())
}

/// `weight` reshaped to broadcast along the class dim of a `ndim`-d input.
fn class_weight_var<T: Float>(w: &Tensor<T>, ndim: usize, batched: bool) -> Var<T> {
    let mut shape = vec![1; ndim];
    shape[usize::from(batched)] = w.numel();
    Var::new(w.reshape(&shape))
}

/// The weighted negative log-likelihood of class-index targets, with optional label
/// smoothing, on log-probabilities `lp` whose shapes were checked by [`class_layout`].
#[allow(clippy::too_many_arguments)]
fn nll_core<T: Float>(
    op: &str,
    lp: &Var<T>,
    target: &Tensor<i64>,
    layout: &ClassLayout,
    weight: Option<&Tensor<T>>,
    ignore_index: i64,
    label_smoothing: T,
    reduction: Reduction,
) -> Result<Var<T>> {
    let classes = layout.classes;
    let lp = if layout.batched {
        lp.clone()
    } else {
        lp.try_reshape(&[1, classes])?
    };
    let tshape: Vec<usize> = if layout.batched {
        target.shape().to_vec()
    } else {
        vec![1]
    };
    let weights = weight.map(Tensor::to_vec);
    let labels = target.to_vec();
    let mut safe = Vec::with_capacity(labels.len());
    let mut per_sample = Vec::with_capacity(labels.len());
    let mut total = 0.0f64;
    let mut ignored = 0usize;
    for (i, &t) in labels.iter().enumerate() {
        if t == ignore_index {
            safe.push(0);
            per_sample.push(T::ZERO);
            ignored += 1;
            continue;
        }
        if t < 0 || t as usize >= classes {
            return Err(TensorError::new(
                op,
                format!(
                    "target class {t} at flat position {i} is out of range for {classes} classes (input shape {:?}, target shape {:?}, ignore_index {ignore_index})",
                    lp.shape(),
                    target.shape()
                ),
            ));
        }
        safe.push(t);
        let w = weights.as_ref().map_or(T::ONE, |w| w[t as usize]);
        per_sample.push(w);
        total += w.to_f64();
    }
    let mut index_shape = tshape.clone();
    index_shape.insert(1, 1);
    let picked = lp
        .try_gather(1, &Tensor::from_vec(safe, &index_shape))?
        .try_reshape(&tshape)?;
    let plain = weight.is_none() && ignored == 0;
    let mut losses = if plain {
        -&picked
    } else {
        -(&picked * &Var::new(Tensor::from_vec(per_sample, &tshape)))
    };
    if label_smoothing > T::ZERO {
        let weighted = match weight {
            Some(w) => &lp * &class_weight_var(w, lp.ndim(), true),
            None => lp.clone(),
        };
        let mut smooth = weighted
            .try_sum_dims(&[1], false)?
            .mul_scalar(-T::ONE / c(classes as f64));
        if ignored > 0 {
            let keep: Vec<T> = labels
                .iter()
                .map(|&t| if t == ignore_index { T::ZERO } else { T::ONE })
                .collect();
            smooth = &smooth * &Var::new(Tensor::from_vec(keep, &tshape));
        }
        losses = losses.mul_scalar(T::ONE - label_smoothing) + smooth.mul_scalar(label_smoothing);
    }
    Ok(match reduction {
        Reduction::None if layout.batched => losses,
        Reduction::None => losses.try_reshape(&[])?,
        Reduction::Sum => losses.sum(),
        // PyTorch divides by the summed weight of the samples kept (NaN if none is kept).
        Reduction::Mean => losses.sum().div_scalar(c(total)),
    })
}

/// Cross-entropy of logits against class indices with PyTorch's defaults (mean, no class
/// weights, `ignore_index = -100`, no label smoothing).
///
/// `input` is `[N, C]` (or `[N, C, d1, ...]` with target `[N, d1, ...]`, or `[C]` with a
/// 0-d target); it is computed as `-log_softmax(input, 1)[target]`, which stays finite
/// and exact for logits of any size. Panics with the message of [`try_cross_entropy`].
#[track_caller]
pub fn cross_entropy<T: Float>(input: &Var<T>, target: &Tensor<i64>) -> Var<T> {
    unwrap(try_cross_entropy(input, target))
}

/// [`cross_entropy`] returning an error for mismatched shapes or out-of-range classes.
pub fn try_cross_entropy<T: Float>(input: &Var<T>, target: &Tensor<i64>) -> Result<Var<T>> {
    try_cross_entropy_with(input, target, &CrossEntropyOptions::default())
}

/// Cross-entropy of logits against class indices, with class weights, `ignore_index`,
/// label smoothing and a reduction.
///
/// With `lp = log_softmax(input, 1)`, `w` the class weights (all 1 if absent) and
/// `ls` the label smoothing, sample `i` loses
/// `(1 - ls)·(-w[t_i]·lp[i, t_i]) + ls·(-(1/C)·Σ_c w[c]·lp[i, c])`, and 0 if
/// `t_i == ignore_index`. `Mean` divides the sum by `Σ w[t_i]` over the samples not
/// ignored (NaN when all are ignored, as in PyTorch). Panics with the message of
/// [`try_cross_entropy_with`].
#[track_caller]
pub fn cross_entropy_with<T: Float>(
    input: &Var<T>,
    target: &Tensor<i64>,
    options: &CrossEntropyOptions<T>,
) -> Var<T> {
    unwrap(try_cross_entropy_with(input, target, options))
}

/// [`cross_entropy_with`] returning an error naming `cross_entropy` and the shapes for
/// mismatched input/target/weight shapes, out-of-range classes or a bad label smoothing.
pub fn try_cross_entropy_with<T: Float>(
    input: &Var<T>,
    target: &Tensor<i64>,
    options: &CrossEntropyOptions<T>,
) -> Result<Var<T>> {
    const OP: &str = "cross_entropy";
    let layout = class_layout(OP, input.shape(), target.shape(), options.weight.as_ref())?;
    check_label_smoothing(OP, options.label_smoothing, input.shape())?;
    let lp = log_softmax(input, usize::from(layout.batched))?;
    nll_core(
        OP,
        &lp,
        target,
        &layout,
        options.weight.as_ref(),
        options.ignore_index,
        options.label_smoothing,
        options.reduction,
    )
}

/// Cross-entropy of logits against class probabilities (PyTorch's "probability targets"),
/// mean over samples, no smoothing.
///
/// `target` has the input's shape; it is a Var, so the loss is differentiable in it too.
/// Panics with the message of [`try_cross_entropy_probs`].
#[track_caller]
pub fn cross_entropy_probs<T: Float>(input: &Var<T>, target: &Var<T>) -> Var<T> {
    unwrap(try_cross_entropy_probs(input, target))
}

/// [`cross_entropy_probs`] returning an error when the shapes differ.
pub fn try_cross_entropy_probs<T: Float>(input: &Var<T>, target: &Var<T>) -> Result<Var<T>> {
    try_cross_entropy_probs_with(input, target, &CrossEntropyOptions::default())
}

/// Cross-entropy of logits against class probabilities, with class weights, label
/// smoothing and a reduction (`ignore_index` does not apply and is not used).
///
/// With `lp = log_softmax(input, 1)` and `t' = (1 - ls)·target + ls/C`, sample `i` loses
/// `-Σ_c w[c]·t'[i, c]·lp[i, c]`; `Mean` divides the sum by the number of samples
/// (`numel / C`), not by the weights. Panics with the message of
/// [`try_cross_entropy_probs_with`].
#[track_caller]
pub fn cross_entropy_probs_with<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    options: &CrossEntropyOptions<T>,
) -> Var<T> {
    unwrap(try_cross_entropy_probs_with(input, target, options))
}

/// [`cross_entropy_probs_with`] returning an error naming `cross_entropy` and the shapes
/// when input and target (or the class weights) do not fit.
pub fn try_cross_entropy_probs_with<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    options: &CrossEntropyOptions<T>,
) -> Result<Var<T>> {
    const OP: &str = "cross_entropy";
    if input.ndim() == 0 {
        return Err(TensorError::new(
            OP,
            format!(
                "input must have shape [C], [N, C] or [N, C, d1, ...], got [] (target shape {:?})",
                target.shape()
            ),
        ));
    }
    if input.shape() != target.shape() {
        return Err(TensorError::new(
            OP,
            format!(
                "probability target shape {:?} must equal input shape {:?}",
                target.shape(),
                input.shape()
            ),
        ));
    }
    let batched = input.ndim() >= 2;
    let class_dim = usize::from(batched);
    let classes = input.shape()[class_dim];
    if let Some(w) = &options.weight {
        if w.shape() != [classes] {
            return Err(TensorError::new(
                OP,
                format!(
                    "weight shape {:?} does not match the {classes} classes of input shape {:?} (expected [{classes}])",
                    w.shape(),
                    input.shape()
                ),
            ));
        }
    }
    let ls = options.label_smoothing;
    check_label_smoothing(OP, ls, input.shape())?;
    let lp = log_softmax(input, class_dim)?;
    let smoothed = if ls > T::ZERO {
        target
            .mul_scalar(T::ONE - ls)
            .add_scalar(ls / c(classes as f64))
    } else {
        target.clone()
    };
    let mut terms = &lp * &smoothed;
    if let Some(w) = &options.weight {
        terms = &terms * &class_weight_var(w, input.ndim(), batched);
    }
    let losses = -terms.try_sum_dims(&[class_dim as isize], false)?;
    Ok(match options.reduction {
        Reduction::None => losses,
        Reduction::Sum => losses.sum(),
        Reduction::Mean => losses.mean(),
    })
}

/// Negative log-likelihood of log-probabilities against class indices, with PyTorch's
/// defaults (mean, no weights, `ignore_index = -100`): sample `i` loses `-input[i, t_i]`.
///
/// Shapes as in [`cross_entropy`]. Panics with the message of [`try_nll_loss`].
#[track_caller]
pub fn nll_loss<T: Float>(input: &Var<T>, target: &Tensor<i64>) -> Var<T> {
    unwrap(try_nll_loss(input, target))
}

/// [`nll_loss`] returning an error for mismatched shapes or out-of-range classes.
pub fn try_nll_loss<T: Float>(input: &Var<T>, target: &Tensor<i64>) -> Result<Var<T>> {
    try_nll_loss_with(input, target, &NllLossOptions::default())
}

/// Negative log-likelihood with class weights, `ignore_index` and a reduction: sample `i`
/// loses `-w[t_i]·input[i, t_i]` (0 if ignored), and `Mean` divides by `Σ w[t_i]` over the
/// samples kept. Panics with the message of [`try_nll_loss_with`].
#[track_caller]
pub fn nll_loss_with<T: Float>(
    input: &Var<T>,
    target: &Tensor<i64>,
    options: &NllLossOptions<T>,
) -> Var<T> {
    unwrap(try_nll_loss_with(input, target, options))
}

/// [`nll_loss_with`] returning an error naming `nll_loss` and the shapes.
pub fn try_nll_loss_with<T: Float>(
    input: &Var<T>,
    target: &Tensor<i64>,
    options: &NllLossOptions<T>,
) -> Result<Var<T>> {
    const OP: &str = "nll_loss";
    let layout = class_layout(OP, input.shape(), target.shape(), options.weight.as_ref())?;
    nll_core(
        OP,
        input,
        target,
        &layout,
        options.weight.as_ref(),
        options.ignore_index,
        T::ZERO,
        options.reduction,
    )
}

/// `ln(x)` clamped below at -100, as PyTorch's binary cross-entropy does, without a NaN
/// gradient where `x` is 0: the clamped positions take the log of a constant 1 instead.
fn log_clamped<T: Float>(x: &Var<T>) -> Var<T> {
    let floor = c::<T>(-100.0);
    let keep = x.value().log().ge_scalar(floor);
    if keep.count_true() == keep.numel() {
        return x.log();
    }
    let safe = Var::where_cond(&keep, x, &constant(T::ONE));
    Var::where_cond(&keep, &safe.log(), &constant(floor))
}

/// Binary cross-entropy of probabilities: `-(t·ln p + (1 - t)·ln(1 - p))`, each log
/// clamped at -100 as in PyTorch, reduced.
///
/// Where a log is clamped its gradient is 0 (PyTorch's hand-written backward instead
/// divides by `max(p(1-p), 1e-12)`); everywhere else the two agree. Prefer
/// [`binary_cross_entropy_with_logits`], which is exact for any logit. Panics with the
/// message of [`try_binary_cross_entropy`].
#[track_caller]
pub fn binary_cross_entropy<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    reduction: Reduction,
) -> Var<T> {
    unwrap(try_binary_cross_entropy(input, target, reduction))
}

/// [`binary_cross_entropy`] returning an error if the shapes differ or an input is
/// outside `[0, 1]`.
pub fn try_binary_cross_entropy<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    reduction: Reduction,
) -> Result<Var<T>> {
    const OP: &str = "binary_cross_entropy";
    same_shape(OP, input, target)?;
    if let Some(bad) = input
        .value()
        .to_vec()
        .into_iter()
        .find(|&p| !(p >= T::ZERO && p <= T::ONE))
    {
        return Err(TensorError::new(
            OP,
            format!(
                "all elements of input should be between 0 and 1, found {bad} (input shape {:?})",
                input.shape()
            ),
        ));
    }
    let log_p = log_clamped(input);
    let log_q = log_clamped(&input.rsub_scalar(T::ONE));
    let losses = -(target * &log_p + target.rsub_scalar(T::ONE) * log_q);
    Ok(reduce(losses, reduction))
}

/// `ln(1 + e^z)`, stable for any z and smooth at every order (no kink at 0): with
/// `m = -|z|` taken branchwise (`-z` where z > 0, `z` elsewhere, so each branch is
/// analytic), it is `z + ln(1 + e^m)` where z > 0 and `ln(1 + e^m)` elsewhere.
fn log1p_exp<T: Float>(z: &Var<T>) -> Var<T> {
    let positive = z.value().gt_scalar(T::ZERO);
    let m = Var::where_cond(&positive, &z.neg(), z);
    let r = m.exp().log1p();
    Var::where_cond(&positive, &(z + &r), &r)
}

/// Binary cross-entropy of logits: `-(pw·t·ln σ(x) + (1 - t)·ln(1 - σ(x)))`, reduced,
/// with `pw = pos_weight` (broadcast against the input, usually `[C]` along the last dim;
/// 1 when `None`, no gradient).
///
/// Computed as PyTorch does, `(1 - t)·x + (1 + (pw - 1)·t)·softplus(-x)` with a stable
/// softplus, so it is finite and exact for logits of any size, and smooth at `x = 0`.
/// Panics with the message of [`try_binary_cross_entropy_with_logits`].
#[track_caller]
pub fn binary_cross_entropy_with_logits<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    pos_weight: Option<&Tensor<T>>,
    reduction: Reduction,
) -> Var<T> {
    unwrap(try_binary_cross_entropy_with_logits(
        input, target, pos_weight, reduction,
    ))
}

/// [`binary_cross_entropy_with_logits`] returning an error if the shapes differ or
/// `pos_weight` does not broadcast to the input's shape.
pub fn try_binary_cross_entropy_with_logits<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    pos_weight: Option<&Tensor<T>>,
    reduction: Reduction,
) -> Result<Var<T>> {
    const OP: &str = "binary_cross_entropy_with_logits";
    same_shape(OP, input, target)?;
    if let Some(pw) = pos_weight {
        let fits = broadcast_shapes(pw.shape(), input.shape())
            .is_some_and(|s| s.as_slice() == input.shape());
        if !fits {
            return Err(TensorError::new(
                OP,
                format!(
                    "pos_weight shape {:?} does not broadcast to input shape {:?}",
                    pw.shape(),
                    input.shape()
                ),
            ));
        }
    }
    let softplus_neg = log1p_exp(&input.neg());
    let linear = &target.rsub_scalar(T::ONE) * input;
    let losses = match pos_weight {
        None => linear + softplus_neg,
        Some(pw) => {
            let scale = (target * &Var::new(pw.sub_scalar(T::ONE))).add_scalar(T::ONE);
            linear + scale * softplus_neg
        }
    };
    Ok(reduce(losses, reduction))
}

/// Kullback-Leibler divergence with `input` holding log-probabilities (PyTorch's
/// argument order): pointwise `target·(ln target - input)` (0 where target is 0), or
/// `e^target·(target - input)` when `log_target`, reduced.
///
/// Panics with the message of [`try_kl_div`].
#[track_caller]
pub fn kl_div<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    reduction: KlDivReduction,
    log_target: bool,
) -> Var<T> {
    unwrap(try_kl_div(input, target, reduction, log_target))
}

/// [`kl_div`] returning an error if the shapes differ.
pub fn try_kl_div<T: Float>(
    input: &Var<T>,
    target: &Var<T>,
    reduction: KlDivReduction,
    log_target: bool,
) -> Result<Var<T>> {
    same_shape("kl_div", input, target)?;
    let pointwise = if log_target {
        target.exp() * (target - input)
    } else {
        // t·ln t with 0·ln 0 = 0: the log sees a constant 1 where t is 0, so neither its
        // value nor its gradient is NaN there.
        let zero = target.value().eq_scalar(T::ZERO);
        let safe = Var::where_cond(&zero, &constant(T::ONE), target);
        target * &safe.log() - target * input
    };
    Ok(match reduction {
        KlDivReduction::None => pointwise,
        KlDivReduction::Sum => pointwise.sum(),
        KlDivReduction::Mean => pointwise.mean(),
        KlDivReduction::BatchMean if input.ndim() == 0 => pointwise.sum(),
        KlDivReduction::BatchMean => pointwise.sum().div_scalar(c(input.shape()[0] as f64)),
    })
}
