#!/usr/bin/env bash
# Runs on the GPU machine (the `device` tool): the gpu test programs and the
# benchmark, from binaries built on the development machine by
# tools/device/prepare_gpu_run.sh into .devrun/ (that machine has no Debian
# -dev packages and every minute there counts). Logs go to $OUT; the last
# lines printed are the summary.
#   bash tools/device/gpu_run.sh [tests|bench|all]   (default all)
# QL_TESTS="test_gpu_model test_gpu_op_parity" picks programs (default: every
# one, the op-by-op parity suite first since it names a diverging kernel);
# QL_TEST_TIMEOUT limits each program (default 120 s).
set -uo pipefail
OUT=${OUT:-/tmp/ql-out}
mkdir -p "$OUT"
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/tools/device/devrun_env.sh"
export QT_QPA_PLATFORM=offscreen
what=${1:-all}
summary=$OUT/summary.txt
: > "$summary"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader | tee -a "$summary"

if [ "$what" = tests ] || [ "$what" = all ]; then
  names=${QL_TESTS:-"test_gpu_op_parity $(cd "$run/bin" && ls test_gpu_* | grep -v '^test_gpu_op_parity$')"}
  for name in $names; do
    t=$run/bin/$name
    # Each program alone, with a time limit: one hang must not cost the rest.
    ( cd "$repo/tests" && timeout "${QL_TEST_TIMEOUT:-120}" "$t" --gtest_color=no ) > "$OUT/$name.log" 2>&1
    rc=$?
    passed=$(grep -c "^\[       OK \]" "$OUT/$name.log")
    failed=$(grep -c "^\[  FAILED  \]" "$OUT/$name.log")
    echo "$name rc=$rc passed=$passed failed_lines=$failed" | tee -a "$summary"
  done
  grep -h "^TIMING\|^GPUMODEL\|^OPPARITY" "$OUT"/test_gpu_*.log > "$OUT/timing.txt" 2>/dev/null
fi

if [ "$what" = bench ] || [ "$what" = all ]; then
  cli=$run/bin/quantlens-cli
  timeout "${QL_BENCH_TIMEOUT:-200}" "$cli" bench --model synthetic:qwen3-vl-30b-a3b-l12 \
      --precision bf16,int8,nf4,nf4-mixed --backend cuda --repetitions 3 --batches 4,16 --context 2048 --json \
      > "$OUT/bench-l12.json" 2> "$OUT/bench-l12.err"
  echo "bench l12 rc=$?" | tee -a "$summary"
  timeout "${QL_BENCH_TIMEOUT:-200}" "$cli" bench --model synthetic:qwen3-vl-30b-a3b --precision nf4,nf4-mixed \
      --backend cuda --context 8192 --repetitions 3 --batches 0 --json > "$OUT/bench-full.json" 2> "$OUT/bench-full.err"
  echo "bench full rc=$?" | tee -a "$summary"
  python3 - "$OUT" <<'PY' | tee -a "$summary"
import json, sys, os
out = sys.argv[1]
for name in ("bench-l12.json", "bench-full.json"):
    p = os.path.join(out, name)
    try:
        j = json.load(open(p))
    except Exception as e:
        print(name, "unreadable:", e); continue
    for r in j["rows"]:
        print(f'{name[6:-5]:5} {r["precision"]:10} w {r["weights_gib"]:.2f}Gi load {r["load_s"]:.1f}s '
              f'dec {r["decode_tok_s"]["median"]:.0f} [{r["decode_tok_s"]["min"]:.0f}-{r["decode_tok_s"]["max"]:.0f}] '
              f'pre {r["prefill_tok_s"]["median"]:.0f} img {r["image_ttft_ms"]["median"]:.1f}ms '
              f'peak {r["peak_gib"]:.2f}Gi bw {r["achieved_gb_s"]:.0f}GB/s {100*r["fraction_of_copy"]:.0f}% of {r["copy_gb_s"]:.0f}'
              + ''.join(f' b{b["batch"]} {b["tok_s"]["median"]:.0f}' for b in r.get("batched_decode", [])))
PY
fi
cat "$summary" > /dev/null
