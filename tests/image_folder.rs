//! Image folders: classes in sorted order, PNG and JPEG decoded and resized to NCHW f32,
//! other files ignored, corrupt images an error naming the file, lazy loading through the
//! prefetching loader, and proptest fuzzing of the decoder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use graft::data::image_folder::{decode_image, Channels, ImageFolder};
use graft::data::{materialize, BatchLoader, SampleSource, Targets};
use image::{GrayImage, Luma, Rgb, RgbImage};
use proptest::prelude::*;

/// A scratch directory removed on drop (unique per test: tests run in parallel).
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("graft-imgfolder-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// root/zebra/a.png (gray 4x4 of value 200), root/ant/b.png (RGB 2x2 red),
/// root/ant/c.jpg (RGB 8x8 mid-gray), plus a README.txt to ignore.
fn make_tree(root: &Path) {
    for class in ["zebra", "ant"] {
        std::fs::create_dir_all(root.join(class)).unwrap();
    }
    GrayImage::from_pixel(4, 4, Luma([200]))
        .save(root.join("zebra/a.png"))
        .unwrap();
    RgbImage::from_pixel(2, 2, Rgb([255, 0, 0]))
        .save(root.join("ant/b.png"))
        .unwrap();
    RgbImage::from_pixel(8, 8, Rgb([128, 128, 128]))
        .save(root.join("ant/c.jpg"))
        .unwrap();
    std::fs::write(root.join("ant/README.txt"), "not an image").unwrap();
}

#[test]
fn classes_are_sorted_and_images_resized_to_nchw() {
    let dir = Scratch::new("sorted");
    make_tree(&dir.0);
    let folder = ImageFolder::open(&dir.0, (4, 4), Channels::Rgb).unwrap();
    assert_eq!(folder.classes(), &["ant".to_string(), "zebra".into()]);
    assert_eq!(folder.len(), 3);
    let data = materialize(&folder).unwrap();
    assert_eq!(data.inputs.shape(), &[3, 3, 4, 4]);
    match &data.targets {
        Targets::Classes(c) => assert_eq!(c.to_vec(), vec![0, 0, 1]),
        Targets::Values(_) => panic!("classes expected"),
    }
    let x = data.inputs.to_vec();
    // b.png: red, upsampled 2x2 -> 4x4 stays red in every pixel.
    assert!(x[..16].iter().all(|&v| v == 1.0));
    assert!(x[16..48].iter().all(|&v| v == 0.0));
    // c.jpg: mid-gray within JPEG's rounding.
    assert!(x[48..96]
        .iter()
        .all(|&v| (v - 128.0 / 255.0).abs() < 3.0 / 255.0));
    // a.png: gray 200 replicated over R, G and B.
    assert!(x[96..].iter().all(|&v| v == 200.0 / 255.0));
    let gray = ImageFolder::open(&dir.0, (2, 3), Channels::Gray).unwrap();
    assert_eq!(gray.sample_shape(), &[1, 2, 3]);
}

#[test]
fn the_loader_decodes_lazily_on_workers() {
    let dir = Scratch::new("lazy");
    make_tree(&dir.0);
    let folder = Arc::new(ImageFolder::open(&dir.0, (4, 4), Channels::Gray).unwrap());
    let all = materialize(&*folder).unwrap().inputs.to_vec();
    let loader = BatchLoader::new(Arc::clone(&folder), 2).workers(2, 1);
    let got: Vec<f32> = loader
        .epoch(0)
        .flat_map(|b| b.unwrap().float_inputs().to_vec())
        .collect();
    assert_eq!(got, all);
}

#[test]
fn bad_folders_and_files_are_errors_naming_them() {
    let dir = Scratch::new("bad");
    let e = ImageFolder::open(&dir.0, (4, 4), Channels::Gray).unwrap_err();
    assert!(e.to_string().contains("no class folders"), "{e}");
    std::fs::create_dir_all(dir.0.join("cat")).unwrap();
    let e = ImageFolder::open(&dir.0, (4, 4), Channels::Gray).unwrap_err();
    assert!(
        e.to_string().contains("no .png, .jpg or .jpeg files"),
        "{e}"
    );
    let broken = dir.0.join("cat/broken.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\nthis is not a png").unwrap();
    let folder = ImageFolder::open(&dir.0, (4, 4), Channels::Gray).unwrap();
    let e = materialize(&folder).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: cannot decode", broken.display())),
        "{e}"
    );
    let e = ImageFolder::open(&dir.0.join("missing"), (4, 4), Channels::Gray).unwrap_err();
    assert!(e.to_string().contains("cannot read"), "{e}");
}

fn png_bytes() -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    RgbImage::from_fn(5, 3, |x, y| Rgb([x as u8 * 40, y as u8 * 80, 7]))
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_and_truncated_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        mask in 1..=255u8,
    ) {
        let mut out = vec![0.0f32; 3 * 4 * 4];
        let _ = decode_image(&bytes, "random", (4, 4), Channels::Rgb, &mut out);
        let png = png_bytes();
        // Cut before the 12-byte IEND chunk: a decoder may stop once it has the pixels.
        let k = cut.index(png.len() - 12);
        prop_assert!(decode_image(&png[..k], "cut.png", (4, 4), Channels::Rgb, &mut out).is_err());
        let mut flipped = png.clone();
        flipped[at.index(png.len())] ^= mask;
        let _ = decode_image(&flipped, "flip.png", (4, 4), Channels::Rgb, &mut out);
    }
}
