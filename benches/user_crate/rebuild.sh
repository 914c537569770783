#!/usr/bin/env bash
# Times a user's edit-compile loop: a release build of this one-file crate after an edit
# to its main.rs, with graft already built. Prints each rebuild's seconds and the median.
#
#   bash benches/user_crate/rebuild.sh [RUNS]     (default 3)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
runs="${1:-3}"
cd "$here"
echo "warm-up: building graft and the crate once (release)"
cargo build --release --quiet
main=src/main.rs
cp "$main" "$main.orig"
trap 'mv "$main.orig" "$main"' EXIT
times=()
for i in $(seq 1 "$runs"); do
    # An edit a user makes: a changed constant, so the function bodies that use it change.
    sed -i "s/^const STEPS: usize = .*/const STEPS: usize = $((400 + i));/" "$main"
    start=$(date +%s.%N)
    cargo build --release --quiet
    end=$(date +%s.%N)
    t=$(echo "$end - $start" | bc -l)
    times+=("$t")
    printf 'rebuild %d: %.1f s\n' "$i" "$t"
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "median rebuild: %.1f s (%d runs, %s)\n", a[int((NR+1)/2)], NR, "release"}'
grep -m1 "model name" /proc/cpuinfo | sed 's/.*: /cpu: /'
