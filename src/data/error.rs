//! The error type of the data layer: every variant names the file (or directory)
//! involved and, for a malformed file, the byte offset where it goes wrong.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// What went wrong while finding, reading or decoding a data set.
///
/// Offsets count bytes of the decompressed IDX stream, which is what the IDX format
/// defines; for a gzip file they are not offsets into the `.gz` file itself.
#[derive(Debug)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read.
    Io {
        /// The file.
        file: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file starts with the gzip magic bytes but does not decompress.
    CorruptGzip {
        /// The file.
        file: String,
        /// The decompressor's error.
        source: io::Error,
    },
    /// The stream ends inside the IDX header.
    TruncatedHeader {
        /// The file.
        file: String,
        /// Header bytes the format needs at this point.
        expected: usize,
        /// Header bytes present.
        found: usize,
    },
    /// The first two bytes, which the IDX format fixes at zero, are not zero.
    BadMagic {
        /// The file.
        file: String,
        /// The two bytes found at offset 0.
        found: [u8; 2],
    },
    /// The type byte at offset 2 is not a type this reader returns (only u8, 0x08).
    UnsupportedType {
        /// The file.
        file: String,
        /// The type code found.
        code: u8,
    },
    /// The dimension count at offset 3 is not what the caller asked for.
    WrongDimCount {
        /// The file.
        file: String,
        /// Dimensions expected (3 for images, 1 for labels).
        expected: usize,
        /// Dimensions in the header.
        found: usize,
    },
    /// The product of the dimensions does not fit in memory addresses.
    SizeOverflow {
        /// The file.
        file: String,
        /// The dimensions from the header.
        dims: Vec<u64>,
    },
    /// Fewer data bytes follow the header than its dimensions promise.
    Truncated {
        /// The file.
        file: String,
        /// Offset where the data starts (the header's length).
        offset: usize,
        /// Data bytes the header promises.
        expected: usize,
        /// Data bytes present.
        found: usize,
    },
    /// More bytes follow the data than its dimensions promise.
    TrailingBytes {
        /// The file.
        file: String,
        /// Offset of the first extra byte.
        offset: usize,
        /// How many extra bytes there are.
        extra: u64,
    },
    /// An images file and its labels file hold different numbers of items.
    CountMismatch {
        /// The images file.
        images_file: String,
        /// Images it holds.
        images: usize,
        /// The labels file.
        labels_file: String,
        /// Labels it holds.
        labels: usize,
    },
    /// Training and test images differ in size.
    ImageSizeMismatch {
        /// The training images file.
        train_file: String,
        /// Its image size, rows by columns.
        train: (usize, usize),
        /// The test images file.
        test_file: String,
        /// Its image size, rows by columns.
        test: (usize, usize),
    },
    /// A data directory lacks one of the four files, plain or gzipped.
    MissingFile {
        /// The directory searched.
        dir: PathBuf,
        /// The file's base name, without `.gz`.
        name: String,
    },
    /// An array cannot be written as IDX (a dimension above `u32::MAX`, too many
    /// dimensions, or a data length that does not match the dimensions).
    Unencodable {
        /// What is wrong with it.
        reason: String,
    },
    /// A file in one of the other formats (`.npy`, `.npz`, CSV, an image) is malformed
    /// or holds something the reader does not support.
    Invalid {
        /// The file (for a `.npz` member: `archive.npz:member.npy`).
        file: String,
        /// What is wrong, with the offset or row where it can be named.
        reason: String,
    },
    /// No directory in the search order holds the data set.
    NoData {
        /// Each place tried, with why it did not qualify.
        tried: Vec<String>,
    },
    /// A batch asked for an example the dataset does not hold.
    IndexOutOfRange {
        /// The example index asked for.
        index: usize,
        /// The number of examples.
        len: usize,
    },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { file, source } => write!(f, "{file}: cannot read: {source}"),
            Self::CorruptGzip { file, source } => write!(f, "{file}: corrupt gzip: {source}"),
            Self::TruncatedHeader { file, expected, found } => write!(
                f,
                "{file}: truncated IDX header: expected {expected} bytes, found {found}"
            ),
            Self::BadMagic { file, found } => write!(
                f,
                "{file}: bad IDX magic at offset 0: expected 00 00, found {:02x} {:02x}",
                found[0], found[1]
            ),
            Self::UnsupportedType { file, code } => write!(
                f,
                "{file}: unsupported IDX type code 0x{code:02x} ({}) at offset 2: only u8 (0x08) is read",
                type_name(*code)
            ),
            Self::WrongDimCount { file, expected, found } => write!(
                f,
                "{file}: wrong dimension count at offset 3: expected {expected}, found {found}"
            ),
            Self::SizeOverflow { file, dims } => {
                write!(f, "{file}: dimensions {dims:?} overflow the address space")
            }
            Self::Truncated { file, offset, expected, found } => write!(
                f,
                "{file}: truncated data: expected {expected} bytes after the header at offset {offset}, found {found}"
            ),
            Self::TrailingBytes { file, offset, extra } => write!(
                f,
                "{file}: {extra} trailing bytes after the data, starting at offset {offset}"
            ),
            Self::CountMismatch { images_file, images, labels_file, labels } => write!(
                f,
                "{images_file} holds {images} images but {labels_file} holds {labels} labels"
            ),
            Self::ImageSizeMismatch { train_file, train, test_file, test } => write!(
                f,
                "{train_file} holds {}x{} images but {test_file} holds {}x{} images",
                train.0, train.1, test.0, test.1
            ),
            Self::MissingFile { dir, name } => write!(
                f,
                "{}: found neither {name} nor {name}.gz",
                dir.display()
            ),
            Self::Unencodable { reason } => write!(f, "cannot encode IDX array: {reason}"),
            Self::Invalid { file, reason } => write!(f, "{file}: {reason}"),
            Self::NoData { tried } => {
                write!(f, "no MNIST-style data set found; tried: {}", tried.join("; "))
            }
            Self::IndexOutOfRange { index, len } => write!(
                f,
                "example index {index} is out of range for a dataset of {len} examples"
            ),
        }
    }
}

impl DataError {
    /// A malformed or unsupported file: `file` and what is wrong with it.
    pub fn invalid(file: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            file: file.into(),
            reason: reason.into(),
        }
    }

    /// A file that could not be opened or read.
    pub fn io(file: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            file: file.into(),
            source,
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } | Self::CorruptGzip { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The IDX format's name for a type code, so an error can say what the file holds.
fn type_name(code: u8) -> &'static str {
    match code {
        0x08 => "u8",
        0x09 => "i8",
        0x0b => "i16",
        0x0c => "i32",
        0x0d => "f32",
        0x0e => "f64",
        _ => "not an IDX type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_names_file_offset_and_counts() {
        let e = DataError::Truncated {
            file: "x-idx3-ubyte".into(),
            offset: 16,
            expected: 784,
            found: 700,
        };
        assert_eq!(
            e.to_string(),
            "x-idx3-ubyte: truncated data: expected 784 bytes after the header at offset 16, found 700"
        );
    }

    #[test]
    fn unsupported_type_names_the_type() {
        let e = DataError::UnsupportedType {
            file: "f".into(),
            code: 0x0d,
        };
        assert!(e.to_string().contains("0x0d (f32) at offset 2"), "{e}");
    }

    #[test]
    fn io_errors_expose_their_source() {
        use std::error::Error;
        let e = DataError::Io {
            file: "f".into(),
            source: io::Error::new(io::ErrorKind::NotFound, "gone"),
        };
        assert!(e.source().is_some());
    }
}
