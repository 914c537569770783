//! Reading and checking the IDX header at the front of a stream.

use std::io::{self, Read};

use crate::data::DataError;

/// Type code of unsigned bytes, the only element type of the MNIST family.
pub(super) const TYPE_U8: u8 = 0x08;

/// A checked IDX header.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Header {
    /// The dimensions, outermost first.
    pub dims: Vec<usize>,
    /// Bytes the header occupies, which is also the offset where the data starts.
    pub len: usize,
    /// Data bytes the dimensions promise: their product, known not to overflow.
    pub data_len: usize,
}

/// Reads and checks the header; `on_err` turns a failed read into the error that
/// fits the stream (an I/O error for a plain file, corrupt gzip for a gzip one).
pub(super) fn read_header<R: Read>(
    r: &mut R,
    file: &str,
    on_err: &dyn Fn(io::Error) -> DataError,
) -> Result<Header, DataError> {
    let mut fixed = [0u8; 4];
    let got = read_full(r, &mut fixed).map_err(on_err)?;
    // Judge what is there before complaining that it is short: a short file that is
    // not IDX at all is better described by its wrong magic than by its length.
    if got >= 2 && fixed[..2] != [0, 0] {
        return Err(DataError::BadMagic {
            file: file.into(),
            found: [fixed[0], fixed[1]],
        });
    }
    if got >= 3 && fixed[2] != TYPE_U8 {
        return Err(DataError::UnsupportedType {
            file: file.into(),
            code: fixed[2],
        });
    }
    if got < fixed.len() {
        return Err(DataError::TruncatedHeader {
            file: file.into(),
            expected: fixed.len(),
            found: got,
        });
    }

    // At most 255 dimensions, so this buffer is at most 1020 bytes whatever the file.
    let mut raw = vec![0u8; 4 * usize::from(fixed[3])];
    let len = fixed.len() + raw.len();
    let got = read_full(r, &mut raw).map_err(on_err)?;
    if got < raw.len() {
        return Err(DataError::TruncatedHeader {
            file: file.into(),
            expected: len,
            found: fixed.len() + got,
        });
    }
    let dims64: Vec<u64> = raw
        .chunks_exact(4)
        .map(|c| u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    let overflow = || DataError::SizeOverflow {
        file: file.into(),
        dims: dims64.clone(),
    };
    let dims = dims64
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| overflow()))
        .collect::<Result<Vec<usize>, _>>()?;
    let data_len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(overflow)?;
    Ok(Header {
        dims,
        len,
        data_len,
    })
}

/// Reads until `buf` is full or the stream ends, and returns how many bytes it got;
/// unlike `read_exact`, a short stream is not an error, so the caller can say how
/// short it was.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Header, DataError> {
        let on_err = |e| DataError::Io {
            file: "t".into(),
            source: e,
        };
        read_header(&mut &bytes[..], "t", &on_err)
    }

    #[test]
    fn reads_big_endian_dims() {
        let h = parse(&[0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28]).unwrap();
        assert_eq!(h.dims, vec![60_000, 28, 28]);
        assert_eq!(h.len, 16);
        assert_eq!(h.data_len, 60_000 * 28 * 28);
    }

    #[test]
    fn zero_dims_is_a_scalar() {
        let h = parse(&[0, 0, 8, 0]).unwrap();
        assert_eq!((h.dims.len(), h.len, h.data_len), (0, 4, 1));
    }

    #[test]
    fn rejects_bad_magic_even_when_short() {
        assert!(matches!(
            parse(b"PK\x03"),
            Err(DataError::BadMagic {
                found: [b'P', b'K'],
                ..
            })
        ));
    }

    #[test]
    fn rejects_non_u8_types() {
        assert!(matches!(
            parse(&[0, 0, 0x0d, 1, 0, 0, 0, 1]),
            Err(DataError::UnsupportedType { code: 0x0d, .. })
        ));
    }

    #[test]
    fn reports_short_headers() {
        assert!(matches!(
            parse(&[0]),
            Err(DataError::TruncatedHeader {
                expected: 4,
                found: 1,
                ..
            })
        ));
        assert!(matches!(
            parse(&[0, 0, 8, 3, 0, 0, 0, 1, 0, 0]),
            Err(DataError::TruncatedHeader {
                expected: 16,
                found: 10,
                ..
            })
        ));
    }

    #[test]
    fn rejects_overflowing_products() {
        let mut bytes = vec![0, 0, 8, 4];
        bytes.extend([0xff; 16]);
        assert!(matches!(parse(&bytes), Err(DataError::SizeOverflow { .. })));
    }
}
