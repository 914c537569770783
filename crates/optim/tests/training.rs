//! The Var-based optimizers in training: checkpoints that resume bit for bit, schedulers
//! driving real optimizers, parameter groups, skipped and bad gradients, NaN handling.

use graft_autograd::Var;
use graft_optim::rules::{
    AdadeltaConfig, AdagradConfig, AdamConfig, NadamConfig, ParamState, RadamConfig, RmspropConfig,
    SgdConfig, UpdateRule,
};
use graft_optim::{
    Adam, AdamW, GenericOptimizer, LrControl, LrScheduler, OneCycleConfig, OneCycleLr, OptimError,
    Optimizer, OptimizerState, ParamGroup, Schedule, Sgd, StepLr,
};
use graft_tensor::{Float, Tensor};
use proptest::prelude::*;

/// Deterministic values in [-1, 1) (a small linear congruential sequence).
fn values<T: Float>(n: usize, seed: u64) -> Vec<T> {
    let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            T::from_f64((s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)
        })
        .collect()
}

/// The fixtures' problem on generated data: X [8, 5], Y [8, 3], w [5, 3], b [3].
struct Problem<T: Float> {
    x: Var<T>,
    y: Var<T>,
}

impl<T: Float> Problem<T> {
    fn new() -> Self {
        Self {
            x: Var::new(Tensor::from_vec(values(40, 1), &[8, 5])),
            y: Var::new(Tensor::from_vec(values(24, 2), &[8, 3])),
        }
    }

    fn initial_params() -> Vec<Var<T>> {
        vec![
            Var::parameter(Tensor::from_vec(values(15, 3), &[5, 3])).with_name("w"),
            Var::parameter(Tensor::from_vec(values(3, 4), &[3])).with_name("b"),
        ]
    }

    /// Computes the loss and leaves its gradients in `params`. At odd `step`s `b` gets no
    /// gradient, so the parameters' step counts differ (as with a frozen layer).
    fn backward(&self, params: &[Var<T>], step: usize) {
        let (w, b) = (&params[0], &params[1]);
        let fit = (&(&self.x.matmul(w) + b).tanh() - &self.y).square().mean();
        let loss = &fit + &(&w.square().sum() + &b.square().sum()).mul_scalar(T::from_f64(0.01));
        loss.backward().unwrap();
        if step % 2 == 1 {
            b.set_grad(None);
        }
    }
}

fn bits<T: Float>(params: &[Var<T>]) -> Vec<u64> {
    params
        .iter()
        .flat_map(|p| p.value().to_vec())
        .map(|x| x.to_f64().to_bits())
        .collect()
}

/// How a checkpoint travels between the two optimizers.
#[derive(Clone, Copy, Debug)]
enum Via {
    Memory,
    Bytes,
    File,
}

fn carry<T: Float>(state: OptimizerState<T>, via: Via, tag: &str) -> OptimizerState<T> {
    match via {
        Via::Memory => state,
        Via::Bytes => OptimizerState::from_bytes(&state.to_bytes()).unwrap(),
        Via::File => {
            let path = std::env::temp_dir().join(format!(
                "graft-optim-{tag}-{}-{}.bin",
                T::DTYPE,
                std::process::id()
            ));
            state.save(&path).unwrap();
            let back = OptimizerState::load(&path).unwrap();
            std::fs::remove_file(&path).unwrap();
            back
        }
    }
}

/// Trains `total` steps with a StepLR schedule and returns the final parameters' bits
/// and optimizer state. With `resume_at = Some(k)`, after `k` steps everything is
/// checkpointed (parameter values, optimizer and scheduler state), a new optimizer is
/// built from scratch with other hyperparameters, the checkpoint is loaded, and training
/// continues there.
fn train<R: UpdateRule, T: Float>(
    rule: R,
    fresh_rule: R,
    total: usize,
    resume_at: Option<usize>,
    via: Via,
) -> (Vec<u64>, OptimizerState<T>) {
    let problem = Problem::<T>::new();
    let mut params = Problem::<T>::initial_params();
    let mut opt = GenericOptimizer::<R, T>::new(params.clone(), rule).unwrap();
    let mut sched = StepLr::new(3, 0.5).unwrap().attach(&mut opt);
    for step in 0..total {
        if Some(step) == resume_at {
            let state = carry(opt.state_dict(), via, fresh_rule.name());
            let sched_state = sched.state();
            params = params
                .iter()
                .map(|p| Var::parameter(Tensor::from_vec(p.value().to_vec(), p.shape())))
                .collect();
            opt = GenericOptimizer::new(params.clone(), fresh_rule.clone()).unwrap();
            sched = StepLr::new(3, 0.5).unwrap().attach(&mut opt);
            opt.load_state_dict(&state).unwrap();
            sched.load_state(&sched_state).unwrap();
        }
        opt.zero_grad();
        problem.backward(&params, step);
        opt.step().unwrap();
        sched.step(&mut opt);
    }
    (bits(&params), opt.state_dict())
}

/// Resuming at every possible step, through memory, bytes and a file, gives the same
/// bits as never stopping: parameters and the whole optimizer state.
fn check_resume<R: UpdateRule, T: Float>(rule: R, fresh_rule: R) {
    const TOTAL: usize = 9;
    let (expected, expected_state) =
        train::<R, T>(rule.clone(), fresh_rule.clone(), TOTAL, None, Via::Memory);
    let expected_state = expected_state.to_bytes();
    for k in 0..TOTAL {
        for via in [Via::Memory, Via::Bytes, Via::File] {
            let (got, state) = train::<R, T>(rule.clone(), fresh_rule.clone(), TOTAL, Some(k), via);
            assert!(
                got == expected,
                "{} ({}): resuming after {k} steps via {via:?} changed the parameters",
                rule.name(),
                T::DTYPE
            );
            assert!(
                state.to_bytes() == expected_state,
                "{} ({}): resuming after {k} steps via {via:?} changed the optimizer state",
                rule.name(),
                T::DTYPE
            );
        }
    }
}

#[test]
fn resuming_from_a_checkpoint_equals_uninterrupted_training_bit_for_bit() {
    let sgd = SgdConfig::default()
        .lr(0.1)
        .momentum(0.9)
        .dampening(0.1)
        .weight_decay(1e-3);
    check_resume::<_, f64>(sgd.clone(), SgdConfig::default());
    check_resume::<_, f32>(sgd, SgdConfig::default());
    check_resume::<_, f64>(
        SgdConfig::default().lr(0.05).momentum(0.8).nesterov(true),
        SgdConfig::default(),
    );
    let amsgrad = AdamConfig::default()
        .lr(0.05)
        .amsgrad(true)
        .weight_decay(0.01);
    check_resume::<_, f64>(amsgrad.clone(), AdamConfig::default());
    check_resume::<_, f32>(amsgrad, AdamConfig::default());
    check_resume::<_, f64>(AdamConfig::adamw().lr(0.02), AdamConfig::adamw());
    let nadam = NadamConfig::default().lr(0.05).weight_decay(0.01);
    check_resume::<_, f64>(nadam.clone(), NadamConfig::default());
    check_resume::<_, f32>(nadam, NadamConfig::default());
    check_resume::<_, f64>(
        RmspropConfig::default().centered(true).momentum(0.5),
        RmspropConfig::default(),
    );
    check_resume::<_, f64>(
        AdagradConfig::default()
            .lr_decay(0.1)
            .initial_accumulator_value(0.1),
        AdagradConfig::default(),
    );
    check_resume::<_, f64>(
        AdadeltaConfig::default().weight_decay(0.01),
        AdadeltaConfig::default(),
    );
    check_resume::<_, f64>(RadamConfig::default().lr(0.05), RadamConfig::default());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// With arbitrary gradient sequences and split points: save, load into a fresh
    /// optimizer, continue; the result equals uninterrupted training bit for bit.
    #[test]
    fn save_load_continue_is_exact(
        grads in prop::collection::vec(prop::collection::vec(-10.0f64..10.0, 4), 1..12),
        split in 0usize..12,
        amsgrad in any::<bool>(),
        lr in 1e-4f64..0.5,
    ) {
        let split = split % grads.len();
        let rule = AdamConfig::default().lr(lr).amsgrad(amsgrad);
        let run = |resume: bool| {
            let p = Var::parameter(Tensor::from_vec(vec![0.5f64, -0.5, 1.0, 0.0], &[4]));
            let mut opt = Adam::new(vec![p.clone()], rule.clone()).unwrap();
            for (k, g) in grads.iter().enumerate() {
                if resume && k == split {
                    let state = OptimizerState::from_bytes(&opt.state_dict().to_bytes()).unwrap();
                    opt = Adam::new(vec![p.clone()], AdamConfig::default()).unwrap();
                    opt.load_state_dict(&state).unwrap();
                }
                p.set_grad(Some(Tensor::from_vec(g.clone(), &[4])));
                opt.step().unwrap();
            }
            bits(&[p])
        };
        prop_assert_eq!(run(true), run(false));
    }
}

#[test]
fn step_lr_drives_sgd() {
    let p = Var::parameter(Tensor::from_vec(vec![1.0f64, -2.0], &[2]));
    let mut opt = Sgd::new(vec![p.clone()], SgdConfig::default().lr(0.4)).unwrap();
    let mut sched = StepLr::new(2, 0.5).unwrap().attach(&mut opt);
    let grad = [0.25, -1.0];
    for epoch in 0..7u64 {
        let lr = 0.4 * 0.5f64.powi((epoch / 2) as i32);
        assert_eq!(opt.lr(), lr, "epoch {epoch}");
        assert_eq!(sched.last_lrs(), vec![lr]);
        let before = p.value().to_vec();
        p.set_grad(Some(Tensor::from_vec(grad.to_vec(), &[2])));
        opt.step().unwrap();
        // Plain SGD is exactly p - lr * g, with the scheduled lr.
        let after = p.value().to_vec();
        for i in 0..2 {
            assert_eq!(after[i], before[i] - lr * grad[i], "epoch {epoch}");
        }
        sched.step(&mut opt);
    }
}

#[test]
fn one_cycle_drives_adam_lr_and_beta1() {
    let p = Var::parameter(Tensor::from_vec(vec![1.0f64, -2.0, 0.5], &[3]));
    let mut opt = Adam::new(vec![p.clone()], AdamConfig::default()).unwrap();
    let total = 12;
    let mut sched = OneCycleLr::new(&mut opt, OneCycleConfig::new(0.1, total)).unwrap();

    // The reference: the slice kernel, with lr and beta1 set by hand from the schedule.
    let mut reference = p.value().to_vec();
    let mut rule = AdamConfig::default();
    let mut state = rule.init_state::<f64>(3);
    let mut seen_betas = Vec::new();
    for step in 0..total {
        let (lr, beta1) = sched.values_at(step);
        assert_eq!(opt.lr(), lr, "step {step}");
        assert_eq!(opt.config(0).betas.0, beta1, "step {step}");
        assert_eq!(opt.group_momentum(0), Some(beta1));
        seen_betas.push(beta1);

        let grad: Vec<f64> = values(3, 10 + step);
        p.set_grad(Some(Tensor::from_vec(grad.clone(), &[3])));
        opt.step().unwrap();
        rule.lr = lr;
        rule.betas.0 = beta1;
        rule.update(&mut reference, &grad, &mut state);
        assert_eq!(p.value().to_vec(), reference, "step {step}");
        sched.step(&mut opt);
    }
    // beta1 really cycled: down from 0.95 to near 0.85 (the peak falls between steps)
    // and back up.
    assert_eq!(seen_betas[0], 0.95);
    let lowest = seen_betas.iter().cloned().fold(1.0, f64::min);
    assert!((0.85..0.86).contains(&lowest), "{seen_betas:?}");
    assert!(*seen_betas.last().unwrap() > 0.94, "{seen_betas:?}");
}

#[test]
fn a_boxed_optimizer_works_with_schedulers() {
    let p = Var::parameter(Tensor::from_vec(vec![1.0f32, 2.0], &[2]));
    let mut opt: Box<dyn Optimizer<f32>> =
        Box::new(Sgd::new(vec![p.clone()], SgdConfig::default().lr(0.1).momentum(0.9)).unwrap());
    let mut sched = StepLr::new(1, 0.1).unwrap().attach(&mut opt);
    sched.step(&mut opt);
    assert!((opt.lr() - 0.01).abs() < 1e-12);
    sched.step(opt.as_lr_control());
    assert!((opt.lr() - 0.001).abs() < 1e-12);
    assert_eq!(opt.name(), "SGD");
    assert_eq!(opt.num_param_groups(), 1);
    assert_eq!(opt.param_group(0).len(), 1);
}

#[test]
fn parameter_groups_have_their_own_hyperparameters() {
    let w = Var::parameter(Tensor::from_vec(vec![1.0f64, -1.0], &[2]));
    let b = Var::parameter(Tensor::from_vec(vec![1.0f64], &[1]));
    let mut opt = AdamW::with_groups(vec![
        ParamGroup::new(vec![w.clone()], AdamConfig::adamw().lr(0.1)),
        ParamGroup::new(
            vec![b.clone()],
            AdamConfig::adamw().lr(0.01).weight_decay(0.0),
        ),
    ])
    .unwrap();
    assert_eq!(opt.num_groups(), 2);
    assert_eq!((opt.group_lr(0), opt.group_lr(1)), (0.1, 0.01));
    assert_eq!(opt.lr(), 0.1);

    // A zero gradient isolates weight decay: w decays by lr * wd, b does not move.
    w.set_grad(Some(Tensor::zeros(&[2])));
    b.set_grad(Some(Tensor::zeros(&[1])));
    opt.step().unwrap();
    assert_eq!(
        w.value().to_vec(),
        vec![1.0 - 0.1 * 0.01, -(1.0 - 0.1 * 0.01)]
    );
    assert_eq!(b.value().to_vec(), vec![1.0]);

    let hp = opt.group_hyperparams(1);
    assert!(hp.contains(&("weight_decay", 0.0)) && hp.contains(&("decoupled_weight_decay", 1.0)));
    opt.set_group_hyperparam(1, "weight_decay", 0.5).unwrap();
    assert_eq!(opt.config(1).weight_decay, 0.5);
    let e = opt.set_group_hyperparam(1, "betas[0]", 1.5).unwrap_err();
    assert!(e.to_string().contains("betas[0]"), "{e}");
    assert_eq!(
        opt.config(1).betas.0,
        0.9,
        "a rejected change must not stick"
    );
    assert!(opt.set_group_hyperparam(0, "nope", 1.0).is_err());
    // Switching a group to plain Adam would make the optimizer two kinds at once.
    assert!(opt
        .set_group_hyperparam(1, "decoupled_weight_decay", 0.0)
        .is_err());

    opt.set_lr(0.5);
    assert_eq!((opt.group_lr(0), opt.group_lr(1)), (0.5, 0.5));

    let extra = Var::parameter(Tensor::from_vec(vec![0.0f64], &[1]));
    opt.add_param_group(ParamGroup::new(vec![extra], AdamConfig::adamw()))
        .unwrap();
    assert_eq!(opt.num_param_groups(), 3);
    assert!(opt
        .add_param_group(ParamGroup::new(vec![], AdamConfig::default()))
        .is_err());
}

#[test]
fn parameters_without_a_gradient_are_skipped() {
    let a = Var::parameter(Tensor::from_vec(vec![1.0f64], &[1]));
    let b = Var::parameter(Tensor::from_vec(vec![1.0f64], &[1]));
    let mut opt = Adam::new(vec![a.clone(), b.clone()], AdamConfig::default()).unwrap();
    a.set_grad(Some(Tensor::from_vec(vec![1.0], &[1])));
    opt.step().unwrap();
    opt.step().unwrap();
    assert_eq!(b.value().to_vec(), vec![1.0]);
    assert_eq!(opt.param_state(0, 0).step(), 2);
    assert_eq!(opt.param_state(0, 1).step(), 0);
    opt.zero_grad();
    assert!(a.grad().is_none());
    let before = a.value().to_vec();
    opt.step().unwrap();
    assert_eq!(a.value().to_vec(), before);
}

#[test]
fn bad_construction_and_bad_gradients_are_errors() {
    let p = Var::parameter(Tensor::from_vec(vec![1.0f32, 2.0], &[2]));
    match Adam::new(vec![p.clone()], AdamConfig::default().betas((0.9, 1.0))) {
        Err(OptimError::InvalidParam { owner, param, .. }) => {
            assert_eq!((owner, param), ("Adam", "betas[1]"))
        }
        other => panic!("expected an InvalidParam error, got {other:?}"),
    }
    let e = Sgd::new(vec![p.clone()], SgdConfig::default().lr(-1.0)).unwrap_err();
    assert!(e.to_string().starts_with("SGD: invalid lr = -1"), "{e}");
    let e = Sgd::<f32>::new(vec![], SgdConfig::default()).unwrap_err();
    assert_eq!(e.to_string(), "SGD: got an empty parameter list");
    let computed = &p * &p;
    let e = Sgd::new(vec![computed], SgdConfig::default()).unwrap_err();
    assert!(e.to_string().contains("not a leaf"), "{e}");

    // A gradient of the wrong shape: an error naming the parameter, and no parameter moves.
    let q = Var::parameter(Tensor::from_vec(vec![3.0f32], &[1])).with_name("bias");
    let mut opt = Sgd::new(vec![p.clone(), q.clone()], SgdConfig::default().lr(0.1)).unwrap();
    p.set_grad(Some(Tensor::from_vec(vec![1.0, 1.0], &[2])));
    q.set_grad(Some(Tensor::from_vec(vec![1.0, 1.0], &[2])));
    let e = opt.step().unwrap_err();
    assert!(
        e.to_string().contains("'bias'") && e.to_string().contains("[2]"),
        "{e}"
    );
    assert_eq!(p.value().to_vec(), vec![1.0, 2.0]);
}

#[test]
fn a_nan_gradient_propagates_and_can_be_detected_first() {
    let p = Var::parameter(Tensor::from_vec(vec![1.0f32, 2.0], &[2]));
    let mut opt = Adam::new(vec![p.clone()], AdamConfig::default()).unwrap();
    p.set_grad(Some(Tensor::from_vec(vec![f32::NAN, 1.0], &[2])));
    assert!(!opt.grads_are_finite());
    assert!(!graft_optim::grads_are_finite(std::slice::from_ref(&p)));
    opt.step().unwrap();
    let v = p.value().to_vec();
    assert!(v[0].is_nan() && v[1].is_finite());
    // The moment stays NaN: later finite gradients do not heal the element.
    p.set_grad(Some(Tensor::from_vec(vec![1.0, 1.0], &[2])));
    assert!(opt.grads_are_finite());
    opt.step().unwrap();
    assert!(p.value().to_vec()[0].is_nan());
    assert!(opt.param_state(0, 0).exp_avg[0].is_nan());
}

#[test]
fn loading_a_mismatched_state_is_an_error_and_changes_nothing() {
    let p = Var::parameter(Tensor::from_vec(vec![1.0f64, 2.0], &[2]));
    let mut adam = Adam::new(vec![p.clone()], AdamConfig::default().lr(0.1)).unwrap();
    p.set_grad(Some(Tensor::from_vec(vec![1.0, 1.0], &[2])));
    adam.step().unwrap();
    let good = adam.state_dict();
    let before = adam.state_dict();

    let sgd = Sgd::new(vec![p.clone()], SgdConfig::default()).unwrap();
    let e = adam.load_state_dict(&sgd.state_dict()).unwrap_err();
    assert!(e.to_string().contains("saved by SGD"), "{e}");
    let adamw = AdamW::new(vec![p.clone()], AdamConfig::adamw()).unwrap();
    assert!(adam.load_state_dict(&adamw.state_dict()).is_err());

    let mut wrong_shape = good.clone();
    wrong_shape.groups[0].params[0].shape = vec![1, 2];
    assert!(adam.load_state_dict(&wrong_shape).is_err());
    let mut short_buffer = good.clone();
    short_buffer.groups[0].params[0].buffers[0].1.pop();
    let e = adam.load_state_dict(&short_buffer).unwrap_err();
    assert!(e.to_string().contains("exp_avg"), "{e}");
    let mut missing = good.clone();
    missing.groups[0].params[0].buffers.remove(1);
    let e = adam.load_state_dict(&missing).unwrap_err();
    assert!(e.to_string().contains("exp_avg_sq"), "{e}");
    let mut unknown = good.clone();
    unknown.groups[0].hyperparams.push(("momentum".into(), 0.9));
    assert!(adam.load_state_dict(&unknown).is_err());
    let mut bad_value = good.clone();
    bad_value.groups[0].hyperparams[0].1 = -1.0;
    assert!(adam.load_state_dict(&bad_value).is_err());
    let mut half_valid = good.clone();
    half_valid.groups[0].hyperparams[0].1 = 0.5; // fine, but the next entry is not
    half_valid.groups[0].params[0].buffers[1].1.push(0.0);
    assert!(adam.load_state_dict(&half_valid).is_err());
    let mut two_groups = good.clone();
    two_groups.groups.push(good.groups[0].clone());
    assert!(adam.load_state_dict(&two_groups).is_err());

    assert_eq!(
        adam.state_dict(),
        before,
        "a failed load must change nothing"
    );
    adam.load_state_dict(&good).unwrap();
}
