#!/usr/bin/env bash
# Data-parallel scaling of the seed's model: `mpirun -np 2` (1 thread per rank) against one
# process with 1 thread at the same global batch, run alternately (RUNS times each, 3 by
# default) for global batches 256 and 32. Prints each run, then the median epoch times, their
# ratio and the all-reduce's share of a step. Needs Open MPI (see README); a benchmark, not a
# test: run it on a machine with nothing else to do.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
epochs=${EPOCHS:-2}
cargo build --release --features mpi --example mnist_ddp
bin=target/release/examples/mnist_ddp
flags=(--oversubscribe)
if [ "$(id -u)" = 0 ]; then flags+=(--allow-run-as-root); fi

# The mean training epoch time (s) and the all-reduce line of one run.
run() {
  local np=$1 batch=$2 out
  out=$(mpirun "${flags[@]}" -np "$np" "$bin" --threads 1 --epochs "$epochs" --batch-size "$batch" 2>&1)
  echo "$(grep -o 'training: [0-9.]* s/epoch' <<<"$out" | cut -d' ' -f2) $(grep -o 'all-reduce: [0-9.]* ms/step, [0-9.]*%' <<<"$out" | cut -d' ' -f2,4)"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, $(date -I)"
for global in 256 32; do
  one=() two=()
  for r in $(seq "$runs"); do
    a=$(run 1 "$global")
    b=$(run 2 $((global / 2)))
    read -r t ms share <<<"$b"
    echo "batch $global run $r: 1 process ${a%% *} s/epoch | 2 ranks $t s/epoch, all-reduce $ms ms/step ($share)"
    one+=("${a%% *}")
    two+=("$b")
  done
  m1=$(printf '%s\n' "${one[@]}" | median)
  m2=$(printf '%s\n' "${two[@]}" | cut -d' ' -f1 | median)
  share=$(printf '%s\n' "${two[@]}" | cut -d' ' -f3 | tr -d '%' | median)
  ms=$(printf '%s\n' "${two[@]}" | cut -d' ' -f2 | median)
  echo "global batch $global: 1 process $m1 s/epoch, 2 ranks $m2 s/epoch, ratio $(awk -v a="$m2" -v b="$m1" 'BEGIN {printf "%.3f", a / b}'), all-reduce $ms ms/step ($share% of a step)"
done
