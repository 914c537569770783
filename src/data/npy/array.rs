//! A whole `.npy` array in memory: reading, element conversion to tensors, writing.

use std::fs;
use std::path::Path;

use graft_tensor::Tensor;

use super::header::{encode_header, parse_header, DType, Header};
use crate::data::DataError;

/// An array read from (or to be written as) a `.npy` file: its header and its raw data
/// bytes, in the file's byte order and memory order.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// Element type, byte order, memory order and shape.
    pub header: Header,
    /// The data bytes, exactly `numel * dtype.size()` of them.
    pub data: Vec<u8>,
}

/// Decodes element `k` of raw data into an `f64` (exact for every type but i64 beyond 2^53).
fn element_f64(data: &[u8], dtype: DType, big: bool, k: usize) -> f64 {
    let at = k * dtype.size();
    macro_rules! num {
        ($t:ty, $n:expr) => {{
            let mut b = [0u8; $n];
            b.copy_from_slice(&data[at..at + $n]);
            if big {
                <$t>::from_be_bytes(b)
            } else {
                <$t>::from_le_bytes(b)
            }
        }};
    }
    match dtype {
        DType::F32 => num!(f32, 4) as f64,
        DType::F64 => num!(f64, 8),
        DType::I64 => num!(i64, 8) as f64,
        DType::I32 => num!(i32, 4) as f64,
        DType::U8 => data[at] as f64,
        DType::Bool => (data[at] != 0) as u8 as f64,
    }
}

/// Decodes element `k` into an `i64`; floats are truncated toward zero.
fn element_i64(data: &[u8], dtype: DType, big: bool, k: usize) -> i64 {
    if dtype == DType::I64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&data[k * 8..k * 8 + 8]);
        // Through f64 an i64 above 2^53 would lose its low bits.
        return if big {
            i64::from_be_bytes(b)
        } else {
            i64::from_le_bytes(b)
        };
    }
    element_f64(data, dtype, big, k) as i64
}

/// Converts `count` elements of raw data starting at element `first` to f32, into `out`.
pub(crate) fn decode_f32_into(data: &[u8], dtype: DType, big: bool, first: usize, out: &mut [f32]) {
    match (dtype, big) {
        // The common case of a memory-mapped float dataset: a straight byte copy.
        (DType::F32, false) => {
            for (k, o) in out.iter_mut().enumerate() {
                let at = (first + k) * 4;
                *o = f32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
            }
        }
        (DType::U8, _) => {
            let n = out.len();
            for (o, &b) in out.iter_mut().zip(&data[first..first + n]) {
                *o = b as f32;
            }
        }
        _ => {
            for (k, o) in out.iter_mut().enumerate() {
                *o = element_f64(data, dtype, big, first + k) as f32;
            }
        }
    }
}

impl NpyArray {
    /// Parses a whole `.npy` file held in memory; `file` names it in errors.
    pub fn parse(bytes: &[u8], file: &str) -> Result<NpyArray, DataError> {
        let header = parse_header(bytes, file)?;
        let expected = header.data_len().unwrap_or(usize::MAX);
        let found = bytes.len() - header.data_offset;
        if found != expected {
            let what = if found < expected {
                "truncated"
            } else {
                "trailing bytes after the"
            };
            return Err(DataError::invalid(
                file,
                format!(
                    "{what} data: shape {:?} of {} needs {expected} bytes after the header at offset {}, found {found}",
                    header.shape,
                    header.dtype.code(),
                    header.data_offset
                ),
            ));
        }
        let data = bytes[header.data_offset..].to_vec();
        Ok(NpyArray { header, data })
    }

    /// Reads a `.npy` file.
    pub fn read(path: &Path) -> Result<NpyArray, DataError> {
        let file = path.display().to_string();
        let bytes = fs::read(path).map_err(|e| DataError::io(&file, e))?;
        Self::parse(&bytes, &file)
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.header.shape
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.header.dtype
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len() / self.header.dtype.size()
    }

    /// Elements in storage order, converted by `f`.
    fn storage<T>(&self, f: impl Fn(&[u8], DType, bool, usize) -> T) -> Vec<T> {
        let (d, big) = (self.header.dtype, self.header.big_endian);
        (0..self.numel())
            .map(|k| f(&self.data, d, big, k))
            .collect()
    }

    /// Builds a C-order tensor from elements in storage order: a Fortran-order array is
    /// the C-order array of the reversed shape, transposed back.
    fn to_tensor<T: graft_tensor::Element>(&self, elems: Vec<T>) -> Tensor<T> {
        let shape = &self.header.shape;
        if !self.header.fortran_order || shape.len() < 2 {
            return Tensor::from_vec(elems, shape);
        }
        let reversed: Vec<usize> = shape.iter().rev().copied().collect();
        let dims: Vec<isize> = (0..shape.len() as isize).rev().collect();
        Tensor::from_vec(elems, &reversed)
            .permute(&dims)
            .contiguous()
    }

    /// The array as an f32 tensor in C order (integers and booleans converted).
    pub fn to_f32(&self) -> Tensor<f32> {
        self.to_tensor(self.storage(|d, t, b, k| element_f64(d, t, b, k) as f32))
    }

    /// The array as an f64 tensor in C order.
    pub fn to_f64(&self) -> Tensor<f64> {
        self.to_tensor(self.storage(element_f64))
    }

    /// The array as an i64 tensor in C order (floats truncated toward zero), e.g. labels.
    pub fn to_i64(&self) -> Tensor<i64> {
        self.to_tensor(self.storage(element_i64))
    }

    /// An array of `dtype` and `shape` from little-endian C-order data bytes.
    fn from_le(dtype: DType, shape: &[usize], data: Vec<u8>) -> NpyArray {
        let encoded = encode_header(dtype, shape);
        NpyArray {
            header: Header {
                dtype,
                big_endian: false,
                fortran_order: false,
                shape: shape.to_vec(),
                data_offset: encoded.len(),
            },
            data,
        }
    }

    /// An f32 array holding `t` (any layout; written in C order).
    pub fn from_f32(t: &Tensor<f32>) -> NpyArray {
        let data = t.to_vec().iter().flat_map(|x| x.to_le_bytes()).collect();
        Self::from_le(DType::F32, t.shape(), data)
    }

    /// An f64 array holding `t`.
    pub fn from_f64(t: &Tensor<f64>) -> NpyArray {
        let data = t.to_vec().iter().flat_map(|x| x.to_le_bytes()).collect();
        Self::from_le(DType::F64, t.shape(), data)
    }

    /// An i64 array holding `t`.
    pub fn from_i64(t: &Tensor<i64>) -> NpyArray {
        let data = t.to_vec().iter().flat_map(|x| x.to_le_bytes()).collect();
        Self::from_le(DType::I64, t.shape(), data)
    }

    /// A u8 array of `shape` from bytes in C order; errors if the length does not match.
    pub fn from_u8(data: Vec<u8>, shape: &[usize]) -> Result<NpyArray, DataError> {
        let numel = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if numel != Some(data.len()) {
            return Err(DataError::Unencodable {
                reason: format!("{} bytes cannot have shape {shape:?}", data.len()),
            });
        }
        Ok(Self::from_le(DType::U8, shape, data))
    }

    /// The file's bytes as NumPy writes them: header then data. An array read from a
    /// big-endian or Fortran-order file is written as it was read.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = if self.header.big_endian || self.header.fortran_order {
            encode_with_flags(&self.header)
        } else {
            encode_header(self.header.dtype, &self.header.shape)
        };
        out.extend_from_slice(&self.data);
        out
    }

    /// Writes the array to a `.npy` file that NumPy's `np.load` reads.
    pub fn write(&self, path: &Path) -> Result<(), DataError> {
        fs::write(path, self.to_bytes()).map_err(|e| DataError::io(path.display().to_string(), e))
    }
}

/// A header that keeps a big-endian byte order or Fortran memory order: the standard
/// header with the two fields edited (same length, so the padding still holds).
fn encode_with_flags(h: &Header) -> Vec<u8> {
    let mut out = encode_header(h.dtype, &h.shape);
    let replace = |out: &mut Vec<u8>, from: &[u8], to: &[u8]| {
        if let Some(at) = out.windows(from.len()).position(|w| w == from) {
            out.splice(at..at + from.len(), to.iter().copied());
        }
    };
    if h.big_endian && h.dtype.size() > 1 {
        replace(&mut out, b"'<", b"'>");
    }
    if h.fortran_order {
        // "True" is one byte shorter than "False": take the byte back from the padding.
        replace(&mut out, b"False", b"True");
        let newline = out.len() - 1;
        out.insert(newline, b' ');
    }
    out
}
