//! # graft-distributed
//!
//! Data-parallel training across processes, in the behaviour of PyTorch's
//! `DistributedDataParallel`, on MPI (Open MPI through the `mpi` crate):
//!
//! - [`Communicator`]: the collectives a training loop needs, in graft's terms
//!   ([`world`], rank, size, barrier, broadcast, all-reduce, all-gather);
//! - [`DataParallel`]: broadcasts rank 0's parameters and buffers so every rank starts
//!   identical, then averages gradients after each `backward`, packed into buckets so that
//!   many small tensors become few MPI calls;
//! - [`DistributedSampler`]: each rank's disjoint, equally sized shard of every epoch's
//!   seeded permutation, padded like PyTorch's;
//! - [`Checkpoint`]: model, optimizer state, scheduler state and epoch in one file, for
//!   `--resume`.
//!
//! Without the cargo feature `mpi` the crate builds its single-process form: [`world`] is
//! rank 0 of 1 and every collective is the identity, so code written for many processes
//! runs unchanged (and is tested) on a machine without MPI.
//!
//! Failures never hang: MPI's default error handler (`MPI_ERRORS_ARE_FATAL`) aborts the
//! whole job on a communication error, `mpirun` ends the job when a rank dies, and every
//! collective has a timeout ([`Communicator::with_timeout`]), kept by a watchdog thread, after
//! which the waiting rank aborts the job with a message.

mod checkpoint;
mod comm;
mod ddp;
mod error;
#[cfg(feature = "mpi")]
mod mpi_backend;
mod sampler;
#[cfg(feature = "mpi")]
mod shared_sum;
#[cfg(feature = "mpi")]
mod watchdog;

pub use checkpoint::Checkpoint;
pub use comm::{is_root_process, world, Communicator, Element, DEFAULT_TIMEOUT};
pub use ddp::{DataParallel, DdpConfig, DEFAULT_BUCKET_BYTES};
pub use error::DistError;
pub use sampler::DistributedSampler;

/// True when this build talks to MPI (the cargo feature `mpi`).
pub const MPI_ENABLED: bool = cfg!(feature = "mpi");
