//! The safetensors codec: element types to and from safetensors dtypes, tensors to bytes,
//! and parsing with byte offsets in every error.

use std::collections::{HashMap, HashSet};

use graft_tensor::{Float, Tensor};
use safetensors::tensor::Metadata;
use safetensors::{Dtype, SafeTensors, View};

use super::check::is_int64_buffer;
use super::error::StateDictError;

/// Size of the little-endian header-length field that starts a safetensors file.
const LEN_FIELD: usize = 8;

pub(super) fn st_dtype<T: Float>() -> Option<Dtype> {
    match T::DTYPE {
        "float32" => Some(Dtype::F32),
        "float64" => Some(Dtype::F64),
        _ => None,
    }
}

pub(super) fn unsupported_dtype<T: Float>() -> StateDictError {
    StateDictError::Unsupported {
        message: format!("element type {} has no safetensors dtype", T::DTYPE),
    }
}

/// PyTorch's name for a safetensors dtype (`F32` -> `float32`).
pub(super) fn dtype_name(d: Dtype) -> String {
    match d {
        Dtype::BOOL => "bool".into(),
        Dtype::U8 => "uint8".into(),
        Dtype::I8 => "int8".into(),
        Dtype::I16 => "int16".into(),
        Dtype::U16 => "uint16".into(),
        Dtype::F16 => "float16".into(),
        Dtype::BF16 => "bfloat16".into(),
        Dtype::I32 => "int32".into(),
        Dtype::U32 => "uint32".into(),
        Dtype::F32 => "float32".into(),
        Dtype::F64 => "float64".into(),
        Dtype::I64 => "int64".into(),
        Dtype::U64 => "uint64".into(),
        other => format!("{other} (safetensors dtype)"),
    }
}

/// Little-endian bytes of a file entry as `T`; `None` for a dtype it cannot read exactly.
pub(super) fn decode<T: Float>(dtype: Dtype, data: &[u8]) -> Option<Vec<T>> {
    fn read<const N: usize, T>(data: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        data.chunks_exact(N)
            .map(|c| f(c.try_into().expect("chunks_exact yields N bytes")))
            .collect()
    }
    match dtype {
        Dtype::F32 => Some(read(data, |b| T::from_f64(f32::from_le_bytes(b) as f64))),
        Dtype::F64 => Some(read(data, |b| T::from_f64(f64::from_le_bytes(b)))),
        Dtype::I64 => Some(read(data, |b| T::from_f64(i64::from_le_bytes(b) as f64))),
        _ => None,
    }
}

/// A tensor ready for safetensors' serializer.
struct Encoded {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Encoded {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        (&self.data).into()
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn encode<T: Float>(name: &str, t: &Tensor<T>) -> Result<Encoded, StateDictError> {
    let values = t.to_vec();
    let (dtype, data) = if is_int64_buffer(name) {
        (
            Dtype::I64,
            values
                .iter()
                .flat_map(|v| (v.to_f64() as i64).to_le_bytes())
                .collect(),
        )
    } else {
        match st_dtype::<T>().ok_or_else(|| unsupported_dtype::<T>())? {
            Dtype::F32 => (
                Dtype::F32,
                values
                    .iter()
                    .flat_map(|v| (v.to_f64() as f32).to_le_bytes())
                    .collect(),
            ),
            _ => (
                Dtype::F64,
                values
                    .iter()
                    .flat_map(|v| v.to_f64().to_le_bytes())
                    .collect(),
            ),
        }
    };
    Ok(Encoded {
        dtype,
        shape: t.shape().to_vec(),
        data,
    })
}

pub(super) fn serialize_tensors<T: Float>(
    tensors: &[(String, Tensor<T>)],
) -> Result<Vec<u8>, StateDictError> {
    let mut seen = HashSet::with_capacity(tensors.len());
    let dups: Vec<&str> = tensors
        .iter()
        .filter(|(n, _)| !seen.insert(n.as_str()))
        .map(|(n, _)| n.as_str())
        .collect();
    if !dups.is_empty() {
        return Err(StateDictError::Unsupported {
            message: format!("entries named more than once: {}", dups.join(", ")),
        });
    }
    let encoded: Vec<(&str, Encoded)> = tensors
        .iter()
        .map(|(n, t)| Ok((n.as_str(), encode(n, t)?)))
        .collect::<Result<_, StateDictError>>()?;
    let metadata = Some(HashMap::from([("format".to_string(), "pt".to_string())]));
    safetensors::serialize(encoded.iter().map(|(n, e)| (*n, e)), metadata).map_err(|e| {
        StateDictError::Unsupported {
            message: e.to_string(),
        }
    })
}

// ---------------------------------------------------------------------------------------
// Parsing, with byte offsets in errors
// ---------------------------------------------------------------------------------------

/// Parses safetensors bytes, checking the framing first so that every error can name the
/// byte where things went wrong and no arithmetic on hostile numbers can overflow.
pub(super) fn parse<'a>(bytes: &'a [u8], source: &str) -> Result<SafeTensors<'a>, StateDictError> {
    let len = bytes.len();
    let Some(len_field) = bytes.get(..LEN_FIELD) else {
        return Err(StateDictError::corrupt(
            source,
            Some(len as u64),
            format!(
                "file is {len} bytes long, too short for the 8-byte header length (truncated?)"
            ),
        ));
    };
    let n = u64::from_le_bytes(len_field.try_into().expect("8 bytes"));
    let available = (len - LEN_FIELD) as u64;
    if n > available {
        return Err(StateDictError::corrupt(
            source,
            Some(0),
            format!("header length field says the JSON header is {n} bytes, but only {available} bytes follow (truncated?)"),
        ));
    }
    let header_end = LEN_FIELD + n as usize;
    let header = &bytes[LEN_FIELD..header_end];
    let text = std::str::from_utf8(header).map_err(|e| {
        StateDictError::corrupt(
            source,
            Some((LEN_FIELD + e.valid_up_to()) as u64),
            "JSON header is not valid UTF-8",
        )
    })?;
    let metadata: Metadata = serde_json::from_str(text).map_err(|e| {
        let offset = LEN_FIELD + json_offset(text, e.line(), e.column());
        StateDictError::corrupt(
            source,
            Some(offset as u64),
            format!("invalid JSON header: {e}"),
        )
    })?;
    let data_len = metadata.data_len();
    let expected_end = header_end.checked_add(data_len);
    if expected_end != Some(len) {
        let message = match expected_end {
            Some(end) if end > len => format!(
                "header describes {data_len} bytes of tensor data, ending at byte {end}, but the file ends at byte {len} (truncated?)"
            ),
            Some(end) => format!("{} unexpected bytes after the tensor data, which ends at byte {end}", len - end),
            None => format!("header describes {data_len} bytes of tensor data, more than a file can hold"),
        };
        return Err(StateDictError::corrupt(
            source,
            Some(expected_end.unwrap_or(len).min(len) as u64),
            message,
        ));
    }
    for (name, info) in metadata.tensors() {
        let mut numel: usize = 1;
        for &d in info.shape.iter().filter(|&&d| d != 0) {
            numel = numel.checked_mul(d).ok_or_else(|| {
                StateDictError::corrupt(
                    source,
                    None,
                    format!("shape {:?} of {name} is too large", info.shape),
                )
            })?;
        }
    }
    SafeTensors::deserialize(bytes)
        .map_err(|e| StateDictError::corrupt(source, None, e.to_string()))
}

/// Byte offset in `text` of serde_json's 1-based (line, column), clamped to the text.
fn json_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (line_start + column.saturating_sub(1)).min(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_offsets() {
        assert_eq!(json_offset("abc", 1, 2), 1);
        assert_eq!(json_offset("ab\ncd", 2, 1), 3);
        assert_eq!(json_offset("ab", 5, 9), 2);
    }
}
