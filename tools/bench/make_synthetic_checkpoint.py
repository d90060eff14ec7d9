#!/usr/bin/env python3
"""Writes a synthetic checkpoint as a real Hugging Face folder, for tools/bench/side_by_side.sh.

Run on the GPU machine (torch, safetensors); never needed by users or CI.

  python3 tools/bench/make_synthetic_checkpoint.py --layers 12 --tokenizer-dir DIR --out OUT

Every tensor holds exactly the values of QuantLens' synthetic:qwen3-vl-30b-a3b-l12
(docs/synthetic-models.md, core/model/synthetic_values.h): element i of a tensor whose seed is s is
offset + scale * float(int32(mix64(s ^ mix64(i)) >> 32)) * 2^-31, rounded to bf16, with the tensor's
seed from an FNV-1a hash of its name mixed with the model seed, and its offset and scale by kind.
The index i runs over QuantLens' stored order, which has the experts as [E, out, in]; they are
written in the published orientation ([E, in, out], the only one llama.cpp's converter accepts), so
QuantLens reading this folder gets the same matrices as from synthetic:NAME. The config is the
published config.json with num_hidden_layers set; the tokenizer is copied from --tokenizer-dir.
"""
import argparse
import json
import math
import os
import shutil

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MODEL_SEED = 20261207          # core/model/synthetic_models.h kSyntheticSeed
M64 = (1 << 64) - 1


def s64(v):
    """An unsigned 64-bit constant as torch's signed int64."""
    v &= M64
    return v - (1 << 64) if v >= (1 << 63) else v


def lshr(z, k):
    """Logical right shift of int64 bits (torch's >> is arithmetic)."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def mix64_t(z):
    z = z + s64(0x9E3779B97F4A7C15)
    z = (z ^ lshr(z, 30)) * s64(0xBF58476D1CE4E5B9)
    z = (z ^ lshr(z, 27)) * s64(0x94D049BB133111EB)
    return z ^ lshr(z, 31)


def mix64_py(z):
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def tensor_seed(name):
    h = 0xcbf29ce484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001b3) & M64
    return mix64_py(h ^ mix64_py(MODEL_SEED))


def values(seed, count, offset, scale, device):
    out = torch.empty(count, dtype=torch.bfloat16, device=device)
    chunk = 1 << 26
    seed_t = s64(seed)
    for first in range(0, count, chunk):
        n = min(chunk, count - first)
        idx = torch.arange(first, first + n, dtype=torch.int64, device=device)
        bits = mix64_t(mix64_t(idx) ^ seed_t)
        r = (bits >> 32).to(torch.float32)           # the signed high 32 bits, exactly representable? no:
        u = r * (2.0 ** -31)                          # int32 -> float rounds to nearest, as the C++ cast
        v = u * scale + 0.0
        v = (torch.full_like(v, offset) + v) if offset != 0.0 else v
        out[first:first + n] = v.to(torch.bfloat16)
    return out


def schema(cfg):
    """(name, shape as QuantLens stores it, kind, fan_in) of every tensor, as core/model/tensor_schema.cpp."""
    t, v = cfg["text_config"], cfg["vision_config"]
    H, V, hd = t["hidden_size"], t["vocab_size"], t["head_dim"]
    nq, nkv, E, I = t["num_attention_heads"], t["num_key_value_heads"], t["num_experts"], t["moe_intermediate_size"]
    out = [("model.language_model.embed_tokens.weight", [V, H], "embed")]
    for l in range(t["num_hidden_layers"]):
        p = f"model.language_model.layers.{l}."
        out += [(p + "input_layernorm.weight", [H], "norm"), (p + "post_attention_layernorm.weight", [H], "norm"),
                (p + "self_attn.q_proj.weight", [nq * hd, H], "matrix"),
                (p + "self_attn.k_proj.weight", [nkv * hd, H], "matrix"),
                (p + "self_attn.v_proj.weight", [nkv * hd, H], "matrix"),
                (p + "self_attn.o_proj.weight", [H, nq * hd], "matrix"),
                (p + "self_attn.q_norm.weight", [hd], "norm"), (p + "self_attn.k_norm.weight", [hd], "norm"),
                (p + "mlp.gate.weight", [E, H], "matrix"),
                (p + "mlp.experts.gate_up_proj", [E, 2 * I, H], "experts"),
                (p + "mlp.experts.down_proj", [E, H, I], "experts")]
    out += [("model.language_model.norm.weight", [H], "norm"), ("lm_head.weight", [V, H], "matrix")]
    D, M, P = v["hidden_size"], v["intermediate_size"], v["in_channels"] * v["temporal_patch_size"] * v["patch_size"] ** 2
    out += [("model.visual.patch_embed.proj.weight", [D, v["in_channels"], v["temporal_patch_size"], v["patch_size"], v["patch_size"]], "matrix"),
            ("model.visual.patch_embed.proj.bias", [D], "bias"),
            ("model.visual.pos_embed.weight", [v["num_position_embeddings"], D], "pos")]
    for b in range(v["depth"]):
        p = f"model.visual.blocks.{b}."
        out += [(p + "norm1.weight", [D], "norm"), (p + "norm1.bias", [D], "bias"),
                (p + "norm2.weight", [D], "norm"), (p + "norm2.bias", [D], "bias"),
                (p + "attn.qkv.weight", [3 * D, D], "matrix"), (p + "attn.qkv.bias", [3 * D], "bias"),
                (p + "attn.proj.weight", [D, D], "matrix"), (p + "attn.proj.bias", [D], "bias"),
                (p + "mlp.linear_fc1.weight", [M, D], "matrix"), (p + "mlp.linear_fc1.bias", [M], "bias"),
                (p + "mlp.linear_fc2.weight", [D, M], "matrix"), (p + "mlp.linear_fc2.bias", [D], "bias")]
    G = D * v["spatial_merge_size"] ** 2
    for prefix, norm_width in [("model.visual.merger.", D)] + [
            (f"model.visual.deepstack_merger_list.{k}.", G) for k in range(len(v["deepstack_visual_indexes"]))]:
        out += [(prefix + "norm.weight", [norm_width], "norm"), (prefix + "norm.bias", [norm_width], "bias"),
                (prefix + "linear_fc1.weight", [G, G], "matrix"), (prefix + "linear_fc1.bias", [G], "bias"),
                (prefix + "linear_fc2.weight", [v["out_hidden_size"], G], "matrix"),
                (prefix + "linear_fc2.bias", [v["out_hidden_size"]], "bias")]
    return out


def offset_scale(name, shape, kind):
    """weight_source.cpp values_for()."""
    if kind == "norm":
        return 1.0, 0.05
    if kind == "bias":
        return 0.0, 0.02
    if kind == "embed":
        return 0.0, 1.0
    if kind == "pos":
        return 0.0, 0.1
    fan_in = shape[2] if kind == "experts" else math.prod(shape[1:])
    return 0.0, float(torch.tensor(math.sqrt(3.0 / fan_in), dtype=torch.float32))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--tokenizer-dir", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    cfg = json.load(open(os.path.join(REPO, "resources/qwen3-vl-30b-a3b/config.json")))
    cfg["text_config"]["num_hidden_layers"] = a.layers
    shutil.rmtree(a.out, ignore_errors=True)
    os.makedirs(a.out)
    shard, shard_bytes, shards, index = {}, 0, [], {}

    def flush():
        nonlocal shard, shard_bytes
        if not shard:
            return
        name = f"model-{len(shards) + 1:05d}.safetensors"
        save_file(shard, os.path.join(a.out, name), metadata={"format": "pt"})
        shards.append((name, list(shard)))
        shard, shard_bytes = {}, 0

    for name, shape, kind in schema(cfg):
        off, sc = offset_scale(name, shape, kind)
        t = values(tensor_seed(name), math.prod(shape), off, sc, dev).reshape(shape)
        if kind == "experts":
            t = t.transpose(1, 2)          # [E, out, in] -> the published [E, in, out]
        shard[name] = t.contiguous().cpu()
        shard_bytes += t.numel() * 2
        if shard_bytes >= (4 << 30):
            flush()
    flush()
    total = 0
    renamed = []
    for i, (name, keys) in enumerate(shards):
        final = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        os.rename(os.path.join(a.out, name), os.path.join(a.out, final))
        total += os.path.getsize(os.path.join(a.out, final))
        for k in keys:
            index[k] = final
    json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(index.items()))},
              open(os.path.join(a.out, "model.safetensors.index.json"), "w"), indent=2)
    json.dump(cfg, open(os.path.join(a.out, "config.json"), "w"), indent=2, sort_keys=True)
    for f in ("generation_config.json", "preprocessor_config.json"):
        shutil.copy(os.path.join(REPO, "resources/qwen3-vl-30b-a3b", f), a.out)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        src = os.path.join(a.tokenizer_dir, f)
        if os.path.exists(src):
            shutil.copy(src, a.out)
    print(json.dumps({"out": a.out, "shards": len(shards), "bytes": total}))


if __name__ == "__main__":
    main()
