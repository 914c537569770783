//! `TransformerEncoderLayer` and `TransformerEncoder`: PyTorch's modules of the same names,
//! with their parameter names (`self_attn.in_proj_weight`, `linear1.weight`, `norm2.bias`,
//! `layers.0.…`, `norm.…`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use graft_autograd::Var;
use graft_tensor::{Float, Result, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::functional::{
    try_layer_norm, try_transformer_encoder_layer, AttnMask, EncoderLayerOptions,
    EncoderLayerWeights, MhaWeights,
};
use crate::layers::{LayerNorm, Linear, MultiheadAttention};
use crate::module::{Module, Visitor};

/// Self-attention then a feed-forward block (`linear2(act(linear1(x)))`), each with a
/// residual connection and a layer norm: post-norm `x = norm(x + f(x))` by default, or
/// pre-norm `x = x + f(norm(x))` with `norm_first`.
pub struct TransformerEncoderLayer<T: Float = f32> {
    /// The self-attention block.
    pub self_attn: MultiheadAttention<T>,
    /// `[dim_feedforward, d_model]`.
    pub linear1: Linear<T>,
    /// `[d_model, dim_feedforward]`.
    pub linear2: Linear<T>,
    /// The norm around the attention block.
    pub norm1: LayerNorm<T>,
    /// The norm around the feed-forward block.
    pub norm2: LayerNorm<T>,
    /// The layer's options (heads, activation, norm order, layout, dropout).
    pub options: EncoderLayerOptions,
    training: AtomicBool,
    rng: Mutex<StdRng>,
}

impl<T: Float> TransformerEncoderLayer<T> {
    /// A layer with PyTorch's init (attention as [`MultiheadAttention::new`], Linear
    /// defaults, norms 1 and 0). `options.training` is ignored: the layer follows
    /// `train()`/`eval()` and starts in training mode, as PyTorch's.
    pub fn new(
        d_model: usize,
        dim_feedforward: usize,
        options: EncoderLayerOptions,
        rng: &mut impl Rng,
    ) -> Self {
        let mut norm1 = LayerNorm::new(&[d_model]);
        let mut norm2 = LayerNorm::new(&[d_model]);
        norm1.eps = options.layer_norm_eps;
        norm2.eps = options.layer_norm_eps;
        TransformerEncoderLayer {
            self_attn: MultiheadAttention::new(d_model, options.nhead, true, rng)
                .with_batch_first(options.batch_first)
                .with_dropout(options.dropout),
            linear1: Linear::new(d_model, dim_feedforward, rng),
            linear2: Linear::new(dim_feedforward, d_model, rng),
            norm1,
            norm2,
            options,
            training: AtomicBool::new(true),
            rng: Mutex::new(StdRng::seed_from_u64(rng.gen())),
        }
    }

    /// The layer over `src` with optional masks: `src_mask` over the scores (`[L, L]` or
    /// `[N·h, L, L]`), `src_key_padding_mask` `[N, L]` (true at padding), and `is_causal`
    /// for the causal mask.
    pub fn forward_masked(
        &self,
        src: &Var<T>,
        src_mask: Option<AttnMask<'_, T>>,
        src_key_padding_mask: Option<&Tensor<bool>>,
        is_causal: bool,
    ) -> Result<Var<T>> {
        let w = EncoderLayerWeights {
            self_attn: MhaWeights {
                in_proj_weight: &self.self_attn.in_proj_weight,
                in_proj_bias: self.self_attn.in_proj_bias.as_ref(),
                out_proj_weight: &self.self_attn.out_proj.weight,
                out_proj_bias: self.self_attn.out_proj.bias.as_ref(),
            },
            linear1_weight: &self.linear1.weight,
            linear1_bias: self.linear1.bias.as_ref(),
            linear2_weight: &self.linear2.weight,
            linear2_bias: self.linear2.bias.as_ref(),
            norm1_weight: Some(&self.norm1.weight),
            norm1_bias: Some(&self.norm1.bias),
            norm2_weight: Some(&self.norm2.weight),
            norm2_bias: Some(&self.norm2.bias),
        };
        let opt = EncoderLayerOptions {
            training: self.training.load(Ordering::Relaxed),
            ..self.options
        };
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        try_transformer_encoder_layer(
            src,
            &w,
            src_mask,
            src_key_padding_mask,
            is_causal,
            &opt,
            Some(&mut *rng),
        )
    }
}

impl<T: Float> Module<T> for TransformerEncoderLayer<T> {
    /// The layer without masks; panics on a bad input shape.
    fn forward(&self, x: &Var<T>) -> Var<T> {
        self.forward_masked(x, None, None, false)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn visit(&self, v: &mut dyn Visitor<T>) {
        v.child("self_attn", &self.self_attn);
        v.child("linear1", &self.linear1);
        v.child("linear2", &self.linear2);
        v.child("norm1", &self.norm1);
        v.child("norm2", &self.norm2);
    }

    fn set_own_training(&self, training: bool) {
        self.training.store(training, Ordering::Relaxed);
    }
}

/// A stack of encoder layers (`layers.0`, `layers.1`, ...) and an optional final norm
/// (`norm`), as PyTorch's `nn.TransformerEncoder`.
pub struct TransformerEncoder<T: Float = f32> {
    /// The layers, applied in order.
    pub layers: Vec<TransformerEncoderLayer<T>>,
    /// Applied to the last layer's output, if present.
    pub norm: Option<LayerNorm<T>>,
}

/// The `layers` child of a [`TransformerEncoder`]: names its layers `0`, `1`, ... .
struct LayerList<'a, T: Float>(&'a [TransformerEncoderLayer<T>]);

impl<T: Float> Module<T> for LayerList<'_, T> {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        self.0.iter().fold(x.clone(), |h, l| l.forward(&h))
    }

    fn visit(&self, v: &mut dyn Visitor<T>) {
        for (i, l) in self.0.iter().enumerate() {
            v.child(&i.to_string(), l);
        }
    }
}

impl<T: Float> TransformerEncoder<T> {
    /// `num_layers` independently initialised layers of the same shape. (PyTorch deep-copies
    /// one layer, so its layers start equal; load a state dict to reproduce that.)
    pub fn new(
        d_model: usize,
        dim_feedforward: usize,
        options: EncoderLayerOptions,
        num_layers: usize,
        final_norm: bool,
        rng: &mut impl Rng,
    ) -> Self {
        let layers = (0..num_layers)
            .map(|_| TransformerEncoderLayer::new(d_model, dim_feedforward, options, rng))
            .collect();
        let norm = final_norm.then(|| {
            let mut n = LayerNorm::new(&[d_model]);
            n.eps = options.layer_norm_eps;
            n
        });
        TransformerEncoder { layers, norm }
    }

    /// The stack with masks applied in every layer (see
    /// [`TransformerEncoderLayer::forward_masked`]).
    pub fn forward_masked(
        &self,
        src: &Var<T>,
        mask: Option<AttnMask<'_, T>>,
        src_key_padding_mask: Option<&Tensor<bool>>,
        is_causal: bool,
    ) -> Result<Var<T>> {
        let mut x = src.clone();
        for layer in &self.layers {
            x = layer.forward_masked(&x, mask, src_key_padding_mask, is_causal)?;
        }
        match &self.norm {
            Some(n) => try_layer_norm(
                &x,
                &n.normalized_shape,
                Some(&n.weight),
                Some(&n.bias),
                n.eps,
            ),
            None => Ok(x),
        }
    }
}

impl<T: Float> Module<T> for TransformerEncoder<T> {
    /// The stack without masks; panics on a bad input shape.
    fn forward(&self, x: &Var<T>) -> Var<T> {
        self.forward_masked(x, None, None, false)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn visit(&self, v: &mut dyn Visitor<T>) {
        v.child("layers", &LayerList(&self.layers));
        if let Some(n) = &self.norm {
            v.child("norm", n);
        }
    }
}
