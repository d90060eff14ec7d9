#!/usr/bin/env bash
# On the GPU machine: trains the demo model (tools/train_demo_model.py) within one call and packs
# what it made so that it comes back through $OUT (at most 8 files of 16 MiB: the checkpoint's
# embedding shard alone is 19 MB): $OUT/train.log, and demo-model.tar.xz in 15 MB parts
# (demo-model.tar.xz.part-aa, -ab, ...) holding demo-model/ (without tokenizer.json),
# cases-demo-trained.json and heldout-transformers.json.
#   bash tools/device/train_demo_run.sh [SECONDS]      (the whole run's budget, default 540)
# Needs .ext/tokenizer-models.tar.xz carried (the real tokenizer's folder, see side_by_side.sh).
# Training can span several calls: QL_TRAIN_INIT=.ext/FILE.tar.xz (what an earlier call returned,
# reassembled) goes on from that checkpoint's weights; QL_TRAIN_ARGS adds arguments of
# train_demo_model.py (e.g. "--lr 2e-3 --warmup 20 --pictures 64").
# Here, afterwards: cat demo-model.tar.xz.part-* | tar -xJ -C DIR
set -uo pipefail
OUT=${OUT:-/tmp/ql-out}
repo=$(cd "$(dirname "$0")/../.." && pwd)
budget=${1:-540}
work=/tmp/ql-train
rm -rf "$work" && mkdir -p "$work/tok" "$OUT"
tar -xJf "$repo/.ext/tokenizer-models.tar.xz" -C "$work/tok" || { echo "no tokenizer"; exit 1; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
init=()
if [ -n "${QL_TRAIN_INIT:-}" ]; then
  mkdir -p "$work/init" && tar -xJf "$repo/$QL_TRAIN_INIT" -C "$work/init" || { echo "no $QL_TRAIN_INIT"; exit 1; }
  init=(--init "$work/init/demo-model")
fi
# Packing takes ~20 s: the script's own deadline keeps that much.
# shellcheck disable=SC2086  # QL_TRAIN_ARGS is a list of arguments
PYTHONUNBUFFERED=1 timeout $((budget - 15)) python3 "$repo/tools/train_demo_model.py" \
  --tokenizer-dir "$work/tok/models" --out "$work/demo-model" --cases-out "$work" \
  --minutes 8 --deadline $((budget - 45)) "${init[@]}" ${QL_TRAIN_ARGS:-} > "$OUT/train.log" 2>&1
echo "train rc=$?" | tee -a "$OUT/train.log"
rm -f "$work/demo-model/tokenizer.json"
( cd "$work" && tar -cf - demo-model $(ls cases-*.json heldout-*.json 2>/dev/null) | xz -1 -T0 |
    split -b 15M - "$OUT/demo-model.tar.xz.part-" )
ls -la "$OUT"
