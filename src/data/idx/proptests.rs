//! Property tests: no input makes the reader panic, damaged files are errors, and
//! what is written reads back the same.

use proptest::collection::vec;
use proptest::prelude::*;

use super::{parse_idx, IdxArray};
use crate::data::test_dir::gzip;
use crate::data::DataError;

/// A valid array of 0 to 3 dimensions, each `min_dim..6`, with random elements.
fn array(min_dim: usize) -> impl Strategy<Value = IdxArray> {
    vec(min_dim..6usize, 0..4).prop_flat_map(|dims| {
        let len: usize = dims.iter().product();
        vec(any::<u8>(), len).prop_map(move |data| IdxArray {
            dims: dims.clone(),
            data,
        })
    })
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..300)) {
        let _ = parse_idx(&bytes, "random");
    }

    #[test]
    fn random_bodies_after_a_plausible_header_never_panic(
        prefix in prop_oneof![
            Just(vec![0u8, 0, 8]),
            Just(vec![0x1f, 0x8b]),
            Just(vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]),
        ],
        rest in vec(any::<u8>(), 0..300),
    ) {
        let bytes = [prefix, rest].concat();
        let _ = parse_idx(&bytes, "random");
    }

    #[test]
    fn round_trips_plain_and_gzip(a in array(0)) {
        let plain = a.to_bytes().unwrap();
        prop_assert_eq!(&parse_idx(&plain, "plain").unwrap(), &a);
        prop_assert_eq!(&parse_idx(&gzip(&plain), "gz").unwrap(), &a);
    }

    #[test]
    fn every_truncation_is_an_error(a in array(0), cut in any::<prop::sample::Index>()) {
        let plain = a.to_bytes().unwrap();
        let gz = gzip(&plain);
        prop_assert!(parse_idx(&plain[..cut.index(plain.len())], "plain").is_err());
        prop_assert!(parse_idx(&gz[..cut.index(gz.len())], "gz").is_err());
    }

    #[test]
    fn corrupt_plain_files_are_caught_in_the_header(
        a in array(1),
        at in any::<prop::sample::Index>(),
        mask in 1..=255u8,
    ) {
        let mut bytes = a.to_bytes().unwrap();
        let header_len = 4 + 4 * a.dims.len();
        let i = at.index(bytes.len());
        bytes[i] ^= mask;
        let result = parse_idx(&bytes, "corrupt");
        match i {
            0 | 1 => {
                let bad_magic = matches!(result, Err(DataError::BadMagic { .. }));
                prop_assert!(bad_magic, "{:?}", result);
            }
            2 => {
                let bad_type = matches!(result, Err(DataError::UnsupportedType { .. }));
                prop_assert!(bad_type, "{:?}", result);
            }
            // A new dimension count can, rarely, describe the bytes validly (a
            // trailing zero dimension); it must just never pass for the original.
            3 => prop_assert_ne!(result.ok(), Some(a)),
            // With every dimension at least 1, any changed dimension changes the
            // expected length.
            _ if i < header_len => prop_assert!(result.is_err()),
            // The data itself has no checksum: the flip comes through as it is.
            _ => {
                let mut expected = a;
                expected.data[i - header_len] ^= mask;
                prop_assert_eq!(result.unwrap(), expected);
            }
        }
    }

    #[test]
    fn corrupt_gzip_is_an_error_or_harmless(
        a in array(0),
        at in any::<prop::sample::Index>(),
        mask in 1..=255u8,
    ) {
        let mut gz = gzip(&a.to_bytes().unwrap());
        let i = at.index(gz.len());
        gz[i] ^= mask;
        // Gzip's CRC-32 catches any change to the content; a flip in an unchecked
        // header field (the timestamp, say) is harmless and reads the original.
        if let Ok(read) = parse_idx(&gz, "corrupt.gz") {
            prop_assert_eq!(read, a);
        }
    }
}
