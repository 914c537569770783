//! Image folders: classes in sorted order, PNG and JPEG decoded and resized to NCHW f32,
//! other files ignored, corrupt images an error naming the file, lazy loading through the
//! prefetching loader, and proptest fuzzing of the decoder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use graft::data::image_folder::{decode_image, Channels, ImageFolder};
use graft::data::{materialize, BatchLoader, SampleSource, Targets};
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

/// Encodes `data` (`w` x `h` pixels of `color`, 8 bits per sample unless `depth` says
/// otherwise) as a PNG.
fn png_of(w: u32, h: u32, color: png::ColorType, depth: png::BitDepth, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(color);
        encoder.set_depth(depth);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(data).unwrap();
    }
    out
}

/// A JPEG of 8x8 pixels of RGB (128, 128, 128), written by the `image` crate 0.25 at its
/// default quality (generated once for these tests; see tests/data/images/README.md).
const MID_GRAY_JPEG: &[u8] = include_bytes!("data/images/mid_gray_8x8.jpg");

/// root/zebra/a.png (gray 4x4 of value 200), root/ant/b.png (RGB 2x2 red),
/// root/ant/c.jpg (RGB 8x8 mid-gray), plus a README.txt to ignore.
fn make_tree(root: &Path) {
    for class in ["zebra", "ant"] {
        std::fs::create_dir_all(root.join(class)).unwrap();
    }
    let eight = png::BitDepth::Eight;
    let gray = png_of(4, 4, png::ColorType::Grayscale, eight, &[200; 16]);
    std::fs::write(root.join("zebra/a.png"), gray).unwrap();
    let red = png_of(2, 2, png::ColorType::Rgb, eight, &[255, 0, 0].repeat(4));
    std::fs::write(root.join("ant/b.png"), red).unwrap();
    std::fs::write(root.join("ant/c.jpg"), MID_GRAY_JPEG).unwrap();
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
    let data: Vec<u8> = (0..3u8)
        .flat_map(|y| (0..5u8).flat_map(move |x| [x * 40, y * 80, 7]))
        .collect();
    png_of(5, 3, png::ColorType::Rgb, png::BitDepth::Eight, &data)
}

fn decoded(bytes: &[u8], size: (usize, usize), channels: Channels) -> Vec<f32> {
    let c = if channels == Channels::Gray { 1 } else { 3 };
    let mut out = vec![f32::NAN; c * size.0 * size.1];
    decode_image(bytes, "test.png", size, channels, &mut out).unwrap();
    out
}

#[test]
fn png_colour_types_and_depths_decode_to_the_same_pixels() {
    let eight = png::BitDepth::Eight;
    // One pixel (10, 20, 30) with alpha 99: alpha is dropped.
    let rgba = png_of(1, 1, png::ColorType::Rgba, eight, &[10, 20, 30, 99]);
    assert_eq!(
        decoded(&rgba, (1, 1), Channels::Rgb),
        [10.0, 20.0, 30.0].map(|v| v / 255.0)
    );
    // 16-bit gray keeps the high byte; gray+alpha drops the alpha.
    let gray16 = png_of(
        1,
        1,
        png::ColorType::Grayscale,
        png::BitDepth::Sixteen,
        &[77, 200],
    );
    assert_eq!(decoded(&gray16, (1, 1), Channels::Gray), [77.0 / 255.0]);
    let gray_alpha = png_of(1, 1, png::ColorType::GrayscaleAlpha, eight, &[66, 0]);
    assert_eq!(
        decoded(&gray_alpha, (1, 1), Channels::Rgb),
        [66.0 / 255.0; 3]
    );
    // RGB to gray is the Rec. 709 luma.
    let rgb = png_of(1, 1, png::ColorType::Rgb, eight, &[100, 150, 200]);
    let luma = 0.2126f32 * 100.0 + 0.7152 * 150.0 + 0.0722 * 200.0;
    assert!((decoded(&rgb, (1, 1), Channels::Gray)[0] - luma / 255.0).abs() < 1e-6);
}

#[test]
fn resizing_interpolates_up_and_averages_down() {
    let eight = png::BitDepth::Eight;
    // Columns 0 and 255 stretched to 4 wide: a monotone ramp between the two.
    let two = png_of(2, 1, png::ColorType::Grayscale, eight, &[0, 255]);
    let up = decoded(&two, (1, 4), Channels::Gray);
    assert!(up.windows(2).all(|p| p[0] <= p[1]), "{up:?}");
    assert_eq!((up[0], up[3]), (0.0, 1.0));
    assert!(up[1] > 0.0 && up[2] < 1.0);
    // Stripes of 0 and 255 halved: every output averages both (sampling one would alias).
    let stripes: Vec<u8> = (0..8).map(|i| if i % 2 == 0 { 0 } else { 255 }).collect();
    let striped = png_of(8, 1, png::ColorType::Grayscale, eight, &stripes);
    let down = decoded(&striped, (1, 4), Channels::Gray);
    assert!(down.iter().all(|&v| v > 0.3 && v < 0.7), "{down:?}");
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
