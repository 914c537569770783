//! `Rnn`, `Lstm` and `Gru` layers: PyTorch's `nn.RNN`, `nn.LSTM` and `nn.GRU`, with the
//! same parameter names (`weight_ih_l0`, `bias_hh_l1_reverse`, ...), layouts and init, so
//! PyTorch state dicts load as they are.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use graft_autograd::Var;
use graft_tensor::{Float, Result, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::functional::{try_rnn, RnnCellWeights, RnnMode, RnnOptions, RnnOutput};
use crate::module::{Module, Visitor};

/// The shape of a recurrent stack, PyTorch's constructor arguments; build it with
/// [`RnnConfig::new`] and the setters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RnnConfig {
    /// Features per time step of the input.
    pub input_size: usize,
    /// Features of the hidden state.
    pub hidden_size: usize,
    /// Stacked layers (default 1).
    pub num_layers: usize,
    /// Adds a time-reversed direction per layer (default false).
    pub bidirectional: bool,
    /// Input and output `[N, T, ·]` instead of `[T, N, ·]` (default false).
    pub batch_first: bool,
    /// Whether the layers have `bias_ih`/`bias_hh` (default true).
    pub bias: bool,
    /// Dropout on every layer's output but the last, in training mode (default 0).
    pub dropout: f64,
}

impl RnnConfig {
    /// One unidirectional, time-first layer with biases and no dropout.
    pub fn new(input_size: usize, hidden_size: usize) -> Self {
        RnnConfig {
            input_size,
            hidden_size,
            num_layers: 1,
            bidirectional: false,
            batch_first: false,
            bias: true,
            dropout: 0.0,
        }
    }

    /// Sets the number of stacked layers.
    pub fn num_layers(mut self, n: usize) -> Self {
        self.num_layers = n;
        self
    }

    /// Sets bidirectionality.
    pub fn bidirectional(mut self, on: bool) -> Self {
        self.bidirectional = on;
        self
    }

    /// Sets the batch-first layout.
    pub fn batch_first(mut self, on: bool) -> Self {
        self.batch_first = on;
        self
    }

    /// Sets whether the layers have biases.
    pub fn bias(mut self, on: bool) -> Self {
        self.bias = on;
        self
    }

    /// Sets the between-layer dropout probability.
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }
}

/// An LSTM's `(h, c)` state, each `[D·L, N, H]`.
pub type LstmState<T> = (Var<T>, Var<T>);

/// The nonlinearity of an Elman [`Rnn`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RnnNonlinearity {
    /// tanh (PyTorch's default).
    Tanh,
    /// relu.
    Relu,
}

/// What the three layer types share: the config, the parameters of every layer and
/// direction, and the dropout state.
struct Stack<T: Float> {
    mode: RnnMode,
    config: RnnConfig,
    /// `(suffix, [w_ih, w_hh, b_ih?, b_hh?])` per layer and direction, PyTorch's order.
    cells: Vec<(String, Vec<Var<T>>)>,
    training: AtomicBool,
    rng: Mutex<StdRng>,
}

impl<T: Float> Stack<T> {
    /// PyTorch's init: every weight and bias U(−1/√H, 1/√H).
    fn new(mode: RnnMode, config: RnnConfig, rng: &mut impl Rng) -> Self {
        let (h, g) = (config.hidden_size, mode.gates());
        let d = if config.bidirectional { 2 } else { 1 };
        let b = 1.0 / (h.max(1) as f64).sqrt();
        let (lo, hi) = (T::from_f64(-b), T::from_f64(b));
        let mut uniform = |shape: &[usize]| Var::parameter(Tensor::uniform(shape, lo, hi, rng));
        let mut cells = Vec::new();
        for layer in 0..config.num_layers {
            let input = if layer == 0 { config.input_size } else { d * h };
            for dir in 0..d {
                let suffix = format!("l{layer}{}", if dir == 1 { "_reverse" } else { "" });
                let mut p = vec![uniform(&[g * h, input]), uniform(&[g * h, h])];
                if config.bias {
                    p.push(uniform(&[g * h]));
                    p.push(uniform(&[g * h]));
                }
                cells.push((suffix, p));
            }
        }
        Stack {
            mode,
            config,
            cells,
            training: AtomicBool::new(true),
            rng: Mutex::new(StdRng::seed_from_u64(rng.gen())),
        }
    }

    fn run(&self, x: &Var<T>, h0: Option<&Var<T>>, c0: Option<&Var<T>>) -> Result<RnnOutput<T>> {
        let weights: Vec<RnnCellWeights<'_, T>> = self
            .cells
            .iter()
            .map(|(_, p)| RnnCellWeights {
                weight_ih: &p[0],
                weight_hh: &p[1],
                bias_ih: p.get(2),
                bias_hh: p.get(3),
            })
            .collect();
        let opt = RnnOptions {
            mode: self.mode,
            num_layers: self.config.num_layers,
            bidirectional: self.config.bidirectional,
            batch_first: self.config.batch_first,
            dropout: self.config.dropout,
            training: self.training.load(Ordering::Relaxed),
        };
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        try_rnn(x, h0, c0, &weights, &opt, &mut *rng)
    }

    fn visit(&self, v: &mut dyn Visitor<T>) {
        const NAMES: [&str; 4] = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"];
        for (suffix, params) in &self.cells {
            for (name, p) in NAMES.iter().zip(params) {
                v.parameter(&format!("{name}_{suffix}"), p);
            }
        }
    }

    fn parameter(&self, name: &str) -> Option<&Var<T>> {
        const NAMES: [&str; 4] = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"];
        self.cells.iter().find_map(|(suffix, params)| {
            NAMES
                .iter()
                .zip(params)
                .find(|(n, _)| format!("{n}_{suffix}") == name)
                .map(|(_, p)| p)
        })
    }
}

macro_rules! recurrent_layer {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name<T: Float = f32>(Stack<T>);

        impl<T: Float> $name<T> {
            /// The layer's configuration.
            pub fn config(&self) -> &RnnConfig {
                &self.0.config
            }

            /// A parameter by its PyTorch name (`"weight_hh_l0"`, `"bias_ih_l1_reverse"`).
            pub fn parameter(&self, name: &str) -> Option<&Var<T>> {
                self.0.parameter(name)
            }
        }

        impl<T: Float> Module<T> for $name<T> {
            /// The output sequence, from zero initial states; panics on a bad input shape.
            fn forward(&self, x: &Var<T>) -> Var<T> {
                self.0
                    .run(x, None, None)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .output
            }

            fn visit(&self, v: &mut dyn Visitor<T>) {
                self.0.visit(v);
            }

            fn set_own_training(&self, training: bool) {
                self.0.training.store(training, Ordering::Relaxed);
            }
        }
    };
}

recurrent_layer! {
    /// An Elman RNN stack (`nn.RNN`): h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu).
    ///
    /// ```
    /// use graft_autograd::Var;
    /// use graft_nn::{Module, Rnn, RnnConfig, RnnNonlinearity};
    /// use graft_tensor::Tensor;
    /// use rand::SeedableRng;
    ///
    /// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    /// let rnn = Rnn::<f32>::new(RnnConfig::new(3, 5).num_layers(2), RnnNonlinearity::Tanh, &mut rng);
    /// let x = Var::new(Tensor::zeros(&[7, 4, 3])); // [T, N, I]
    /// let (y, h_n) = rnn.forward_with_state(&x, None).unwrap();
    /// assert_eq!(y.shape(), [7, 4, 5]);
    /// assert_eq!(h_n.shape(), [2, 4, 5]);
    /// ```
    Rnn
}

recurrent_layer! {
    /// An LSTM stack (`nn.LSTM`), gates i, f, g, o in PyTorch's order.
    Lstm
}

recurrent_layer! {
    /// A GRU stack (`nn.GRU`), gates r, z, n in PyTorch's order:
    /// n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h.
    Gru
}

impl<T: Float> Rnn<T> {
    /// A stack with PyTorch's init, U(−1/√H, 1/√H) for every weight and bias.
    pub fn new(config: RnnConfig, nonlinearity: RnnNonlinearity, rng: &mut impl Rng) -> Self {
        let mode = match nonlinearity {
            RnnNonlinearity::Tanh => RnnMode::Tanh,
            RnnNonlinearity::Relu => RnnMode::Relu,
        };
        Rnn(Stack::new(mode, config, rng))
    }

    /// The output sequence and the final hidden states `[D·L, N, H]`; `h0` (same shape)
    /// defaults to zeros.
    pub fn forward_with_state(&self, x: &Var<T>, h0: Option<&Var<T>>) -> Result<(Var<T>, Var<T>)> {
        let out = self.0.run(x, h0, None)?;
        Ok((out.output, out.h_n))
    }
}

impl<T: Float> Gru<T> {
    /// A stack with PyTorch's init, U(−1/√H, 1/√H) for every weight and bias.
    pub fn new(config: RnnConfig, rng: &mut impl Rng) -> Self {
        Gru(Stack::new(RnnMode::Gru, config, rng))
    }

    /// The output sequence and the final hidden states `[D·L, N, H]`; `h0` (same shape)
    /// defaults to zeros.
    pub fn forward_with_state(&self, x: &Var<T>, h0: Option<&Var<T>>) -> Result<(Var<T>, Var<T>)> {
        let out = self.0.run(x, h0, None)?;
        Ok((out.output, out.h_n))
    }
}

impl<T: Float> Lstm<T> {
    /// A stack with PyTorch's init, U(−1/√H, 1/√H) for every weight and bias.
    pub fn new(config: RnnConfig, rng: &mut impl Rng) -> Self {
        Lstm(Stack::new(RnnMode::Lstm, config, rng))
    }

    /// The output sequence and the final `(h_n, c_n)`, each `[D·L, N, H]`; the initial
    /// `(h0, c0)` default to zeros.
    pub fn forward_with_state(
        &self,
        x: &Var<T>,
        state: Option<(&Var<T>, &Var<T>)>,
    ) -> Result<(Var<T>, LstmState<T>)> {
        let out = self.0.run(x, state.map(|s| s.0), state.map(|s| s.1))?;
        let c_n = out.c_n.expect("an LSTM returns a cell state");
        Ok((out.output, (out.h_n, c_n)))
    }
}
