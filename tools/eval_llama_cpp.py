#!/usr/bin/env python3
"""Scores llama.cpp on a `quantlens-cli eval` set (docs/evaluation.md): the peer's accuracy on the
same questions, from our GGUF exports of the same checkpoint (docs/formats.md).

For each GGUF it starts llama-server with the vision projector (mmproj), asks every question
greedily (the picture, then the text, as the checkpoint's chat template lays them out), and scores
the answers with
tools/demo_shapes/scoring.py, the Python twin of core/engine/answer_scoring.cpp.

  python3 tools/eval_llama_cpp.py --server BUILD/bin/llama-server --mmproj mmproj.gguf \
      --set tests/data/eval/demo-shapes/set.json --model f16=f16.gguf --model q8_0=q8_0.gguf ... \
      [--json-out R.json] [--parallel 2] [--tokens 64]

Pictures keep their size in llama.cpp when its limits allow (8 to 4,096 image tokens for Qwen3-VL);
--image-tokens N pins both limits, as QuantLens' min = max pixels does for the demo model.
"""
import argparse
import base64
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_shapes"))
from scoring import is_right  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, body, timeout=120):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def wait_ready(port, proc, limit=120):
    t0 = time.time()
    while time.time() - t0 < limit:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.3)
    return False


def ask(port, marker, item, base, tokens):
    """One question, greedy, through /completion with the prompt laid out as the checkpoint's chat
    template lays out a user turn with pictures first (no default system prompt); marker is the
    server's media marker (GET /props); mtmd puts <|vision_start|> and <|vision_end|> around each
    picture itself. /completion rather than
    the chat endpoint: that one parses answers for tool calls and refuses some (a JSON list)."""
    images = []
    for name in item.get("images", []):
        with open(os.path.join(base, name), "rb") as f:
            images.append(base64.b64encode(f.read()).decode())
    prompt = f"<|im_start|>system\n{item['system']}<|im_end|>\n" if item.get("system") else ""
    prompt += "<|im_start|>user\n" + marker * len(images) + item["text"] + "<|im_end|>\n<|im_start|>assistant\n"
    try:
        r = post(f"http://127.0.0.1:{port}/completion",
                 {"prompt": {"prompt_string": prompt, "multimodal_data": images}, "n_predict": tokens,
                  "temperature": 0, "top_k": 1, "seed": 0})
    except urllib.error.HTTPError as e:  # e.g. an answer its output parser refuses: scored as wrong
        return f"(llama-server error {e.code}: {e.read().decode(errors='replace')[:200]})"
    return r.get("content", "")


def score(name, path, a, items, base):
    port = free_port()
    cmd = [a.server, "-m", path, "--mmproj", a.mmproj, "--port", str(port), "--host", "127.0.0.1",
           "-np", str(a.parallel), "-c", str(2048 * a.parallel), "--temp", "0", "--no-webui"]
    if a.image_tokens:
        cmd += ["--image-min-tokens", str(a.image_tokens), "--image-max-tokens", str(a.image_tokens)]
    if a.extra:
        cmd += a.extra.split()
    log = open(os.path.join(a.log_dir, f"llama-server-{name}.log"), "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_ready(port, proc):
            return {"name": name, "error": f"llama-server did not start (see llama-server-{name}.log)"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/props", timeout=10) as r:
            marker = json.loads(r.read()).get("media_marker", "<__media__>")
        t0 = time.time()
        with concurrent.futures.ThreadPoolExecutor(a.parallel) as pool:
            answers = list(pool.map(lambda it: ask(port, marker, it, base, a.tokens), items))
        right = {}
        for it, ans in zip(items, answers):
            r = right.setdefault(it.get("type", "other"), [0, 0])
            r[0] += is_right(it, ans)
            r[1] += 1
        total = [sum(v[0] for v in right.values()), sum(v[1] for v in right.values())]
        return {"name": name, "file": os.path.basename(path), "bytes": os.path.getsize(path), "right": total[0],
                "total": total[1], "accuracy": total[0] / total[1], "by_type": right,
                "answers": answers, "seconds": time.time() - t0}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True, help="llama-server")
    ap.add_argument("--mmproj", required=True)
    ap.add_argument("--set", required=True)
    ap.add_argument("--model", action="append", required=True, help="NAME=FILE.gguf, once per file")
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--image-tokens", type=int, default=0)
    ap.add_argument("--extra", default="", help="more llama-server arguments, space separated")
    ap.add_argument("--log-dir", default=".")
    ap.add_argument("--json-out")
    a = ap.parse_args()
    with open(a.set) as f:
        items = json.load(f)
    base = os.path.dirname(os.path.abspath(a.set))
    rows = []
    for spec in a.model:
        name, path = spec.split("=", 1)
        row = score(name, path, a, items, base)
        rows.append(row)
        if "error" in row:
            print(f"{name}: {row['error']}")
            continue
        print(f"{name:8} {row['right']:4}/{row['total']} = {100 * row['accuracy']:5.1f}%  "
              + "  ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(row["by_type"].items()))
              + f"  ({row['seconds']:.0f} s)", flush=True)
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"set": a.set, "server": a.server, "rows": rows}, f, indent=1)
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
