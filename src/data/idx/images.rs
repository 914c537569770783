//! Images (3-D) and labels (1-D) files: IDX arrays of a known shape.

use std::path::Path;

use super::{read_idx, IdxArray};
use crate::data::DataError;

/// A stack of `n` grayscale images of `rows` x `cols` u8 pixels, image after image,
/// each row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// Number of images.
    pub n: usize,
    /// Pixel rows per image.
    pub rows: usize,
    /// Pixel columns per image.
    pub cols: usize,
    /// All pixels, `n * rows * cols` of them.
    pub data: Vec<u8>,
}

impl Images {
    /// Views a 3-D IDX array `[n, rows, cols]` as images; `file` names it in the
    /// error if it is not 3-D.
    pub fn from_idx(array: IdxArray, file: &str) -> Result<Self, DataError> {
        check_dims(&array, 3, file)?;
        Ok(Self {
            n: array.dims[0],
            rows: array.dims[1],
            cols: array.dims[2],
            data: array.data,
        })
    }

    /// Pixels in one image, `rows * cols`.
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `i`, or `None` past the last image.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let size = self.pixels_per_image();
        let start = i.checked_mul(size)?;
        self.data.get(start..start.checked_add(size)?)
    }
}

/// Reads an images file (IDX, 3-D u8, plain or gzip).
pub fn read_images(path: &Path) -> Result<Images, DataError> {
    Images::from_idx(read_idx(path)?, &path.display().to_string())
}

/// Reads a labels file (IDX, 1-D u8, plain or gzip): one class index per item.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let array = read_idx(path)?;
    check_dims(&array, 1, &path.display().to_string())?;
    Ok(array.data)
}

/// Checks the array has the dimension count its kind of file must have.
fn check_dims(array: &IdxArray, expected: usize, file: &str) -> Result<(), DataError> {
    if array.dims.len() == expected {
        Ok(())
    } else {
        Err(DataError::WrongDimCount {
            file: file.into(),
            expected,
            found: array.dims.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(dims: Vec<usize>) -> IdxArray {
        let len = dims.iter().product();
        IdxArray {
            dims,
            data: (0..len).map(|i| i as u8).collect(),
        }
    }

    #[test]
    fn views_3d_as_images() {
        let im = Images::from_idx(array(vec![3, 2, 2]), "x").unwrap();
        assert_eq!((im.n, im.rows, im.cols), (3, 2, 2));
        assert_eq!(im.image(1), Some(&[4, 5, 6, 7][..]));
        assert_eq!(im.image(3), None);
        assert_eq!(im.image(usize::MAX), None);
    }

    #[test]
    fn labels_are_not_images() {
        let e = Images::from_idx(array(vec![5]), "labels").unwrap_err();
        assert_eq!(
            e.to_string(),
            "labels: wrong dimension count at offset 3: expected 3, found 1"
        );
    }
}
