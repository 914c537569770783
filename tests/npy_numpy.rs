//! `.npy` and `.npz` files written by NumPy (tests/data/npy, from
//! scripts/make_npy_fixtures.py) read back as the formulas that made them, and graft's
//! writer produces NumPy's bytes exactly.

use std::path::{Path, PathBuf};

use graft::data::npy::{DType, NpyArray, NpyDataset, NpyMmap, Npz};
use graft::data::{Dataset, SampleSource, Targets};
use graft::tensor::Tensor;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/npy")
        .join(name)
}

fn read(name: &str) -> NpyArray {
    NpyArray::read(&fixture(name)).unwrap()
}

/// `arange(12).reshape(3, 4) * 0.5 - 1` in f32.
fn x_values() -> Vec<f32> {
    (0..12).map(|k| k as f32 * 0.5 - 1.0).collect()
}

#[test]
fn reads_every_supported_type_and_byte_order() {
    let x = read("f32_c.npy");
    assert_eq!((x.dtype(), x.shape()), (DType::F32, &[3usize, 4][..]));
    assert_eq!(x.to_f32().to_vec(), x_values());

    let be = read("f64_be.npy");
    assert!(be.header.big_endian);
    let expected: Vec<f64> = (0..6).map(|k| k as f64 / 3.0).collect();
    assert_eq!(be.to_f64().to_vec(), expected);
    assert_eq!(be.to_f64().shape(), &[2, 3]);

    // 2^40 + 1 survives as i64 (it would not through f32).
    assert_eq!(
        read("i64.npy").to_i64().to_vec(),
        vec![-3, 0, (1 << 40) + 1, 7]
    );
    assert_eq!(
        read("i32_be.npy").to_i64().to_vec(),
        vec![-2, -1, 0, 1, 2, 3]
    );
    assert_eq!(
        read("u8.npy").to_f32().to_vec(),
        vec![250.0, 251.0, 252.0, 253.0, 254.0, 255.0]
    );
    assert_eq!(read("bool.npy").to_i64().to_vec(), vec![1, 0, 1]);
    let scalar = read("scalar.npy");
    assert_eq!(scalar.shape(), &[] as &[usize]);
    assert_eq!(scalar.to_f32().to_vec(), vec![2.5]);
}

#[test]
fn fortran_order_reads_as_the_same_c_order_array() {
    let f = read("f32_fortran.npy");
    assert!(f.header.fortran_order);
    let t = f.to_f32();
    assert_eq!(t.shape(), &[2, 3, 4]);
    assert_eq!(t.to_vec(), (0..24).map(|k| k as f32).collect::<Vec<_>>());
}

#[test]
fn reads_format_versions_2_and_3() {
    let v2 = read("f64_v2.npy");
    assert_eq!(v2.to_f64().to_vec(), vec![0.0, 1.5, 3.0, 4.5, 6.0]);
    assert_eq!(
        read("f32_v3.npy").to_f32().to_vec(),
        vec![-2.0, -1.0, 0.0, 1.0]
    );
}

#[test]
fn the_writer_produces_numpys_bytes() {
    for name in [
        "f32_c.npy",
        "i64.npy",
        "u8.npy",
        "f64_be.npy",
        "f32_fortran.npy",
    ] {
        let file = std::fs::read(fixture(name)).unwrap();
        assert_eq!(read(name).to_bytes(), file, "{name}");
    }
    let x = Tensor::from_vec(x_values(), &[3, 4]);
    let numpy = std::fs::read(fixture("f32_c.npy")).unwrap();
    assert_eq!(NpyArray::from_f32(&x).to_bytes(), numpy);
    let labels = Tensor::from_vec(vec![-3i64, 0, (1 << 40) + 1, 7], &[4]);
    let numpy = std::fs::read(fixture("i64.npy")).unwrap();
    assert_eq!(NpyArray::from_i64(&labels).to_bytes(), numpy);
    let pixels = NpyArray::from_u8((250..=255).collect(), &[2, 3]).unwrap();
    assert_eq!(pixels.to_bytes(), std::fs::read(fixture("u8.npy")).unwrap());
}

#[test]
fn reads_stored_and_deflated_archives() {
    for name in ["arrays.npz", "arrays_compressed.npz"] {
        let npz = Npz::read(&fixture(name)).unwrap();
        assert_eq!(npz.names(), vec!["x", "y"], "{name}");
        assert_eq!(npz.get("x").unwrap().to_f32().to_vec(), x_values());
        assert_eq!(npz.get("y").unwrap().to_i64().to_vec(), vec![1, 0, 2]);
        assert!(npz.get("z").is_none());
    }
}

#[test]
fn damaged_files_are_errors_naming_the_file() {
    let bytes = std::fs::read(fixture("f32_c.npy")).unwrap();
    let e = NpyArray::parse(&bytes[..bytes.len() - 3], "cut.npy").unwrap_err();
    assert!(e.to_string().starts_with("cut.npy: truncated data"), "{e}");
    let mut zip = std::fs::read(fixture("arrays_compressed.npz")).unwrap();
    // Inside the first member's deflate stream.
    zip[80] ^= 0x55;
    let e = Npz::parse(&zip, "bad.npz").unwrap_err().to_string();
    assert!(e.starts_with("bad.npz:x.npy: "), "{e}");
    let e = NpyArray::read(Path::new("/nonexistent/a.npy")).unwrap_err();
    assert!(
        e.to_string().starts_with("/nonexistent/a.npy: cannot read"),
        "{e}"
    );
}

#[test]
fn a_memory_mapped_array_is_a_dataset() {
    let inputs = NpyMmap::open(&fixture("f32_c.npy")).unwrap();
    assert_eq!((inputs.rows(), inputs.row_len()), (3, 4));
    let labels = Targets::Classes(Tensor::from_vec(vec![2i64, 0, 1], &[3]));
    let data = NpyDataset::new(inputs, labels)
        .unwrap()
        .reshape(&[2, 2])
        .unwrap();
    assert_eq!(SampleSource::sample_shape(&data), &[2, 2]);
    let batch = data.batch(&[2, 0]);
    assert_eq!(batch.float_inputs().shape(), &[2, 2, 2]);
    let x = x_values();
    assert_eq!(
        batch.float_inputs().to_vec(),
        [&x[8..12], &x[0..4]].concat()
    );
    match batch.targets {
        Targets::Classes(c) => assert_eq!(c.to_vec(), vec![1, 2]),
        Targets::Values(_) => panic!("classes expected"),
    }
    // u8 pixels scaled as they are read, big-endian floats decoded.
    let u8s = NpyMmap::open(&fixture("u8.npy")).unwrap();
    let values = Targets::Values(Tensor::from_vec(vec![0.5f32, 1.5], &[2, 1]));
    let pixels = NpyDataset::new(u8s, values).unwrap().divide(255.0);
    let mut row = [0.0f32; 3];
    pixels.read_input(1, &mut row).unwrap();
    assert_eq!(row, [253.0 / 255.0, 254.0 / 255.0, 1.0]);
    let be = NpyMmap::open(&fixture("f64_be.npy")).unwrap();
    be.read_row(1, &mut row).unwrap();
    assert_eq!(row, [1.0, 4.0 / 3.0, 5.0 / 3.0]);
    // Rows out of range and Fortran order are errors, not panics.
    assert!(be.read_row(2, &mut row).is_err());
    let e = NpyMmap::open(&fixture("f32_fortran.npy")).err().unwrap();
    assert!(e.to_string().contains("Fortran-order"), "{e}");
    let labels = Targets::Classes(Tensor::from_vec(vec![0i64; 5], &[5]));
    let e = NpyDataset::new(NpyMmap::open(&fixture("f32_c.npy")).unwrap(), labels)
        .err()
        .unwrap();
    assert!(
        e.to_string()
            .contains("holds 3 examples but there are 5 targets"),
        "{e}"
    );
}

#[test]
fn a_released_mapping_reads_the_same_rows() {
    // A limit of one row releases the pages after every read; the data must not change.
    let m = NpyMmap::open(&fixture("f32_c.npy"))
        .unwrap()
        .resident_limit(1);
    let mut row = [0.0f32; 4];
    for r in 0..3 {
        m.read_row(r, &mut row).unwrap();
        assert_eq!(row.to_vec(), x_values()[r * 4..r * 4 + 4].to_vec());
    }
}
