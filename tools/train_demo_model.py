#!/usr/bin/env python3
"""Trains the demo model: a small Qwen3-VL-MoE (the exact architecture, the real 151,936-token
vocabulary and tokenizer) that answers questions about pictures of shapes.

Run on the GPU machine (torch, transformers 5.17, safetensors); no download: the pictures are drawn
by tools/demo_shapes/scenes.py (pure Python), the questions and answers come with them, grounding
answers in Qwen3-VL's form ([{"bbox_2d": [x1, y1, x2, y2], "label": ...}], 0-1000). Training is
from a fixed seed; the held-out evaluation set (tools/make_demo_eval_set.py, another seed) is
scored at the end with the same normalised exact match as `quantlens-cli eval`
(docs/evaluation.md), so the two can be compared.

  python3 tools/train_demo_model.py --tokenizer-dir DIR --out resources/demo-model \
      [--steps 3000] [--batch 64] [--scenes 6000] [--eval-set tests/data/eval/demo-shapes/set.json]

Size: the tied embedding is 151,936 x 64 values, 19.4 MB of the ~22 MB checkpoint (bf16); the rest
is 4 decoder layers of 8 experts (top-2) and a 4-block vision tower with DeepStack at blocks 1, 2.
"""
import argparse
import copy
import json
import math
import os
import random
import sys
import time
from multiprocessing import Pool

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "demo_shapes"))
import scenes  # noqa: E402
from make_engine_reference import CHECKPOINTS, save_checkpoint, vision_cfg, write_folder  # noqa: E402

HIDDEN = 64
# The random demo's architecture and special ids (make_engine_reference.py), wider, with a tied
# embedding (the 151,936 x 64 table is most of the 24 MB the checkpoint may take).
SPEC = copy.deepcopy(CHECKPOINTS["demo"])
SPEC["config"]["tie_word_embeddings"] = True
SPEC["config"]["text_config"].update({
    "hidden_size": HIDDEN, "intermediate_size": 128, "moe_intermediate_size": 64,
    "max_position_embeddings": 4096, "tie_word_embeddings": True, "router_aux_loss_coef": 0.01})
SPEC["config"]["vision_config"] = vision_cfg(4, 96, 4, 192, HIDDEN, 196, [1, 2])
SPEC.update({
    "shards": 1,
    "generation": {"bos_token_id": 151643, "pad_token_id": 151643, "do_sample": False,
                   "eos_token_id": [151645, 151643], "temperature": 0.0},
    # 224 x 224 pictures stay 224 x 224: 196 patches, 49 image tokens.
    "pixels": (50176, 200704), "seed": 7,
})
SIDE = 224


def make_scene(seed):
    """One training example source: a scene's picture (PNG bytes) and its questions."""
    rng = random.Random(seed)
    scene = scenes.random_scene(rng, SIDE, SIDE)
    rgb = scenes.render(scene, seed)
    qs = scenes.questions(scene, rng)
    return rgb, [(q[0], q[1], q[2]) for q in qs]


def normalise(text):
    """docs/evaluation.md's normalisation (core/engine/answer_scoring.cpp), for the score printed here."""
    words = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
             "fifteen sixteen seventeen eighteen nineteen twenty").split()
    out = []
    spaced = "".join(c.lower() if c.isalnum() or ord(c) >= 128 else " " for c in text)
    for w in spaced.split():
        if w in ("a", "an", "the"):
            continue
        out.append(str(words.index(w)) if w in words else w)
    return " ".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--scenes", type=int, default=6000)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--eval-set", default=os.path.join(HERE, "..", "tests", "data", "eval", "demo-shapes", "set.json"))
    ap.add_argument("--eval-limit", type=int, default=200)
    a = ap.parse_args()

    from PIL import Image
    from transformers import AutoProcessor, Qwen3VLMoeConfig, Qwen3VLMoeForConditionalGeneration

    torch.manual_seed(SPEC["seed"])
    random.seed(SPEC["seed"])
    dev = "cuda"
    with open(os.path.join(HERE, "qwen3_vl_instruct_chat_template.jinja"), encoding="utf-8") as f:
        template = f.read()
    os.makedirs(a.out, exist_ok=True)
    write_folder("demo", SPEC, a.out, a.tokenizer_dir, template)
    proc = AutoProcessor.from_pretrained(a.out)
    tok = proc.tokenizer
    config = Qwen3VLMoeConfig.from_pretrained(a.out)
    model = Qwen3VLMoeForConditionalGeneration(config).to(dev, torch.float32)
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters")

    t0 = time.time()
    with Pool(max(1, (os.cpu_count() or 2) - 1)) as pool:  # training seeds: 1 .. scenes (eval uses 20261207+)
        data = pool.map(make_scene, range(1, a.scenes + 1), chunksize=64)
    pictures = [Image.frombytes("RGB", (SIDE, SIDE), rgb) for rgb, _ in data]
    examples = [(i, q, ans) for i, (_, qs) in enumerate(data) for (_, q, ans) in qs]
    print(f"{len(examples)} questions on {len(pictures)} pictures in {time.time() - t0:.0f} s")

    im_end = tok.convert_tokens_to_ids("<|im_end|>")

    def encode(batch):
        """Right-padded ids, labels on the answer and its <|im_end|> only, and the pictures' tensors."""
        prompts = [[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}]}] for _, q, _ in batch]
        texts = [proc.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
        out = proc(text=texts, images=[pictures[i] for i, _, _ in batch], return_tensors="pt", padding=True)
        seqs, labels = [], []
        for k, (_, _, ans) in enumerate(batch):
            # The prompt without the processor's padding (whichever side it pads).
            prefix = out["input_ids"][k][out["attention_mask"][k] == 1].tolist()
            answer = tok(ans, add_special_tokens=False)["input_ids"] + [im_end]
            seqs.append(prefix + answer)
            labels.append([-100] * len(prefix) + answer)
        n = max(len(s) for s in seqs)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 151643
        ids = torch.full((len(seqs), n), pad, dtype=torch.long)
        lab = torch.full((len(seqs), n), -100, dtype=torch.long)
        mask = torch.zeros((len(seqs), n), dtype=torch.long)
        for k, (s, l) in enumerate(zip(seqs, labels)):
            ids[k, :len(s)] = torch.tensor(s)
            lab[k, :len(l)] = torch.tensor(l)
            mask[k, :len(s)] = 1
        mm = (ids == SPEC["config"]["image_token_id"]).to(torch.int32)
        return {"input_ids": ids.to(dev), "attention_mask": mask.to(dev), "labels": lab.to(dev),
                "mm_token_type_ids": mm.to(dev), "pixel_values": out["pixel_values"].to(dev),
                "image_grid_thw": out["image_grid_thw"].to(dev)}

    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01, betas=(0.9, 0.98))
    warm = max(1, a.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / a.steps))))
    rng = random.Random(SPEC["seed"])
    model.train()
    t0 = time.time()
    for step in range(a.steps):
        batch = [examples[rng.randrange(len(examples))] for _ in range(a.batch)]
        inputs = encode(batch)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(**inputs, output_router_logits=True)
        loss = out.loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == a.steps - 1:
            print(f"step {step:5d}  loss {loss.item():.4f}  lr {sched.get_last_lr()[0]:.2e}  {time.time() - t0:.0f} s",
                  flush=True)

    model.eval()
    saved = save_checkpoint(model.to("cpu", torch.float32), SPEC, a.out)
    os.remove(os.path.join(a.out, "tokenizer.json"))  # users' copies use the tokenizer QuantLens installs
    size = sum(os.path.getsize(os.path.join(a.out, f)) for f in os.listdir(a.out))
    print(f"wrote {a.out}: {len(saved)} tensors, {size / 1e6:.1f} MB")

    # The held-out set, greedy, in bf16 on the GPU (as the C++ eval's reference row).
    with open(a.eval_set) as f:
        items = json.load(f)[: a.eval_limit]
    base = os.path.dirname(a.eval_set)
    model = model.to(dev, torch.bfloat16)
    right = {}
    for it in items:
        picture = Image.open(os.path.join(base, it["images"][0])).convert("RGB")
        prompt = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": it["text"]}]}]
        text = proc.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        inputs = proc(text=[text], images=[picture], return_tensors="pt").to(dev)
        inputs["mm_token_type_ids"] = (inputs["input_ids"] == SPEC["config"]["image_token_id"]).to(torch.int32)
        with torch.no_grad():
            gen = model.generate(**inputs, max_new_tokens=48, do_sample=False)
        answer = tok.decode(gen[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        if "box" in it:
            ok = False
            try:
                start = answer.index("[")
                box = json.loads(answer[start:answer.rindex("]") + 1])[0]["bbox_2d"]
                ix = max(0, min(box[2], it["box"][2]) - max(box[0], it["box"][0]))
                iy = max(0, min(box[3], it["box"][3]) - max(box[1], it["box"][1]))
                area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
                ok = ix * iy / (area(box) + area(it["box"]) - ix * iy) >= 0.5
            except (ValueError, KeyError, IndexError, TypeError, ZeroDivisionError):
                ok = False
        else:
            ok = normalise(answer) == normalise(it["answer"])
        r = right.setdefault(it["type"], [0, 0])
        r[0] += ok
        r[1] += 1
    total = [sum(v[0] for v in right.values()), sum(v[1] for v in right.values())]
    print("held-out accuracy (bf16, transformers):", f"{total[0]}/{total[1]}",
          " ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(right.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
