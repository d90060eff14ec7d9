#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, and run the main job
# on the demo inputs (for now the CLI; the desktop app once it exists).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cli=build/app/quantlens-cli
echo; echo "== quantlens-cli info (the published Qwen3-VL-30B-A3B configuration, no weights)"
"$cli" info resources/qwen3-vl-30b-a3b || true
echo; echo "== quantlens-cli tokenize"
"$cli" tokenize "Describe this picture, please. 请描述这张图片。"
echo; echo "== quantlens-cli detokenize"
"$cli" detokenize 74785 419 6802 11 4486 13
echo; echo "== quantlens-cli preprocess (demo images)"
"$cli" preprocess resources/images/*.png
echo; echo "== quantlens-cli generate: the demo model (tiny, random weights: its answers are noise)"
"$cli" generate --model resources/demo-model --image resources/images/shapes.png \
  --prompt "What shapes are in this picture?" --max-new-tokens 24 --temperature 0 --verbose
