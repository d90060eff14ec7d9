"""Pictures of simple shapes with questions and answers about them, in pure Python.

The demo model is trained on these (tools/train_demo_model.py) and evaluated on a held-out set drawn
with another seed (tools/make_demo_eval_set.py). Pure Python (no PIL, no numpy) so the same scenes
come out on any machine: a scene is a list of shapes with kind, colour, size and position; it is
rasterised into an RGB byte array and written as PNG with zlib. Coordinates in answers follow
Qwen3-VL's grounding convention: boxes [x1, y1, x2, y2] in thousandths of the picture's width and
height (docs/grounding.md).
"""
import math
import random
import struct
import zlib

KINDS = ("circle", "square", "triangle", "star")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 70),
    "blue": (40, 90, 210),
    "yellow": (235, 200, 30),
    "purple": (140, 60, 180),
    "orange": (245, 130, 30),
}
SIZES = {"small": 0.16, "large": 0.30}  # the shape's side as a fraction of the picture's side
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five")

# A 5x7 pixel font for the words drawn in pictures (capital letters only).
_FONT = {
    "A": "01110 10001 10001 11111 10001 10001 10001", "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01111 10000 10000 10000 10000 10000 01111", "D": "11110 10001 10001 10001 10001 10001 11110",
    "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01111 10000 10000 10011 10001 10001 01111", "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "11111 00100 00100 00100 00100 00100 11111", "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001", "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001", "N": "10001 11001 10101 10011 10001 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110", "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101", "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110", "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010", "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 01010 00100 00100 00100 00100", "Z": "11111 00001 00010 00100 01000 10000 11111",
}
WORDS = ("STOP", "GO", "HELLO", "OPEN", "EXIT", "SALE", "LEFT", "RIGHT", "YES", "NO")


class Shape:
    def __init__(self, kind, colour, size, cx, cy, side):
        self.kind, self.colour, self.size = kind, colour, size
        self.cx, self.cy, self.side = cx, cy, side  # centre and side in pixels

    @property
    def name(self):
        return f"{self.colour} {self.kind}"

    def bbox(self):
        """The drawn shape's own box: a star (a point up) is narrower than its circle (its side
        points at +-72 degrees reach sin 72 of the radius) and stops short below (cos 36)."""
        h = self.side / 2
        if self.kind == "star":
            return (self.cx - h * math.sin(math.radians(72)), self.cy - h,
                    self.cx + h * math.sin(math.radians(72)), self.cy + h * math.cos(math.radians(36)))
        return (self.cx - h, self.cy - h, self.cx + h, self.cy + h)

    def contains(self, x, y):
        h = self.side / 2
        dx, dy = x - self.cx, y - self.cy
        if self.kind == "square":
            return abs(dx) <= h and abs(dy) <= h
        if self.kind == "circle":
            return dx * dx + dy * dy <= h * h
        if self.kind == "triangle":  # apex up, base at the bottom of the box
            if dy < -h or dy > h:
                return False
            half_width = h * (dy + h) / (2 * h)
            return abs(dx) <= half_width
        # star: five points, inner radius 0.45 of the outer
        r = math.hypot(dx, dy)
        if r > h:
            return False
        # angle from the nearest point's axis (a point straight up: angle 0 is up)
        a = ((math.atan2(dx, -dy) + math.pi / 5) % (2 * math.pi / 5)) - math.pi / 5
        inner = 0.45 * h
        # the edge between a point (radius h, angle 0) and a notch (radius inner, angle pi/5)
        t = abs(a) / (math.pi / 5)
        edge = h * inner / (inner * (1 - t) + h * t) if t > 0 else h
        return r <= edge


class Scene:
    def __init__(self, width, height, background, noise, shapes, word=None, word_at=None):
        self.width, self.height = width, height
        self.background, self.noise = background, noise
        self.shapes, self.word, self.word_at = shapes, word, word_at


def _overlaps(a, b, gap):
    ax1, ay1, ax2, ay2 = a.bbox()
    bx1, by1, bx2, by2 = b.bbox()
    return not (ax2 + gap < bx1 or bx2 + gap < ax1 or ay2 + gap < by1 or by2 + gap < ay1)


def random_scene(rng, width=224, height=224, max_shapes=4, word_chance=0.25, noise_chance=0.3):
    """1-max_shapes shapes of distinct (colour, kind), not touching; sometimes a word; a noisy
    background with noise_chance (noise makes a PNG large: the committed evaluation set has none)."""
    count = rng.randint(1, max_shapes)
    shapes = []
    taken = set()
    tries = 0
    while len(shapes) < count and tries < 200:
        tries += 1
        kind, colour = rng.choice(KINDS), rng.choice(sorted(COLOURS))
        if (colour, kind) in taken:
            continue
        size = rng.choice(sorted(SIZES))
        side = SIZES[size] * min(width, height)
        cx = rng.uniform(side / 2 + 4, width - side / 2 - 4)
        cy = rng.uniform(side / 2 + 4, height - side / 2 - 4)
        s = Shape(kind, colour, size, cx, cy, side)
        if any(_overlaps(s, o, 6) for o in shapes):
            continue
        shapes.append(s)
        taken.add((colour, kind))
    background = rng.choice([(245, 245, 240), (255, 255, 255), (225, 232, 240)])
    noise = rng.random() < noise_chance
    word = word_at = None
    if rng.random() < word_chance:
        word = rng.choice(WORDS)
        scale = 3
        w, h = len(word) * 6 * scale, 7 * scale
        for _ in range(50):
            x, y = rng.randint(2, width - w - 2), rng.randint(2, height - h - 2)
            box = Shape("square", "black", "small", x + w / 2, y + h / 2, max(w, h))
            if not any(_overlaps(box, o, 2) for o in shapes):
                word_at = (x, y, scale)
                break
        if word_at is None:
            word = None
    return Scene(width, height, background, noise, shapes, word, word_at)


def render(scene, seed=0):
    """RGB bytes, row by row. Each shape is tested only over its own square (every shape lies inside
    the square of its side around its centre); a later shape paints over an earlier one."""
    rng = random.Random(seed)
    w, h = scene.width, scene.height
    px = bytearray(bytes(scene.background) * (w * h))
    for s in scene.shapes:
        colour = bytes(COLOURS[s.colour])
        half = s.side / 2
        xs = range(max(0, int(s.cx - half) - 1), min(w, int(s.cx + half) + 2))
        for y in range(max(0, int(s.cy - half) - 1), min(h, int(s.cy + half) + 2)):
            for x in xs:
                if s.contains(x + 0.5, y + 0.5):
                    o = (y * w + x) * 3
                    px[o:o + 3] = colour
    if scene.noise:  # one offset per pixel, the same for its three channels
        for i, n in enumerate(rng.choices(range(-18, 19), k=w * h)):
            o = i * 3
            px[o] = max(0, min(255, px[o] + n))
            px[o + 1] = max(0, min(255, px[o + 1] + n))
            px[o + 2] = max(0, min(255, px[o + 2] + n))
    if scene.word:
        x0, y0, scale = scene.word_at
        for i, ch in enumerate(scene.word):
            rows = _FONT[ch].split()
            for gy, row in enumerate(rows):
                for gx, bit in enumerate(row):
                    if bit != "1":
                        continue
                    for dy in range(scale):
                        for dx in range(scale):
                            x, y = x0 + (i * 6 + gx) * scale + dx, y0 + gy * scale + dy
                            o = (y * w + x) * 3
                            px[o:o + 3] = b"\x14\x14\x14"
    return bytes(px)


def write_png(path, width, height, rgb):
    raw = b"".join(b"\x00" + rgb[y * width * 3:(y + 1) * width * 3] for y in range(height))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def _listing(names):
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def with_article(name):
    return ("an " if name[0] in "aeiou" else "a ") + name


def relative_box(scene, shape):
    x1, y1, x2, y2 = shape.bbox()
    return [round(1000 * x1 / scene.width), round(1000 * y1 / scene.height),
            round(1000 * x2 / scene.width), round(1000 * y2 / scene.height)]


def questions(scene, rng):
    """(type, question, answer[, box]) tuples for one scene, each with one right answer; a grounding
    answer is Qwen3-VL's JSON, and its box (0-1000) comes fourth."""
    shapes = sorted(scene.shapes, key=lambda s: s.cx)  # left to right
    out = []
    names = [with_article(s.name) for s in shapes]
    out.append(("shapes", "What shapes are in this picture?", _listing(names)))
    out.append(("count", "How many shapes are there?", NUMBER_WORDS[len(shapes)]))
    # A colour question names a shape that only one shape is: by kind, else by size and kind.
    for s in rng.sample(shapes, len(shapes)):
        if sum(o.kind == s.kind for o in shapes) == 1:
            out.append(("colour", f"What colour is the {s.kind}?", s.colour))
            break
        if sum(o.kind == s.kind and o.size == s.size for o in shapes) == 1:
            out.append(("colour", f"What colour is the {s.size} {s.kind}?", s.colour))
            break
    if len(shapes) >= 2:
        i = rng.randrange(1, len(shapes))
        if shapes[i].cx - shapes[i - 1].cx > 0.1 * scene.width:  # clearly left of it
            out.append(("position", f"Which shape is left of the {shapes[i].name}?", shapes[i - 1].name))
    described = _listing(names)
    if scene.word:
        described += f", and the word {scene.word}"
    out.append(("describe", "Describe this picture.", described[0].upper() + described[1:] + "."))
    if scene.word:
        out.append(("text", "What does the text say?", scene.word))
    g = rng.choice(shapes)
    box = relative_box(scene, g)
    out.append(("grounding", f"Where is the {g.name}?",
                '```json\n[\n\t{"bbox_2d": [%d, %d, %d, %d], "label": "%s"}\n]\n```' % (*box, g.name), box))
    return out
