//! Class-index and class-probability losses: cross-entropy and negative log-likelihood.

use super::reduction::{c, reduce, Reduction};
use graft_autograd::Var;
use graft_tensor::{or_panic, Float, Result, Tensor, TensorError};

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
    let (classes, batched, expected): (usize, bool, Vec<usize>) = match input_shape {
        [] => return Err(no_class_dim(op, target_shape)),
        [c] => (*c, false, vec![]),
        [n, c, rest @ ..] => (
            *c,
            true,
            std::iter::once(*n).chain(rest.iter().copied()).collect(),
        ),
    };
    if target_shape != expected.as_slice() {
        return Err(TensorError::shape_mismatch(op, format!(
            "target shape {target_shape:?} does not match input shape {input_shape:?}: expected target shape {expected:?} (the class dim of the input is {})",
            if batched { 1 } else { 0 }
        )));
    }
    check_class_weight(op, weight, classes, input_shape)?;
    Ok(ClassLayout { classes, batched })
}

/// The error for an input without a class dim, shared by index and probability targets.
fn no_class_dim(op: &str, target_shape: &[usize]) -> TensorError {
    TensorError::new(
        op,
        format!(
            "input must have shape [C], [N, C] or [N, C, d1, ...], got [] (target shape {target_shape:?})"
        ),
    )
}

/// Class weights, when given, must be `[C]`.
fn check_class_weight<T: Float>(
    op: &str,
    weight: Option<&Tensor<T>>,
    classes: usize,
    input_shape: &[usize],
) -> Result<()> {
    match weight {
        Some(w) if w.shape() != [classes] => Err(TensorError::shape_mismatch(
            op,
            format!(
                "weight shape {:?} does not match the {classes} classes of input shape {input_shape:?} (expected [{classes}])",
                w.shape()
            ),
        )),
        _ => Ok(()),
    }
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
            return Err(TensorError::index_out_of_range(
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
    or_panic(try_cross_entropy(input, target))
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
    or_panic(try_cross_entropy_with(input, target, options))
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
    let lp = input.try_log_softmax(isize::from(layout.batched))?;
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
    or_panic(try_cross_entropy_probs(input, target))
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
    or_panic(try_cross_entropy_probs_with(input, target, options))
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
        return Err(no_class_dim(OP, target.shape()));
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
    check_class_weight(OP, options.weight.as_ref(), classes, input.shape())?;
    let ls = options.label_smoothing;
    check_label_smoothing(OP, ls, input.shape())?;
    let lp = input.try_log_softmax(class_dim as isize)?;
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
    Ok(reduce(losses, options.reduction))
}

/// Negative log-likelihood of log-probabilities against class indices, with PyTorch's
/// defaults (mean, no weights, `ignore_index = -100`): sample `i` loses `-input[i, t_i]`.
///
/// Shapes as in [`cross_entropy`]. Panics with the message of [`try_nll_loss`].
#[track_caller]
pub fn nll_loss<T: Float>(input: &Var<T>, target: &Tensor<i64>) -> Var<T> {
    or_panic(try_nll_loss(input, target))
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
    or_panic(try_nll_loss_with(input, target, options))
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
