//! The MPI side of [`Communicator`](crate::Communicator): Open MPI through the `mpi` crate.
//!
//! Every collective is a blocking MPI call run under the [`Watchdog`], so that a rank whose
//! peer hangs (stuck, or dead in a way MPI cannot see) aborts the job with a message
//! instead of waiting forever. Calls are serialized by a mutex, which is what
//! `MPI_THREAD_SERIALIZED` asks of us: `fit` runs its loop on a worker thread.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
use mpi::environment::{Threading, Universe};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use crate::error::DistError;
use crate::shared_sum::{RetiredWindows, Watch};
use crate::watchdog::{Collective, Watchdog};

/// The MPI world of this process: MPI is finalized when the last handle drops.
pub(crate) struct MpiWorld {
    comm: SimpleCommunicator,
    watchdog: Watchdog,
    /// Taken (and so finalized) by `drop`, under the watchdog.
    universe: Option<Universe>,
    lock: Mutex<()>,
    /// Shared-memory windows given back by their users, freed when every rank has given
    /// them back (freeing is collective, and a rank that leaves a training with an error
    /// must not wait in it for ranks that are still training).
    windows: Mutex<RetiredWindows>,
}

// SAFETY: the handles inside are plain MPI handles (MPI_COMM_WORLD), valid in every
// thread of the process. MPI is initialized at MPI_THREAD_SERIALIZED (checked in `get`),
// which allows calls from any thread as long as no two run at once, and every method
// that calls MPI holds `lock` for its whole duration.
unsafe impl Send for MpiWorld {}
// SAFETY: as for Send: shared access only reaches MPI through `lock`.
unsafe impl Sync for MpiWorld {}

/// The live world, if any, so that a second `world()` shares it.
static LIVE: Mutex<Option<Weak<MpiWorld>>> = Mutex::new(None);

impl MpiWorld {
    /// The process's MPI world, initializing MPI on first use.
    pub(crate) fn get() -> Result<Arc<MpiWorld>, DistError> {
        let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(world) = live.as_ref().and_then(Weak::upgrade) {
            return Ok(world);
        }
        if mpi::is_initialized() {
            return Err(DistError::Init(
                "MPI was already initialized and finalized in this process (keep a \
                 Communicator alive for as long as the program communicates)"
                    .into(),
            ));
        }
        let (universe, threading) = mpi::initialize_with_threading(Threading::Serialized)
            .ok_or_else(|| DistError::Init("MPI_Init_thread failed".into()))?;
        if threading < Threading::Serialized {
            return Err(DistError::Init(format!(
                "this MPI library offers thread level {threading:?}, but graft needs \
                 Serialized (fit calls MPI from a worker thread)"
            )));
        }
        let comm = universe.world();
        let watchdog = Watchdog::start(comm.rank() as usize, abort_world)
            .map_err(|e| DistError::Init(format!("cannot start the watchdog thread: {e}")))?;
        let world = Arc::new(MpiWorld {
            comm,
            watchdog,
            universe: Some(universe),
            lock: Mutex::new(()),
            windows: Mutex::new(RetiredWindows::default()),
        });
        *live = Some(Arc::downgrade(&world));
        Ok(world)
    }

    pub(crate) fn rank(&self) -> usize {
        self.comm.rank() as usize
    }

    pub(crate) fn size(&self) -> usize {
        self.comm.size() as usize
    }

    fn guard(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` holding the world's lock, with the communicator and a way to run blocking
    /// calls under the watchdog: for code that makes its own MPI calls (the shared window).
    pub(crate) fn exclusive<R>(&self, f: impl FnOnce(&SimpleCommunicator, &Watch<'_>) -> R) -> R {
        let _g = self.guard();
        let watch = |what: Collective, timeout: Duration, call: &mut dyn FnMut()| {
            self.watchdog.run(what, timeout, call)
        };
        f(&self.comm, &watch)
    }

    /// The shared-memory windows made and retired in this world.
    pub(crate) fn windows(&self) -> MutexGuard<'_, RetiredWindows> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends the whole job: prints `message` and calls `MPI_Abort`.
    pub(crate) fn abort(&self, code: i32, message: &str) -> ! {
        eprintln!("graft-distributed: rank {}: {message}", self.rank());
        self.comm.abort(code)
    }

    pub(crate) fn barrier(&self, timeout: Duration) {
        let _g = self.guard();
        self.watchdog
            .run(Collective::Barrier, timeout, || self.comm.barrier());
    }

    pub(crate) fn broadcast<B: Equivalence>(&self, buf: &mut [B], timeout: Duration) {
        let _g = self.guard();
        let root = self.comm.process_at_rank(0);
        self.watchdog
            .run(Collective::Broadcast(buf.len()), timeout, || {
                root.broadcast_into(buf)
            });
    }

    /// Sums `send` across ranks into `recv`.
    pub(crate) fn all_reduce_sum<B: Equivalence>(
        &self,
        send: &[B],
        recv: &mut [B],
        timeout: Duration,
    ) {
        let _g = self.guard();
        self.watchdog
            .run(Collective::AllReduce(send.len()), timeout, || {
                self.comm
                    .all_reduce_into(send, recv, SystemOperation::sum())
            });
    }

    pub(crate) fn all_gather<B: Equivalence>(&self, send: &[B], recv: &mut [B], timeout: Duration) {
        let _g = self.guard();
        self.watchdog
            .run(Collective::AllGather(send.len()), timeout, || {
                self.comm.all_gather_into(send, recv)
            });
    }
}

/// The watchdog's way to end the job: MPI_Abort on the world.
fn abort_world(code: i32) -> ! {
    SimpleCommunicator::world().abort(code)
}

impl Drop for MpiWorld {
    fn drop(&mut self) {
        // Unwinding from a panic while the peers may be inside a collective: finalizing
        // would wait for them forever, so end the job instead.
        if std::thread::panicking() {
            self.abort(70, "panicked; aborting the job");
        }
        // Every window is retired by now (each holds a handle to this world).
        let timeout = crate::comm::default_timeout();
        let universe = self.universe.take();
        self.exclusive(|_, watch| {
            self.windows().free_all(watch);
            // MPI_Finalize waits for every rank: watched too.
            let mut universe = universe;
            watch(Collective::Finalize, timeout, &mut || drop(universe.take()));
        });
    }
}
