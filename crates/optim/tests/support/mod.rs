//! Reading torch keyword arguments out of fixture cases strictly: every key must be
//! understood, so a fixture that sets something these tests would ignore fails instead
//! of passing by accident.

// Each test binary includes this module and uses a different subset of it.
#![allow(dead_code)]

use graft_fixtures::Case;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::BTreeSet;

/// A JSON object of torch keyword arguments, remembering which keys were read.
pub struct Kwargs<'a> {
    case: &'a Case,
    label: String,
    map: &'a Map<String, Value>,
    read: RefCell<BTreeSet<String>>,
}

impl<'a> Kwargs<'a> {
    /// Wraps `value`, which must be an object; `label` names it in failure messages.
    pub fn new(case: &'a Case, label: &str, value: &'a Value) -> Self {
        let map = value
            .as_object()
            .unwrap_or_else(|| case.fail(&format!("has a `{label}` that is not an object")));
        Self {
            case,
            label: label.to_string(),
            map,
            read: RefCell::new(BTreeSet::new()),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.read.borrow_mut().insert(key.to_string());
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn bad(&self, key: &str, what: &str) -> ! {
        self.case.fail(&format!(
            "has {}.{key} that is not {what}: {:?}",
            self.label,
            self.map.get(key)
        ))
    }

    /// A number, if present.
    pub fn f64(&self, key: &str) -> Option<f64> {
        self.get(key)
            .map(|v| v.as_f64().unwrap_or_else(|| self.bad(key, "a number")))
    }

    /// A number, or `default` when absent.
    pub fn f64_or(&self, key: &str, default: f64) -> f64 {
        self.f64(key).unwrap_or(default)
    }

    /// A number that must be present.
    pub fn f64_req(&self, key: &str) -> f64 {
        self.f64(key).unwrap_or_else(|| self.bad(key, "present"))
    }

    /// A whole number, if present (written as `7` or `7.0`).
    pub fn u64(&self, key: &str) -> Option<u64> {
        self.get(key)
            .map(|v| as_count(v).unwrap_or_else(|| self.bad(key, "a whole number")))
    }

    /// A whole number that must be present.
    pub fn u64_req(&self, key: &str) -> u64 {
        self.u64(key).unwrap_or_else(|| self.bad(key, "present"))
    }

    /// A bool, or `default` when absent.
    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        self.get(key)
            .map(|v| v.as_bool().unwrap_or_else(|| self.bad(key, "a bool")))
            .unwrap_or(default)
    }

    /// A string, if present.
    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.get(key)
            .map(|v| v.as_str().unwrap_or_else(|| self.bad(key, "a string")))
    }

    /// A list of numbers, if present.
    pub fn f64_list(&self, key: &str) -> Option<Vec<f64>> {
        self.get(key).map(|v| {
            v.as_array()
                .unwrap_or_else(|| self.bad(key, "a list"))
                .iter()
                .map(|x| {
                    x.as_f64()
                        .unwrap_or_else(|| self.bad(key, "a list of numbers"))
                })
                .collect()
        })
    }

    /// A list of whole numbers, if present.
    pub fn u64_list(&self, key: &str) -> Option<Vec<u64>> {
        self.get(key).map(|v| {
            v.as_array()
                .unwrap_or_else(|| self.bad(key, "a list"))
                .iter()
                .map(|x| as_count(x).unwrap_or_else(|| self.bad(key, "a list of whole numbers")))
                .collect()
        })
    }

    /// Marks keys that do not affect the math (e.g. `foreach`) as understood.
    pub fn ignore(&self, keys: &[&str]) {
        for key in keys {
            self.get(key);
        }
    }

    /// Panics if any key was never read.
    pub fn finish(self) {
        let read = self.read.borrow();
        let unread: Vec<&String> = self.map.keys().filter(|k| !read.contains(*k)).collect();
        if !unread.is_empty() {
            self.case.fail(&format!(
                "has {} keys these tests do not understand: {unread:?}",
                self.label
            ));
        }
    }
}

fn as_count(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|x| *x >= 0.0 && x.fract() == 0.0)
            .map(|x| x as u64)
    })
}
