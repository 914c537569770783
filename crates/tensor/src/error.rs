//! The one error type of the tensor crate.

use std::fmt;

/// What kind of mistake a [`TensorError`] reports, for callers that act on it (`match`)
/// rather than print it.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Shapes that must agree (or broadcast) do not: matmul, binary ops, reshape, concat.
    ShapeMismatch,
    /// A `dim` argument outside `-ndim..ndim`.
    DimOutOfRange,
    /// An index (select, gather, index_select, embedding) outside its dimension.
    IndexOutOfRange,
    /// A value of the wrong element type (a dtype in a file, say).
    DType,
    /// A Var saved for backward was modified in place after the forward pass.
    InPlaceModified,
    /// Anomaly mode found a NaN or infinity.
    Anomaly,
    /// Reading or writing a file failed.
    Io,
    /// Any other invalid argument: a step of 0, an empty list, a bad window.
    InvalidArgument,
}

/// An error from a tensor op: which op failed, what kind of mistake it was, and why,
/// naming the shapes involved.
///
/// Its `Display` reads like `matmul: [2, 3] x [4, 5]: inner dimensions 3 and 4 differ`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorError {
    /// The op that failed, as the user called it (`matmul`, `reshape`, ...).
    pub op: String,
    /// What was wrong, with the shapes or indices involved.
    pub message: String,
    /// The kind of mistake, to match on.
    pub kind: ErrorKind,
}

impl TensorError {
    /// An [`ErrorKind::InvalidArgument`] error for `op` with `message`.
    pub fn new(op: impl Into<String>, message: impl Into<String>) -> Self {
        Self::of_kind(ErrorKind::InvalidArgument, op, message)
    }

    /// An error of `kind` for `op` with `message`.
    pub fn of_kind(kind: ErrorKind, op: impl Into<String>, message: impl Into<String>) -> Self {
        TensorError {
            op: op.into(),
            message: message.into(),
            kind,
        }
    }

    /// An [`ErrorKind::ShapeMismatch`] error.
    pub fn shape_mismatch(op: impl Into<String>, message: impl Into<String>) -> Self {
        Self::of_kind(ErrorKind::ShapeMismatch, op, message)
    }

    /// An [`ErrorKind::DimOutOfRange`] error.
    pub fn dim_out_of_range(op: impl Into<String>, message: impl Into<String>) -> Self {
        Self::of_kind(ErrorKind::DimOutOfRange, op, message)
    }

    /// An [`ErrorKind::IndexOutOfRange`] error.
    pub fn index_out_of_range(op: impl Into<String>, message: impl Into<String>) -> Self {
        Self::of_kind(ErrorKind::IndexOutOfRange, op, message)
    }

    /// The same error under another op name (a composite op reporting its own name).
    pub fn renamed(self, op: impl Into<String>) -> Self {
        TensorError {
            op: op.into(),
            ..self
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

/// Unwraps a result, panicking with the error's message: how every crate of graft makes
/// the plain form `x()` of an op out of its `try_x()` (the one such helper in the workspace).
#[track_caller]
pub fn or_panic<T>(r: Result<T>) -> T {
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
