//! Every integration test of this crate, as modules of one test binary: one link
//! instead of one per file keeps the test build fast. A new test file is a new `mod` line.

mod errors;
mod fastmath;
mod fixtures_ops;
mod hostile_shapes;
mod pool2d;
mod proptest_ops;
mod sampling;
mod semantics;
