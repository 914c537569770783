//! Every integration test of this crate, as modules of one test binary: one link
//! instead of one per file keeps the test build fast. A new test file is a new `mod` line.

mod optimizers;
mod properties;
mod schedulers;
mod support;
mod training;
mod validation;
