//! Bad hyperparameters are errors that name the parameter, for every rule and scheduler.

use graft_optim::rules::{
    AdadeltaConfig, AdagradConfig, AdamConfig, NadamConfig, RadamConfig, RmspropConfig, SgdConfig,
    UpdateRule,
};
use graft_optim::{
    CosineAnnealingLr, CosineAnnealingWarmRestarts, ExponentialLr, GroupLrs, LinearLr, MultiStepLr,
    OneCycleConfig, OneCycleLr, OptimError, PlateauConfig, ReduceLrOnPlateau, SequentialLr, StepLr,
};

/// Asserts that `result` is an `InvalidParam` error for `owner`'s `param`.
fn assert_rejects<T: std::fmt::Debug>(result: Result<T, OptimError>, owner: &str, param: &str) {
    match result {
        Err(OptimError::InvalidParam {
            owner: o, param: p, ..
        }) => {
            assert_eq!((o, p), (owner, param), "wrong parameter blamed");
        }
        other => panic!("{owner}.{param}: expected an InvalidParam error, got {other:?}"),
    }
}

#[test]
fn optimizer_hyperparameters() {
    assert_rejects(
        SgdConfig {
            lr: -0.1,
            ..Default::default()
        }
        .validate(),
        "SGD",
        "lr",
    );
    assert_rejects(
        SgdConfig {
            nesterov: true,
            ..Default::default()
        }
        .validate(),
        "SGD",
        "nesterov",
    );
    assert_rejects(
        RmspropConfig {
            alpha: -0.5,
            ..Default::default()
        }
        .validate(),
        "RMSprop",
        "alpha",
    );
    assert_rejects(
        AdamConfig {
            betas: (0.9, 1.0),
            ..Default::default()
        }
        .validate(),
        "Adam",
        "betas[1]",
    );
    assert_rejects(
        AdamConfig {
            eps: f64::NAN,
            ..AdamConfig::adamw()
        }
        .validate(),
        "AdamW",
        "eps",
    );
    assert_rejects(
        AdagradConfig {
            eps: -1e-10,
            ..Default::default()
        }
        .validate(),
        "Adagrad",
        "eps",
    );
    assert_rejects(
        AdadeltaConfig {
            rho: 1.1,
            ..Default::default()
        }
        .validate(),
        "Adadelta",
        "rho",
    );
    assert_rejects(
        NadamConfig {
            weight_decay: -1.0,
            ..Default::default()
        }
        .validate(),
        "NAdam",
        "weight_decay",
    );
    assert_rejects(
        RadamConfig {
            betas: (-0.1, 0.999),
            ..Default::default()
        }
        .validate(),
        "RAdam",
        "betas[0]",
    );
    // The trait's validate is the same check.
    assert_rejects(
        UpdateRule::validate(&SgdConfig {
            momentum: -1.0,
            ..Default::default()
        }),
        "SGD",
        "momentum",
    );
}

#[test]
fn defaults_are_valid_and_match_pytorch() {
    SgdConfig::default().validate().unwrap();
    RmspropConfig::default().validate().unwrap();
    AdamConfig::default().validate().unwrap();
    AdamConfig::adamw().validate().unwrap();
    AdagradConfig::default().validate().unwrap();
    AdadeltaConfig::default().validate().unwrap();
    NadamConfig::default().validate().unwrap();
    RadamConfig::default().validate().unwrap();
    assert_eq!(AdamConfig::default().lr, 1e-3);
    assert_eq!(AdamConfig::adamw().weight_decay, 1e-2);
    assert_eq!(NadamConfig::default().lr, 2e-3);
    assert_eq!(AdagradConfig::default().eps, 1e-10);
    assert_eq!(AdadeltaConfig::default().lr, 1.0);
    assert_eq!(RmspropConfig::default().alpha, 0.99);
}

#[test]
fn scheduler_parameters() {
    assert_rejects(StepLr::new(0, 0.1), "StepLR", "step_size");
    assert_rejects(StepLr::new(3, 0.0), "StepLR", "gamma");
    assert_rejects(MultiStepLr::new(vec![2], -0.5), "MultiStepLR", "gamma");
    assert_rejects(ExponentialLr::new(f64::NAN), "ExponentialLR", "gamma");
    assert_rejects(CosineAnnealingLr::new(0, 0.0), "CosineAnnealingLR", "T_max");
    assert_rejects(
        CosineAnnealingWarmRestarts::new(5, 0, 0.0),
        "CosineAnnealingWarmRestarts",
        "T_mult",
    );
    assert_rejects(LinearLr::new(0.0, 1.0, 5), "LinearLR", "start_factor");
    assert_rejects(
        SequentialLr::new(vec![Box::new(ExponentialLr::new(0.9).unwrap())], vec![3]),
        "SequentialLR",
        "milestones",
    );
    assert_rejects(
        ReduceLrOnPlateau::new(PlateauConfig {
            factor: 1.0,
            ..PlateauConfig::default()
        }),
        "ReduceLROnPlateau",
        "factor",
    );
    let mut opt = GroupLrs::with_momentum(vec![0.1], vec![0.9]);
    assert_rejects(
        OneCycleLr::new(&mut opt, OneCycleConfig::new(0.1, 0)),
        "OneCycleLR",
        "total_steps",
    );
    assert_rejects(
        OneCycleLr::new(&mut GroupLrs::new(vec![0.1]), OneCycleConfig::new(0.1, 10)),
        "OneCycleLR",
        "cycle_momentum",
    );
    assert_rejects(
        "sin".parse::<graft_optim::AnnealStrategy>(),
        "OneCycleLR",
        "anneal_strategy",
    );
}

#[test]
fn error_messages_read_well() {
    let e = StepLr::new(0, 0.1).unwrap_err();
    assert_eq!(
        e.to_string(),
        "StepLR: invalid step_size = 0: expected an integer >= 1"
    );
    let e = AdamConfig {
        betas: (1.5, 0.999),
        ..Default::default()
    }
    .validate()
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Adam: invalid betas[0] = 1.5: expected a number in [0, 1)"
    );
}
