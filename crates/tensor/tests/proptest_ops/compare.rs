//! Comparisons into masks, `where_cond`, `masked_fill` and mask logic, broadcasting.

use graft_tensor::{Float, Tensor};
use proptest::prelude::*;

use super::common::*;

type CmpOp<T> = Box<dyn Fn(&Tensor<T>, &Tensor<T>) -> Tensor<bool>>;
/// (name, op, reference).
type CmpCase<T> = (&'static str, CmpOp<T>, fn(f64, f64) -> bool);

fn comparisons<T: Float>() -> Vec<CmpCase<T>> {
    vec![
        (
            "eq",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a.eq(b)),
            |x, y| x == y,
        ),
        (
            "ne",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a.ne(b)),
            |x, y| x != y,
        ),
        (
            "lt",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a.lt(b)),
            |x, y| x < y,
        ),
        (
            "le",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a.le(b)),
            |x, y| x <= y,
        ),
        (
            "gt",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a.gt(b)),
            |x, y| x > y,
        ),
        (
            "ge",
            Box::new(|a: &Tensor<T>, b: &Tensor<T>| a.try_ge(b).unwrap()),
            |x, y| x >= y,
        ),
    ]
}

type ScalarCmp<T> = Box<dyn Fn(&Tensor<T>, T) -> Tensor<bool>>;
type ScalarCmpCase<T> = (&'static str, ScalarCmp<T>, fn(f64, f64) -> bool);

fn scalar_comparisons<T: Float>() -> Vec<ScalarCmpCase<T>> {
    vec![
        (
            "eq_scalar",
            Box::new(|a: &Tensor<T>, s| a.eq_scalar(s)),
            |x, y| x == y,
        ),
        (
            "ne_scalar",
            Box::new(|a: &Tensor<T>, s| a.ne_scalar(s)),
            |x, y| x != y,
        ),
        (
            "lt_scalar",
            Box::new(|a: &Tensor<T>, s| a.lt_scalar(s)),
            |x, y| x < y,
        ),
        (
            "le_scalar",
            Box::new(|a: &Tensor<T>, s| a.le_scalar(s)),
            |x, y| x <= y,
        ),
        (
            "gt_scalar",
            Box::new(|a: &Tensor<T>, s| a.gt_scalar(s)),
            |x, y| x > y,
        ),
        (
            "ge_scalar",
            Box::new(|a: &Tensor<T>, s| a.ge_scalar(s)),
            |x, y| x >= y,
        ),
    ]
}

fn mask_arr(f: impl Fn(&[usize]) -> bool, shape: &[usize]) -> Arr {
    Arr::from_fn(shape, |i| if f(i) { 1.0 } else { 0.0 })
}

fn check_compare<T: Float>(a: &Arr, pa: &Plan, b: &Arr, pb: &Plan) -> TestResult {
    let (ta, ra) = build::<T>(a, pa);
    let (tb, rb) = build::<T>(b, pb);
    let out = ref_broadcast(&[&a.shape, &b.shape]).unwrap();
    for (name, op, f) in comparisons::<T>() {
        let want = mask_arr(
            |i| {
                f(
                    ra.at(&bcast_index(&ra.shape, i)),
                    rb.at(&bcast_index(&rb.shape, i)),
                )
            },
            &out,
        );
        check_exact(name, &values(&op(&ta, &tb)), &want)?;
    }
    for (name, op, f) in scalar_comparisons::<T>() {
        for s in [0.0, 1.0, -2.5] {
            let want = mask_arr(|i| f(ra.at(i), s), &ra.shape);
            check_exact(name, &values(&op(&ta, T::from_f64(s))), &want)?;
        }
    }
    Ok(())
}

fn check_where<T: Float>(shapes: &[Vec<usize>], plans: &[Plan], vals: &[Arr]) -> TestResult {
    let (tm, rm) = build::<bool>(&vals[0], &plans[0]);
    let (ta, ra) = build::<T>(&vals[1], &plans[1]);
    let (tb, rb) = build::<T>(&vals[2], &plans[2]);
    let out = ref_broadcast(&[&shapes[0], &shapes[1], &shapes[2]]).unwrap();
    let want = Arr::from_fn(&out, |i| {
        if rm.at(&bcast_index(&rm.shape, i)) != 0.0 {
            ra.at(&bcast_index(&ra.shape, i))
        } else {
            rb.at(&bcast_index(&rb.shape, i))
        }
    });
    check_exact("where", &values(&Tensor::where_cond(&tm, &ta, &tb)), &want)?;
    check_exact(
        "try_where",
        &values(&Tensor::try_where_cond(&tm, &ta, &tb).unwrap()),
        &want,
    )?;
    Ok(())
}

fn check_masked_fill<T: Float>(x: &Arr, px: &Plan, m: &Arr, pm: &Plan) -> TestResult {
    let (tx, rx) = build::<T>(x, px);
    let (tm, rm) = build::<bool>(m, pm);
    let want = Arr::from_fn(&rx.shape, |i| {
        if rm.at(&bcast_index(&rm.shape, i)) != 0.0 {
            -7.5
        } else {
            rx.at(i)
        }
    });
    check_exact(
        "masked_fill",
        &values(&tx.masked_fill(&tm, T::from_f64(-7.5))),
        &want,
    )?;
    Ok(())
}

/// Mask values: mostly 0/1, read as bools by `Element::from_f64` (nonzero is true).
fn mask_of(shape: Vec<usize>) -> impl Strategy<Value = (Arr, Plan)> {
    let n = numel(&shape);
    let r = shape.len();
    (
        prop::collection::vec(prop_oneof![Just(0.0), Just(1.0)], n),
        plan(r),
    )
        .prop_map(move |(data, p)| (Arr::new(&shape, data), p))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn comparisons_broadcast(((a, pa), (b, pb)) in broadcast_family(2, 4)
        .prop_flat_map(|(_, s)| (input_of(s[0].clone()), input_of(s[1].clone())))) {
        both!(check_compare(&a, &pa, &b, &pb));
    }

    #[test]
    fn where_broadcasts_three_ways((shapes, (m, pm), (a, pa), (b, pb)) in broadcast_family(3, 4)
        .prop_flat_map(|(_, s)| (Just(s.clone()), mask_of(s[0].clone()), input_of(s[1].clone()), input_of(s[2].clone())))) {
        let plans = [pm, pa, pb];
        let vals = [m, a, b];
        both!(check_where(&shapes, &plans, &vals));
    }

    #[test]
    fn masked_fill_broadcasts_mask(((x, px), (m, pm)) in broadcast_family(1, 4)
        .prop_flat_map(|(out, s)| (input_of(out), mask_of(s[0].clone())))) {
        both!(check_masked_fill(&x, &px, &m, &pm));
    }

    #[test]
    fn mask_logic(((a, pa), (b, pb)) in broadcast_family(2, 3)
        .prop_flat_map(|(_, s)| (mask_of(s[0].clone()), mask_of(s[1].clone())))) {
        let (ta, ra) = build::<bool>(&a, &pa);
        let (tb, rb) = build::<bool>(&b, &pb);
        let out = ref_broadcast(&[&a.shape, &b.shape]).unwrap();
        let want = mask_arr(|i| ra.at(&bcast_index(&ra.shape, i)) != 0.0 && rb.at(&bcast_index(&rb.shape, i)) != 0.0, &out);
        check_exact("logical_and", &values(&ta.try_logical_and(&tb).unwrap()), &want)?;
        check_exact("logical_not", &values(&ta.logical_not()), &mask_arr(|i| ra.at(i) == 0.0, &ra.shape))?;
        prop_assert_eq!(ta.count_true(), ra.data.iter().filter(|&&v| v != 0.0).count());
    }
}
