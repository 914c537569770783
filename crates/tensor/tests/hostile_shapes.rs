//! Hostile shapes and huge allocations: an element count that overflows, a view or reshape
//! to such a shape, or a request for more memory than there is, is an error naming the op and
//! the shape — never a wrapped count (empty storage read through raw pointers), a panic
//! other than the `try_` form's message, or an aborted process.
//!
//! Allocations that the machine might grant are only made in a child process run under
//! `ulimit -v` (the test re-runs its own binary), so they fail the same way everywhere.

use graft_tensor::{Tensor, TensorError};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// The message a panicking call died with.
fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).expect_err("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn assert_names(e: &TensorError, op: &str, shape: &[usize]) {
    assert_eq!(e.op, op, "{e}");
    assert!(e.message.contains(&format!("{shape:?}")), "{e}");
}

#[test]
fn element_counts_that_overflow_are_errors_naming_op_and_shape() {
    let huge = [2, 1 << 63];
    let e = Tensor::<f32>::try_from_vec(vec![], &huge).unwrap_err();
    assert_names(&e, "from_vec", &huge);
    let e = Tensor::<f32>::try_from_slice(&[], &huge).unwrap_err();
    assert_names(&e, "from_slice", &huge);
    let e = Tensor::<f32>::try_zeros(&huge).unwrap_err();
    assert_names(&e, "zeros", &huge);
    let msg = panic_message(|| {
        Tensor::<f32>::zeros(&huge);
    });
    assert_eq!(msg, e.to_string());

    let e = Tensor::<f32>::zeros(&[0])
        .try_reshape(&[1 << 32, 1 << 32])
        .unwrap_err();
    assert_names(&e, "reshape", &[1 << 32, 1 << 32]);
    // Fits in a usize, but not in isize::MAX bytes of f32.
    let e = Tensor::<f32>::try_zeros(&[1 << 31, 1 << 31]).unwrap_err();
    assert_names(&e, "zeros", &[1 << 31, 1 << 31]);
    assert!(e.message.contains("bytes"), "{e}");
}

#[test]
fn huge_broadcast_views_cannot_reach_a_kernel() {
    let s = Tensor::<f32>::scalar(1.0);
    let e = s.try_broadcast_to(&[1 << 40, 1 << 40]).unwrap_err();
    assert_names(&e, "broadcast_to", &[1 << 40, 1 << 40]);
    // Each view is representable; their product is not.
    let a = s.try_reshape(&[1, 1]).unwrap().broadcast_to(&[1 << 32, 1]);
    let b = s.try_reshape(&[1, 1]).unwrap().broadcast_to(&[1, 1 << 32]);
    let e = a.try_add(&b).unwrap_err();
    assert_eq!(e.op, "add", "{e}");
    let e = a.try_matmul(&b).unwrap_err();
    assert_names(&e, "matmul", &[1 << 32, 1 << 32]);
    // Empty tensors may have huge dims; views of them stay empty and never overflow.
    let empty = Tensor::<f64>::zeros(&[0, 1 << 62, 1 << 62]);
    assert_eq!(empty.numel(), 0);
    let v = empty.try_reshape(&[1 << 62, 0, 1 << 62]).unwrap();
    let v = v
        .try_select(0, (1 << 62) - 1)
        .unwrap()
        .try_unsqueeze(1)
        .unwrap();
    assert_eq!(v.to_vec(), Vec::<f64>::new());
    let e = empty.try_flatten(1, 2).unwrap_err();
    assert_eq!(e.op, "flatten", "{e}");
}

#[test]
fn arange_and_linspace_check_their_length() {
    let e = Tensor::<f32>::try_arange(0.0, f32::MAX, f32::MIN_POSITIVE).unwrap_err();
    assert_eq!(e.op, "arange", "{e}");
    let e = Tensor::<f64>::try_linspace(0.0, 1.0, usize::MAX).unwrap_err();
    assert_eq!(e.op, "linspace", "{e}");
    let e = Tensor::<f64>::try_eye(1 << 32).unwrap_err();
    assert_names(&e, "eye", &[1 << 32, 1 << 32]);
}

/// Set in the child process that runs under `ulimit -v`.
const CHILD: &str = "GRAFT_HOSTILE_ALLOC_CHILD";

/// Requests that the allocator refuses under the child's 2 GiB address-space limit.
fn huge_requests() {
    let e = Tensor::<f32>::try_zeros(&[1 << 34]).unwrap_err(); // 64 GiB
    assert_names(&e, "zeros", &[1 << 34]);
    assert!(e.message.contains("68719476736 bytes"), "{e}");
    let e = Tensor::<f32>::try_full(&[1 << 40], 1.0).unwrap_err(); // 4 TiB
    assert!(e.message.contains("bytes"), "{e}");
    let e = Tensor::<f32>::try_arange(0.0, 1e12, 1.0).unwrap_err();
    assert_eq!(e.op, "arange", "{e}");
    let e = Tensor::<f64>::try_from_slice(&[], &[1 << 33]).unwrap_err();
    assert_eq!(e.op, "from_slice", "{e}");
    let mut rng = StdRng::seed_from_u64(0);
    let e = Tensor::<f32>::try_normal(&[1 << 33], 0.0, 1.0, &mut rng).unwrap_err();
    assert_eq!(e.op, "normal", "{e}");
    // A broadcast view is fine; copying it is the allocation that fails.
    let view = Tensor::<f32>::scalar(1.0).broadcast_to(&[1 << 17, 1 << 17]);
    let e = view.try_matmul(&view).unwrap_err();
    assert_eq!(e.op, "matmul", "{e}");
    // So is a reshape that must copy it.
    let rows = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2, 1]).broadcast_to(&[2, 1 << 33]);
    let e = rows.try_reshape(&[1 << 34]).unwrap_err();
    assert_names(&e, "reshape", &[2, 1 << 33]);
    // The panicking forms panic with the same message instead of aborting.
    let msg = panic_message(|| {
        Tensor::<f32>::zeros(&[1 << 34]);
    });
    assert!(msg.contains("out of memory"), "{msg}");
    // After all that, ordinary work still succeeds.
    assert_eq!(Tensor::<f32>::ones(&[1000]).sum().item(), 1000.0);
}

#[test]
fn huge_allocations_fail_cleanly_under_ulimit() {
    if std::env::var_os(CHILD).is_some() {
        huge_requests();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    // The test's full name in this binary: its module path without the crate's name.
    let name = match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::huge_allocations_fail_cleanly_under_ulimit"),
        None => "huge_allocations_fail_cleanly_under_ulimit".to_string(),
    };
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2097152 && exec \"$0\" \"$@\"")
        .arg(exe)
        .args(["--exact", name.as_str(), "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "child under ulimit -v failed ({:?}):\n{text}",
        out.status
    );
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
}

/// Sizes from tiny to enormous, with zeros, so products overflow in many ways.
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0usize..4,
        1 => (20u32..64).prop_map(|p| 1usize << p),
        1 => Just(usize::MAX),
        1 => Just(isize::MAX as usize),
    ]
}

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(dim(), 0..5)
}

/// Whether a shape's size is known to be small enough to allocate here.
fn small(shape: &[usize]) -> bool {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .is_some_and(|n| n <= 1 << 16)
}

/// A successful view must address only its own storage: materialize it when small.
fn check_view(t: &Tensor<f32>) {
    let n = graft_tensor::checked_numel("view", t.shape(), 4).expect("a view's size fits");
    assert_eq!(n, t.numel());
    if small(t.shape()) {
        assert_eq!(t.to_vec().len(), n);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn constructors_never_wrap_or_panic(s in shape()) {
        let fits = graft_tensor::checked_numel("t", &s, 4).is_ok();
        let r = Tensor::<f32>::try_from_vec(vec![], &s);
        // With no data only an empty shape (a zero dim) is filled.
        prop_assert_eq!(r.is_ok(), s.contains(&0));
        if small(&s) || !fits {
            let n = if small(&s) { s.iter().product() } else { 0 };
            let data = vec![1.0f32; n];
            prop_assert_eq!(Tensor::try_from_slice(&data, &s).is_ok(), fits);
            prop_assert_eq!(Tensor::try_from_vec(data, &s).is_ok(), fits);
            prop_assert_eq!(Tensor::<f32>::try_zeros(&s).is_ok(), fits);
            prop_assert_eq!(Tensor::<f32>::try_ones(&s).is_ok(), fits);
            prop_assert_eq!(Tensor::<f32>::try_full(&s, 2.0).is_ok(), fits);
            let mut rng = StdRng::seed_from_u64(1);
            prop_assert_eq!(Tensor::<f32>::try_uniform(&s, 0.0, 1.0, &mut rng).is_ok(), fits);
            prop_assert_eq!(Tensor::<f32>::try_normal(&s, 0.0, 1.0, &mut rng).is_ok(), fits);
        }
        if let Some(&d) = s.first() {
            if d <= 1 << 8 {
                prop_assert!(Tensor::<f32>::try_eye(d).is_ok());
                prop_assert!(Tensor::<f32>::try_linspace(0.0, 1.0, d).is_ok());
            } else if d > 1 << 40 {
                prop_assert!(Tensor::<f32>::try_eye(d).is_err());
                prop_assert!(Tensor::<f32>::try_linspace(0.0, 1.0, d).is_err());
            }
        }
    }

    #[test]
    fn views_and_reshapes_never_wrap_or_panic(
        base in prop::collection::vec(0usize..4, 0..4),
        empty_huge in shape(),
        target in shape(),
        dim in -5isize..5,
        a in dim(),
        b in dim(),
        step in dim(),
    ) {
        let n: usize = base.iter().product();
        let x = Tensor::<f32>::from_vec((0..n).map(|i| i as f32).collect(), &base);
        // An empty tensor with possibly enormous dims (a zero makes any shape valid).
        let mut eh = empty_huge.clone();
        eh.push(0);
        let y = Tensor::<f32>::zeros(&eh);
        for t in [&x, &y] {
            let same = graft_tensor::checked_numel("t", &target, 4) == Ok(t.numel());
            // Both tensors are contiguous, so a view works whenever the sizes agree.
            for r in [t.try_reshape(&target), t.try_view(&target)] {
                prop_assert_eq!(r.is_ok(), same);
                if let Ok(v) = &r {
                    check_view(v);
                }
            }
            let results = [
                t.try_broadcast_to(&target),
                t.try_narrow(dim, a, b),
                t.try_slice(dim, a as isize, b as isize, step),
                t.try_slice(dim, (a as isize).wrapping_neg(), b as isize, step.max(1)),
                t.try_select(dim, a),
                t.try_unsqueeze(dim),
                t.try_squeeze_dim(dim),
                t.try_flatten(dim, -1),
                t.try_flatten(0, dim),
                t.try_transpose(dim, 0),
                t.try_flip(dim),
                t.try_permute(&(0..t.ndim() as isize).rev().collect::<Vec<_>>()),
                t.try_t(),
                Ok(t.squeeze()),
            ];
            for v in results.iter().flatten() {
                check_view(v);
                // Views of views: each again a valid layout. (Flattening a broadcast view
                // copies it, so only small ones: a huge copy is the ulimit test's business.)
                let mut more = vec![v.try_unsqueeze(0), v.try_slice(0, 1, -1, 2), v.try_flip(-1)];
                if small(v.shape()) {
                    more.push(v.try_flatten(0, -1));
                }
                for w in more.iter().flatten() {
                    check_view(w);
                }
            }
        }
    }
}
