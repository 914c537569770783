//! Folders of images as a labelled dataset: `root/<class>/*.png|jpg|jpeg`, classes in
//! sorted order (as torchvision's `ImageFolder` and Keras'
//! `image_dataset_from_directory` number them), each image decoded on demand, resized to
//! a given size and returned as `[C, H, W]` f32 in `[0, 1]`.
//!
//! ```no_run
//! use graft::data::image_folder::{Channels, ImageFolder};
//! use graft::data::{materialize, BatchLoader};
//! use std::sync::Arc;
//!
//! let folder = ImageFolder::open("photos/train".as_ref(), (64, 64), Channels::Rgb)?;
//! println!("classes: {:?}", folder.classes());
//! // Decoded on 4 background threads as batches are needed...
//! let loader = BatchLoader::new(Arc::new(folder), 32).shuffled(0).workers(4, 2);
//! // ...or all at once, when it fits in memory:
//! // let data = materialize(&folder)?;
//! # Ok::<(), graft::data::DataError>(())
//! ```

use std::path::{Path, PathBuf};

use super::image_decode;
use super::sample::{SampleSource, Target};
use super::DataError;

/// How many channels the images are converted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channels {
    /// Grayscale, 1 channel.
    Gray,
    /// RGB, 3 channels (alpha dropped).
    Rgb,
}

/// A labelled dataset of image files, read lazily.
#[derive(Clone, Debug)]
pub struct ImageFolder {
    classes: Vec<String>,
    items: Vec<(PathBuf, i64)>,
    size: (usize, usize),
    shape: [usize; 3],
    channels: Channels,
}

/// True for the file names the reader takes (by extension, case-insensitive).
fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

/// The entries of `dir`, sorted by name.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let name = dir.display().to_string();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(&name, e))? {
        out.push(entry.map_err(|e| DataError::io(&name, e))?.path());
    }
    out.sort();
    Ok(out)
}

impl ImageFolder {
    /// Lists `root`'s class folders (sorted by name) and their PNG and JPEG files (sorted);
    /// images will be resized to `size` = `(height, width)`. Other files are ignored.
    /// Errors if `root` cannot be read, has no class folder, or holds no image at all.
    pub fn open(root: &Path, size: (usize, usize), channels: Channels) -> Result<Self, DataError> {
        let name = root.display().to_string();
        if size.0 == 0 || size.1 == 0 || size.0 > u32::MAX as usize || size.1 > u32::MAX as usize {
            return Err(DataError::invalid(
                &name,
                format!("cannot resize images to {size:?}"),
            ));
        }
        let (mut classes, mut items) = (Vec::new(), Vec::new());
        for dir in sorted_entries(root)?.into_iter().filter(|p| p.is_dir()) {
            let label = classes.len() as i64;
            classes.push(
                dir.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
            );
            for file in sorted_entries(&dir)?
                .into_iter()
                .filter(|p| p.is_file() && is_image(p))
            {
                items.push((file, label));
            }
        }
        if classes.is_empty() {
            return Err(DataError::invalid(
                &name,
                "no class folders (expected root/<class>/*.png|jpg)",
            ));
        }
        if items.is_empty() {
            return Err(DataError::invalid(
                &name,
                format!("no .png, .jpg or .jpeg files in the class folders {classes:?}"),
            ));
        }
        let c = match channels {
            Channels::Gray => 1,
            Channels::Rgb => 3,
        };
        Ok(ImageFolder {
            classes,
            items,
            size,
            shape: [c, size.0, size.1],
            channels,
        })
    }

    /// The class names, sorted; label `k` is `classes()[k]`.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The image files and their labels, in dataset order.
    pub fn items(&self) -> &[(PathBuf, i64)] {
        &self.items
    }
}

/// Decodes an image held in memory (PNG or JPEG, told apart by content; alpha dropped),
/// converts it to `channels` (gray by Rec. 709 luma), resizes it to `size` =
/// `(height, width)` (triangle filter, antialiased when shrinking, rounded to byte values)
/// and writes it into `out` as `[C, H, W]` f32 in `[0, 1]`; `file` names it in errors.
/// `out` must hold `C * H * W` elements.
pub fn decode_image(
    bytes: &[u8],
    file: &str,
    size: (usize, usize),
    channels: Channels,
    out: &mut [f32],
) -> Result<(), DataError> {
    let (h, w) = size;
    let c = match channels {
        Channels::Gray => 1,
        Channels::Rgb => 3,
    };
    if out.len() != c * h * w {
        return Err(DataError::invalid(
            file,
            format!(
                "a buffer of {} floats cannot hold a {c}x{h}x{w} image",
                out.len()
            ),
        ));
    }
    let pixels = image_decode::decode(bytes, file)?;
    let planes = image_decode::to_planes(&pixels, c);
    let resized = image_decode::resize(planes, c, (pixels.height, pixels.width), size);
    for (o, v) in out.iter_mut().zip(resized) {
        *o = v / 255.0;
    }
    Ok(())
}

impl SampleSource for ImageFolder {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn sample_shape(&self) -> &[usize] {
        &self.shape
    }

    fn read_input(&self, i: usize, out: &mut [f32]) -> Result<(), DataError> {
        let path = &self.items[i].0;
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| DataError::io(&file, e))?;
        decode_image(&bytes, &file, self.size, self.channels, out)
    }

    fn target(&self, i: usize) -> Result<Target, DataError> {
        Ok(Target::Class(self.items[i].1))
    }
}

impl crate::data::Dataset for ImageFolder {
    fn len(&self) -> usize {
        SampleSource::len(self)
    }

    /// Decodes the images at `indices` into one batch.
    fn try_batch(&self, indices: &[usize]) -> Result<crate::data::Batch, DataError> {
        crate::data::read_batch(self, indices, |_| ())
    }
}
