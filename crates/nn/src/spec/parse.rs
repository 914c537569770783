//! The syntax of architecture strings: layers with positional and keyword arguments, ints,
//! floats, booleans, `None`, quoted strings, tuples and PyTorch's `(i):` child labels.

use super::SpecError;

#[derive(Debug)]
pub(super) enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    None,
    Str(String),
    Tuple(Vec<Node>),
    Layer(Layer),
}

#[derive(Debug)]
pub(super) struct Node {
    pub(super) value: Value,
    pub(super) pos: usize,
}

#[derive(Debug)]
pub(super) struct Layer {
    pub(super) name: String,
    /// Byte offset of the name.
    pub(super) pos: usize,
    pub(super) args: Vec<Arg>,
}

#[derive(Debug)]
pub(super) struct Arg {
    /// `(0):` in PyTorch's printed form.
    pub(super) label: Option<Node>,
    /// `name=` of a keyword argument, with its position.
    pub(super) key: Option<(String, usize)>,
    pub(super) node: Node,
}

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
}

pub(super) fn parse(spec: &str) -> Result<Node, SpecError> {
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
