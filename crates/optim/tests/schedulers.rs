//! Every case of `schedulers.json`: the learning rate after construction and after each
//! step (and OneCycleLR's momentum) must match PyTorch's.
//!
//! Tolerance: rtol 1e-12, atol 1e-15 (for rates that reach 0). The schedules are PyTorch's
//! closed forms evaluated in its operation order; PyTorch itself steps most of them
//! recursively, which differs from the closed form by a few ulps (the fixture README
//! checked the closed forms at rtol 1e-12 for the same reason).

use crate::support;

use graft_fixtures::{assert_close, load, Case};
use graft_optim::{
    AnnealStrategy, CosineAnnealingLr, CosineAnnealingWarmRestarts, ExponentialLr, GroupLrs,
    LinearLr, LrControl, LrScheduler, MultiStepLr, OneCycleConfig, OneCycleLr, PlateauConfig,
    ReduceLrOnPlateau, Schedule, SequentialLr, StepLr,
};
use serde_json::Value;
use support::Kwargs;

const RTOL: f64 = 1e-12;
const ATOL: f64 = 1e-15;

/// The optimizer the scheduler wraps: its lr, and its momentum (or beta1) if it has one.
fn optimizer(case: &Case) -> GroupLrs {
    let spec = case
        .get("optimizer")
        .unwrap_or_else(|| case.fail("has no optimizer"));
    let o = Kwargs::new(case, "optimizer", spec);
    o.ignore(&["type"]);
    let lr = o
        .f64("lr")
        .or_else(|| case.get("base_lr").and_then(Value::as_f64));
    let lr = lr.unwrap_or_else(|| case.fail("gives no optimizer lr"));
    let momentum = o
        .f64("momentum")
        .or_else(|| o.f64_list("betas").map(|b| b[0]));
    o.finish();
    match momentum {
        Some(m) => GroupLrs::with_momentum(vec![lr], vec![m]),
        None => GroupLrs::new(vec![lr]),
    }
}

/// A closed-form schedule from its torch class name and keyword arguments.
fn schedule(case: &Case, name: &str, params: &Value) -> Box<dyn Schedule> {
    let p = Kwargs::new(case, &format!("{name} params"), params);
    let built: Box<dyn Schedule> = match name {
        "StepLR" => Box::new(StepLr::new(p.u64_req("step_size"), p.f64_or("gamma", 0.1)).unwrap()),
        "MultiStepLR" => Box::new(
            MultiStepLr::new(
                p.u64_list("milestones").unwrap_or_default(),
                p.f64_or("gamma", 0.1),
            )
            .unwrap(),
        ),
        "ExponentialLR" => Box::new(ExponentialLr::new(p.f64_req("gamma")).unwrap()),
        "CosineAnnealingLR" => {
            Box::new(CosineAnnealingLr::new(p.u64_req("T_max"), p.f64_or("eta_min", 0.0)).unwrap())
        }
        "CosineAnnealingWarmRestarts" => Box::new(
            CosineAnnealingWarmRestarts::new(
                p.u64_req("T_0"),
                p.u64("T_mult").unwrap_or(1),
                p.f64_or("eta_min", 0.0),
            )
            .unwrap(),
        ),
        "LinearLR" => Box::new(
            LinearLr::new(
                p.f64_or("start_factor", 1.0 / 3.0),
                p.f64_or("end_factor", 1.0),
                p.u64("total_iters").unwrap_or(5),
            )
            .unwrap(),
        ),
        "SequentialLR" => {
            let children = case
                .get("schedulers")
                .and_then(Value::as_array)
                .unwrap_or_else(|| case.fail("is a SequentialLR without a schedulers list"))
                .iter()
                .map(|child| {
                    let c = Kwargs::new(case, "schedulers[]", child);
                    let child_name = c
                        .str("scheduler")
                        .unwrap_or_else(|| case.fail("has a child without a name"));
                    let empty = Value::Object(Default::default());
                    let child_params = child.get("params").unwrap_or(&empty);
                    c.ignore(&["params"]);
                    c.finish();
                    schedule(case, child_name, child_params)
                })
                .collect();
            Box::new(
                SequentialLr::new(children, p.u64_list("milestones").unwrap_or_default()).unwrap(),
            )
        }
        other => case.fail(&format!(
            "uses scheduler `{other}`, which these tests do not know"
        )),
    };
    p.ignore(&["last_epoch", "verbose"]);
    p.finish();
    built
}

/// Lrs (and momentums) after construction and after each `step` call.
fn drive(
    steps: usize,
    opt: &mut GroupLrs,
    mut step: impl FnMut(usize, &mut GroupLrs),
) -> (Vec<f64>, Vec<f64>) {
    let mut lrs = vec![opt.group_lr(0)];
    let mut momentums = vec![opt.group_momentum(0).unwrap_or(f64::NAN)];
    for k in 0..steps {
        step(k, opt);
        lrs.push(opt.group_lr(0));
        momentums.push(opt.group_momentum(0).unwrap_or(f64::NAN));
    }
    (lrs, momentums)
}

fn check_case(case: &Case) {
    let expected_lrs = case
        .f64_list("lrs")
        .unwrap_or_else(|| case.fail("has no lrs"));
    assert!(expected_lrs.len() >= 2, "{}: too few lrs", case.name());
    if let Some(epochs) = case.get("epochs").and_then(Value::as_u64) {
        assert_eq!(
            epochs as usize,
            expected_lrs.len(),
            "{}: epochs disagrees with lrs",
            case.name()
        );
    }
    let steps = expected_lrs.len() - 1;
    let mut opt = optimizer(case);
    let params = case
        .get("params")
        .unwrap_or_else(|| case.fail("has no params"));
    let name = case.str("scheduler");

    let (lrs, momentums) = match name {
        "OneCycleLR" => {
            let p = Kwargs::new(case, "params", params);
            let d = OneCycleConfig::new(p.f64_req("max_lr"), p.u64_req("total_steps"));
            let anneal: AnnealStrategy = p.str("anneal_strategy").unwrap_or("cos").parse().unwrap();
            let config = OneCycleConfig {
                pct_start: p.f64_or("pct_start", d.pct_start),
                anneal_strategy: anneal,
                cycle_momentum: p.bool_or("cycle_momentum", d.cycle_momentum),
                base_momentum: p.f64_or("base_momentum", d.base_momentum),
                max_momentum: p.f64_or("max_momentum", d.max_momentum),
                div_factor: p.f64_or("div_factor", d.div_factor),
                final_div_factor: p.f64_or("final_div_factor", d.final_div_factor),
                three_phase: p.bool_or("three_phase", d.three_phase),
                ..d
            };
            p.ignore(&["last_epoch", "verbose"]);
            p.finish();
            let mut s = OneCycleLr::new(&mut opt, config).unwrap();
            drive(steps, &mut opt, |_, o| s.step(o))
        }
        "ReduceLROnPlateau" => {
            let p = Kwargs::new(case, "params", params);
            let d = PlateauConfig::default();
            let config = PlateauConfig {
                mode: p.str("mode").unwrap_or("min").parse().unwrap(),
                factor: p.f64_or("factor", d.factor),
                patience: p.u64("patience").unwrap_or(d.patience),
                threshold: p.f64_or("threshold", d.threshold),
                threshold_mode: p.str("threshold_mode").unwrap_or("rel").parse().unwrap(),
                cooldown: p.u64("cooldown").unwrap_or(d.cooldown),
                min_lr: p.f64_or("min_lr", d.min_lr),
                eps: p.f64_or("eps", d.eps),
            };
            p.ignore(&["verbose"]);
            p.finish();
            let metrics = case
                .f64_list("metrics")
                .unwrap_or_else(|| case.fail("has no metrics"));
            assert_eq!(metrics.len(), steps, "{}: one metric per step", case.name());
            let mut s = ReduceLrOnPlateau::new(config).unwrap();
            drive(steps, &mut opt, |k, o| s.step(metrics[k], o))
        }
        _ => {
            let mut s = schedule(case, name, params).attach(&mut opt);
            drive(steps, &mut opt, |_, o| s.step(o))
        }
    };

    assert_close(
        &format!("{} lrs", case.name()),
        &lrs,
        &expected_lrs,
        RTOL,
        ATOL,
    );
    if let Some(expected) = case.f64_list("momentums") {
        assert_close(
            &format!("{} momentums", case.name()),
            &momentums,
            &expected,
            RTOL,
            ATOL,
        );
    }
}

#[test]
fn every_scheduler_case_matches_pytorch() {
    for case in &load("schedulers.json") {
        assert_eq!(case.op(), "lr_scheduler", "{}: unexpected op", case.name());
        check_case(case);
    }
}

#[test]
fn a_wrong_fixture_value_fails() {
    for case in load("schedulers.json") {
        let mut raw = case.raw().clone();
        let lr = &mut raw["lrs"][7];
        *lr = serde_json::json!(lr.as_f64().unwrap() * (1.0 + 1e-9) + 1e-12);
        let corrupted = Case::new("schedulers.json", raw);
        let result = std::panic::catch_unwind(|| check_case(&corrupted));
        assert!(
            result.is_err(),
            "{}: a corrupted lr went unnoticed",
            case.name()
        );
    }
}

#[test]
fn state_round_trip_resumes_the_schedule() {
    // Save half way, restore into a fresh scheduler, and finish: same rates as straight through.
    let make = || {
        let warm: Box<dyn Schedule> = Box::new(LinearLr::new(0.1, 1.0, 5).unwrap());
        let cos: Box<dyn Schedule> =
            Box::new(CosineAnnealingWarmRestarts::new(4, 2, 0.001).unwrap());
        SequentialLr::new(vec![warm, cos], vec![5]).unwrap()
    };
    let mut opt = GroupLrs::new(vec![0.1, 0.02]);
    let mut straight = make().attach(&mut opt);
    let mut expected = Vec::new();
    for _ in 0..20 {
        straight.step(&mut opt);
        expected.push(opt.lrs().to_vec());
    }

    let mut opt = GroupLrs::new(vec![0.1, 0.02]);
    let mut first = make().attach(&mut opt);
    for _ in 0..8 {
        first.step(&mut opt);
    }
    let saved = first.state();
    assert_eq!(saved.kind(), "SequentialLR");
    let mut fresh_opt = GroupLrs::new(vec![0.5, 0.5]);
    let mut resumed = make().attach(&mut fresh_opt);
    resumed.load_state(&saved).unwrap();
    assert_eq!(resumed.last_epoch(), 8);
    assert_eq!(resumed.base_lrs(), &[0.1, 0.02]);
    for want in &expected[8..] {
        resumed.step(&mut fresh_opt);
        assert_eq!(fresh_opt.lrs(), want.as_slice());
    }

    let mut one_group = GroupLrs::new(vec![0.1]);
    let mut other = make().attach(&mut one_group);
    assert!(
        other.load_state(&saved).is_err(),
        "group count mismatch must be an error"
    );
    let mut step_lr = StepLr::new(2, 0.5).unwrap().attach(&mut opt);
    assert!(
        step_lr.load_state(&saved).is_err(),
        "kind mismatch must be an error"
    );
}
