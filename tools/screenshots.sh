#!/usr/bin/env bash
# Makes the README's screenshots: runs the desktop app's scripted run
# (quantlens --screenshots DIR: load the demo model, ask about a picture,
# compare three precisions, open the export dialog) under a virtual X server
# and saves one PNG per step into docs/screenshots/. Needs a build
# (scripts/build.sh) and xvfb-run (Debian: xvfb xauth, which
# scripts/install-deps.sh installs). The run uses a temporary settings
# folder, so your own settings and conversations are untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
app="${QUANTLENS_APP:-build/app/quantlens}"
out="${1:-docs/screenshots}"
if [ ! -x "$app" ]; then
  echo "screenshots: $app is missing: build first (scripts/build.sh), or set QUANTLENS_APP" >&2
  exit 1
fi
if ! command -v xvfb-run >/dev/null 2>&1; then
  echo "screenshots: xvfb-run is missing: apt-get install xvfb xauth" >&2
  exit 1
fi
mkdir -p "$out"
# A fixed screen, and no desktop theme under Xvfb: the pictures look the same wherever they are made.
QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1080x24" "$app" --screenshots "$out"
ls -1 "$out"/*.png
