//! A scheduler's saved state: named lists of numbers, easy to store in any format.

use crate::OptimError;
use std::collections::BTreeMap;

/// The mutable state of a scheduler (epoch counter, base learning rates, plateau
/// counters...), as named lists of `f64`. Hyperparameters are not included: a state is
/// loaded into a scheduler built with the same configuration, as in PyTorch's
/// `load_state_dict` after re-creating the scheduler.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SchedulerState {
    kind: String,
    entries: BTreeMap<String, Vec<f64>>,
}

impl SchedulerState {
    /// An empty state for a scheduler of `kind` (e.g. `"StepLR"`).
    pub fn new(kind: &str) -> Self {
        Self {
            kind: kind.to_string(),
            entries: BTreeMap::new(),
        }
    }

    /// The kind of scheduler that saved this state.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Sets entry `key` and returns the state, for building one in a chain.
    pub fn with(mut self, key: &str, values: Vec<f64>) -> Self {
        self.insert(key, values);
        self
    }

    /// Sets entry `key`.
    pub fn insert(&mut self, key: &str, values: Vec<f64>) {
        self.entries.insert(key.to_string(), values);
    }

    /// Entry `key`, if present.
    pub fn get(&self, key: &str) -> Option<&[f64]> {
        self.entries.get(key).map(Vec::as_slice)
    }

    /// All entries, sorted by key.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &[f64])> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Checks that this state was saved by a scheduler of kind `owner`.
    pub(crate) fn expect_kind(&self, owner: &'static str) -> Result<(), OptimError> {
        if self.kind == owner {
            Ok(())
        } else {
            Err(OptimError::state(
                owner,
                format!("the state was saved by a {} scheduler", self.kind),
            ))
        }
    }

    /// Entry `key`, or an error naming it.
    pub(crate) fn values(&self, owner: &'static str, key: &str) -> Result<&[f64], OptimError> {
        self.get(key)
            .ok_or_else(|| OptimError::state(owner, format!("missing entry `{key}`")))
    }

    /// Entry `key` holding exactly one number.
    pub(crate) fn scalar(&self, owner: &'static str, key: &str) -> Result<f64, OptimError> {
        match self.values(owner, key)? {
            [v] => Ok(*v),
            other => Err(OptimError::state(
                owner,
                format!(
                    "entry `{key}` should hold one number, found {}",
                    other.len()
                ),
            )),
        }
    }

    /// Entry `key` holding one non-negative whole number (a counter).
    pub(crate) fn counter(&self, owner: &'static str, key: &str) -> Result<u64, OptimError> {
        let v = self.scalar(owner, key)?;
        if v >= 0.0 && v.fract() == 0.0 && v <= 2f64.powi(53) {
            Ok(v as u64)
        } else {
            Err(OptimError::state(
                owner,
                format!("entry `{key}` = {v} is not a counter"),
            ))
        }
    }
}
