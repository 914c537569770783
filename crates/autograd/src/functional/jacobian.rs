//! Full Jacobians, row by row in reverse mode or column by column in (emulated) forward mode.

use graft_tensor::{Float, Result, Tensor};

use super::{assemble_columns, assemble_rows, call, one_hot, or_zeros, variables, Outputs};
use crate::backward::partial_grad;
use crate::var::Var;

/// The Jacobians of `f` at `inputs` in reverse mode: `result[i][j]` is d output_i / d
/// input_j, of shape `output_i.shape ++ input_j.shape` (PyTorch's
/// `torch.autograd.functional.jacobian`, JAX's `jax.jacrev`).
///
/// `f` runs once; its recorded graph is then walked backward once per output element, each
/// walk giving one row for every input. That suits wide Jacobians (few outputs, many
/// inputs); for tall ones use [`jacobian_forward`]. Rows are not batched into one pass:
/// graft has no vectorizing map (PyTorch's `vectorize=True`).
pub fn jacobian<T: Float, O: Outputs<T>>(
    f: impl Fn(&[Var<T>]) -> O,
    inputs: &[Var<T>],
    create_graph: bool,
) -> Result<Vec<Vec<Var<T>>>> {
    let xs = variables(inputs, create_graph);
    let outputs = call(f, &xs);
    let targets: Vec<&Var<T>> = xs.iter().collect();
    let mut result = Vec::with_capacity(outputs.len());
    for out in &outputs {
        let mut rows: Vec<Vec<Var<T>>> = vec![Vec::with_capacity(out.numel()); xs.len()];
        if out.needs_grad() {
            for k in 0..out.numel() {
                let seed = one_hot(out.shape(), k);
                let grads =
                    partial_grad(std::slice::from_ref(out), &[seed], &targets, create_graph)?;
                for ((row, g), x) in rows.iter_mut().zip(grads).zip(&xs) {
                    row.push(or_zeros(g, x.shape()));
                }
            }
        }
        result.push(
            rows.iter()
                .zip(&xs)
                .map(|(r, x)| {
                    if r.is_empty() {
                        zeros_block(out.shape(), x.shape())
                    } else {
                        assemble_rows(r, out.shape(), x.shape())
                    }
                })
                .collect(),
        );
    }
    Ok(result)
}

/// The same Jacobians as [`jacobian`], built column by column from Jacobian-vector
/// products (PyTorch's `strategy="forward-mode"`, JAX's `jax.jacfwd`).
///
/// `f` runs once and its vjp `g(u) = Jᵀ u` is recorded once; then each input element costs
/// one backward pass through that record (the double-vjp trick of [`jvp`](super::jvp)),
/// giving one column for every output. That suits tall Jacobians (many outputs, few inputs).
pub fn jacobian_forward<T: Float, O: Outputs<T>>(
    f: impl Fn(&[Var<T>]) -> O,
    inputs: &[Var<T>],
    create_graph: bool,
) -> Result<Vec<Vec<Var<T>>>> {
    let xs = variables(inputs, create_graph);
    let outputs = call(f, &xs);
    let us: Vec<Var<T>> = outputs
        .iter()
        .map(|o| Var::parameter(Tensor::zeros(o.shape())))
        .collect();
    let x_refs: Vec<&Var<T>> = xs.iter().collect();
    let u_refs: Vec<&Var<T>> = us.iter().collect();
    let g = partial_grad(&outputs, &us, &x_refs, true)?;
    // columns[i][j]: the columns of block (i, j), one per element of input j.
    let mut columns: Vec<Vec<Vec<Var<T>>>> = vec![vec![Vec::new(); xs.len()]; outputs.len()];
    for (j, (gj, x)) in g.iter().zip(&xs).enumerate() {
        let Some(gj) = gj else { continue };
        for k in 0..x.numel() {
            let jv = partial_grad(
                std::slice::from_ref(gj),
                &[one_hot(x.shape(), k)],
                &u_refs,
                create_graph,
            )?;
            for (i, (c, o)) in jv.into_iter().zip(&outputs).enumerate() {
                columns[i][j].push(or_zeros(c, o.shape()));
            }
        }
    }
    Ok(columns
        .iter()
        .zip(&outputs)
        .map(|(blocks, o)| {
            blocks
                .iter()
                .zip(&xs)
                .map(|(c, x)| {
                    if c.is_empty() {
                        zeros_block(o.shape(), x.shape())
                    } else {
                        assemble_columns(c, o.shape(), x.shape())
                    }
                })
                .collect()
        })
        .collect())
}

/// A zero block of shape `lead ++ tail`.
pub(super) fn zeros_block<T: Float>(lead: &[usize], tail: &[usize]) -> Var<T> {
    let shape: Vec<usize> = lead.iter().chain(tail).copied().collect();
    Var::new(Tensor::zeros(&shape))
}
