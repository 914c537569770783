//! [`DataParallel`]: PyTorch's `DistributedDataParallel` behaviour on a [`Communicator`].

use std::sync::{Arc, Mutex};
use std::time::Instant;

use graft_autograd::Var;
use graft_nn::Module;
use graft_tensor::Tensor;

use crate::comm::{Communicator, Element};
use crate::error::DistError;
use crate::sampler::DistributedSampler;

/// PyTorch's default bucket size: 25 MiB of gradients per all-reduce.
pub const DEFAULT_BUCKET_BYTES: usize = 25 * 1024 * 1024;

/// Settings of [`DataParallel`]; every rank must use the same ones ([`DataParallel::new`]
/// checks).
#[derive(Clone, Debug)]
pub struct DdpConfig {
    /// Bytes of gradients packed into one all-reduce (PyTorch's `bucket_cap_mb`). A
    /// parameter larger than this gets a bucket of its own.
    pub bucket_bytes: usize,
    /// Broadcast rank 0's buffers (BatchNorm running statistics) before each evaluation,
    /// as PyTorch does by default.
    pub broadcast_buffers: bool,
    /// When every rank runs on one machine, sum gradients in an MPI shared-memory window
    /// instead of `MPI_Allreduce` (faster there; see `shared_sum.rs`). Across machines
    /// gradients always go through `MPI_Allreduce`.
    pub shared_memory: bool,
    /// Bytes of one half of each rank's shared-memory window (the window is two halves per
    /// rank, in `/dev/shm`): a bucket up to this size is packed straight into it, a larger
    /// one goes through it in pieces of this size. 1 MiB by default.
    pub shared_window_bytes: usize,
}

impl Default for DdpConfig {
    fn default() -> Self {
        DdpConfig {
            bucket_bytes: DEFAULT_BUCKET_BYTES,
            broadcast_buffers: true,
            shared_memory: true,
            shared_window_bytes: 1 << 20,
        }
    }
}

/// One bucket: which parameters it holds, how many elements it sums (gradients, then one
/// "has a gradient" flag per parameter), and its buffers when it does not fit the shared
/// window: `send` (packed, and summed in place when it goes through the window in pieces)
/// and `recv` (`MPI_Allreduce`'s output), made on first use, then kept between steps so a
/// step allocates nothing.
struct Bucket<T> {
    params: Vec<usize>,
    len: usize,
    send: Vec<T>,
    recv: Vec<T>,
}

/// What the buckets and the timing counters share between clones.
struct State<T> {
    buckets: Vec<Bucket<T>>,
    comm_seconds: f64,
    reductions: u64,
    epoch: usize,
    /// The shared-memory window, when the ranks share a machine.
    #[cfg(feature = "mpi")]
    shared: Option<crate::shared_sum::SharedSum<T>>,
}

/// Data-parallel training of one model replica per rank.
///
/// [`new`](Self::new) broadcasts rank 0's parameters and buffers, so every rank starts
/// identical; after each `backward`, [`average_gradients`](Self::average_gradients)
/// replaces every gradient by its mean over ranks, so every rank's optimizer takes the
/// same step. Gradients travel in buckets of [`DdpConfig::bucket_bytes`], filled in
/// reverse parameter order as PyTorch does. When every rank runs on this machine a bucket is
/// summed in an MPI shared-memory window ([`DdpConfig::shared_memory`]); otherwise it is one
/// blocking `MPI_Allreduce` (faster than `MPI_Iallreduce` here; a watchdog thread keeps it
/// from waiting forever).
///
/// Clones share the buckets, the counters and the epoch: `fit` can own one while the
/// caller keeps another to read [`communication_seconds`](Self::communication_seconds).
pub struct DataParallel<T: Element = f32> {
    comm: Communicator,
    params: Vec<Var<T>>,
    buffers: Vec<Var<T>>,
    config: DdpConfig,
    state: Arc<Mutex<State<T>>>,
}

impl<T: Element> Clone for DataParallel<T> {
    fn clone(&self) -> Self {
        DataParallel {
            comm: self.comm.clone(),
            params: self.params.clone(),
            buffers: self.buffers.clone(),
            config: self.config.clone(),
            state: Arc::clone(&self.state),
        }
    }
}

impl<T: Element> DataParallel<T> {
    /// Wraps `model` for data-parallel training on `comm`: checks that every rank holds
    /// the same parameter layout (an error on every rank if not), then broadcasts rank
    /// 0's parameters and buffers.
    pub fn new<M: Module<T> + ?Sized>(
        comm: &Communicator,
        model: &M,
        config: DdpConfig,
    ) -> Result<Self, DistError> {
        let named = model.named_parameters();
        let params: Vec<Var<T>> = named.iter().map(|(_, p)| p.clone()).collect();
        let buffers: Vec<Var<T>> = model.named_buffers().into_iter().map(|(_, b)| b).collect();
        let buckets = plan_buckets(&params, config.bucket_bytes);
        // The buckets must line up and every rank must take the same path, or the sums
        // would mix unrelated elements.
        let mut layout = layout_fingerprint(&named, &buffers);
        layout.extend(config_fingerprint(&config, &buckets));
        let all = comm.all_gather(&layout)?;
        let same = all.chunks(layout.len()).all(|c| c == layout.as_slice());
        comm.agree(same, || {
            format!(
                "DataParallel::new: the model's parameters and buffers or the DdpConfig differ \
                 between ranks (this rank: {} parameters, {} elements, {:?})",
                params.len(),
                params.iter().map(Var::numel).sum::<usize>(),
                config
            )
        })?;
        for v in params.iter().chain(&buffers) {
            comm.broadcast_var(v)?;
        }
        #[cfg(feature = "mpi")]
        let shared = match config.shared_memory {
            true => {
                let largest = buckets.iter().map(|b| b.len).max().unwrap_or(0);
                let fits = (config.shared_window_bytes / std::mem::size_of::<T>()).max(1);
                comm.shared_sum::<T>(largest.min(fits))
            }
            false => None,
        };
        Ok(DataParallel {
            comm: comm.clone(),
            params,
            buffers,
            config,
            state: Arc::new(Mutex::new(State {
                buckets,
                comm_seconds: 0.0,
                reductions: 0,
                epoch: 0,
                #[cfg(feature = "mpi")]
                shared,
            })),
        })
    }

    /// The communicator.
    pub fn comm(&self) -> &Communicator {
        &self.comm
    }

    /// The settings.
    pub fn config(&self) -> &DdpConfig {
        &self.config
    }

    /// Number of buckets (sums across ranks per step).
    pub fn num_buckets(&self) -> usize {
        self.lock().buckets.len()
    }

    /// Parameter indices per bucket (indices into `model.parameters()`), in the order the
    /// buckets are reduced.
    pub fn bucket_layout(&self) -> Vec<Vec<usize>> {
        self.lock()
            .buckets
            .iter()
            .map(|b| b.params.clone())
            .collect()
    }

    /// Replaces every parameter's gradient by its mean over ranks (the sum divided by the
    /// number of ranks, as PyTorch does). A rank without a gradient for a parameter
    /// contributes zeros; a parameter no rank has a gradient for keeps none, so the
    /// optimizer skips it as it would in one process.
    pub fn average_gradients(&self) {
        let started = Instant::now();
        let ranks = T::from_f64(self.comm.size() as f64);
        let mut guard = self.lock();
        let state = &mut *guard;
        for bucket in state.buckets.iter_mut() {
            let Bucket {
                params: ids,
                len: n,
                send,
                recv,
            } = bucket;
            let n = *n;
            // A bucket that fits the window is packed straight into it and read straight out.
            #[cfg(feature = "mpi")]
            if let Some(shared) = state.shared.as_mut().filter(|w| n <= w.capacity()) {
                shared.sum(n, |input| pack(&self.params, ids, input));
                unpack(&self.params, ids, n, |at, out| {
                    shared.read_divided(at, out, ranks)
                });
                continue;
            }
            // Otherwise packed here, then summed in place through the window piece by piece,
            // or by MPI_Allreduce into `recv`.
            send.resize(n, T::default());
            pack(&self.params, ids, send);
            #[cfg(feature = "mpi")]
            let in_window = match state.shared.as_mut() {
                Some(window) => {
                    window.sum_in_pieces(send);
                    true
                }
                None => false,
            };
            #[cfg(not(feature = "mpi"))]
            let in_window = false;
            let sums: &[T] = if in_window {
                send
            } else {
                recv.resize(n, T::default());
                self.comm.all_reduce_sum_into(send, recv);
                recv
            };
            unpack(&self.params, ids, n, |at, out| {
                out.iter_mut()
                    .zip(&sums[at..])
                    .for_each(|(o, &s)| *o = s / ranks)
            });
        }
        state.comm_seconds += started.elapsed().as_secs_f64();
        state.reductions += 1;
    }

    /// Whether gradients are summed in a shared-memory window (every rank on this machine,
    /// [`DdpConfig::shared_memory`] on) rather than by `MPI_Allreduce`.
    pub fn uses_shared_memory(&self) -> bool {
        #[cfg(feature = "mpi")]
        return self.lock().shared.is_some();
        #[cfg(not(feature = "mpi"))]
        false
    }

    /// Sets every parameter to rank 0's value (what [`new`](Self::new) does first).
    pub fn broadcast_parameters(&self) -> Result<(), DistError> {
        self.params
            .iter()
            .try_for_each(|p| self.comm.broadcast_var(p))
    }

    /// Sets every buffer (BatchNorm running statistics) to rank 0's value, if
    /// [`DdpConfig::broadcast_buffers`] is on: call before evaluating, so every rank
    /// evaluates the same model.
    pub fn broadcast_buffers(&self) -> Result<(), DistError> {
        if !self.config.broadcast_buffers {
            return Ok(());
        }
        self.buffers
            .iter()
            .try_for_each(|b| self.comm.broadcast_var(b))
    }

    /// Seconds spent in [`average_gradients`](Self::average_gradients) (packing, the
    /// all-reduce and unpacking), and how many times it ran, since the last reset.
    pub fn communication_seconds(&self) -> (f64, u64) {
        let s = self.lock();
        (s.comm_seconds, s.reductions)
    }

    /// Zeroes the counters of [`communication_seconds`](Self::communication_seconds).
    pub fn reset_counters(&self) {
        let mut s = self.lock();
        s.comm_seconds = 0.0;
        s.reductions = 0;
    }

    /// Sets the epoch the next training epoch's shard is drawn for (PyTorch's
    /// `sampler.set_epoch`); `fit` counts up from it. Use it when resuming.
    pub fn set_epoch(&self, epoch: usize) {
        self.lock().epoch = epoch;
    }

    /// The epoch set by [`set_epoch`](Self::set_epoch).
    pub fn epoch(&self) -> usize {
        self.lock().epoch
    }

    /// This rank's sampler over a data set of `len` examples (PyTorch's padding).
    pub fn sampler(&self, len: usize, shuffle: bool, seed: u64) -> DistributedSampler {
        DistributedSampler::for_comm(len, &self.comm)
            .shuffle(shuffle)
            .seed(seed)
    }

    /// Sums `values` over ranks in place: `fit` turns per-rank sums (loss times examples,
    /// examples seen) into global ones, so every rank logs the same numbers.
    pub fn sum_over_ranks(&self, values: &mut [f64]) {
        self.comm.all_reduce_sum(values);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Counts and shapes of parameters and buffers, as numbers every rank can compare.
fn layout_fingerprint<T: Element>(named: &[(String, Var<T>)], buffers: &[Var<T>]) -> Vec<f64> {
    let mut out = vec![named.len() as f64, buffers.len() as f64];
    // A short order-sensitive digest keeps the gathered vector small for any model.
    let mut digest = 0.0f64;
    for (k, v) in named.iter().map(|(_, p)| p).chain(buffers).enumerate() {
        for (d, &n) in v.shape().iter().enumerate() {
            digest += ((k + 1) * 31 + d + 1) as f64 * n as f64;
        }
    }
    let total: usize = named.iter().map(|(_, p)| p.numel()).sum();
    out.extend([digest, total as f64]);
    out
}

/// The settings and bucket sizes, as numbers every rank can compare.
fn config_fingerprint<T>(config: &DdpConfig, buckets: &[Bucket<T>]) -> Vec<f64> {
    vec![
        config.bucket_bytes as f64,
        f64::from(u8::from(config.broadcast_buffers)),
        f64::from(u8::from(config.shared_memory)),
        config.shared_window_bytes as f64,
        buckets.len() as f64,
        // An order-sensitive digest of the bucket sizes keeps the length fixed.
        buckets
            .iter()
            .enumerate()
            .map(|(i, b)| (i + 1) as f64 * b.len as f64)
            .sum(),
    ]
}

/// Groups parameters into buckets of at most `bucket_bytes`, last parameter first (the
/// order backward produces gradients in, PyTorch's choice).
fn plan_buckets<T: Element>(params: &[Var<T>], bucket_bytes: usize) -> Vec<Bucket<T>> {
    let elem = std::mem::size_of::<T>();
    let mut buckets: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut bytes = 0usize;
    for i in (0..params.len()).rev() {
        let b = params[i].numel() * elem;
        if !current.is_empty() && bytes + b > bucket_bytes {
            buckets.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(i);
        bytes += b;
    }
    if !current.is_empty() {
        buckets.push(current);
    }
    buckets
        .into_iter()
        .map(|ids| {
            // Gradients, then one "has a gradient" flag per parameter.
            let n = ids.iter().map(|&i| params[i].numel()).sum::<usize>() + ids.len();
            Bucket {
                params: ids,
                len: n,
                send: Vec::new(),
                recv: Vec::new(),
            }
        })
        .collect()
}

/// Writes the gradients of parameters `ids` one after another into `dst`, then a flag per
/// parameter: 1 if this rank has its gradient, else 0 (and zeros for the gradient).
fn pack<T: Element>(params: &[Var<T>], ids: &[usize], dst: &mut [T]) {
    let flags = dst.len() - ids.len();
    let mut at = 0;
    for (j, &i) in ids.iter().enumerate() {
        let p = &params[i];
        let n = p.numel();
        let out = &mut dst[at..at + n];
        match p.grad() {
            Some(g) => {
                match g.as_slice() {
                    Some(s) => out.copy_from_slice(s),
                    None => out.copy_from_slice(&g.to_vec()),
                }
                dst[flags + j] = T::from_f64(1.0);
            }
            None => {
                out.fill(T::default());
                dst[flags + j] = T::default();
            }
        }
        at += n;
    }
}

/// Sets each parameter's gradient to its mean over ranks, `read(at, out)` writing the means
/// of elements `at..at + out.len()` of a bucket of `len` laid out as [`pack`] writes it. A
/// parameter no rank has a gradient for keeps none.
fn unpack<T: Element>(
    params: &[Var<T>],
    ids: &[usize],
    len: usize,
    mut read: impl FnMut(usize, &mut [T]),
) {
    let mut at = 0;
    for (j, &i) in ids.iter().enumerate() {
        let p = &params[i];
        let n = p.numel();
        let mut holders = [T::default()];
        read(len - ids.len() + j, &mut holders);
        // Overwrite this rank's own gradient buffer when it has one (taken from the Var
        // first, so it is not shared and is written in place): no allocation, and no page
        // faults on fresh memory every step.
        let own = p.grad().filter(|g| g.shape() == p.shape());
        p.set_grad(None);
        if holders[0] != T::default() {
            let mut mean = own.unwrap_or_else(|| Tensor::zeros(p.shape()));
            read(at, mean.data_mut());
            p.set_grad(Some(mean));
        }
        at += n;
    }
}
