//! Function transforms built on grad-of-grad, in the habits of PyTorch's
//! `torch.autograd.functional` and JAX's `vjp`/`jvp`/`jacrev`/`jacfwd`/`hessian`:
//! [`vjp`], [`jvp`], [`jacobian`] (reverse mode), [`jacobian_forward`] (built on the jvp),
//! [`hessian`], [`hvp`] and [`vhp`].
//!
//! Conventions (PyTorch's, with these differences):
//! - A function takes `&[Var<T>]` and returns a `Var<T>` or a `Vec<Var<T>>` (see
//!   [`Outputs`]); PyTorch accepts a tensor or a tuple of tensors for each.
//! - Results always come in the list form: `jacobian(..)[i][j]` is the Jacobian of output
//!   `i` with respect to input `j`, of shape `output_i.shape ++ input_j.shape`, even with one
//!   input and one output (PyTorch then hands back the bare tensor).
//! - The inputs are independent variables: derivatives are partial, even when one input
//!   was computed from another. An output that does not depend on an input gets zeros
//!   (PyTorch's `strict=False`; there is no `strict` mode).
//! - Without `create_graph` the results (and the returned outputs) are constants. With it
//!   they are recorded: differentiable with respect to the inputs (tracked Vars passed as
//!   inputs stay connected to their graph), to the vectors `v` where those are tracked, and
//!   to whatever tracked Vars the function captures.
//! - Errors (a `v` of the wrong count or shape, a non-scalar function for `hessian`) are
//!   `TensorError`s naming the transform and the shapes, as [`grad`](crate::grad) returns
//!   them.
//!
//! ```
//! use graft_autograd::functional::{hessian, jacobian};
//! use graft_autograd::Var;
//! use graft_tensor::Tensor;
//! let x = Var::new(Tensor::from_vec(vec![1.0f64, 2.0], &[2]));
//! // f(x) = x0² x1: gradient (2 x0 x1, x0²), Hessian [[2 x1, 2 x0], [2 x0, 0]].
//! let f = |v: &[Var<f64>]| (&v[0].narrow(0, 0, 1).square() * &v[0].narrow(0, 1, 1)).sum();
//! let h = hessian(f, &[x.clone()], false).unwrap();
//! assert_eq!(h[0][0].value().to_vec(), vec![4.0, 2.0, 2.0, 0.0]);
//! let j = jacobian(|v: &[Var<f64>]| v[0].square(), &[x], false).unwrap();
//! assert_eq!(j[0][0].value().to_vec(), vec![2.0, 0.0, 0.0, 4.0]);
//! ```

mod hessian;
mod jacobian;
mod vjp;

pub use hessian::{hessian, hvp, vhp};
pub use jacobian::{jacobian, jacobian_forward};
pub use vjp::{jvp, vjp};

use graft_tensor::{Float, Result, Tensor, TensorError};

use crate::graph::with_grad_mode;
use crate::var::Var;

/// What [`vjp`] and [`jvp`] return: the function's outputs and the products (one per
/// input for `vjp`, one per output for `jvp`).
pub type Products<T> = (Vec<Var<T>>, Vec<Var<T>>);

/// What a transformed function may return: one Var, or several.
pub trait Outputs<T: Float> {
    /// The outputs as a list.
    fn into_vars(self) -> Vec<Var<T>>;
}

impl<T: Float> Outputs<T> for Var<T> {
    fn into_vars(self) -> Vec<Var<T>> {
        vec![self]
    }
}

impl<T: Float> Outputs<T> for Vec<Var<T>> {
    fn into_vars(self) -> Vec<Var<T>> {
        self
    }
}

/// The variables a transform differentiates with respect to. Without `create_graph` they
/// are fresh leaves holding the inputs' values (nothing outside is recorded into); with it,
/// tracked inputs are used as they are, so results stay connected to them (a Var passed
/// twice gets an alias, so each position is its own variable).
fn variables<T: Float>(inputs: &[Var<T>], create_graph: bool) -> Vec<Var<T>> {
    inputs
        .iter()
        .enumerate()
        .map(|(i, x)| {
            if !(create_graph && x.needs_grad()) {
                Var::parameter(x.value())
            } else if inputs[..i].iter().any(|u| u.key() == x.key()) {
                x.add_scalar(T::ZERO)
            } else {
                x.clone()
            }
        })
        .collect()
}

/// Runs `f` on `xs` with recording on, whatever the caller's grad mode.
fn call<T: Float, O: Outputs<T>>(f: impl Fn(&[Var<T>]) -> O, xs: &[Var<T>]) -> Vec<Var<T>> {
    with_grad_mode(true, || f(xs).into_vars())
}

/// The outputs as the caller gets them back: constants unless `create_graph`.
fn hand_back<T: Float>(outputs: Vec<Var<T>>, create_graph: bool) -> Vec<Var<T>> {
    if create_graph {
        outputs
    } else {
        outputs.iter().map(Var::detach).collect()
    }
}

/// The vectors `given` paired with `shapes` (of the function's outputs or inputs, named by
/// `role`), checked for count and shape; `None` means ones, allowed when every shape has
/// one element.
fn vectors<T: Float>(
    op: &str,
    given: Option<&[Var<T>]>,
    shapes: &[Vec<usize>],
    role: &str,
) -> Result<Vec<Var<T>>> {
    let Some(given) = given else {
        if let Some(s) = shapes.iter().find(|s| s.iter().product::<usize>() != 1) {
            return Err(TensorError::new(
                op,
                format!("v may be omitted only when every {role} has one element; an {role} has shape {s:?}"),
            ));
        }
        return Ok(shapes
            .iter()
            .map(|s| Var::new(Tensor::full(s, T::ONE)))
            .collect());
    };
    if given.len() != shapes.len() {
        return Err(TensorError::new(
            op,
            format!("{} vectors given for {} {role}s", given.len(), shapes.len()),
        ));
    }
    for (i, (v, s)) in given.iter().zip(shapes).enumerate() {
        if v.shape() != s.as_slice() {
            return Err(TensorError::new(
                op,
                format!(
                    "v[{i}] has shape {:?} but {role} {i} has shape {s:?}",
                    v.shape()
                ),
            ));
        }
    }
    Ok(given.to_vec())
}

fn shapes<T: Float>(vars: &[Var<T>]) -> Vec<Vec<usize>> {
    vars.iter().map(|v| v.shape().to_vec()).collect()
}

/// `g`, or zeros of `shape` where nothing was reached.
fn or_zeros<T: Float>(g: Option<Var<T>>, shape: &[usize]) -> Var<T> {
    g.unwrap_or_else(|| Var::new(Tensor::zeros(shape)))
}

/// The one-hot tensor of `shape` with a 1 at flat index `k`.
fn one_hot<T: Float>(shape: &[usize], k: usize) -> Var<T> {
    let mut data = vec![T::ZERO; shape.iter().product()];
    data[k] = T::ONE;
    Var::new(Tensor::from_vec(data, shape))
}

/// Rows (each of shape `tail`, one per element of `lead`) as one Var of shape
/// `lead ++ tail`, built with Var ops so that recorded rows stay differentiable.
fn assemble_rows<T: Float>(rows: &[Var<T>], lead: &[usize], tail: &[usize]) -> Var<T> {
    let shape: Vec<usize> = lead.iter().chain(tail).copied().collect();
    if rows.is_empty() {
        return Var::new(Tensor::zeros(&shape));
    }
    let refs: Vec<&Var<T>> = rows.iter().collect();
    Var::stack(&refs, 0).reshape(&shape)
}

/// Columns (each of shape `lead`, one per element of `tail`) as one Var of shape
/// `lead ++ tail`.
fn assemble_columns<T: Float>(columns: &[Var<T>], lead: &[usize], tail: &[usize]) -> Var<T> {
    let shape: Vec<usize> = lead.iter().chain(tail).copied().collect();
    if columns.is_empty() || shape.contains(&0) {
        return Var::new(Tensor::zeros(&shape));
    }
    let n: usize = lead.iter().product();
    let flat: Vec<Var<T>> = columns.iter().map(|c| c.reshape(&[n])).collect();
    let refs: Vec<&Var<T>> = flat.iter().collect();
    Var::stack(&refs, 1).reshape(&shape)
}
