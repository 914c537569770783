//! SVG plots (through `plotters`' SVG backend, no system libraries): training curves of a
//! History, the LR range test with its suggestions, and a search's metric by trial and
//! budget.

use std::fmt::Display;
use std::path::Path;

use plotters::prelude::*;

use super::halving::SearchReport;
use super::lr_find::LrFindResult;
use crate::train::History;

/// Width of every plot in pixels; heights are given with each function.
pub const PLOT_WIDTH: u32 = 800;
/// Height of one History panel.
pub const PANEL_HEIGHT: u32 = 260;
/// Height of the LR range test and search plots.
pub const PLOT_HEIGHT: u32 = 500;

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn fail(path: &Path, e: impl Display) -> String {
    format!("plot {}: {e}", path.display())
}

/// `[lo, hi]` around the finite values, padded by 5% (a unit range when there are none).
fn bounds(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if lo > hi {
        return (0.0, 1.0);
    }
    // A constant series gets a band of ±5% of its value, so its ticks stay distinct.
    let pad = ((hi - lo) * 0.05).max(hi.abs() * 0.05).max(1e-12);
    (lo - pad, hi + pad)
}

/// Tick labels: scientific for small magnitudes (learning rates), else 3 significant
/// decimals at most.
fn tick(v: &f64) -> String {
    if *v != 0.0 && v.abs() < 1e-2 {
        format!("{v:.2e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Integer tick labels (epochs, trial ids); ticks between integers stay unlabelled.
fn whole(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        String::new()
    }
}

/// The panels of a History plot: (title, columns) for each group that has data.
fn history_panels(history: &History) -> Vec<(&'static str, Vec<String>)> {
    let cols = history.columns();
    let has = |c: &str| cols.iter().any(|x| x == c);
    let mut panels = vec![(
        "loss",
        ["loss", "val_loss"]
            .iter()
            .filter(|c| has(c))
            .map(|c| c.to_string())
            .collect::<Vec<_>>(),
    )];
    let acc: Vec<String> = ["accuracy", "val_accuracy"]
        .iter()
        .filter(|c| has(c))
        .map(|c| c.to_string())
        .collect();
    if !acc.is_empty() {
        panels.push(("accuracy", acc));
    }
    panels.push(("learning rate", vec!["lr".to_string()]));
    let sizes: Vec<f64> = history
        .epochs
        .iter()
        .filter_map(|e| e.get("batch_size"))
        .collect();
    if sizes.windows(2).any(|w| w[0] != w[1]) {
        panels.push(("batch size", vec!["batch_size".to_string()]));
    }
    if has("noise_scale") {
        panels.push(("gradient noise scale", vec!["noise_scale".to_string()]));
    }
    panels
}

/// The number of panels [`plot_history`] draws for `history` (its height is this times
/// [`PANEL_HEIGHT`]).
pub fn history_panel_count(history: &History) -> usize {
    history_panels(history).len()
}

/// Training curves of `history` as an SVG file: loss and val_loss; accuracy and
/// val_accuracy; the learning rate; the batch size when it changes; the noise scale when
/// logged. One panel each, stacked, against the epoch.
pub fn plot_history(history: &History, path: impl AsRef<Path>) -> Result<(), String> {
    let path = path.as_ref();
    if history.epochs.is_empty() {
        return Err(fail(path, "the History has no epochs"));
    }
    let panels = history_panels(history);
    let height = PANEL_HEIGHT * panels.len() as u32;
    let root = SVGBackend::new(path, (PLOT_WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(path, e))?;
    let areas = root.split_evenly((panels.len(), 1));
    let last = history.epochs.len() as f64;
    for ((title, cols), area) in panels.iter().zip(&areas) {
        let series: Vec<(String, Vec<(f64, f64)>)> = cols
            .iter()
            .map(|c| {
                let pts = history
                    .epochs
                    .iter()
                    .filter_map(|e| e.get(c).map(|v| (e.epoch as f64, v)))
                    .filter(|(_, v)| v.is_finite())
                    .collect();
                (c.clone(), pts)
            })
            .collect();
        let (lo, hi) = bounds(series.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)));
        let mut chart = ChartBuilder::on(area)
            .caption(*title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(70)
            .build_cartesian_2d(0.5..last + 0.5, lo..hi)
            .map_err(|e| fail(path, e))?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_label_formatter(&whole)
            .y_label_formatter(&tick)
            .draw()
            .map_err(|e| fail(path, e))?;
        for (k, (name, pts)) in series.into_iter().enumerate() {
            let color = COLORS[k % COLORS.len()];
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| fail(path, e))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(|e| fail(path, e))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| fail(path, e))?;
    }
    root.present().map_err(|e| fail(path, e))
}

/// The LR range test as an SVG file: smoothed and raw loss against the learning rate on a
/// log axis, with the two suggestions marked.
pub fn plot_lr_find(result: &LrFindResult, path: impl AsRef<Path>) -> Result<(), String> {
    let path = path.as_ref();
    if result.lrs.len() < 2 {
        return Err(fail(path, "the range test has fewer than 2 points"));
    }
    let root = SVGBackend::new(path, (PLOT_WIDTH, PLOT_HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(path, e))?;
    let (x0, x1) = (result.lrs[0], *result.lrs.last().unwrap_or(&result.lrs[0]));
    // The diverging end would squash the curve: the axis stops at 1.5× the first smoothed
    // loss; raw losses beyond it are drawn at the edge.
    let (lo, hi) = bounds(result.losses.iter().chain(&result.raw_losses).copied());
    let cap = result.losses[0] * 1.5;
    let hi = if cap > lo { hi.min(cap) } else { hi };
    let mut chart = ChartBuilder::on(&root)
        .caption("learning-rate range test", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale(), lo..hi)
        .map_err(|e| fail(path, e))?;
    chart
        .configure_mesh()
        .x_desc("learning rate")
        .y_desc("loss")
        .x_label_formatter(&|x| format!("{x:.0e}"))
        .y_label_formatter(&tick)
        .draw()
        .map_err(|e| fail(path, e))?;
    let clip = |v: f64| v.clamp(lo, hi);
    let raw: Vec<(f64, f64)> = result
        .lrs
        .iter()
        .zip(&result.raw_losses)
        .filter(|(_, l)| l.is_finite())
        .map(|(&x, &l)| (x, clip(l)))
        .collect();
    chart
        .draw_series(LineSeries::new(raw, COLORS[0].mix(0.3)))
        .map_err(|e| fail(path, e))?
        .label("raw loss")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], COLORS[0].mix(0.3)));
    let smooth: Vec<(f64, f64)> = result
        .lrs
        .iter()
        .copied()
        .zip(result.losses.iter().map(|&l| clip(l)))
        .collect();
    chart
        .draw_series(LineSeries::new(smooth, COLORS[0].stroke_width(2)))
        .map_err(|e| fail(path, e))?
        .label("smoothed loss")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], COLORS[0]));
    let marks = [
        (result.steep, "steepest", COLORS[3]),
        (result.min_div10, "minimum / 10", COLORS[2]),
    ];
    for (lr, name, color) in marks {
        let Some(lr) = lr else { continue };
        chart
            .draw_series(LineSeries::new(
                vec![(lr, lo), (lr, hi)],
                color.stroke_width(2),
            ))
            .map_err(|e| fail(path, e))?
            .label(format!("{name}: {lr:.2e}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(path, e))?;
    root.present().map_err(|e| fail(path, e))
}

/// A search's validation metric by trial (x) and budget (one colour per rung) as an SVG
/// file; failed runs are crosses on the bottom edge.
pub fn plot_search(
    report: &SearchReport,
    metric_name: &str,
    path: impl AsRef<Path>,
) -> Result<(), String> {
    let path = path.as_ref();
    if report.runs.is_empty() {
        return Err(fail(path, "the search has no runs"));
    }
    let root = SVGBackend::new(path, (PLOT_WIDTH, PLOT_HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(path, e))?;
    let n = report.runs.iter().map(|r| r.config.id).max().unwrap_or(0) as f64;
    let (lo, hi) = bounds(report.runs.iter().map(|r| r.metric));
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("search: validation {metric_name} by trial and budget"),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..n + 0.5, lo..hi)
        .map_err(|e| fail(path, e))?;
    chart
        .configure_mesh()
        .x_desc("trial")
        .y_desc(format!("val {metric_name}"))
        .x_label_formatter(&whole)
        .y_label_formatter(&tick)
        .draw()
        .map_err(|e| fail(path, e))?;
    let mut budgets: Vec<usize> = report.runs.iter().map(|r| r.budget).collect();
    budgets.sort_unstable();
    budgets.dedup();
    for (k, b) in budgets.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let pts: Vec<(f64, f64)> = report
            .runs
            .iter()
            .filter(|r| r.budget == *b && r.ok())
            .map(|r| (r.config.id as f64, r.metric))
            .collect();
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 5, color.filled())))
            .map_err(|e| fail(path, e))?
            .label(format!("{b} epoch{}", if *b == 1 { "" } else { "s" }))
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
    }
    let failed: Vec<(f64, f64)> = report
        .runs
        .iter()
        .filter(|r| !r.ok())
        .map(|r| (r.config.id as f64, lo))
        .collect();
    if !failed.is_empty() {
        chart
            .draw_series(
                failed
                    .into_iter()
                    .map(|p| Cross::new(p, 6, BLACK.stroke_width(2))),
            )
            .map_err(|e| fail(path, e))?
            .label("failed")
            .legend(|(x, y)| Cross::new((x + 10, y), 6, BLACK.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| fail(path, e))?;
    root.present().map_err(|e| fail(path, e))
}
