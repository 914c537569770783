//! # graft-tensor
//!
//! N-dimensional strided tensors: shared storage with zero-copy views (reshape, permute,
//! slice, broadcast, flip), NumPy broadcasting for every binary op, reductions, indexing,
//! `torch.matmul` on matrixmultiply's SIMD gemm (with an own f32 path on AVX-512 CPUs: an
//! 8x32 micro-kernel with the same bits), im2col and convolution image by image. Large kernels
//! run on rayon in fixed-size chunks, so results never depend on the thread count, and
//! freed buffers are recycled through a pool so a training loop stops asking the OS for
//! memory after warm-up.
//!
//! ```
//! use graft_tensor::Tensor;
//! let a = Tensor::<f32>::arange(0.0, 6.0, 1.0).reshape(&[2, 3]);
//! let b = Tensor::from_vec(vec![10.0f32, 20.0, 30.0], &[3]);
//! let c = &a + &b; // broadcast [2, 3] + [3]
//! assert_eq!(c.to_vec(), vec![10.0, 21.0, 32.0, 13.0, 24.0, 35.0]);
//! let p = a.matmul(&a.t()); // [2, 3] x [3, 2], no copy for the transpose
//! assert_eq!(p.shape(), &[2, 2]);
//! ```

mod compare;
mod conv;
mod display;
mod element;
mod elementwise;
mod error;
mod fastmath;
mod index;
pub mod io;
mod kernels;
mod layout;
mod matmul;
mod operators;
pub mod parallel;
mod pool;
mod pool2d;
mod random;
mod reduce;
mod sampling;
mod sgemm;
mod storage;
mod tensor;
mod unfold;
mod view;

pub use element::{Element, Float};
pub use error::{or_panic, ErrorKind, Result, TensorError};
pub use layout::{
    broadcast_shapes, checked_numel, clamp_slice_bound, normalize_axes, normalize_dim,
    try_normalize_dim, Layout, Shape, Strides,
};
pub use tensor::Tensor;
pub use unfold::Window2d;

/// Bytes currently held idle in the f32, f64 and i64 buffer pools (for memory diagnostics).
pub fn pooled_bytes() -> usize {
    f32::pool().map_or(0, |p| p.pooled_bytes())
        + f64::pool().map_or(0, |p| p.pooled_bytes())
        + i64::pool().map_or(0, |p| p.pooled_bytes())
}
