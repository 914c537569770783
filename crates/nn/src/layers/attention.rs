//! `MultiheadAttention`: PyTorch's `nn.MultiheadAttention` with its parameter names
//! (`in_proj_weight`, `in_proj_bias`, `out_proj.weight`, `out_proj.bias`) and init.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use graft_autograd::Var;
use graft_tensor::{Float, Result, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::functional::{try_multi_head_attention, AttnMask, MhaOptions, MhaWeights};
use crate::init::xavier_uniform;
use crate::layers::Linear;
use crate::module::{Module, Visitor};

/// Multi-head attention over `embed_dim` features split into `num_heads` heads.
///
/// `Module::forward` is self-attention without masks; [`MultiheadAttention::attend`] takes
/// separate key and value, a key padding mask and an attention mask, and returns the
/// attention weights too.
pub struct MultiheadAttention<T: Float = f32> {
    /// `[3E, E]`: the q, k and v projections stacked (PyTorch's layout).
    pub in_proj_weight: Var<T>,
    /// `[3E]`, if the module has biases.
    pub in_proj_bias: Option<Var<T>>,
    /// The output projection, `[E, E]`.
    pub out_proj: Linear<T>,
    /// Heads; they divide the embedding size.
    pub num_heads: usize,
    /// Inputs and output are `[N, L, E]` instead of `[L, N, E]`.
    pub batch_first: bool,
    /// Dropout probability on the attention weights (training only).
    pub dropout: f64,
    training: AtomicBool,
    rng: Mutex<StdRng>,
}

/// The optional arguments of [`MultiheadAttention::attend`], PyTorch's names.
#[derive(Clone, Copy)]
pub struct AttendOptions<'a, T: Float> {
    /// `[N, S]`, true where a key is ignored.
    pub key_padding_mask: Option<&'a Tensor<bool>>,
    /// `[L, S]` or `[N·h, L, S]`.
    pub attn_mask: Option<AttnMask<'a, T>>,
    /// Return the attention weights.
    pub need_weights: bool,
    /// Average returned weights over heads (`[N, L, S]`) rather than `[N, h, L, S]`.
    pub average_attn_weights: bool,
    /// Adds the causal mask.
    pub is_causal: bool,
}

impl<T: Float> Default for AttendOptions<'_, T> {
    fn default() -> Self {
        AttendOptions {
            key_padding_mask: None,
            attn_mask: None,
            need_weights: true,
            average_attn_weights: true,
            is_causal: false,
        }
    }
}

impl<T: Float> MultiheadAttention<T> {
    /// PyTorch's init: `in_proj_weight` Xavier-uniform, biases zero, `out_proj.weight` a
    /// Linear's default; time-first, no dropout. Panics if `num_heads` does not divide
    /// `embed_dim`.
    pub fn new(embed_dim: usize, num_heads: usize, bias: bool, rng: &mut impl Rng) -> Self {
        assert!(
            num_heads > 0 && embed_dim.is_multiple_of(num_heads),
            "MultiheadAttention: {num_heads} heads do not divide embed_dim {embed_dim}"
        );
        let in_proj_weight = Var::parameter(xavier_uniform(&[3 * embed_dim, embed_dim], 1.0, rng));
        let mut out_proj = Linear::no_bias(embed_dim, embed_dim, rng);
        if bias {
            out_proj.bias = Some(Var::parameter(Tensor::zeros(&[embed_dim])));
        }
        MultiheadAttention {
            in_proj_weight,
            in_proj_bias: bias.then(|| Var::parameter(Tensor::zeros(&[3 * embed_dim]))),
            out_proj,
            num_heads,
            batch_first: false,
            dropout: 0.0,
            training: AtomicBool::new(true),
            rng: Mutex::new(StdRng::seed_from_u64(rng.gen())),
        }
    }

    /// Sets the batch-first layout.
    pub fn with_batch_first(mut self, on: bool) -> Self {
        self.batch_first = on;
        self
    }

    /// Sets the attention-weight dropout.
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }

    /// Attends `query` to `key`/`value` (`[L, N, E]`, `[S, N, E]`, or batch-first);
    /// returns the output and, if asked, the attention weights.
    pub fn attend(
        &self,
        query: &Var<T>,
        key: &Var<T>,
        value: &Var<T>,
        opt: &AttendOptions<'_, T>,
    ) -> Result<(Var<T>, Option<Var<T>>)> {
        let w = MhaWeights {
            in_proj_weight: &self.in_proj_weight,
            in_proj_bias: self.in_proj_bias.as_ref(),
            out_proj_weight: &self.out_proj.weight,
            out_proj_bias: self.out_proj.bias.as_ref(),
        };
        let mha = MhaOptions {
            num_heads: self.num_heads,
            batch_first: self.batch_first,
            dropout: self.dropout,
            training: self.training.load(Ordering::Relaxed),
            need_weights: opt.need_weights,
            average_attn_weights: opt.average_attn_weights,
            is_causal: opt.is_causal,
        };
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        try_multi_head_attention(
            query,
            key,
            value,
            &w,
            opt.key_padding_mask,
            opt.attn_mask,
            &mha,
            Some(&mut *rng),
        )
    }
}

impl<T: Float> Module<T> for MultiheadAttention<T> {
    /// Self-attention without masks; panics on a bad input shape.
    fn forward(&self, x: &Var<T>) -> Var<T> {
        let opt = AttendOptions {
            need_weights: false,
            ..Default::default()
        };
        self.attend(x, x, x, &opt)
            .unwrap_or_else(|e| panic!("{e}"))
            .0
    }

    fn visit(&self, v: &mut dyn Visitor<T>) {
        v.parameter("in_proj_weight", &self.in_proj_weight);
        if let Some(b) = &self.in_proj_bias {
            v.parameter("in_proj_bias", b);
        }
        v.child("out_proj", &self.out_proj);
    }

    fn set_own_training(&self, training: bool) {
        self.training.store(training, Ordering::Relaxed);
    }
}
