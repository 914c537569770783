//! Models from PyTorch architecture strings: `Sequential(Linear(784,128), ReLU, Linear(128,10))`.
//!
//! The parser reads the short form that fixtures and papers write and the form PyTorch's
//! `print(model)` writes, so a model printed by PyTorch can be rebuilt here and its state dict
//! loaded into it:
//!
//! ```text
//! Sequential(Conv2d(1,8,3), ReLU, MaxPool2d(2), Flatten, Linear(1352,10))
//! Sequential(
//!   (0): Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1))
//!   (1): ReLU()
//!   (2): Linear(in_features=1352, out_features=10, bias=True)
//! )
//! ```
//!
//! Arguments are positional or keyword, in PyTorch's order and with PyTorch's names and
//! defaults; sizes may be ints or tuples (`3` or `(3, 3)`). Known layers ([`known_layers`]):
//! `Linear`, `Conv1d`, `Conv2d`, `ConvTranspose2d`, `MaxPool2d`, `AvgPool2d`,
//! `AdaptiveAvgPool2d`, `Upsample`, `Flatten`, `Dropout`, `Dropout2d`, `BatchNorm1d`,
//! `BatchNorm2d`, `GroupNorm`, `LayerNorm`, `Embedding`, `Identity`, `ReLU`, `LeakyReLU`,
//! `Sigmoid`, `Tanh`, `GELU`, `Softplus`, `Softmax`, `LogSoftmax`, and `Sequential` (nested
//! too). An `nn.` or `torch.nn.` prefix is allowed. Options graft does not implement (`ceil_mode=True`,
//! `affine=False`, ...) are errors, never silently dropped.
//!
//! ```
//! use graft_nn::{Module, Sequential};
//! use rand::SeedableRng;
//!
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let model = Sequential::<f32>::from_spec("Sequential(Linear(784,128), ReLU, Linear(128,10))", &mut rng).unwrap();
//! let names: Vec<String> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
//! assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
//!
//! let err = Sequential::<f32>::from_spec("Sequential(Linear(784,128), Relu)", &mut rng).err().unwrap();
//! assert_eq!(err.column(), 29);
//! assert!(err.to_string().contains("unknown layer `Relu`"));
//! ```
//!
//! The code: `parse` reads the syntax, `args` binds a layer's arguments to PyTorch's names
//! and reads them, and `layers` holds the one table that says, for every layer, its name,
//! its arguments and how to build it.

mod args;
mod layers;
mod layers_conv;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;

use graft_tensor::Float;
use rand::{Rng, RngCore};

use crate::module::Module;
use crate::Sequential;
use args::Args;
use layers::{table, Params};
use parse::{parse, Layer, Value};

/// The layer names [`sequential_from_spec`] knows, in the order of its table.
pub fn known_layers() -> Vec<&'static str> {
    table::<f32>().iter().map(|d| d.name).collect()
}

/// A spec string that cannot be parsed or built: what is wrong, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    offset: usize,
    line: usize,
    column: usize,
    message: String,
}

impl SpecError {
    fn new(spec: &str, offset: usize, message: impl Into<String>) -> Self {
        let offset = offset.min(spec.len());
        let before = &spec.as_bytes()[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = spec
            .get(line_start..offset)
            .map_or(offset - line_start, |s| s.chars().count())
            + 1;
        SpecError {
            offset,
            line,
            column,
            message: message.into(),
        }
    }

    /// Byte offset in the spec string where the problem is.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// 1-based line of the problem.
    pub fn line(&self) -> usize {
        self.line
    }

    /// 1-based column (in characters) of the problem.
    pub fn column(&self) -> usize {
        self.column
    }

    /// What is wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "model spec, line {} column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for SpecError {}

impl<T: Float> Sequential<T> {
    /// Builds a `Sequential` from a PyTorch architecture string (see [the module
    /// docs](crate::spec)), initialising parameters with PyTorch's defaults from `rng`.
    pub fn from_spec<R: Rng>(spec: &str, rng: &mut R) -> Result<Self, SpecError> {
        sequential_from_spec(spec, rng)
    }
}

/// Builds a `Sequential` from a PyTorch architecture string such as
/// `Sequential(Linear(784,128), ReLU, Linear(128,10))` (see [the module docs](crate::spec)).
pub fn sequential_from_spec<T: Float, R: Rng>(
    spec: &str,
    rng: &mut R,
) -> Result<Sequential<T>, SpecError> {
    let node = parse(spec)?;
    match &node.value {
        Value::Layer(layer) if strip_prefix(&layer.name) == "Sequential" => {
            build_sequential(spec, layer, rng as &mut dyn RngCore)
        }
        _ => Err(SpecError::new(
            spec,
            node.pos,
            "expected `Sequential(...)` at the top level",
        )),
    }
}

/// Builds one layer from its PyTorch spelling, e.g. `Conv2d(1, 8, kernel_size=3, padding=1)`.
pub fn layer_from_spec<T: Float, R: Rng>(
    spec: &str,
    rng: &mut R,
) -> Result<Box<dyn Module<T>>, SpecError> {
    let node = parse(spec)?;
    match &node.value {
        Value::Layer(layer) => build_layer(spec, layer, rng as &mut dyn RngCore),
        _ => Err(SpecError::new(
            spec,
            node.pos,
            "expected a layer such as `Linear(4, 2)`",
        )),
    }
}

/// `torch.nn.Linear` and `nn.Linear` are `Linear`.
fn strip_prefix(name: &str) -> &str {
    let name = name.strip_prefix("torch.").unwrap_or(name);
    name.strip_prefix("nn.").unwrap_or(name)
}

/// A `Sequential(...)`'s children, each built from the table, named 0, 1, 2, ...
fn build_sequential<T: Float>(
    spec: &str,
    layer: &Layer,
    rng: &mut dyn RngCore,
) -> Result<Sequential<T>, SpecError> {
    let mut seq = Sequential::new();
    for (i, arg) in layer.args.iter().enumerate() {
        if let Some((key, pos)) = &arg.key {
            return Err(SpecError::new(
                spec,
                *pos,
                format!("Sequential takes layers, not the keyword argument `{key}`"),
            ));
        }
        if let Some(label) = &arg.label {
            match &label.value {
                Value::Int(n) if *n == i as i64 => {}
                Value::Int(n) => {
                    return Err(SpecError::new(spec, label.pos, format!("child ({n}) is at position {i}: indices must count 0, 1, 2, ...")))
                }
                _ => {
                    return Err(SpecError::new(
                        spec,
                        label.pos,
                        "named children are not supported: a Sequential's children are named 0, 1, 2, ...",
                    ))
                }
            }
        }
        match &arg.node.value {
            Value::Layer(child) => seq.push(build_layer(spec, child, rng)?),
            _ => {
                return Err(SpecError::new(
                    spec,
                    arg.node.pos,
                    "expected a layer inside Sequential(...)",
                ))
            }
        }
    }
    Ok(seq)
}

/// One layer: looks its name up in the table, binds its arguments and builds it.
fn build_layer<T: Float>(
    spec: &str,
    layer: &Layer,
    rng: &mut dyn RngCore,
) -> Result<Box<dyn Module<T>>, SpecError> {
    let name = strip_prefix(&layer.name);
    let table = table::<T>();
    let Some(def) = table.iter().find(|d| d.name == name) else {
        return Err(SpecError::new(
            spec,
            layer.pos,
            format!(
                "unknown layer `{}`; known layers: {}",
                layer.name,
                known_layers().join(", ")
            ),
        ));
    };
    let args = match def.params {
        Params::Named(params) => Args::bind(spec, layer, name, layer.pos, params)?,
        Params::Children | Params::Ignored => Args::unbound(spec, layer, name, layer.pos),
    };
    (def.build)(&args, rng)
}
