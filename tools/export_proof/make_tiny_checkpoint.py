#!/usr/bin/env python3
"""Makes the tiny Qwen3-VL-MoE checkpoint the export proof runs on (issue 6 point 6).

Run on the GPU machine (torch 2.11, transformers 5.17, safetensors); never needed by users or CI.

  python3 tools/export_proof/make_tiny_checkpoint.py --tokenizer-dir DIR --out OUT/tiny-qwen3vlmoe

The checkpoint has the exact architecture with the REAL vocabulary (151,936 rows) and tokenizer, so
llama.cpp's converter accepts it, and sizes chosen so that every GGUF block type is exercised:

  text   hidden 256, 4 layers (llama.cpp needs more text layers than deepstack indexes), 4 query / 2 KV
         heads of 64, mrope_section [12, 10, 10] (sums to head_dim / 2), 8 experts, top-2,
         moe_intermediate_size 512, intermediate_size 768 (unused by MoE layers, written to GGUF)
  vision depth 3, hidden 64, 2 heads, MLP 80, deepstack at blocks [0, 1], out_hidden 256, patch 16,
         temporal patch 2, spatial merge 2, 64 position embeddings (image_size 128)

Every row length of the text weights (256, 512) is a multiple of 256, as the K-quants need. The expert
width (512) differs from the hidden size (256) on purpose: with equal sizes the two expert orientations
[E, H, 2I] / [E, 2I, H] and [E, I, H] / [E, H, I] cannot be told apart by shape, and a wrong
orientation would load silently. The vision MLP width 80 is not a multiple of 32 (like the real 4304):
its fc2 rows cannot be Q8_0 or Q4_0 blocks, which exercises the writers' fallback rules, and NF4 blocks
of 64 cross its rows.

Weights: transformers' random init, then re-drawn with a fixed seed at 1/sqrt(fan_in) scale (the
make_engine_reference.py recipe: well separated logits and routing), cast to bf16, written with
save_pretrained (safetensors). The script then checks what save_pretrained wrote: the experts must be
in the published layout (gate_up_proj [E, H, 2I], down_proj [E, I, H]); if transformers wrote another
layout, it says so loudly and rewrites those tensors in the published layout. Finally the folder is
loaded back with from_pretrained and every tensor must equal the model's.

config.json: by default the published checkpoint's spelling (rope_scaling and rope_theta in text_config,
sorted keys), replacing the transformers-5 spelling save_pretrained writes (logged); --config-spelling
transformers keeps save_pretrained's. Companion files: tokenizer.json and tokenizer_config.json copied from --tokenizer-dir as they are, the
Qwen3-VL Instruct chat template as chat_template.jinja, generation_config.json, and
preprocessor_config.json (as resources/demo-model's). A JSON summary goes to stdout (last line).
"""
import argparse
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.dirname(HERE)
REPO = os.path.dirname(TOOLS)

SEED = 61

TEXT = {
    "model_type": "qwen3_vl_moe_text", "vocab_size": 151936, "hidden_size": 256,
    "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64,
    "intermediate_size": 768, "moe_intermediate_size": 512, "num_experts": 8, "num_experts_per_tok": 2,
    "norm_topk_prob": True, "decoder_sparse_step": 1, "mlp_only_layers": [], "hidden_act": "silu",
    "rms_norm_eps": 1e-6, "attention_bias": False, "attention_dropout": 0.0,
    "max_position_embeddings": 32768, "rope_theta": 5000000,
    "rope_scaling": {"mrope_interleaved": True, "mrope_section": [12, 10, 10], "rope_type": "default"},
    "bos_token_id": 151643, "eos_token_id": 151645, "dtype": "bfloat16", "tie_word_embeddings": False,
    "use_cache": True, "initializer_range": 0.02,
}
VISION = {
    "depth": 3, "hidden_size": 64, "num_heads": 2, "intermediate_size": 80, "hidden_act": "gelu_pytorch_tanh",
    "patch_size": 16, "temporal_patch_size": 2, "spatial_merge_size": 2, "in_channels": 3,
    "out_hidden_size": 256, "num_position_embeddings": 64, "deepstack_visual_indexes": [0, 1],
    "initializer_range": 0.02, "model_type": "qwen3_vl_moe",
}
CONFIG = {
    "architectures": ["Qwen3VLMoeForConditionalGeneration"], "model_type": "qwen3_vl_moe",
    "image_token_id": 151655, "video_token_id": 151656, "vision_start_token_id": 151652,
    "vision_end_token_id": 151653, "tie_word_embeddings": False,
    "text_config": TEXT, "vision_config": VISION,
}
GENERATION = {"bos_token_id": 151643, "pad_token_id": 151643, "do_sample": True,
              "eos_token_id": [151645, 151643], "top_k": 20, "top_p": 0.8, "repetition_penalty": 1.0,
              "temperature": 0.7}


def log(msg):
    print(msg, flush=True)


def read_safetensors_header(path):
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def saved_files(folder):
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            return sorted(set(json.load(f)["weight_map"].values()))
    return sorted(fn for fn in os.listdir(folder) if fn.endswith(".safetensors"))


def check_and_fix_expert_layout(model, folder):
    """Returns (layout found, fixed?). Published: gate_up [E, H, 2I], down [E, I, H]."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    E, H, I = TEXT["num_experts"], TEXT["hidden_size"], TEXT["moe_intermediate_size"]
    want = {"gate_up_proj": [E, H, 2 * I], "down_proj": [E, I, H]}
    mem = {k: v.detach() for k, v in model.state_dict().items()}
    found = {}
    bad_files = {}
    for fn in saved_files(folder):
        path = os.path.join(folder, fn)
        with safe_open(path, framework="pt") as f:
            for name in f.keys():
                kind = name.rsplit(".", 1)[-1]
                if kind not in want:
                    continue
                t = f.get_tensor(name)
                if name not in mem:
                    found[name] = "unknown (name not in the model's state dict)"
                    continue
                m = mem[name].to(t.dtype)
                if list(t.shape) == want[kind] and torch.equal(t, m.transpose(1, 2)):
                    found[name] = "published"
                elif list(t.shape) == list(m.shape) and torch.equal(t, m):
                    found[name] = "transformers in-memory"
                    bad_files.setdefault(fn, []).append(name)
                else:
                    found[name] = f"unknown (shape {list(t.shape)})"
    if not found:
        raise SystemExit("no expert tensors found in the saved checkpoint")
    unknown = {k: v for k, v in found.items() if v.startswith("unknown")}
    if unknown:
        raise SystemExit(f"save_pretrained wrote experts that match neither layout: {unknown}")
    layouts = sorted(set(found.values()))
    log(f"save_pretrained expert layout: {layouts} ({len(found)} tensors)")
    if not bad_files:
        return "published", False
    log("!" * 100)
    log(f"!!! save_pretrained wrote the experts in the layout {layouts}, NOT the published "
        f"[E, H, 2I] / [E, I, H]:")
    log("!!! rewriting those tensors in the published layout (llama.cpp's converter accepts only that one)")
    log("!" * 100)
    for fn, names in bad_files.items():
        path = os.path.join(folder, fn)
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {"format": "pt"}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        for name in names:
            tensors[name] = mem[name].to(tensors[name].dtype).transpose(1, 2).contiguous()
        tmp = path + ".tmp"
        save_file(tensors, tmp, metadata=meta)
        os.replace(tmp, path)
    return layouts[0] if len(layouts) == 1 else "mixed", True


def write_companions(folder, tokenizer_dir):
    for fn in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tokenizer_dir, fn), os.path.join(folder, fn))
    shutil.copy(os.path.join(TOOLS, "qwen3_vl_instruct_chat_template.jinja"), os.path.join(folder, "chat_template.jinja"))
    with open(os.path.join(REPO, "resources", "demo-model", "preprocessor_config.json")) as f:
        pre = json.load(f)
    with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
        json.dump(pre, f, indent=2)
    with open(os.path.join(folder, "generation_config.json"), "w") as f:
        json.dump(GENERATION, f, indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer-dir", required=True, help="folder with tokenizer.json and tokenizer_config.json")
    ap.add_argument("--out", required=True, help="checkpoint folder to create (replaced if present)")
    ap.add_argument("--config-spelling", choices=["published", "transformers"], default="published",
                    help="config.json as the published checkpoint spells it (default) or as save_pretrained wrote it")
    args = ap.parse_args()

    import torch
    import transformers
    from transformers import Qwen3VLMoeConfig, Qwen3VLMoeForConditionalGeneration
    sys.path.insert(0, TOOLS)
    from make_engine_reference import reinit  # the same weight recipe as the engine's references

    torch.manual_seed(SEED)
    folder = os.path.abspath(args.out)
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)

    # The config goes through config.json as a published checkpoint's would (published spelling:
    # rope_scaling, rope_theta); save_pretrained then rewrites config.json in transformers' own.
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
    config = Qwen3VLMoeConfig.from_pretrained(folder)
    model = Qwen3VLMoeForConditionalGeneration(config).to(torch.float32)
    reinit(model, SEED, tied=False)
    model = model.to(torch.bfloat16).eval()
    try:
        model.save_pretrained(folder, safe_serialization=True)
    except TypeError:  # a transformers without the argument: safetensors is its only format
        model.save_pretrained(folder)
    with open(os.path.join(folder, "config.json")) as f:
        saved_config = f.read()
    log("config.json as save_pretrained wrote it:\n" + saved_config)
    if args.config_spelling == "published":
        # The published checkpoint's spelling (rope_scaling + rope_theta, dtype in text_config only),
        # which is what users' folders hold; transformers must load it too (checked below).
        with open(os.path.join(folder, "config.json"), "w") as f:
            f.write(json.dumps(CONFIG, indent=2, sort_keys=True) + "\n")
    # save_pretrained may also write a generation_config.json; ours replaces it.
    write_companions(folder, args.tokenizer_dir)

    layout, fixed = check_and_fix_expert_layout(model, folder)

    # transformers must read back exactly the model (orientation included).
    back = Qwen3VLMoeForConditionalGeneration.from_pretrained(folder, dtype=torch.bfloat16)
    sd_back = back.state_dict()
    mismatched = [k for k, v in model.state_dict().items() if k not in sd_back or not torch.equal(sd_back[k], v)]
    if mismatched:
        raise SystemExit(f"reloaded checkpoint differs from the model in {len(mismatched)} tensors, e.g. {mismatched[:5]}")

    files = sorted(os.listdir(folder))
    tensors = {}
    for fn in saved_files(folder):
        for k, v in read_safetensors_header(os.path.join(folder, fn)).items():
            if k != "__metadata__":
                tensors[k] = [v["dtype"], v["shape"]]
    dtypes = sorted({d for d, _ in tensors.values()})
    summary = {
        "folder": folder, "files": files, "tensors": len(tensors), "dtypes": dtypes,
        "parameters": sum(p.numel() for p in model.parameters()),
        "expert_layout_written_by_save_pretrained": layout, "expert_layout_rewritten": fixed,
        "reload_identical": True, "transformers": transformers.__version__, "torch": torch.__version__,
        "seed": SEED, "config_spelling": args.config_spelling,
    }
    for name in ("model.language_model.layers.0.mlp.experts.gate_up_proj",
                 "model.language_model.layers.0.mlp.experts.down_proj",
                 "model.visual.blocks.0.mlp.linear_fc2.weight", "lm_head.weight"):
        if name in tensors:
            log(f"  {name}: {tensors[name]}")
    log(f"checkpoint: {folder}: {len(tensors)} tensors, {summary['parameters']} parameters, dtypes {dtypes}, "
        f"files {files}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
