//! Scaled dot-product attention and multi-head attention as functions on Vars, with
//! PyTorch's semantics and `nn.MultiheadAttention`'s parameter layout.

use graft_autograd::Var;
use graft_tensor::{Float, Result, Tensor, TensorError};
use rand::RngCore;

use super::{dropout, try_linear};

/// An attention mask over the scores `[..., L, S]` (broadcast against them).
///
/// PyTorch uses both bool conventions: `F.scaled_dot_product_attention` takes a bool mask
/// that is true where attention is *allowed* ([`AttnMask::Allow`]), `nn.MultiheadAttention`
/// and the Transformer layers one that is true where it is *blocked*
/// ([`AttnMask::Block`]). Naming the convention here keeps the two apart.
#[derive(Clone, Copy)]
pub enum AttnMask<'a, T: Float> {
    /// True where a query may attend to a key; false positions get −∞.
    Allow(&'a Tensor<bool>),
    /// True where a query may not attend to a key (gets −∞).
    Block(&'a Tensor<bool>),
    /// Added to the scores before the softmax (it has a gradient).
    Add(&'a Var<T>),
}

/// Options of [`try_scaled_dot_product_attention`], PyTorch's names.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct SdpaOptions {
    /// Blocks key j for query i when j > i (top-left aligned, as PyTorch).
    pub is_causal: bool,
    /// Multiplies q·kᵀ; `None` means 1/√E.
    pub scale: Option<f64>,
    /// Dropout on the attention weights (applied whenever > 0, as in PyTorch's function).
    pub dropout_p: f64,
}

/// The lower-triangular "may attend" mask `[l, s]`: true where j ≤ i.
pub fn causal_mask(l: usize, s: usize) -> Tensor<bool> {
    let data: Vec<bool> = (0..l * s).map(|k| k % s <= k / s).collect();
    Tensor::from_vec(data, &[l, s])
}

/// softmax(q kᵀ · scale + mask) over the last dim: the attention weights `[..., L, S]`.
pub(crate) fn attention_weights<T: Float>(
    op: &str,
    q: &Var<T>,
    k: &Var<T>,
    mask: &[AttnMask<'_, T>],
    is_causal: bool,
    scale: f64,
) -> Result<Var<T>> {
    let scores = q
        .try_matmul(&k.try_transpose(-2, -1)?)?
        .mul_scalar(T::from_f64(scale));
    let (l, s) = (q.shape()[q.ndim() - 2], k.shape()[k.ndim() - 2]);
    let neg_inf = Var::new(Tensor::scalar(T::from_f64(f64::NEG_INFINITY)));
    let mut scores = scores;
    let shape_err = |m: &[usize]| {
        TensorError::new(
            op,
            format!(
                "mask {m:?} does not broadcast to the scores {:?}",
                scores_shape(q, k)
            ),
        )
    };
    for m in mask {
        scores = match m {
            AttnMask::Allow(b) => {
                Var::try_where_cond(b, &scores, &neg_inf).map_err(|_| shape_err(b.shape()))?
            }
            AttnMask::Block(b) => {
                Var::try_where_cond(b, &neg_inf, &scores).map_err(|_| shape_err(b.shape()))?
            }
            AttnMask::Add(a) => scores.try_add(a).map_err(|_| shape_err(a.shape()))?,
        };
        if scores.shape() != scores_shape(q, k).as_slice() {
            return Err(shape_err(scores.shape()));
        }
    }
    if is_causal {
        scores = Var::try_where_cond(&causal_mask(l, s), &scores, &neg_inf)?;
    }
    scores.try_softmax(-1)
}

fn scores_shape<T: Float>(q: &Var<T>, k: &Var<T>) -> Vec<usize> {
    let mut s = q.shape().to_vec();
    let last = s.len() - 1;
    s[last] = k.shape()[k.ndim() - 2];
    s
}

/// PyTorch's `F.scaled_dot_product_attention`: softmax(q kᵀ · scale + mask) v for
/// `q` `[..., L, E]`, `k` `[..., S, E]`, `v` `[..., S, Ev]` (leading dims are batch dims and
/// must match) -> `[..., L, Ev]`.
///
/// `rng` draws the dropout mask; it is only needed when `opt.dropout_p > 0`. A row whose
/// keys are all masked out gives NaN, as PyTorch's reference implementation does.
pub fn try_scaled_dot_product_attention<T: Float>(
    q: &Var<T>,
    k: &Var<T>,
    v: &Var<T>,
    mask: Option<AttnMask<'_, T>>,
    opt: &SdpaOptions,
    rng: Option<&mut dyn RngCore>,
) -> Result<Var<T>> {
    let op = "scaled_dot_product_attention";
    let nd = q.ndim();
    if nd < 2
        || k.ndim() != nd
        || v.ndim() != nd
        || q.shape()[nd - 1] != k.shape()[nd - 1]
        || k.shape()[nd - 2] != v.shape()[nd - 2]
        || q.shape()[..nd - 2] != k.shape()[..nd - 2]
        || q.shape()[..nd - 2] != v.shape()[..nd - 2]
    {
        return Err(TensorError::new(
            op,
            format!(
                "expects query [..., L, E], key [..., S, E], value [..., S, Ev]; got {:?}, {:?}, {:?}",
                q.shape(),
                k.shape(),
                v.shape()
            ),
        ));
    }
    let e = q.shape()[nd - 1];
    let scale = opt.scale.unwrap_or(1.0 / (e as f64).sqrt());
    let masks: Vec<AttnMask<'_, T>> = mask.into_iter().collect();
    let w = attention_weights(op, q, k, &masks, opt.is_causal, scale)?;
    let w = apply_dropout(op, w, opt.dropout_p, rng)?;
    w.try_matmul(v)
}

/// [`try_scaled_dot_product_attention`], panicking on bad shapes.
#[track_caller]
pub fn scaled_dot_product_attention<T: Float>(
    q: &Var<T>,
    k: &Var<T>,
    v: &Var<T>,
    mask: Option<AttnMask<'_, T>>,
    opt: &SdpaOptions,
    rng: Option<&mut dyn RngCore>,
) -> Var<T> {
    try_scaled_dot_product_attention(q, k, v, mask, opt, rng).unwrap_or_else(|e| panic!("{e}"))
}

fn apply_dropout<T: Float>(
    op: &str,
    w: Var<T>,
    p: f64,
    rng: Option<&mut dyn RngCore>,
) -> Result<Var<T>> {
    if p <= 0.0 {
        return Ok(w);
    }
    match rng {
        Some(mut r) => Ok(dropout(&w, p, true, &mut r)),
        None => Err(TensorError::new(
            op,
            format!("dropout {p} needs a random number generator"),
        )),
    }
}

/// `nn.MultiheadAttention`'s parameters: `in_proj_weight` `[3E, E]` (q, k, v rows in that
/// order), `in_proj_bias` `[3E]`, `out_proj.weight` `[E, E]`, `out_proj.bias` `[E]`.
#[derive(Clone, Copy)]
pub struct MhaWeights<'a, T: Float> {
    /// `[3E, E]`.
    pub in_proj_weight: &'a Var<T>,
    /// `[3E]`, if the module has biases.
    pub in_proj_bias: Option<&'a Var<T>>,
    /// `[E, E]`.
    pub out_proj_weight: &'a Var<T>,
    /// `[E]`, if the module has biases.
    pub out_proj_bias: Option<&'a Var<T>>,
}

/// Options of [`try_multi_head_attention`], PyTorch's names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MhaOptions {
    /// Heads; must divide the embedding size.
    pub num_heads: usize,
    /// Inputs and output are `[N, L, E]` instead of `[L, N, E]`.
    pub batch_first: bool,
    /// Dropout on the attention weights.
    pub dropout: f64,
    /// Whether dropout is active.
    pub training: bool,
    /// Return the attention weights too.
    pub need_weights: bool,
    /// Average the returned weights over heads (`[N, L, S]`) instead of `[N, h, L, S]`.
    pub average_attn_weights: bool,
    /// Adds the causal mask (key j blocked for query i when j > i).
    pub is_causal: bool,
}

impl MhaOptions {
    /// `num_heads` heads, time-first, no dropout, head-averaged weights returned.
    pub fn new(num_heads: usize) -> Self {
        MhaOptions {
            num_heads,
            batch_first: false,
            dropout: 0.0,
            training: false,
            need_weights: true,
            average_attn_weights: true,
            is_causal: false,
        }
    }
}

/// PyTorch's multi-head attention forward: projects query, key and value with the three
/// blocks of `in_proj_weight`, attends per head with scale 1/√(E/h), and projects the
/// concatenated heads with `out_proj`.
///
/// `query` is `[L, N, E]`, `key`/`value` `[S, N, E]` (batch-first: `[N, L, E]`,
/// `[N, S, E]`); pass the same Var three times for self-attention. `key_padding_mask`
/// `[N, S]` is true where a key is ignored. `attn_mask` is `[L, S]` or `[N·h, L, S]`.
/// Returns the output (the query's layout) and, when asked, the attention weights (after
/// dropout, as PyTorch returns them). Unbatched 2-D inputs (`[L, E]`, `[S, E]`, with
/// `key_padding_mask` `[S]` and `attn_mask` `[L, S]` or `[h, L, S]`) are a batch of one, as
/// in PyTorch: the output is `[L, E]` and the weights `[L, S]` (or `[h, L, S]`).
#[allow(clippy::too_many_arguments)]
pub fn try_multi_head_attention<T: Float>(
    query: &Var<T>,
    key: &Var<T>,
    value: &Var<T>,
    w: &MhaWeights<'_, T>,
    key_padding_mask: Option<&Tensor<bool>>,
    attn_mask: Option<AttnMask<'_, T>>,
    opt: &MhaOptions,
    rng: Option<&mut dyn RngCore>,
) -> Result<(Var<T>, Option<Var<T>>)> {
    let op = "multi_head_attention";
    let h = opt.num_heads;
    let bad = |why: String| {
        TensorError::new(
            op,
            format!(
                "query {:?}, key {:?}, value {:?}: {why}",
                query.shape(),
                key.shape(),
                value.shape()
            ),
        )
    };
    if query.ndim() == 2 && key.ndim() == 2 && value.ndim() == 2 {
        return unbatched_mha(query, key, value, w, key_padding_mask, attn_mask, opt, rng);
    }
    if query.ndim() != 3 || key.ndim() != 3 || value.ndim() != 3 {
        return Err(bad(
            "expects 3-D query, key and value, or 2-D ones ([L, E], [S, E]: unbatched)".into(),
        ));
    }
    let e = query.shape()[2];
    if h == 0 || !e.is_multiple_of(h) {
        return Err(bad(format!("{h} heads do not divide embed_dim {e}")));
    }
    let (nb, sq) = if opt.batch_first { (0, 1) } else { (1, 0) };
    let (n, l, s) = (query.shape()[nb], query.shape()[sq], key.shape()[sq]);
    if key.shape() != value.shape() || key.shape()[nb] != n || key.shape()[2] != e {
        return Err(bad(format!(
            "key and value must both be {}",
            if opt.batch_first {
                format!("[{n}, S, {e}]")
            } else {
                format!("[S, {n}, {e}]")
            }
        )));
    }
    if w.in_proj_weight.shape() != [3 * e, e] || w.out_proj_weight.shape() != [e, e] {
        return Err(bad(format!(
            "in_proj_weight {:?} (expected [{}, {e}]), out_proj.weight {:?} (expected [{e}, {e}])",
            w.in_proj_weight.shape(),
            3 * e,
            w.out_proj_weight.shape()
        )));
    }
    // Batch-first [N, L, E] from here on.
    let to_bf = |x: &Var<T>| -> Result<Var<T>> {
        if opt.batch_first {
            Ok(x.clone())
        } else {
            x.try_transpose(0, 1)
        }
    };
    let hd = e / h;
    // [N, len, E] -> projected with rows `block` of in_proj -> [N, h, len, hd].
    let project = |x: &Var<T>, block: usize, len: usize| -> Result<Var<T>> {
        let wb = w.in_proj_weight.try_narrow(0, block * e, e)?;
        let bb = match w.in_proj_bias {
            Some(b) => Some(b.try_narrow(0, block * e, e)?),
            None => None,
        };
        try_linear(&to_bf(x)?, &wb, bb.as_ref())?
            .try_reshape(&[n, len, h, hd])?
            .try_permute(&[0, 2, 1, 3])
    };
    let q = project(query, 0, l)?;
    let k = project(key, 1, s)?;
    let v = project(value, 2, s)?;
    let mut masks = Vec::new();
    let kpm;
    if let Some(m) = key_padding_mask {
        if m.shape() != [n, s] {
            return Err(bad(format!(
                "key_padding_mask must be [{n}, {s}], got {:?}",
                m.shape()
            )));
        }
        kpm = m.reshape(&[n, 1, 1, s]);
        masks.push(AttnMask::Block(&kpm));
    }
    let reshaped_bool;
    let reshaped_add;
    if let Some(m) = attn_mask {
        let shape = match m {
            AttnMask::Allow(b) | AttnMask::Block(b) => b.shape().to_vec(),
            AttnMask::Add(a) => a.shape().to_vec(),
        };
        if shape == [l, s] {
            masks.push(m);
        } else if shape == [n * h, l, s] {
            let four = [n, h, l, s];
            masks.push(match m {
                AttnMask::Allow(b) => {
                    reshaped_bool = b.reshape(&four);
                    AttnMask::Allow(&reshaped_bool)
                }
                AttnMask::Block(b) => {
                    reshaped_bool = b.reshape(&four);
                    AttnMask::Block(&reshaped_bool)
                }
                AttnMask::Add(a) => {
                    reshaped_add = a.try_reshape(&four)?;
                    AttnMask::Add(&reshaped_add)
                }
            });
        } else {
            return Err(bad(format!(
                "attn_mask must be [{l}, {s}] or [{}, {l}, {s}], got {shape:?}",
                n * h
            )));
        }
    }
    let scale = 1.0 / (hd as f64).sqrt();
    let weights = attention_weights(op, &q, &k, &masks, opt.is_causal, scale)?;
    let p = if opt.training { opt.dropout } else { 0.0 };
    let weights = apply_dropout(op, weights, p, rng)?;
    let heads = weights.try_matmul(&v)?; // [N, h, L, hd]
    let merged = heads.try_permute(&[0, 2, 1, 3])?.try_reshape(&[n, l, e])?;
    let out = try_linear(&merged, w.out_proj_weight, w.out_proj_bias)?;
    let out = if opt.batch_first {
        out
    } else {
        out.try_transpose(0, 1)?
    };
    let returned = if !opt.need_weights {
        None
    } else if opt.average_attn_weights {
        Some(weights.try_mean_dims(&[1], false)?)
    } else {
        Some(weights)
    };
    Ok((out, returned))
}

/// [`try_multi_head_attention`] on unbatched inputs: a batch of one, batch-first, whose
/// outputs drop the batch dim.
#[allow(clippy::too_many_arguments)]
fn unbatched_mha<T: Float>(
    query: &Var<T>,
    key: &Var<T>,
    value: &Var<T>,
    w: &MhaWeights<'_, T>,
    key_padding_mask: Option<&Tensor<bool>>,
    attn_mask: Option<AttnMask<'_, T>>,
    opt: &MhaOptions,
    rng: Option<&mut dyn RngCore>,
) -> Result<(Var<T>, Option<Var<T>>)> {
    let kpm = match key_padding_mask {
        Some(m) if m.ndim() != 1 => {
            return Err(TensorError::new(
                "multi_head_attention",
                format!(
                    "query {:?} is unbatched, so key_padding_mask must be [S], got {:?}",
                    query.shape(),
                    m.shape()
                ),
            ))
        }
        Some(m) => Some(m.reshape(&[1, m.numel()])),
        None => None,
    };
    let one = MhaOptions {
        batch_first: true,
        ..*opt
    };
    let (out, weights) = try_multi_head_attention(
        &query.try_unsqueeze(0)?,
        &key.try_unsqueeze(0)?,
        &value.try_unsqueeze(0)?,
        w,
        kpm.as_ref(),
        attn_mask,
        &one,
        rng,
    )?;
    let weights = match weights {
        Some(a) => Some(a.try_squeeze_dim(0)?),
        None => None,
    };
    Ok((out.try_squeeze_dim(0)?, weights))
}
