//! The `Module` trait: a forward pass plus named parameters, buffers and child modules.

use graft_autograd::Var;
use graft_tensor::{Float, TensorError};

use crate::input::Input;

/// What a module shows to [`Module::visit`]: its own parameters and buffers, and its child
/// modules, each under the name PyTorch would give it.
pub trait Visitor<T: Float> {
    /// A trainable parameter.
    fn parameter(&mut self, name: &str, p: &Var<T>);
    /// A buffer: state saved with the model but not trained (BatchNorm's running stats).
    fn buffer(&mut self, _name: &str, _b: &Var<T>) {}
    /// A child module; its entries are named `name.child_entry`.
    fn child(&mut self, name: &str, m: &dyn Module<T>);
}

/// Visits a layer's `weight` and, if it has one, its `bias`: the names PyTorch gives them.
pub(crate) fn visit_weight_and_bias<T: Float>(
    v: &mut dyn Visitor<T>,
    weight: &Var<T>,
    bias: Option<&Var<T>>,
) {
    v.parameter("weight", weight);
    if let Some(b) = bias {
        v.parameter("bias", b);
    }
}

/// A layer or model: `forward` maps a Var to a Var; `visit` names what it holds.
///
/// Implement `forward` and `visit` for a custom model struct and every other method
/// (parameters, state dicts, train/eval, zero_grad) works for it:
///
/// ```
/// use graft_autograd::Var;
/// use graft_nn::{Linear, Module, Visitor};
/// use rand::SeedableRng;
///
/// struct Mlp { fc1: Linear, fc2: Linear }
/// impl Module for Mlp {
///     fn forward(&self, x: &Var) -> Var {
///         self.fc2.forward(&self.fc1.forward(x).relu())
///     }
///     fn visit(&self, v: &mut dyn Visitor<f32>) {
///         v.child("fc1", &self.fc1);
///         v.child("fc2", &self.fc2);
///     }
/// }
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let model = Mlp { fc1: Linear::new(4, 8, &mut rng), fc2: Linear::new(8, 2, &mut rng) };
/// let names: Vec<String> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
/// assert_eq!(model.num_parameters(), 4 * 8 + 8 + 8 * 2 + 2);
/// ```
pub trait Module<T: Float = f32>: Send + Sync {
    /// The forward pass.
    fn forward(&self, x: &Var<T>) -> Var<T>;

    /// The forward pass as a `Result`: a shape mismatch is an error naming the layer's op and
    /// the shapes. Layers that can fail override it (and their `forward` panics with its
    /// message); the default calls `forward`.
    fn try_forward(&self, x: &Var<T>) -> Result<Var<T>, TensorError> {
        Ok(self.forward(x))
    }

    /// The forward pass on any kind of input: float features, integer indices or a tuple
    /// (tokens and a mask). The default sends a float input to [`Module::try_forward`] and
    /// rejects the other kinds; a model fed token indices overrides this (and `forward`
    /// then serves float callers, e.g. by casting). `fit`, `evaluate` and `predict` call it.
    fn forward_input(&self, x: &Input<T>) -> Result<Var<T>, TensorError> {
        match x {
            Input::Float(v) => self.try_forward(v),
            other => Err(TensorError::new(
                self.type_name(),
                format!(
                    "takes a float input, got {}; a model fed indices or several tensors \
                     implements Module::forward_input",
                    other.describe()
                ),
            )),
        }
    }

    /// The module's short type name (`Linear`, `Sequential`), for error messages.
    fn type_name(&self) -> String {
        short_type_name(std::any::type_name::<Self>())
    }

    /// This module's own training flag, for modules that have one (Dropout, BatchNorm);
    /// `None` for the rest. Lets callers put modes back as they were (see
    /// [`crate::TrainingModes`]).
    fn own_training(&self) -> Option<bool> {
        None
    }

    /// Shows the module's parameters, buffers and children to `v` (nothing by default).
    fn visit(&self, _v: &mut dyn Visitor<T>) {}

    /// Switches this module's own training-mode behaviour (Dropout, BatchNorm); children are
    /// handled by [`Module::train`] and [`Module::eval`].
    fn set_own_training(&self, _training: bool) {}

    /// Every parameter, named like PyTorch's `named_parameters()` (`0.weight`, `fc1.bias`).
    fn named_parameters(&self) -> Vec<(String, Var<T>)> {
        let mut out = Vec::new();
        walk(self, "", &mut |kind, name, v| {
            if kind == Kind::Parameter {
                out.push((name.to_string(), v.clone()));
            }
        });
        out
    }

    /// Every parameter, in the same order as [`Module::named_parameters`].
    fn parameters(&self) -> Vec<Var<T>> {
        self.named_parameters()
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    }

    /// Every buffer, named like PyTorch's `named_buffers()`.
    fn named_buffers(&self) -> Vec<(String, Var<T>)> {
        let mut out = Vec::new();
        walk(self, "", &mut |kind, name, v| {
            if kind == Kind::Buffer {
                out.push((name.to_string(), v.clone()));
            }
        });
        out
    }

    /// Parameters then buffers: what a state dict holds.
    fn named_state(&self) -> Vec<(String, Var<T>)> {
        let mut out = Vec::new();
        walk(self, "", &mut |_, name, v| {
            out.push((name.to_string(), v.clone()))
        });
        out
    }

    /// Total number of trainable scalars.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(Var::numel).sum()
    }

    /// Clears every parameter's gradient.
    fn zero_grad(&self) {
        self.parameters().iter().for_each(Var::zero_grad);
    }

    /// Training mode for this module and all its children (Dropout drops, BatchNorm uses
    /// batch statistics).
    fn train(&self) {
        set_training(self, true);
    }

    /// Evaluation mode for this module and all its children.
    fn eval(&self) {
        set_training(self, false);
    }
}

/// `graft_nn::layers::linear::Linear<f32>` -> `Linear`.
fn short_type_name(full: &str) -> String {
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_string()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Parameter,
    Buffer,
}

/// Depth-first over a module tree, calling `f` with full dotted names.
fn walk<T: Float, M: Module<T> + ?Sized>(
    m: &M,
    prefix: &str,
    f: &mut dyn FnMut(Kind, &str, &Var<T>),
) {
    struct Walker<'a, T: Float> {
        prefix: &'a str,
        f: &'a mut dyn FnMut(Kind, &str, &Var<T>),
    }
    impl<T: Float> Visitor<T> for Walker<'_, T> {
        fn parameter(&mut self, name: &str, p: &Var<T>) {
            (self.f)(Kind::Parameter, &format!("{}{name}", self.prefix), p);
        }
        fn buffer(&mut self, name: &str, b: &Var<T>) {
            (self.f)(Kind::Buffer, &format!("{}{name}", self.prefix), b);
        }
        fn child(&mut self, name: &str, m: &dyn Module<T>) {
            walk(m, &format!("{}{name}.", self.prefix), self.f);
        }
    }
    m.visit(&mut Walker { prefix, f });
}

fn set_training<T: Float, M: Module<T> + ?Sized>(m: &M, training: bool) {
    struct Setter(bool);
    impl<T: Float> Visitor<T> for Setter {
        fn parameter(&mut self, _: &str, _: &Var<T>) {}
        fn child(&mut self, _: &str, m: &dyn Module<T>) {
            set_training(m, self.0);
        }
    }
    m.set_own_training(training);
    m.visit(&mut Setter(training));
}
