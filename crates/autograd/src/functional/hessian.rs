//! Second derivatives of a scalar function: the full Hessian and its products with vectors.

use graft_tensor::{Float, Result, Tensor, TensorError};

use super::jacobian::zeros_block;
use super::{
    assemble_rows, call, hand_back, one_hot, or_zeros, shapes, variables, vectors, vjp::jvp_of,
};
use crate::backward::partial_grad;
use crate::var::Var;

/// One gradient per input, `None` where the output does not reach it.
type Gradient<T> = Vec<Option<Var<T>>>;

/// The single output of a function that must be scalar-valued for second derivatives.
fn scalar_output<T: Float>(op: &str, outputs: Vec<Var<T>>) -> Result<Var<T>> {
    let out = outputs.into_iter().next().expect("one output");
    if out.numel() != 1 {
        return Err(TensorError::new(
            op,
            format!(
                "the function must return a single-element Var, got shape {:?}",
                out.shape()
            ),
        ));
    }
    Ok(out)
}

/// The recorded gradient of `f` at `xs` (one entry per input, `None` where unreached) and
/// the output.
fn recorded_gradient<T: Float>(
    op: &str,
    f: impl Fn(&[Var<T>]) -> Var<T>,
    xs: &[Var<T>],
) -> Result<(Var<T>, Gradient<T>)> {
    let out = scalar_output(op, call(f, xs))?;
    let targets: Vec<&Var<T>> = xs.iter().collect();
    let ones = Var::new(Tensor::full(out.shape(), T::ONE));
    let g = partial_grad(std::slice::from_ref(&out), &[ones], &targets, true)?;
    Ok((out, g))
}

/// The Hessian of the scalar function `f` at `inputs`: `result[i][j]` is d² f / d input_i
/// d input_j, of shape `input_i.shape ++ input_j.shape` (PyTorch's
/// `torch.autograd.functional.hessian`, JAX's `jax.hessian`).
///
/// The gradient is recorded once; then each input element costs one backward pass through
/// it (reverse over reverse), giving one row of every block.
pub fn hessian<T: Float>(
    f: impl Fn(&[Var<T>]) -> Var<T>,
    inputs: &[Var<T>],
    create_graph: bool,
) -> Result<Vec<Vec<Var<T>>>> {
    let xs = variables(inputs, create_graph);
    let (_, g) = recorded_gradient("hessian", f, &xs)?;
    let targets: Vec<&Var<T>> = xs.iter().collect();
    let mut result = Vec::with_capacity(xs.len());
    for (gi, xi) in g.iter().zip(&xs) {
        let mut rows: Vec<Vec<Var<T>>> = vec![Vec::new(); xs.len()];
        if let Some(gi) = gi {
            for k in 0..xi.numel() {
                let second = partial_grad(
                    std::slice::from_ref(gi),
                    &[one_hot(xi.shape(), k)],
                    &targets,
                    create_graph,
                )?;
                for ((row, s), xj) in rows.iter_mut().zip(second).zip(&xs) {
                    row.push(or_zeros(s, xj.shape()));
                }
            }
        }
        result.push(
            rows.iter()
                .zip(&xs)
                .map(|(r, xj)| {
                    if r.is_empty() {
                        zeros_block(xi.shape(), xj.shape())
                    } else {
                        assemble_rows(r, xi.shape(), xj.shape())
                    }
                })
                .collect(),
        );
    }
    Ok(result)
}

/// The output of the scalar function `f` at `inputs` and the vector-Hessian product
/// `vᵀ H`, one part per input (PyTorch's `torch.autograd.functional.vhp`).
///
/// Reverse over reverse: the gradient is recorded, then `<∇f, v>` is differentiated once
/// more. The cost is one forward and about three backward passes' worth.
pub fn vhp<T: Float>(
    f: impl Fn(&[Var<T>]) -> Var<T>,
    inputs: &[Var<T>],
    v: Option<&[Var<T>]>,
    create_graph: bool,
) -> Result<(Var<T>, Vec<Var<T>>)> {
    let xs = variables(inputs, create_graph);
    let v = vectors("vhp", v, &shapes(&xs), "input")?;
    let (out, g) = recorded_gradient("vhp", f, &xs)?;
    let (roots, seeds): (Vec<Var<T>>, Vec<Var<T>>) = g
        .into_iter()
        .zip(&v)
        .filter_map(|(g, v)| g.map(|g| (g, v.clone())))
        .unzip();
    let targets: Vec<&Var<T>> = xs.iter().collect();
    let products = partial_grad(&roots, &seeds, &targets, create_graph)?;
    let products = products
        .into_iter()
        .zip(&xs)
        .map(|(p, x)| or_zeros(p, x.shape()))
        .collect();
    Ok((hand_back(vec![out], create_graph).remove(0), products))
}

/// The output of the scalar function `f` at `inputs` and the Hessian-vector product `H v`,
/// one part per input (PyTorch's `torch.autograd.functional.hvp`).
///
/// `H v` is the jvp of the gradient, computed by the double-vjp trick as PyTorch does: it
/// costs about one more backward pass than [`vhp`]. For twice continuously differentiable
/// `f` the Hessian is symmetric and the two agree; prefer `vhp` then.
pub fn hvp<T: Float>(
    f: impl Fn(&[Var<T>]) -> Var<T>,
    inputs: &[Var<T>],
    v: Option<&[Var<T>]>,
    create_graph: bool,
) -> Result<(Var<T>, Vec<Var<T>>)> {
    let xs = variables(inputs, create_graph);
    let v = vectors("hvp", v, &shapes(&xs), "input")?;
    let (out, g) = recorded_gradient("hvp", f, &xs)?;
    // The gradient as a list of outputs (zeros where unreached, which add nothing).
    let g: Vec<Var<T>> = g
        .into_iter()
        .zip(&xs)
        .map(|(g, x)| or_zeros(g, x.shape()))
        .collect();
    let products = jvp_of(&g, &xs, &v, create_graph)?;
    Ok((hand_back(vec![out], create_graph).remove(0), products))
}
