#!/usr/bin/env bash
# On the GPU machine: where a decode step's time goes, kernel by kernel. Nsight Compute times
# every kernel of a short `bench` run on synthetic:qwen3-vl-30b-a3b-l12 (graphs off, so each
# launch is one kernel; clocks left alone, as the device notes ask), and
# tools/device/summarize_kernel_times.py sums the durations per kernel name for each precision's
# inference (everything after that precision's load). Needs .devrun carried.
#   bash tools/device/profile_decode.sh [PRECISIONS]    (default bf16,int8,nf4)
# Results in $OUT: ncu-decode.csv (one row per launch), kernel-times.txt.
set -uo pipefail
OUT=${OUT:-/tmp/ql-out}
mkdir -p "$OUT"
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/tools/device/devrun_env.sh"
precisions=${1:-bf16,int8,nf4}
# Two decode tokens per run and a 16-token prefill: the step's kernels, few enough to time each.
QL_CUDA_GRAPHS=0 timeout "${QL_PROFILE_TIMEOUT:-300}" ncu --clock-control none --metrics gpu__time_duration.sum \
  --export /tmp/ql-decode --force-overwrite \
  "$run/bin/quantlens-cli" bench --model synthetic:qwen3-vl-30b-a3b-l12 --precision "$precisions" --backend cuda \
  --repetitions 1 --decode-tokens 2 --prefill-tokens 16 --image-side 0 --batches 0 --context 1024 \
  > "$OUT/ncu-bench.out" 2> "$OUT/ncu-bench.err"
echo "ncu rc=$?"
ncu --import /tmp/ql-decode.ncu-rep --csv --page raw --metrics gpu__time_duration.sum > "$OUT/ncu-decode.csv" 2> "$OUT/ncu-import.err"
python3 "$repo/tools/device/summarize_kernel_times.py" "$OUT/ncu-decode.csv" | tee "$OUT/kernel-times.txt"
