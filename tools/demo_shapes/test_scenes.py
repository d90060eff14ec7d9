#!/usr/bin/env python3
"""Checks tools/demo_shapes/scenes.py (run by ctest as demo_shapes_scenes): every grounding answer's
box encloses exactly the pixels of its shape in the rendered picture (to within 1% of the side),
each question has one right answer, and the PNG writer's files decode (zlib, CRC, size)."""
import os
import random
import struct
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def decode_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        crc = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        check(zlib.crc32(tag + body) & 0xFFFFFFFF == crc, f"{path}: CRC of {tag}")
        if tag == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    w, h = size
    check(len(raw) == h * (1 + 3 * w), f"{path}: {len(raw)} bytes for {w}x{h}")
    return w, h, b"".join(raw[y * (1 + 3 * w) + 1:(y + 1) * (1 + 3 * w)] for y in range(h))


rng = random.Random(5)
with tempfile.TemporaryDirectory() as tmp:
    for n in range(40):
        scene = scenes.random_scene(rng, noise_chance=0.0, word_chance=0.5)
        path = os.path.join(tmp, f"{n}.png")
        scenes.write_png(path, scene.width, scene.height, scenes.render(scene, n))
        w, h, px = decode_png(path)
        check((w, h) == (scene.width, scene.height), f"scene {n}: size")
        for q in scenes.questions(scene, rng):
            check(q[2].strip() != "", f"scene {n}: empty answer to {q[1]}")
            if q[0] != "grounding":
                continue
            label = q[1][len("Where is the "):-1]
            shape = next(s for s in scene.shapes if s.name == label)
            colour = bytes(scenes.COLOURS[shape.colour])
            xs, ys = [], []
            for y in range(h):
                for x in range(w):
                    if px[(y * w + x) * 3:(y * w + x) * 3 + 3] == colour and shape.contains(x + 0.5, y + 0.5):
                        xs.append(x)
                        ys.append(y)
            check(xs, f"scene {n}: no pixels of the {label}")
            if not xs:
                continue
            x1, y1, x2, y2 = q[3]
            tol = 0.01 * 1000 + 1000 * 1.5 / w  # 1% of the picture plus a pixel and a half
            box = (1000 * min(xs) / w, 1000 * min(ys) / h, 1000 * (max(xs) + 1) / w, 1000 * (max(ys) + 1) / h)
            check(abs(box[0] - x1) <= tol and abs(box[1] - y1) <= tol and abs(box[2] - x2) <= tol and
                  abs(box[3] - y2) <= tol,
                  f"scene {n}: {label} pixels span {[round(v) for v in box]}, answer says {q[3]}")
        # Colour questions name one shape only.
        for q in scenes.questions(scene, random.Random(n)):
            if q[0] == "colour":
                words = q[1][len("What colour is the "):-1].split()
                matches = [s for s in scene.shapes if s.kind == words[-1] and (len(words) == 1 or s.size == words[0])]
                check(len(matches) == 1, f"scene {n}: '{q[1]}' fits {len(matches)} shapes")

if failures:
    print("\n".join(failures[:20]))
    print(f"{len(failures)} failures")
    sys.exit(1)
print("scenes: every box encloses its shape; every question has one answer")
