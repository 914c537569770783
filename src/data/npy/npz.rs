//! `.npz` archives (NumPy's `savez` / `savez_compressed`): a zip file of `.npy` members,
//! each stored or deflated.
//!
//! A small zip reader of our own on top of flate2 (already a dependency) rather than the
//! `zip` crate: an `.npz` needs only the central directory, the stored and deflate methods
//! and the ZIP64 size fields NumPy writes, and the `zip` crate would add a dozen crates to
//! every user's first build.

use std::fs;
use std::io::Read;
use std::path::Path;

use flate2::read::DeflateDecoder;
use flate2::Crc;

use super::NpyArray;
use crate::data::DataError;

/// Signature of the end-of-central-directory record.
const EOCD_SIG: u32 = 0x0605_4b50;
/// Signature of a central directory entry.
const CENTRAL_SIG: u32 = 0x0201_4b50;
/// Signature of a local file header.
const LOCAL_SIG: u32 = 0x0403_4b50;
/// The end record is 22 bytes plus a comment of at most 65535.
const EOCD_MAX_SEARCH: usize = 22 + 65_535;

/// The arrays of an `.npz` archive, in archive order, named as NumPy names them (the
/// member name without `.npy`).
#[derive(Clone, Debug, PartialEq)]
pub struct Npz {
    /// `(name, array)` pairs.
    pub arrays: Vec<(String, NpyArray)>,
}

impl Npz {
    /// Reads an `.npz` file.
    pub fn read(path: &Path) -> Result<Npz, DataError> {
        let file = path.display().to_string();
        let bytes = fs::read(path).map_err(|e| DataError::io(&file, e))?;
        Self::parse(&bytes, &file)
    }

    /// Parses an `.npz` archive held in memory; `file` names it in errors.
    pub fn parse(bytes: &[u8], file: &str) -> Result<Npz, DataError> {
        let bad = |reason: String| DataError::invalid(file, reason);
        let eocd = find_eocd(bytes)
            .ok_or_else(|| bad("not a zip archive: no end-of-central-directory record".into()))?;
        let entries = u16_at(bytes, eocd + 10).unwrap_or(0) as usize;
        let cd_offset = u32_at(bytes, eocd + 16).unwrap_or(0);
        if cd_offset == u32::MAX || entries == u16::MAX as usize {
            return Err(bad(
                "ZIP64 archives (over 65535 members or 4 GiB) are not supported".into(),
            ));
        }
        let mut at = cd_offset as usize;
        let mut arrays = Vec::with_capacity(entries.min(1024));
        for k in 0..entries {
            let entry = central_entry(bytes, at)
                .map_err(|e| bad(format!("central directory entry {k} at offset {at}: {e}")))?;
            at = entry.next;
            let member = format!("{file}:{}", entry.name);
            let data = member_data(bytes, &entry).map_err(|e| DataError::invalid(&member, e))?;
            let array = NpyArray::parse(&data, &member)?;
            let name = entry
                .name
                .strip_suffix(".npy")
                .unwrap_or(&entry.name)
                .to_string();
            arrays.push((name, array));
        }
        Ok(Npz { arrays })
    }

    /// The array named `name` (without `.npy`), if the archive holds one.
    pub fn get(&self, name: &str) -> Option<&NpyArray> {
        self.arrays.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }

    /// The member names, in archive order.
    pub fn names(&self) -> Vec<&str> {
        self.arrays.iter().map(|(n, _)| n.as_str()).collect()
    }
}

/// What the central directory says about one member.
struct Entry {
    name: String,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    local_offset: u64,
    /// Offset of the next central directory entry.
    next: usize,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// The offset of the end-of-central-directory record, searched backwards (a comment may
/// follow it).
fn find_eocd(b: &[u8]) -> Option<usize> {
    let last = b.len().checked_sub(22)?;
    let first = last.saturating_sub(EOCD_MAX_SEARCH - 22);
    (first..=last)
        .rev()
        .find(|&i| u32_at(b, i) == Some(EOCD_SIG))
}

/// Parses the central directory entry at `at`, including the ZIP64 extra field that
/// carries sizes and offsets too large for 32 bits.
fn central_entry(b: &[u8], at: usize) -> Result<Entry, String> {
    let short = || "truncated".to_string();
    if u32_at(b, at) != Some(CENTRAL_SIG) {
        return Err("bad signature".into());
    }
    let method = u16_at(b, at + 10).ok_or_else(short)?;
    let crc = u32_at(b, at + 16).ok_or_else(short)?;
    let mut compressed = u32_at(b, at + 20).ok_or_else(short)? as u64;
    let mut size = u32_at(b, at + 24).ok_or_else(short)? as u64;
    let name_len = u16_at(b, at + 28).ok_or_else(short)? as usize;
    let extra_len = u16_at(b, at + 30).ok_or_else(short)? as usize;
    let comment_len = u16_at(b, at + 32).ok_or_else(short)? as usize;
    let mut local_offset = u32_at(b, at + 42).ok_or_else(short)? as u64;
    let name_at = at + 46;
    let name = b.get(name_at..name_at + name_len).ok_or_else(short)?;
    let name = String::from_utf8_lossy(name).into_owned();
    let extra = b
        .get(name_at + name_len..name_at + name_len + extra_len)
        .ok_or_else(short)?;
    // ZIP64 extra (id 1): 64-bit values for exactly those fields that are all ones.
    let mut e = 0;
    while e + 4 <= extra.len() {
        let id = u16_at(extra, e).unwrap_or(0);
        let len = u16_at(extra, e + 2).unwrap_or(0) as usize;
        if id == 1 {
            let mut f = e + 4;
            for field in [&mut size, &mut compressed, &mut local_offset] {
                if *field == u32::MAX as u64 {
                    *field = u64_at(extra, f).ok_or("truncated ZIP64 extra field")?;
                    f += 8;
                }
            }
        }
        e += 4 + len;
    }
    Ok(Entry {
        name,
        method,
        crc,
        compressed,
        size,
        local_offset,
        next: name_at + name_len + extra_len + comment_len,
    })
}

/// The member's uncompressed bytes, checked against the size and CRC-32 the directory
/// records.
fn member_data(b: &[u8], e: &Entry) -> Result<Vec<u8>, String> {
    let local = usize::try_from(e.local_offset).map_err(|_| "offset overflows")?;
    if u32_at(b, local) != Some(LOCAL_SIG) {
        return Err(format!("no local file header at offset {local}"));
    }
    let name_len = u16_at(b, local + 26).ok_or("truncated local header")? as usize;
    let extra_len = u16_at(b, local + 28).ok_or("truncated local header")? as usize;
    let start = local + 30 + name_len + extra_len;
    let compressed = usize::try_from(e.compressed).map_err(|_| "size overflows")?;
    let stored = start
        .checked_add(compressed)
        .and_then(|end| b.get(start..end))
        .ok_or_else(|| {
            format!("truncated: {compressed} compressed bytes expected at offset {start}")
        })?;
    let size = usize::try_from(e.size).map_err(|_| "size overflows")?;
    let data = match e.method {
        0 => stored.to_vec(),
        8 => {
            // Never trust the recorded size for an allocation: read at most one byte
            // more than it, to detect a member that inflates to more.
            let mut out = Vec::with_capacity(size.min(compressed.saturating_mul(1032)));
            DeflateDecoder::new(stored)
                .take(e.size + 1)
                .read_to_end(&mut out)
                .map_err(|err| format!("corrupt deflate data: {err}"))?;
            out
        }
        m => {
            return Err(format!(
                "compression method {m} is not supported (stored 0 and deflate 8 are)"
            ))
        }
    };
    if data.len() != size {
        return Err(format!(
            "holds {} bytes uncompressed, the directory says {size}",
            data.len()
        ));
    }
    let mut crc = Crc::new();
    crc.update(&data);
    if crc.sum() != e.crc {
        return Err(format!(
            "CRC-32 mismatch: computed {:08x}, recorded {:08x}",
            crc.sum(),
            e.crc
        ));
    }
    Ok(data)
}
