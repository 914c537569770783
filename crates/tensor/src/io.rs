//! The one atomic file writer every save in graft goes through (state dicts, optimizer
//! states, training histories).
//!
//! A reader of `path` sees either the old file or the complete new one, never half a file:
//! the bytes go to a fresh temporary file in the same directory (the same file system, so
//! the rename is atomic), which is flushed to disk, then renamed over `path`, and the
//! directory is synced so the rename survives a crash. Each write gets its own temporary
//! name (process id and a per-process counter, created with `create_new`), so two threads
//! or two processes saving to one path never write into each other's temporary file: the
//! last rename wins and the file is always one of the complete versions.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why [`write_atomically`] failed: the file, the step and the OS error. The file at the
/// path is unchanged and no temporary file is left behind.
#[derive(Debug)]
pub struct AtomicWriteError {
    /// The file that was to be written.
    pub path: PathBuf,
    /// The step that failed: `"creating a temporary file to write"`, `"writing"` or
    /// `"replacing"`.
    pub action: &'static str,
    /// The OS error (or the error the caller's writer returned).
    pub error: io::Error,
}

impl fmt::Display for AtomicWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "error {} {}: {}; any previous file there is unchanged",
            self.action,
            self.path.display(),
            self.error
        )
    }
}

impl std::error::Error for AtomicWriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<AtomicWriteError> for io::Error {
    /// An `io::Error` of the same kind whose message names the file.
    fn from(e: AtomicWriteError) -> io::Error {
        io::Error::new(e.error.kind(), e.to_string())
    }
}

/// Writes a new file at `path` through `write`, atomically: see the [module docs](self).
/// On any error the temporary file is removed and whatever was at `path` is untouched.
///
/// ```
/// use std::io::Write;
/// let path = std::env::temp_dir().join(format!("graft-io-doc-{}.txt", std::process::id()));
/// graft_tensor::io::write_atomically(&path, |f| f.write_all(b"hello")).unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"hello");
/// # std::fs::remove_file(&path).unwrap();
/// ```
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), AtomicWriteError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let fail = |action, error| AtomicWriteError {
        path: path.to_path_buf(),
        action,
        error,
    };
    let file_name = path.file_name().ok_or_else(|| {
        fail(
            "writing",
            io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"),
        )
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let (tmp, mut file) = loop {
        let mut name = OsString::from(".");
        name.push(file_name);
        name.push(format!(
            ".{}.{}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = dir.join(name);
        // `create_new`: a leftover file of a crashed process with the same pid and counter
        // is skipped, never truncated or shared.
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(fail("creating a temporary file to write", e)),
        }
    };
    let result = write(&mut file)
        .and_then(|()| file.flush())
        .and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(fail("writing", e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(fail("replacing", e));
    }
    // Make the rename itself durable where the platform allows syncing a directory.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("graft-io-unit-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<OsString> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect()
    }

    #[test]
    fn failed_write_keeps_previous_file_and_leaves_no_temporary() {
        let dir = scratch("fail");
        let path = dir.join("model.safetensors");
        fs::write(&path, b"previous contents").unwrap();
        let err = write_atomically(&path, |f| {
            f.write_all(b"half a new fi")?;
            Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "disk full (simulated)",
            ))
        })
        .unwrap_err();
        assert!(err.to_string().contains("disk full (simulated)"), "{err}");
        assert!(err.to_string().contains("model.safetensors"), "{err}");
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::StorageFull);
        assert_eq!(fs::read(&path).unwrap(), b"previous contents");
        assert_eq!(names(&dir), ["model.safetensors"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn successful_write_replaces_file() {
        let dir = scratch("ok");
        let path = dir.join("m.safetensors");
        fs::write(&path, b"old").unwrap();
        write_atomically(&path, |f| f.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(names(&dir), ["m.safetensors"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_path() {
        let dir = scratch("missing");
        let path = dir.join("no/such/dir/h.csv");
        let err = write_atomically(&path, |f| f.write_all(b"x")).unwrap_err();
        assert_eq!(err.action, "creating a temporary file to write");
        assert!(err.to_string().contains("h.csv"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
