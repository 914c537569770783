//! The SVG plots render: each is converted to PNG by `rsvg-convert` (Debian's
//! librsvg2-bin), which must succeed and give the plot's size; the SVG holds its curves.
//! On CI (`CI=true`, where `.ci/run` installs librsvg2-bin) a missing `rsvg-convert` fails;
//! elsewhere the size is read from the SVG's own header instead, and the test says so.

use std::path::{Path, PathBuf};
use std::process::Command;

use graft::train::{EpochLogs, History};
use graft::tune::{
    history_panel_count, lr_at, plot_history, plot_lr_find, plot_search, successive_halving,
    suggestions, HalvingConfig, LrFindConfig, LrFindResult, RunOutcome, Sampler, SearchSpace,
    TrialConfig, PANEL_HEIGHT, PLOT_HEIGHT, PLOT_WIDTH,
};

fn out(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tune_plot_{name}"))
}

/// Renders `svg` to PNG and returns the PNG's (width, height) from its IHDR chunk.
fn render(svg: &Path) -> (u32, u32) {
    let png = svg.with_extension("png");
    let status = match Command::new("rsvg-convert")
        .arg("-o")
        .arg(&png)
        .arg(svg)
        .status()
    {
        Ok(status) => status,
        Err(e) => {
            let hint = format!("rsvg-convert not found ({e}): apt-get install librsvg2-bin");
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{hint}");
            eprintln!("{hint}; checking {} by its header only", svg.display());
            return svg_size(svg);
        }
    };
    assert!(status.success(), "rsvg-convert failed on {}", svg.display());
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    assert!(bytes.len() > 5000, "{} is nearly empty", png.display());
    (be(16), be(20))
}

/// The `width` and `height` an SVG file declares on its root element.
fn svg_size(svg: &Path) -> (u32, u32) {
    let text = std::fs::read_to_string(svg).unwrap();
    let root = &text[text.find("<svg").expect("an <svg> root element")..];
    let root = &root[..root.find('>').expect("a closed <svg> tag")];
    let attr = |name: &str| -> u32 {
        let start = root.find(&format!("{name}=\"")).expect("the attribute") + name.len() + 2;
        let value = &root[start..];
        value[..value.find('"').unwrap()]
            .parse()
            .expect("a whole number")
    };
    assert!(
        text.trim_end().ends_with("</svg>"),
        "{} is cut short",
        svg.display()
    );
    (attr("width"), attr("height"))
}

fn history() -> History {
    let mut h = History::default();
    for epoch in 1..=6 {
        let t = epoch as f64;
        h.epochs.push(EpochLogs {
            epoch,
            loss: 1.0 / t,
            metrics: vec![("accuracy".into(), 1.0 - 0.5 / t)],
            val_loss: Some(1.2 / t),
            val_metrics: vec![("accuracy".into(), 1.0 - 0.6 / t)],
            lr: 1e-3,
            seconds: 1.0,
            val_seconds: Some(0.1),
            steps: 10 * epoch,
            samples: 320,
            extra: vec![
                ("batch_size".into(), if epoch < 4 { 32.0 } else { 64.0 }),
                ("noise_scale".into(), 50.0 * t),
            ],
        });
    }
    h
}

#[test]
fn history_plot_renders_with_a_panel_per_quantity() {
    let h = history();
    // loss, accuracy, lr, batch size (it changes), noise scale.
    assert_eq!(history_panel_count(&h), 5);
    let path = out("history.svg");
    plot_history(&h, &path).unwrap();
    assert_eq!(render(&path), (PLOT_WIDTH, 5 * PANEL_HEIGHT));
    let svg = std::fs::read_to_string(&path).unwrap();
    for label in ["val_loss", "val_accuracy", "batch size", "epoch"] {
        assert!(svg.contains(label), "no {label:?} in the history plot");
    }
}

#[test]
fn lr_find_plot_renders_with_its_suggestions() {
    let c = LrFindConfig::default();
    let lrs: Vec<f64> = (0..90).map(|i| lr_at(&c, i)).collect();
    let losses: Vec<f64> = lrs
        .iter()
        .map(|lr| 2.3 - 2.0 / (1.0 + (-(lr.log10() + 3.0) * 2.0).exp()) + (lr * 0.5).powi(2))
        .collect();
    let (steep, min_div10) = suggestions(&lrs, &losses, 100);
    let r = LrFindResult {
        raw_losses: losses.iter().map(|l| l * 1.05).collect(),
        lrs,
        losses,
        steep,
        min_div10,
        diverged: true,
    };
    let path = out("lr_find.svg");
    plot_lr_find(&r, &path).unwrap();
    assert_eq!(render(&path), (PLOT_WIDTH, PLOT_HEIGHT));
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.contains("steepest") && svg.contains("minimum / 10"));
}

#[test]
fn search_plot_renders() {
    let trials = SearchSpace::default()
        .trials(&Sampler::Random { n: 9, seed: 0 })
        .unwrap();
    let fake = |t: &TrialConfig, b: usize| -> Result<RunOutcome, String> {
        if t.id == 4 {
            return Err("non-finite loss".into());
        }
        Ok(RunOutcome {
            metric: 0.8 + 0.01 * (t.id as f64).sin() + 0.01 * b as f64,
            epochs: b,
            history: None,
        })
    };
    let report = successive_halving(&trials, &HalvingConfig::default(), fake).unwrap();
    let path = out("search.svg");
    plot_search(&report, "accuracy", &path).unwrap();
    assert_eq!(render(&path), (PLOT_WIDTH, PLOT_HEIGHT));
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.contains("9 epochs") && svg.contains("failed"));
}

#[test]
fn empty_inputs_are_errors_naming_the_file() {
    let e = plot_history(&History::default(), out("empty.svg")).unwrap_err();
    assert!(e.contains("empty.svg") && e.contains("no epochs"), "{e}");
}
