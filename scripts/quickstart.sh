#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, and start the
# desktop app (on its first start it opens the demo model).
#   scripts/quickstart.sh               the app
#   scripts/quickstart.sh --cli-demos   first the command-line demos on the demo inputs, then the app
#   scripts/quickstart.sh --no-gui      build only (and the CLI demos if asked): for machines without a display
set -euo pipefail
cd "$(dirname "$0")/.."

cli_demos=0
gui=1
for arg in "$@"; do
  case "$arg" in
    --cli-demos) cli_demos=1 ;;
    --no-gui) gui=0 ;;
    -h|--help) sed -n 2,6p "$0"; exit 0 ;;
    *) echo "quickstart: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh
scripts/build.sh

if [ "$cli_demos" -eq 1 ]; then
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
fi

[ "$gui" -eq 1 ] || exit 0
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo
  echo "quickstart: built, but there is no display here (neither DISPLAY nor WAYLAND_DISPLAY is set)."
  echo "  On a desktop session run:    build/app/quantlens"
  echo "  To see it here, as PNGs:     tools/screenshots.sh   (runs it under Xvfb, writes docs/screenshots/)"
  echo "  The command-line twin:       build/app/quantlens-cli --help   (or scripts/quickstart.sh --cli-demos)"
  exit 0
fi
echo; echo "== starting the desktop app: build/app/quantlens (its first start opens the demo model)"
exec build/app/quantlens
