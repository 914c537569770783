//! Every integration test of this crate, as modules of one test binary: one link
//! instead of one per file keeps the test build fast. A new test file is a new `mod` line.

mod anomaly;
mod backward_twice;
mod checkpoint;
mod engine;
mod fixtures_higher_order;
mod fixtures_ops;
mod functional;
mod recurrent_cell;
mod registry;

// live_nodes is a test binary of its own: it counts the process-wide live nodes, which
// tests running beside it in the same process would change.
