//! PNG and JPEG decoding to 8-bit pixels, channel conversion and resizing, for
//! [`ImageFolder`](super::image_folder::ImageFolder).
//!
//! The decoders are the `png` and `zune-jpeg` crates, used directly: the `image` crate
//! wraps the same two decoders but adds colour management and codecs graft does not use,
//! which cost 19 s of CPU in every first build. Resizing is written here: a separable
//! triangle (bilinear) filter whose support widens with the scale factor when shrinking,
//! so a downscaled image is an average of its area rather than an aliased sample.

use std::io::Cursor;

use super::DataError;

/// Decoded pixels: `height` rows of `width` pixels of `channels` (1 or 3) interleaved bytes.
pub(crate) struct Pixels {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) channels: usize,
    pub(crate) data: Vec<u8>,
}

/// Decodes a PNG or JPEG held in memory (told apart by its signature); alpha is dropped.
/// `file` names the image in errors.
pub(crate) fn decode(bytes: &[u8], file: &str) -> Result<Pixels, DataError> {
    let pixels = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        decode_png(bytes, file)?
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        decode_jpeg(bytes, file)?
    } else {
        return Err(DataError::invalid(file, "not a PNG or JPEG image"));
    };
    if pixels.width == 0 || pixels.height == 0 {
        return Err(cannot_decode(file, "the image has no pixels"));
    }
    Ok(pixels)
}

fn cannot_decode(file: &str, e: impl std::fmt::Display) -> DataError {
    DataError::invalid(file, format!("cannot decode: {e}"))
}

fn decode_png(bytes: &[u8], file: &str) -> Result<Pixels, DataError> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    // Palette and low bit depths expand to 8-bit gray or RGB(A); 16-bit samples keep
    // their high byte.
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| cannot_decode(file, e))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| cannot_decode(file, "the image is too large"))?;
    let mut buf = vec![0u8; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| cannot_decode(file, e))?;
    let (width, height) = (info.width as usize, info.height as usize);
    let stored = info.color_type.samples();
    if info.bit_depth != png::BitDepth::Eight || !(1..=4).contains(&stored) {
        return Err(cannot_decode(
            file,
            format!(
                "unexpected {:?} at {:?} after expansion",
                info.color_type, info.bit_depth
            ),
        ));
    }
    // Gray(+alpha) keeps one channel, RGB(+alpha) three.
    let channels = if stored <= 2 { 1 } else { 3 };
    let rows = &buf[..info.line_size * height];
    let mut data = Vec::with_capacity(width * height * channels);
    for row in rows.chunks_exact(info.line_size) {
        for px in row[..width * stored].chunks_exact(stored) {
            data.extend_from_slice(&px[..channels]);
        }
    }
    Ok(Pixels {
        width,
        height,
        channels,
        data,
    })
}

fn decode_jpeg(bytes: &[u8], file: &str) -> Result<Pixels, DataError> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder
        .decode_headers()
        .map_err(|e| cannot_decode(file, format!("{e:?}")))?;
    let info = decoder
        .info()
        .ok_or_else(|| cannot_decode(file, "no frame header"))?;
    let (width, height) = (usize::from(info.width), usize::from(info.height));
    let size = decoder
        .output_buffer_size()
        .ok_or_else(|| cannot_decode(file, "the image is too large"))?;
    if size != width * height * 3 {
        return Err(cannot_decode(file, "unexpected output size"));
    }
    let mut data = vec![0u8; size];
    decoder
        .decode_into(&mut data)
        .map_err(|e| cannot_decode(file, format!("{e:?}")))?;
    Ok(Pixels {
        width,
        height,
        channels: 3,
        data,
    })
}

/// The pixels as `out_channels` (1 or 3) planes of `f32` byte values (0 to 255):
/// gray is replicated to RGB; RGB becomes gray by the Rec. 709 luma weights.
pub(crate) fn to_planes(p: &Pixels, out_channels: usize) -> Vec<f32> {
    let plane = p.width * p.height;
    let mut out = vec![0.0f32; out_channels * plane];
    for (k, px) in p.data.chunks_exact(p.channels).enumerate() {
        match (p.channels, out_channels) {
            (1, _) => (0..out_channels).for_each(|c| out[c * plane + k] = f32::from(px[0])),
            (_, 1) => {
                let [r, g, b] = [px[0], px[1], px[2]].map(f32::from);
                out[k] = 0.2126 * r + 0.7152 * g + 0.0722 * b;
            }
            _ => (0..3).for_each(|c| out[c * plane + k] = f32::from(px[c])),
        }
    }
    out
}

/// For each output position of a `from`-long axis resized to `to`: the first source index
/// and the normalised weights of the triangle filter over the source samples from it.
fn axis_weights(from: usize, to: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = from as f64 / to as f64;
    // Shrinking widens the filter to cover each output pixel's whole footprint.
    let support = scale.max(1.0);
    (0..to)
        .map(|o| {
            let center = (o as f64 + 0.5) * scale;
            let first = ((center - support).floor().max(0.0)) as usize;
            let last = ((center + support).ceil() as usize).min(from);
            let mut weights: Vec<f32> = (first..last)
                .map(|i| (1.0 - ((i as f64 + 0.5 - center) / support).abs()).max(0.0) as f32)
                .collect();
            let total: f32 = weights.iter().sum();
            if total > 0.0 {
                weights.iter_mut().for_each(|w| *w /= total);
            } else {
                // A footprint between two samples' supports: take the nearest.
                weights = vec![1.0];
                return ((center.floor() as usize).min(from - 1), weights);
            }
            (first, weights)
        })
        .collect()
}

/// Resizes `channels` planes of `h` x `w` to `nh` x `nw` (rows first, then columns), rounding
/// each result to a whole byte value as an 8-bit image would hold it.
pub(crate) fn resize(
    planes: Vec<f32>,
    channels: usize,
    (h, w): (usize, usize),
    (nh, nw): (usize, usize),
) -> Vec<f32> {
    if (h, w) == (nh, nw) {
        return planes;
    }
    let cols = axis_weights(w, nw);
    let rows = axis_weights(h, nh);
    let mut out = vec![0.0f32; channels * nh * nw];
    let mut wide = vec![0.0f32; h * nw];
    for c in 0..channels {
        let src = &planes[c * h * w..(c + 1) * h * w];
        for y in 0..h {
            for (x, (first, ws)) in cols.iter().enumerate() {
                let row = &src[y * w + first..];
                wide[y * nw + x] = ws.iter().zip(row).map(|(a, b)| a * b).sum();
            }
        }
        let dst = &mut out[c * nh * nw..(c + 1) * nh * nw];
        for (y, (first, ws)) in rows.iter().enumerate() {
            for x in 0..nw {
                let v: f32 = ws
                    .iter()
                    .enumerate()
                    .map(|(i, a)| a * wide[(first + i) * nw + x])
                    .sum();
                dst[y * nw + x] = v.round().clamp(0.0, 255.0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_normalised_and_cover_the_footprint() {
        for (from, to) in [(2, 4), (4, 2), (5, 3), (7, 7), (1, 5), (9, 1)] {
            for (first, ws) in axis_weights(from, to) {
                let total: f32 = ws.iter().sum();
                assert!((total - 1.0).abs() < 1e-6, "{from}->{to}: {ws:?}");
                assert!(first + ws.len() <= from);
            }
        }
    }

    #[test]
    fn halving_averages_pairs_and_constants_stay_exact() {
        // A 1x4 row [0, 100, 200, 250] halved: each output averages its two-pixel footprint
        // with its neighbours at smaller weight.
        let row = [0.0, 100.0, 200.0, 250.0];
        let half = resize(row.to_vec(), 1, (1, 4), (1, 2));
        assert!(
            half[0] < half[1] && half[0] > 0.0 && half[1] < 250.0,
            "{half:?}"
        );
        let flat = resize(vec![37.0; 6], 1, (2, 3), (5, 4));
        assert!(flat.iter().all(|&v| v == 37.0));
    }
}
