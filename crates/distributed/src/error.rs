//! Errors of distributed setup and checkpoints.

use std::fmt;

/// Why a distributed operation failed.
///
/// Communication failures are not here: they abort the whole job (see the crate docs),
/// because a rank that returned an error while the others wait would hang them.
#[derive(Debug)]
pub enum DistError {
    /// MPI could not be started (already finalized, or initialized by someone else).
    Init(String),
    /// The ranks disagree about something they must share (model layout, lengths).
    Mismatch(String),
    /// Bad argument (sampler size, rank out of range, ...).
    Config(String),
    /// A checkpoint file could not be read or written, or is corrupt.
    Checkpoint(String),
}

impl fmt::Display for DistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DistError::Init(m) => write!(f, "distributed init: {m}"),
            DistError::Mismatch(m) => write!(f, "distributed: ranks disagree: {m}"),
            DistError::Config(m) => write!(f, "distributed: {m}"),
            DistError::Checkpoint(m) => write!(f, "checkpoint: {m}"),
        }
    }
}

impl std::error::Error for DistError {}
