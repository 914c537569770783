//! `Display` like PyTorch's repr (summarized past 1000 elements) and a `Debug` that adds the
//! layout.

use std::fmt;

use crate::element::Element;
use crate::tensor::Tensor;

/// Above this many elements, only the first and last `EDGE` entries of each dim are shown.
const SUMMARIZE_ABOVE: usize = 1000;
const EDGE: usize = 3;

fn format_values<T: Element>(values: &[T]) -> Vec<String> {
    let is_float = T::DTYPE.starts_with("float");
    if !is_float {
        return values.iter().map(|v| v.to_string()).collect();
    }
    let finite: Vec<f64> = values
        .iter()
        .map(|v| v.to_f64())
        .filter(|v| v.is_finite())
        .collect();
    let max = finite.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let min_nonzero = finite
        .iter()
        .filter(|v| **v != 0.0)
        .fold(f64::INFINITY, |m, v| m.min(v.abs()));
    let scientific = max >= 1e8 || (min_nonzero < 1e-4 && min_nonzero.is_finite());
    let all_whole = finite.iter().all(|v| v.fract() == 0.0) && max < 1e8;
    values
        .iter()
        .map(|v| {
            let v = v.to_f64();
            if v.is_nan() {
                "nan".to_string()
            } else if !v.is_finite() {
                format!("{v}")
            } else if scientific {
                scientific_cell(v)
            } else if all_whole {
                format!("{v:.0}.")
            } else {
                format!("{v:.4}")
            }
        })
        .collect()
}

/// `1.0000e-05` as PyTorch prints it (Rust's `{:e}` gives `1.0000e-5`).
fn scientific_cell(v: f64) -> String {
    let s = format!("{v:.4e}");
    match s.split_once('e').map(|(m, e)| (m, e.parse::<i32>())) {
        Some((mantissa, Ok(exp))) => {
            let sign = if exp < 0 { '-' } else { '+' };
            format!("{mantissa}e{sign}{:02}", exp.abs())
        }
        _ => s,
    }
}

/// Indices shown along a dim of `size`: all of them, or the edges with `None` for "...".
fn shown(size: usize, summarize: bool) -> Vec<Option<usize>> {
    if summarize && size > 2 * EDGE {
        (0..EDGE)
            .map(Some)
            .chain([None])
            .chain((size - EDGE..size).map(Some))
            .collect()
    } else {
        (0..size).map(Some).collect()
    }
}

fn collect<T: Element>(t: &Tensor<T>, summarize: bool, index: &mut Vec<usize>, out: &mut Vec<T>) {
    if index.len() == t.ndim() {
        out.push(t.get(index));
        return;
    }
    for i in shown(t.shape()[index.len()], summarize)
        .into_iter()
        .flatten()
    {
        index.push(i);
        collect(t, summarize, index, out);
        index.pop();
    }
}

fn write_nested<T: Element>(
    f: &mut fmt::Formatter<'_>,
    t: &Tensor<T>,
    summarize: bool,
    cells: &mut std::slice::Iter<'_, String>,
    width: usize,
    depth: usize,
    indent: usize,
) -> fmt::Result {
    if depth == t.ndim() {
        return write!(
            f,
            "{:>width$}",
            cells.next().map(String::as_str).unwrap_or("")
        );
    }
    write!(f, "[")?;
    let items = shown(t.shape()[depth], summarize);
    let last = depth + 1 == t.ndim();
    for (pos, item) in items.iter().enumerate() {
        if pos > 0 {
            if last {
                write!(f, ", ")?;
            } else {
                write!(
                    f,
                    ",{}{:indent$}",
                    "\n".repeat(t.ndim() - depth - 1),
                    "",
                    indent = indent + depth + 1
                )?;
            }
        }
        match item {
            Some(_) => write_nested(f, t, summarize, cells, width, depth + 1, indent)?,
            None => write!(f, "...")?,
        }
    }
    write!(f, "]")
}

impl<T: Element> fmt::Display for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let summarize = self.numel() > SUMMARIZE_ABOVE;
        let mut values = Vec::new();
        collect(self, summarize, &mut Vec::new(), &mut values);
        let cells = format_values(&values);
        let width = cells.iter().map(String::len).max().unwrap_or(0);
        write!(f, "tensor(")?;
        write_nested(
            f,
            self,
            summarize,
            &mut cells.iter(),
            width,
            0,
            "tensor(".len(),
        )?;
        match T::DTYPE {
            "float32" => write!(f, ")"),
            dtype => write!(f, ", dtype={dtype})"),
        }
    }
}

impl<T: Element> fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tensor<{}> {{ shape: {:?}, strides: {:?}, offset: {}, values: {} }}",
            T::DTYPE,
            self.shape(),
            self.strides(),
            self.layout().offset(),
            self
        )
    }
}
