#!/usr/bin/env python3
"""Draws the small demo pictures shipped in resources/images (run once, anywhere PIL exists).

They are the inputs of the Quick start and of the app's first run: simple scenes a real
checkpoint can describe (shapes, a bar chart, a street sign), small enough to commit.
  python3 tools/make_demo_images.py resources/images
"""
import os
import sys

from PIL import Image, ImageDraw


def shapes(path):
    im = Image.new("RGB", (640, 480), (245, 245, 240))
    d = ImageDraw.Draw(im)
    d.ellipse((60, 80, 280, 300), fill=(220, 40, 40), outline=(120, 0, 0), width=6)
    d.rectangle((340, 120, 580, 360), fill=(40, 90, 210), outline=(10, 30, 90), width=6)
    d.polygon([(200, 440), (320, 320), (440, 440)], fill=(40, 170, 70))
    d.text((20, 20), "a red circle, a blue square and a green triangle", fill=(20, 20, 20))
    im.save(path, optimize=True)


def bar_chart(path):
    im = Image.new("RGB", (800, 500), (255, 255, 255))
    d = ImageDraw.Draw(im)
    d.line((80, 440, 760, 440), fill=(0, 0, 0), width=3)
    d.line((80, 440, 80, 40), fill=(0, 0, 0), width=3)
    values = [("FP16", 60.0), ("INT8", 31.0), ("NF4", 17.5)]
    colors = [(70, 130, 180), (240, 150, 40), (90, 170, 90)]
    for i, ((label, v), c) in enumerate(zip(values, colors)):
        x0 = 140 + i * 210
        top = 440 - int(v / 60.0 * 360)
        d.rectangle((x0, top, x0 + 140, 440), fill=c)
        d.text((x0 + 50, 450), label, fill=(0, 0, 0))
        d.text((x0 + 45, top - 18), f"{v:g} GB", fill=(0, 0, 0))
    d.text((250, 10), "Weight memory of a 30B MoE model", fill=(0, 0, 0))
    im.save(path, optimize=True)


def stop_sign(path):
    im = Image.new("RGB", (512, 768), (135, 190, 235))
    d = ImageDraw.Draw(im)
    d.rectangle((0, 560, 512, 768), fill=(90, 90, 95))
    d.rectangle((246, 330, 266, 620), fill=(150, 150, 150))
    cx, cy, r = 256, 210, 150
    import math
    pts = [(cx + r * math.cos(math.pi / 8 + k * math.pi / 4), cy + r * math.sin(math.pi / 8 + k * math.pi / 4))
           for k in range(8)]
    d.polygon(pts, fill=(200, 20, 30), outline=(255, 255, 255), width=8)
    d.text((222, 200), "STOP", fill=(255, 255, 255))
    im.save(path, optimize=True)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "resources", "images")
    os.makedirs(out, exist_ok=True)
    shapes(os.path.join(out, "shapes.png"))
    bar_chart(os.path.join(out, "bar_chart.png"))
    stop_sign(os.path.join(out, "stop_sign.png"))
    for name in sorted(os.listdir(out)):
        print(name, os.path.getsize(os.path.join(out, name)))


if __name__ == "__main__":
    main()
