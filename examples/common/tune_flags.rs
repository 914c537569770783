//! Tuning flags shared by the MNIST examples: the LR range test, batch-size schedules,
//! the gradient noise scale, and a plot of the History.

use std::path::PathBuf;

use clap::Args;
use graft::data::TensorDataset;
use graft::nn::Module;
use graft::optim::Optimizer;
use graft::train::{losses, FitConfig, History};
use graft::tune::{
    lr_find, plot_history, plot_lr_find, AdaptiveBatchSize, BatchSizeSteps, LrFindConfig,
    LrScaling, NoiseScaleCallback,
};

/// Flags for the tuning tools.
#[derive(Args, Debug)]
pub struct TuneFlags {
    /// Run the LR range test (fastai's lr_find) instead of training: print the suggestions
    /// and write the curve to PREFIX.csv and PREFIX.svg (see --lr-find-out).
    #[arg(long)]
    pub lr_find: bool,
    /// Where --lr-find writes its curve (without extension).
    #[arg(long, default_value = "lr_find")]
    pub lr_find_out: PathBuf,
    /// Write the training curves (loss, accuracy, lr, batch size) as an SVG plot.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Grow the batch at given epochs, e.g. "3:64,6:128" (epoch:size pairs).
    #[arg(long, value_name = "EPOCH:SIZE,...")]
    pub batch_steps: Option<String>,
    /// Grow the batch towards the measured gradient noise scale, up to this size.
    #[arg(long, value_name = "MAX")]
    pub adaptive_batch: Option<usize>,
    /// How the learning rate follows an adaptive batch: sqrt, linear or none.
    #[arg(long, default_value = "sqrt")]
    pub lr_scaling: String,
    /// Log the gradient noise scale (McCandlish et al. 2018) per epoch.
    #[arg(long)]
    pub noise_scale: bool,
}

/// Runs the LR range test on `train` when asked; true when it ran (the example then stops).
pub fn maybe_lr_find<M: Module<f32>>(
    flags: &TuneFlags,
    model: &M,
    optimizer: &mut dyn Optimizer<f32>,
    train: &TensorDataset,
    batch_size: usize,
) -> Result<bool, Box<dyn std::error::Error>> {
    if !flags.lr_find {
        return Ok(false);
    }
    let config = LrFindConfig {
        batch_size,
        ..LrFindConfig::default()
    };
    let started = std::time::Instant::now();
    let r = lr_find(model, optimizer, &losses::cross_entropy, train, &config)?;
    let show = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.2e}"));
    println!(
        "lr_find: {} steps in {:.1} s{}; suggestions: steepest {}, minimum/10 {}",
        r.lrs.len(),
        started.elapsed().as_secs_f64(),
        if r.diverged {
            " (stopped: diverged)"
        } else {
            ""
        },
        show(r.steep),
        show(r.min_div10)
    );
    let csv = flags.lr_find_out.with_extension("csv");
    let svg = flags.lr_find_out.with_extension("svg");
    std::fs::write(&csv, r.to_csv())?;
    plot_lr_find(&r, &svg)?;
    println!("lr_find: curve in {} and {}", csv.display(), svg.display());
    Ok(true)
}

/// Adds the batch-size schedule and noise-scale logging asked for to `config`.
pub fn configure(
    flags: &TuneFlags,
    config: FitConfig,
    base_batch: usize,
) -> Result<FitConfig, Box<dyn std::error::Error>> {
    let mut config = config;
    if flags.batch_steps.is_some() && flags.adaptive_batch.is_some() {
        return Err("--batch-steps and --adaptive-batch exclude each other".into());
    }
    if let Some(text) = &flags.batch_steps {
        config = config.batch_size_schedule(BatchSizeSteps::parse(base_batch, text)?);
    }
    if let Some(max) = flags.adaptive_batch {
        let scaling = match flags.lr_scaling.as_str() {
            "sqrt" => LrScaling::Sqrt,
            "linear" => LrScaling::Linear,
            "none" => LrScaling::None,
            s => return Err(format!("--lr-scaling {s:?}: expected sqrt, linear or none").into()),
        };
        config = config.batch_size_schedule(AdaptiveBatchSize::new(base_batch, max, scaling));
    }
    if flags.noise_scale || flags.adaptive_batch.is_some() {
        config = config.callback(NoiseScaleCallback::new(8, 0.98));
    }
    Ok(config)
}

/// Writes the History plot when asked.
pub fn maybe_plot(flags: &TuneFlags, history: &History) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(path) = &flags.plot {
        plot_history(history, path)?;
        println!("plot: {}", path.display());
    }
    Ok(())
}
