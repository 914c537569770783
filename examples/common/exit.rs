//! How an example ends on an error: the message (`Display`), not `Debug`, then exit code 1.
//!
//! A `main` that returns `Result<(), Box<dyn Error>>` prints its error with `Debug`, which
//! for graft's errors is a struct dump instead of the message they were written to give.
//! So each example's `main` calls its `run()` through [`report`].

use std::error::Error;

/// Runs an example's body; on an error, prints `error: <message>` to stderr and exits 1.
pub fn report(result: Result<(), Box<dyn Error>>) {
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
