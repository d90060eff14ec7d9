#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.cpp) with clang in build-fuzz
# and runs each for SECONDS (default 60). Not part of CI.
#
#   scripts/run_fuzzers.sh [SECONDS] [fuzz_TARGET ...]
#
# Per target NAME (fuzz_NAME): the corpus grows in tests/fuzz/corpus-NAME/
# (git-ignored); tests/fuzz/seeds/NAME/ (read-only seeds) and
# tests/fuzz/NAME.dict (a libFuzzer dictionary) are used when present.
# Crash inputs land in build-fuzz/fuzz-artifacts/. Exit status: non-zero if a
# target failed to build or found a crash.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
build="$root/build-fuzz"
jobs=${QL_FUZZ_JOBS:-2}

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DQL_FUZZ=ON -DQL_CUDA=OFF -DQL_BUILD_UI=OFF -DQL_QT=OFF
else
  cmake "$build" >/dev/null  # pick up new fuzz_*.cpp files
fi

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for src in "$root"/tests/fuzz/fuzz_*.cpp; do
    [[ -e "$src" ]] && targets+=("$(basename "$src" .cpp)")
  done
fi
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "run_fuzzers: no tests/fuzz/fuzz_*.cpp targets" >&2
  exit 1
fi

ninja -C "$build" -j"$jobs" "${targets[@]}"

mkdir -p "$build/fuzz-artifacts"
failed=()
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  corpus="$root/tests/fuzz/corpus-$name"
  mkdir -p "$corpus"
  args=(-max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t-")
  [[ -f "$root/tests/fuzz/$name.dict" ]] && args+=(-dict="$root/tests/fuzz/$name.dict")
  dirs=("$corpus")
  [[ -d "$root/tests/fuzz/seeds/$name" ]] && dirs+=("$root/tests/fuzz/seeds/$name")
  echo "== $t: ${seconds}s"
  if ! "$build/tests/fuzz/$t" "${args[@]}" "${dirs[@]}"; then
    failed+=("$t")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "run_fuzzers: FAILED: ${failed[*]} (inputs in $build/fuzz-artifacts/)" >&2
  exit 1
fi
echo "run_fuzzers: all ${#targets[@]} targets ran ${seconds}s without a failure"
