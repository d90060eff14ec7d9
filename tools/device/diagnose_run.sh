#!/usr/bin/env bash
# On the GPU machine, one call: the gpu test programs named in QL_TESTS (default: all), the
# kernel-time profile of decode (profile_decode.sh) and the MoE decode/grouped crossover at
# batch 16 (QL_MOE_DECODE_MAX_TOKENS 16, the default, against 0: grouped products for every
# batch); everything packed in $OUT/diagnose.tar.gz (the device returns at most 8 files) and
# the summaries printed. Needs .devrun carried.
#   bash tools/device/diagnose_run.sh
set -uo pipefail
OUT=${OUT:-/tmp/ql-out}
final=$OUT
repo=$(cd "$(dirname "$0")/../.." && pwd)
export OUT=$final/diagnose
mkdir -p "$OUT"
. "$repo/tools/device/devrun_env.sh"
QL_TEST_TIMEOUT=${QL_TEST_TIMEOUT:-60} bash "$repo/tools/device/gpu_run.sh" tests
QL_PROFILE_TIMEOUT=${QL_PROFILE_TIMEOUT:-200} bash "$repo/tools/device/profile_decode.sh" bf16,int8,nf4 > /dev/null
for m in 16 0; do
  QL_MOE_DECODE_MAX_TOKENS=$m timeout 150 "$run/bin/quantlens-cli" bench --model synthetic:qwen3-vl-30b-a3b-l12 \
    --precision bf16,nf4 --backend cuda --repetitions 2 --batches 4,16 --context 1024 --image-side 0 \
    --prefill-tokens 64 > "$OUT/crossover-$m.txt" 2>&1
  echo "QL_MOE_DECODE_MAX_TOKENS=$m rc=$?" >> "$OUT/crossover-$m.txt"
done
cat "$OUT/summary.txt" "$OUT/kernel-times.txt" "$OUT"/crossover-*.txt 2>/dev/null
gzip -f "$OUT/ncu-decode.csv" 2>/dev/null
tar -C "$final" -czf "$final/diagnose.tar.gz" diagnose && rm -rf "$final/diagnose"
ls -la "$final"
