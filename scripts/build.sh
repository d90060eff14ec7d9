#!/usr/bin/env bash
# Configures and builds QuantLens in build/ (Release). CUDA is used when nvcc is found.
set -euo pipefail
cd "$(dirname "$0")/.."
cuda_arg=()
if [ -z "${CMAKE_CUDA_COMPILER:-}" ] && ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  cuda_arg=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${cuda_arg[@]}" "$@"
cmake --build build -j "$(nproc)"
