//! Every integration test of this crate, as modules of one test binary: one link
//! instead of one per file keeps the test build fast. A new test file is a new `mod` line.

mod batch_loader;
mod csv_table;
mod data_loader;
mod ddp_fit;
mod fault_injection;
mod fit_augment;
mod fit_inputs;
mod fit_steps;
mod fit_validation;
mod idx_data;
mod image_folder;
mod makemore;
mod mnist_e2e;
mod npy_numpy;
mod train;
mod tune_batch_schedule;
mod tune_halving;
mod tune_lr_find;
mod tune_noise_scale;
mod tune_plots;
