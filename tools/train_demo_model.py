#!/usr/bin/env python3
"""Trains the demo model: a small Qwen3-VL-MoE (the exact architecture, the real 151,936-token
vocabulary and tokenizer) that answers questions about pictures of shapes.

Run on the GPU machine (torch, transformers 5.17, safetensors, PIL); no download: the pictures are
drawn by tools/demo_shapes/scenes.py (pure Python), the questions and answers come with them,
grounding answers in Qwen3-VL's form ([{"bbox_2d": [x1, y1, x2, y2], "label": ...}], 0-1000).
Training is from a fixed seed and stops after --minutes; then the checkpoint is written (bf16, two
shards, tied embedding), transformers' own logits and greedy tokens on it are recorded for the C++
parity tests (make_engine_reference.record_cases), and the held-out set (tools/make_demo_eval_set.py,
another seed) is scored with the normalised exact match of `quantlens-cli eval` (docs/evaluation.md).

  python3 tools/train_demo_model.py --tokenizer-dir DIR --out OUT/demo-model --cases-out OUT \
      [--minutes 5.5] [--pictures 32] [--per-picture 4] [--scenes 8000]

Size: the tied embedding is 151,936 x 64 bf16 values, 19.4 MB of the ~23 MB checkpoint; the rest is
4 decoder layers of 8 experts (top-2, intermediate 96) and a 4-block vision tower with DeepStack at
blocks 1 and 2. A step takes --pictures pictures through the vision tower once each and asks
--per-picture questions of each, one sequence per question (the features are shared: most of a
step's cost is per picture, not per question).
Every picture is resized to about 224 x 224 pixels (min = max pixels = 50,176), so the model always
sees 48-49 image tokens, the size it was trained at.
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
from scoring import is_right  # noqa: E402
from make_engine_reference import CHECKPOINTS, flips_orientation, record_cases, save_checkpoint, vision_cfg, write_folder  # noqa: E402

HIDDEN = 64
PIXELS = 224 * 224
# The random demo's architecture and special ids (make_engine_reference.py), wider, with a tied
# embedding (the 151,936 x 64 table is most of the 24 MB the checkpoint may take).
SPEC = copy.deepcopy(CHECKPOINTS["demo"])
SPEC["config"]["tie_word_embeddings"] = True
SPEC["config"]["text_config"].update({
    # moe_intermediate_size must differ from hidden_size: a square down_proj has the same shape in
    # the published [E, I, H] and the in-memory [E, H, I] orientation, and loaders (transformers
    # 5.17, and ours, which refuses it) tell the two apart by shape.
    "hidden_size": HIDDEN, "head_dim": 32, "intermediate_size": 128, "moe_intermediate_size": 96,
    "rope_scaling": {"mrope_interleaved": True, "mrope_section": [8, 4, 4], "rope_type": "default"},
    "max_position_embeddings": 4096, "tie_word_embeddings": True, "router_aux_loss_coef": 0.01})
SPEC["config"]["vision_config"] = vision_cfg(4, 96, 4, 192, HIDDEN, 196, [1, 2])
SPEC.update({
    "generation": {"bos_token_id": 151643, "pad_token_id": 151643, "do_sample": False,
                   "eos_token_id": [151645, 151643], "temperature": 0.0},
    "pixels": (PIXELS, PIXELS), "seed": 7,
})
# Picture sizes drawn for training: the three the resize keeps as they are (49 or 48 tokens), and
# larger ones the resize brings down to them (as a user's picture is).
SIZES = [(224, 224)] * 4 + [(256, 192)] * 2 + [(192, 256)] * 2 + [(640, 480), (480, 640), (448, 448)]
# How often each question type is drawn, relative to the others.
TYPE_WEIGHT = {"grounding": 2.0, "text": 1.5, "position": 1.2}


def make_scene(seed):
    """One training picture (RGB bytes and size) and its questions; large pictures are drawn
    without noise (noise there costs seconds and is smoothed away by the resize)."""
    rng = random.Random(seed)
    w, h = SIZES[rng.randrange(len(SIZES))]
    big = w * h > PIXELS
    scene = scenes.random_scene(rng, w, h, word_chance=0.35, noise_chance=0.0 if big else 0.3)
    return w, h, scenes.render(scene, seed), [(q[0], q[1], q[2]) for q in scenes.questions(scene, rng)]


def load_checkpoint(model, spec, folder):
    """The inverse of make_engine_reference.save_checkpoint: the folder's tensors into the model,
    expert stacks turned back from the published [E, in, out] orientation, the tied lm_head left to
    the embedding. Every other parameter must be there, with its shape."""
    from safetensors.torch import load_file
    sd = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".safetensors"):
            sd.update(load_file(os.path.join(folder, name)))
    for k in list(sd):
        if flips_orientation(spec, k):
            sd[k] = sd[k].transpose(1, 2)
        sd[k] = sd[k].float()
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise SystemExit(f"{folder}: missing {missing[:5]}, unexpected {unexpected[:5]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cases-out", required=True, help="where cases-demo-trained.json goes")
    ap.add_argument("--minutes", type=float, default=5.5, help="training time")
    ap.add_argument("--deadline", type=float, default=0,
                    help="seconds the whole run may take (0: no limit); training stops early enough "
                         "for writing, scoring and recording to fit")
    ap.add_argument("--pictures", type=int, default=32, help="pictures per step")
    ap.add_argument("--per-picture", type=int, default=4, help="questions per picture per step")
    ap.add_argument("--scenes", type=int, default=8000)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--init", default="",
                    help="a checkpoint folder this script wrote before: training goes on from its weights "
                         "(a stage of a training spread over several device calls)")
    ap.add_argument("--reserve", type=float, default=100,
                    help="seconds of --deadline kept for writing, scoring and recording (they took 45 s)")
    ap.add_argument("--warmup", type=int, default=100, help="steps of linear learning-rate warm-up")
    ap.add_argument("--eval-set", default=os.path.join(HERE, "..", "tests", "data", "eval", "demo-shapes", "set.json"))
    a = ap.parse_args()

    from PIL import Image
    from transformers import AutoProcessor, Qwen3VLMoeConfig, Qwen3VLMoeForConditionalGeneration
    try:
        from transformers.models.qwen3_vl_moe.modeling_qwen3_vl_moe import load_balancing_loss_func
    except ImportError:
        load_balancing_loss_func = None

    t_start = time.time()
    torch.manual_seed(SPEC["seed"])
    dev = "cuda"
    torch.backends.cuda.matmul.allow_tf32 = False
    with open(os.path.join(HERE, "qwen3_vl_instruct_chat_template.jinja"), encoding="utf-8") as f:
        template = f.read()
    os.makedirs(a.out, exist_ok=True)
    write_folder("demo", SPEC, a.out, a.tokenizer_dir, template)
    proc = AutoProcessor.from_pretrained(a.out)
    tok = proc.tokenizer
    # Pictures and questions; training seeds are 1 .. scenes (the held-out set uses 20261207).
    # Drawn before CUDA starts in this process: the workers are forked.
    t0 = time.time()
    with Pool(max(1, (os.cpu_count() or 2) - 1)) as pool:
        data = pool.map(make_scene, range(1, a.scenes + 1), chunksize=32)
    print(f"{a.scenes} pictures drawn in {time.time() - t0:.0f} s", flush=True)
    config = Qwen3VLMoeConfig.from_pretrained(a.out)
    model = Qwen3VLMoeForConditionalGeneration(config).to(dev, torch.float32)
    for m in model.modules():  # the plain per-expert loop: autograd through it is certain
        if hasattr(m, "gate_up_proj") and hasattr(m, "config"):
            try:
                m.config._experts_implementation = "eager"
            except (AttributeError, TypeError) as e:
                print(f"experts implementation left as it is: {e}")
    print(f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters "
          f"(embedding {model.model.language_model.embed_tokens.weight.numel() / 1e6:.2f} M, tied)")
    if a.init:
        load_checkpoint(model, SPEC, a.init)
        print(f"weights from {a.init}", flush=True)

    t0 = time.time()
    pixels, grids = [], []
    for start in range(0, len(data), 256):
        chunk = [Image.frombytes("RGB", (w, h), rgb) for w, h, rgb, _ in data[start:start + 256]]
        out = proc.image_processor(images=chunk, return_tensors="pt")
        at = 0
        for g in out["image_grid_thw"].tolist():  # the chunk's patches, picture after picture
            n = g[0] * g[1] * g[2]
            pixels.append(out["pixel_values"][at:at + n].to(dev, torch.float32))
            grids.append(tuple(g))
            at += n
    print(f"pictures processed in {time.time() - t0:.0f} s; grids {sorted(set(grids))}", flush=True)

    # Prompt ids per (question, image token count): the chat template with the picture's tokens.
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    image_token = SPEC["config"]["image_token_id"]
    prompt_cache, answer_cache = {}, {}

    def prompt_ids(question, grid):
        key = (question, grid)
        if key not in prompt_cache:
            msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
            text = proc.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            count = grid[0] * grid[1] * grid[2] // 4
            text = text.replace("<|image_pad|>", "<|image_pad|>" * count)
            ids = tok(text, add_special_tokens=False)["input_ids"]
            assert ids.count(image_token) == count, (question, grid)
            prompt_cache[key] = ids
        return prompt_cache[key]

    def answer_ids(answer):
        if answer not in answer_cache:
            answer_cache[answer] = tok(answer, add_special_tokens=False)["input_ids"] + [im_end]
        return answer_cache[answer]

    per_picture = [[(qtype, q, ans) for qtype, q, ans in qs] for _, _, _, qs in data]
    counts = {}
    for qs in per_picture:
        for qtype, _, _ in qs:
            counts[qtype] = counts.get(qtype, 0) + 1
    print("questions:", dict(sorted(counts.items())), flush=True)

    def sample_batch(rng):
        """a.pictures pictures, up to a.per_picture of each one's questions (drawn by TYPE_WEIGHT):
        one sequence per question, the picture's vision features shared by its questions."""
        batch = []
        for i in rng.sample(range(len(per_picture)), a.pictures):
            qs = list(per_picture[i])
            for _ in range(min(a.per_picture, len(qs))):
                k = rng.choices(range(len(qs)), [TYPE_WEIGHT.get(q[0], 1.0) for q in qs])[0]
                _, q, ans = qs.pop(k)
                batch.append((i, q, ans))
        return batch

    def mrope_positions(ids, grid):
        """Qwen3-VL's 3-D positions of one sequence with one picture (docs/model.md, "M-RoPE"):
        text counts on in all three rows; the picture's merged tokens sit at (start, start + row,
        start + column) with start the position after <|vision_start|>; text after it resumes at
        one past the largest."""
        h, w = grid[1] // 2, grid[2] // 2
        first = ids.index(image_token)
        t_row = list(range(first)) + [first] * (h * w)
        h_row = list(range(first)) + [first + r for r in range(h) for _ in range(w)]
        w_row = list(range(first)) + [first + c for _ in range(h) for c in range(w)]
        nxt = first + max(h, w)
        rest = list(range(nxt, nxt + len(ids) - first - h * w))
        return [t_row + rest, h_row + rest, w_row + rest]

    def batch_inputs(batch):
        """Right-padded ids, labels on the answers only, the mask, 3-D positions; the batch's
        pictures once each and, per sequence, which of them it shows."""
        pics = sorted({i for i, _, _ in batch})
        slot = {p: k for k, p in enumerate(pics)}
        seqs, labels = [], []
        for i, q, ans in batch:
            p, r = prompt_ids(q, grids[i]), answer_ids(ans)
            seqs.append(p + r)
            labels.append([-100] * len(p) + r)
        n = max(len(x) for x in seqs)
        ids = torch.full((len(seqs), n), 151643, dtype=torch.long)
        lab = torch.full((len(seqs), n), -100, dtype=torch.long)
        mask = torch.zeros((len(seqs), n), dtype=torch.long)
        pos = torch.zeros((3, len(seqs), n), dtype=torch.long)
        for k, ((i, _, _), x, l) in enumerate(zip(batch, seqs, labels)):
            ids[k, :len(x)] = torch.tensor(x)
            lab[k, :len(l)] = torch.tensor(l)
            mask[k, :len(x)] = 1
            pos[:, k, :len(x)] = torch.tensor(mrope_positions(x, grids[i]))
            pos[:, k, len(x):] = pos[:, k, len(x) - 1:len(x)] + 1  # padding: never attended to
        return {"ids": ids.to(dev), "mask": mask.to(dev), "labels": lab.to(dev), "positions": pos.to(dev),
                "pixels": torch.cat([pixels[p] for p in pics]), "grids": torch.tensor([grids[p] for p in pics], device=dev),
                "picture_of": [slot[i] for i, _, _ in batch]}

    tc = config.text_config
    inner = model.model

    def forward_shared(b):
        """The model's forward (Qwen3VLMoeModel.forward) with each picture through the vision tower
        once for all its questions: the merged features and DeepStack features of picture p are
        gathered into the image-token rows of every sequence that shows it."""
        vis = inner.visual(b["pixels"], grid_thw=b["grids"])
        merged = vis.pooler_output
        merged = torch.cat(list(merged), 0) if isinstance(merged, (list, tuple)) else merged
        tokens = [int(g[0] * g[1] * g[2]) // 4 for g in b["grids"].tolist()]
        starts = [sum(tokens[:k]) for k in range(len(tokens))]
        rows = torch.cat([torch.arange(starts[p], starts[p] + tokens[p]) for p in b["picture_of"]]).to(dev)
        embeds = inner.get_input_embeddings()(b["ids"])
        image_mask = b["ids"] == image_token
        embeds = embeds.masked_scatter(image_mask[..., None].expand_as(embeds), merged[rows].to(embeds.dtype))
        return inner.language_model(input_ids=None, inputs_embeds=embeds, attention_mask=b["mask"],
                                    position_ids=b["positions"], visual_pos_masks=image_mask,
                                    deepstack_visual_embeds=[d[rows] for d in vis.deepstack_features],
                                    use_cache=False, output_router_logits=True)

    def forward_plain(b):
        """The model's own forward: each sequence with its own copy of its picture."""
        tokens = [int(g[0] * g[1] * g[2]) for g in b["grids"].tolist()]
        starts = [sum(tokens[:k]) for k in range(len(tokens))]
        per_seq = torch.cat([b["pixels"][starts[p]:starts[p] + tokens[p]] for p in b["picture_of"]])
        return inner(input_ids=b["ids"], attention_mask=b["mask"], pixel_values=per_seq,
                     image_grid_thw=b["grids"][b["picture_of"]], mm_token_type_ids=(b["ids"] == image_token).to(torch.int32),
                     use_cache=False, output_router_logits=True)

    # The shared-picture forward must compute what the model's own forward computes; checked once
    # in fp32 on a small batch (two questions on each of three pictures), else the plain one trains.
    forward = forward_plain
    try:
        probe_rng = random.Random(1)
        probe = []
        for i in probe_rng.sample(range(len(per_picture)), 3):
            probe += [(i, q, ans) for _, q, ans in per_picture[i][:2]]
        b = batch_inputs(probe)
        with torch.no_grad():
            ref = forward_plain(b).last_hidden_state
            got = forward_shared(b).last_hidden_state
        valid = b["mask"].bool()
        diff = (ref - got)[valid].abs().max().item()
        scale = ref[valid].abs().max().item()
        print(f"shared-picture forward against the model's own: max |diff| {diff:.2e} (values up to {scale:.2f})")
        if diff <= 1e-4 * max(1.0, scale):
            forward = forward_shared
        else:
            print("  they differ: training with the model's own forward")
    except Exception:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        print("  the shared-picture forward failed: training with the model's own forward")

    def loss_of(batch):
        b = batch_inputs(batch)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = forward(b)
            hidden = out.last_hidden_state[:, :-1]
            target = b["labels"][:, 1:]
            sel = target != -100
            logits = model.lm_head(hidden[sel]).float()  # only the answer rows: 151,936 columns each
        loss = torch.nn.functional.cross_entropy(logits, target[sel])
        aux = torch.zeros((), device=dev)
        if load_balancing_loss_func is not None and getattr(out, "router_logits", None) is not None:
            aux = load_balancing_loss_func(out.router_logits, tc.num_experts, tc.num_experts_per_tok, b["mask"])
        return loss, aux

    def score_heldout(label):
        """The held-out set (--eval-set), greedy, with the model as it is; prints the figures and
        up to 40 wrong answers. Returns right per type, the wrong ones and every answer."""
        t0 = time.time()
        with open(a.eval_set) as f:
            items = json.load(f)
        base = os.path.dirname(a.eval_set)
        was_training = model.training
        model.eval()
        tok.padding_side = "left"
        right, wrong, answers = {}, [], []
        for start in range(0, len(items), 64):
            chunk = items[start:start + 64]
            texts = [proc.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": it["text"]}]}],
                                              tokenize=False, add_generation_prompt=True) for it in chunk]
            ims = [Image.open(os.path.join(base, it["images"][0])).convert("RGB") for it in chunk]
            inputs = proc(text=texts, images=ims, return_tensors="pt", padding=True).to(dev)
            inputs["mm_token_type_ids"] = (inputs["input_ids"] == image_token).to(torch.int32)
            with torch.no_grad():
                gen = model.generate(**inputs, max_new_tokens=64, do_sample=False)
            for it, row in zip(chunk, gen):
                answer = tok.decode(row[inputs["input_ids"].shape[1]:], skip_special_tokens=True)
                ok = is_right(it, answer)
                answers.append(answer)
                r = right.setdefault(it["type"], [0, 0])
                r[0] += ok
                r[1] += 1
                if not ok:
                    wrong.append((it["type"], it["text"], it.get("answer", it.get("box")), answer))
        tok.padding_side = "right"
        if was_training:
            model.train()
        total = [sum(v[0] for v in right.values()), sum(v[1] for v in right.values())]
        print(f"held-out accuracy{label} (transformers): {total[0]}/{total[1]} = {100 * total[0] / total[1]:.1f}%  "
              + "  ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(right.items())) + f"  ({time.time() - t0:.0f} s)",
              flush=True)
        if not label:
            for w in wrong[:40]:
                print("  wrong:", json.dumps(w))
        return right, wrong, answers

    if a.init:  # where the earlier stage left off (its bf16 weights: its own held-out figure again)
        try:
            score_heldout(" at the start")
        except Exception:  # noqa: BLE001
            import traceback
            traceback.print_exc()

    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01, betas=(0.9, 0.98))
    rng = random.Random(SPEC["seed"])
    budget = a.minutes * 60
    if a.deadline > 0:
        budget = max(30.0, min(budget, a.deadline - (time.time() - t_start) - a.reserve))
    print(f"training for {budget:.0f} s", flush=True)
    model.train()
    t0 = time.time()
    step = 0
    while True:
        progress = (time.time() - t0) / budget
        if progress >= 1.0:
            break
        lr = a.lr * min(1.0, (step + 1) / max(1, a.warmup)) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))
        for g in opt.param_groups:
            g["lr"] = lr
        batch = sample_batch(rng)
        loss, aux = loss_of(batch)
        total = loss + tc.router_aux_loss_coef * aux
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 200 == 0:
            print(f"step {step:5d}  loss {loss.item():.4f}  aux {aux.item():.3f}  lr {lr:.2e}  "
                  f"{time.time() - t0:.0f} s", flush=True)
        step += 1
    print(f"trained {step} steps of {a.pictures} pictures x {a.per_picture} questions in {time.time() - t0:.0f} s; "
          f"last loss {loss.item():.4f}", flush=True)

    model.eval()
    saved = save_checkpoint(model.to("cpu", torch.float32), SPEC, a.out)
    size = sum(os.path.getsize(os.path.join(a.out, f)) for f in os.listdir(a.out) if f != "tokenizer.json")
    print(f"wrote {a.out}: {len(saved)} tensors, {size / 1e6:.2f} MB without tokenizer.json", flush=True)

    # The held-out set first (its figures matter most), greedy, bf16-rounded weights, fp32 compute.
    try:  # a failure here must not cost the recording below
        model = model.to(torch.bfloat16).to(dev, torch.float32)
        right, wrong, answers = score_heldout("")
        with open(os.path.join(a.cases_out, "heldout-transformers.json"), "w") as f:
            json.dump({"accuracy": right, "answers": answers, "wrong": wrong}, f, indent=1)
    except Exception:  # noqa: BLE001
        import traceback
        traceback.print_exc()

    # transformers' own logits and greedy tokens on the written checkpoint, for the C++ parity tests.
    t0 = time.time()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    record_cases("demo-trained", SPEC, a.out, saved, a.cases_out, os.path.join(HERE, "..", "tests", "data", "engine", "images"),
                 "../../resources/demo-model")
    os.remove(os.path.join(a.out, "tokenizer.json"))  # users' copies use the tokenizer QuantLens installs
    print(f"cases recorded in {time.time() - t0:.0f} s; total {time.time() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
