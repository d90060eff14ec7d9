#!/usr/bin/env bash
# On the development machine: gathers what tools/device/gpu_run.sh runs on the
# GPU machine into .devrun/ (ignored by git; pass it in `carry`): the gpu test
# programs and quantlens-cli-headless of a build with shared ql_core/ql_cuda
# (BUILD=build by default, configured -DQL_SHARED_LIBS=ON -DQL_HEADLESS_CLI=ON),
# stripped, and the Debian runtime packages the GPU machine's image lacks
# (unpacked there with dpkg -x: fmt, spdlog, PCRE2, utf8proc, OpenBLAS).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${BUILD:-build}
cmake -S . -B "$build" -DQL_SHARED_LIBS=ON -DQL_HEADLESS_CLI=ON > /dev/null
tests=$(ls tests/gpu/test_gpu_*.cpp | xargs -n1 basename | sed 's/\.cpp$//')
ninja -C "$build" quantlens-cli-headless $tests
rm -rf .devrun/bin .devrun/lib && mkdir -p .devrun/bin .devrun/lib .devrun/debs
cp "$build/app/quantlens-cli-headless" .devrun/bin/quantlens-cli
for t in $tests; do cp "$build/tests/$t" .devrun/bin/; done
cp "$build/core/libql_core.so" "$build/gpu/libql_cuda.so" .devrun/lib/
strip --strip-unneeded .devrun/bin/* .devrun/lib/*.so
(cd .devrun/debs && [ -n "$(ls ./*.deb 2>/dev/null)" ] ||
  apt-get download libfmt9 libspdlog1.10 libpcre2-8-0 libutf8proc2 libopenblas0-pthread libgfortran5)
# The working tree and what is carried travel together under 64 MiB: the
# programs go compressed (the CUDA library's kernels compress to ~40%).
tar -C .devrun -cf - bin lib | xz -T0 -6 > .devrun/bundle.tar.xz
rm -rf .devrun/bin .devrun/lib
du -sh .devrun .devrun/*
