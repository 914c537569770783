//! A chain of modules, named `0`, `1`, ... as in PyTorch.

use graft_autograd::Var;
use graft_tensor::{Float, Result, TensorError};

use crate::input::Input;
use crate::module::{Module, Visitor};

/// Modules applied in order. Children are named by position, so parameters are called
/// `0.weight`, `2.bias`, ... exactly as in a PyTorch `nn.Sequential` state dict.
pub struct Sequential<T: Float = f32> {
    layers: Vec<Box<dyn Module<T>>>,
}

impl<T: Float> Default for Sequential<T> {
    fn default() -> Self {
        Sequential { layers: Vec::new() }
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
        self.layers.push(Box::new(layer));
        self
    }

    /// Appends a boxed module.
    pub fn push(&mut self, layer: Box<dyn Module<T>>) {
        self.layers.push(layer);
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

impl<T: Float> Module<T> for Sequential<T> {
    fn forward(&self, x: &Var<T>) -> Var<T> {
        self.try_forward(x).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>> {
        self.forward_input(&Input::Float(x.clone()))
    }

    /// The first layer receives the input as it is (an `Embedding` takes indices); the
    /// rest get the previous output. An error names the failing layer: `layer 0 (Linear):
    /// linear: input [32, 100] does not match weight [10, 784] ([out, in])`.
    fn forward_input(&self, x: &Input<T>) -> Result<Var<T>> {
        let name = |i: usize, layer: &dyn Module<T>, e: TensorError| {
            TensorError::new(format!("layer {i} ({})", layer.type_name()), e.to_string())
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
