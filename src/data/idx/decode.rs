//! Decoding a whole IDX stream, plain or gzip, from a file or from bytes in memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use super::header::read_header;
use super::IdxArray;
use crate::data::DataError;

/// The two bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Deflate never expands its input by more than about 1032 to 1, so a gzip file of
/// `n` bytes holds at most `n * 1032` bytes: a bound on what to pre-allocate when a
/// header promises more than a small file could hold.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Read buffer for files; large reads keep the decompressor from stalling on
/// system calls.
const FILE_BUFFER: usize = 1 << 16;

/// Reads an IDX file of u8 elements, plain or gzip (told apart by gzip's magic bytes,
/// not by the file name).
///
/// Errors name the file and, for a malformed one, the offset of what is wrong; a
/// header that promises more data than the file can hold is an error, never a huge
/// allocation.
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let file = path.display().to_string();
    let io_err = |source| DataError::Io {
        file: file.clone(),
        source,
    };
    let f = File::open(path).map_err(io_err)?;
    let len = f.metadata().map_err(io_err)?.len();
    decode(BufReader::with_capacity(FILE_BUFFER, f), &file, len)
}

/// Parses IDX bytes already in memory, plain or gzip; `source_name` stands for the
/// file in error messages.
///
/// ```
/// use graft::data::idx::parse_idx;
///
/// // Two labels: a 1-D u8 array of length 2.
/// let bytes = [0, 0, 8, 1, 0, 0, 0, 2, 7, 3];
/// let labels = parse_idx(&bytes, "labels")?;
/// assert_eq!((labels.dims, labels.data), (vec![2], vec![7, 3]));
/// # Ok::<(), graft::data::DataError>(())
/// ```
pub fn parse_idx(bytes: &[u8], source_name: &str) -> Result<IdxArray, DataError> {
    decode(bytes, source_name, bytes.len() as u64)
}

/// How the IDX stream is stored, which decides what a failed read means.
#[derive(Clone, Copy)]
enum Encoding {
    Plain,
    Gzip,
}

impl Encoding {
    /// The error for a failed read: the decompressor only fails on bad input, so
    /// for gzip any failure is corruption.
    fn error(self, file: &str, source: io::Error) -> DataError {
        let file = file.into();
        match self {
            Self::Plain => DataError::Io { file, source },
            Self::Gzip => DataError::CorruptGzip { file, source },
        }
    }
}

/// Detects gzip and decodes; `stored_len` is the stream's stored (maybe compressed)
/// length, used only to bound pre-allocation.
fn decode<R: BufRead>(mut r: R, file: &str, stored_len: u64) -> Result<IdxArray, DataError> {
    let head = r.fill_buf().map_err(|e| Encoding::Plain.error(file, e))?;
    if head.starts_with(&GZIP_MAGIC) {
        // Multi-member: concatenated gzip members are one valid gzip stream.
        let bound = stored_len.saturating_mul(MAX_DEFLATE_RATIO);
        decode_stream(MultiGzDecoder::new(r), file, bound, Encoding::Gzip)
    } else {
        decode_stream(r, file, stored_len, Encoding::Plain)
    }
}

/// Decodes a plain IDX stream of at most `bound` bytes.
fn decode_stream<R: Read>(
    mut r: R,
    file: &str,
    bound: u64,
    encoding: Encoding,
) -> Result<IdxArray, DataError> {
    let on_err = |e| encoding.error(file, e);
    let header = read_header(&mut r, file, &on_err)?;

    // Pre-size to the promised length, so the read never reallocates, but never past
    // what the stream can hold: a corrupt header must not allocate gigabytes.
    let room = bound.saturating_sub(header.len as u64);
    let capacity = header
        .data_len
        .min(usize::try_from(room).unwrap_or(usize::MAX));
    let mut data = Vec::with_capacity(capacity);
    r.by_ref()
        .take(header.data_len as u64)
        .read_to_end(&mut data)
        .map_err(on_err)?;
    if data.len() < header.data_len {
        return Err(DataError::Truncated {
            file: file.into(),
            offset: header.len,
            expected: header.data_len,
            found: data.len(),
        });
    }

    // Read on to the end, without storing it: this counts trailing bytes and makes
    // the gzip decoder check its CRC and length trailer.
    let extra = io::copy(&mut r, &mut io::sink()).map_err(on_err)?;
    if extra > 0 {
        return Err(DataError::TrailingBytes {
            file: file.into(),
            offset: header.len + header.data_len,
            extra,
        });
    }
    Ok(IdxArray {
        dims: header.dims,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    /// A 2x2x3 images file with elements 0..12.
    fn images() -> Vec<u8> {
        let mut b = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        b.extend(0..12u8);
        b
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn parses_plain() {
        let a = parse_idx(&images(), "x").unwrap();
        assert_eq!(a.dims, vec![2, 2, 3]);
        assert_eq!(a.data, (0..12).collect::<Vec<u8>>());
    }

    #[test]
    fn parses_gzip_by_magic() {
        let a = parse_idx(&gzip(&images()), "x.bin").unwrap();
        assert_eq!(a.data.len(), 12);
    }

    #[test]
    fn parses_concatenated_gzip_members() {
        let bytes = images();
        let mut gz = gzip(&bytes[..10]);
        gz.extend(gzip(&bytes[10..]));
        assert_eq!(parse_idx(&gz, "x").unwrap().dims, vec![2, 2, 3]);
    }

    #[test]
    fn truncated_data_names_offset_and_counts() {
        let bytes = images();
        let e = parse_idx(&bytes[..bytes.len() - 2], "x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "x: truncated data: expected 12 bytes after the header at offset 16, found 10"
        );
    }

    #[test]
    fn truncated_data_inside_valid_gzip() {
        let bytes = images();
        let e = parse_idx(&gzip(&bytes[..20]), "x").unwrap_err();
        assert!(matches!(
            e,
            DataError::Truncated {
                offset: 16,
                expected: 12,
                found: 4,
                ..
            }
        ));
    }

    #[test]
    fn trailing_bytes_are_counted() {
        let mut bytes = images();
        bytes.extend([1, 2, 3]);
        for b in [bytes.clone(), gzip(&bytes)] {
            assert!(matches!(
                parse_idx(&b, "x"),
                Err(DataError::TrailingBytes {
                    offset: 28,
                    extra: 3,
                    ..
                })
            ));
        }
    }

    #[test]
    fn truncated_gzip_is_corrupt() {
        let gz = gzip(&images());
        let e = parse_idx(&gz[..gz.len() - 5], "x").unwrap_err();
        assert!(matches!(e, DataError::CorruptGzip { .. }), "{e}");
    }

    #[test]
    fn gzip_crc_is_checked() {
        let mut gz = gzip(&images());
        let crc_at = gz.len() - 8;
        gz[crc_at] ^= 1;
        assert!(matches!(
            parse_idx(&gz, "x"),
            Err(DataError::CorruptGzip { .. })
        ));
    }

    #[test]
    fn absurd_dims_do_not_allocate() {
        // Promises (2^32-1)^2 bytes in a 14-byte file: must fail, not allocate them.
        let bytes = [
            0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2,
        ];
        assert!(matches!(
            parse_idx(&bytes, "x"),
            Err(DataError::Truncated { found: 2, .. })
        ));
        assert!(matches!(
            parse_idx(&gzip(&bytes), "x"),
            Err(DataError::Truncated { found: 2, .. })
        ));
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let e = read_idx(Path::new("/nonexistent/graft-idx")).unwrap_err();
        assert!(matches!(e, DataError::Io { .. }));
        assert!(e
            .to_string()
            .starts_with("/nonexistent/graft-idx: cannot read"));
    }
}
