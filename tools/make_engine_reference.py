#!/usr/bin/env python3
"""Builds tiny random Qwen3-VL-MoE checkpoints and records what transformers 5.17 computes on them.

Run on the GPU machine (torch, transformers 5.17, safetensors, PIL); never needed by users or CI.
Three checkpoints of the exact architecture, each different in widths, heads, experts, top-k,
deepstack layers, special-token ids, dtype, sharding and expert orientation:

  demo    real vocabulary (151,936) and tokenizer, bf16, two shards + index, untied lm_head,
          experts in the published orientation [E, H, 2I] / [E, I, H]      -> resources/demo-model
  tiny-b  vocabulary 600, f32, one file, tied lm_head, published rope_scaling form, published orientation
  tiny-c  vocabulary 700, bf16, one file, untied, transformers-5 rope_parameters form, a dense
          (mlp_only) layer, experts in the transformers-5 in-memory orientation [E, 2I, H] / [E, H, I]
                                                                          -> tests/data/engine/<name>

For five cases per checkpoint (text only; one image; two images with text between; an image that
needs resizing; a two-turn conversation with an image in the second turn), transformers in fp32 on
the CPU gives: the prompt ids, the 3-D position ids, logits of several prompt rows (every column
for small vocabularies; 2,048 seeded columns plus the top 32 for the real one), and 12 greedy
tokens (argmax of float32 logits, no EOS stop, full recompute each step).

  python3 tools/make_engine_reference.py --tokenizer-dir DIR --out-models OUT1 --out-data OUT2
"""
import argparse
import copy
import json
import os
import random
import shutil
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_reference import synthetic_image  # noqa: E402

GREEDY_STEPS = 12


def vision_cfg(depth, hidden, heads, inter, out_hidden, npos, deepstack):
    return {"depth": depth, "hidden_size": hidden, "num_heads": heads, "intermediate_size": inter,
            "hidden_act": "gelu_pytorch_tanh", "patch_size": 16, "temporal_patch_size": 2,
            "spatial_merge_size": 2, "in_channels": 3, "out_hidden_size": out_hidden,
            "num_position_embeddings": npos, "deepstack_visual_indexes": deepstack,
            "initializer_range": 0.02, "model_type": "qwen3_vl_moe"}


CHECKPOINTS = {
    "demo": {
        "config": {
            "architectures": ["Qwen3VLMoeForConditionalGeneration"], "model_type": "qwen3_vl_moe",
            "image_token_id": 151655, "video_token_id": 151656,
            "vision_start_token_id": 151652, "vision_end_token_id": 151653,
            "tie_word_embeddings": False,
            "text_config": {
                "model_type": "qwen3_vl_moe_text", "vocab_size": 151936, "hidden_size": 24,
                "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
                "head_dim": 16, "intermediate_size": 64, "moe_intermediate_size": 20,
                "num_experts": 8, "num_experts_per_tok": 2, "norm_topk_prob": True,
                "decoder_sparse_step": 1, "mlp_only_layers": [], "hidden_act": "silu",
                "rms_norm_eps": 1e-6, "attention_bias": False, "attention_dropout": 0.0,
                "max_position_embeddings": 32768, "rope_theta": 5000000,
                "rope_scaling": {"mrope_interleaved": True, "mrope_section": [4, 2, 2], "rope_type": "default"},
                "bos_token_id": 151643, "eos_token_id": 151645, "dtype": "bfloat16",
                "tie_word_embeddings": False, "use_cache": True, "initializer_range": 0.02},
            "vision_config": vision_cfg(3, 32, 2, 48, 24, 64, [0, 1]),
        },
        "dtype": torch.bfloat16, "shards": 2, "orientation": "published",
        "generation": {"bos_token_id": 151643, "pad_token_id": 151643, "do_sample": True,
                       "eos_token_id": [151645, 151643], "top_k": 20, "top_p": 0.8,
                       "repetition_penalty": 1.0, "temperature": 0.7},
        "pixels": (65536, 16777216), "real_vocab": True, "seed": 11,
    },
    "tiny-b": {
        "config": {
            "architectures": ["Qwen3VLMoeForConditionalGeneration"], "model_type": "qwen3_vl_moe",
            "image_token_id": 590, "video_token_id": 591,
            "vision_start_token_id": 588, "vision_end_token_id": 589,
            "tie_word_embeddings": True,
            "text_config": {
                "model_type": "qwen3_vl_moe_text", "vocab_size": 600, "hidden_size": 48,
                "num_hidden_layers": 3, "num_attention_heads": 6, "num_key_value_heads": 2,
                "head_dim": 16, "intermediate_size": 80, "moe_intermediate_size": 20,
                "num_experts": 6, "num_experts_per_tok": 3, "norm_topk_prob": True,
                "decoder_sparse_step": 1, "mlp_only_layers": [], "hidden_act": "silu",
                "rms_norm_eps": 1e-5, "attention_bias": False, "attention_dropout": 0.0,
                "max_position_embeddings": 4096, "rope_theta": 10000,
                "rope_scaling": {"mrope_interleaved": True, "mrope_section": [3, 3, 2], "rope_type": "default"},
                "bos_token_id": 1, "eos_token_id": 587, "dtype": "float32", "use_cache": True,
                "tie_word_embeddings": True,
                "initializer_range": 0.02},
            "vision_config": vision_cfg(3, 24, 3, 40, 48, 36, [1]),
        },
        "dtype": torch.float32, "shards": 1, "orientation": "published",
        "generation": {"bos_token_id": 1, "pad_token_id": 0, "eos_token_id": 587, "do_sample": False},
        "pixels": (4096, 16384), "real_vocab": False, "seed": 22,
    },
    "tiny-c": {
        "config": {
            "architectures": ["Qwen3VLMoeForConditionalGeneration"], "model_type": "qwen3_vl_moe",
            "image_token_id": 650, "video_token_id": 651,
            "vision_start_token_id": 648, "vision_end_token_id": 649,
            "tie_word_embeddings": False,
            "text_config": {
                "model_type": "qwen3_vl_moe_text", "vocab_size": 700, "hidden_size": 40,
                "num_hidden_layers": 4, "num_attention_heads": 5, "num_key_value_heads": 1,
                "head_dim": 8, "intermediate_size": 56, "moe_intermediate_size": 12,
                "num_local_experts": 10, "num_experts_per_tok": 4, "norm_topk_prob": True,
                "decoder_sparse_step": 1, "mlp_only_layers": [2], "hidden_act": "silu",
                "rms_norm_eps": 1e-6, "attention_bias": False, "attention_dropout": 0.0,
                "max_position_embeddings": 4096,
                "rope_parameters": {"mrope_interleaved": True, "mrope_section": [2, 1, 1],
                                    "rope_type": "default", "rope_theta": 1000000.0},
                "bos_token_id": 1, "eos_token_id": 699, "dtype": "bfloat16", "use_cache": True,
                "initializer_range": 0.02},
            "vision_config": vision_cfg(4, 16, 2, 32, 40, 16, [0, 2]),
        },
        "dtype": torch.bfloat16, "shards": 1, "orientation": "in-memory",
        "generation": {"bos_token_id": 1, "pad_token_id": 0, "eos_token_id": [698, 699], "do_sample": False},
        "pixels": (4096, 16384), "real_vocab": False, "seed": 33,
    },
}

# (file name, width, height): small pictures; 300x170 needs resizing under every pixel budget.
ENGINE_IMAGES = [("img_a_64x64.png", 64, 64), ("img_b_48x80.png", 48, 80),
                 ("img_c_300x170.png", 300, 170), ("img_d_90x90.png", 90, 90)]


def reinit(model, seed, tied):
    """Random weights large enough that logits and routing are well separated (no near-ties)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                if "norm" in name and name.endswith("weight"):
                    p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(0.2 * torch.randn(p.shape, generator=g))
                continue
            if name.endswith("experts.gate_up_proj") or name.endswith("experts.down_proj"):
                fan_in = p.shape[-1]  # in-memory nn.Linear orientation [E, out, in]
            elif name.endswith("pos_embed.weight") or name.endswith("embed_tokens.weight"):
                fan_in = 1
            else:
                fan_in = int(np.prod(p.shape[1:]))
            std = 1.0 / np.sqrt(fan_in)
            if tied and name.endswith("embed_tokens.weight"):
                std = 0.05  # else a tied head mostly echoes the input token
            if name.endswith("mlp.gate.weight"):
                std *= 3.0  # decisive routing
            p.copy_(std * torch.randn(p.shape, generator=g))


def flips_orientation(spec, name):
    """Whether tensor `name` is stored transposed in the checkpoint: the expert stacks, when the
    spec writes the published [E, in, out] orientation (the module holds [E, out, in])."""
    return spec["orientation"] == "published" and (name.endswith("experts.gate_up_proj") or name.endswith("experts.down_proj"))


def save_checkpoint(model, spec, folder):
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if spec["config"]["tie_word_embeddings"]:
        sd.pop("lm_head.weight", None)
    for k in list(sd):
        if flips_orientation(spec, k):
            sd[k] = sd[k].transpose(1, 2)
        sd[k] = sd[k].to(spec["dtype"]).contiguous()
    from safetensors.torch import save_file
    names = sorted(sd)
    if spec["shards"] == 1:
        save_file(sd, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    else:
        n = spec["shards"]
        # Split by bytes so both shards carry weight (the embedding alone is most of the demo model).
        big = [k for k in names if "embed_tokens" in k]
        rest = [k for k in names if k not in big]
        groups = [rest, big] if n == 2 else [names[i::n] for i in range(n)]
        groups = [g for g in groups if g]
        weight_map, total = {}, 0
        for i, group in enumerate(groups):
            fname = f"model-{i + 1:05d}-of-{n:05d}.safetensors"
            save_file({k: sd[k] for k in group}, os.path.join(folder, fname), metadata={"format": "pt"})
            for k in group:
                weight_map[k] = fname
                total += sd[k].numel() * sd[k].element_size()
        with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    return sd


def write_folder(name, spec, folder, tokenizer_dir, template):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(spec["config"], f, indent=2)
    with open(os.path.join(folder, "generation_config.json"), "w") as f:
        json.dump(spec["generation"], f, indent=2)
    with open(os.path.join(HERE, "..", "tests", "data", "qwen3-vl-30b-a3b", "preprocessor_config.json")) as f:
        pre = json.load(f)
    pre["size"] = {"shortest_edge": spec["pixels"][0], "longest_edge": spec["pixels"][1]}
    with open(os.path.join(folder, "preprocessor_config.json"), "w") as f:
        json.dump(pre, f, indent=2)
    if spec["real_vocab"]:
        for fn in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(tokenizer_dir, fn), os.path.join(folder, fn))
        with open(os.path.join(folder, "chat_template.json"), "w") as f:
            json.dump({"chat_template": template}, f, indent=2)


def load_hf(folder):
    from transformers import Qwen3VLMoeForConditionalGeneration
    try:
        return Qwen3VLMoeForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).eval(), "default"
    except Exception as e:  # pragma: no cover - only if the default experts kernel is missing on CPU
        print(f"  default load failed ({e}); retrying with eager experts")
        return Qwen3VLMoeForConditionalGeneration.from_pretrained(
            folder, dtype=torch.float32, experts_implementation="eager").eval(), "eager"


def check_reload(model, saved, spec):
    """transformers must read back exactly what we wrote (orientation included)."""
    sd = model.state_dict()
    for k, v in saved.items():
        w = v.to(torch.float32)
        if flips_orientation(spec, k):
            w = w.transpose(1, 2)
        if not torch.equal(sd[k].to(torch.float32), w):
            raise SystemExit(f"reloaded tensor differs: {k}")


class PositionCapture:
    def __init__(self, lm):
        self.value = None
        lm.register_forward_pre_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs):
        self.value = kwargs.get("position_ids")


def forward(model, ids, pixel_values, grid, image_token_id):
    input_ids = torch.tensor([ids], dtype=torch.long)
    mm = (input_ids == image_token_id).to(torch.int32)
    kwargs = {"input_ids": input_ids, "mm_token_type_ids": mm}
    if pixel_values is not None:
        kwargs["pixel_values"] = pixel_values
        kwargs["image_grid_thw"] = grid
    with torch.no_grad():
        return model(**kwargs).logits[0].to(torch.float32)


def image_inputs(proc, files, img_dir):
    from PIL import Image
    if not files:
        return None, None, []
    ims = [Image.open(os.path.join(img_dir, f)).convert("RGB") for f in files]
    out = proc(images=ims, return_tensors="pt")
    grid = out["image_grid_thw"]
    return out["pixel_values"], grid, [int(t * h * w // 4) for t, h, w in grid.tolist()]


def synthetic_cases(spec, rng):
    """(name, image files, ids builder taking each image's token count) in the five case shapes."""
    cfg = spec["config"]
    vs, ve, pad = cfg["vision_start_token_id"], cfg["vision_end_token_id"], cfg["image_token_id"]
    hi = vs - 10  # ordinary text ids stay below the special ones

    def text(n):
        return [rng.randrange(2, hi) for _ in range(n)]

    def image(counts, k):
        return [vs] + [pad] * counts[k] + [ve]

    return [
        ("text_only", [], lambda c: text(23)),
        ("one_image", ["img_a_64x64.png"], lambda c: text(5) + image(c, 0) + text(7)),
        ("two_images_text_between", ["img_a_64x64.png", "img_b_48x80.png"],
         lambda c: text(3) + image(c, 0) + text(6) + image(c, 1) + text(4)),
        ("image_needs_resizing", ["img_c_300x170.png"], lambda c: text(4) + image(c, 0) + text(5)),
        ("two_turn_image_second", ["img_d_90x90.png"], lambda c: text(17) + text(3) + image(c, 0) + text(6)),
    ]


def chat_cases():
    img = lambda f: {"type": "image", "image": f}  # noqa: E731
    txt = lambda t: {"type": "text", "text": t}  # noqa: E731
    return [
        ("text_only", [{"role": "user", "content": [txt("What is the capital of France?")]}]),
        ("one_image", [{"role": "user", "content": [img("img_a_64x64.png"), txt("What is in this picture?")]}]),
        ("two_images_text_between", [{"role": "user", "content": [img("img_a_64x64.png"), txt("versus"),
                                                                   img("img_b_48x80.png"), txt("Which is brighter?")]}]),
        ("image_needs_resizing", [{"role": "system", "content": [txt("You describe images.")]},
                                  {"role": "user", "content": [img("img_c_300x170.png"), txt("Describe it.")]}]),
        ("two_turn_image_second", [{"role": "user", "content": [txt("Hello!")]},
                                   {"role": "assistant", "content": [txt("Hi, how can I help?")]},
                                   {"role": "user", "content": [img("img_d_90x90.png"), txt("What color dominates?")]}]),
    ]


def run_case(model, capture, ids, pv, grid, image_token_id, vocab, columns):
    logits = forward(model, ids, pv, grid, image_token_id)
    pos = capture.value
    if pos is not None and pos.dim() == 3 and pos.shape[0] == 4:
        pos = pos[1:]  # transformers 5 prepends the text positions as a fourth row
    positions = pos[:, 0, :].tolist() if pos is not None else None
    image_rows = [i for i, t in enumerate(ids) if t == image_token_id]
    rows = sorted({0, len(ids) - 1, len(ids) // 2} | ({image_rows[0], image_rows[-1]} if image_rows else set()))
    rec_rows = {}
    for r in rows:
        row = logits[r]
        if columns is None:
            rec_rows[str(r)] = {"columns": "all", "values": [float(x) for x in row.tolist()]}
        else:
            top = torch.topk(row, 32).indices.tolist()
            cols = sorted(set(columns) | set(top))
            rec_rows[str(r)] = {"columns": cols, "values": [float(row[c]) for c in cols]}
    seq = list(ids)
    greedy = []
    for _ in range(GREEDY_STEPS):
        nxt = int(torch.argmax(forward(model, seq, pv, grid, image_token_id)[-1]))
        greedy.append(nxt)
        seq.append(nxt)
    full_pos = capture.value
    if full_pos is not None and full_pos.dim() == 3 and full_pos.shape[0] == 4:
        full_pos = full_pos[1:]
    # The last forward ran on prompt + 11 generated tokens: its positions cover every decode step.
    return {"input_ids": ids, "logits": rec_rows, "greedy": greedy, "position_ids": positions,
            "position_ids_with_generated": full_pos[:, 0, :].tolist() if full_pos is not None else None,
            "image_grid_thw": grid.tolist() if grid is not None else []}


def build(name, spec, models_out, data_out, tokenizer_dir, template, img_dir):
    """A random checkpoint of the spec, written, then recorded (record_cases)."""
    from transformers import Qwen3VLMoeConfig, Qwen3VLMoeForConditionalGeneration
    folder = os.path.join(models_out if spec["real_vocab"] else data_out, "demo-model" if spec["real_vocab"] else name)
    if os.path.exists(folder):
        shutil.rmtree(folder)
    write_folder(name, spec, folder, tokenizer_dir, template)
    torch.manual_seed(spec["seed"])
    config = Qwen3VLMoeConfig.from_pretrained(folder)
    model = Qwen3VLMoeForConditionalGeneration(config).to(torch.float32)
    reinit(model, spec["seed"], spec["config"]["tie_word_embeddings"])
    saved = save_checkpoint(model, spec, folder)
    del model
    record_cases(name, spec, folder, saved, data_out, img_dir, os.path.relpath(folder, os.path.join(data_out, "..")))
    if spec["real_vocab"]:  # users' copies use the tokenizer QuantLens installs; keep the folder small
        os.remove(os.path.join(folder, "tokenizer.json"))


def record_cases(name, spec, folder, saved, data_out, img_dir, rel_folder):
    """What transformers computes (fp32, CPU) on the checkpoint in folder for the five case shapes,
    into data_out/cases-<name>.json; rel_folder is the folder as the C++ tests find it from tests/data."""
    import transformers
    from transformers import AutoImageProcessor, AutoProcessor
    model, experts_impl = load_hf(folder)
    check_reload(model, saved, spec)
    capture = PositionCapture(model.model.language_model)
    image_token_id = spec["config"]["image_token_id"]
    vocab = spec["config"]["text_config"]["vocab_size"]
    columns = None
    if spec["real_vocab"]:
        columns = sorted(random.Random(5).sample(range(vocab), 2048))
    cases = []
    if spec["real_vocab"]:
        proc = AutoProcessor.from_pretrained(folder)
        for cname, messages in chat_cases():
            msgs = copy.deepcopy(messages)
            files = []
            for m in msgs:
                for part in m["content"]:
                    if part["type"] == "image":
                        files.append(part["image"])
                        part["image"] = os.path.join(img_dir, part["image"])
            inputs = proc.apply_chat_template(msgs, tokenize=True, add_generation_prompt=True,
                                              return_dict=True, return_tensors="pt")
            ids = inputs["input_ids"][0].tolist()
            pv = inputs.get("pixel_values")
            grid = inputs.get("image_grid_thw")
            rec = run_case(model, capture, ids, pv, grid, image_token_id, vocab, columns)
            rec.update({"name": cname, "messages": messages, "images": files})
            cases.append(rec)
            print(f"  {name}/{cname}: {len(ids)} tokens, greedy {rec['greedy']}")
    else:
        improc = AutoImageProcessor.from_pretrained(folder)
        rng = random.Random(spec["seed"])
        for cname, files, make_ids in synthetic_cases(spec, rng):
            pv, grid, counts = image_inputs(improc, files, img_dir)
            ids = make_ids(counts)
            rec = run_case(model, capture, ids, pv, grid, image_token_id, vocab, None)
            rec.update({"name": cname, "images": files})
            cases.append(rec)
            print(f"  {name}/{cname}: {len(ids)} tokens, greedy {rec['greedy']}")
    doc = {"source": f"transformers {transformers.__version__}, torch {torch.__version__}, fp32 on CPU, "
                     f"experts implementation {experts_impl}; greedy = argmax of float32 logits, full recompute",
           "checkpoint": name, "folder": rel_folder, "image_dir": "engine/images", "cases": cases}
    with open(os.path.join(data_out, f"cases-{name}.json"), "w") as f:
        json.dump(doc, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer-dir", required=True)
    ap.add_argument("--out-models", required=True, help="where demo-model/ goes (resources/)")
    ap.add_argument("--out-data", required=True, help="where tiny checkpoints and cases go (tests/data/engine)")
    ap.add_argument("--only", action="append")
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    with open(os.path.join(HERE, "qwen3_vl_instruct_chat_template.jinja"), encoding="utf-8") as f:
        template = f.read()
    img_dir = os.path.join(args.out_data, "images")
    os.makedirs(img_dir, exist_ok=True)
    for i, (fn, w, h) in enumerate(ENGINE_IMAGES):
        synthetic_image(w, h, "RGB", seed=50 + i).save(os.path.join(img_dir, fn), optimize=True)
    for name, spec in CHECKPOINTS.items():
        if args.only and name not in args.only:
            continue
        print(f"checkpoint {name}")
        build(name, spec, args.out_models, args.out_data, args.tokenizer_dir, template, img_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
