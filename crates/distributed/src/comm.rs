//! [`Communicator`]: rank, size and the collectives data-parallel training needs.

use std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(feature = "mpi")]
use std::sync::Arc;
use std::time::Duration;

use graft_autograd::Var;
use graft_tensor::{Float, Tensor};

use crate::error::DistError;
#[cfg(feature = "mpi")]
use crate::mpi_backend::MpiWorld;

/// How long a collective waits for the other ranks before aborting the job (5 minutes;
/// the environment variable `GRAFT_DIST_TIMEOUT` sets another default, in seconds).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// An element type the collectives carry: `f32` or `f64`.
#[cfg(feature = "mpi")]
pub trait Element: Float + mpi::datatype::Equivalence {}
/// An element type the collectives carry: `f32` or `f64`.
#[cfg(not(feature = "mpi"))]
pub trait Element: Float {}
impl Element for f32 {}
impl Element for f64 {}

/// This process's rank plus one once [`world`] ran (0 before): read by [`is_root_process`].
static WORLD_RANK_PLUS_ONE: AtomicUsize = AtomicUsize::new(0);

/// True on rank 0 of the world, and in a process that never joined one: the process that
/// prints progress and writes files.
pub fn is_root_process() -> bool {
    WORLD_RANK_PLUS_ONE.load(Ordering::Relaxed) <= 1
}

/// The world of all processes of this job: under `mpirun -np N` (with the feature `mpi`)
/// rank 0..N of N; otherwise rank 0 of 1.
///
/// MPI is initialized on the first call and finalized when the last clone of the returned
/// communicator drops: keep one alive until the program is done communicating.
pub fn world() -> Result<Communicator, DistError> {
    #[cfg(feature = "mpi")]
    let comm = {
        let world = MpiWorld::get()?;
        Communicator {
            rank: world.rank(),
            size: world.size(),
            backend: Backend::Mpi(world),
            timeout: default_timeout(),
        }
    };
    #[cfg(not(feature = "mpi"))]
    let comm = Communicator::single();
    WORLD_RANK_PLUS_ONE.store(comm.rank + 1, Ordering::Relaxed);
    Ok(comm)
}

/// `GRAFT_DIST_TIMEOUT` (seconds) if set and valid, else [`DEFAULT_TIMEOUT`].
pub(crate) fn default_timeout() -> Duration {
    std::env::var("GRAFT_DIST_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0 && s.is_finite())
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_TIMEOUT)
}

#[derive(Clone)]
enum Backend {
    /// One process: every collective is the identity.
    Single,
    #[cfg(feature = "mpi")]
    Mpi(Arc<MpiWorld>),
}

/// A group of processes that train together (cheap to clone; clones share the group).
///
/// Collectives must be called by every rank, in the same order, with the same lengths.
/// They never return an error for a communication failure: a failure aborts the job (see
/// the crate docs), so that no rank is left waiting.
#[derive(Clone)]
pub struct Communicator {
    backend: Backend,
    rank: usize,
    size: usize,
    timeout: Duration,
}

impl std::fmt::Debug for Communicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Communicator(rank {} of {})", self.rank, self.size)
    }
}

impl Communicator {
    /// A group of one process (rank 0 of 1), whatever the build: collectives return
    /// their input. What [`world`] gives without the feature `mpi`.
    pub fn single() -> Self {
        Communicator {
            backend: Backend::Single,
            rank: 0,
            size: 1,
            timeout: default_timeout(),
        }
    }

    /// This process's rank, `0..size()`.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of processes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// True on rank 0, the one that prints and writes files.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// How long a collective waits before aborting the job.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The same group with another collective timeout (for this handle only).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Ends the whole job with exit status `code` after printing `message` (MPI_Abort);
    /// in a single process, exits the process. Call it when this rank cannot go on: the
    /// other ranks would otherwise wait in their next collective until the timeout.
    pub fn abort(&self, code: i32, message: &str) -> ! {
        match &self.backend {
            Backend::Single => {
                eprintln!("graft-distributed: {message}");
                std::process::exit(code)
            }
            #[cfg(feature = "mpi")]
            Backend::Mpi(w) => w.abort(code, message),
        }
    }

    /// Waits until every rank got here.
    pub fn barrier(&self) {
        match &self.backend {
            Backend::Single => {}
            #[cfg(feature = "mpi")]
            Backend::Mpi(w) => w.barrier(self.timeout),
        }
    }

    /// Overwrites `buf` on every rank with rank 0's `buf` (same length everywhere).
    #[cfg_attr(not(feature = "mpi"), allow(unused_variables))]
    pub fn broadcast_slice<T: Element>(&self, buf: &mut [T]) {
        match &self.backend {
            Backend::Single => {}
            #[cfg(feature = "mpi")]
            Backend::Mpi(w) => w.broadcast(buf, self.timeout),
        }
    }

    /// Rank 0's `tensor` on every rank (its shape travels too, so the other ranks' tensors
    /// may have any shape).
    pub fn broadcast<T: Element>(&self, tensor: &Tensor<T>) -> Tensor<T> {
        if self.size == 1 {
            return tensor.clone();
        }
        let mut ndim = [tensor.ndim() as u64];
        self.broadcast_u64(&mut ndim);
        let mut dims: Vec<u64> = if self.is_root() {
            tensor.shape().iter().map(|&d| d as u64).collect()
        } else {
            vec![0; ndim[0] as usize]
        };
        self.broadcast_u64(&mut dims);
        let shape: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
        let mut data = if self.is_root() {
            tensor.to_vec()
        } else {
            vec![T::default(); shape.iter().product()]
        };
        self.broadcast_slice(&mut data);
        Tensor::from_vec(data, &shape)
    }

    /// Sets `var`'s value on every rank to rank 0's; errors on every rank if any rank's
    /// shape differs from rank 0's.
    pub fn broadcast_var<T: Element>(&self, var: &Var<T>) -> Result<(), DistError> {
        let value = self.broadcast(&var.value());
        let same = value.shape() == var.shape();
        self.agree(same, || {
            format!(
                "broadcast_var: rank 0 sent shape {:?}, rank {} holds {:?}",
                value.shape(),
                self.rank,
                var.shape()
            )
        })?;
        var.set_value(value);
        Ok(())
    }

    /// Replaces `buf` with the elementwise sum over ranks.
    pub fn all_reduce_sum<T: Element>(&self, buf: &mut [T]) {
        if self.size == 1 {
            return;
        }
        let send = buf.to_vec();
        self.all_reduce_sum_into(&send, buf);
    }

    /// Replaces `buf` with the elementwise mean over ranks (the sum divided by `size()`).
    pub fn all_reduce_mean<T: Element>(&self, buf: &mut [T]) {
        self.all_reduce_sum(buf);
        if self.size > 1 {
            let n = T::from_f64(self.size as f64);
            buf.iter_mut().for_each(|x| *x /= n);
        }
    }

    /// Every rank's `local`, concatenated in rank order, on every rank. All ranks must
    /// pass the same length; if they do not, every rank gets the error.
    pub fn all_gather<T: Element>(&self, local: &[T]) -> Result<Vec<T>, DistError> {
        if self.size == 1 {
            return Ok(local.to_vec());
        }
        let lens = self.all_gather_u64(&[local.len() as u64]);
        if lens.iter().any(|&l| l != lens[0]) {
            return Err(DistError::Mismatch(format!(
                "all_gather: ranks passed lengths {lens:?} (they must be equal)"
            )));
        }
        let mut out = vec![T::default(); local.len() * self.size];
        match &self.backend {
            Backend::Single => out.copy_from_slice(local),
            #[cfg(feature = "mpi")]
            Backend::Mpi(w) => w.all_gather(local, &mut out, self.timeout),
        }
        Ok(out)
    }

    /// Sums `send` across ranks into `recv` (one `MPI_Allreduce`). With one rank, copies.
    pub(crate) fn all_reduce_sum_into<T: Element>(&self, send: &[T], recv: &mut [T]) {
        match &self.backend {
            Backend::Single => recv.copy_from_slice(send),
            #[cfg(feature = "mpi")]
            Backend::Mpi(w) => w.all_reduce_sum(send, recv, self.timeout),
        }
    }

    /// A shared-memory window for sums of up to `capacity` elements, when this build talks
    /// to MPI, there are several ranks and all of them run on this machine. Collective.
    #[cfg(feature = "mpi")]
    pub(crate) fn shared_sum<T: Element>(
        &self,
        capacity: usize,
    ) -> Option<crate::shared_sum::SharedSum<T>> {
        match &self.backend {
            Backend::Mpi(w) if self.size > 1 => {
                crate::shared_sum::SharedSum::new(w, capacity, self.timeout)
            }
            _ => None,
        }
    }

    /// Ok on every rank if `ok` holds on every rank; otherwise the same error everywhere,
    /// with the failing ranks' messages printed where they happen.
    pub(crate) fn agree(&self, ok: bool, why: impl Fn() -> String) -> Result<(), DistError> {
        let mut bad = [if ok { 0.0f64 } else { 1.0 }];
        self.all_reduce_sum(&mut bad);
        if bad[0] == 0.0 {
            return Ok(());
        }
        let local = if ok { String::new() } else { why() };
        if !ok {
            eprintln!("graft-distributed: rank {}: {local}", self.rank);
        }
        Err(DistError::Mismatch(if ok {
            format!(
                "{} rank(s) disagree with rank 0 (see their messages)",
                bad[0]
            )
        } else {
            local
        }))
    }

    #[cfg_attr(not(feature = "mpi"), allow(unused_variables))]
    fn broadcast_u64(&self, buf: &mut [u64]) {
        match &self.backend {
            Backend::Single => {}
            #[cfg(feature = "mpi")]
            Backend::Mpi(w) => w.broadcast(buf, self.timeout),
        }
    }

    fn all_gather_u64(&self, local: &[u64]) -> Vec<u64> {
        match &self.backend {
            Backend::Single => local.to_vec(),
            #[cfg(feature = "mpi")]
            Backend::Mpi(w) => {
                let mut out = vec![0u64; local.len() * self.size];
                w.all_gather(local, &mut out, self.timeout);
                out
            }
        }
    }
}
