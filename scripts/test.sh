#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, and run every test
# suite except the `gpu` label (run that one on a GPU machine: README, "GPU tests").
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build -LE gpu --output-on-failure -j "$(nproc)" --timeout 600
