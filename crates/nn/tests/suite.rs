//! Every integration test of this crate, as modules of one test binary: one link
//! instead of one per file keeps the test build fast. A new test file is a new `mod` line.

mod attention_semantics;
mod batchnorm_and_inputs;
mod checkpoint_sequential;
mod conv_semantics;
mod convert;
mod fixtures_layers;
mod fixtures_losses;
mod layer_arguments;
mod losses;
mod models;
mod modules;
mod recurrent_semantics;
mod registry_conv;
mod registry_layers;
mod registry_losses;
mod registry_sequence;
mod regularize;
mod sequence_fixtures_conv;
mod sequence_fixtures_recurrent;
mod state_dict;
mod unbatched_inputs;
