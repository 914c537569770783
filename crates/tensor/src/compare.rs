//! Comparisons into boolean masks, selection by mask, and mask arithmetic.

use crate::element::Element;
use crate::error::{plain, Result};
use crate::kernels::{map, zip, zip3};
use crate::tensor::Tensor;

macro_rules! comparisons {
    ($($(#[$m:meta])* $name:ident, $try:ident, $scalar:ident => $op:tt;)*) => {
        impl<T: Element> Tensor<T> {
            $(
                $(#[$m])*
                /// Broadcasts; errors naming both shapes when they clash.
                pub fn $try(&self, other: &Tensor<T>) -> Result<Tensor<bool>> {
                    zip(stringify!($name), self, other, |a: T, b: T| a $op b)
                }

                $(#[$m])*
                /// Against a scalar.
                pub fn $scalar(&self, s: T) -> Tensor<bool> {
                    map(self, move |a: T| a $op s)
                }
            )*
            plain! {
                $($(#[$m])* fn $name => $try(other: &Tensor<T>) -> Tensor<bool>;)*
            }
        }
    };
}

comparisons! {
    /// Mask of a == b.
    eq, try_eq, eq_scalar => ==;
    /// Mask of a != b.
    ne, try_ne, ne_scalar => !=;
    /// Mask of a < b.
    lt, try_lt, lt_scalar => <;
    /// Mask of a <= b.
    le, try_le, le_scalar => <=;
    /// Mask of a > b.
    gt, try_gt, gt_scalar => >;
    /// Mask of a >= b.
    ge, try_ge, ge_scalar => >=;
}

impl<T: Element> Tensor<T> {
    /// `a` where `mask` is true, else `b`, broadcasting all three.
    pub fn try_where_cond(mask: &Tensor<bool>, a: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
        zip3("where", mask, a, b, |m, x, y| if m { x } else { y })
    }

    /// `a` where `mask` is true, else `b`; panics if the shapes cannot broadcast.
    #[track_caller]
    pub fn where_cond(mask: &Tensor<bool>, a: &Tensor<T>, b: &Tensor<T>) -> Tensor<T> {
        crate::error::or_panic(Self::try_where_cond(mask, a, b))
    }

    /// `value` where `mask` (broadcast to this shape) is true, else this tensor's element.
    pub fn try_masked_fill(&self, mask: &Tensor<bool>, value: T) -> Result<Tensor<T>> {
        let out = zip(
            "masked_fill",
            self,
            mask,
            move |x, m| if m { value } else { x },
        )?;
        if out.shape() != self.shape() {
            return Err(crate::error::TensorError::shape_mismatch(
                "masked_fill",
                format!(
                    "mask of shape {:?} does not broadcast to {:?}",
                    mask.shape(),
                    self.shape()
                ),
            ));
        }
        Ok(out)
    }

    plain! {
        /// `value` where `mask` is true.
        fn masked_fill => try_masked_fill(mask: &Tensor<bool>, value: T) -> Tensor<T>;
    }
}

impl Tensor<bool> {
    /// Elementwise logical not.
    pub fn logical_not(&self) -> Tensor<bool> {
        map(self, |m: bool| !m)
    }

    /// Elementwise logical and, broadcasting.
    pub fn try_logical_and(&self, other: &Tensor<bool>) -> Result<Tensor<bool>> {
        zip("logical_and", self, other, |a, b| a && b)
    }

    /// Number of true elements.
    pub fn count_true(&self) -> usize {
        self.to_vec().iter().filter(|&&b| b).count()
    }
}
