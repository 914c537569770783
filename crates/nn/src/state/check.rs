//! Checking a state dict against a module (names, shapes, dtypes, all problems at once)
//! and assigning the checked values all or nothing.

use std::collections::{HashMap, HashSet};

use graft_autograd::Var;
use graft_tensor::{Float, Tensor};
use safetensors::Dtype;

use super::codec::{dtype_name, st_dtype};
use super::error::{Mismatch, StateDictError};

/// Buffers that PyTorch keeps as `int64` counters (BatchNorm's `num_batches_tracked`).
/// graft holds them as floats; they are saved as `int64` and loaded from `int64` (or from
/// the module's own float dtype), so state dicts match PyTorch's exactly.
const INT64_BUFFERS: &[&str] = &["num_batches_tracked"];

/// A state-dict entry as the checker sees it.
pub(super) struct Entry<'a> {
    pub(super) name: &'a str,
    pub(super) dtype: Dtype,
    pub(super) shape: &'a [usize],
    pub(super) data: &'a [u8],
}

/// Checks every target against the entries; on success, pairs each target index with its
/// entry index. Problems come in module order, then unexpected entries by name, then
/// repeated names.
pub(super) fn check<T: Float>(
    targets: &[(String, Var<T>)],
    entries: &[Entry<'_>],
    source: &str,
    allow_int64_counters: bool,
) -> Result<Vec<(usize, usize)>, StateDictError> {
    let mut mismatches = Vec::new();
    let mut duplicates = Vec::new();
    let mut by_name: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        if by_name.insert(e.name, i).is_some() {
            duplicates.push(Mismatch::Duplicate {
                name: e.name.to_string(),
            });
        }
    }
    let expected_dtype = st_dtype::<T>();
    let mut seen: HashSet<&str> = HashSet::with_capacity(targets.len());
    let mut plan = Vec::with_capacity(targets.len());
    for (t, (name, var)) in targets.iter().enumerate() {
        if !seen.insert(name) {
            duplicates.push(Mismatch::Duplicate { name: name.clone() });
            continue;
        }
        let Some(&e) = by_name.get(name.as_str()) else {
            mismatches.push(Mismatch::Missing {
                name: name.clone(),
                shape: var.shape().to_vec(),
                dtype: T::DTYPE.to_string(),
            });
            continue;
        };
        let entry = &entries[e];
        let mut ok = true;
        if entry.shape != var.shape() {
            mismatches.push(Mismatch::Shape {
                name: name.clone(),
                expected: var.shape().to_vec(),
                found: entry.shape.to_vec(),
            });
            ok = false;
        }
        let dtype_ok = Some(entry.dtype) == expected_dtype
            || (allow_int64_counters && entry.dtype == Dtype::I64 && is_int64_buffer(name));
        if !dtype_ok {
            mismatches.push(Mismatch::Dtype {
                name: name.clone(),
                expected: T::DTYPE.to_string(),
                found: dtype_name(entry.dtype),
            });
            ok = false;
        }
        if ok {
            plan.push((t, e));
        }
    }
    let mut unexpected: Vec<&Entry<'_>> =
        entries.iter().filter(|e| !seen.contains(e.name)).collect();
    unexpected.sort_by_key(|e| e.name);
    mismatches.extend(unexpected.into_iter().map(|e| Mismatch::Unexpected {
        name: e.name.to_string(),
        shape: e.shape.to_vec(),
        dtype: dtype_name(e.dtype),
    }));
    mismatches.extend(duplicates);
    if mismatches.is_empty() {
        Ok(plan)
    } else {
        Err(StateDictError::Mismatch {
            source: source.to_string(),
            mismatches,
        })
    }
}

/// Assigns checked values; if an assignment fails anyway, restores what was assigned.
pub(super) fn assign<T: Float>(
    targets: &[(String, Var<T>)],
    values: Vec<(usize, Tensor<T>)>,
    source: &str,
) -> Result<(), StateDictError> {
    let mut done: Vec<(usize, Tensor<T>)> = Vec::with_capacity(values.len());
    for (t, value) in values {
        let var = &targets[t].1;
        let old = var.value();
        let found = value.shape().to_vec();
        if var.try_set_value(value).is_err() {
            // Not reachable after `check`; kept so that a load stays all-or-nothing regardless.
            for (t, old) in done.into_iter().rev() {
                let _ = targets[t].1.try_set_value(old);
            }
            return Err(StateDictError::Mismatch {
                source: source.to_string(),
                mismatches: vec![Mismatch::Shape {
                    name: targets[t].0.clone(),
                    expected: var.shape().to_vec(),
                    found,
                }],
            });
        }
        done.push((t, old));
    }
    Ok(())
}

pub(super) fn is_int64_buffer(name: &str) -> bool {
    let leaf = name.rsplit('.').next().unwrap_or(name);
    INT64_BUFFERS.contains(&leaf)
}
