//! A watchdog thread that ends the job when a collective outlives its deadline.
//!
//! Collectives are blocking MPI calls because they are the fast ones: for the seed model's
//! gradient (101,774 f32 on 2 ranks of one machine) Open MPI's `MPI_Allreduce` took
//! 0.042-0.048 ms (`graft-ddp-selftest bench`) where `MPI_Iallreduce` polled to completion
//! took 0.079 ms (measured when the switch was made; the bench no longer times it). A
//! blocking call cannot time itself out, so before each one
//! the calling thread arms this watchdog with a deadline and disarms it after; if the
//! deadline passes first (a peer hung, or died in a way MPI cannot see), the watchdog
//! prints what was waited for and aborts the job, so no rank waits forever.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often the watchdog looks at the armed deadline: the most a timeout can overrun.
const POLL: Duration = Duration::from_millis(50);

/// If the MPI abort has not ended the process after this long, the process aborts itself
/// (mpirun then ends the other ranks).
const ABORT_GRACE: Duration = Duration::from_secs(10);

/// Which collective a rank is waiting in, for the timeout message.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Collective {
    Barrier,
    Broadcast(usize),
    AllReduce(usize),
    AllGather(usize),
    SharedSum(usize),
    WindowSetup,
    WindowFree,
    Finalize,
}

impl fmt::Display for Collective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Collective::Barrier => write!(f, "barrier"),
            Collective::Broadcast(n) => write!(f, "broadcast of {n} elements"),
            Collective::AllReduce(n) => write!(f, "all-reduce of {n} elements"),
            Collective::AllGather(n) => write!(f, "all-gather of {n} elements"),
            Collective::SharedSum(n) => write!(f, "shared-memory sum of {n} elements"),
            Collective::WindowSetup => write!(f, "setting up a shared-memory window"),
            Collective::WindowFree => write!(f, "freeing a shared-memory window"),
            Collective::Finalize => write!(f, "MPI_Finalize"),
        }
    }
}

struct Armed {
    what: Collective,
    timeout: Duration,
    deadline: Instant,
}

struct Shared {
    armed: Mutex<Option<Armed>>,
    stop: AtomicBool,
}

impl Shared {
    fn armed(&self) -> MutexGuard<'_, Option<Armed>> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The handle the communicating thread arms; the thread stops when this drops.
pub(crate) struct Watchdog {
    shared: Arc<Shared>,
}

impl Watchdog {
    /// Starts the watchdog thread. `abort` ends the job (MPI_Abort) and never returns.
    pub(crate) fn start(rank: usize, abort: fn(i32) -> !) -> std::io::Result<Watchdog> {
        let shared = Arc::new(Shared {
            armed: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let watched = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("graft-mpi-watchdog".into())
            .spawn(move || watch(&watched, rank, abort))?;
        Ok(Watchdog { shared })
    }

    /// Runs `call` (a blocking collective) with the watchdog armed for `timeout`.
    pub(crate) fn run<R>(
        &self,
        what: Collective,
        timeout: Duration,
        call: impl FnOnce() -> R,
    ) -> R {
        *self.shared.armed() = Some(Armed {
            what,
            timeout,
            deadline: Instant::now() + timeout,
        });
        // Disarmed on the way out, also when `call` panics.
        let _disarm = Disarm(&self.shared);
        call()
    }
}

struct Disarm<'a>(&'a Shared);

impl Drop for Disarm<'_> {
    fn drop(&mut self) {
        *self.0.armed() = None;
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

fn watch(shared: &Shared, rank: usize, abort: fn(i32) -> !) {
    while !shared.stop.load(Ordering::Relaxed) {
        std::thread::sleep(POLL);
        let expired = shared
            .armed()
            .as_ref()
            .filter(|a| Instant::now() >= a.deadline)
            .map(|a| (a.what, a.timeout));
        if let Some((what, timeout)) = expired {
            eprintln!(
                "graft-distributed: rank {rank}: {what} did not complete within {:.0} s: \
                 another rank died, hung or stopped calling collectives; aborting the job",
                timeout.as_secs_f64()
            );
            // MPI_Abort from this thread while another is inside MPI is outside what
            // MPI_THREAD_SERIALIZED promises; Open MPI honours it, and should it not, the
            // process ends itself, which mpirun turns into the end of the job.
            std::thread::spawn(|| {
                std::thread::sleep(ABORT_GRACE);
                eprintln!("graft-distributed: MPI_Abort did not end the process; aborting it");
                std::process::abort();
            });
            abort(3);
        }
    }
}
