//! Per-example transforms for data augmentation, applied by the loader to each input as it
//! is read: normalize, random crop with padding, random horizontal flip, random rotation,
//! and their composition.
//!
//! Inputs are `[C, H, W]` (or `[H, W]`, one channel). Every transform keeps the shape.
//! Randomness comes from the RNG the loader passes in, seeded from the loader's seed, the
//! epoch and the batch, so a run is reproducible and independent of the worker count.
//!
//! ```
//! use graft::data::transform::{Compose, RandomCrop, RandomHorizontalFlip, Transform};
//! use rand::SeedableRng;
//!
//! let augment = Compose::new()
//!     .then(RandomCrop::new(2))
//!     .then(RandomHorizontalFlip::new(0.5));
//! let mut image = vec![0.5f32; 28 * 28];
//! augment.apply(&mut image, &[1, 28, 28], &mut rand::rngs::StdRng::seed_from_u64(0));
//! ```

use rand::rngs::StdRng;
use rand::Rng;

/// A change to one example's input, in place; `shape` is `[C, H, W]` or `[H, W]`.
pub trait Transform: Send + Sync {
    /// Transforms `x` (of `shape`), drawing any randomness from `rng`.
    fn apply(&self, x: &mut [f32], shape: &[usize], rng: &mut StdRng);
}

/// `(channels, height, width)` of an input shape (`[H, W]` is one channel).
fn chw(shape: &[usize]) -> (usize, usize, usize) {
    match shape {
        [h, w] => (1, *h, *w),
        [c, h, w] => (*c, *h, *w),
        // Anything else is treated as a flat single-channel row (only Normalize uses it).
        _ => (1, 1, shape.iter().product()),
    }
}

/// Transforms applied one after another.
#[derive(Default)]
pub struct Compose {
    steps: Vec<Box<dyn Transform>>,
}

impl Compose {
    /// No transforms yet (the identity).
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a transform.
    pub fn then(mut self, t: impl Transform + 'static) -> Self {
        self.steps.push(Box::new(t));
        self
    }
}

impl Transform for Compose {
    fn apply(&self, x: &mut [f32], shape: &[usize], rng: &mut StdRng) {
        for t in &self.steps {
            t.apply(x, shape, rng);
        }
    }
}

/// `(x - mean[c]) / std[c]` per channel; one value applies to every channel.
pub struct Normalize {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Normalize {
    /// Per-channel (or single) means and standard deviations.
    pub fn new(mean: &[f32], std: &[f32]) -> Self {
        Normalize {
            mean: mean.to_vec(),
            std: std.to_vec(),
        }
    }
}

impl Transform for Normalize {
    fn apply(&self, x: &mut [f32], shape: &[usize], _rng: &mut StdRng) {
        let (c, h, w) = chw(shape);
        let pick = |v: &[f32], k: usize| v.get(k).or(v.first()).copied().unwrap_or(0.0);
        for (k, plane) in x.chunks_mut((h * w).max(1)).take(c).enumerate() {
            let (m, s) = (pick(&self.mean, k), pick(&self.std, k));
            plane.iter_mut().for_each(|v| *v = (*v - m) / s);
        }
    }
}

/// Pads each side by `padding` zeros and crops back to the original size at a random
/// offset: a random shift of up to `padding` pixels in each direction (torchvision's
/// `RandomCrop(size, padding)` with `size` the input's size).
pub struct RandomCrop {
    padding: usize,
}

impl RandomCrop {
    /// Shifts of up to `padding` pixels.
    pub fn new(padding: usize) -> Self {
        RandomCrop { padding }
    }
}

/// Shifts every channel by `(dy, dx)`: output `(i, j)` is input `(i + dy, j + dx)`, zero
/// outside the image.
pub fn shift(x: &mut [f32], shape: &[usize], dy: isize, dx: isize) {
    let (c, h, w) = chw(shape);
    let src = x.to_vec();
    for k in 0..c {
        let base = k * h * w;
        for i in 0..h {
            for j in 0..w {
                let (si, sj) = (i as isize + dy, j as isize + dx);
                let inside = si >= 0 && sj >= 0 && (si as usize) < h && (sj as usize) < w;
                x[base + i * w + j] = if inside {
                    src[base + si as usize * w + sj as usize]
                } else {
                    0.0
                };
            }
        }
    }
}

impl Transform for RandomCrop {
    fn apply(&self, x: &mut [f32], shape: &[usize], rng: &mut StdRng) {
        let p = self.padding as isize;
        // Cropping the padded image at (top, left) shows input row top - p first.
        let dy = rng.gen_range(-p..=p);
        let dx = rng.gen_range(-p..=p);
        if dy != 0 || dx != 0 {
            shift(x, shape, dy, dx);
        }
    }
}

/// Mirrors left-right with probability `p`.
pub struct RandomHorizontalFlip {
    p: f64,
}

impl RandomHorizontalFlip {
    /// Flips with probability `p` (torchvision's default is 0.5).
    pub fn new(p: f64) -> Self {
        RandomHorizontalFlip { p }
    }
}

/// Mirrors every row of every channel.
pub fn flip_horizontal(x: &mut [f32], shape: &[usize]) {
    let (_, _, w) = chw(shape);
    x.chunks_mut(w.max(1)).for_each(|row| row.reverse());
}

impl Transform for RandomHorizontalFlip {
    fn apply(&self, x: &mut [f32], shape: &[usize], rng: &mut StdRng) {
        if rng.gen_bool(self.p.clamp(0.0, 1.0)) {
            flip_horizontal(x, shape);
        }
    }
}

/// Rotates about the image centre by an angle drawn uniformly from
/// `[-max_degrees, max_degrees]`, bilinear, zero outside the image.
pub struct RandomRotation {
    max_degrees: f32,
}

impl RandomRotation {
    /// Angles up to `max_degrees` either way.
    pub fn new(max_degrees: f32) -> Self {
        RandomRotation {
            max_degrees: max_degrees.abs(),
        }
    }
}

/// Rotates every channel counter-clockwise (as displayed, rows downwards) by `degrees`
/// about the centre, sampling the input bilinearly with zeros outside it.
pub fn rotate(x: &mut [f32], shape: &[usize], degrees: f32) {
    let (c, h, w) = chw(shape);
    let src = x.to_vec();
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cy, cx) = ((h as f32 - 1.0) / 2.0, (w as f32 - 1.0) / 2.0);
    let at = |base: usize, i: isize, j: isize| {
        if i < 0 || j < 0 || i as usize >= h || j as usize >= w {
            0.0
        } else {
            src[base + i as usize * w + j as usize]
        }
    };
    for k in 0..c {
        let base = k * h * w;
        for i in 0..h {
            for j in 0..w {
                // The output pixel shows the input at the inverse rotation of its position.
                let (y, xx) = (i as f32 - cy, j as f32 - cx);
                let sy = cos * y - sin * xx + cy;
                let sx = sin * y + cos * xx + cx;
                let (y0, x0) = (sy.floor(), sx.floor());
                let (fy, fx) = (sy - y0, sx - x0);
                let (y0, x0) = (y0 as isize, x0 as isize);
                x[base + i * w + j] = (1.0 - fy) * (1.0 - fx) * at(base, y0, x0)
                    + (1.0 - fy) * fx * at(base, y0, x0 + 1)
                    + fy * (1.0 - fx) * at(base, y0 + 1, x0)
                    + fy * fx * at(base, y0 + 1, x0 + 1);
            }
        }
    }
}

impl Transform for RandomRotation {
    fn apply(&self, x: &mut [f32], shape: &[usize], rng: &mut StdRng) {
        if self.max_degrees > 0.0 {
            let a = rng.gen_range(-self.max_degrees..=self.max_degrees);
            rotate(x, shape, a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// A 2-channel 3x4 image whose values are their own flat index.
    fn image() -> (Vec<f32>, [usize; 3]) {
        ((0..24).map(|v| v as f32).collect(), [2, 3, 4])
    }

    #[test]
    fn shift_matches_a_naive_padded_crop() {
        let (x, shape) = image();
        for (dy, dx) in [(0, 0), (1, 0), (-1, 2), (2, -3), (3, 0)] {
            let mut y = x.clone();
            shift(&mut y, &shape, dy, dx);
            // Pad by 3 then crop at (3 + dy, 3 + dx).
            let (p, hp, wp) = (3isize, 9usize, 10usize);
            let mut padded = vec![0.0; 2 * hp * wp];
            for c in 0..2 {
                for i in 0..3 {
                    for j in 0..4 {
                        padded[c * hp * wp + (i + 3) * wp + j + 3] = x[c * 12 + i * 4 + j];
                    }
                }
            }
            let mut crop = Vec::new();
            for c in 0..2 {
                for i in 0..3 {
                    for j in 0..4 {
                        let (pi, pj) = ((p + dy) as usize + i, (p + dx) as usize + j);
                        crop.push(padded[c * hp * wp + pi * wp + pj]);
                    }
                }
            }
            assert_eq!(y, crop, "shift {dy} {dx}");
        }
    }

    #[test]
    fn flip_mirrors_rows_and_twice_is_the_identity() {
        let (x, shape) = image();
        let mut y = x.clone();
        flip_horizontal(&mut y, &shape);
        assert_eq!(&y[..4], &[3.0, 2.0, 1.0, 0.0]);
        assert_eq!(&y[20..], &[23.0, 22.0, 21.0, 20.0]);
        flip_horizontal(&mut y, &shape);
        assert_eq!(y, x);
    }

    #[test]
    fn rotation_by_zero_is_the_identity_and_by_90_transposes() {
        let (x, shape) = image();
        let mut y = x.clone();
        rotate(&mut y, &shape, 0.0);
        assert_eq!(y, x);
        // On a square image a quarter turn moves pixels exactly: output (i, j) shows
        // input (n-1-j, i) for this direction of rotation.
        let sq: Vec<f32> = (0..9).map(|v| v as f32).collect();
        let mut r = sq.clone();
        rotate(&mut r, &[3, 3], 90.0);
        for i in 0..3 {
            for j in 0..3 {
                let want = sq[(2 - j) * 3 + i];
                assert!((r[i * 3 + j] - want).abs() < 1e-4, "({i},{j}) {r:?}");
            }
        }
    }

    #[test]
    fn normalize_is_per_channel() {
        let (mut x, shape) = image();
        Normalize::new(&[1.0, 13.0], &[2.0, 4.0]).apply(
            &mut x,
            &shape,
            &mut StdRng::seed_from_u64(0),
        );
        assert_eq!(x[0], -0.5);
        assert_eq!(x[12], -0.25);
        assert_eq!(x[23], 2.5);
    }

    #[test]
    fn random_transforms_are_seeded_and_keep_pixel_sets_plausible() {
        let (x, shape) = image();
        let t = Compose::new()
            .then(RandomCrop::new(1))
            .then(RandomHorizontalFlip::new(0.5))
            .then(RandomRotation::new(10.0));
        let run = |seed| {
            let mut y = x.clone();
            t.apply(&mut y, &shape, &mut StdRng::seed_from_u64(seed));
            y
        };
        assert_eq!(run(3), run(3));
        assert!((0..20).any(|s| run(s) != run(3)));
        // Bilinear sampling and zero fill never leave the input's range.
        for s in 0..20 {
            assert!(run(s).iter().all(|&v| (0.0..=23.0).contains(&v)));
        }
    }
}
