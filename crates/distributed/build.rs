//! With the feature `mpi`, fails early with what to install when Open MPI is missing,
//! instead of leaving the user with a linker or bindgen error from deep in `mpi-sys`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_MPI").is_none() {
        return;
    }
    let works = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !(works("mpicc", &["-showme:version"]) || works("pkg-config", &["--exists", "ompi"])) {
        panic!(
            "graft-distributed: the feature `mpi` needs Open MPI, but neither `mpicc` nor \
             pkg-config's `ompi` was found. On Debian/Ubuntu install the packages \
             libopenmpi-dev openmpi-bin libclang-dev \
             (apt-get install -y libopenmpi-dev openmpi-bin libclang-dev), or build without \
             the feature for the single-process form."
        );
    }
}
