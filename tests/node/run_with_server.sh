#!/usr/bin/env bash
# A ctest test: starts `quantlens-cli serve` on the demo model (CPU, loopback,
# a free port, an API key), runs one node script against it with the real
# `openai` npm client (installed into .deps/ by scripts/install-deps.sh), then
# stops the server with SIGINT and checks that it ended cleanly.
#   run_with_server.sh CLI SCRIPT REPO
set -uo pipefail
cli=$1 script=$2 repo=$3
work=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT
images=$repo/tests/data/engine/images
"$cli" serve --model "$repo/resources/demo-model" --backend cpu --port 0 --api-key test-key --parallel 4 \
  --max-queue 64 --allow-files "$images" 2> "$work/serve.log" &
pid=$!
port=""
for _ in $(seq 1 300); do
  port=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/serve.log" | head -1 | sed 's/.*://')
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "the server did not start:"; cat "$work/serve.log"; exit 1; }
# What the CLI answers for the same picture and question (greedy): the server must answer the same.
"$cli" generate --model "$repo/resources/demo-model" --backend cpu --image "$images/img_a_64x64.png" \
  --prompt "What is in the picture?" --temperature 0 --max-new-tokens 6 --json > "$work/expected.json" ||
  { echo "generate failed"; exit 1; }
QL_OPENAI_MODULE=$repo/.deps/npm/node_modules/openai/index.mjs QL_IMAGES=$images \
  QL_EXPECTED=$work/expected.json node "$script" "http://127.0.0.1:$port"
rc=$?
kill -INT $pid
wait $pid
serve_rc=$?
echo "--- server log"
cat "$work/serve.log"
[ $rc -eq 0 ] || exit $rc
[ $serve_rc -eq 0 ] || { echo "serve exited with $serve_rc after SIGINT"; exit 1; }
grep -q "stopped after" "$work/serve.log" || { echo "serve did not report its stop"; exit 1; }
