//! The decoded IDX array and its encoding back to IDX bytes.

use super::header::TYPE_U8;
use crate::data::DataError;

/// An IDX array of u8 elements: its dimensions, outermost first, and its elements in
/// row-major order (`data.len()` is the product of `dims`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first: `[n, rows, cols]` for images, `[n]` for labels.
    pub dims: Vec<usize>,
    /// The elements in row-major order.
    pub data: Vec<u8>,
}

impl IdxArray {
    /// Encodes the array as plain (uncompressed) IDX bytes, which `parse_idx` reads
    /// back as the same array.
    ///
    /// Fails if the array cannot be IDX: more than 255 dimensions, a dimension above
    /// `u32::MAX`, or a data length other than the product of the dimensions.
    pub fn to_bytes(&self) -> Result<Vec<u8>, DataError> {
        let unencodable = |reason: String| DataError::Unencodable { reason };
        let ndims = u8::try_from(self.dims.len())
            .map_err(|_| unencodable(format!("{} dimensions, at most 255", self.dims.len())))?;
        let expected = self
            .dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if expected != Some(self.data.len()) {
            return Err(unencodable(format!(
                "dimensions {:?} do not hold {} elements",
                self.dims,
                self.data.len()
            )));
        }
        let mut bytes = Vec::with_capacity(4 + 4 * self.dims.len() + self.data.len());
        bytes.extend([0, 0, TYPE_U8, ndims]);
        for &d in &self.dims {
            let d = u32::try_from(d)
                .map_err(|_| unencodable(format!("dimension {d} exceeds u32::MAX")))?;
            bytes.extend(d.to_be_bytes());
        }
        bytes.extend(&self.data);
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_header_and_data() {
        let a = IdxArray {
            dims: vec![2, 1],
            data: vec![5, 6],
        };
        assert_eq!(
            a.to_bytes().unwrap(),
            [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 1, 5, 6]
        );
    }

    #[test]
    fn refuses_inconsistent_arrays() {
        let a = IdxArray {
            dims: vec![3],
            data: vec![1],
        };
        assert!(matches!(a.to_bytes(), Err(DataError::Unencodable { .. })));
        let big = IdxArray {
            dims: vec![usize::MAX, 0],
            data: vec![],
        };
        assert!(matches!(big.to_bytes(), Err(DataError::Unencodable { .. })));
    }
}
