//! A layer's arguments bound to PyTorch's parameter names, and typed readers for them that
//! report errors at the argument's position.

use std::collections::HashMap;

use super::parse::{Layer, Node, Value};
use super::SpecError;

/// A layer's arguments bound to PyTorch's parameter names.
pub(super) struct Args<'a> {
    /// The whole spec string, for error positions.
    pub(super) spec: &'a str,
    /// The layer's name without its `nn.` prefix.
    pub(super) layer: &'a str,
    /// The parsed layer, for builders that read children rather than arguments.
    pub(super) node: &'a Layer,
    /// Byte offset of the layer's name.
    pub(super) pos: usize,
    values: HashMap<&'static str, &'a Node>,
}

impl<'a> Args<'a> {
    pub(super) fn bind(
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
            node: layer,
            pos,
            values,
        })
    }

    /// A layer whose arguments are not bound to names (Sequential's children, Identity's
    /// ignored arguments).
    pub(super) fn unbound(spec: &'a str, layer: &'a Layer, name: &'a str, pos: usize) -> Self {
        Args {
            spec,
            layer: name,
            node: layer,
            pos,
            values: HashMap::new(),
        }
    }

    pub(super) fn get(&self, param: &str) -> Option<&'a Node> {
        self.values.get(param).copied()
    }

    pub(super) fn err_at(&self, param: &str, msg: impl Into<String>) -> SpecError {
        let pos = self.get(param).map_or(self.pos, |n| n.pos);
        SpecError::new(self.spec, pos, format!("{}: {}", self.layer, msg.into()))
    }

    /// An error at the layer when its parameter tensors (`shapes`) would overflow or exceed
    /// [`crate::limits::max_parameters`]: checked before anything is allocated.
    pub(super) fn check_parameters(&self, shapes: &[&[usize]]) -> Result<(), SpecError> {
        crate::limits::check_parameter_count(self.layer, shapes)
            .map(|_| ())
            .map_err(|m| self.err_at_layer(m))
    }

    pub(super) fn err_at_layer(&self, msg: impl Into<String>) -> SpecError {
        SpecError::new(self.spec, self.pos, msg)
    }

    pub(super) fn required(&self, param: &str) -> Result<&'a Node, SpecError> {
        self.get(param).ok_or_else(|| {
            self.err_at_layer(format!("{} is missing its argument `{param}`", self.layer))
        })
    }

    pub(super) fn expected(&self, param: &str, node: &Node, what: &str) -> SpecError {
        SpecError::new(
            self.spec,
            node.pos,
            format!("{}: `{param}` must be {what}", self.layer),
        )
    }

    /// True when the argument is absent or `None`.
    pub(super) fn is_none(&self, param: &str) -> bool {
        match self.get(param) {
            None => true,
            Some(n) => matches!(n.value, Value::None),
        }
    }

    pub(super) fn int(&self, param: &str) -> Result<i64, SpecError> {
        let node = self.required(param)?;
        match node.value {
            Value::Int(v) => Ok(v),
            _ => Err(self.expected(param, node, "an integer")),
        }
    }

    pub(super) fn usize_node(&self, param: &str, node: &Node) -> Result<usize, SpecError> {
        match node.value {
            Value::Int(v) if v >= 0 => {
                usize::try_from(v).map_err(|_| self.expected(param, node, "a size"))
            }
            _ => Err(self.expected(param, node, "a non-negative integer")),
        }
    }

    pub(super) fn usize(&self, param: &str) -> Result<usize, SpecError> {
        let node = self.required(param)?;
        self.usize_node(param, node)
    }

    pub(super) fn usize_or(&self, param: &str, default: usize) -> Result<usize, SpecError> {
        if self.get(param).is_some() {
            self.usize(param)
        } else {
            Ok(default)
        }
    }

    pub(super) fn isize_or(&self, param: &str, default: isize) -> Result<isize, SpecError> {
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

    pub(super) fn f64_or(&self, param: &str, default: f64) -> Result<f64, SpecError> {
        match self.get(param) {
            None => Ok(default),
            Some(node) => match node.value {
                Value::Int(v) => Ok(v as f64),
                Value::Float(v) => Ok(v),
                _ => Err(self.expected(param, node, "a number")),
            },
        }
    }

    pub(super) fn bool_or(&self, param: &str, default: bool) -> Result<bool, SpecError> {
        match self.get(param) {
            None => Ok(default),
            Some(node) => match node.value {
                Value::Bool(v) => Ok(v),
                _ => Err(self.expected(param, node, "True or False")),
            },
        }
    }

    pub(super) fn require_false(&self, param: &str) -> Result<(), SpecError> {
        if self.bool_or(param, false)? {
            return Err(self.err_at(param, format!("{param}=True is not supported")));
        }
        Ok(())
    }

    pub(super) fn str_or(&self, param: &str, default: &'static str) -> Result<&'a str, SpecError> {
        match self.get(param) {
            None => Ok(default),
            Some(node) => match &node.value {
                Value::Str(s) => Ok(s),
                _ => Err(self.expected(param, node, "a quoted string")),
            },
        }
    }

    /// An int `k` (meaning `[k, k]`) or a pair `(h, w)`.
    pub(super) fn pair(&self, param: &str) -> Result<[usize; 2], SpecError> {
        self.tuple::<2>(param)
    }

    /// [`Args::pair`], or `default` when the argument is absent.
    pub(super) fn pair_or(
        &self,
        param: &str,
        default: [usize; 2],
    ) -> Result<[usize; 2], SpecError> {
        self.tuple_or(param, default)
    }

    /// An int `k` (meaning `k` in every one of `N` dims) or an `N`-tuple of sizes.
    pub(super) fn tuple<const N: usize>(&self, param: &str) -> Result<[usize; N], SpecError> {
        let node = self.required(param)?;
        match &node.value {
            Value::Int(_) => Ok([self.usize_node(param, node)?; N]),
            Value::Tuple(items) if items.len() == N => {
                let mut out = [0; N];
                for (o, item) in out.iter_mut().zip(items) {
                    *o = self.usize_node(param, item)?;
                }
                Ok(out)
            }
            _ => {
                let what = match N {
                    1 => "an integer or a 1-tuple like (3,)".to_string(),
                    2 => "an integer or a pair like (3, 3)".to_string(),
                    _ => format!("an integer or a {N}-tuple"),
                };
                Err(self.expected(param, node, &what))
            }
        }
    }

    /// [`Args::tuple`], or `default` when the argument is absent.
    pub(super) fn tuple_or<const N: usize>(
        &self,
        param: &str,
        default: [usize; N],
    ) -> Result<[usize; N], SpecError> {
        if self.get(param).is_some() {
            self.tuple(param)
        } else {
            Ok(default)
        }
    }

    /// An int `n` (meaning `[n]`) or a tuple of sizes.
    pub(super) fn sizes(&self, param: &str) -> Result<Vec<usize>, SpecError> {
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
    pub(super) fn positive(&self, param: &str, v: &[usize]) -> Result<(), SpecError> {
        if v.contains(&0) {
            return Err(self.err_at(param, format!("`{param}` must be positive, got {v:?}")));
        }
        Ok(())
    }
}
