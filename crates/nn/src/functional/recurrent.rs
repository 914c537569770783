//! Multi-layer, optionally bidirectional Elman RNN, LSTM and GRU as functions on Vars,
//! with PyTorch's gate order, parameter layouts and state shapes.
//!
//! Each layer and direction first projects every time step's input in one matmul
//! (`[T·N, in] × [in, G·H]`); the time loop then does one `[N, H] × [H, G·H]` matmul per
//! step plus elementwise gate arithmetic, all ordinary autograd ops.

use graft_autograd::Var;
use graft_tensor::{Float, Result, Tensor, TensorError};
use rand::RngCore;

use super::dropout;

/// Which recurrence a recurrent layer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RnnMode {
    /// Elman RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh).
    Tanh,
    /// Elman RNN with relu instead of tanh.
    Relu,
    /// LSTM, gates i, f, g, o in that order (PyTorch's layout).
    Lstm,
    /// GRU, gates r, z, n in that order (PyTorch's layout).
    Gru,
}

impl RnnMode {
    /// Gate blocks per weight matrix: 1 (RNN), 4 (LSTM), 3 (GRU).
    pub fn gates(self) -> usize {
        match self {
            RnnMode::Tanh | RnnMode::Relu => 1,
            RnnMode::Lstm => 4,
            RnnMode::Gru => 3,
        }
    }

    /// The op name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            RnnMode::Tanh | RnnMode::Relu => "rnn",
            RnnMode::Lstm => "lstm",
            RnnMode::Gru => "gru",
        }
    }
}

/// The parameters of one direction of one layer, PyTorch's layouts: `weight_ih`
/// `[G·H, in]`, `weight_hh` `[G·H, H]`, biases `[G·H]`.
#[derive(Clone, Copy)]
pub struct RnnCellWeights<'a, T: Float> {
    /// Input-to-hidden weight `[G·H, in]`.
    pub weight_ih: &'a Var<T>,
    /// Hidden-to-hidden weight `[G·H, H]`.
    pub weight_hh: &'a Var<T>,
    /// Input-to-hidden bias `[G·H]`, if any.
    pub bias_ih: Option<&'a Var<T>>,
    /// Hidden-to-hidden bias `[G·H]`, if any.
    pub bias_hh: Option<&'a Var<T>>,
}

/// Shape and training options of a recurrent stack.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RnnOptions {
    /// The recurrence.
    pub mode: RnnMode,
    /// Stacked layers; layer k > 0 reads the (concatenated) outputs of layer k − 1.
    pub num_layers: usize,
    /// A second, time-reversed direction per layer, its outputs concatenated after the
    /// forward direction's.
    pub bidirectional: bool,
    /// Input and output are `[N, T, ·]` instead of `[T, N, ·]`.
    pub batch_first: bool,
    /// Dropout probability on the outputs of every layer but the last (training only).
    pub dropout: f64,
    /// Whether dropout is active.
    pub training: bool,
}

impl RnnOptions {
    /// One forward-direction layer, time-first, no dropout.
    pub fn new(mode: RnnMode) -> Self {
        RnnOptions {
            mode,
            num_layers: 1,
            bidirectional: false,
            batch_first: false,
            dropout: 0.0,
            training: false,
        }
    }

    /// 2 when bidirectional, else 1.
    pub fn directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }
}

/// What a recurrent stack returns.
pub struct RnnOutput<T: Float> {
    /// Every time step's top-layer output, `[T, N, D·H]` (`[N, T, D·H]` batch-first),
    /// forward direction first in the last dim.
    pub output: Var<T>,
    /// Final hidden state of every layer and direction, `[D·L, N, H]` (the reverse
    /// direction's final state is the one at t = 0).
    pub h_n: Var<T>,
    /// LSTM only: final cell state, `[D·L, N, H]`.
    pub c_n: Option<Var<T>>,
}

/// Runs a recurrent stack over `x` (`[T, N, I]`, or `[N, T, I]` batch-first; or unbatched
/// `[T, I]` with states `[D·L, H]`, as PyTorch, which gives unbatched outputs).
///
/// `weights` holds one entry per layer and direction in PyTorch's order (`l0`,
/// `l0_reverse`, `l1`, ...). `h0` (and for the LSTM `c0`) are `[D·L, N, H]`; missing
/// states start at zero. `rng` draws the between-layer dropout masks.
pub fn try_rnn<T: Float>(
    x: &Var<T>,
    h0: Option<&Var<T>>,
    c0: Option<&Var<T>>,
    weights: &[RnnCellWeights<'_, T>],
    opt: &RnnOptions,
    rng: &mut dyn RngCore,
) -> Result<RnnOutput<T>> {
    let op = opt.mode.name();
    let (d, l, g) = (opt.directions(), opt.num_layers, opt.mode.gates());
    let err = |why: String| TensorError::new(op, format!("input {:?}: {why}", x.shape()));
    if x.ndim() == 2 {
        return unbatched(x, h0, c0, weights, opt, rng);
    }
    if x.ndim() != 3 {
        return Err(err(format!(
            "expects a 3-D input ({}) or an unbatched 2-D one ([T, I]), got {} dims",
            if opt.batch_first {
                "[N, T, I]"
            } else {
                "[T, N, I]"
            },
            x.ndim()
        )));
    }
    if l == 0 || weights.len() != d * l {
        return Err(err(format!(
            "{l} layer(s) × {d} direction(s) need {} weight sets, got {}",
            d * l,
            weights.len()
        )));
    }
    let h = weights[0].weight_hh.shape().get(1).copied().unwrap_or(0);
    let n = x.shape()[if opt.batch_first { 0 } else { 1 }];
    for (k, w) in weights.iter().enumerate() {
        let input = if k < d { x.shape()[2] } else { d * h };
        check_cell(op, k, w, input, g, h)?;
    }
    let state_shape = [d * l, n, h];
    for (name, s) in [("h0", h0), ("c0", c0)] {
        if let Some(s) = s {
            if s.shape() != state_shape {
                return Err(err(format!(
                    "{name} must be {state_shape:?}, got {:?}",
                    s.shape()
                )));
            }
        }
    }
    if c0.is_some() && opt.mode != RnnMode::Lstm {
        return Err(err("only the LSTM takes a cell state c0".into()));
    }
    // Time-first from here on; batch-first inputs are a transposed view.
    let mut layer_in = if opt.batch_first {
        x.try_transpose(0, 1)?
    } else {
        x.clone()
    };
    let mut h_n = Vec::with_capacity(d * l);
    let mut c_n = Vec::with_capacity(d * l);
    for layer in 0..l {
        let mut outs = Vec::with_capacity(d);
        for dir in 0..d {
            let k = layer * d + dir;
            let state = |s: Option<&Var<T>>| -> Result<Var<T>> {
                match s {
                    Some(s) => s.try_select(0, k),
                    None => Ok(Var::new(Tensor::zeros(&[n, h]))),
                }
            };
            let r = run_direction(
                &layer_in,
                state(h0)?,
                state(c0)?,
                &weights[k],
                opt.mode,
                dir == 1,
            )?;
            outs.push(r.out);
            h_n.push(r.h);
            if let Some(c) = r.c {
                c_n.push(c);
            }
        }
        let refs: Vec<&Var<T>> = outs.iter().collect();
        layer_in = if d == 1 {
            outs[0].clone()
        } else {
            Var::try_concat(&refs, 2)?
        };
        if layer + 1 < l && opt.training && opt.dropout > 0.0 {
            layer_in = dropout(&layer_in, opt.dropout, true, &mut &mut *rng);
        }
    }
    let output = if opt.batch_first {
        layer_in.try_transpose(0, 1)?
    } else {
        layer_in
    };
    let stack = |v: &[Var<T>]| Var::try_stack(&v.iter().collect::<Vec<_>>(), 0);
    Ok(RnnOutput {
        output,
        h_n: stack(&h_n)?,
        c_n: if c_n.is_empty() {
            None
        } else {
            Some(stack(&c_n)?)
        },
    })
}

/// PyTorch's unbatched form: input `[T, I]` (also when batch-first) and states
/// `[D·L, H]`, run as a batch of one; the outputs drop the batch dim again.
fn unbatched<T: Float>(
    x: &Var<T>,
    h0: Option<&Var<T>>,
    c0: Option<&Var<T>>,
    weights: &[RnnCellWeights<'_, T>],
    opt: &RnnOptions,
    rng: &mut dyn RngCore,
) -> Result<RnnOutput<T>> {
    let batch_dim = if opt.batch_first { 0 } else { 1 };
    let mut states = Vec::with_capacity(2);
    for (name, s) in [("h0", h0), ("c0", c0)] {
        states.push(match s {
            Some(s) if s.ndim() != 2 => {
                return Err(TensorError::new(
                    opt.mode.name(),
                    format!(
                        "input {:?} is unbatched ([T, I]), so {name} must be [D·L, H], got {:?}",
                        x.shape(),
                        s.shape()
                    ),
                ))
            }
            Some(s) => Some(s.try_unsqueeze(1)?),
            None => None,
        });
    }
    let out = try_rnn(
        &x.try_unsqueeze(batch_dim)?,
        states[0].as_ref(),
        states[1].as_ref(),
        weights,
        opt,
        rng,
    )?;
    Ok(RnnOutput {
        output: out.output.try_squeeze_dim(batch_dim)?,
        h_n: out.h_n.try_squeeze_dim(1)?,
        c_n: match out.c_n {
            Some(c) => Some(c.try_squeeze_dim(1)?),
            None => None,
        },
    })
}

/// [`try_rnn`], panicking on bad shapes.
#[track_caller]
pub fn rnn<T: Float>(
    x: &Var<T>,
    h0: Option<&Var<T>>,
    c0: Option<&Var<T>>,
    weights: &[RnnCellWeights<'_, T>],
    opt: &RnnOptions,
    rng: &mut dyn RngCore,
) -> RnnOutput<T> {
    try_rnn(x, h0, c0, weights, opt, rng).unwrap_or_else(|e| panic!("{e}"))
}

fn check_cell<T: Float>(
    op: &str,
    k: usize,
    w: &RnnCellWeights<'_, T>,
    input: usize,
    g: usize,
    h: usize,
) -> Result<()> {
    let mut bad = Vec::new();
    if w.weight_ih.shape() != [g * h, input] {
        bad.push(format!(
            "weight_ih {:?} (expected {:?})",
            w.weight_ih.shape(),
            [g * h, input]
        ));
    }
    if w.weight_hh.shape() != [g * h, h] {
        bad.push(format!(
            "weight_hh {:?} (expected {:?})",
            w.weight_hh.shape(),
            [g * h, h]
        ));
    }
    for (name, b) in [("bias_ih", w.bias_ih), ("bias_hh", w.bias_hh)] {
        if let Some(b) = b {
            if b.shape() != [g * h] {
                bad.push(format!("{name} {:?} (expected [{}])", b.shape(), g * h));
            }
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(TensorError::new(
            op,
            format!("weight set {k}: {}", bad.join(", ")),
        ))
    }
}

/// The time steps of `x` `[T, N, W]` as `[N, W]` Vars, split by halving.
///
/// Selecting each step of `x` directly would cost O(T²) in the backward pass: a slice's
/// gradient is the full `[T, N, W]` tensor (zeros around the slice), and T of them are
/// added up. Halving recursively makes each level of the tree cost O(T·N·W), so the
/// whole split costs O(T log T) — measured at T = 32 in benches/sequence.rs.
fn split_steps<T: Float>(x: &Var<T>, out: &mut Vec<Var<T>>) -> Result<()> {
    let len = x.shape()[0];
    if len == 0 {
        return Ok(());
    }
    if len == 1 {
        out.push(x.try_select(0, 0)?);
        return Ok(());
    }
    let mid = len / 2;
    split_steps(&x.try_narrow(0, 0, mid)?, out)?;
    split_steps(&x.try_narrow(0, mid, len - mid)?, out)
}

/// What one direction of one layer returns.
struct DirectionOut<T: Float> {
    /// `[T, N, H]`, in time order.
    out: Var<T>,
    /// The final hidden state.
    h: Var<T>,
    /// The final cell state (LSTM only).
    c: Option<Var<T>>,
}

/// One direction of one layer over time-first `x` `[T, N, in]`: returns the outputs
/// `[T, N, H]` in time order, and the final h (and c).
fn run_direction<T: Float>(
    x: &Var<T>,
    mut h: Var<T>,
    mut c: Var<T>,
    w: &RnnCellWeights<'_, T>,
    mode: RnnMode,
    reverse: bool,
) -> Result<DirectionOut<T>> {
    let (t_len, n, input) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let gh_width = w.weight_hh.shape()[0];
    let hidden = w.weight_hh.shape()[1];
    // Except for the GRU (whose b_hn sits inside r ⊙ (W_hn h + b_hn)), both biases are
    // plain sums on the pre-activation, so they join the one-off input projection.
    let (bias_in, bias_step) = match mode {
        RnnMode::Gru => (w.bias_ih.cloned(), w.bias_hh.cloned()),
        _ => (
            match (w.bias_ih, w.bias_hh) {
                (Some(a), Some(b)) => Some(a.try_add(b)?),
                (a, b) => a.or(b).cloned(),
            },
            None,
        ),
    };
    let mut proj = x
        .try_reshape(&[t_len * n, input])?
        .try_matmul(&w.weight_ih.try_t()?)?;
    if let Some(b) = &bias_in {
        proj = proj.try_add(b)?;
    }
    let proj = proj.try_reshape(&[t_len, n, gh_width])?;
    if mode == RnnMode::Gru {
        // The whole recurrence is one op (see graft_autograd's gru_sequence): b_hn sits
        // inside r ⊙ (W_hn h + b_hn), so the hidden bias goes to it rather than into the
        // input projection.
        let out = Var::try_gru_sequence(&proj, w.weight_hh, &h, bias_step.as_ref(), reverse)?;
        let last = if t_len == 0 {
            h
        } else {
            out.try_select(0, if reverse { 0 } else { t_len - 1 })?
        };
        return Ok(DirectionOut {
            out,
            h: last,
            c: None,
        });
    }
    let mut steps = Vec::with_capacity(t_len);
    split_steps(&proj, &mut steps)?;
    let w_hh_t = w.weight_hh.try_t()?;
    let mut outs: Vec<Var<T>> = Vec::with_capacity(t_len);
    for step in 0..t_len {
        let t = if reverse { t_len - 1 - step } else { step };
        let gx = &steps[t];
        let gh = h.try_matmul(&w_hh_t)?;
        h = match mode {
            RnnMode::Tanh => gx.try_add(&gh)?.tanh(),
            RnnMode::Relu => gx.try_add(&gh)?.relu(),
            RnnMode::Lstm => {
                let gates = gx.try_add(&gh)?;
                // Sigmoid on the i, f and o blocks only: the transcendental functions are
                // a large part of a step's time outside matmul.
                let if_ = gates.try_narrow(1, 0, 2 * hidden)?.sigmoid();
                let i = if_.try_narrow(1, 0, hidden)?;
                let f = if_.try_narrow(1, hidden, hidden)?;
                let gg = gates.try_narrow(1, 2 * hidden, hidden)?.tanh();
                let o = gates.try_narrow(1, 3 * hidden, hidden)?.sigmoid();
                c = f.try_mul(&c)?.try_add(&i.try_mul(&gg)?)?;
                o.try_mul(&c.tanh())?
            }
            RnnMode::Gru => unreachable!("the GRU runs as one gru_sequence op above"),
        };
        outs.push(h.clone());
    }
    if reverse {
        outs.reverse();
    }
    let refs: Vec<&Var<T>> = outs.iter().collect();
    let out = if t_len == 0 {
        Var::new(Tensor::zeros(&[0, n, hidden]))
    } else {
        Var::try_stack(&refs, 0)?
    };
    Ok(DirectionOut {
        out,
        h,
        c: (mode == RnnMode::Lstm).then_some(c),
    })
}
