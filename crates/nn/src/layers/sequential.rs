//! A chain of modules, named `0`, `1`, ... as in PyTorch.

use std::sync::Arc;

use graft_autograd::{checkpoint, is_grad_enabled, Var};
use graft_tensor::{or_panic, Float, Result, TensorError};

use crate::input::Input;
use crate::module::{Module, Visitor};

/// Modules applied in order. Children are named by position, so parameters are called
/// `0.weight`, `2.bias`, ... exactly as in a PyTorch `nn.Sequential` state dict.
pub struct Sequential<T: Float = f32> {
    // Shared, so that a checkpointed segment's recomputation can own its layers.
    layers: Vec<Arc<dyn Module<T>>>,
    // Number of segments for gradient checkpointing (0 or 1: none).
    segments: usize,
}

impl<T: Float> Default for Sequential<T> {
    fn default() -> Self {
        Sequential {
            layers: Vec::new(),
            segments: 0,
        }
    }
}

impl<T: Float> Sequential<T> {
    /// An empty chain.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a module (builder style; named like Keras' `model.add`, not `std::ops::Add`).
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: impl Module<T> + 'static) -> Self {
        self.layers.push(Arc::new(layer));
        self
    }

    /// Appends a boxed module.
    pub fn push(&mut self, layer: Box<dyn Module<T>>) {
        self.layers.push(Arc::from(layer));
    }

    /// Gradient checkpointing in `segments` segments (PyTorch's `checkpoint_sequential`):
    /// the chain is cut into `segments` runs of `len / segments` modules (the last run also
    /// takes the remainder); with grad mode on, every run but the last goes
    /// through [`checkpoint`](graft_autograd::checkpoint()), so only its input is kept for
    /// the backward pass, which runs it again. Activation memory drops from all layers' to
    /// about one segment's plus the segment inputs, for about one more forward pass.
    /// `segments` of 0 or 1 turns checkpointing off. Parameter names do not change.
    ///
    /// ```
    /// use graft_nn::{Linear, Module, Relu, Sequential};
    /// use graft_autograd::Var;
    /// use graft_tensor::Tensor;
    /// use rand::SeedableRng;
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let mut model: Sequential = Sequential::new();
    /// for _ in 0..4 {
    ///     model = model.add(Linear::new(8, 8, &mut rng)).add(Relu);
    /// }
    /// let model = model.checkpointed(2);
    /// let x = Var::new(Tensor::ones(&[3, 8]));
    /// model.forward(&x).sum().backward().unwrap();
    /// assert!(model.parameters().iter().all(|p| p.grad().is_some()));
    /// ```
    pub fn checkpointed(mut self, segments: usize) -> Self {
        self.segments = segments;
        self
    }

    /// The number of checkpointing segments (0: none).
    pub fn segments(&self) -> usize {
        self.segments
    }

    /// Number of modules in the chain.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True if the chain is empty (then `forward` is the identity).
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The module at position `i`.
    pub fn get(&self, i: usize) -> Option<&dyn Module<T>> {
        self.layers.get(i).map(|b| b.as_ref())
    }
}

impl<T: Float> Sequential<T> {
    /// The forward pass with every segment but the last checkpointed (see
    /// [`Sequential::checkpointed`]).
    fn forward_checkpointed(&self, x: &Var<T>) -> Var<T> {
        let run = |layers: &[Arc<dyn Module<T>>], h: &Var<T>| {
            layers.iter().fold(h.clone(), |h, layer| layer.forward(&h))
        };
        let size = self.layers.len() / self.segments.max(1);
        if size == 0 {
            return run(&self.layers, x);
        }
        let cut = size * (self.segments - 1);
        let h = self.layers[..cut].chunks(size).fold(x.clone(), |h, chunk| {
            let segment: Vec<Arc<dyn Module<T>>> = chunk.to_vec();
            checkpoint(
                move |v: &[Var<T>]| {
                    segment
                        .iter()
                        .fold(v[0].clone(), |h, layer| layer.forward(&h))
                },
                &[h],
            )
        });
        run(&self.layers[cut..], &h)
    }
}

impl<T: Float> Module<T> for Sequential<T> {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        or_panic(self.try_forward(x))
    }

    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        if self.segments > 1 && is_grad_enabled() {
            return Ok(self.forward_checkpointed(x));
        }
        self.forward_input(&Input::Float(x.clone()))
    }

    /// The first layer receives the input as it is (an `Embedding` takes indices); the
    /// rest get the previous output. An error names the failing layer: `layer 0 (Linear):
    /// linear: input [32, 100] does not match weight [10, 784] ([out, in])`.
    fn forward_input(&self, x: &Input<T>) -> Result<Var<T>> {
        let name = |i: usize, layer: &dyn Module<T>, e: TensorError| {
            TensorError::of_kind(
                e.kind,
                format!("layer {i} ({})", layer.type_name()),
                e.to_string(),
            )
        };
        let mut layers = self.layers.iter().enumerate();
        let mut h = match layers.next() {
            Some((i, first)) => first
                .forward_input(x)
                .map_err(|e| name(i, first.as_ref(), e))?,
            None => return x.as_float().cloned(),
        };
        for (i, layer) in layers {
            h = layer
                .try_forward(&h)
                .map_err(|e| name(i, layer.as_ref(), e))?;
        }
        Ok(h)
    }

    fn visit(&self, v: &mut dyn Visitor<T>) {
        for (i, layer) in self.layers.iter().enumerate() {
            v.child(&i.to_string(), layer.as_ref());
        }
    }
}
