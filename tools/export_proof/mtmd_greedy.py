#!/usr/bin/env python3
"""Runs llama.cpp's llama-mtmd-cli greedily on a text GGUF + mmproj and records exactly what it answered.

  python3 tools/export_proof/mtmd_greedy.py run --cli build/bin/llama-mtmd-cli --model TEXT.gguf \
      --mmproj MMPROJ.gguf --image IMG --label ours-bf16 --json-out R.json [-n 16] [--log L.log]
  python3 tools/export_proof/mtmd_greedy.py compare A.json B.json      (exit 0 when the answers are identical)

llama-mtmd-cli has no option that prints token ids (tools/mtmd/mtmd-cli.cpp prints each sampled token's
text piece to stdout with LOG, special tokens rendered, and everything else to stderr). So the answer is
compared as the exact bytes the tool printed between the response marker and its closing newlines:
identical token sequences give identical bytes, and with --ignore-eos every run prints exactly -n pieces.
The marker comes from the tool's own test hook (env MTMD_TEST_RESPONSE_MARKER, printed just before the
prompt is evaluated).

Flags for a deterministic, parseable run: --temp 0 (the temperature sampler keeps only the largest logit:
greedy), --top-k 1, --seed 0, --ignore-eos (EOG tokens get -inf, so the length is fixed), -n N, -ngl 99
(everything on the GPU), -c 4096, --no-warmup is NOT used (warmup does not change results),
--log-colors off. The run is killed after --timeout seconds.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

MARKER = "<<<QL-MTMD-RESPONSE>>>"
PROMPT = "What is in this picture?"


def run(args):
    cmd = [args.cli, "-m", args.model, "--mmproj", args.mmproj, "--image", args.image, "-p", args.prompt,
           "-n", str(args.n), "--temp", "0", "--top-k", "1", "--seed", "0", "--ignore-eos", "-ngl", str(args.ngl),
           "-c", "4096", "--log-colors", "off"] + (args.extra or [])
    env = dict(os.environ, MTMD_TEST_RESPONSE_MARKER=MARKER)
    t0 = time.time()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=args.timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = 124, e.stdout or b"", (e.stderr or b"") + b"\n[mtmd_greedy: timed out]\n"
    except OSError as e:  # the tool is missing or not executable
        rc, out, err = 127, b"", f"[mtmd_greedy: cannot run {args.cli}: {e}]\n".encode()
    secs = time.time() - t0
    if args.log:
        with open(args.log, "wb") as f:
            f.write(("$ " + " ".join(cmd) + f"\n[exit {rc} after {secs:.1f} s]\n--- stdout ---\n").encode())
            f.write(out)
            f.write(b"\n--- stderr ---\n")
            f.write(err)
    m = MARKER.encode() + b"\n"
    raw = None
    answer = None
    if m in out:
        raw = out.split(m, 1)[1]
        answer = raw
        if answer.startswith(b"\n"):  # eval_message's closing newline
            answer = answer[1:]
        if answer.endswith(b"\n\n"):  # main's closing newlines
            answer = answer[:-2]
    errtext = err.decode("utf-8", "replace")
    facts = {}
    for key, pat in (("image_batch_tokens", r"n_tokens_batch = (\d+)"),
                     ("prompt_eval_ms_tokens", r"prompt eval time\s*=\s*([0-9.]+) ms /\s*(\d+) tokens"),
                     ("eval_ms_runs", r"\seval time\s*=\s*([0-9.]+) ms /\s*(\d+) runs")):
        mm = re.findall(pat, errtext)
        if mm:
            facts[key] = mm[-1]
    types = re.findall(r"- type\s+(\w+):\s+(\d+) tensors", errtext)
    res = {
        "label": args.label, "ok": rc == 0 and answer is not None, "rc": rc, "seconds": round(secs, 1),
        "model": args.model, "mmproj": args.mmproj, "image": args.image, "prompt": args.prompt, "n": args.n,
        "answer_hex": answer.hex() if answer is not None else None,
        "answer_text": answer.decode("utf-8", "replace") if answer is not None else None,
        "stdout_after_marker_hex": raw.hex() if raw is not None else None,
        "text_model_tensor_types": {t: int(n) for t, n in types},
        "facts": facts, "command": cmd,
        "stderr_tail": errtext[-1500:] if rc != 0 or answer is None else "",
    }
    print(f"{args.label}: rc={rc} in {secs:.1f} s; answer {res['answer_text']!r}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(res, f, indent=1)
    return 0 if res["ok"] else 1


def compare(args):
    with open(args.a) as f:
        a = json.load(f)
    with open(args.b) as f:
        b = json.load(f)
    same = a.get("ok") and b.get("ok") and a.get("stdout_after_marker_hex") == b.get("stdout_after_marker_hex")
    print(f"{a.get('label')}: {a.get('answer_text')!r}\n{b.get('label')}: {b.get('answer_text')!r}\n"
          f"{'IDENTICAL' if same else 'DIFFERENT'}")
    return 0 if same else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--cli", required=True)
    r.add_argument("--model", required=True)
    r.add_argument("--mmproj", required=True)
    r.add_argument("--image", required=True)
    r.add_argument("--prompt", default=PROMPT)
    r.add_argument("-n", type=int, default=16)
    r.add_argument("--ngl", type=int, default=99)
    r.add_argument("--label", default="run")
    r.add_argument("--timeout", type=float, default=150)
    r.add_argument("--json-out")
    r.add_argument("--log")
    r.add_argument("extra", nargs="*", help="more llama-mtmd-cli arguments (after --)")
    c = sub.add_parser("compare")
    c.add_argument("a")
    c.add_argument("b")
    args = ap.parse_args()
    return run(args) if args.cmd == "run" else compare(args)


if __name__ == "__main__":
    sys.exit(main())
