//! Elementwise primitives: unary functions, scalar forms, and broadcasting binary ops.
//! The engine sums a broadcast gradient back to each input's shape, so the binary rules
//! here ignore broadcasting.

use graft_tensor::{Float, Tensor, TensorError};

use super::scalar;
use crate::graph::Op;
use crate::var::Var;

type Grads<T> = Vec<Option<Var<T>>>;

/// Declares a one-input primitive: `forward(x)` and `backward(x, out, g)` in Var ops.
macro_rules! unary {
    ($(#[$m:meta])* $ty:ident, $name:literal, |$x:ident| $fwd:expr, |$xv:ident, $out:ident, $g:ident| $bwd:expr) => {
        $(#[$m])*
        pub(crate) struct $ty;
        impl<T: Float> Op<T> for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn forward(&self, inputs: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
                let $x = &inputs[0];
                Ok($fwd)
            }
            #[allow(unused_variables)]
            fn backward(&self, inputs: &[Var<T>], $out: &Var<T>, $g: &Var<T>) -> Grads<T> {
                let $xv = &inputs[0];
                vec![Some($bwd)]
            }
        }
    };
}

unary!(Neg, "neg", |x| x.neg(), |x, out, g| g.neg());
unary!(Exp, "exp", |x| x.exp(), |x, out, g| g * out);
unary!(Log, "log", |x| x.log(), |x, out, g| g / x);
unary!(Sqrt, "sqrt", |x| x.sqrt(), |x, out, g| g / &out
    .mul_scalar(T::from_f64(2.0)));
unary!(Tanh, "tanh", |x| x.tanh(), |x, out, g| g * &(out * out)
    .rsub_scalar(T::ONE));
unary!(Sigmoid, "sigmoid", |x| x.sigmoid(), |x, out, g| g * &(out
    * &out.rsub_scalar(T::ONE)));
unary!(
    /// max(x, 0); its gradient is `g` where x > 0, computed in one pass by [`ReluBackward`].
    Relu, "relu", |x| x.relu(), |x, out, g| Var::apply(ReluBackward, &[x, g])
);

/// `g` where `x > 0`, else 0: relu's gradient as its own op, one fused pass instead of a
/// mask, a cast and a multiply. It is linear in `g` and flat in `x`, so its own gradient
/// is itself (for `g`) and nothing (for `x`).
pub(crate) struct ReluBackward;
impl<T: Float> Op<T> for ReluBackward {
    fn name(&self) -> &'static str {
        "relu_backward"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        x[0].try_zip_map(&x[1], |x, g| if x <= T::ZERO { T::ZERO } else { g })
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, gg: &Var<T>) -> Grads<T> {
        vec![None, Some(Var::apply(ReluBackward, &[&x[0], gg]))]
    }
}
unary!(
    /// The error function; d/dx erf x = 2/√π e^(-x²).
    Erf, "erf", |x| x.erf(), |x, out, g| g * &(x * x).neg().exp().mul_scalar(T::from_f64(std::f64::consts::FRAC_2_SQRT_PI))
);
unary!(
    /// ln(1 + x), accurate for small x (softplus and log-sigmoid need it).
    Log1p, "log1p", |x| x.log1p(), |x, out, g| g / &x.add_scalar(T::ONE)
);
unary!(Sin, "sin", |x| x.sin(), |x, out, g| g * &x.cos());
unary!(Cos, "cos", |x| x.cos(), |x, out, g| (g * &x.sin()).neg());

/// x + c for a scalar c.
pub(crate) struct AddScalar<T>(pub(crate) T);
impl<T: Float> Op<T> for AddScalar<T> {
    fn name(&self) -> &'static str {
        "add_scalar"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        Ok(x[0].add_scalar(self.0))
    }
    fn backward(&self, _: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        vec![Some(g.clone())]
    }
}

/// x · c for a scalar c.
pub(crate) struct MulScalar<T>(pub(crate) T);
impl<T: Float> Op<T> for MulScalar<T> {
    fn name(&self) -> &'static str {
        "mul_scalar"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        Ok(x[0].mul_scalar(self.0))
    }
    fn backward(&self, _: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        vec![Some(g.mul_scalar(self.0))]
    }
}

/// x^p for a scalar exponent p.
pub(crate) struct PowScalar<T>(pub(crate) T);
impl<T: Float> Op<T> for PowScalar<T> {
    fn name(&self) -> &'static str {
        "pow"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        Ok(x[0].pow_scalar(self.0))
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        let p = self.0;
        if p == T::ZERO {
            return vec![Some(g.mul_scalar(T::ZERO))];
        }
        vec![Some(g * &x[0].pow_scalar(p - T::ONE).mul_scalar(p))]
    }
}

/// A two-input primitive whose forward takes its inputs by reference, so that
/// [`Var::try_apply_binary`] runs it without cloning them into a slice.
pub(crate) trait BinaryForward<T: Float>: Op<T> {
    /// The forward of `a` and `b` (what [`Op::forward`] computes from `[a, b]`).
    fn forward2(&self, a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>, TensorError>;
}

/// Declares a two-input broadcasting primitive.
macro_rules! binary {
    ($ty:ident, $name:literal, $method:ident, |$a:ident, $b:ident, $out:ident, $g:ident| $bwd:expr) => {
        pub(crate) struct $ty;
        impl<T: Float> BinaryForward<T> for $ty {
            fn forward2(&self, a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>, TensorError> {
                a.$method(b)
            }
        }
        impl<T: Float> Op<T> for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
                self.forward2(&x[0], &x[1])
            }
            #[allow(unused_variables)]
            fn backward(&self, x: &[Var<T>], $out: &Var<T>, $g: &Var<T>) -> Grads<T> {
                let ($a, $b) = (&x[0], &x[1]);
                let (ga, gb) = $bwd;
                vec![ga, gb]
            }
        }
    };
}

binary!(Add, "add", try_add, |a, b, out, g| (
    a.needs_grad().then(|| g.clone()),
    b.needs_grad().then(|| g.clone())
));
binary!(Sub, "sub", try_sub, |a, b, out, g| (
    a.needs_grad().then(|| g.clone()),
    b.needs_grad().then(|| g.neg())
));
binary!(Mul, "mul", try_mul, |a, b, out, g| (
    a.needs_grad().then(|| g * b),
    b.needs_grad().then(|| g * a)
));
binary!(Div, "div", try_div, |a, b, out, g| (
    a.needs_grad().then(|| g / b),
    b.needs_grad().then(|| (&(g * out) / b).neg())
));

/// `a` where the (constant) mask is true, else `b`.
pub(crate) struct Where(pub(crate) Tensor<bool>);
impl<T: Float> Op<T> for Where {
    fn name(&self) -> &'static str {
        "where"
    }
    fn forward(&self, x: &[Tensor<T>]) -> Result<Tensor<T>, TensorError> {
        Tensor::try_where_cond(&self.0, &x[0], &x[1])
    }
    fn backward(&self, x: &[Var<T>], _: &Var<T>, g: &Var<T>) -> Grads<T> {
        let zero = scalar::<T>(0.0);
        vec![
            x[0].needs_grad()
                .then(|| Var::where_cond(&self.0, g, &zero)),
            x[1].needs_grad()
                .then(|| Var::where_cond(&self.0, &zero, g)),
        ]
    }
}
