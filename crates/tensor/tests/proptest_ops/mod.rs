//! Property tests of every op group against naive reference implementations, on random
//! shapes (sizes 0 and 1 included), on contiguous and non-contiguous inputs (transposed,
//! stepped slices, broadcast, flipped, and all of these together), in f32 and f64.
//!
//! The reference is a plain row-major `Vec<f64>` with explicit index math (`common::Arr`);
//! one module per op group.

#[macro_use]
mod common;
mod compare;
mod conv;
mod elementwise;
mod index;
mod matmul;
mod reduce;
mod unfold;
mod views;
