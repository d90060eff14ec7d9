#!/usr/bin/env python3
"""Gathers the export proof's results (run_export_proof.sh's work folder) into one summary.json.

  python3 tools/export_proof/summarize.py --work /tmp/ql-proof --out OUT/summary.json

Reads steps.tsv (every step's exit status and seconds) and res/*.json (the JSON each checker wrote), and
writes {"pass": bool, "checks": {group: {name: {"status": "pass"|"fail"|"not run", ...figures}}},
"steps": {...}, "environment": [...]}. Prints one line per check. Exit 0 when every required check
passed.
"""
import argparse
import glob
import json
import os
import sys

TEXT_VS_CONVERTER = ["bf16", "f16", "q8_0"]
TEXT_VS_QUANTIZE = ["q4_k_m", "q4_0", "iq4_nl"]
ALL_GGUF = TEXT_VS_CONVERTER + TEXT_VS_QUANTIZE


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_steps(work):
    steps = {}
    try:
        with open(os.path.join(work, "steps.tsv")) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 3:
                    steps[parts[0]] = {"rc": int(parts[1]), "seconds": int(parts[2]),
                                       **({"note": parts[3]} if len(parts) > 3 else {})}
    except OSError:
        pass
    return steps


def status(ok, ran=True):
    if not ran:
        return "not run"
    return "pass" if ok else "fail"


def missing_status(steps, name):
    """Status of a check whose result file is absent: 'fail' when its step ran and failed."""
    s = steps.get(name)
    return "not run" if s is None or s["rc"] == 125 else "fail"


def step_note(steps, name):
    s = steps.get(name)
    if s is None:
        return "step not reached"
    if s["rc"] == 125:
        return s.get("note", "skipped")
    if s["rc"] == 124:
        return "timed out"
    return f"exit {s['rc']}"


def gguf_check(res, steps, name):
    r = load_json(os.path.join(res, f"compare-{name}.json"))
    if r is None:
        return {"status": missing_status(steps, f"compare-{name}"), "why": step_note(steps, f"compare-{name}")}
    types_same = not any("type" in d.get("what", []) for d in r["differing_tensors"])
    shapes_same = not any("shape" in d.get("what", []) for d in r["differing_tensors"])
    return {
        "status": status(r["ok"]),
        "ours": r["a"], "theirs": r["b"], "theirs_is": r.get("label_b"),
        "keys_identical": r["same_keys"],
        "keys_differing": [f"{d['key']}: {d.get('a')!s:.80} vs {d.get('b')!s:.80} [{d['status']}]"
                           for d in r["differing_keys"]],
        "keys_only_in_ours": [f"{d['key']} [{d['status']}]" for d in r["only_in_a"]],
        "keys_only_in_theirs": [f"{d['key']} [{d['status']}]" for d in r["only_in_b"]],
        "tensors": r["tensor_count"], "tensors_identical": r["tensors_identical"],
        "tensor_types_identical": types_same and not r["tensors_only_in_a"] and not r["tensors_only_in_b"],
        "tensor_shapes_identical": shapes_same,
        "tensors_differing": [f"{d['name']}: {','.join(d.get('what', []))}"
                              + (f" {d.get('type_a')} vs {d.get('type_b')}" if "type_a" in d else "")
                              + (f" ({d.get('differing_bytes')} of {d.get('bytes')} bytes, max |diff| "
                                 f"{d.get('max_abs_diff')})" if "differing_bytes" in d else "")
                              + f" [{d['status']}]" for d in r["differing_tensors"]],
        "tensors_only_in_ours": [d["name"] for d in r["tensors_only_in_a"]],
        "tensors_only_in_theirs": [d["name"] for d in r["tensors_only_in_b"]],
        "tensor_order_same": r["tensor_order_same"], "tensor_types": r.get("tensor_types_a"),
        "unexplained": r["unexplained"],
    }


def mtmd_pair(res, steps, a, b, required_same=True):
    ra = load_json(os.path.join(res, f"mtmd-{a}.json"))
    rb = load_json(os.path.join(res, f"mtmd-{b}.json"))
    out = {}
    for label, r in ((a, ra), (b, rb)):
        out[label] = (None if r is None else {"ok": r["ok"], "answer": r["answer_text"], "seconds": r["seconds"],
                                              "tensor_types": r.get("text_model_tensor_types"),
                                              **({"error": r.get("stderr_tail", "")[-400:]} if not r["ok"] else {})})
    if ra is None and rb is None:
        return {"status": missing_status(steps, f"mtmd-{a}"), "why": step_note(steps, f"mtmd-{a}"), **out}
    same = bool(ra and rb and ra["ok"] and rb["ok"]
                and ra["stdout_after_marker_hex"] == rb["stdout_after_marker_hex"])
    out["identical"] = same
    if required_same:
        out["status"] = status(same)
    else:  # ours must load and answer; sameness is a figure
        out["status"] = status(bool(ra and ra["ok"] and ra["answer_hex"]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    res = os.path.join(args.work, "res")
    steps = read_steps(args.work)
    checks = {}

    ck = load_json(os.path.join(res, "checkpoint.json"))
    checks["checkpoint"] = {"tiny": {"status": status(ck is not None and steps.get("checkpoint", {}).get("rc") == 0),
                                     **(ck or {"why": step_note(steps, "checkpoint")})}}

    exports = {}
    for fmt, precs in (("gguf", ALL_GGUF), ("safetensors", ["bf16", "fp16"]), ("bnb", ["int8", "nf4"])):
        for p in precs:
            name = f"export-{fmt}-{p}"
            r = load_json(os.path.join(res, f"{name}.json"))
            ok = steps.get(name, {}).get("rc") == 0 and r is not None
            e = {"status": status(ok, name in steps)}
            if r:
                e.update({"files": {os.path.basename(f["path"]): f["bytes"] for f in r.get("files", [])},
                          "seconds": r.get("seconds"), "notes": r.get("notes", []),
                          "tensor_types": sorted({t["type"] for t in r.get("tensors", [])})})
            else:
                e["why"] = step_note(steps, name)
            exports[f"{fmt}-{p}"] = e
    checks["our_exports"] = exports

    checks["gguf_text_vs_converter"] = {p: gguf_check(res, steps, f"text-{p}") for p in TEXT_VS_CONVERTER}
    checks["gguf_text_vs_llama_quantize"] = {p: gguf_check(res, steps, f"text-{p}") for p in TEXT_VS_QUANTIZE}
    checks["mmproj_vs_converter"] = {p: gguf_check(res, steps, f"mmproj-{p}") for p in ALL_GGUF}

    mt = {"bf16 ours vs converter": mtmd_pair(res, steps, "ours-bf16", "conv-bf16"),
          "q8_0 ours vs converter": mtmd_pair(res, steps, "ours-q8_0", "conv-q8_0"),
          "q4_k_m ours loads and answers (vs llama-quantize's)": mtmd_pair(res, steps, "ours-q4_k_m", "lq-q4_k_m",
                                                                           required_same=False)}
    optional = {"f16 ours vs converter (optional)": mtmd_pair(res, steps, "ours-f16", "conv-f16"),
                "q4_0 ours vs llama-quantize (optional)": mtmd_pair(res, steps, "ours-q4_0", "lq-q4_0"),
                "iq4_nl ours vs llama-quantize (optional)": mtmd_pair(res, steps, "ours-iq4_nl", "lq-iq4_nl")}
    mt.update(optional)
    checks["llama_mtmd_cli"] = mt

    tf = {}
    for d in ("bf16", "fp16"):
        r = load_json(os.path.join(res, f"transformers-{d}.json"))
        tf[d] = ({"status": status(r["ok"]), "max_abs_logit_diff": r["max_abs_logit_diff"], "bar": r["bar"],
                  "bound": r["bound"], "weights_changed": r["weights"]["changed_values"],
                  "max_weight_change": r["weights"]["max_abs_weight_change"],
                  "missing": r["weights"]["missing_in_export"][:10], "device": r["device"],
                  "logits_shape": r["logits_shape"], "next_token": [r["next_token_source"], r["next_token_export"]]}
                 if r else {"status": missing_status(steps, f"transformers-{d}"),
                            "why": step_note(steps, f"transformers-{d}")})
    checks["transformers_loads_safetensors"] = tf

    bnb = {}
    for m in ("int8", "nf4"):
        r = load_json(os.path.join(res, f"bnb-{m}.json"))
        bnb[m] = ({"status": status(r["ok"]), "failures": r["failures"][:30], "n_failures": len(r["failures"]),
                   "modules_checked": r["modules_checked"], "modules_expected": r["modules_expected"],
                   "modules_skipped": r["modules_skipped"], "tensors_16bit_identical": r["tensors_16bit_identical"],
                   "rel_rmse_mean": r["rel_rmse_mean"], "rel_rmse_max": r["rel_rmse_max"],
                   "config_text_as_transformers": r["config"].get("transformers_style_text")}
                  if r else {"status": missing_status(steps, f"bnb-check-{m}"), "why": step_note(steps, f"bnb-check-{m}")})
    checks["bnb_export_reader"] = bnb

    ours_bnb = {}
    for m in ("int8", "nf4"):
        for what in ("info", "generate"):
            name = f"ours-{what}-bnb-{m}"
            s = steps.get(name)
            c = {"status": status(s is not None and s["rc"] == 0, s is not None and s["rc"] != 125),
                 **({"why": step_note(steps, name)} if not s or s["rc"] else {})}
            try:
                with open(os.path.join(args.work, "logs", f"{name}.log"), errors="replace") as f:
                    text = f.read()
                if what == "generate":
                    g = json.loads(text.strip().splitlines()[-1])
                    c.update({"generated_ids": g.get("generated_ids"), "text": g.get("text")})
                else:
                    c["output_head"] = text[:400]
            except (OSError, ValueError, IndexError):
                pass
            ours_bnb[f"{what} {m}"] = c
    checks["our_cli_reads_bnb"] = ours_bnb

    man = load_json(os.path.join(args.work, "fixture", "ggml-quant", "manifest.json"))
    checks["ggml_fixture"] = {"ggml-quant": {"status": status(man is not None and steps.get("ggml-fixture", {}).get("rc") == 0,
                                                              "ggml-fixture" in steps),
                                             **({"outputs": {o["file"]: o["bytes"] for o in man["outputs"]}} if man else
                                                {"why": step_note(steps, "ggml-fixture")})}}

    # Required = everything except the optional llama-mtmd-cli runs.
    required_ok = True
    lines = []
    for group, items in checks.items():
        for name, c in items.items():
            opt = "(optional)" in name
            st = c.get("status", "not run")
            if not opt and st != "pass":
                required_ok = False
            fig = ""
            if group.startswith("gguf") or group.startswith("mmproj"):
                if "keys_identical" in c:
                    fig = (f"keys {c['keys_identical']} same, {len(c['keys_differing'])} differ, "
                           f"{len(c['keys_only_in_ours'])}/{len(c['keys_only_in_theirs'])} only ours/theirs; tensors "
                           f"{c['tensors_identical']}/{c['tensors'][0]} identical; unexplained {len(c['unexplained'])}")
            elif group == "llama_mtmd_cli" and "why" not in c:
                labels = [k for k in c if k not in ("status", "identical", "why")]
                fig = "; ".join(f"{k}: {c[k]['answer']!r}" if c[k] else f"{k}: -" for k in labels)
                if "identical" in c:
                    fig += f"; identical: {c['identical']}"
            elif group == "transformers_loads_safetensors" and "max_abs_logit_diff" in c:
                fig = f"max |logit diff| {c['max_abs_logit_diff']:.3g} (bar {c['bar']}), weights changed {c['weights_changed']}"
            elif group == "bnb_export_reader" and "modules_checked" in c:
                fig = (f"{c['modules_checked']} modules, rel RMSE mean {c['rel_rmse_mean'] or 0:.4g} "
                       f"(max {c['rel_rmse_max'] or 0:.4g}), "
                       f"{c['tensors_16bit_identical']} 16-bit identical, {c['n_failures']} failures")
            elif group == "our_cli_reads_bnb" and "generated_ids" in c:
                fig = f"generated {c['generated_ids']} {c['text']!r}"
            elif group == "our_exports" and "files" in c:
                fig = ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in c["files"].items() if k.endswith((".gguf", ".safetensors")))
            if "why" in c:
                fig = (fig + "; " if fig else "") + f"why: {c['why']}"
            lines.append(f"{st.upper():8} {group} / {name}: {fig}")

    env = []
    try:
        with open(os.path.join(args.work, "logs", "environment.log")) as f:
            env = [ln.rstrip() for ln in f][:8]
    except OSError:
        pass
    summary = {"pass": required_ok, "checks": checks, "steps": steps, "environment": env}
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=1, default=str)
    print("\n".join(lines))
    print(f"OVERALL: {'PASS' if required_ok else 'FAIL'} ({sum(1 for ln in lines if ln.startswith('PASS'))} passed, "
          f"{sum(1 for ln in lines if ln.startswith('FAIL'))} failed, "
          f"{sum(1 for ln in lines if ln.startswith('NOT RUN'))} not run)")
    slow = sorted(steps.items(), key=lambda kv: -kv[1]["seconds"])[:6]
    print("slowest steps: " + ", ".join(f"{k} {v['seconds']}s" for k, v in slow))
    return 0 if required_ok else 1


if __name__ == "__main__":
    sys.exit(main())
