#!/usr/bin/env bash
# The MPI suite: graft-distributed's collectives, equivalence and fault tests, which start
# `mpirun -np 2` themselves, and fit's data-parallel test. It needs Open MPI; without it this
# fails and says which packages to install (it never skips).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v mpirun >/dev/null 2>&1 || ! command -v mpicc >/dev/null 2>&1; then
  echo "the MPI suite needs Open MPI and libclang: apt-get install libopenmpi-dev openmpi-bin libclang-dev" >&2
  exit 1
fi
cargo clippy -p graft-distributed -p graft --features mpi --all-targets -- -D warnings
cargo test -p graft-distributed --features mpi
cargo test -p graft --features mpi --test suite ddp_fit
