//! The `.npy` header: magic, version, and the Python-literal dict that gives the element
//! type, the memory order and the shape.
//!
//! Layout (NumPy's `numpy.lib.format`): `\x93NUMPY`, a major and a minor version byte,
//! the header length (u16 little-endian in version 1, u32 in versions 2 and 3), then that
//! many bytes of a dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces and
//! ended by a newline. The data follows directly.

use crate::data::DataError;

/// The six bytes every `.npy` file starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Element types the reader understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float (`f4`).
    F32,
    /// 64-bit float (`f8`).
    F64,
    /// 64-bit signed integer (`i8`).
    I64,
    /// 32-bit signed integer (`i4`).
    I32,
    /// Unsigned byte (`u1`).
    U8,
    /// Boolean, one byte each (`b1`).
    Bool,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F64 | DType::I64 => 8,
            DType::U8 | DType::Bool => 1,
        }
    }

    /// NumPy's type code without the byte-order character (`f4`, `u1`, ...).
    pub fn code(self) -> &'static str {
        match self {
            DType::F32 => "f4",
            DType::F64 => "f8",
            DType::I64 => "i8",
            DType::I32 => "i4",
            DType::U8 => "u1",
            DType::Bool => "b1",
        }
    }
}

/// What a `.npy` header says about the array that follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Element type.
    pub dtype: DType,
    /// True for big-endian elements (`>` in the descr).
    pub big_endian: bool,
    /// True when the elements are stored column-major (Fortran order).
    pub fortran_order: bool,
    /// The dimensions; empty for a 0-d array.
    pub shape: Vec<usize>,
    /// Offset of the first data byte: the header's total length.
    pub data_offset: usize,
}

impl Header {
    /// Elements in the array; `None` when the product overflows.
    pub fn numel(&self) -> Option<usize> {
        self.shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// Data bytes the header promises; `None` when that overflows.
    pub fn data_len(&self) -> Option<usize> {
        self.numel()?.checked_mul(self.dtype.size())
    }
}

/// Parses the header at the start of `bytes`; `file` names the file in errors.
pub fn parse_header(bytes: &[u8], file: &str) -> Result<Header, DataError> {
    let bad = |reason: String| DataError::invalid(file, reason);
    if bytes.len() < 10 {
        return Err(bad(format!(
            "truncated .npy header: {} bytes, the fixed part alone is 10",
            bytes.len()
        )));
    }
    if &bytes[..6] != MAGIC {
        return Err(bad(format!(
            "not a .npy file: expected the magic \\x93NUMPY at offset 0, found {:02x?}",
            &bytes[..6]
        )));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad(format!(
                    "truncated .npy header: {} bytes, version {major}.{minor} needs 12 before the dict",
                    bytes.len()
                )));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        _ => {
            return Err(bad(format!(
                "unsupported .npy format version {major}.{minor} at offset 6 (1.0 to 3.0 are read)"
            )))
        }
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| {
            bad(format!(
                "truncated .npy header: it declares {len} bytes of dict at offset {start}, the file has {}",
                bytes.len().saturating_sub(start)
            ))
        })?;
    // Versions 1 and 2 are latin-1, version 3 UTF-8; the dict is ASCII in practice and
    // anything else cannot name a type this reader knows.
    let text = std::str::from_utf8(&bytes[start..end]).map_err(|_| {
        bad(format!(
            "the .npy header dict at offset {start} is not text"
        ))
    })?;
    let fields =
        parse_dict(text).map_err(|e| bad(format!("bad .npy header dict {text:?}: {e}")))?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (key, value) in fields {
        match (key.as_str(), value) {
            ("descr", Value::Str(s)) => descr = Some(s),
            ("fortran_order", Value::Bool(b)) => fortran = Some(b),
            ("shape", Value::Tuple(t)) => shape = Some(t),
            (k, v) => return Err(bad(format!("unexpected header entry {k:?}: {v:?}"))),
        }
    }
    let descr = descr.ok_or_else(|| bad("the header has no 'descr'".into()))?;
    let (dtype, big_endian) = parse_descr(&descr).ok_or_else(|| {
        bad(format!(
            "unsupported dtype {descr:?} (read: f4, f8, i8, i4, u1, b1, either byte order)"
        ))
    })?;
    let header = Header {
        dtype,
        big_endian,
        fortran_order: fortran.ok_or_else(|| bad("the header has no 'fortran_order'".into()))?,
        shape: shape.ok_or_else(|| bad("the header has no 'shape'".into()))?,
        data_offset: end,
    };
    if header.data_len().is_none() {
        return Err(bad(format!(
            "shape {:?} overflows the address space",
            header.shape
        )));
    }
    Ok(header)
}

/// `<f4`, `>i8`, `|u1`, ... to the type and whether it is big-endian.
fn parse_descr(descr: &str) -> Option<(DType, bool)> {
    let (order, code) = descr.split_at(descr.char_indices().nth(1)?.0);
    let dtype = [
        DType::F32,
        DType::F64,
        DType::I64,
        DType::I32,
        DType::U8,
        DType::Bool,
    ]
    .into_iter()
    .find(|d| d.code() == code)?;
    let big = match order {
        "<" => false,
        ">" => true,
        // '=' is the writer's native order; NumPy writes '<' or '>' for multi-byte types.
        "=" => cfg!(target_endian = "big"),
        "|" if dtype.size() == 1 => false,
        _ => return None,
    };
    Some((dtype, big))
}

/// A value in the header dict.
#[derive(Debug)]
enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

/// Parses the Python dict literal of a header: string keys; string, boolean or
/// tuple-of-integers values; an optional trailing comma; surrounding whitespace.
fn parse_dict(text: &str) -> Result<Vec<(String, Value)>, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.expect(b'{')?;
    let mut fields = Vec::new();
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.skip_ws();
        p.expect(b':')?;
        p.skip_ws();
        let value = p.value()?;
        fields.push((key, value));
        p.skip_ws();
        if !p.eat(b',') {
            p.skip_ws();
            p.expect(b'}')?;
            break;
        }
    }
    p.skip_ws();
    if p.i != p.s.len() {
        return Err(format!("unexpected text after the dict at {}", p.i));
    }
    Ok(fields)
}

/// A cursor over the dict text.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.s.get(self.i) == Some(&c);
        self.i += hit as usize;
        hit
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{}' at {}", c as char, self.i))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        let quote = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("expected a quoted string at {}", self.i)),
        };
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != quote {
            self.i += 1;
        }
        if self.i == self.s.len() {
            return Err(format!("unterminated string from {start}"));
        }
        let out = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Ok(out)
    }

    fn value(&mut self) -> Result<Value, String> {
        let rest = &self.s[self.i..];
        if rest.starts_with(b"True") {
            self.i += 4;
            Ok(Value::Bool(true))
        } else if rest.starts_with(b"False") {
            self.i += 5;
            Ok(Value::Bool(false))
        } else if rest.first() == Some(&b'(') {
            self.i += 1;
            self.tuple().map(Value::Tuple)
        } else {
            self.string().map(Value::Str)
        }
    }

    /// Integers separated by commas up to ')', the opening '(' already consumed.
    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        let mut dims = Vec::new();
        loop {
            self.skip_ws();
            if self.eat(b')') {
                return Ok(dims);
            }
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
            let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
            // Python 2 era writers appended 'L' to longs.
            self.eat(b'L');
            let d = digits
                .parse::<usize>()
                .map_err(|_| format!("expected a dimension at {start}"))?;
            dims.push(d);
            self.skip_ws();
            if !self.eat(b',') {
                self.skip_ws();
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

/// The header NumPy itself writes for `dtype`, `shape` in C order: version 1.0 when the
/// dict fits a u16 length, else 2.0; padded with spaces so the data starts at a multiple
/// of 64 bytes (what NumPy does, so that memory-mapped data is aligned).
pub fn encode_header(dtype: DType, shape: &[usize]) -> Vec<u8> {
    let order = if dtype.size() == 1 { '|' } else { '<' };
    let dims = match shape {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let dict = format!(
        "{{'descr': '{order}{}', 'fortran_order': False, 'shape': {dims}, }}",
        dtype.code()
    );
    let pad_to = |prefix: usize| {
        let unpadded = prefix + dict.len() + 1;
        unpadded.div_ceil(64) * 64 - prefix
    };
    let (version, prefix) = if pad_to(10) <= u16::MAX as usize {
        (1u8, 10)
    } else {
        (2u8, 12)
    };
    let len = pad_to(prefix);
    let mut out = Vec::with_capacity(prefix + len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.resize(prefix + len - 1, b' ');
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_headers_parse_back() {
        for shape in [vec![], vec![5], vec![3, 4], vec![2, 0, 7]] {
            let h = encode_header(DType::F64, &shape);
            assert_eq!(h.len() % 64, 0);
            let parsed = parse_header(&h, "x.npy").unwrap();
            assert_eq!(parsed.shape, shape);
            assert_eq!((parsed.dtype, parsed.big_endian), (DType::F64, false));
            assert_eq!(parsed.data_offset, h.len());
        }
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let e = parse_header(b"\x93NUMPY\x04\x00\x10\x00", "a.npy").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("a.npy: unsupported .npy format version 4.0"),
            "{e}"
        );
        let mut h = encode_header(DType::F32, &[2]);
        let at = h.windows(3).position(|w| w == b"<f4").unwrap();
        h[at + 1] = b'c';
        let e = parse_header(&h, "b.npy").unwrap_err();
        assert!(e.to_string().contains("unsupported dtype \"<c4\""), "{e}");
    }
}
