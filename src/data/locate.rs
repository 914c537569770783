//! Where to find an MNIST-style data set: the search order that examples and user
//! programs share, ending at the Fashion-MNIST subset bundled with the crate.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use super::idx::mnist_files;
use super::DataError;

/// Environment variable naming a data directory, searched after an explicit one.
pub const DATA_ENV: &str = "GRAFT_DATA";

/// Directory searched next, relative to the current directory.
pub const LOCAL_DIR: &str = "data/fashion-mnist";

/// Where Debian's package `dataset-fashion-mnist` installs the full data set.
pub const SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Which place in the search order a data directory was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataSource {
    /// The directory the caller passed (a program's `--data DIR`).
    Explicit,
    /// The directory named by the `GRAFT_DATA` environment variable.
    Env,
    /// `data/fashion-mnist/` under the current directory.
    Local,
    /// The system-wide install of Debian's `dataset-fashion-mnist`.
    System,
    /// The 5,000-image subset of Fashion-MNIST bundled with graft.
    Bundled,
}

impl DataSource {
    /// True for the bundled subset, which is too small to train a model to full
    /// accuracy.
    pub fn is_subset(self) -> bool {
        self == Self::Bundled
    }

    /// A line a program should print about this source, if any: only the bundled
    /// subset calls for one, to say how to get the full data set.
    pub fn note(self) -> Option<&'static str> {
        self.is_subset().then_some(
            "using the bundled 5,000-image subset of Fashion-MNIST; \
             install dataset-fashion-mnist or pass --data for the full set",
        )
    }
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Explicit => "the directory given",
            Self::Env => DATA_ENV,
            Self::Local => "the local data directory",
            Self::System => "the system data set (dataset-fashion-mnist)",
            Self::Bundled => "the bundled subset",
        })
    }
}

/// The Fashion-MNIST subset shipped in the source tree.
pub fn bundled_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data-bundled/fashion-mnist-subset")
}

/// Finds a directory holding the four MNIST-style files (see
/// [`MNIST_FILES`](super::idx::MNIST_FILES)) and says where it was found.
///
/// The search order: `explicit` if given, else the directory in `GRAFT_DATA` if set,
/// else `data/fashion-mnist/` under the current directory, else the system-wide
/// `/usr/share/datasets/fashion-mnist`, else the subset bundled with graft. A
/// directory the user named (`explicit` or `GRAFT_DATA`) that lacks the files is an
/// error rather than skipped, so that a typo is not silently replaced by other data.
///
/// ```
/// let (dir, source) = graft::data::find_mnist_dir(None)?;
/// if let Some(note) = source.note() {
///     println!("{note}");
/// }
/// let mnist = graft::data::idx::load_mnist_dir(&dir)?;
/// assert_eq!(mnist.train_images.rows, 28);
/// # Ok::<(), graft::data::DataError>(())
/// ```
pub fn find_mnist_dir(explicit: Option<&Path>) -> Result<(PathBuf, DataSource), DataError> {
    let env = std::env::var_os(DATA_ENV);
    search(&candidates(explicit, env, bundled_dir()))
}

/// A place to look, and whether the user insisted on it.
struct Candidate {
    dir: PathBuf,
    source: DataSource,
    required: bool,
}

/// The search order: the places that the user named (if any), then the defaults.
fn candidates(explicit: Option<&Path>, env: Option<OsString>, bundled: PathBuf) -> Vec<Candidate> {
    let named = |dir: PathBuf, source| Candidate {
        dir,
        source,
        required: true,
    };
    let default = |dir: PathBuf, source| Candidate {
        dir,
        source,
        required: false,
    };
    if let Some(dir) = explicit {
        return vec![named(dir.to_path_buf(), DataSource::Explicit)];
    }
    // An empty variable counts as unset, the usual shell habit (`GRAFT_DATA= cmd`).
    let env = env.filter(|v| !v.is_empty()).map(PathBuf::from);
    env.map(|dir| named(dir, DataSource::Env))
        .into_iter()
        .chain([
            default(LOCAL_DIR.into(), DataSource::Local),
            default(SYSTEM_DIR.into(), DataSource::System),
            default(bundled, DataSource::Bundled),
        ])
        .collect()
}

/// The first candidate holding the data; stops at a required one that does not.
fn search(candidates: &[Candidate]) -> Result<(PathBuf, DataSource), DataError> {
    let mut tried = Vec::new();
    for c in candidates {
        match mnist_files(&c.dir) {
            Ok(_) => return Ok((c.dir.clone(), c.source)),
            Err(e) => tried.push(format!("{} ({e})", c.source)),
        }
        if c.required {
            break;
        }
    }
    Err(DataError::NoData { tried })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_dir::{write_mnist_dir, TestDir};

    #[test]
    fn explicit_wins_and_must_hold_data() {
        let good = TestDir::new("explicit-good");
        write_mnist_dir(good.path(), 2, 1);
        let c = candidates(Some(good.path()), Some("/elsewhere".into()), bundled_dir());
        assert_eq!(
            search(&c).unwrap(),
            (good.path().to_path_buf(), DataSource::Explicit)
        );

        let empty = TestDir::new("explicit-empty");
        let c = candidates(Some(empty.path()), None, good.path().to_path_buf());
        let e = search(&c).unwrap_err();
        assert!(e.to_string().contains("the directory given"), "{e}");
    }

    #[test]
    fn env_var_comes_next_and_must_hold_data() {
        let good = TestDir::new("env-good");
        write_mnist_dir(good.path(), 2, 1);
        let c = candidates(None, Some(good.path().into()), bundled_dir());
        assert_eq!(search(&c).unwrap().1, DataSource::Env);

        let empty = TestDir::new("env-empty");
        let c = candidates(None, Some(empty.path().into()), good.path().to_path_buf());
        assert!(matches!(search(&c), Err(DataError::NoData { tried }) if tried.len() == 1));
    }

    #[test]
    fn falls_back_to_the_bundled_subset() {
        let bundled = TestDir::new("bundled");
        write_mnist_dir(bundled.path(), 2, 1);
        // An empty GRAFT_DATA counts as unset. The local and system directories may
        // exist on this machine, so accept any default source but the named ones.
        let c = candidates(None, Some("".into()), bundled.path().to_path_buf());
        let (_, source) = search(&c).unwrap();
        assert!(!matches!(source, DataSource::Explicit | DataSource::Env));
    }

    #[test]
    fn no_data_anywhere_lists_every_place_tried() {
        let empty = TestDir::new("nowhere");
        let c = vec![
            Candidate {
                dir: empty.path().join("a"),
                source: DataSource::Local,
                required: false,
            },
            Candidate {
                dir: empty.path().join("b"),
                source: DataSource::Bundled,
                required: false,
            },
        ];
        assert!(matches!(search(&c), Err(DataError::NoData { tried }) if tried.len() == 2));
    }

    #[test]
    fn only_the_subset_gets_a_note() {
        assert!(DataSource::Bundled.note().unwrap().contains("--data"));
        assert_eq!(DataSource::System.note(), None);
    }

    #[test]
    fn the_bundled_subset_is_found() {
        let dir = bundled_dir();
        assert_eq!(
            find_mnist_dir(Some(&dir)).unwrap(),
            (dir, DataSource::Explicit)
        );
    }
}
