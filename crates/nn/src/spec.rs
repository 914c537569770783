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
//! defaults; sizes may be ints or tuples (`3` or `(3, 3)`). Known layers: `Linear`, `Conv2d`,
//! `MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d`, `Flatten`, `Dropout`, `BatchNorm1d`,
//! `BatchNorm2d`, `LayerNorm`, `Embedding`, `Identity`, `ReLU`, `LeakyReLU`, `Sigmoid`,
//! `Tanh`, `GELU`, `Softplus`, `Softmax`, `LogSoftmax`, and `Sequential` (nested too). An `nn.`
//! or `torch.nn.` prefix is allowed. Options graft does not implement (`ceil_mode=True`,
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

use std::collections::HashMap;
use std::fmt;

use graft_tensor::Float;
use rand::Rng;

use crate::functional::Conv2dOptions;
use crate::module::Module;
use crate::{
    AdaptiveAvgPool2d, AvgPool2d, BatchNorm, Conv2d, Dropout, Embedding, Flatten, Gelu, LayerNorm,
    LeakyRelu, Linear, LogSoftmax, MaxPool2d, Relu, Sequential, Sigmoid, Softmax, Softplus, Tanh,
};

/// The layer names [`sequential_from_spec`] knows.
pub const KNOWN_LAYERS: &[&str] = &[
    "Sequential",
    "Linear",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "Flatten",
    "Dropout",
    "BatchNorm1d",
    "BatchNorm2d",
    "LayerNorm",
    "Embedding",
    "Identity",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "GELU",
    "Softplus",
    "Softmax",
    "LogSoftmax",
];

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
            build_sequential(spec, layer, rng)
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
        Value::Layer(layer) => build_layer(spec, layer, rng),
        _ => Err(SpecError::new(
            spec,
            node.pos,
            "expected a layer such as `Linear(4, 2)`",
        )),
    }
}

// ---------------------------------------------------------------------------------------
// Syntax
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    None,
    Str(String),
    Tuple(Vec<Node>),
    Layer(Layer),
}

#[derive(Debug)]
struct Node {
    value: Value,
    pos: usize,
}

#[derive(Debug)]
struct Layer {
    name: String,
    /// Byte offset of the name.
    pos: usize,
    args: Vec<Arg>,
}

#[derive(Debug)]
struct Arg {
    /// `(0):` in PyTorch's printed form.
    label: Option<Node>,
    /// `name=` of a keyword argument, with its position.
    key: Option<(String, usize)>,
    node: Node,
}

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
}

fn parse(spec: &str) -> Result<Node, SpecError> {
    let mut p = Parser {
        src: spec,
        b: spec.as_bytes(),
        i: 0,
    };
    p.ws();
    if p.i == p.b.len() {
        return Err(p.err(p.i, "empty model spec"));
    }
    let node = p.value()?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err(
            p.i,
            format!("unexpected `{}` after the model", p.rest_token()),
        ));
    }
    Ok(node)
}

impl Parser<'_> {
    fn err(&self, pos: usize, msg: impl Into<String>) -> SpecError {
        SpecError::new(self.src, pos, msg)
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn rest_token(&self) -> String {
        self.src[self.i..].chars().take(12).collect()
    }

    fn found(&self) -> String {
        match self.src[self.i..].chars().next() {
            Some(c) => format!("`{c}`"),
            None => "the end of the spec".to_string(),
        }
    }

    fn value(&mut self) -> Result<Node, SpecError> {
        self.ws();
        let pos = self.i;
        let value = match self.peek() {
            Some(b'(') => return self.paren(),
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while self.peek().is_some_and(|c| c != q) {
                    self.i += 1;
                }
                if self.peek().is_none() {
                    return Err(self.err(pos, "unterminated string"));
                }
                let s = self.src[start..self.i].to_string();
                self.i += 1;
                Value::Str(s)
            }
            Some(c) if c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.') => self.number()?,
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
                {
                    self.i += 1;
                }
                let name = &self.src[start..self.i];
                match name {
                    "True" | "true" => Value::Bool(true),
                    "False" | "false" => Value::Bool(false),
                    "None" => Value::None,
                    _ => {
                        self.ws();
                        let args = if self.peek() == Some(b'(') {
                            self.i += 1;
                            self.args()?
                        } else {
                            Vec::new()
                        };
                        Value::Layer(Layer {
                            name: name.to_string(),
                            pos: start,
                            args,
                        })
                    }
                }
            }
            _ => {
                return Err(self.err(
                    pos,
                    format!("expected a layer or a value, found {}", self.found()),
                ))
            }
        };
        Ok(Node { value, pos })
    }

    fn number(&mut self) -> Result<Value, SpecError> {
        let start = self.i;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.i += 1;
        }
        let mut float = false;
        while let Some(c) = self.peek() {
            match c {
                b'0'..=b'9' | b'_' => {}
                b'.' => float = true,
                b'e' | b'E' => {
                    float = true;
                    if matches!(self.b.get(self.i + 1), Some(b'-' | b'+')) {
                        self.i += 1;
                    }
                }
                _ => break,
            }
            self.i += 1;
        }
        let text: String = self.src[start..self.i]
            .chars()
            .filter(|&c| c != '_')
            .collect();
        let bad = || {
            self.err(
                start,
                format!("`{}` is not a number", &self.src[start..self.i]),
            )
        };
        if float {
            text.parse::<f64>().map(Value::Float).map_err(|_| bad())
        } else {
            text.parse::<i64>().map(Value::Int).map_err(|_| bad())
        }
    }

    /// `(a, b)` is a tuple; `(a)` is `a`; `(a,)` is a 1-tuple.
    fn paren(&mut self) -> Result<Node, SpecError> {
        let pos = self.i;
        self.i += 1;
        let mut items = Vec::new();
        let mut trailing_comma = false;
        loop {
            self.ws();
            if self.peek() == Some(b')') {
                self.i += 1;
                break;
            }
            items.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    trailing_comma = true;
                }
                Some(b')') => {
                    self.i += 1;
                    trailing_comma = false;
                    break;
                }
                _ => {
                    return Err(self.err(
                        self.i,
                        format!("expected `,` or `)` in a tuple, found {}", self.found()),
                    ))
                }
            }
        }
        if items.len() == 1 && !trailing_comma {
            return Ok(items.pop().expect("one item"));
        }
        Ok(Node {
            value: Value::Tuple(items),
            pos,
        })
    }

    /// Arguments after a layer's `(`, through the closing `)`.
    fn args(&mut self) -> Result<Vec<Arg>, SpecError> {
        let mut args = Vec::new();
        loop {
            self.ws();
            if self.peek() == Some(b')') {
                self.i += 1;
                return Ok(args);
            }
            let mut node = self.value()?;
            self.ws();
            let mut label = None;
            if self.peek() == Some(b':') {
                self.i += 1;
                label = Some(node);
                node = self.value()?;
                self.ws();
            }
            let mut key = None;
            if self.peek() == Some(b'=') {
                match node.value {
                    Value::Layer(Layer { name, args, .. })
                        if args.is_empty() && !name.contains('.') =>
                    {
                        key = Some((name, node.pos));
                        self.i += 1;
                        node = self.value()?;
                        self.ws();
                    }
                    _ => return Err(self.err(self.i, "`=` must follow an argument name")),
                }
            }
            let labelled = label.is_some();
            args.push(Arg { label, key, node });
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b')') => {}
                // PyTorch's printed form puts each `(i): Layer` on its own line, without commas.
                Some(b'(') if labelled => {}
                _ => {
                    return Err(self.err(
                        self.i,
                        format!(
                            "expected `,` or `)` after an argument, found {}",
                            self.found()
                        ),
                    ))
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------------------

/// `torch.nn.Linear` and `nn.Linear` are `Linear`.
fn strip_prefix(name: &str) -> &str {
    let name = name.strip_prefix("torch.").unwrap_or(name);
    name.strip_prefix("nn.").unwrap_or(name)
}

fn build_sequential<T: Float, R: Rng>(
    spec: &str,
    layer: &Layer,
    rng: &mut R,
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

fn build_layer<T: Float, R: Rng>(
    spec: &str,
    layer: &Layer,
    rng: &mut R,
) -> Result<Box<dyn Module<T>>, SpecError> {
    let name = strip_prefix(&layer.name);
    let pos = layer.pos;
    if name == "Sequential" {
        return Ok(Box::new(build_sequential::<T, R>(spec, layer, rng)?));
    }
    if name == "Identity" {
        // PyTorch's Identity ignores its arguments; an empty Sequential is the identity.
        return Ok(Box::new(Sequential::<T>::new()));
    }
    let params: &[&str] = match name {
        "Linear" => &["in_features", "out_features", "bias"],
        "Conv2d" => &[
            "in_channels",
            "out_channels",
            "kernel_size",
            "stride",
            "padding",
            "dilation",
            "groups",
            "bias",
            "padding_mode",
        ],
        "MaxPool2d" => &[
            "kernel_size",
            "stride",
            "padding",
            "dilation",
            "return_indices",
            "ceil_mode",
        ],
        "AvgPool2d" => &[
            "kernel_size",
            "stride",
            "padding",
            "ceil_mode",
            "count_include_pad",
            "divisor_override",
        ],
        "AdaptiveAvgPool2d" => &["output_size"],
        "Flatten" => &["start_dim", "end_dim"],
        "Dropout" => &["p", "inplace"],
        "BatchNorm1d" | "BatchNorm2d" => &[
            "num_features",
            "eps",
            "momentum",
            "affine",
            "track_running_stats",
        ],
        "LayerNorm" => &["normalized_shape", "eps", "elementwise_affine", "bias"],
        "Embedding" => &[
            "num_embeddings",
            "embedding_dim",
            "padding_idx",
            "max_norm",
            "norm_type",
            "scale_grad_by_freq",
            "sparse",
        ],
        "ReLU" => &["inplace"],
        "LeakyReLU" => &["negative_slope", "inplace"],
        "Sigmoid" | "Tanh" => &[],
        "GELU" => &["approximate"],
        "Softplus" => &["beta", "threshold"],
        "Softmax" | "LogSoftmax" => &["dim"],
        _ => {
            return Err(SpecError::new(
                spec,
                pos,
                format!(
                    "unknown layer `{}`; known layers: {}",
                    layer.name,
                    KNOWN_LAYERS.join(", ")
                ),
            ))
        }
    };
    let a = Args::bind(spec, layer, name, pos, params)?;
    let module: Box<dyn Module<T>> = match name {
        "Linear" => {
            let (i, o) = (a.usize("in_features")?, a.usize("out_features")?);
            a.check_parameters(&[&[o, i], &[o]])?;
            if a.bool_or("bias", true)? {
                Box::new(Linear::<T>::new(i, o, rng))
            } else {
                Box::new(Linear::<T>::no_bias(i, o, rng))
            }
        }
        "Conv2d" => {
            let (cin, cout) = (a.usize("in_channels")?, a.usize("out_channels")?);
            let kernel = a.pair("kernel_size")?;
            a.positive("kernel_size", kernel)?;
            let stride = a.pair_or("stride", [1, 1])?;
            a.positive("stride", stride)?;
            let dilation = a.pair_or("dilation", [1, 1])?;
            a.positive("dilation", dilation)?;
            let groups = a.usize_or("groups", 1)?;
            if groups == 0 || cin % groups != 0 || cout % groups != 0 {
                return Err(a.err_at(
                    "groups",
                    format!("groups={groups} must be positive and divide in_channels={cin} and out_channels={cout}"),
                ));
            }
            let padding = match a.get("padding").map(|n| &n.value) {
                Some(Value::Str(s)) if s == "valid" => [0, 0],
                Some(Value::Str(s)) if s == "same" => {
                    if stride != [1, 1] {
                        return Err(a.err_at("padding", "padding='same' needs stride 1"));
                    }
                    let total = [dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)];
                    if total[0] % 2 != 0 || total[1] % 2 != 0 {
                        return Err(a.err_at(
                            "padding",
                            "padding='same' with an even effective kernel pads unevenly, which graft's Conv2d does not support",
                        ));
                    }
                    [total[0] / 2, total[1] / 2]
                }
                Some(Value::Str(s)) => {
                    return Err(a.err_at(
                        "padding",
                        format!("padding='{s}': expected 'valid', 'same' or sizes"),
                    ))
                }
                _ => a.pair_or("padding", [0, 0])?,
            };
            let mode = a.str_or("padding_mode", "zeros")?;
            if mode != "zeros" {
                return Err(a.err_at(
                    "padding_mode",
                    format!("padding_mode='{mode}' is not supported (only 'zeros')"),
                ));
            }
            let bias = a.bool_or("bias", true)?;
            a.check_parameters(&[&[cout, cin / groups, kernel[0], kernel[1]], &[cout]])?;
            let options = Conv2dOptions {
                stride,
                padding,
                dilation,
                groups,
            };
            Box::new(Conv2d::<T>::with_options(
                cin, cout, kernel, options, bias, rng,
            ))
        }
        "MaxPool2d" | "AvgPool2d" => {
            let kernel = a.pair("kernel_size")?;
            a.positive("kernel_size", kernel)?;
            let stride = if a.is_none("stride") {
                kernel
            } else {
                a.pair("stride")?
            };
            a.positive("stride", stride)?;
            let padding = a.pair_or("padding", [0, 0])?;
            if padding[0] * 2 > kernel[0] || padding[1] * 2 > kernel[1] {
                return Err(a.err_at(
                    "padding",
                    format!("padding {padding:?} must be at most half of kernel_size {kernel:?}"),
                ));
            }
            a.require_false("ceil_mode")?;
            if name == "MaxPool2d" {
                if a.pair_or("dilation", [1, 1])? != [1, 1] {
                    return Err(a.err_at("dilation", "dilated max pooling is not supported"));
                }
                a.require_false("return_indices")?;
                Box::new(MaxPool2d {
                    kernel,
                    stride,
                    padding,
                })
            } else {
                if !a.is_none("divisor_override") {
                    return Err(a.err_at("divisor_override", "divisor_override is not supported"));
                }
                let count_include_pad = a.bool_or("count_include_pad", true)?;
                Box::new(AvgPool2d {
                    kernel,
                    stride,
                    padding,
                    count_include_pad,
                })
            }
        }
        "AdaptiveAvgPool2d" => {
            let size = a.pair("output_size")?;
            a.positive("output_size", size)?;
            Box::new(AdaptiveAvgPool2d(size))
        }
        "Flatten" => Box::new(Flatten {
            start: a.isize_or("start_dim", 1)?,
            end: a.isize_or("end_dim", -1)?,
        }),
        "Dropout" => {
            let p = a.f64_or("p", 0.5)?;
            if !(0.0..=1.0).contains(&p) {
                return Err(a.err_at(
                    "p",
                    format!("dropout probability has to be between 0 and 1, but got {p}"),
                ));
            }
            Box::new(Dropout::new(p, rng.gen()))
        }
        "BatchNorm1d" | "BatchNorm2d" => {
            let n = a.usize("num_features")?;
            let eps = a.f64_or("eps", 1e-5)?;
            if a.is_none("momentum") && a.get("momentum").is_some() {
                return Err(a.err_at(
                    "momentum",
                    "momentum=None (cumulative average) is not supported",
                ));
            }
            let momentum = a.f64_or("momentum", 0.1)?;
            if !a.bool_or("affine", true)? {
                return Err(a.err_at("affine", "affine=False is not supported"));
            }
            if !a.bool_or("track_running_stats", true)? {
                return Err(a.err_at(
                    "track_running_stats",
                    "track_running_stats=False is not supported",
                ));
            }
            a.check_parameters(&[&[n], &[n], &[n], &[n]])?;
            Box::new(BatchNorm::<T>::new(n).momentum(momentum).eps(eps))
        }
        "LayerNorm" => {
            let shape = a.sizes("normalized_shape")?;
            let eps = a.f64_or("eps", 1e-5)?;
            if !a.bool_or("elementwise_affine", true)? {
                return Err(a.err_at(
                    "elementwise_affine",
                    "elementwise_affine=False is not supported",
                ));
            }
            if !a.bool_or("bias", true)? {
                return Err(a.err_at("bias", "bias=False is not supported"));
            }
            a.check_parameters(&[&shape, &shape])?;
            let mut ln = LayerNorm::<T>::new(&shape);
            ln.eps = eps;
            Box::new(ln)
        }
        "Embedding" => {
            let (num, dim) = (a.usize("num_embeddings")?, a.usize("embedding_dim")?);
            a.check_parameters(&[&[num, dim]])?;
            let padding_idx = if a.is_none("padding_idx") {
                None
            } else {
                let p = a.int("padding_idx")?;
                let n = num as i64;
                if p >= n || p < -n {
                    return Err(a.err_at(
                        "padding_idx",
                        format!("padding_idx {p} must be within num_embeddings {num}"),
                    ));
                }
                Some(if p < 0 { p + n } else { p })
            };
            if !a.is_none("max_norm") {
                return Err(a.err_at("max_norm", "max_norm is not supported"));
            }
            a.require_false("scale_grad_by_freq")?;
            Box::new(Embedding::<T>::new(num, dim, padding_idx, rng))
        }
        "ReLU" => Box::new(Relu),
        "LeakyReLU" => Box::new(LeakyRelu(a.f64_or("negative_slope", 0.01)?)),
        "Sigmoid" => Box::new(Sigmoid),
        "Tanh" => Box::new(Tanh),
        "GELU" => match a.str_or("approximate", "none")? {
            "none" => Box::new(Gelu { approximate: false }),
            "tanh" => Box::new(Gelu { approximate: true }),
            other => {
                return Err(a.err_at(
                    "approximate",
                    format!("approximate='{other}': expected 'none' or 'tanh'"),
                ))
            }
        },
        "Softplus" => Box::new(Softplus {
            beta: a.f64_or("beta", 1.0)?,
            threshold: a.f64_or("threshold", 20.0)?,
        }),
        "Softmax" | "LogSoftmax" => {
            if a.is_none("dim") {
                return Err(
                    a.err_at_layer(format!("{name} needs an explicit dim, e.g. {name}(dim=1)"))
                );
            }
            let dim = a.int("dim")? as isize;
            if name == "Softmax" {
                Box::new(Softmax(dim))
            } else {
                Box::new(LogSoftmax(dim))
            }
        }
        _ => unreachable!("every name in the parameter table is built"),
    };
    Ok(module)
}

/// A layer's arguments bound to PyTorch's parameter names.
struct Args<'a> {
    spec: &'a str,
    layer: &'a str,
    pos: usize,
    values: HashMap<&'static str, &'a Node>,
}

impl<'a> Args<'a> {
    fn bind(
        spec: &'a str,
        layer: &'a Layer,
        name: &'a str,
        pos: usize,
        params: &[&'static str],
    ) -> Result<Self, SpecError> {
        let mut values: HashMap<&'static str, &'a Node> = HashMap::new();
        let mut seen_keyword = false;
        let signature = if params.is_empty() {
            "no arguments".to_string()
        } else {
            format!("({})", params.join(", "))
        };
        for (i, arg) in layer.args.iter().enumerate() {
            if let Some(label) = &arg.label {
                return Err(SpecError::new(
                    spec,
                    label.pos,
                    "`(name):` labels belong inside Sequential(...)",
                ));
            }
            let param = match &arg.key {
                Some((key, kpos)) => {
                    seen_keyword = true;
                    *params.iter().find(|p| **p == key).ok_or_else(|| {
                        SpecError::new(
                            spec,
                            *kpos,
                            format!("{name} has no argument `{key}`; it takes {signature}"),
                        )
                    })?
                }
                None => {
                    if seen_keyword {
                        return Err(SpecError::new(
                            spec,
                            arg.node.pos,
                            "positional argument after a keyword argument",
                        ));
                    }
                    *params.get(i).ok_or_else(|| {
                        SpecError::new(
                            spec,
                            arg.node.pos,
                            format!("too many arguments to {name}; it takes {signature}"),
                        )
                    })?
                }
            };
            if values.insert(param, &arg.node).is_some() {
                let p = arg.key.as_ref().map_or(arg.node.pos, |k| k.1);
                return Err(SpecError::new(
                    spec,
                    p,
                    format!("{name} got argument `{param}` twice"),
                ));
            }
        }
        Ok(Args {
            spec,
            layer: name,
            pos,
            values,
        })
    }

    fn get(&self, param: &str) -> Option<&'a Node> {
        self.values.get(param).copied()
    }

    fn err_at(&self, param: &str, msg: impl Into<String>) -> SpecError {
        let pos = self.get(param).map_or(self.pos, |n| n.pos);
        SpecError::new(self.spec, pos, format!("{}: {}", self.layer, msg.into()))
    }

    /// An error at the layer when its parameter tensors (`shapes`) would overflow or exceed
    /// [`crate::limits::max_parameters`]: checked before anything is allocated.
    fn check_parameters(&self, shapes: &[&[usize]]) -> Result<(), SpecError> {
        crate::limits::check_parameter_count(self.layer, shapes)
            .map(|_| ())
            .map_err(|m| self.err_at_layer(m))
    }

    fn err_at_layer(&self, msg: impl Into<String>) -> SpecError {
        SpecError::new(self.spec, self.pos, msg)
    }

    fn required(&self, param: &str) -> Result<&'a Node, SpecError> {
        self.get(param).ok_or_else(|| {
            self.err_at_layer(format!("{} is missing its argument `{param}`", self.layer))
        })
    }

    fn expected(&self, param: &str, node: &Node, what: &str) -> SpecError {
        SpecError::new(
            self.spec,
            node.pos,
            format!("{}: `{param}` must be {what}", self.layer),
        )
    }

    /// True when the argument is absent or `None`.
    fn is_none(&self, param: &str) -> bool {
        match self.get(param) {
            None => true,
            Some(n) => matches!(n.value, Value::None),
        }
    }

    fn int(&self, param: &str) -> Result<i64, SpecError> {
        let node = self.required(param)?;
        match node.value {
            Value::Int(v) => Ok(v),
            _ => Err(self.expected(param, node, "an integer")),
        }
    }

    fn usize_node(&self, param: &str, node: &Node) -> Result<usize, SpecError> {
        match node.value {
            Value::Int(v) if v >= 0 => {
                usize::try_from(v).map_err(|_| self.expected(param, node, "a size"))
            }
            _ => Err(self.expected(param, node, "a non-negative integer")),
        }
    }

    fn usize(&self, param: &str) -> Result<usize, SpecError> {
        let node = self.required(param)?;
        self.usize_node(param, node)
    }

    fn usize_or(&self, param: &str, default: usize) -> Result<usize, SpecError> {
        if self.get(param).is_some() {
            self.usize(param)
        } else {
            Ok(default)
        }
    }

    fn isize_or(&self, param: &str, default: isize) -> Result<isize, SpecError> {
        match self.get(param) {
            None => Ok(default),
            Some(node) => match node.value {
                Value::Int(v) => {
                    isize::try_from(v).map_err(|_| self.expected(param, node, "a dim"))
                }
                _ => Err(self.expected(param, node, "an integer")),
            },
        }
    }

    fn f64_or(&self, param: &str, default: f64) -> Result<f64, SpecError> {
        match self.get(param) {
            None => Ok(default),
            Some(node) => match node.value {
                Value::Int(v) => Ok(v as f64),
                Value::Float(v) => Ok(v),
                _ => Err(self.expected(param, node, "a number")),
            },
        }
    }

    fn bool_or(&self, param: &str, default: bool) -> Result<bool, SpecError> {
        match self.get(param) {
            None => Ok(default),
            Some(node) => match node.value {
                Value::Bool(v) => Ok(v),
                _ => Err(self.expected(param, node, "True or False")),
            },
        }
    }

    fn require_false(&self, param: &str) -> Result<(), SpecError> {
        if self.bool_or(param, false)? {
            return Err(self.err_at(param, format!("{param}=True is not supported")));
        }
        Ok(())
    }

    fn str_or(&self, param: &str, default: &'static str) -> Result<&'a str, SpecError> {
        match self.get(param) {
            None => Ok(default),
            Some(node) => match &node.value {
                Value::Str(s) => Ok(s),
                _ => Err(self.expected(param, node, "a quoted string")),
            },
        }
    }

    /// An int `k` (meaning `[k, k]`) or a pair `(h, w)`.
    fn pair(&self, param: &str) -> Result<[usize; 2], SpecError> {
        let node = self.required(param)?;
        match &node.value {
            Value::Int(_) => {
                let v = self.usize_node(param, node)?;
                Ok([v, v])
            }
            Value::Tuple(items) if items.len() == 2 => Ok([
                self.usize_node(param, &items[0])?,
                self.usize_node(param, &items[1])?,
            ]),
            _ => Err(self.expected(param, node, "an integer or a pair like (3, 3)")),
        }
    }

    fn pair_or(&self, param: &str, default: [usize; 2]) -> Result<[usize; 2], SpecError> {
        if self.get(param).is_some() {
            self.pair(param)
        } else {
            Ok(default)
        }
    }

    /// An int `n` (meaning `[n]`) or a tuple of sizes.
    fn sizes(&self, param: &str) -> Result<Vec<usize>, SpecError> {
        let node = self.required(param)?;
        match &node.value {
            Value::Int(_) => Ok(vec![self.usize_node(param, node)?]),
            Value::Tuple(items) if !items.is_empty() => {
                items.iter().map(|n| self.usize_node(param, n)).collect()
            }
            _ => Err(self.expected(param, node, "an integer or a tuple of sizes")),
        }
    }

    /// Checks every entry of a size pair is positive.
    fn positive(&self, param: &str, v: [usize; 2]) -> Result<(), SpecError> {
        if v.contains(&0) {
            return Err(self.err_at(param, format!("`{param}` must be positive, got {v:?}")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use graft_autograd::Var;
    use graft_tensor::Tensor;
    use rand::SeedableRng;

    fn build(spec: &str) -> Result<Sequential<f64>, SpecError> {
        Sequential::from_spec(spec, &mut rand::rngs::StdRng::seed_from_u64(0))
    }

    fn state(m: &Sequential<f64>) -> Vec<(String, Vec<usize>)> {
        m.named_state()
            .into_iter()
            .map(|(n, v)| (n, v.shape().to_vec()))
            .collect()
    }

    fn out_shape(m: &Sequential<f64>, input: &[usize]) -> Vec<usize> {
        m.eval();
        m.forward(&Var::new(Tensor::ones(input))).shape().to_vec()
    }

    fn err(spec: &str) -> SpecError {
        match build(spec) {
            Ok(_) => panic!("{spec:?} should not build"),
            Err(e) => e,
        }
    }

    #[test]
    fn fixture_architectures() {
        let mlp = build("Sequential(Linear(784,128), ReLU, Linear(128,10))").unwrap();
        assert_eq!(
            state(&mlp),
            [
                ("0.weight".to_string(), vec![128, 784]),
                ("0.bias".to_string(), vec![128]),
                ("2.weight".to_string(), vec![10, 128]),
                ("2.bias".to_string(), vec![10])
            ]
        );
        assert_eq!(out_shape(&mlp, &[2, 784]), [2, 10]);
        let cnn = build("Sequential(Conv2d(1,8,3), ReLU, MaxPool2d(2), Conv2d(8,16,3), ReLU, MaxPool2d(2), Flatten, Linear(400,10))").unwrap();
        let names: Vec<String> = state(&cnn).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias"]
        );
        assert_eq!(out_shape(&cnn, &[2, 1, 28, 28]), [2, 10]);
    }

    #[test]
    fn pytorch_printed_form() {
        let spec = "Sequential(
  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (2): ReLU(inplace=True)
  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (4): Conv2d(8, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), groups=2, bias=False)
  (5): AvgPool2d(kernel_size=2, stride=2, padding=0)
  (6): AdaptiveAvgPool2d(output_size=(1, 1))
  (7): Flatten(start_dim=1, end_dim=-1)
  (8): Dropout(p=0.5, inplace=False)
  (9): Linear(in_features=16, out_features=12, bias=True)
  (10): LayerNorm((12,), eps=1e-05, elementwise_affine=True)
  (11): GELU(approximate='tanh')
  (12): LeakyReLU(negative_slope=0.2)
  (13): Softplus(beta=1.0, threshold=20.0)
  (14): Sequential(
    (0): Linear(in_features=12, out_features=6, bias=False)
    (1): BatchNorm1d(6, eps=0.001, momentum=0.01, affine=True, track_running_stats=True)
    (2): Tanh()
    (3): Sigmoid()
    (4): Identity()
  )
  (15): LogSoftmax(dim=1)
)";
        let m = build(spec).unwrap();
        let st = state(&m);
        let get = |n: &str| st.iter().find(|(k, _)| k == n).map(|(_, s)| s.clone());
        assert_eq!(get("0.weight"), Some(vec![8, 3, 3, 3]));
        assert_eq!(get("1.running_var"), Some(vec![8]));
        assert_eq!(get("1.num_batches_tracked"), Some(vec![]));
        assert_eq!(get("4.weight"), Some(vec![16, 4, 3, 3]));
        assert_eq!(get("4.bias"), None);
        assert_eq!(get("10.weight"), Some(vec![12]));
        assert_eq!(get("14.0.weight"), Some(vec![6, 12]));
        assert_eq!(get("14.0.bias"), None);
        assert_eq!(get("14.1.running_mean"), Some(vec![6]));
        assert_eq!(st.len(), 2 + 5 + 1 + 2 + 2 + 1 + 5);
        assert_eq!(out_shape(&m, &[2, 3, 16, 16]), [2, 6]);
        // Padded 3x3 keeps 16x16, pool 8x8, stride-2 conv 4x4, pool 2x2, global pool 1x1.
        let mid = build(
            &spec
                .replace(
                    "(6): AdaptiveAvgPool2d(output_size=(1, 1))",
                    "(6): Identity()",
                )
                .replace("(9): Linear(in_features=16", "(9): Linear(in_features=64"),
        )
        .unwrap();
        assert_eq!(out_shape(&mid, &[2, 3, 16, 16]), [2, 6]);
    }

    #[test]
    fn short_forms_and_defaults() {
        let m = build(
            "nn.Sequential(nn.Linear(4, 6, bias=False), ReLU(), LeakyReLU(0.1), torch.nn.Dropout(0.25), \
             Linear(6, 5), Softmax(dim=-1))",
        )
        .unwrap();
        assert_eq!(
            state(&m),
            [
                ("0.weight".to_string(), vec![6, 4]),
                ("4.weight".to_string(), vec![5, 6]),
                ("4.bias".to_string(), vec![5])
            ]
        );
        let y = m.forward(&Var::new(Tensor::ones(&[3, 4])));
        let sums: Vec<f64> = y.value().sum_dims(&[1], false).to_vec();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-12));
        let conv = build("Sequential(Conv2d(2, 4, 5, padding='same'), Conv2d(4, 4, (3, 1), stride=(2, 1), dilation=1, padding='valid'))").unwrap();
        assert_eq!(out_shape(&conv, &[1, 2, 9, 9]), [1, 4, 4, 9]);
        let ln = build("Sequential(LayerNorm([3, 4]))");
        assert!(ln.is_err(), "lists are not Python tuples");
        let ln = build("Sequential(LayerNorm((3, 4)), Embedding(10, 3, padding_idx=-1))").unwrap();
        assert_eq!(state(&ln)[0].1, [3, 4]);
        assert_eq!(state(&ln)[2], ("1.weight".to_string(), vec![10, 3]));
    }

    #[test]
    fn errors_say_what_and_where() {
        let e = err("Sequential(Linear(784,128), Relu, Linear(128,10))");
        assert_eq!((e.line(), e.column(), e.offset()), (1, 29, 28));
        assert!(
            e.message()
                .starts_with("unknown layer `Relu`; known layers: Sequential, Linear"),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with("model spec, line 1 column 29: unknown layer `Relu`"),
            "{e}"
        );

        let e = err("Sequential(\n  (0): Linear(784)\n)");
        assert_eq!((e.line(), e.column()), (2, 8));
        assert!(
            e.message()
                .contains("Linear is missing its argument `out_features`"),
            "{e}"
        );

        for (spec, column, text) in [
            (
                "Sequential(Linear(784, 128, 5))",
                29,
                "`bias` must be True or False",
            ),
            (
                "Sequential(Linear(1, 2, True, 4))",
                31,
                "too many arguments to Linear; it takes (in_features, out_features, bias)",
            ),
            (
                "Sequential(Linear(1, 2, biass=False))",
                25,
                "Linear has no argument `biass`",
            ),
            (
                "Sequential(Linear(in_features=1, 2))",
                34,
                "positional argument after a keyword argument",
            ),
            (
                "Sequential(Linear(1, out_features=2, out_features=3))",
                38,
                "got argument `out_features` twice",
            ),
            (
                "Sequential(Conv2d(3, 8, 3, groups=2))",
                35,
                "groups=2 must be positive and divide in_channels=3",
            ),
            (
                "Sequential(Conv2d(3, 8, (3, 3, 3)))",
                25,
                "`kernel_size` must be an integer or a pair like (3, 3)",
            ),
            (
                "Sequential(Conv2d(3, 8, 0))",
                25,
                "`kernel_size` must be positive",
            ),
            (
                "Sequential(Conv2d(3, 8, 4, padding='same'))",
                36,
                "pads unevenly",
            ),
            (
                "Sequential(Conv2d(3, 8, 3, padding_mode='reflect'))",
                41,
                "padding_mode='reflect' is not supported",
            ),
            (
                "Sequential(MaxPool2d(2, ceil_mode=True))",
                35,
                "ceil_mode=True is not supported",
            ),
            (
                "Sequential(MaxPool2d(2, padding=2))",
                33,
                "must be at most half of kernel_size",
            ),
            ("Sequential(Dropout(1.5))", 20, "between 0 and 1"),
            ("Sequential(Softmax)", 12, "Softmax needs an explicit dim"),
            (
                "Sequential(Softmax(dim=None))",
                12,
                "Softmax needs an explicit dim",
            ),
            (
                "Sequential(BatchNorm2d(4, affine=False))",
                34,
                "affine=False is not supported",
            ),
            (
                "Sequential(BatchNorm1d(4, momentum=None))",
                36,
                "momentum=None",
            ),
            (
                "Sequential(GELU(approximate='fast'))",
                29,
                "approximate='fast'",
            ),
            (
                "Sequential((0): ReLU(), (2): ReLU())",
                26,
                "child (2) is at position 1",
            ),
            (
                "Sequential((fc1): Linear(2, 2))",
                13,
                "named children are not supported",
            ),
            (
                "Sequential(ReLU, 3)",
                18,
                "expected a layer inside Sequential",
            ),
            (
                "Sequential(Linear(1, 2)",
                24,
                "expected `,` or `)` after an argument, found the end of the spec",
            ),
            (
                "Sequential(Linear(1, 2))) ",
                25,
                "unexpected `) ` after the model",
            ),
            (
                "Sequential(Linear(1 2))",
                21,
                "expected `,` or `)` after an argument, found `2`",
            ),
            ("Sequential(Linear(1, 2e))", 22, "`2e` is not a number"),
            (
                "Sequential(GELU(approximate='tanh))",
                29,
                "unterminated string",
            ),
            (
                "Linear(1, 2)",
                1,
                "expected `Sequential(...)` at the top level",
            ),
            ("   ", 4, "empty model spec"),
            (
                "Sequential(Linear(1, 2, bias=False) = 3)",
                37,
                "`=` must follow an argument name",
            ),
        ] {
            let e = err(spec);
            assert!(e.message().contains(text), "{spec:?}: {e}");
            assert_eq!(e.column(), column, "{spec:?}: {e}");
        }
    }

    #[test]
    fn single_layers() {
        let l =
            layer_from_spec::<f32, _>("Linear(3, 2)", &mut rand::rngs::StdRng::seed_from_u64(0))
                .unwrap();
        assert_eq!(l.num_parameters(), 8);
        assert!(
            layer_from_spec::<f32, _>("(1, 2)", &mut rand::rngs::StdRng::seed_from_u64(0)).is_err()
        );
    }
}
