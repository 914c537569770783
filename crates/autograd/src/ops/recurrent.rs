//! The GRU cell's gate arithmetic as one primitive.
//!
//! Composed from elementwise ops, one GRU time step is about fifteen graph nodes (narrows,
//! adds, sigmoid, tanh, products), each allocating its output and, in the backward pass,
//! a zero-padded gradient for every narrow. At the sizes recurrent models train at
//! (`[32, 128]` states) that bookkeeping, not arithmetic, was most of a step's time
//! (benches/sequence.rs). This op reads the step's two pre-activations and the previous
//! state once and writes the new state in one pass; its gradient is one pass too.
//!
//! Grad-of-grad: when the backward pass is itself recorded (`create_graph`), the rule is
//! written in ordinary `Var` ops instead, so it can be differentiated again; both forms
//! compute the same formulas and are checked against each other and by finite differences.

use graft_tensor::{Float, Tensor, TensorError};

use crate::graph::{is_grad_enabled, Op};
use crate::var::Var;

type Grads<T> = Vec<Option<Var<T>>>;

/// PyTorch's GRU update for one step. Inputs: `gx` `[N, 3H]` (`W_ih x + b_ih`), `gh`
/// `[N, 3H]` (`W_hh h`), `h` `[N, H]` and optionally `b_hh` `[3H]`, which is added to `gh`.
/// Gates r, z, n in that order:
/// r = σ(gx_r + gh_r), z = σ(gx_z + gh_z), n = tanh(gx_n + r ⊙ gh_n), h' = n + z ⊙ (h − n).
pub(crate) struct GruCell;

/// The checked sizes of a GRU cell's inputs: (N, H).
pub(crate) fn gru_cell_dims(
    gx: &[usize],
    gh: &[usize],
    h: &[usize],
    b: Option<&[usize]>,
) -> Result<(usize, usize), TensorError> {
    let ok =
        h.len() == 2 && gx == [h[0], 3 * h[1]] && gh == gx && b.is_none_or(|b| b == [3 * h[1]]);
    if ok {
        Ok((h[0], h[1]))
    } else {
        Err(TensorError::shape_mismatch(
            "gru_cell",
            format!(
                "expects gx [N, 3H], gh [N, 3H], h [N, H] and bias [3H]; got gx {gx:?}, gh {gh:?}, \
                 h {h:?}{}",
                b.map(|b| format!(", bias {b:?}")).unwrap_or_default()
            ),
        ))
    }
}

/// A dense row-major copy of `t`'s values (no copy when it already is one).
pub(crate) fn dense<T: Float>(t: &Tensor<T>) -> Tensor<T> {
    if t.as_slice().is_some() {
        t.clone()
    } else {
        t.contiguous()
    }
}

/// The bias as a dense vector, zeros when there is none (one code path for both).
pub(crate) fn bias_values<T: Float>(bias: Option<&Tensor<T>>, hid: usize) -> Vec<T> {
    match bias {
        Some(b) => b.to_vec(),
        None => vec![T::ZERO; 3 * hid],
    }
}

/// One row's gate values, each computed in its own slice loop: loops this simple are what
/// the compiler vectorizes (a single loop doing everything per element is several times
/// slower, the transcendental functions then running one lane at a time).
pub(crate) struct Gates<T> {
    r: Vec<T>,
    z: Vec<T>,
    /// `gh_n + b_hn`, the term r multiplies.
    ghn: Vec<T>,
    n: Vec<T>,
}

impl<T: Float> Gates<T> {
    pub(crate) fn new(hid: usize) -> Self {
        Gates {
            r: vec![T::ZERO; hid],
            z: vec![T::ZERO; hid],
            ghn: vec![T::ZERO; hid],
            n: vec![T::ZERO; hid],
        }
    }

    /// r, z, gh_n + b_hn and n for one row of `gx`, `gh` (each `3H` long) and the bias.
    fn compute(&mut self, gx: &[T], gh: &[T], b: &[T]) {
        let hid = self.r.len();
        for (k, dst) in [&mut self.r, &mut self.z].into_iter().enumerate() {
            let blk = k * hid..(k + 1) * hid;
            for (((d, &x), &y), &c) in dst
                .iter_mut()
                .zip(&gx[blk.clone()])
                .zip(&gh[blk.clone()])
                .zip(&b[blk])
            {
                *d = x + (y + c);
            }
            for d in dst.iter_mut() {
                *d = d.sigmoid();
            }
        }
        let blk = 2 * hid..3 * hid;
        for ((d, &y), &c) in self
            .ghn
            .iter_mut()
            .zip(&gh[blk.clone()])
            .zip(&b[blk.clone()])
        {
            *d = y + c;
        }
        for (((d, &x), &r), &y) in self.n.iter_mut().zip(&gx[blk]).zip(&self.r).zip(&self.ghn) {
            *d = x + r * y;
        }
        for d in self.n.iter_mut() {
            *d = d.tanh();
        }
    }
}

impl<T: Float> Op<T> for GruCell {
    fn name(&self) -> &'static str {
        "gru_cell"
    }

    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        let bias = x.get(3);
        let (n, hid) = gru_cell_dims(
            x[0].shape(),
            x[1].shape(),
            x[2].shape(),
            bias.map(|b| b.shape()),
        )?;
        let (gx, gh, h) = (dense(&x[0]), dense(&x[1]), dense(&x[2]));
        let b = bias_values(bias, hid);
        let (gx, gh, h) = (
            gx.as_slice().expect("dense"),
            gh.as_slice().expect("dense"),
            h.as_slice().expect("dense"),
        );
        let mut out = Tensor::zeros(&[n, hid]);
        cell_forward(gx, gh, h, &b, out.data_mut(), &mut Gates::new(hid), None);
        Ok(out)
    }

    fn backward(&self, x: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        let bias = x.get(3);
        let (dgx, dgh, dh) = if is_grad_enabled() {
            gru_cell_backward_vars(&x[0], &x[1], &x[2], bias, g)
        } else {
            let (a, b, c) = gru_cell_backward_values(
                &x[0].value(),
                &x[1].value(),
                &x[2].value(),
                bias.map(|b| b.value()).as_ref(),
                &g.value(),
            );
            (Var::new(a), Var::new(b), Var::new(c))
        };
        let mut grads = vec![
            x[0].needs_grad().then_some(dgx),
            x[1].needs_grad().then(|| dgh.clone()),
            x[2].needs_grad().then_some(dh),
        ];
        if let Some(b) = bias {
            // [N, 3H] for a [3H] input: the engine sums it over the batch.
            grads.push(b.needs_grad().then_some(dgh));
        }
        grads
    }
}

/// The gradients of [`GruCell`] (`dgx`, `dgh`, `dh`) in one pass over the values.
fn gru_cell_backward_values<T: Float>(
    gx: &Tensor<T>,
    gh: &Tensor<T>,
    h: &Tensor<T>,
    b: Option<&Tensor<T>>,
    g: &Tensor<T>,
) -> (Tensor<T>, Tensor<T>, Tensor<T>) {
    let (n, hid) = (h.shape()[0], h.shape()[1]);
    let (gx, gh, h, g) = (dense(gx), dense(gh), dense(h), dense(g));
    let b = bias_values(b, hid);
    let (gx, gh, h, g) = (
        gx.as_slice().expect("dense"),
        gh.as_slice().expect("dense"),
        h.as_slice().expect("dense"),
        g.as_slice().expect("dense"),
    );
    let mut dgx_t = Tensor::zeros(&[n, 3 * hid]);
    let mut dgh_t = Tensor::zeros(&[n, 3 * hid]);
    let mut dh_t = Tensor::zeros(&[n, hid]);
    let (dgx, dgh, dh) = (dgx_t.data_mut(), dgh_t.data_mut(), dh_t.data_mut());
    cell_backward(gx, gh, h, &b, g, (dgx, dgh, dh), &mut Gates::new(hid));
    (dgx_t, dgh_t, dh_t)
}

/// The same gradients as [`gru_cell_backward_values`], in `Var` ops (recorded when the
/// backward pass is, so they can be differentiated again).
pub(crate) fn gru_cell_backward_vars<T: Float>(
    gx: &Var<T>,
    gh: &Var<T>,
    h: &Var<T>,
    b: Option<&Var<T>>,
    g: &Var<T>,
) -> (Var<T>, Var<T>, Var<T>) {
    let hid = h.shape()[1];
    let gh = match b {
        Some(b) => gh + b,
        None => gh.clone(),
    };
    let rz = (&gx.narrow(1, 0, 2 * hid) + &gh.narrow(1, 0, 2 * hid)).sigmoid();
    let r = rz.narrow(1, 0, hid);
    let z = rz.narrow(1, hid, hid);
    let ghn = gh.narrow(1, 2 * hid, hid);
    let nn = (&gx.narrow(1, 2 * hid, hid) + &(&r * &ghn)).tanh();
    let dh = g * &z;
    let dz = g * &(h - &nn);
    let dn = g - &dh;
    let dn_pre = &dn * &(&nn * &nn).rsub_scalar(T::ONE);
    let d_rz = &Var::concat(&[&(&dn_pre * &ghn), &dz], 1) * &(&rz * &rz.rsub_scalar(T::ONE));
    let dgx = Var::concat(&[&d_rz, &dn_pre], 1);
    let dgh = Var::concat(&[&d_rz, &(&dn_pre * &r)], 1);
    (dgx, dgh, dh)
}

/// The GRU update for `N` rows: `gx`, `gh` `[N, 3H]`, `h` and `out` `[N, H]`, `b` `[3H]`.
/// With `saved` (`[N, 4H]`), each row's gates r, z, `gh_n + b_hn` and n are kept there for
/// [`cell_backward_saved`].
pub(crate) fn cell_forward<T: Float>(
    gx: &[T],
    gh: &[T],
    h: &[T],
    b: &[T],
    out: &mut [T],
    gates: &mut Gates<T>,
    mut saved: Option<&mut [T]>,
) {
    let hid = gates.r.len();
    for (i, out_row) in out.chunks_exact_mut(hid).enumerate() {
        let rows = 3 * hid * i..3 * hid * (i + 1);
        gates.compute(&gx[rows.clone()], &gh[rows], b);
        let hp = &h[hid * i..hid * (i + 1)];
        for (((o, &nn), &z), &hv) in out_row.iter_mut().zip(&gates.n).zip(&gates.z).zip(hp) {
            *o = nn + z * (hv - nn);
        }
        if let Some(saved) = saved.as_deref_mut() {
            let row = &mut saved[4 * hid * i..4 * hid * (i + 1)];
            for (dst, src) in row
                .chunks_exact_mut(hid.max(1))
                .zip([&gates.r, &gates.z, &gates.ghn, &gates.n])
            {
                dst.copy_from_slice(src);
            }
        }
    }
}

/// The gradients of [`cell_forward`] for `N` rows given the output's gradient `g`: written
/// into `dgx`, `dgh` (`[N, 3H]`) and `dh` (`[N, H]`).
pub(crate) fn cell_backward<T: Float>(
    gx: &[T],
    gh: &[T],
    h: &[T],
    b: &[T],
    g: &[T],
    (dgx, dgh, dh): (&mut [T], &mut [T], &mut [T]),
    gates: &mut Gates<T>,
) {
    let hid = gates.r.len();
    let n = h.len() / hid.max(1);
    // The forward's values are recomputed per row (the fused cell keeps nothing).
    for i in 0..n {
        let rows = 3 * hid * i..3 * hid * (i + 1);
        gates.compute(&gx[rows.clone()], &gh[rows.clone()], b);
        let one_row = hid * i..hid * (i + 1);
        row_backward(
            [&gates.r, &gates.z, &gates.ghn, &gates.n],
            (&g[one_row.clone()], &h[one_row.clone()]),
            (&mut dgx[rows.clone()], &mut dgh[rows], &mut dh[one_row]),
        );
    }
}

/// [`cell_backward`] from the gates [`cell_forward`] saved (`[N, 4H]`), for `N` rows.
pub(crate) fn cell_backward_saved<T: Float>(
    saved: &[T],
    h: &[T],
    g: &[T],
    (dgx, dgh, dh): (&mut [T], &mut [T], &mut [T]),
    hid: usize,
) {
    let n = h.len() / hid.max(1);
    for i in 0..n {
        let row = &saved[4 * hid * i..4 * hid * (i + 1)];
        let (r, rest) = row.split_at(hid);
        let (z, rest) = rest.split_at(hid);
        let (ghn, nn) = rest.split_at(hid);
        let rows = 3 * hid * i..3 * hid * (i + 1);
        let one_row = hid * i..hid * (i + 1);
        row_backward(
            [r, z, ghn, nn],
            (&g[one_row.clone()], &h[one_row.clone()]),
            (&mut dgx[rows.clone()], &mut dgh[rows], &mut dh[one_row]),
        );
    }
}

/// One row's gradients given its gates `[r, z, gh_n + b_hn, n]`, the output's gradient and
/// the previous state: written into `dgx`, `dgh` (`3H`) and `dh` (`H`).
fn row_backward<T: Float>(
    [r, z, ghn, n]: [&[T]; 4],
    (gi, hi): (&[T], &[T]),
    (dgx, dgh, dh): (&mut [T], &mut [T], &mut [T]),
) {
    let hid = r.len();
    let one = T::ONE;
    let (dgx_rz, dgx_n) = dgx.split_at_mut(2 * hid);
    let (dgx_r, dgx_z) = dgx_rz.split_at_mut(hid);
    for ((d, &g), &z) in dh.iter_mut().zip(gi).zip(z) {
        *d = g * z;
    }
    // dz_pre = g (h − n) z (1 − z)
    for ((((d, &g), &h), &nn), &z) in dgx_z.iter_mut().zip(gi).zip(hi).zip(n).zip(z) {
        *d = g * (h - nn) * (z * (one - z));
    }
    // dn_pre = g (1 − z) (1 − n²)
    for (((d, &g), &nn), &z) in dgx_n.iter_mut().zip(gi).zip(n).zip(z) {
        *d = (g - g * z) * (one - nn * nn);
    }
    // dr_pre = dn_pre (gh_n + b_hn) r (1 − r)
    for (((d, &dn), &y), &r) in dgx_r.iter_mut().zip(&*dgx_n).zip(ghn).zip(r) {
        *d = dn * y * (r * (one - r));
    }
    let (dgh_rz, dgh_n) = dgh.split_at_mut(2 * hid);
    dgh_rz.copy_from_slice(dgx_rz);
    for ((d, &dn), &r) in dgh_n.iter_mut().zip(&*dgx_n).zip(r) {
        *d = dn * r;
    }
}
