//! Operator sugar on Vars: `&a + &b`, `&a * 2.0`, `-&a`, and owned forms.

use std::ops::{Add, Div, Mul, Neg, Sub};

use graft_tensor::Float;

use crate::var::Var;

macro_rules! var_operator {
    ($trait:ident, $method:ident, $var_op:ident, $scalar_op:ident) => {
        impl<T: Float> $trait<&Var<T>> for &Var<T> {
            type Output = Var<T>;
            #[track_caller]
            fn $method(self, rhs: &Var<T>) -> Var<T> {
                Var::$var_op(self, rhs)
            }
        }
        impl<T: Float> $trait<Var<T>> for Var<T> {
            type Output = Var<T>;
            #[track_caller]
            fn $method(self, rhs: Var<T>) -> Var<T> {
                Var::$var_op(&self, &rhs)
            }
        }
        impl<T: Float> $trait<&Var<T>> for Var<T> {
            type Output = Var<T>;
            #[track_caller]
            fn $method(self, rhs: &Var<T>) -> Var<T> {
                Var::$var_op(&self, rhs)
            }
        }
        impl<T: Float> $trait<Var<T>> for &Var<T> {
            type Output = Var<T>;
            #[track_caller]
            fn $method(self, rhs: Var<T>) -> Var<T> {
                Var::$var_op(self, &rhs)
            }
        }
        impl<T: Float> $trait<T> for &Var<T> {
            type Output = Var<T>;
            fn $method(self, rhs: T) -> Var<T> {
                self.$scalar_op(rhs)
            }
        }
        impl<T: Float> $trait<T> for Var<T> {
            type Output = Var<T>;
            fn $method(self, rhs: T) -> Var<T> {
                self.$scalar_op(rhs)
            }
        }
    };
}

var_operator!(Add, add, add, add_scalar);
var_operator!(Sub, sub, sub, sub_scalar);
var_operator!(Mul, mul, mul, mul_scalar);
var_operator!(Div, div, div, div_scalar);

impl<T: Float> Neg for &Var<T> {
    type Output = Var<T>;
    fn neg(self) -> Var<T> {
        Var::neg(self)
    }
}

impl<T: Float> Neg for Var<T> {
    type Output = Var<T>;
    fn neg(self) -> Var<T> {
        Var::neg(&self)
    }
}

macro_rules! scalar_lhs {
    ($($t:ty),*) => {$(
        impl Add<&Var<$t>> for $t {
            type Output = Var<$t>;
            fn add(self, rhs: &Var<$t>) -> Var<$t> { rhs.add_scalar(self) }
        }
        impl Sub<&Var<$t>> for $t {
            type Output = Var<$t>;
            fn sub(self, rhs: &Var<$t>) -> Var<$t> { rhs.rsub_scalar(self) }
        }
        impl Mul<&Var<$t>> for $t {
            type Output = Var<$t>;
            fn mul(self, rhs: &Var<$t>) -> Var<$t> { rhs.mul_scalar(self) }
        }
        impl Div<&Var<$t>> for $t {
            type Output = Var<$t>;
            fn div(self, rhs: &Var<$t>) -> Var<$t> { rhs.rdiv_scalar(self) }
        }
    )*};
}
scalar_lhs!(f32, f64);
