//! What a hyperparameter search ranges over, and the trials drawn from it: by grid or by
//! seeded random sampling.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The values of one real hyperparameter.
#[derive(Clone, Debug, PartialEq)]
pub enum Range {
    /// One of these values (uniformly, or each in a grid).
    Values(Vec<f64>),
    /// Log-uniform in `[low, high]` (random sampling only; a grid takes `points` values
    /// evenly spaced in log).
    LogUniform {
        /// Lower bound (> 0).
        low: f64,
        /// Upper bound.
        high: f64,
        /// Values a grid takes.
        points: usize,
    },
}

impl Range {
    /// A single value.
    pub fn fixed(v: f64) -> Self {
        Range::Values(vec![v])
    }

    fn grid(&self) -> Vec<f64> {
        match self {
            Range::Values(v) => v.clone(),
            Range::LogUniform { low, high, points } => {
                let n = (*points).max(1);
                (0..n)
                    .map(|i| {
                        let t = if n == 1 {
                            0.5
                        } else {
                            i as f64 / (n - 1) as f64
                        };
                        (low.ln() + t * (high.ln() - low.ln())).exp()
                    })
                    .collect()
            }
        }
    }

    fn sample(&self, rng: &mut StdRng) -> f64 {
        match self {
            Range::Values(v) => v[rng.gen_range(0..v.len())],
            Range::LogUniform { low, high, .. } => {
                (low.ln() + rng.gen::<f64>() * (high.ln() - low.ln())).exp()
            }
        }
    }

    fn check(&self, name: &str) -> Result<(), String> {
        match self {
            Range::Values(v) if v.is_empty() => Err(format!("search space: {name} has no values")),
            Range::LogUniform { low, high, .. } if !(*low > 0.0 && high >= low) => Err(format!(
                "search space: {name} log-uniform needs 0 < low <= high, got [{low}, {high}]"
            )),
            _ => Ok(()),
        }
    }
}

/// The optimizers a search can choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OptimizerKind {
    /// Plain SGD.
    Sgd,
    /// SGD with momentum 0.9.
    Momentum,
    /// RMSprop (PyTorch's defaults besides the lr).
    Rmsprop,
    /// Adam.
    Adam,
    /// AdamW (decoupled weight decay).
    AdamW,
}

impl OptimizerKind {
    /// Every kind.
    pub const ALL: [OptimizerKind; 5] = [
        OptimizerKind::Sgd,
        OptimizerKind::Momentum,
        OptimizerKind::Rmsprop,
        OptimizerKind::Adam,
        OptimizerKind::AdamW,
    ];

    /// Its name in tables: `sgd`, `momentum`, `rmsprop`, `adam`, `adamw`.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Momentum => "momentum",
            OptimizerKind::Rmsprop => "rmsprop",
            OptimizerKind::Adam => "adam",
            OptimizerKind::AdamW => "adamw",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// A customary learning rate: 0.1 for SGD, 0.01 for SGD with momentum 0.9 (the same
    /// effective step), 1e-3 for RMSprop, Adam and AdamW (Keras' defaults). With
    /// [`SearchSpace::lr_relative`] the sampled lr multiplies it.
    pub fn typical_lr(self) -> f64 {
        match self {
            OptimizerKind::Sgd => 0.1,
            OptimizerKind::Momentum => 0.01,
            OptimizerKind::Rmsprop | OptimizerKind::Adam | OptimizerKind::AdamW => 1e-3,
        }
    }
}

/// A penalty added to the loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PenaltyKind {
    /// None.
    None,
    /// `coef · Σ|w|`.
    L1,
    /// `coef · Σw²`.
    L2,
}

impl PenaltyKind {
    /// Its name in tables: `none`, `l1`, `l2`.
    pub fn name(self) -> &'static str {
        match self {
            PenaltyKind::None => "none",
            PenaltyKind::L1 => "l1",
            PenaltyKind::L2 => "l2",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [PenaltyKind::None, PenaltyKind::L1, PenaltyKind::L2]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

/// A learning-rate schedule over a trial's epochs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScheduleKind {
    /// Constant learning rate.
    Constant,
    /// Cosine annealing to 0 over the trial's epochs.
    Cosine,
    /// Step decay: ×0.1 after each third of the epochs.
    Step,
}

impl ScheduleKind {
    /// Its name in tables: `constant`, `cosine`, `step`.
    pub fn name(self) -> &'static str {
        match self {
            ScheduleKind::Constant => "constant",
            ScheduleKind::Cosine => "cosine",
            ScheduleKind::Step => "step",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            ScheduleKind::Constant,
            ScheduleKind::Cosine,
            ScheduleKind::Step,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// The space searched: each field lists or bounds one hyperparameter.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchSpace {
    /// Learning rate.
    pub lr: Range,
    /// Batch sizes.
    pub batch_size: Vec<usize>,
    /// Optimizers.
    pub optimizer: Vec<OptimizerKind>,
    /// Weight decay (the optimizer's own).
    pub weight_decay: Range,
    /// Loss penalties.
    pub penalty: Vec<PenaltyKind>,
    /// Coefficient of the penalty (unused by `PenaltyKind::None`).
    pub penalty_coef: Range,
    /// LR schedules.
    pub schedule: Vec<ScheduleKind>,
    /// When true, `lr` is a factor of each optimizer's [`OptimizerKind::typical_lr`]
    /// (SGD and Adam want learning rates two decades apart, which one absolute range
    /// covers poorly).
    pub lr_relative: bool,
}

impl Default for SearchSpace {
    /// lr log-uniform in [1e-4, 1e-1], batch 32/64/128, every optimizer, no weight decay
    /// or 1e-4, no penalty / L2 1e-5..1e-3, constant or cosine.
    fn default() -> Self {
        SearchSpace {
            lr: Range::LogUniform {
                low: 1e-4,
                high: 1e-1,
                points: 4,
            },
            batch_size: vec![32, 64, 128],
            optimizer: OptimizerKind::ALL.to_vec(),
            weight_decay: Range::Values(vec![0.0, 1e-4]),
            penalty: vec![PenaltyKind::None, PenaltyKind::L2],
            penalty_coef: Range::LogUniform {
                low: 1e-5,
                high: 1e-3,
                points: 2,
            },
            schedule: vec![ScheduleKind::Constant, ScheduleKind::Cosine],
            lr_relative: false,
        }
    }
}

/// One point of the space: the hyperparameters of one trial.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialConfig {
    /// Position in the search (0-based); also seeds the trial.
    pub id: usize,
    /// Learning rate.
    pub lr: f64,
    /// Batch size.
    pub batch_size: usize,
    /// Optimizer.
    pub optimizer: OptimizerKind,
    /// Weight decay.
    pub weight_decay: f64,
    /// Penalty kind.
    pub penalty: PenaltyKind,
    /// Penalty coefficient (0 when `penalty` is `None`).
    pub penalty_coef: f64,
    /// LR schedule.
    pub schedule: ScheduleKind,
}

/// How trials are drawn from a space.
#[derive(Clone, Debug, PartialEq)]
pub enum Sampler {
    /// Every combination of the grid values (in a fixed order).
    Grid,
    /// `n` independent draws from a generator seeded with `seed`.
    Random {
        /// Number of trials.
        n: usize,
        /// Seed: the same seed gives the same trials.
        seed: u64,
    },
}

impl SearchSpace {
    fn scaled_lr(&self, lr: f64, optimizer: OptimizerKind) -> f64 {
        if self.lr_relative {
            lr * optimizer.typical_lr()
        } else {
            lr
        }
    }

    /// The trials `sampler` draws, numbered from 0; errors on an empty dimension.
    pub fn trials(&self, sampler: &Sampler) -> Result<Vec<TrialConfig>, String> {
        self.lr.check("lr")?;
        self.weight_decay.check("weight_decay")?;
        self.penalty_coef.check("penalty_coef")?;
        for (name, empty) in [
            ("batch_size", self.batch_size.is_empty()),
            ("optimizer", self.optimizer.is_empty()),
            ("penalty", self.penalty.is_empty()),
            ("schedule", self.schedule.is_empty()),
        ] {
            if empty {
                return Err(format!("search space: {name} has no values"));
            }
        }
        let mut out = Vec::new();
        match sampler {
            Sampler::Random { n, seed } => {
                let mut rng = StdRng::seed_from_u64(*seed);
                for id in 0..*n {
                    let penalty = self.penalty[rng.gen_range(0..self.penalty.len())];
                    let coef = self.penalty_coef.sample(&mut rng);
                    let lr = self.lr.sample(&mut rng);
                    let batch_size = self.batch_size[rng.gen_range(0..self.batch_size.len())];
                    let optimizer = self.optimizer[rng.gen_range(0..self.optimizer.len())];
                    out.push(TrialConfig {
                        id,
                        lr: self.scaled_lr(lr, optimizer),
                        batch_size,
                        optimizer,
                        weight_decay: self.weight_decay.sample(&mut rng),
                        penalty,
                        penalty_coef: if penalty == PenaltyKind::None {
                            0.0
                        } else {
                            coef
                        },
                        schedule: self.schedule[rng.gen_range(0..self.schedule.len())],
                    });
                }
            }
            Sampler::Grid => {
                for &optimizer in &self.optimizer {
                    for lr in self.lr.grid() {
                        for &batch_size in &self.batch_size {
                            for weight_decay in self.weight_decay.grid() {
                                for &penalty in &self.penalty {
                                    let coefs = if penalty == PenaltyKind::None {
                                        vec![0.0]
                                    } else {
                                        self.penalty_coef.grid()
                                    };
                                    for penalty_coef in coefs {
                                        for &schedule in &self.schedule {
                                            out.push(TrialConfig {
                                                id: out.len(),
                                                lr: self.scaled_lr(lr, optimizer),
                                                batch_size,
                                                optimizer,
                                                weight_decay,
                                                penalty,
                                                penalty_coef,
                                                schedule,
                                            });
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}
