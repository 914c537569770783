//! The one error type of the tensor crate.

use std::fmt;

/// An error from a tensor op: which op failed and why, naming the shapes involved.
///
/// Its `Display` reads like `matmul: [2, 3] x [4, 5]: inner dimensions 3 and 4 differ`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorError {
    /// The op that failed, as the user called it (`matmul`, `reshape`, ...).
    pub op: String,
    /// What was wrong, with the shapes or indices involved.
    pub message: String,
}

impl TensorError {
    /// Builds an error for `op` with `message`.
    pub fn new(op: impl Into<String>, message: impl Into<String>) -> Self {
        TensorError {
            op: op.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for TensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.op, self.message)
    }
}

impl std::error::Error for TensorError {}

/// Shorthand for results of tensor ops.
pub type Result<T, E = TensorError> = std::result::Result<T, E>;

/// Formats a shape as `[2, 3]`.
pub(crate) fn fmt_shape(shape: &[usize]) -> String {
    format!("{shape:?}")
}

/// Unwraps a result, panicking with the error's message: the plain (non-`try_`) form of an op.
#[track_caller]
pub(crate) fn or_panic<T>(r: Result<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

/// Declares the panicking form of `try_*` methods: `plain!(fn name => try_name(a: A) -> R)`.
macro_rules! plain {
    ($($(#[$meta:meta])* fn $name:ident $(<$($g:ident: $b:path),*>)? => $try:ident ($($arg:ident : $ty:ty),*) -> $ret:ty;)*) => {$(
        $(#[$meta])*
        ///
        /// Panics with the same message that the `try_` form returns as an error.
        #[track_caller]
        pub fn $name $(<$($g: $b),*>)? (&self, $($arg: $ty),*) -> $ret {
            crate::error::or_panic(self.$try($($arg),*))
        }
    )*};
}
pub(crate) use plain;
