//! Memory-mapped `.npy` arrays, and a dataset of them: examples are read from the file
//! on demand, so an array larger than memory is a dataset without loading it.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use memmap2::{Mmap, UncheckedAdvice};

use super::array::decode_f32_into;
use super::header::{parse_header, Header};
use super::NpyArray;
use crate::data::dataset::Targets;
use crate::data::dataset_trait::{Batch, Dataset};
use crate::data::sample::{read_batch, SampleSource, Target};
use crate::data::DataError;

/// The most a single page fault can map besides the page itself (Linux's default
/// `fault_around_bytes`), on each side, counted against the resident limit.
const FAULT_AROUND: usize = 2 * 64 * 1024;

/// A `.npy` file mapped into memory: its header is parsed and checked against the file's
/// length when opened; rows along the first dimension are then decoded on demand.
pub struct NpyMmap {
    map: Mmap,
    header: Header,
    file: String,
    /// Elements in one row (the product of all dimensions but the first).
    row_len: usize,
    /// When set: after this many bytes have been read, the mapping's resident pages are
    /// released (see [`NpyMmap::resident_limit`]).
    limit: Option<usize>,
    /// Bytes read since the last release.
    touched: AtomicUsize,
}

impl NpyMmap {
    /// Maps the file at `path`. Errors if it is not a C-order `.npy` array of at least one
    /// dimension whose data fills the rest of the file exactly.
    pub fn open(path: &Path) -> Result<NpyMmap, DataError> {
        let file = path.display().to_string();
        let f = File::open(path).map_err(|e| DataError::io(&file, e))?;
        // SAFETY: the mapping is read-only. If another process truncates or rewrites the
        // file while it is mapped, reads may see the new bytes or fault (SIGBUS); that is
        // the documented contract of memory-mapped datasets in every framework (NumPy's
        // memmap included), and nothing here hands out references that outlive a read.
        let map = unsafe { Mmap::map(&f) }.map_err(|e| DataError::io(&file, e))?;
        let header = parse_header(&map, &file)?;
        if header.shape.is_empty() {
            return Err(DataError::invalid(
                &file,
                "a 0-d array has no rows to serve as examples",
            ));
        }
        if header.fortran_order && header.shape.len() > 1 {
            return Err(DataError::invalid(
                &file,
                "Fortran-order arrays cannot be memory-mapped by rows: their rows are not contiguous (load it with NpyArray::read, or save it in C order)",
            ));
        }
        let expected = header.data_len().unwrap_or(usize::MAX);
        let found = map.len() - header.data_offset;
        if found != expected {
            return Err(DataError::invalid(
                &file,
                format!(
                    "shape {:?} of {} needs {expected} data bytes after the header at offset {}, the file has {found}",
                    header.shape,
                    header.dtype.code(),
                    header.data_offset
                ),
            ));
        }
        let row_len = header.shape[1..].iter().product();
        Ok(NpyMmap {
            map,
            header,
            file,
            row_len,
            limit: None,
            touched: AtomicUsize::new(0),
        })
    }

    /// Caps how much of the file stays resident in this process: once reads may have
    /// brought in `bytes` bytes (each read counted with the pages the kernel maps around
    /// a fault), the mapped pages are released (`madvise(MADV_DONTNEED)`), so they leave
    /// the process's resident set and later reads fault them back in from the page cache.
    /// Without it a pass over a large file leaves all of it counted as resident.
    pub fn resident_limit(mut self, bytes: usize) -> Self {
        self.limit = Some(bytes.max(1));
        self
    }

    /// The array's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Rows (the first dimension).
    pub fn rows(&self) -> usize {
        self.header.shape[0]
    }

    /// Elements per row.
    pub fn row_len(&self) -> usize {
        self.row_len
    }

    /// The file, as errors name it.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Decodes row `i` into `out` as f32; errors if `i` or `out`'s length is wrong.
    pub fn read_row(&self, i: usize, out: &mut [f32]) -> Result<(), DataError> {
        if i >= self.rows() || out.len() != self.row_len {
            return Err(DataError::invalid(
                &self.file,
                format!(
                    "row {i} into a buffer of {}: the array has {} rows of {} elements",
                    out.len(),
                    self.rows(),
                    self.row_len
                ),
            ));
        }
        let data = &self.map[self.header.data_offset..];
        let (dtype, big) = (self.header.dtype, self.header.big_endian);
        decode_f32_into(data, dtype, big, i * self.row_len, out);
        if let Some(limit) = self.limit {
            // A page fault maps the neighbouring cached pages too (Linux's fault-around,
            // 64 KiB by default), so under random access each read can add that much to
            // the resident set, far more than the row itself: charge it.
            let bytes = self.row_len * dtype.size() + FAULT_AROUND;
            if self.touched.fetch_add(bytes, Ordering::Relaxed) + bytes >= limit {
                self.touched.store(0, Ordering::Relaxed);
                // SAFETY: the mapping is read-only and file-backed, so MADV_DONTNEED only
                // drops this process's page-table entries: a later access (also one racing
                // on another thread) reads the same bytes back from the page cache. The
                // advice only fails for invalid arguments, which a whole live mapping is not.
                let _ = unsafe { self.map.unchecked_advise(UncheckedAdvice::DontNeed) };
            }
        }
        Ok(())
    }

    /// Reads the whole array into memory.
    pub fn load(&self) -> NpyArray {
        NpyArray {
            header: self.header.clone(),
            data: self.map[self.header.data_offset..].to_vec(),
        }
    }
}

/// A dataset of a memory-mapped inputs array `[N, ...]` (any supported element type, read
/// as f32 and divided by `divisor`) and targets held in memory.
pub struct NpyDataset {
    inputs: NpyMmap,
    targets: Targets,
    sample_shape: Vec<usize>,
    target_shape: Vec<usize>,
    divisor: f32,
}

impl NpyDataset {
    /// Pairs mapped inputs with targets; errors if their example counts differ.
    pub fn new(inputs: NpyMmap, targets: Targets) -> Result<NpyDataset, DataError> {
        if inputs.rows() != targets.len() {
            return Err(DataError::invalid(
                inputs.file(),
                format!(
                    "holds {} examples but there are {} targets",
                    inputs.rows(),
                    targets.len()
                ),
            ));
        }
        let target_shape = match &targets {
            Targets::Values(t) => t.shape()[1..].to_vec(),
            Targets::Classes(_) => Vec::new(),
        };
        Ok(NpyDataset {
            sample_shape: inputs.header().shape[1..].to_vec(),
            inputs,
            targets,
            target_shape,
            divisor: 1.0,
        })
    }

    /// Maps `inputs` and reads class labels from the `.npy` file `labels` (integers).
    pub fn open_classes(inputs: &Path, labels: &Path) -> Result<NpyDataset, DataError> {
        let labels = NpyArray::read(labels)?.to_i64();
        let n = labels.numel();
        Self::new(
            NpyMmap::open(inputs)?,
            Targets::Classes(labels.reshape(&[n])),
        )
    }

    /// Divides every input element by `divisor` as it is read (255 for u8 pixels, which
    /// gives exactly [`scale_u8`](crate::data::scale_u8)'s values).
    pub fn divide(mut self, divisor: f32) -> Self {
        self.divisor = divisor;
        self
    }

    /// Views each input with another shape of the same size (e.g. `[784]` as
    /// `[1, 28, 28]`).
    pub fn reshape(mut self, shape: &[usize]) -> Result<Self, DataError> {
        if shape.iter().product::<usize>() != self.inputs.row_len() {
            return Err(DataError::invalid(
                self.inputs.file(),
                format!(
                    "rows of {} elements cannot be viewed as {shape:?}",
                    self.inputs.row_len()
                ),
            ));
        }
        self.sample_shape = shape.to_vec();
        Ok(self)
    }

    /// The mapped inputs.
    pub fn inputs(&self) -> &NpyMmap {
        &self.inputs
    }
}

impl SampleSource for NpyDataset {
    fn len(&self) -> usize {
        self.targets.len()
    }

    fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    fn target_shape(&self) -> &[usize] {
        &self.target_shape
    }

    fn read_input(&self, i: usize, out: &mut [f32]) -> Result<(), DataError> {
        self.inputs.read_row(i, out)?;
        if self.divisor != 1.0 {
            out.iter_mut().for_each(|x| *x /= self.divisor);
        }
        Ok(())
    }

    fn target(&self, i: usize) -> Result<Target, DataError> {
        Ok(match &self.targets {
            Targets::Classes(t) => Target::Class(t.narrow(0, i, 1).to_vec()[0]),
            Targets::Values(t) => Target::Values(t.narrow(0, i, 1).to_vec()),
        })
    }
}

impl Dataset for NpyDataset {
    fn len(&self) -> usize {
        self.targets.len()
    }

    /// Gathers the rows at `indices`, read from the mapped file.
    fn try_batch(&self, indices: &[usize]) -> Result<Batch, DataError> {
        read_batch(self, indices, |_| ())
    }
}
