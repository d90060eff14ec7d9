#!/usr/bin/env python3
"""Writes the demo model's held-out evaluation set: pictures of shapes drawn with a seed the
training never uses, and their questions with the expected answers, as a `quantlens-cli eval` set
(docs/evaluation.md). Pure Python (tools/demo_shapes/scenes.py); run anywhere:
  python3 tools/make_demo_eval_set.py tests/data/eval/demo-shapes [--pictures 60] [--seed 20261207]
"""
import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo_shapes"))
import scenes  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--pictures", type=int, default=60)
    ap.add_argument("--seed", type=int, default=20261207)  # training seeds are below 1,000,000
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = random.Random(a.seed)
    items = []
    for i in range(a.pictures):
        scene = scenes.random_scene(rng, noise_chance=0.0)
        name = f"p{i:03d}.png"
        scenes.write_png(os.path.join(a.out, name), scene.width, scene.height, scenes.render(scene, a.seed + i))
        for q in scenes.questions(scene, rng):
            item = {"text": q[1], "images": [name], "type": q[0]}
            if q[0] == "grounding":
                item["box"] = q[3]
            else:
                item["answer"] = q[2]
            items.append(item)
    with open(os.path.join(a.out, "set.json"), "w") as f:
        json.dump(items, f, indent=1)
        f.write("\n")
    types = {}
    for it in items:
        types[it["type"]] = types.get(it["type"], 0) + 1
    print(f"{len(items)} questions on {a.pictures} pictures: {types}")


if __name__ == "__main__":
    main()
