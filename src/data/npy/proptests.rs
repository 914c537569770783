//! Property tests: random and truncated bytes never panic the `.npy` and `.npz` readers,
//! and what is written reads back the same.

use proptest::collection::vec;
use proptest::prelude::*;

use super::{encode_header, DType, NpyArray, Npz};
use graft_tensor::Tensor;

/// A NumPy-written archive (committed fixture): one stored and one deflated.
const STORED: &[u8] = include_bytes!("../../../tests/data/npy/arrays.npz");
const DEFLATED: &[u8] = include_bytes!("../../../tests/data/npy/arrays_compressed.npz");

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..300)) {
        let _ = NpyArray::parse(&bytes, "random.npy");
        let _ = Npz::parse(&bytes, "random.npz");
    }

    #[test]
    fn random_bodies_after_a_valid_magic_never_panic(
        version in 0u8..5,
        rest in vec(any::<u8>(), 0..300),
    ) {
        let bytes = [b"\x93NUMPY".to_vec(), vec![version, 0], rest].concat();
        let _ = NpyArray::parse(&bytes, "random.npy");
    }

    #[test]
    fn random_dicts_never_panic(dict in "[{}()':, a-z0-9<>|TrueFals]{0,80}") {
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        let _ = NpyArray::parse(&bytes, "dict.npy");
    }

    #[test]
    fn f32_arrays_round_trip_and_truncations_are_errors(
        dims in vec(0..5usize, 0..4),
        seed in any::<u32>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let n: usize = dims.iter().product();
        let data: Vec<f32> = (0..n).map(|k| (k as f32 - 3.5) * (seed % 97) as f32).collect();
        let t = Tensor::from_vec(data, &dims);
        let bytes = NpyArray::from_f32(&t).to_bytes();
        let back = NpyArray::parse(&bytes, "rt.npy").unwrap();
        prop_assert_eq!(back.shape(), &dims[..]);
        prop_assert_eq!(back.to_f32().to_vec(), t.to_vec());
        let k = cut.index(bytes.len());
        prop_assert!(NpyArray::parse(&bytes[..k], "cut.npy").is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(NpyArray::parse(&longer, "long.npy").is_err());
    }

    #[test]
    fn truncated_or_flipped_archives_are_errors_or_the_original(
        which in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        mask in 1..=255u8,
    ) {
        let bytes = if which { STORED } else { DEFLATED };
        let original = Npz::parse(bytes, "a.npz").unwrap();
        prop_assert!(Npz::parse(&bytes[..cut.index(bytes.len())], "cut.npz").is_err());
        let mut flipped = bytes.to_vec();
        flipped[at.index(bytes.len())] ^= mask;
        // The CRC-32 catches changed data; a flip in an unchecked field (a timestamp,
        // the ZIP64 extra of the local header, a member's name) reads the same arrays.
        if let Ok(read) = Npz::parse(&flipped, "flip.npz") {
            let arrays = |z: &Npz| z.arrays.iter().map(|(_, a)| a.clone()).collect::<Vec<_>>();
            prop_assert_eq!(arrays(&read), arrays(&original));
        }
    }
}

#[test]
fn long_headers_switch_to_version_2() {
    let shape: Vec<usize> = vec![1; 30_000];
    let h = encode_header(DType::U8, &shape);
    assert_eq!(h[6], 2);
    let a = NpyArray::from_u8(vec![7], &shape).unwrap();
    let back = NpyArray::parse(&a.to_bytes(), "v2.npy").unwrap();
    assert_eq!(back.shape().len(), 30_000);
    assert_eq!(back.to_i64().to_vec(), vec![7]);
}
