//! Vector-Jacobian and Jacobian-vector products.

use graft_tensor::{Float, Result, Tensor};

use super::{call, hand_back, or_zeros, shapes, variables, vectors, Outputs, Products};
use crate::backward::partial_grad;
use crate::var::Var;

/// The outputs of `f` at `inputs` and the vector-Jacobian products `vᵀ J`, one per input
/// (PyTorch's `torch.autograd.functional.vjp`, JAX's `jax.vjp`).
///
/// `v` holds one vector per output, shaped like it; `None` stands for ones and is allowed
/// when every output has one element. The cost is one forward and one backward pass.
///
/// ```
/// use graft_autograd::functional::vjp;
/// use graft_autograd::Var;
/// use graft_tensor::Tensor;
/// let x = Var::new(Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]));
/// let v = Var::new(Tensor::from_vec(vec![1.0, 0.5, 0.0], &[3]));
/// let (y, g) = vjp(|x: &[Var<f64>]| x[0].square(), &[x], Some(&[v]), false).unwrap();
/// assert_eq!(y[0].value().to_vec(), vec![1.0, 4.0, 9.0]);
/// assert_eq!(g[0].value().to_vec(), vec![2.0, 2.0, 0.0]); // v · 2x
/// ```
pub fn vjp<T: Float, O: Outputs<T>>(
    f: impl Fn(&[Var<T>]) -> O,
    inputs: &[Var<T>],
    v: Option<&[Var<T>]>,
    create_graph: bool,
) -> Result<Products<T>> {
    let xs = variables(inputs, create_graph);
    let outputs = call(f, &xs);
    let v = vectors("vjp", v, &shapes(&outputs), "output")?;
    let targets: Vec<&Var<T>> = xs.iter().collect();
    let grads = partial_grad(&outputs, &v, &targets, create_graph)?;
    let vjps = grads
        .into_iter()
        .zip(&xs)
        .map(|(g, x)| or_zeros(g, x.shape()))
        .collect();
    Ok((hand_back(outputs, create_graph), vjps))
}

/// The outputs of `f` at `inputs` and the Jacobian-vector products `J t`, one per output
/// (PyTorch's `torch.autograd.functional.jvp`, JAX's `jax.jvp`).
///
/// `tangents` holds one vector per input, shaped like it; `None` stands for ones and is
/// allowed when every input has one element.
///
/// graft has no forward mode; the jvp comes from reverse mode by the double-vjp trick: the
/// vjp `g(u) = Jᵀ u` is linear in the cotangent `u`, so differentiating `<g(u), t>` with
/// respect to `u` gives `J t`. The cost is one forward pass, one recorded backward pass
/// and one backward pass through that: about twice a vjp, and more memory (the backward
/// graph is kept), where true forward mode would cost about one forward pass.
///
/// ```
/// use graft_autograd::functional::jvp;
/// use graft_autograd::Var;
/// use graft_tensor::Tensor;
/// let x = Var::new(Tensor::from_vec(vec![1.0f64, 2.0, 3.0], &[3]));
/// let t = Var::new(Tensor::from_vec(vec![1.0, 0.5, 0.0], &[3]));
/// let (_, jt) = jvp(|x: &[Var<f64>]| x[0].square().sum(), &[x], Some(&[t]), false).unwrap();
/// assert_eq!(jt[0].item(), 4.0); // <2x, t>
/// ```
pub fn jvp<T: Float, O: Outputs<T>>(
    f: impl Fn(&[Var<T>]) -> O,
    inputs: &[Var<T>],
    tangents: Option<&[Var<T>]>,
    create_graph: bool,
) -> Result<Products<T>> {
    let xs = variables(inputs, create_graph);
    let tangents = vectors("jvp", tangents, &shapes(&xs), "input")?;
    let outputs = call(f, &xs);
    let jvps = jvp_of(&outputs, &xs, &tangents, create_graph)?;
    Ok((hand_back(outputs, create_graph), jvps))
}

/// `J t` for `outputs` recorded as functions of `xs`, by the double-vjp trick.
pub(super) fn jvp_of<T: Float>(
    outputs: &[Var<T>],
    xs: &[Var<T>],
    tangents: &[Var<T>],
    create_graph: bool,
) -> Result<Vec<Var<T>>> {
    // The dummy cotangents: their value does not matter (g is linear in them); zeros.
    let us: Vec<Var<T>> = outputs
        .iter()
        .map(|o| Var::parameter(Tensor::zeros(o.shape())))
        .collect();
    let x_refs: Vec<&Var<T>> = xs.iter().collect();
    let g = partial_grad(outputs, &us, &x_refs, true)?;
    let (roots, seeds): (Vec<Var<T>>, Vec<Var<T>>) = g
        .into_iter()
        .zip(tangents)
        .filter_map(|(g, t)| g.map(|g| (g, t.clone())))
        .unzip();
    let u_refs: Vec<&Var<T>> = us.iter().collect();
    let jv = partial_grad(&roots, &seeds, &u_refs, create_graph)?;
    Ok(jv
        .into_iter()
        .zip(outputs)
        .map(|(j, o)| or_zeros(j, o.shape()))
        .collect())
}
