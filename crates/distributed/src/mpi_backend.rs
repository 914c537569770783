//! The MPI side of [`Communicator`](crate::Communicator): Open MPI through the `mpi` crate.
//!
//! Every collective is started non-blocking and waited on with a deadline, so that a rank
//! whose peer hangs (stuck, or dead in a way MPI cannot see) aborts the job with a message
//! instead of waiting forever. Calls are serialized by a mutex, which is what
//! `MPI_THREAD_SERIALIZED` asks of us: `fit` runs its loop on a worker thread.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use mpi::collective::SystemOperation;
use mpi::datatype::Equivalence;
use mpi::environment::{Threading, Universe};
use mpi::request::{Request, Scope};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

use crate::error::DistError;

/// The MPI world of this process: MPI is finalized when the last handle drops.
pub(crate) struct MpiWorld {
    // Declared before `universe`: fields drop in order, and the communicator must go
    // before MPI_Finalize.
    comm: SimpleCommunicator,
    universe: Option<Universe>,
    lock: Mutex<()>,
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
        let world = Arc::new(MpiWorld {
            comm: universe.world(),
            universe: Some(universe),
            lock: Mutex::new(()),
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

    /// Ends the whole job: prints `message` and calls `MPI_Abort`.
    pub(crate) fn abort(&self, code: i32, message: &str) -> ! {
        eprintln!("graft-distributed: rank {}: {message}", self.rank());
        self.comm.abort(code)
    }

    /// Waits for `request`, aborting the job after `timeout`.
    fn wait<'a, D: ?Sized, S: Scope<'a>>(
        &self,
        mut request: Request<'a, D, S>,
        timeout: Duration,
        what: &dyn Fn() -> String,
    ) {
        let started = Instant::now();
        let mut polls = 0u32;
        loop {
            match request.test() {
                Ok(_) => return,
                Err(r) => request = r,
            }
            polls = polls.wrapping_add(1);
            // Checking the clock on every poll would cost more than the poll itself.
            if polls.is_multiple_of(1024) && started.elapsed() > timeout {
                self.abort(
                    3,
                    &format!(
                        "{} did not complete within {:.0} s: another rank died, hung or \
                         stopped calling collectives; aborting the job",
                        what(),
                        timeout.as_secs_f64()
                    ),
                );
            }
            // Let a peer sharing this core run (small machines run ranks oversubscribed).
            std::thread::yield_now();
        }
    }

    pub(crate) fn barrier(&self, timeout: Duration) {
        let _g = self.guard();
        let request = self.comm.immediate_barrier();
        self.wait(request, timeout, &|| "barrier".to_string());
    }

    pub(crate) fn broadcast<B: Equivalence>(&self, buf: &mut [B], timeout: Duration) {
        let _g = self.guard();
        let n = buf.len();
        mpi::request::scope(|scope| {
            let request = self
                .comm
                .process_at_rank(0)
                .immediate_broadcast_into(scope, buf);
            self.wait(request, timeout, &|| format!("broadcast of {n} elements"));
        });
    }

    /// Sums each send buffer across ranks into its receive buffer, all in flight at once.
    pub(crate) fn all_reduce_sum_many<B: Equivalence>(
        &self,
        pairs: &mut [(&[B], &mut [B])],
        timeout: Duration,
    ) {
        let _g = self.guard();
        mpi::request::scope(|scope| {
            let mut pending: Vec<_> = pairs
                .iter_mut()
                .map(|(send, recv)| {
                    let n = send.len();
                    let request = self.comm.immediate_all_reduce_into(
                        scope,
                        *send,
                        &mut **recv,
                        SystemOperation::sum(),
                    );
                    (n, request)
                })
                .collect();
            // Waiting in order is fine: all are in flight; this only bounds each wait.
            for (n, request) in pending.drain(..) {
                self.wait(request, timeout, &|| format!("all-reduce of {n} elements"));
            }
        });
    }

    pub(crate) fn all_gather<B: Equivalence>(&self, send: &[B], recv: &mut [B], timeout: Duration) {
        let _g = self.guard();
        let n = send.len();
        mpi::request::scope(|scope| {
            let request = self.comm.immediate_all_gather_into(scope, send, recv);
            self.wait(request, timeout, &|| format!("all-gather of {n} elements"));
        });
    }
}

impl Drop for MpiWorld {
    fn drop(&mut self) {
        // Unwinding from a panic while the peers may be inside a collective: finalizing
        // would wait for them forever, so end the job instead.
        if std::thread::panicking() {
            self.abort(70, "panicked; aborting the job");
        }
        drop(self.universe.take());
    }
}
