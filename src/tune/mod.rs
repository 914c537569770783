//! Tuning: the questions of which learning rate, which batch size, which optimizer,
//! schedule and penalty, each answered by one call and one picture.
//!
//! - [`lr_find`]: Leslie Smith's learning-rate range test as fastai runs it, with the
//!   steepest-descent and minimum/10 suggestions; model and optimizer are restored.
//! - [`BatchSizeSteps`] and [`AdaptiveBatchSize`]: the batch size as a schedule of `fit`
//!   ([`FitConfig::batch_size_schedule`](crate::train::FitConfig::batch_size_schedule)),
//!   fixed or grown towards the gradient noise scale that [`NoiseScaleCallback`] measures
//!   (McCandlish et al. 2018).
//! - [`successive_halving`] over trials drawn from a [`SearchSpace`] (grid or seeded
//!   random), in parallel, resumable from its results file; [`fit_trial`] trains one.
//! - [`plot_history`], [`plot_lr_find`], [`plot_search`]: SVG pictures of what they measure.

mod batch_schedule;
mod halving;
mod lr_find;
mod noise_scale;
mod objective;
mod plot;
mod results;
mod space;

pub use batch_schedule::{AdaptiveBatchSize, BatchSizeSchedule, BatchSizeSteps, LrScaling};
pub use halving::{successive_halving, HalvingConfig, RunOutcome, SearchReport};
pub use lr_find::{lr_at, lr_find, suggestions, LrFindConfig, LrFindResult};
pub use noise_scale::{NoiseScaleCallback, NoiseScaleEstimator};
pub use objective::{build_optimizer, fit_trial, outcome};
pub use plot::{
    history_panel_count, plot_history, plot_lr_find, plot_search, PANEL_HEIGHT, PLOT_HEIGHT,
    PLOT_WIDTH,
};
pub use results::{leaderboard, ResultsFile, TrialRun, RESULTS_HEADER};
pub use space::{
    OptimizerKind, PenaltyKind, Range, Sampler, ScheduleKind, SearchSpace, TrialConfig,
};
