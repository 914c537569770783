//! CSV tables to features and targets: a header row, a target column chosen by name,
//! numeric columns as features, string columns as category indices or one-hot, missing
//! values an error or filled by a stated policy, and standardization statistics fitted
//! on a training split only.
//!
//! ```no_run
//! use graft::data::csv_table::{CsvOptions, CsvTable, Standardizer};
//!
//! let table = CsvTable::read("houses.csv".as_ref(), &CsvOptions::new("price"))?;
//! let (train, test) = table.split(0.2, 0);
//! let scaler = Standardizer::fit(&train.inputs, &table.numeric_features);
//! let (train, test) = (scaler.apply_to(&train), scaler.apply_to(&test));
//! # Ok::<(), graft::data::DataError>(())
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use graft_tensor::Tensor;

use super::dataset::{Targets, TensorDataset};
use super::loader::permutation;
use super::DataError;

/// How string (categorical) feature columns become numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Categorical {
    /// One feature: the category's index in the sorted list of its column's values.
    Indices,
    /// One feature per category: 1 for the row's category, 0 for the others.
    OneHot,
}

/// What to do with a missing cell (empty, `NA`, `NaN`, `null`; case-insensitive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Missing {
    /// A missing cell is an error naming its row and column.
    Error,
    /// A missing numeric cell becomes this value; a missing string cell becomes the
    /// category `""`. A missing target is always an error.
    Fill(f32),
}

/// How to read a table.
#[derive(Clone, Debug)]
pub struct CsvOptions {
    /// The target column's name in the header.
    pub target: String,
    /// Encoding of string feature columns.
    pub categorical: Categorical,
    /// Missing-value policy.
    pub missing: Missing,
    /// Field delimiter (default `,`).
    pub delimiter: u8,
    /// Columns to leave out (an id column, say).
    pub ignore: Vec<String>,
}

impl CsvOptions {
    /// Target column `target`; one-hot categories; missing values are errors; commas.
    pub fn new(target: &str) -> Self {
        CsvOptions {
            target: target.to_string(),
            categorical: Categorical::OneHot,
            missing: Missing::Error,
            delimiter: b',',
            ignore: Vec::new(),
        }
    }

    /// Sets the categorical encoding.
    pub fn categorical(mut self, c: Categorical) -> Self {
        self.categorical = c;
        self
    }

    /// Sets the missing-value policy.
    pub fn missing(mut self, m: Missing) -> Self {
        self.missing = m;
        self
    }

    /// Sets the delimiter.
    pub fn delimiter(mut self, d: u8) -> Self {
        self.delimiter = d;
        self
    }

    /// Leaves a column out.
    pub fn ignore(mut self, column: &str) -> Self {
        self.ignore.push(column.to_string());
        self
    }
}

/// A table read into features and targets.
#[derive(Clone, Debug)]
pub struct CsvTable {
    /// Features `[rows, features]`.
    pub features: Tensor<f32>,
    /// Feature names: a numeric column's name, a categorical column's name (indices), or
    /// `column=value` (one-hot).
    pub feature_names: Vec<String>,
    /// The features that came from numeric columns (what to standardize).
    pub numeric_features: Vec<usize>,
    /// Real values `[rows, 1]` for a numeric target, class indices `[rows]` for a string one.
    pub targets: Targets,
    /// For a string target: the class names, sorted; class `k` is `class_names[k]`.
    pub class_names: Option<Vec<String>>,
}

/// True for the cells the reader treats as missing.
fn is_missing(cell: &str) -> bool {
    let c = cell.trim();
    c.is_empty() || ["na", "nan", "null", "n/a"].contains(&c.to_ascii_lowercase().as_str())
}

impl CsvTable {
    /// Reads a CSV file.
    pub fn read(path: &Path, options: &CsvOptions) -> Result<CsvTable, DataError> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| DataError::io(&file, e))?;
        Self::parse(&bytes, &file, options)
    }

    /// Parses CSV bytes; `file` names them in errors.
    pub fn parse(bytes: &[u8], file: &str, options: &CsvOptions) -> Result<CsvTable, DataError> {
        let bad = |reason: String| DataError::invalid(file, reason);
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(options.delimiter)
            .has_headers(true)
            .from_reader(bytes);
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| bad(format!("cannot read the header: {e}")))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let target = header
            .iter()
            .position(|h| *h == options.target)
            .ok_or_else(|| {
                bad(format!(
                    "no target column {:?}; the header has {header:?}",
                    options.target
                ))
            })?;
        let mut rows: Vec<Vec<String>> = Vec::new();
        for (k, record) in reader.records().enumerate() {
            // Row numbers as a spreadsheet shows them: the header is line 1.
            let line = k + 2;
            let record = record.map_err(|e| bad(format!("line {line}: {e}")))?;
            if record.len() != header.len() {
                return Err(bad(format!(
                    "line {line} has {} fields, the header has {}",
                    record.len(),
                    header.len()
                )));
            }
            rows.push(record.iter().map(|c| c.trim().to_string()).collect());
        }
        if rows.is_empty() {
            return Err(bad("the table has a header but no rows".into()));
        }
        let mut columns = Vec::new();
        for (c, name) in header.iter().enumerate() {
            if c == target || options.ignore.contains(name) {
                continue;
            }
            columns.push(encode_column(&rows, c, name, options, file)?);
        }
        let (targets, class_names) = encode_target(&rows, target, &header[target], file)?;
        let n = rows.len();
        let width: usize = columns.iter().map(|c| c.names.len()).sum();
        let mut features = vec![0.0f32; n * width];
        let (mut feature_names, mut numeric_features) = (Vec::new(), Vec::new());
        let mut offset = 0;
        for col in columns {
            let w = col.names.len();
            for (r, chunk) in col.values.chunks(w).enumerate() {
                features[r * width + offset..r * width + offset + w].copy_from_slice(chunk);
            }
            if col.numeric {
                numeric_features.push(offset);
            }
            feature_names.extend(col.names);
            offset += w;
        }
        Ok(CsvTable {
            features: Tensor::from_vec(features, &[n, width]),
            feature_names,
            numeric_features,
            targets,
            class_names,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole table as a dataset.
    pub fn dataset(&self) -> TensorDataset {
        TensorDataset {
            inputs: self.features.clone(),
            targets: self.targets.clone(),
        }
    }

    /// A seeded random split: `(train, test)` with `test_fraction` of the rows in test.
    pub fn split(&self, test_fraction: f64, seed: u64) -> (TensorDataset, TensorDataset) {
        let n = self.len();
        let n_test = ((n as f64) * test_fraction.clamp(0.0, 1.0)).round() as usize;
        let order = permutation(n, seed);
        let pick = |idx: &[usize]| {
            let index = Tensor::from_vec(idx.iter().map(|&i| i as i64).collect(), &[idx.len()]);
            TensorDataset {
                inputs: self.features.index_select(0, &index),
                targets: self.targets.select(&index),
            }
        };
        (pick(&order[n_test..]), pick(&order[..n_test]))
    }
}

/// One source column, encoded: its feature names and row-major values.
struct Encoded {
    names: Vec<String>,
    values: Vec<f32>,
    numeric: bool,
}

/// A column is numeric when every present cell parses as a number; otherwise its cells
/// are categories.
fn encode_column(
    rows: &[Vec<String>],
    c: usize,
    name: &str,
    options: &CsvOptions,
    file: &str,
) -> Result<Encoded, DataError> {
    let missing_at = |r: usize| {
        DataError::invalid(
            file,
            format!(
                "line {}: missing value in column {name:?} (the policy is Missing::Error)",
                r + 2
            ),
        )
    };
    let cells = || rows.iter().map(|row| row[c].as_str());
    let numeric = cells()
        .filter(|s| !is_missing(s))
        .all(|s| s.parse::<f64>().is_ok());
    if numeric {
        let mut values = Vec::with_capacity(rows.len());
        for (r, s) in cells().enumerate() {
            values.push(match (is_missing(s), options.missing) {
                (false, _) => s.parse::<f64>().unwrap_or(f64::NAN) as f32,
                (true, Missing::Fill(v)) => v,
                (true, Missing::Error) => return Err(missing_at(r)),
            });
        }
        return Ok(Encoded {
            names: vec![name.to_string()],
            values,
            numeric: true,
        });
    }
    let mut labels = Vec::with_capacity(rows.len());
    for (r, s) in cells().enumerate() {
        labels.push(match (is_missing(s), options.missing) {
            (false, _) => s,
            (true, Missing::Fill(_)) => "",
            (true, Missing::Error) => return Err(missing_at(r)),
        });
    }
    let categories: Vec<&str> = labels
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let index = |s: &str| categories.binary_search(&s).unwrap_or(0);
    Ok(match options.categorical {
        Categorical::Indices => Encoded {
            names: vec![name.to_string()],
            values: labels.iter().map(|s| index(s) as f32).collect(),
            numeric: false,
        },
        Categorical::OneHot => {
            let k = categories.len();
            let mut values = vec![0.0; rows.len() * k];
            for (r, s) in labels.iter().enumerate() {
                values[r * k + index(s)] = 1.0;
            }
            Encoded {
                names: categories.iter().map(|v| format!("{name}={v}")).collect(),
                values,
                numeric: false,
            }
        }
    })
}

/// A numeric target column to values `[n, 1]`; a string one to sorted class indices.
fn encode_target(
    rows: &[Vec<String>],
    c: usize,
    name: &str,
    file: &str,
) -> Result<(Targets, Option<Vec<String>>), DataError> {
    if let Some(r) = rows.iter().position(|row| is_missing(&row[c])) {
        return Err(DataError::invalid(
            file,
            format!("line {}: missing target in column {name:?}", r + 2),
        ));
    }
    let n = rows.len();
    let parsed: Option<Vec<f32>> = rows.iter().map(|row| row[c].parse::<f32>().ok()).collect();
    if let Some(values) = parsed {
        return Ok((Targets::Values(Tensor::from_vec(values, &[n, 1])), None));
    }
    let names: Vec<String> = rows
        .iter()
        .map(|row| row[c].clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let classes = rows
        .iter()
        .map(|row| names.binary_search(&row[c]).unwrap_or(0) as i64)
        .collect();
    Ok((
        Targets::Classes(Tensor::from_vec(classes, &[n])),
        Some(names),
    ))
}

/// Per-feature standardization `(x - mean) / std`, with statistics fitted on one set (the
/// training split) and applied to any other, so no test statistics leak into training.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    /// Per-feature means (0 for features left as they are).
    pub mean: Vec<f32>,
    /// Per-feature standard deviations (1 for features left as they are, and for
    /// constant features).
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Fits the mean and (population) standard deviation of the listed features of `x`
    /// `[rows, features]`; the others pass through unchanged.
    pub fn fit(x: &Tensor<f32>, features: &[usize]) -> Standardizer {
        let (n, f) = (x.shape()[0], x.shape().get(1).copied().unwrap_or(1));
        let data = x.to_vec();
        let (mut mean, mut std) = (vec![0.0f32; f], vec![1.0f32; f]);
        for &j in features.iter().filter(|&&j| j < f) {
            let col = (0..n).map(|r| data[r * f + j] as f64);
            let m = col.clone().sum::<f64>() / n.max(1) as f64;
            let var = col.map(|v| (v - m) * (v - m)).sum::<f64>() / n.max(1) as f64;
            mean[j] = m as f32;
            std[j] = if var > 0.0 { var.sqrt() as f32 } else { 1.0 };
        }
        Standardizer { mean, std }
    }

    /// Standardizes `x` `[rows, features]`.
    pub fn apply(&self, x: &Tensor<f32>) -> Tensor<f32> {
        let f = self.mean.len();
        let mut data = x.to_vec();
        for row in data.chunks_mut(f.max(1)) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
        Tensor::from_vec(data, x.shape())
    }

    /// The dataset with its inputs standardized.
    pub fn apply_to(&self, d: &TensorDataset) -> TensorDataset {
        TensorDataset {
            inputs: self.apply(&d.inputs),
            targets: d.targets.clone(),
        }
    }
}
