//! A whole GRU direction over time as one primitive: the recurrence `h_t = cell(gx_t,
//! W_hh h_{t-1} + b_hh, h_{t-1})` for every step.
//!
//! Per step, the composition costs a graph node for the step's slice of the input
//! projection (whose gradient is a zero-padded full-size tensor, added up over the steps),
//! one for the product with `W_hh`, one for the cell, and the final stack. Measured on
//! `examples/char_lm.rs`, those narrows and pads were a fifth of training time after the
//! cell was fused. As one op, the forward writes every step's state into one output, and the
//! backward runs backpropagation through time directly: each step's gradient lands in its
//! slot of one `[T, N, 3H]` tensor, and the weight gradient of all steps is one matrix
//! product `dGHᵀ · H_prev` (`K = T·N`) instead of T small ones.
//!
//! With `create_graph`, the rule instead recomputes the recurrence from ordinary Var ops
//! (the fused cell, matmul) and differentiates that, recorded, so second derivatives work.

use std::sync::Mutex;

use graft_tensor::{Float, Tensor, TensorError};

use super::recurrent::{bias_values, cell_backward, cell_forward, dense, gru_cell_dims, Gates};
use super::step_product::PackedWeight;
use crate::backward::partial_grad;
use crate::graph::{is_grad_enabled, with_grad_mode, Op};
use crate::var::Var;

type Grads<T> = Vec<Option<Var<T>>>;

/// Inputs: `proj` `[T, N, 3H]` (`W_ih x_t + b_ih` for every step, time-first), `w_hh`
/// `[3H, H]`, `h0` `[N, H]`, and optionally `b_hh` `[3H]`. Output: `[T, N, H]`, the state
/// after each step, in time order; `reverse` runs the steps from `T − 1` down to 0.
pub(crate) struct GruSequence<T: Float> {
    pub(crate) reverse: bool,
    /// `W_hh h_{t-1}` of every step `[T, N, 3H]` (bias not added), kept by the forward
    /// for the backward.
    saved_gh: Mutex<Option<Tensor<T>>>,
}

impl<T: Float> GruSequence<T> {
    pub(crate) fn new(reverse: bool) -> Self {
        GruSequence {
            reverse,
            saved_gh: Mutex::new(None),
        }
    }

    /// Time indices in the order the recurrence visits them.
    fn order(&self, t_len: usize) -> impl DoubleEndedIterator<Item = usize> {
        let reverse = self.reverse;
        (0..t_len).map(move |s| if reverse { t_len - 1 - s } else { s })
    }
}

/// The checked sizes (T, N, H) of a GRU sequence's inputs.
pub(crate) fn gru_sequence_dims(
    proj: &[usize],
    w: &[usize],
    h0: &[usize],
    b: Option<&[usize]>,
) -> Result<(usize, usize, usize), TensorError> {
    let bad = || {
        TensorError::shape_mismatch(
            "gru_sequence",
            format!(
                "expects proj [T, N, 3H], w_hh [3H, H], h0 [N, H] and bias [3H]; got proj \
                 {proj:?}, w_hh {w:?}, h0 {h0:?}{}",
                b.map(|b| format!(", bias {b:?}")).unwrap_or_default()
            ),
        )
    };
    if proj.len() != 3 || w.len() != 2 || h0.len() != 2 || w[0] != 3 * w[1] {
        return Err(bad());
    }
    gru_cell_dims(&proj[1..], &proj[1..], h0, b).map_err(|_| bad())?;
    if h0[1] != w[1] {
        return Err(bad());
    }
    Ok((proj[0], h0[0], h0[1]))
}

impl<T: Float> Op<T> for GruSequence<T> {
    fn name(&self) -> &'static str {
        "gru_sequence"
    }

    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        let bias = x.get(3);
        let (t_len, n, hid) = gru_sequence_dims(
            x[0].shape(),
            x[1].shape(),
            x[2].shape(),
            bias.map(|b| b.shape()),
        )?;
        let proj = dense(&x[0]);
        let proj = proj.as_slice().expect("dense");
        let w = dense(&x[1]);
        // `h W_hhᵀ`: the [H, 3H] operand is W_hh [3H, H] read transposed, packed once.
        let w_t = PackedWeight::new(w.as_slice().expect("dense"), (hid, 3 * hid), (1, hid));
        let b = bias_values(bias, hid);
        let mut out = Tensor::zeros(&[t_len, n, hid]);
        let mut all_gh = Tensor::zeros(&[t_len, n, 3 * hid]);
        let (step_g, step_h) = (n * 3 * hid, n * hid);
        let mut gates = Gates::new(hid);
        let mut h = dense(&x[2]).to_vec();
        {
            let (dst, gh_dst) = (out.data_mut(), all_gh.data_mut());
            for t in self.order(t_len) {
                let gh = &mut gh_dst[t * step_g..(t + 1) * step_g];
                w_t.product(&h, gh);
                let out_t = &mut dst[t * step_h..(t + 1) * step_h];
                cell_forward(
                    &proj[t * step_g..(t + 1) * step_g],
                    gh,
                    &h,
                    &b,
                    out_t,
                    &mut gates,
                );
                h.copy_from_slice(out_t);
            }
        }
        *self.saved_gh.lock().unwrap_or_else(|p| p.into_inner()) = Some(all_gh);
        Ok(out)
    }

    fn backward(&self, x: &[Var<T>], output: &Var<T>, g: &Var<T>) -> Grads<T> {
        if is_grad_enabled() {
            return self.backward_recorded(x, g);
        }
        let bias = x.get(3);
        let (proj_t, w, h0_t) = (x[0].value(), x[1].value(), x[2].value());
        let (t_len, n, hid) = (proj_t.shape()[0], proj_t.shape()[1], proj_t.shape()[2] / 3);
        let saved = self
            .saved_gh
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let out = output.value();
        // The state each step started from, `[T, N, H]`: h0 for the first step visited.
        let h_prev_t = {
            let h0 = h0_t.reshape(&[1, n, hid]);
            if t_len == 0 {
                Tensor::zeros(&[0, n, hid])
            } else if self.reverse {
                Tensor::concat(&[&out.narrow(0, 1, t_len - 1), &h0], 0)
            } else {
                Tensor::concat(&[&h0, &out.narrow(0, 0, t_len - 1)], 0)
            }
        };
        let all_gh = match saved {
            Some(gh) => gh,
            None => h_prev_t
                .reshape(&[t_len * n, hid])
                .matmul(&w.t())
                .reshape(&[t_len, n, 3 * hid]),
        };
        let (proj_d, gh_d, hp_d, g_d) = (
            dense(&proj_t),
            dense(&all_gh),
            dense(&h_prev_t),
            dense(&g.value()),
        );
        let (proj, gh, h_prev, gout) = (
            proj_d.as_slice().expect("dense"),
            gh_d.as_slice().expect("dense"),
            hp_d.as_slice().expect("dense"),
            g_d.as_slice().expect("dense"),
        );
        let b = bias_values(bias.map(|b| b.value()).as_ref(), hid);
        let mut d_proj = Tensor::zeros(&[t_len, n, 3 * hid]);
        let mut d_gh = Tensor::zeros(&[t_len, n, 3 * hid]);
        let w_d = dense(&w);
        // `dGH_t W_hh` per step: W_hh [3H, H] as it is, packed once.
        let w_p = PackedWeight::new(w_d.as_slice().expect("dense"), (3 * hid, hid), (hid, 1));
        let mut dh = vec![T::ZERO; n * hid];
        let mut dh_direct = vec![T::ZERO; n * hid];
        let (step_g, step_h) = (n * 3 * hid, n * hid);
        let mut gates = Gates::new(hid);
        {
            let (dp, dg) = (d_proj.data_mut(), d_gh.data_mut());
            for t in self.order(t_len).rev() {
                // The state's gradient: from this step's output and from the later step.
                for (d, &go) in dh.iter_mut().zip(&gout[t * step_h..(t + 1) * step_h]) {
                    *d += go;
                }
                let gt = t * step_g..(t + 1) * step_g;
                let ht = t * step_h..(t + 1) * step_h;
                cell_backward(
                    &proj[gt.clone()],
                    &gh[gt.clone()],
                    &h_prev[ht],
                    &b,
                    &dh,
                    (&mut dp[gt.clone()], &mut dg[gt.clone()], &mut dh_direct),
                    &mut gates,
                );
                w_p.product(&dg[gt], &mut dh);
                for (d, &e) in dh.iter_mut().zip(&dh_direct) {
                    *d += e;
                }
            }
        }
        let dh = Tensor::from_vec(dh, &[n, hid]);
        let d_gh_flat = d_gh.reshape(&[t_len * n, 3 * hid]);
        let need = |i: usize| x.get(i).is_some_and(|v| v.needs_grad());
        let mut grads = vec![
            need(0).then(|| Var::new(d_proj)),
            need(1).then(|| Var::new(d_gh_flat.t().matmul(&h_prev_t.reshape(&[t_len * n, hid])))),
            need(2).then(|| Var::new(dh)),
        ];
        if bias.is_some() {
            grads.push(need(3).then(|| Var::new(d_gh_flat.sum_dims(&[0], false))));
        }
        grads
    }
}

impl<T: Float> GruSequence<T> {
    /// The rule for a recorded backward pass: the recurrence rebuilt from differentiable
    /// Var ops on the inputs, and differentiated (recorded) with respect to them.
    fn backward_recorded(&self, x: &[Var<T>], g: &Var<T>) -> Grads<T> {
        let recomputed = with_grad_mode(true, || gru_sequence_vars(x, self.reverse));
        let targets: Vec<&Var<T>> = x.iter().collect();
        partial_grad(
            std::slice::from_ref(&recomputed),
            std::slice::from_ref(g),
            &targets,
            true,
        )
        .unwrap_or_else(|e| panic!("gru_sequence: backward of the recomputation failed: {e}"))
    }
}

/// The same recurrence as [`GruSequence`], composed of per-step Var ops.
fn gru_sequence_vars<T: Float>(x: &[Var<T>], reverse: bool) -> Var<T> {
    let (proj, w, bias) = (&x[0], &x[1], x.get(3));
    let t_len = proj.shape()[0];
    let w_t = w.t();
    let mut h = x[2].clone();
    let mut outs = vec![None; t_len];
    for s in 0..t_len {
        let t = if reverse { t_len - 1 - s } else { s };
        let gh = h.matmul(&w_t);
        h = Var::try_gru_cell(&proj.select(0, t), &gh, &h, bias)
            .expect("gru_sequence checked the shapes");
        outs[t] = Some(h.clone());
    }
    let outs: Vec<Var<T>> = outs
        .into_iter()
        .map(|o| o.expect("every step ran"))
        .collect();
    if outs.is_empty() {
        return proj.narrow(2, 0, x[2].shape()[1]);
    }
    Var::stack(&outs.iter().collect::<Vec<_>>(), 0)
}
