//! What `fit` does differently when [`FitConfig::distributed`] holds a data-parallel
//! setup: one small hook per point in the loop, so the loop itself changes in a few lines
//! (each marked `DISTRIBUTED` in `fit.rs`). Without a setup every hook is a no-op.
//!
//! [`FitConfig::distributed`]: super::FitConfig::distributed

use graft_distributed::DataParallel;

use super::config::Verbosity;
use super::error::TrainError;
use crate::data::{Batch, DataError, Dataset};

/// The data-parallel hooks of one `fit` call.
#[derive(Clone, Copy)]
pub(crate) struct Hooks<'a> {
    ddp: Option<&'a DataParallel<f32>>,
}

impl<'a> Hooks<'a> {
    pub(crate) fn new(ddp: Option<&'a DataParallel<f32>>) -> Self {
        Hooks { ddp }
    }

    /// Only rank 0 prints progress.
    pub(crate) fn verbosity(&self, v: Verbosity) -> Verbosity {
        match self.ddp {
            Some(d) if !d.comm().is_root() => Verbosity::Silent,
            _ => v,
        }
    }

    /// True with a data-parallel setup.
    pub(crate) fn active(&self) -> bool {
        self.ddp.is_some()
    }

    /// This rank's batches of pass `pass` over `len` training examples (0-based within
    /// this `fit` call), drawn by the distributed sampler from epoch `ddp.epoch() + pass`;
    /// `None` without a setup.
    pub(crate) fn epoch_batches(
        &self,
        len: usize,
        batch_size: usize,
        shuffle: bool,
        seed: u64,
        pass: usize,
    ) -> Option<Vec<Vec<usize>>> {
        let ddp = self.ddp?;
        let mut sampler = ddp.sampler(len, shuffle, seed);
        sampler.set_epoch(ddp.epoch() + pass);
        let order = sampler.indices();
        Some(
            order
                .chunks(batch_size.max(1))
                .map(<[usize]>::to_vec)
                .collect(),
        )
    }

    /// After `backward`: every gradient becomes its mean over ranks.
    pub(crate) fn after_backward(&self) {
        if let Some(d) = self.ddp {
            d.average_gradients();
        }
    }

    /// At the end of an epoch: the loss and metrics over all ranks' examples (weighted by
    /// examples seen), and the slowest rank's time, so every rank logs the same row.
    pub(crate) fn reduce_epoch(
        &self,
        loss_sum: &mut f64,
        seen: &mut usize,
        metrics: &mut [(String, f64)],
        seconds: &mut f64,
    ) -> Result<(), TrainError> {
        let Some(d) = self.ddp else { return Ok(()) };
        let mut sums = vec![*loss_sum, *seen as f64];
        sums.extend(metrics.iter().map(|(_, v)| weighted(*v, *seen)));
        d.sum_over_ranks(&mut sums);
        *loss_sum = sums[0];
        *seen = sums[1] as usize;
        for (m, s) in metrics.iter_mut().zip(&sums[2..]) {
            m.1 = s / sums[1].max(1.0);
        }
        self.slowest(seconds)
    }

    /// The slowest rank's time, on every rank (a no-op without a setup).
    pub(crate) fn slowest(&self, seconds: &mut f64) -> Result<(), TrainError> {
        let Some(d) = self.ddp else { return Ok(()) };
        let times = d.comm().all_gather(&[*seconds]).map_err(dist_error)?;
        *seconds = times.iter().copied().fold(0.0, f64::max);
        Ok(())
    }

    /// The part of the validation data this rank evaluates (every size-th example from its
    /// rank, no padding); `None` without a setup (all of it).
    pub(crate) fn validation_shard<'v>(&self, val: &'v dyn Dataset) -> Option<Picked<'v>> {
        let d = self.ddp?;
        let (rank, size) = (d.comm().rank(), d.comm().size());
        Some(Picked {
            data: val,
            indices: (rank..val.len()).step_by(size).collect(),
        })
    }

    /// Before evaluating: rank 0's buffers (BatchNorm statistics) everywhere.
    pub(crate) fn before_eval(&self) -> Result<(), TrainError> {
        match self.ddp {
            Some(d) => d.broadcast_buffers().map_err(dist_error),
            None => Ok(()),
        }
    }

    /// After evaluating `n` examples on this rank: the means over all ranks' examples.
    pub(crate) fn reduce_eval(&self, loss: &mut f64, metrics: &mut [(String, f64)], n: usize) {
        let Some(d) = self.ddp else { return };
        let mut sums = vec![weighted(*loss, n), n as f64];
        sums.extend(metrics.iter().map(|(_, v)| weighted(*v, n)));
        d.sum_over_ranks(&mut sums);
        let total = sums[1].max(1.0);
        *loss = sums[0] / total;
        for (m, s) in metrics.iter_mut().zip(&sums[2..]) {
            m.1 = s / total;
        }
    }
}

/// The examples of `data` at `indices`, without copying: a rank's validation shard.
pub(crate) struct Picked<'a> {
    data: &'a dyn Dataset,
    indices: Vec<usize>,
}

impl Dataset for Picked<'_> {
    fn len(&self) -> usize {
        self.indices.len()
    }

    fn try_batch(&self, indices: &[usize]) -> Result<Batch, DataError> {
        let picked = indices
            .iter()
            .map(|&i| {
                self.indices.get(i).copied().ok_or_else(|| {
                    DataError::invalid(
                        "validation shard",
                        format!("example {i} is out of range for {} examples", self.len()),
                    )
                })
            })
            .collect::<Result<Vec<usize>, DataError>>()?;
        self.data.try_batch(&picked)
    }
}

/// `value * n`, and 0 for a rank that saw nothing (whose mean is NaN).
fn weighted(value: f64, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        value * n as f64
    }
}

fn dist_error(e: graft_distributed::DistError) -> TrainError {
    TrainError::Config(e.to_string())
}
