//! Every error path: the `try_` form returns an error whose message names the op and every
//! shape involved, and the plain form panics with exactly the same message.

use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};

use graft_tensor::{Result, Tensor, TensorError, Window2d};

/// The message of the panic raised by `f` (which must panic).
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the plain form must panic");
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else {
        panic!("panic payload is not a string")
    }
}

/// Asserts that `r` failed with exactly `want`, which starts with the error's op.
fn fails<R: Debug>(r: Result<R>, op: &str, want: &str) -> TensorError {
    let e = r.expect_err(want);
    assert_eq!(e.op, op, "op of {want:?}");
    assert_eq!(e.to_string(), want);
    assert!(want.starts_with(&format!("{op}: ")));
    e
}

/// `check!(op, try_expr, plain_expr, "op: message")`: the try form fails with the message and
/// the plain form panics with the same one.
macro_rules! check {
    ($op:expr, $try:expr, $plain:expr, $want:expr $(,)?) => {{
        let e = fails($try, $op, $want);
        let msg = panic_message(|| {
            let _ = $plain;
        });
        assert_eq!(
            msg,
            e.to_string(),
            "the plain form panics with the try form's message"
        );
    }};
}

fn a() -> Tensor<f32> {
    Tensor::zeros(&[2, 3])
}

fn b() -> Tensor<f32> {
    Tensor::zeros(&[4, 5])
}

fn idx(v: Vec<i64>, shape: &[usize]) -> Tensor<i64> {
    Tensor::from_vec(v, shape)
}

#[test]
fn construction_and_access() {
    check!(
        "from_vec",
        Tensor::<f32>::try_from_vec(vec![1.0; 5], &[2, 3]),
        Tensor::<f32>::from_vec(vec![1.0; 5], &[2, 3]),
        "from_vec: 5 elements do not fill shape [2, 3] (6 elements)"
    );
    check!(
        "from_slice",
        Tensor::<f64>::try_from_slice(&[1.0; 7], &[2, 3]),
        Tensor::<f64>::from_slice(&[1.0; 7], &[2, 3]),
        "from_slice: 7 elements do not fill shape [2, 3] (6 elements)"
    );
    check!(
        "size",
        a().try_dim_size(2),
        a().dim_size(2),
        "size: dim 2 is out of range for shape [2, 3] (2 dims)"
    );
    check!(
        "size",
        a().try_dim_size(-3),
        a().dim_size(-3),
        "size: dim -3 is out of range for shape [2, 3] (2 dims)"
    );
    check!(
        "item",
        a().try_item(),
        a().item(),
        "item: tensor of shape [2, 3] has 6 elements, not 1"
    );
    check!(
        "item",
        Tensor::<f32>::zeros(&[0]).try_item(),
        Tensor::<f32>::zeros(&[0]).item(),
        "item: tensor of shape [0] has 0 elements, not 1"
    );
    check!(
        "get",
        a().try_get(&[2, 0]),
        a().get(&[2, 0]),
        "get: index [2, 0] is out of bounds for shape [2, 3]"
    );
    check!(
        "get",
        a().try_get(&[0]),
        a().get(&[0]),
        "get: index [0] is out of bounds for shape [2, 3]"
    );
    check!(
        "arange",
        Tensor::<f32>::try_arange(0.0, 1.0, 0.0),
        Tensor::<f32>::arange(0.0, 1.0, 0.0),
        "arange: invalid range 0..1 step 0"
    );
    check!(
        "arange",
        Tensor::<f64>::try_arange(0.0, f64::INFINITY, 1.0),
        Tensor::<f64>::arange(0.0, f64::INFINITY, 1.0),
        "arange: invalid range 0..inf step 1"
    );
}

#[test]
fn views() {
    check!(
        "view",
        a().try_view(&[4]),
        a().view(&[4]),
        "view: shape [2, 3] (6 elements) cannot become [4] (4 elements)"
    );
    check!(
        "view",
        a().t().try_view(&[6]),
        a().t().view(&[6]),
        "view: shape [3, 2] with strides [1, 3] cannot be viewed as [6] without a copy; use reshape"
    );
    check!(
        "reshape",
        a().try_reshape(&[7]),
        a().reshape(&[7]),
        "reshape: shape [2, 3] (6 elements) cannot become [7] (7 elements)"
    );
    check!(
        "reshape",
        a().t().try_reshape(&[0]),
        a().t().reshape(&[0]),
        "reshape: shape [3, 2] (6 elements) cannot become [0] (0 elements)"
    );
    check!(
        "flatten",
        a().try_flatten(0, 5),
        a().flatten(0, 5),
        "flatten: dim 5 is out of range for shape [2, 3] (2 dims)"
    );
    check!(
        "flatten",
        a().try_flatten(1, 0),
        a().flatten(1, 0),
        "flatten: start dim 1 comes after end dim 0 for shape [2, 3]"
    );
    check!(
        "permute",
        a().try_permute(&[0]),
        a().permute(&[0]),
        "permute: dims [0] are not a permutation of the 2 dims of shape [2, 3]"
    );
    check!(
        "permute",
        a().try_permute(&[1, -1]),
        a().permute(&[1, -1]),
        "permute: dims [1, -1] are not a permutation of the 2 dims of shape [2, 3]"
    );
    check!(
        "permute",
        a().try_permute(&[0, 2]),
        a().permute(&[0, 2]),
        "permute: dims [0, 2] are not a permutation of the 2 dims of shape [2, 3]"
    );
    check!(
        "transpose",
        a().try_transpose(0, 2),
        a().transpose(0, 2),
        "transpose: dim 2 is out of range for shape [2, 3] (2 dims)"
    );
    let c = Tensor::<f32>::zeros(&[1, 2, 3]);
    check!(
        "t",
        c.try_t(),
        c.t(),
        "t: expects a tensor of at most 2 dims, got shape [1, 2, 3]"
    );
    check!(
        "narrow",
        a().try_narrow(3, 0, 1),
        a().narrow(3, 0, 1),
        "narrow: dim 3 is out of range for shape [2, 3] (2 dims)"
    );
    check!(
        "narrow",
        a().try_narrow(1, 2, 2),
        a().narrow(1, 2, 2),
        "narrow: start 2 + length 2 exceeds size 3 of dim 1 in shape [2, 3]"
    );
    check!(
        "narrow",
        a().try_narrow(-1, usize::MAX, 2),
        a().narrow(-1, usize::MAX, 2),
        &format!(
            "narrow: start {} + length 2 exceeds size 3 of dim -1 in shape [2, 3]",
            usize::MAX
        )
    );
    check!(
        "narrow",
        a().try_narrow(0, 1, usize::MAX),
        a().narrow(0, 1, usize::MAX),
        &format!(
            "narrow: start 1 + length {} exceeds size 2 of dim 0 in shape [2, 3]",
            usize::MAX
        )
    );
    check!(
        "slice",
        a().try_slice(-3, 0, 1, 1),
        a().slice(-3, 0, 1, 1),
        "slice: dim -3 is out of range for shape [2, 3] (2 dims)"
    );
    check!(
        "slice",
        a().try_slice(0, 0, 1, 0),
        a().slice(0, 0, 1, 0),
        "slice: step must be positive (shape [2, 3])"
    );
    check!(
        "select",
        a().try_select(0, 2),
        a().select(0, 2),
        "select: index 2 is out of range for dim 0 of shape [2, 3]"
    );
    check!(
        "select",
        a().try_select(2, 0),
        a().select(2, 0),
        "select: dim 2 is out of range for shape [2, 3] (2 dims)"
    );
    let s = Tensor::scalar(1.0f32);
    check!(
        "select",
        s.try_select(0, 0),
        s.select(0, 0),
        "select: dim 0 is out of range for shape [] (0 dims)"
    );
    check!(
        "squeeze",
        a().try_squeeze_dim(2),
        a().squeeze_dim(2),
        "squeeze: dim 2 is out of range for shape [2, 3] (2 dims)"
    );
    check!(
        "unsqueeze",
        a().try_unsqueeze(4),
        a().unsqueeze(4),
        "unsqueeze: dim 4 is out of range for shape [2, 3]"
    );
    check!(
        "unsqueeze",
        a().try_unsqueeze(-4),
        a().unsqueeze(-4),
        "unsqueeze: dim -4 is out of range for shape [2, 3]"
    );
    check!(
        "broadcast_to",
        a().try_broadcast_to(&[3, 3]),
        a().broadcast_to(&[3, 3]),
        "broadcast_to: shape [2, 3] cannot be broadcast to [3, 3]"
    );
    check!(
        "broadcast_to",
        a().try_broadcast_to(&[3]),
        a().expand(&[3]),
        "broadcast_to: shape [2, 3] cannot be broadcast to [3]"
    );
    check!(
        "broadcast_to",
        a().try_broadcast_to(&[2, 0]),
        a().broadcast_to(&[2, 0]),
        "broadcast_to: shape [2, 3] cannot be broadcast to [2, 0]"
    );
    check!(
        "flip",
        a().try_flip(-3),
        a().flip(-3),
        "flip: dim -3 is out of range for shape [2, 3] (2 dims)"
    );
}

#[test]
fn elementwise_broadcast_mismatches() {
    let (x, y) = (a(), b());
    let want = |op: &str| format!("{op}: shapes [2, 3] and [4, 5] cannot be broadcast together");
    check!("add", x.try_add(&y), x.add(&y), &want("add"));
    check!("sub", x.try_sub(&y), x.sub(&y), &want("sub"));
    check!("mul", x.try_mul(&y), x.mul(&y), &want("mul"));
    check!("div", x.try_div(&y), x.div(&y), &want("div"));
    check!("pow", x.try_pow(&y), x.pow(&y), &want("pow"));
    check!(
        "maximum",
        x.try_maximum(&y),
        x.maximum(&y),
        &want("maximum")
    );
    check!(
        "minimum",
        x.try_minimum(&y),
        x.minimum(&y),
        &want("minimum")
    );
    // The operators panic with the same message, whichever operands are borrowed.
    check!("add", x.try_add(&y), &x + &y, &want("add"));
    check!("add", x.try_add(&y), x.clone() + y.clone(), &want("add"));
    check!("sub", x.try_sub(&y), &x - y.clone(), &want("sub"));
    check!("mul", x.try_mul(&y), x.clone() * &y, &want("mul"));
    check!("div", x.try_div(&y), &x / &y, &want("div"));
    // A trailing-dim clash after a successful leading broadcast.
    let (p, q) = (
        Tensor::<f64>::zeros(&[5, 1, 3]),
        Tensor::<f64>::zeros(&[4, 2]),
    );
    check!(
        "add",
        p.try_add(&q),
        &p + &q,
        "add: shapes [5, 1, 3] and [4, 2] cannot be broadcast together"
    );
}

#[test]
fn comparisons_and_masks() {
    let (x, y) = (a(), b());
    let want = |op: &str| format!("{op}: shapes [2, 3] and [4, 5] cannot be broadcast together");
    check!("eq", x.try_eq(&y), x.eq(&y), &want("eq"));
    check!("ne", x.try_ne(&y), x.ne(&y), &want("ne"));
    check!("lt", x.try_lt(&y), x.lt(&y), &want("lt"));
    check!("le", x.try_le(&y), x.le(&y), &want("le"));
    check!("gt", x.try_gt(&y), x.gt(&y), &want("gt"));
    check!("ge", x.try_ge(&y), x.ge(&y), &want("ge"));
    let m = Tensor::<bool>::zeros(&[2, 3]);
    check!(
        "where",
        Tensor::try_where_cond(&m, &x, &y),
        Tensor::where_cond(&m, &x, &y),
        "where: shapes [2, 3] and [2, 3] and [4, 5] cannot be broadcast together"
    );
    let m4 = Tensor::<bool>::zeros(&[4]);
    check!(
        "where",
        Tensor::try_where_cond(&m4, &x, &x),
        Tensor::where_cond(&m4, &x, &x),
        "where: shapes [4] and [2, 3] and [2, 3] cannot be broadcast together"
    );
    let big = Tensor::<bool>::zeros(&[4, 2, 3]);
    check!(
        "masked_fill",
        x.try_masked_fill(&big, 1.0),
        x.masked_fill(&big, 1.0),
        "masked_fill: mask of shape [4, 2, 3] does not broadcast to [2, 3]"
    );
    check!(
        "masked_fill",
        x.try_masked_fill(&m4, 1.0),
        x.masked_fill(&m4, 1.0),
        "masked_fill: shapes [2, 3] and [4] cannot be broadcast together"
    );
    // logical_and has no panicking form; its error is checked alone.
    fails(
        Tensor::<bool>::zeros(&[2]).try_logical_and(&Tensor::<bool>::zeros(&[3])),
        "logical_and",
        "logical_and: shapes [2] and [3] cannot be broadcast together",
    );
}

#[test]
fn reductions() {
    let x = a();
    let dim5 = |op: &str| format!("{op}: dim 5 is out of range for shape [2, 3] (2 dims)");
    check!(
        "sum",
        x.try_sum_dims(&[2], false),
        x.sum_dims(&[2], false),
        "sum: dim 2 is out of range for shape [2, 3] (2 dims)"
    );
    check!(
        "sum",
        x.try_sum_dims(&[0, -2], true),
        x.sum_dims(&[0, -2], true),
        "sum: dim -2 appears twice in [0, -2] for shape [2, 3]"
    );
    check!(
        "mean",
        x.try_mean_dims(&[5], false),
        x.mean_dims(&[5], false),
        &dim5("mean")
    );
    check!(
        "max",
        x.try_max_dims(&[5], false),
        x.max_dims(&[5], false),
        &dim5("max")
    );
    check!(
        "min",
        x.try_min_dims(&[5], true),
        x.min_dims(&[5], true),
        &dim5("min")
    );
    check!(
        "argmax",
        x.try_argmax_dim(5, false),
        x.argmax_dim(5, false),
        &dim5("argmax")
    );
    check!(
        "argmin",
        x.try_argmin_dim(5, false),
        x.argmin_dim(5, false),
        &dim5("argmin")
    );
    check!(
        "var",
        x.try_var_dims(&[5], 1, false),
        x.var_dims(&[5], 1, false),
        &dim5("var")
    );
    check!(
        "std",
        x.try_std_dims(&[5], 1, false),
        x.std_dims(&[5], 1, false),
        &dim5("std")
    );
    check!(
        "logsumexp",
        x.try_logsumexp_dims(&[5], false),
        x.logsumexp_dims(&[5], false),
        &dim5("logsumexp")
    );
    check!(
        "max",
        x.try_max_dims(&[1, 1], false),
        x.max_dims(&[1, 1], false),
        "max: dim 1 appears twice in [1, 1] for shape [2, 3]"
    );

    let e = Tensor::<f64>::zeros(&[0, 3]);
    let empty = |op: &str| format!("{op}: cannot reduce an empty tensor of shape [0, 3]");
    check!("max", e.try_max(), e.max(), &empty("max"));
    check!("min", e.try_min(), e.min(), &empty("min"));
    check!("argmax", e.try_argmax(), e.argmax(), &empty("argmax"));
    check!("argmin", e.try_argmin(), e.argmin(), &empty("argmin"));
    let empty_dim = |op: &str| format!("{op}: cannot reduce an empty dim of shape [0, 3] over [0]");
    check!(
        "max",
        e.try_max_dims(&[0], false),
        e.max_dims(&[0], false),
        &empty_dim("max")
    );
    check!(
        "min",
        e.try_min_dims(&[0], true),
        e.min_dims(&[0], true),
        &empty_dim("min")
    );
    check!(
        "argmax",
        e.try_argmax_dim(0, false),
        e.argmax_dim(0, false),
        &empty_dim("argmax")
    );
    check!(
        "argmin",
        e.try_argmin_dim(0, true),
        e.argmin_dim(0, true),
        &empty_dim("argmin")
    );
    // Reducing the non-empty dim of an empty tensor is fine.
    assert_eq!(e.max_dims(&[1], false).shape(), &[0]);
}

#[test]
fn indexing() {
    let x = a();
    check!(
        "index_select",
        x.try_index_select(2, &idx(vec![0], &[1])),
        x.index_select(2, &idx(vec![0], &[1])),
        "index_select: dim 2 is out of range for shape [2, 3] (2 dims)"
    );
    check!(
        "index_select",
        x.try_index_select(0, &idx(vec![0], &[1, 1])),
        x.index_select(0, &idx(vec![0], &[1, 1])),
        "index_select: index must be 1-D, got shape [1, 1] (input shape [2, 3])"
    );
    check!(
        "index_select",
        x.try_index_select(1, &idx(vec![0, 3], &[2])),
        x.index_select(1, &idx(vec![0, 3], &[2])),
        "index_select: index 3 is out of range for dim 1 (size 3) of shape [2, 3]"
    );
    check!(
        "index_select",
        x.try_index_select(-1, &idx(vec![-1], &[1])),
        x.index_select(-1, &idx(vec![-1], &[1])),
        "index_select: index -1 is out of range for dim -1 (size 3) of shape [2, 3]"
    );
    check!(
        "gather",
        x.try_gather(5, &idx(vec![0], &[1, 1])),
        x.gather(5, &idx(vec![0], &[1, 1])),
        "gather: dim 5 is out of range for shape [2, 3] (2 dims)"
    );
    check!(
        "gather",
        x.try_gather(1, &idx(vec![0], &[1])),
        x.gather(1, &idx(vec![0], &[1])),
        "gather: index [1] does not fit input [2, 3] outside dim 1"
    );
    check!(
        "gather",
        x.try_gather(1, &idx(vec![0; 3], &[3, 1])),
        x.gather(1, &idx(vec![0; 3], &[3, 1])),
        "gather: index [3, 1] does not fit input [2, 3] outside dim 1"
    );
    check!(
        "gather",
        x.try_gather(1, &idx(vec![3], &[1, 1])),
        x.gather(1, &idx(vec![3], &[1, 1])),
        "gather: index 3 is out of range for dim 1 (size 3) of shape [2, 3]"
    );
    check!(
        "gather",
        x.try_gather(0, &idx(vec![0, -2], &[1, 2])),
        x.gather(0, &idx(vec![0, -2], &[1, 2])),
        "gather: index -2 is out of range for dim 0 (size 2) of shape [2, 3]"
    );
    let src = Tensor::<f32>::zeros(&[2, 1]);
    check!(
        "scatter_add",
        x.try_scatter_add(1, &idx(vec![0; 4], &[2, 2]), &src),
        x.scatter_add(1, &idx(vec![0; 4], &[2, 2]), &src),
        "scatter_add: index [2, 2] does not fit input [2, 3], src [2, 1] outside dim 1"
    );
    check!(
        "scatter_add",
        x.try_scatter_add(1, &idx(vec![0; 3], &[3, 1]), &Tensor::zeros(&[3, 1])),
        x.scatter_add(1, &idx(vec![0; 3], &[3, 1]), &Tensor::zeros(&[3, 1])),
        "scatter_add: index [3, 1] does not fit input [2, 3], src [3, 1] outside dim 1"
    );
    check!(
        "scatter_add",
        x.try_scatter_add(1, &idx(vec![3], &[1, 1]), &Tensor::zeros(&[1, 1])),
        x.scatter_add(1, &idx(vec![3], &[1, 1]), &Tensor::zeros(&[1, 1])),
        "scatter_add: index 3 is out of range for dim 1 (size 3) of shape [2, 3]"
    );
    check!(
        "scatter_add",
        x.try_scatter_add(2, &idx(vec![0], &[1, 1]), &Tensor::zeros(&[1, 1])),
        x.scatter_add(2, &idx(vec![0], &[1, 1]), &Tensor::zeros(&[1, 1])),
        "scatter_add: dim 2 is out of range for shape [2, 3] (2 dims)"
    );
    check!(
        "index_add",
        x.try_index_add(1, &idx(vec![0, 1], &[2]), &Tensor::zeros(&[2, 3])),
        x.index_add(1, &idx(vec![0, 1], &[2]), &Tensor::zeros(&[2, 3])),
        "index_add: src [2, 3] and index [2] do not match input [2, 3] along dim 1"
    );
    check!(
        "index_add",
        x.try_index_add(1, &idx(vec![0, 1], &[1, 2]), &Tensor::zeros(&[2, 2])),
        x.index_add(1, &idx(vec![0, 1], &[1, 2]), &Tensor::zeros(&[2, 2])),
        "index_add: src [2, 2] and index [1, 2] do not match input [2, 3] along dim 1"
    );
    check!(
        "index_add",
        x.try_index_add(1, &idx(vec![5], &[1]), &Tensor::zeros(&[2, 1])),
        x.index_add(1, &idx(vec![5], &[1]), &Tensor::zeros(&[2, 1])),
        "index_add: index 5 is out of range for dim 1 (size 3) of shape [2, 3]"
    );
    check!(
        "index_add",
        x.try_index_add(3, &idx(vec![0], &[1]), &Tensor::zeros(&[2, 1])),
        x.index_add(3, &idx(vec![0], &[1]), &Tensor::zeros(&[2, 1])),
        "index_add: dim 3 is out of range for shape [2, 3] (2 dims)"
    );
}

#[test]
fn assembly() {
    let (x, y) = (a(), b());
    check!(
        "concat",
        Tensor::<f32>::try_concat(&[], 0),
        Tensor::<f32>::concat(&[], 0),
        "concat: needs at least one tensor"
    );
    check!(
        "concat",
        Tensor::try_concat(&[&x, &y], 0),
        Tensor::concat(&[&x, &y], 0),
        "concat: shapes [2, 3], [4, 5] differ outside dim 0"
    );
    let z = Tensor::<f32>::zeros(&[2, 3, 1]);
    check!(
        "concat",
        Tensor::try_concat(&[&x, &x, &z], 1),
        Tensor::concat(&[&x, &x, &z], 1),
        "concat: shapes [2, 3], [2, 3], [2, 3, 1] differ outside dim 1"
    );
    check!(
        "concat",
        Tensor::try_concat(&[&x, &x], 2),
        Tensor::concat(&[&x, &x], 2),
        "concat: dim 2 is out of range for shape [2, 3] (2 dims)"
    );
    check!(
        "stack",
        Tensor::<f32>::try_stack(&[], 0),
        Tensor::<f32>::stack(&[], 0),
        "stack: needs at least one tensor"
    );
    check!(
        "stack",
        Tensor::try_stack(&[&x, &y], 0),
        Tensor::stack(&[&x, &y], 0),
        "stack: all tensors need the same shape, got [2, 3] and [4, 5]"
    );
    check!(
        "stack",
        Tensor::try_stack(&[&x, &x], 3),
        Tensor::stack(&[&x, &x], 3),
        "stack: dim 3 is out of range for shape [2, 3]"
    );
    check!(
        "pad",
        x.try_pad(&[(1, 1), (1, 1), (1, 1)], 0.0),
        x.pad(&[(1, 1), (1, 1), (1, 1)], 0.0),
        "pad: 3 padded dims given for shape [2, 3]"
    );
}

#[test]
fn matmul() {
    let (x, y) = (a(), b());
    check!(
        "matmul",
        x.try_matmul(&y),
        x.matmul(&y),
        "matmul: [2, 3] x [4, 5]: inner dimensions 3 and 4 differ"
    );
    let (v3, v4) = (Tensor::<f64>::zeros(&[3]), Tensor::<f64>::zeros(&[4]));
    check!(
        "matmul",
        v3.try_matmul(&v4),
        v3.matmul(&v4),
        "matmul: [3] x [4]: inner dimensions 3 and 4 differ"
    );
    let m = Tensor::<f64>::zeros(&[2, 4, 5]);
    check!(
        "matmul",
        v3.try_matmul(&m),
        v3.matmul(&m),
        "matmul: [3] x [2, 4, 5]: inner dimensions 3 and 4 differ"
    );
    check!(
        "matmul",
        m.try_matmul(&v4),
        m.matmul(&v4),
        "matmul: [2, 4, 5] x [4]: inner dimensions 5 and 4 differ"
    );
    let (p, q) = (
        Tensor::<f32>::zeros(&[2, 2, 3]),
        Tensor::<f32>::zeros(&[3, 3, 4]),
    );
    check!(
        "matmul",
        p.try_matmul(&q),
        p.matmul(&q),
        "matmul: [2, 2, 3] x [3, 3, 4]: batch dimensions cannot be broadcast"
    );
    let s = Tensor::<f32>::scalar(1.0);
    check!(
        "matmul",
        s.try_matmul(&x),
        s.matmul(&x),
        "matmul: [] x [2, 3]: both operands need at least 1 dim"
    );
    check!(
        "matmul",
        x.try_matmul(&s),
        x.matmul(&s),
        "matmul: [2, 3] x []: both operands need at least 1 dim"
    );
}

#[test]
fn unfold_and_fold() {
    let x = a();
    let w2 = Window2d::new([2, 2]);
    check!(
        "unfold",
        x.try_unfold(&w2),
        x.unfold(&w2),
        "unfold: expects [N, C, H, W], got [2, 3]"
    );
    let img = Tensor::<f32>::zeros(&[1, 1, 2, 2]);
    let w3 = Window2d::new([3, 3]);
    check!(
        "unfold",
        img.try_unfold(&w3),
        img.unfold(&w3),
        "unfold: window Window2d { kernel: [3, 3], stride: [1, 1], padding: [0, 0], dilation: [1, 1] } does not fit input of shape [1, 1, 2, 2]"
    );
    let dilated = Window2d::new([2, 2]).dilation([2, 1]);
    check!(
        "unfold",
        img.try_unfold(&dilated),
        img.unfold(&dilated),
        "unfold: window Window2d { kernel: [2, 2], stride: [1, 1], padding: [0, 0], dilation: [2, 1] } does not fit input of shape [1, 1, 2, 2]"
    );
    for bad in [Window2d::new([1, 1]).stride([0, 1]), Window2d::new([0, 1])] {
        let e = fails(
            img.try_unfold(&bad),
            "unfold",
            &format!("unfold: window {bad:?} does not fit input of shape [1, 1, 2, 2]"),
        );
        assert_eq!(panic_message(|| drop(img.unfold(&bad))), e.to_string());
    }
    // A padded window fits where the bare one does not.
    assert_eq!(img.unfold(&w3.padding([1, 1])).shape(), &[1, 9, 4]);

    let cols = Tensor::<f32>::zeros(&[1, 4, 5]);
    check!(
        "fold",
        cols.try_fold([3, 3], &w2),
        cols.fold([3, 3], &w2),
        "fold: input of shape [1, 4, 5] does not match output size [3, 3] and window Window2d { kernel: [2, 2], stride: [1, 1], padding: [0, 0], dilation: [1, 1] }"
    );
    let cols = Tensor::<f32>::zeros(&[1, 6, 4]);
    check!(
        "fold",
        cols.try_fold([3, 3], &w2),
        cols.fold([3, 3], &w2),
        "fold: input of shape [1, 6, 4] does not match output size [3, 3] and window Window2d { kernel: [2, 2], stride: [1, 1], padding: [0, 0], dilation: [1, 1] }"
    );
    let cols = Tensor::<f32>::zeros(&[4, 4]);
    check!(
        "fold",
        cols.try_fold([3, 3], &w2),
        cols.fold([3, 3], &w2),
        "fold: input of shape [4, 4] does not match output size [3, 3] and window Window2d { kernel: [2, 2], stride: [1, 1], padding: [0, 0], dilation: [1, 1] }"
    );
    let cols = Tensor::<f32>::zeros(&[1, 9, 1]);
    check!(
        "fold",
        cols.try_fold([2, 2], &w3),
        cols.fold([2, 2], &w3),
        "fold: input of shape [1, 9, 1] does not match output size [2, 2] and window Window2d { kernel: [3, 3], stride: [1, 1], padding: [0, 0], dilation: [1, 1] }"
    );
}

/// Errors are values: `Clone`, `PartialEq`, `std::error::Error`, and Display is `op: message`.
#[test]
fn the_error_type() {
    let e = a().try_matmul(&b()).unwrap_err();
    let boxed: Box<dyn std::error::Error> = Box::new(e.clone());
    assert_eq!(
        boxed.to_string(),
        "matmul: [2, 3] x [4, 5]: inner dimensions 3 and 4 differ"
    );
    assert_eq!(
        e,
        TensorError::shape_mismatch("matmul", "[2, 3] x [4, 5]: inner dimensions 3 and 4 differ")
    );
    assert_eq!(
        e.message,
        "[2, 3] x [4, 5]: inner dimensions 3 and 4 differ"
    );
}

/// Callers can act on an error's kind without parsing its message.
#[test]
fn errors_carry_a_kind_to_match_on() {
    use graft_tensor::ErrorKind;
    let a = Tensor::<f64>::zeros(&[2, 3]);
    assert_eq!(a.try_matmul(&a).unwrap_err().kind, ErrorKind::ShapeMismatch);
    assert_eq!(
        a.try_reshape(&[4]).unwrap_err().kind,
        ErrorKind::ShapeMismatch
    );
    assert_eq!(
        a.try_sum_dims(&[2], false).unwrap_err().kind,
        ErrorKind::DimOutOfRange
    );
    assert_eq!(
        a.try_transpose(0, -3).unwrap_err().kind,
        ErrorKind::DimOutOfRange
    );
    assert_eq!(
        a.try_select(1, 3).unwrap_err().kind,
        ErrorKind::IndexOutOfRange
    );
    let idx = Tensor::from_vec(vec![0i64, 2], &[2]);
    assert_eq!(
        a.try_index_select(0, &idx).unwrap_err().kind,
        ErrorKind::IndexOutOfRange
    );
    assert_eq!(
        a.try_slice(0, 0, 1, 0).unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
}
