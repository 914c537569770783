//! Max pooling as a recorded gather whose values come from the argmax pass itself.
//!
//! Max pooling's value is a gather of the input at each window's argmax, and its gradient is
//! that gather's adjoint (a scatter-add into zeros), as in PyTorch. The argmax kernel already
//! reads every window's maximum, so it returns the values too and the node recorded is the
//! gather primitive with those values: one pass over the input instead of two (the argmax,
//! then the gather with its index validation), and no gradient rule of its own, so gradients
//! of any order are gather's.

use graft_tensor::{Float, Result, Window2d};

use crate::graph::{check_finite, check_forward_anomalies};
use crate::ops::indexing::Gather;
use crate::var::Var;

impl<T: Float> Var<T> {
    /// Max pooling of `[N, C, H, W]` over `window` (its dilation included; padding acts as
    /// -inf and may be at most half the kernel): `[N, C, oh, ow]`, each the largest element
    /// of its window (the first on ties; a NaN wins). The gradient goes to that element.
    pub fn try_max_pool2d(&self, window: &Window2d) -> Result<Var<T>> {
        let (values, index) = self.value().try_max_pool2d_with_indices(window)?;
        let (n, c, h, w) = (
            self.shape()[0],
            self.shape()[1],
            self.shape()[2],
            self.shape()[3],
        );
        let (oh, ow) = window
            .output_size(h, w)
            .expect("checked by the argmax kernel");
        if check_forward_anomalies() {
            let shapes = [self.shape().to_vec()];
            check_finite(&values, "max_pool2d", "forward", &shapes, self.name())?;
        }
        let flat = self.try_reshape(&[n, c, h * w])?;
        // `values` is exactly `flat.value().gather(2, &index)`: the kernel read each value at
        // the index it returns.
        let op = Gather { dim: 2, index };
        Var::record(values, op, &[&flat]).try_reshape(&[n, c, oh, ow])
    }

    /// [`try_max_pool2d`](Self::try_max_pool2d), panicking on bad shapes.
    #[track_caller]
    pub fn max_pool2d(&self, window: &Window2d) -> Var<T> {
        graft_tensor::or_panic(self.try_max_pool2d(window))
    }
}
