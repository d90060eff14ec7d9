#!/usr/bin/env python3
"""Self-test of check_bnb_export.py (numpy only; runs anywhere):

  python3 tools/export_proof/selftest_check_bnb_export.py [--keep DIR]

Makes a small random source checkpoint of the Qwen3-VL-MoE tensor layout, writes int8 and nf4
exports of it with a plain numpy implementation of docs/formats.md section 7 (not our C++ writer), and
runs the checker on them: the faithful exports must pass, and each deliberately broken copy (nibble
order swapped, quant-state JSON compacted, weight_format missing, a norm changed, lm_head quantized,
a quantization_config key missing, experts quantized, a shape transposed) must fail. Also checks
that an export which keeps the vision tower 16-bit through llm_int8_skip_modules passes.
"""
import argparse
import copy
import io
import json
import os
import shutil
import struct
import sys
import tempfile
from contextlib import redirect_stdout

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_bnb_export as cb  # noqa: E402

CONFIG = {
    "architectures": ["Qwen3VLMoeForConditionalGeneration"], "model_type": "qwen3_vl_moe",
    "image_token_id": 90, "video_token_id": 91, "vision_start_token_id": 88, "vision_end_token_id": 89,
    "tie_word_embeddings": False, "dtype": "bfloat16",
    "text_config": {"model_type": "qwen3_vl_moe_text", "vocab_size": 100, "hidden_size": 64,
                    "num_hidden_layers": 3, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32,
                    "intermediate_size": 96, "moe_intermediate_size": 48, "num_experts": 4,
                    "num_experts_per_tok": 2, "decoder_sparse_step": 1, "mlp_only_layers": [1],
                    "rms_norm_eps": 1e-6, "dtype": "bfloat16"},
    "vision_config": {"depth": 2, "hidden_size": 32, "num_heads": 2, "intermediate_size": 40, "patch_size": 16,
                      "temporal_patch_size": 2, "spatial_merge_size": 2, "in_channels": 3, "out_hidden_size": 64,
                      "num_position_embeddings": 16, "deepstack_visual_indexes": [0]},
}


def bf16(a):
    """float32 -> bf16 bits (round to nearest even)."""
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return r


def source_tensors(rng):
    t, v = CONFIG["text_config"], CONFIG["vision_config"]
    H, V, E, I, D = t["hidden_size"], t["vocab_size"], t["num_experts"], t["moe_intermediate_size"], t["head_dim"]
    nq, nkv = t["num_attention_heads"], t["num_key_value_heads"]
    out = {}

    def w(name, *shape, scale=None):
        scale = scale if scale is not None else 1.0 / np.sqrt(shape[-1])
        out[name] = ("BF16", bf16(rng.standard_normal(shape).astype(np.float32) * scale))

    w("model.language_model.embed_tokens.weight", V, H)
    w("lm_head.weight", V, H)
    w("model.language_model.norm.weight", H, scale=1.0)
    for i in range(t["num_hidden_layers"]):
        p = f"model.language_model.layers.{i}"
        w(f"{p}.input_layernorm.weight", H, scale=1.0)
        w(f"{p}.post_attention_layernorm.weight", H, scale=1.0)
        w(f"{p}.self_attn.q_proj.weight", nq * D, H)
        w(f"{p}.self_attn.k_proj.weight", nkv * D, H)
        w(f"{p}.self_attn.v_proj.weight", nkv * D, H)
        w(f"{p}.self_attn.o_proj.weight", H, nq * D)
        w(f"{p}.self_attn.q_norm.weight", D, scale=1.0)
        w(f"{p}.self_attn.k_norm.weight", D, scale=1.0)
        if i in t["mlp_only_layers"]:
            w(f"{p}.mlp.gate_proj.weight", t["intermediate_size"], H)
            w(f"{p}.mlp.up_proj.weight", t["intermediate_size"], H)
            w(f"{p}.mlp.down_proj.weight", H, t["intermediate_size"])
        else:
            w(f"{p}.mlp.gate.weight", E, H)
            w(f"{p}.mlp.experts.gate_up_proj", E, H, 2 * I)
            w(f"{p}.mlp.experts.down_proj", E, I, H)
    C, F, M = v["hidden_size"], v["intermediate_size"], v["hidden_size"] * 4
    w("model.visual.patch_embed.proj.weight", C, 3, 2, 16, 16)
    w("model.visual.patch_embed.proj.bias", C, scale=0.1)
    w("model.visual.pos_embed.weight", v["num_position_embeddings"], C)
    for b in range(v["depth"]):
        p = f"model.visual.blocks.{b}"
        for n in ("norm1", "norm2"):
            w(f"{p}.{n}.weight", C, scale=1.0)
            w(f"{p}.{n}.bias", C, scale=0.1)
        w(f"{p}.attn.qkv.weight", 3 * C, C)
        w(f"{p}.attn.qkv.bias", 3 * C, scale=0.1)
        w(f"{p}.attn.proj.weight", C, C)
        w(f"{p}.attn.proj.bias", C, scale=0.1)
        w(f"{p}.mlp.linear_fc1.weight", F, C)
        w(f"{p}.mlp.linear_fc1.bias", F, scale=0.1)
        w(f"{p}.mlp.linear_fc2.weight", C, F)
        w(f"{p}.mlp.linear_fc2.bias", C, scale=0.1)
    for p, norm_dim in [("model.visual.merger", C)] + [(f"model.visual.deepstack_merger_list.{k}", M)
                                                       for k in range(len(v["deepstack_visual_indexes"]))]:
        w(f"{p}.norm.weight", norm_dim, scale=1.0)
        w(f"{p}.norm.bias", norm_dim, scale=0.1)
        w(f"{p}.linear_fc1.weight", M, M)
        w(f"{p}.linear_fc1.bias", M, scale=0.1)
        w(f"{p}.linear_fc2.weight", v["out_hidden_size"], M)
        w(f"{p}.linear_fc2.bias", v["out_hidden_size"], scale=0.1)
    return out


def write_safetensors(path, tensors, json_sep=(",", ":")):
    """tensors: name -> (dtype string, numpy array of the stored element type)."""
    order = sorted(tensors, key=lambda n: (-["BOOL", "U8", "I8", "F16", "BF16", "I32", "F32", "I64"].index(
        tensors[n][0]) if tensors[n][0] in ["BOOL", "U8", "I8", "F16", "BF16", "I32", "F32", "I64"] else 0, n))
    header = {"__metadata__": {"format": "pt"}}
    off = 0
    blobs = []
    for n in order:
        dt, a = tensors[n]
        b = np.ascontiguousarray(a).tobytes()
        header[n] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    hj = json.dumps(header, separators=json_sep).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def f32_of(entry):
    dt, a = entry
    return (a.astype(np.uint32) << 16).view(np.float32) if dt == "BF16" else a.astype(np.float32)


def quant_int8(W):
    W16 = W.astype(np.float16).astype(np.float32)
    scb = np.abs(W16).max(axis=1).astype(np.float32)
    scale = (np.float32(127.0) / scb).astype(np.float32)
    cbk = np.rint((W16 * scale[:, None]).astype(np.float32)).astype(np.int8)
    return cbk, scb


def quant_nf4(W, dmap, swap_nibbles=False):
    x = W.reshape(-1).astype(np.float32)
    numel = x.size
    nb = (numel + 63) // 64
    xb = np.concatenate([x, np.zeros(nb * 64 - numel, np.float32)]).reshape(nb, 64)
    absmax = np.abs(xb).max(axis=1).astype(np.float32)
    s = (xb * (np.float32(1.0) / absmax)[:, None]).astype(np.float32).reshape(-1)[:numel]
    codes = np.searchsorted(cb.NF4_THRESHOLDS, s, side="left").astype(np.uint8)
    if numel % 2:
        codes = np.concatenate([codes, np.zeros(1, np.uint8)])
    hi, lo = (codes[1::2], codes[0::2]) if swap_nibbles else (codes[0::2], codes[1::2])
    packed = ((hi << 4) | lo).astype(np.uint8).reshape(-1, 1)
    offset = np.float32(np.mean(absmax, dtype=np.float32))
    a = (absmax - offset).astype(np.float32)
    nnb = (nb + 255) // 256
    ap = np.concatenate([a, np.zeros(nnb * 256 - nb, np.float32)]).reshape(nnb, 256)
    nested = np.abs(ap).max(axis=1).astype(np.float32)
    sa = (ap * (np.float32(1.0) / nested)[:, None]).astype(np.float32).reshape(-1)[:nb]
    i = np.clip(np.searchsorted(dmap, sa), 1, 255)
    qa = np.where(np.abs(sa - dmap[i - 1]) <= np.abs(dmap[i] - sa), i - 1, i).astype(np.uint8)
    return packed, qa, nested, float(offset)


def make_export(src, folder, mode, dmap, skip=None, mutate=None):
    os.makedirs(folder)
    cfg = copy.deepcopy(CONFIG)
    qc = dict(cb.QCONFIG_NF4 if mode == "nf4" else cb.QCONFIG_INT8)
    qc["llm_int8_skip_modules"] = skip
    if mutate == "config_key":
        del qc["llm_int8_threshold"]
    cfg["quantization_config"] = qc
    with open(os.path.join(folder, "config.json"), "w") as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    mods = [m for m in cb.quantized_modules(CONFIG) if not cb.skipped(m, skip)]
    if mutate == "lm_head":
        mods.append("lm_head")
    out = {}
    for name, entry in src.items():
        P = name[:-len(".weight")] if name.endswith(".weight") else None
        if P in mods:
            W = f32_of(entry)
            if mode == "int8":
                cbk, scb = quant_int8(W)
                out[name] = ("I8", cbk)
                out[f"{P}.SCB"] = ("F32", scb)
                if mutate != "weight_format":
                    out[f"{P}.weight_format"] = ("U8", np.zeros((), np.uint8))
            else:
                packed, qa, nested, offset = quant_nf4(W, dmap, swap_nibbles=(mutate == "nibbles"))
                out[name] = ("U8", packed)
                out[f"{name}.absmax"] = ("U8", qa)
                out[f"{name}.quant_map"] = ("F32", cb.NF4_LEVELS.copy())
                out[f"{name}.nested_absmax"] = ("F32", nested)
                out[f"{name}.nested_quant_map"] = ("F32", dmap.copy())
                qs = {"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": list(W.shape),
                      "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": offset}
                text = json.dumps(qs, separators=(",", ":")) if mutate == "json" else json.dumps(qs)
                out[f"{name}.quant_state.bitsandbytes__nf4"] = ("U8", np.frombuffer(text.encode(), np.uint8))
        else:
            dt, a = entry
            if mutate == "norm" and name == "model.language_model.norm.weight":
                a = a.copy()
                a[3] ^= 1
            if mutate == "experts" and name.endswith("experts.down_proj"):
                dt, a = "I8", np.zeros(a.shape, np.int8)
            if mutate == "transpose" and name == "model.language_model.layers.0.mlp.experts.gate_up_proj":
                a = np.ascontiguousarray(a.transpose(0, 2, 1))
            out[name] = (dt, a)
    write_safetensors(os.path.join(folder, "model.safetensors"), out)


def run_checker(src_dir, exp_dir):
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = cb.main(["--source", src_dir, "--export", exp_dir])
    return rc, buf.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", help="write the folders here and keep them")
    args = ap.parse_args()
    root = args.keep or tempfile.mkdtemp(prefix="bnb-selftest-")
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(7)
    src = source_tensors(rng)
    src_dir = os.path.join(root, "source")
    if os.path.exists(src_dir):
        shutil.rmtree(src_dir)
    os.makedirs(src_dir)
    with open(os.path.join(src_dir, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
    write_safetensors(os.path.join(src_dir, "model.safetensors"), src)
    dmap = cb.dynamic_map_signed()

    cases = [  # (name, mode, skip, mutation, should pass)
        ("int8", "int8", None, None, True),
        ("nf4", "nf4", None, None, True),
        ("nf4-skip-vision", "nf4", ["lm_head", "model.visual"], None, True),
        ("nf4-nibbles-swapped", "nf4", None, "nibbles", False),
        ("nf4-json-compact", "nf4", None, "json", False),
        ("int8-no-weight_format", "int8", None, "weight_format", False),
        ("int8-norm-changed", "int8", None, "norm", False),
        ("nf4-lm_head-quantized", "nf4", None, "lm_head", False),
        ("int8-config-key-missing", "int8", None, "config_key", False),
        ("int8-experts-quantized", "int8", None, "experts", False),
        ("nf4-experts-transposed", "nf4", None, "transpose", False),
    ]
    passed = failed = 0
    for name, mode, skip, mutate, should_pass in cases:
        d = os.path.join(root, name)
        if os.path.exists(d):
            shutil.rmtree(d)
        make_export(src, d, mode, dmap, skip, mutate)
        rc, out = run_checker(src_dir, d)
        fails = [ln.strip() for ln in out.splitlines() if ln.strip().startswith("FAIL")]
        good = (rc == 0) == should_pass
        passed += good
        failed += not good
        summary = next((ln for ln in out.splitlines() if "quantized modules checked" in ln), "")
        print(f"{'ok  ' if good else 'BAD '} {name}: rc={rc} (want {'0' if should_pass else 'non-zero'}); "
              f"{len(fails)} failure lines{': ' + fails[0][:150] if fails else ''}")
        if should_pass and summary:
            print(f"       {summary.strip()}")
        if not good:
            print(out)
    if not args.keep:
        shutil.rmtree(root)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
