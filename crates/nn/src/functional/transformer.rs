//! The Transformer encoder layer (PyTorch's `nn.TransformerEncoderLayer`) as a function on
//! Vars: self-attention and a feed-forward block, each with a residual connection and a
//! layer norm, in post-norm or pre-norm (`norm_first`) order.

use graft_autograd::Var;
use graft_tensor::{Float, Result, Tensor};
use rand::RngCore;

use super::attention::{try_multi_head_attention, AttnMask, MhaOptions, MhaWeights};
use super::{dropout, try_layer_norm, try_linear};

/// The feed-forward block's activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedForwardActivation {
    /// max(x, 0).
    Relu,
    /// Exact (erf) GELU.
    Gelu,
}

/// An encoder layer's parameters under PyTorch's names (`self_attn.*`, `linear1.*`,
/// `linear2.*`, `norm1.*`, `norm2.*`).
#[derive(Clone, Copy)]
pub struct EncoderLayerWeights<'a, T: Float> {
    /// `self_attn.in_proj_weight`, `self_attn.in_proj_bias`, `self_attn.out_proj.*`.
    pub self_attn: MhaWeights<'a, T>,
    /// `linear1.weight` `[F, E]`.
    pub linear1_weight: &'a Var<T>,
    /// `linear1.bias` `[F]`.
    pub linear1_bias: Option<&'a Var<T>>,
    /// `linear2.weight` `[E, F]`.
    pub linear2_weight: &'a Var<T>,
    /// `linear2.bias` `[E]`.
    pub linear2_bias: Option<&'a Var<T>>,
    /// `norm1.weight` `[E]`.
    pub norm1_weight: Option<&'a Var<T>>,
    /// `norm1.bias` `[E]`.
    pub norm1_bias: Option<&'a Var<T>>,
    /// `norm2.weight` `[E]`.
    pub norm2_weight: Option<&'a Var<T>>,
    /// `norm2.bias` `[E]`.
    pub norm2_bias: Option<&'a Var<T>>,
}

/// Options of [`try_transformer_encoder_layer`], PyTorch's names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EncoderLayerOptions {
    /// Attention heads.
    pub nhead: usize,
    /// The feed-forward activation.
    pub activation: FeedForwardActivation,
    /// Pre-norm (`x + sa(norm1(x))`) instead of post-norm (`norm1(x + sa(x))`).
    pub norm_first: bool,
    /// Input and output are `[N, L, E]` instead of `[L, N, E]`.
    pub batch_first: bool,
    /// The layer norms' eps (PyTorch's default 1e-5).
    pub layer_norm_eps: f64,
    /// Dropout probability in attention, after the activation, and on both residual
    /// branches.
    pub dropout: f64,
    /// Whether dropout is active.
    pub training: bool,
}

impl EncoderLayerOptions {
    /// `nhead` heads, relu, post-norm, time-first, eps 1e-5, no dropout.
    pub fn new(nhead: usize) -> Self {
        EncoderLayerOptions {
            nhead,
            activation: FeedForwardActivation::Relu,
            norm_first: false,
            batch_first: false,
            layer_norm_eps: 1e-5,
            dropout: 0.0,
            training: false,
        }
    }
}

/// One Transformer encoder layer over `src` (`[L, N, E]`, or `[N, L, E]` batch-first).
///
/// `src_mask` masks attention scores (`[L, S]` or `[N·h, L, S]`), `src_key_padding_mask`
/// `[N, L]` is true at padding positions, `is_causal` adds the causal mask. Dropout sits
/// where PyTorch puts it: on the attention weights, after the feed-forward activation and
/// on each residual branch; `rng` is only needed when it is active.
pub fn try_transformer_encoder_layer<T: Float>(
    src: &Var<T>,
    w: &EncoderLayerWeights<'_, T>,
    src_mask: Option<AttnMask<'_, T>>,
    src_key_padding_mask: Option<&Tensor<bool>>,
    is_causal: bool,
    opt: &EncoderLayerOptions,
    mut rng: Option<&mut dyn RngCore>,
) -> Result<Var<T>> {
    let e = src.shape().last().copied().unwrap_or(0);
    let p = if opt.training { opt.dropout } else { 0.0 };
    // Reborrows the optional RNG for each of the four dropout sites.
    let drop = |x: Var<T>, rng: &mut Option<&mut dyn RngCore>| -> Var<T> {
        match rng {
            Some(r) if p > 0.0 => dropout(&x, p, true, &mut &mut **r),
            _ => x,
        }
    };
    let norm = |x: &Var<T>, wt: Option<&Var<T>>, b: Option<&Var<T>>| {
        try_layer_norm(x, &[e], wt, b, opt.layer_norm_eps)
    };
    let mha = MhaOptions {
        num_heads: opt.nhead,
        batch_first: opt.batch_first,
        dropout: opt.dropout,
        training: opt.training,
        need_weights: false,
        average_attn_weights: true,
        is_causal,
    };
    let sa_block = |x: &Var<T>, rng: &mut Option<&mut dyn RngCore>| -> Result<Var<T>> {
        let r = rng.as_mut().map(|r| &mut **r as &mut dyn RngCore);
        let (a, _) = try_multi_head_attention(
            x,
            x,
            x,
            &w.self_attn,
            src_key_padding_mask,
            src_mask,
            &mha,
            r,
        )?;
        Ok(drop(a, rng))
    };
    let ff_block = |x: &Var<T>, rng: &mut Option<&mut dyn RngCore>| -> Result<Var<T>> {
        let hidden = try_linear(x, w.linear1_weight, w.linear1_bias)?;
        let hidden = match opt.activation {
            FeedForwardActivation::Relu => hidden.relu(),
            FeedForwardActivation::Gelu => hidden.gelu(false),
        };
        let hidden = match rng {
            Some(r) if p > 0.0 => dropout(&hidden, p, true, &mut &mut **r),
            _ => hidden,
        };
        let out = try_linear(&hidden, w.linear2_weight, w.linear2_bias)?;
        Ok(match rng {
            Some(r) if p > 0.0 => dropout(&out, p, true, &mut &mut **r),
            _ => out,
        })
    };
    if opt.norm_first {
        let x = src.try_add(&sa_block(
            &norm(src, w.norm1_weight, w.norm1_bias)?,
            &mut rng,
        )?)?;
        x.try_add(&ff_block(
            &norm(&x, w.norm2_weight, w.norm2_bias)?,
            &mut rng,
        )?)
    } else {
        let x = norm(
            &src.try_add(&sa_block(src, &mut rng)?)?,
            w.norm1_weight,
            w.norm1_bias,
        )?;
        norm(
            &x.try_add(&ff_block(&x, &mut rng)?)?,
            w.norm2_weight,
            w.norm2_bias,
        )
    }
}
