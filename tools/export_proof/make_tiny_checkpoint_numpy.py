#!/usr/bin/env python3
"""The export proof's tiny checkpoint made with numpy alone, for trying the proof's pieces on a machine
without torch (the CI machine): same config.json, tensor names, shapes, dtypes and expert layout as
make_tiny_checkpoint.py writes, with different random values (no transformers init or reload check).

  python3 tools/export_proof/make_tiny_checkpoint_numpy.py --tokenizer-dir DIR --out OUT/tiny-qwen3vlmoe

With it, `quantlens-cli export` runs locally, llama.cpp's llama-quantize (built for the CPU) can quantize
our BF16 GGUF for compare_gguf.py, and llama-mtmd-cli can answer with our files on the CPU. The proof
itself (run_export_proof.sh) uses make_tiny_checkpoint.py.
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_tiny_checkpoint import CONFIG, GENERATION, REPO, TEXT, TOOLS, VISION  # noqa: E402
from selftest_check_bnb_export import bf16, write_safetensors  # noqa: E402


def tensors(rng):
    t, v = TEXT, VISION
    H, V, E, I, D = t["hidden_size"], t["vocab_size"], t["num_experts"], t["moe_intermediate_size"], t["head_dim"]
    nq, nkv = t["num_attention_heads"], t["num_key_value_heads"]
    out = {}

    def w(name, *shape, scale=None, mean=0.0):
        scale = scale if scale is not None else 1.0 / np.sqrt(shape[-1])
        out[name] = ("BF16", bf16(mean + rng.standard_normal(shape, dtype=np.float32) * np.float32(scale)))

    w("model.language_model.embed_tokens.weight", V, H, scale=1.0)
    w("lm_head.weight", V, H)
    w("model.language_model.norm.weight", H, scale=0.2, mean=1.0)
    for i in range(t["num_hidden_layers"]):
        p = f"model.language_model.layers.{i}"
        w(f"{p}.input_layernorm.weight", H, scale=0.2, mean=1.0)
        w(f"{p}.post_attention_layernorm.weight", H, scale=0.2, mean=1.0)
        w(f"{p}.self_attn.q_proj.weight", nq * D, H)
        w(f"{p}.self_attn.k_proj.weight", nkv * D, H)
        w(f"{p}.self_attn.v_proj.weight", nkv * D, H)
        w(f"{p}.self_attn.o_proj.weight", H, nq * D)
        w(f"{p}.self_attn.q_norm.weight", D, scale=0.2, mean=1.0)
        w(f"{p}.self_attn.k_norm.weight", D, scale=0.2, mean=1.0)
        w(f"{p}.mlp.gate.weight", E, H, scale=3.0 / np.sqrt(H))
        w(f"{p}.mlp.experts.gate_up_proj", E, H, 2 * I, scale=1.0 / np.sqrt(H))  # published [E, H, 2I]
        w(f"{p}.mlp.experts.down_proj", E, I, H, scale=1.0 / np.sqrt(I))         # published [E, I, H]
    C, F, M = v["hidden_size"], v["intermediate_size"], v["hidden_size"] * 4
    w("model.visual.patch_embed.proj.weight", C, 3, 2, 16, 16, scale=1.0 / np.sqrt(3 * 2 * 16 * 16))
    w("model.visual.patch_embed.proj.bias", C, scale=0.2)
    w("model.visual.pos_embed.weight", v["num_position_embeddings"], C, scale=1.0)
    for b in range(v["depth"]):
        p = f"model.visual.blocks.{b}"
        for n in ("norm1", "norm2"):
            w(f"{p}.{n}.weight", C, scale=0.2, mean=1.0)
            w(f"{p}.{n}.bias", C, scale=0.2)
        w(f"{p}.attn.qkv.weight", 3 * C, C)
        w(f"{p}.attn.qkv.bias", 3 * C, scale=0.2)
        w(f"{p}.attn.proj.weight", C, C)
        w(f"{p}.attn.proj.bias", C, scale=0.2)
        w(f"{p}.mlp.linear_fc1.weight", F, C)
        w(f"{p}.mlp.linear_fc1.bias", F, scale=0.2)
        w(f"{p}.mlp.linear_fc2.weight", C, F)
        w(f"{p}.mlp.linear_fc2.bias", C, scale=0.2)
    for p, nd in [("model.visual.merger", C)] + [(f"model.visual.deepstack_merger_list.{k}", M)
                                                 for k in range(len(v["deepstack_visual_indexes"]))]:
        w(f"{p}.norm.weight", nd, scale=0.2, mean=1.0)
        w(f"{p}.norm.bias", nd, scale=0.2)
        w(f"{p}.linear_fc1.weight", M, M)
        w(f"{p}.linear_fc1.bias", M, scale=0.2)
        w(f"{p}.linear_fc2.weight", v["out_hidden_size"], M)
        w(f"{p}.linear_fc2.bias", v["out_hidden_size"], scale=0.2)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=61)
    args = ap.parse_args()
    folder = os.path.abspath(args.out)
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    write_safetensors(os.path.join(folder, "model.safetensors"), tensors(np.random.default_rng(args.seed)))
    with open(os.path.join(folder, "config.json"), "w") as f:
        f.write(json.dumps(CONFIG, indent=2, sort_keys=True) + "\n")
    with open(os.path.join(folder, "generation_config.json"), "w") as f:
        json.dump(GENERATION, f, indent=2)
    for fn in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(args.tokenizer_dir, fn), os.path.join(folder, fn))
    shutil.copy(os.path.join(TOOLS, "qwen3_vl_instruct_chat_template.jinja"), os.path.join(folder, "chat_template.jinja"))
    shutil.copy(os.path.join(REPO, "resources", "demo-model", "preprocessor_config.json"),
                os.path.join(folder, "preprocessor_config.json"))
    print(f"wrote {folder}: {sorted(os.listdir(folder))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
