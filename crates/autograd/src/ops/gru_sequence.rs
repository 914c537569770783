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
//! Inside the op: `W_hh` is packed once per pass for the per-step products (`step_product`);
//! the forward keeps every step's gates for the backward instead of it recomputing them;
//! and since a batch row's recurrence never reads another row, blocks of rows run the whole
//! recurrence as parallel tasks, with no hand-over between threads per step (on
//! `examples/char_lm.rs --model gru`, 2 threads: 1.4-1.6x training tokens/s over one
//! repacking `matmul` per step, split across the threads step by step).
//!
//! With `create_graph`, the rule instead recomputes the recurrence from ordinary Var ops
//! (the fused cell, matmul) and differentiates that, recorded, so second derivatives work.

use std::sync::Mutex;

use graft_tensor::{Float, Tensor, TensorError};

use std::ops::Range;

use graft_tensor::parallel::for_each_piece;

use super::recurrent::{
    bias_values, cell_backward_saved, cell_forward, dense, gru_cell_dims, Gates,
};
use super::step_product::PackedWeight;
use crate::backward::partial_grad;
use crate::graph::{is_grad_enabled, with_grad_mode, Op};
use crate::var::Var;

type Grads<T> = Vec<Option<Var<T>>>;

/// Batch rows per parallel task. A row's state never depends on another row's, so each task
/// runs the whole recurrence for its rows, forward and backward, and the threads need no
/// hand-over per time step (handing each step's product over cost more than it saved). A
/// constant, so the split never depends on the number of threads (it cannot change a result
/// anyway: every value is computed from its own row's values only).
const ROWS_PER_TASK: usize = 16;
/// Sequences with fewer multiply-adds (`T·N·3H·H`) than this run on the calling thread.
const PAR_MIN_MACS: usize = 1 << 21;

/// Runs `f(rows, piece)` for the blocks of `ROWS_PER_TASK` of the `n` batch rows, each with
/// its own piece (one per block, in block order), on the pool when `macs` is large enough,
/// else one after the other on this thread.
fn for_row_blocks<P: Send>(
    pieces: Vec<P>,
    n: usize,
    macs: usize,
    f: impl Fn(Range<usize>, P) + Sync,
) {
    let rows = |i: usize| i * ROWS_PER_TASK..((i + 1) * ROWS_PER_TASK).min(n);
    if pieces.len() < 2 || macs < PAR_MIN_MACS {
        pieces
            .into_iter()
            .enumerate()
            .for_each(|(i, p)| f(rows(i), p));
    } else {
        for_each_piece(pieces, |i, p| f(rows(i), p));
    }
}

/// One row block's pieces of a `[T, N, W]` buffer: for every step, that block's rows.
type Pieces<'a, T> = Vec<&'a mut [T]>;

/// Cuts a `[t_len, n, w]` buffer into each row block's [`Pieces`] (strided, so not one
/// chunk per block): safe disjoint borrows that parallel tasks can own.
fn row_pieces<T>(buf: &mut [T], t_len: usize, n: usize, w: usize) -> Vec<Pieces<'_, T>> {
    let blocks = n.div_ceil(ROWS_PER_TASK);
    let mut pieces: Vec<Pieces<'_, T>> = (0..blocks).map(|_| Vec::with_capacity(t_len)).collect();
    if w == 0 {
        for p in &mut pieces {
            p.resize_with(t_len, Default::default);
        }
    } else {
        for step in buf.chunks_mut(n * w).take(t_len) {
            for (b, piece) in step.chunks_mut(ROWS_PER_TASK * w).enumerate() {
                pieces[b].push(piece);
            }
        }
    }
    pieces
}

/// Inputs: `proj` `[T, N, 3H]` (`W_ih x_t + b_ih` for every step, time-first), `w_hh`
/// `[3H, H]`, `h0` `[N, H]`, and optionally `b_hh` `[3H]`. Output: `[T, N, H]`, the state
/// after each step, in time order; `reverse` runs the steps from `T − 1` down to 0.
pub(crate) struct GruSequence<T: Float> {
    pub(crate) reverse: bool,
    /// Every step's gates `[T, N, 4H]` (r, z, `gh_n + b_hn`, n per row), kept by the forward
    /// for the backward.
    saved_gates: Mutex<Option<Tensor<T>>>,
}

impl<T: Float> GruSequence<T> {
    pub(crate) fn new(reverse: bool) -> Self {
        GruSequence {
            reverse,
            saved_gates: Mutex::new(None),
        }
    }

    /// Time indices in the order the recurrence visits them.
    fn order(&self, t_len: usize) -> impl DoubleEndedIterator<Item = usize> {
        let reverse = self.reverse;
        (0..t_len).map(move |s| if reverse { t_len - 1 - s } else { s })
    }

    fn saved(&self) -> Option<Tensor<T>> {
        self.saved_gates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
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
        let (proj, w, h0) = (dense(&x[0]), dense(&x[1]), dense(&x[2]));
        let (proj, h0) = (
            proj.as_slice().expect("dense"),
            h0.as_slice().expect("dense"),
        );
        // `h W_hhᵀ`: the [H, 3H] operand is W_hh [3H, H] read transposed, packed once.
        let w_t = PackedWeight::new(w.as_slice().expect("dense"), (hid, 3 * hid), (1, hid));
        let b = bias_values(bias, hid);
        let mut out = Tensor::zeros(&[t_len, n, hid]);
        let mut saved = Tensor::zeros(&[t_len, n, 4 * hid]);
        let macs = t_len * n * 3 * hid * hid;
        {
            let outs = row_pieces(out.data_mut(), t_len, n, hid);
            let saves = row_pieces(saved.data_mut(), t_len, n, 4 * hid);
            let pieces = outs.into_iter().zip(saves).collect();
            for_row_blocks(pieces, n, macs, |rows, (mut outs, mut saves)| {
                let (r0, r1) = (rows.start, rows.end);
                let mut h = h0[r0 * hid..r1 * hid].to_vec();
                let mut gh = vec![T::ZERO; (r1 - r0) * 3 * hid];
                let mut gates = Gates::new(hid);
                for t in self.order(t_len) {
                    w_t.product(&h, &mut gh);
                    let g0 = t * n * 3 * hid;
                    cell_forward(
                        &proj[g0 + r0 * 3 * hid..g0 + r1 * 3 * hid],
                        &gh,
                        &h,
                        &b,
                        outs[t],
                        &mut gates,
                        Some(&mut *saves[t]),
                    );
                    h.copy_from_slice(outs[t]);
                }
            });
        }
        *self.saved_gates.lock().unwrap_or_else(|p| p.into_inner()) = Some(saved);
        Ok(out)
    }

    fn backward(&self, x: &[Var<T>], output: &Var<T>, g: &Var<T>) -> Grads<T> {
        if is_grad_enabled() {
            return self.backward_recorded(x, g);
        }
        let bias = x.get(3);
        let (proj_t, w, h0_t) = (x[0].value(), x[1].value(), x[2].value());
        let (t_len, n, hid) = (proj_t.shape()[0], proj_t.shape()[1], proj_t.shape()[2] / 3);
        let saved = match self.saved() {
            Some(s) => s,
            None => {
                // Not kept (never the case after this op's own forward): run it again.
                let values: Vec<Tensor<T>> = x.iter().map(|v| v.value()).collect();
                self.forward(&values)
                    .unwrap_or_else(|e| panic!("gru_sequence: recomputing the forward: {e}"));
                self.saved().expect("the forward keeps its gates")
            }
        };
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
        let (sv_d, hp_d, g_d, w_d) = (
            dense(&saved),
            dense(&h_prev_t),
            dense(&g.value()),
            dense(&w),
        );
        let (sv, h_prev, gout) = (
            sv_d.as_slice().expect("dense"),
            hp_d.as_slice().expect("dense"),
            g_d.as_slice().expect("dense"),
        );
        // `dGH_t W_hh` per step: W_hh [3H, H] as it is, packed once.
        let w_p = PackedWeight::new(w_d.as_slice().expect("dense"), (3 * hid, hid), (hid, 1));
        let mut d_proj = Tensor::zeros(&[t_len, n, 3 * hid]);
        let mut d_gh = Tensor::zeros(&[t_len, n, 3 * hid]);
        let mut dh_out = Tensor::zeros(&[n, hid]);
        let macs = t_len * n * 3 * hid * hid;
        {
            let dps = row_pieces(d_proj.data_mut(), t_len, n, 3 * hid);
            let dgs = row_pieces(d_gh.data_mut(), t_len, n, 3 * hid);
            let dhs = row_pieces(dh_out.data_mut(), 1, n, hid);
            let pieces = dps.into_iter().zip(dgs).zip(dhs).collect();
            for_row_blocks(
                pieces,
                n,
                macs,
                |rows, ((mut dps, mut dgs), mut dh_piece)| {
                    let (r0, r1) = (rows.start, rows.end);
                    let mut dh = vec![T::ZERO; (r1 - r0) * hid];
                    let mut dh_direct = vec![T::ZERO; (r1 - r0) * hid];
                    for t in self.order(t_len).rev() {
                        let (h0, s0) = (t * n * hid, t * n * 4 * hid);
                        let h_rows = h0 + r0 * hid..h0 + r1 * hid;
                        // The state's gradient: from this step's output and from the later step.
                        for (d, &go) in dh.iter_mut().zip(&gout[h_rows.clone()]) {
                            *d += go;
                        }
                        cell_backward_saved(
                            &sv[s0 + r0 * 4 * hid..s0 + r1 * 4 * hid],
                            &h_prev[h_rows],
                            &dh,
                            (&mut *dps[t], &mut *dgs[t], &mut dh_direct),
                            hid,
                        );
                        w_p.product(dgs[t], &mut dh);
                        for (d, &e) in dh.iter_mut().zip(&dh_direct) {
                            *d += e;
                        }
                    }
                    if let Some(dst) = dh_piece.pop() {
                        dst.copy_from_slice(&dh);
                    }
                },
            );
        }
        let d_gh_flat = d_gh.reshape(&[t_len * n, 3 * hid]);
        let need = |i: usize| x.get(i).is_some_and(|v| v.needs_grad());
        let mut grads = vec![
            need(0).then(|| Var::new(d_proj)),
            need(1).then(|| Var::new(d_gh_flat.t().matmul(&h_prev_t.reshape(&[t_len * n, hid])))),
            need(2).then(|| Var::new(dh_out)),
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
