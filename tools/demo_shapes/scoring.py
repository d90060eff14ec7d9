"""The answer scoring of docs/evaluation.md (core/engine/answer_scoring.cpp), in Python, for the
scripts that score answers outside QuantLens: transformers' answers after training
(tools/train_demo_model.py) and llama.cpp's (tools/eval_llama_cpp.py)."""
import json

_NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                 "fifteen sixteen seventeen eighteen nineteen twenty").split()


def normalise(text):
    """Lower case; punctuation becomes a space except a '.' or ',' between two digits; the words
    a, an, the dropped; number words zero to twenty become digits."""
    kept = []
    for i, c in enumerate(text):
        if c.isalnum() or ord(c) >= 128:
            kept.append(c.lower())
        elif c in ".," and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit():
            kept.append(c)
        else:
            kept.append(" ")
    out = []
    for w in "".join(kept).split():
        if w in ("a", "an", "the"):
            continue
        out.append(str(_NUMBER_WORDS.index(w)) if w in _NUMBER_WORDS else w)
    return " ".join(out)


def answer_box(answer):
    """The first bbox_2d of a grounding answer (JSON, possibly in a code block), or None."""
    try:
        start = answer.index("[")
        return [float(v) for v in json.loads(answer[start:answer.rindex("]") + 1])[0]["bbox_2d"]]
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def box_iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union if union > 0 else 0.0


def is_right(item, answer):
    """An evaluation-set item (docs/evaluation.md) and an answer: True when the answer is right
    (a box answer: IoU of at least 0.5 with the expected box, core/engine/eval_score.h)."""
    if "box" in item:
        box = answer_box(answer)
        return box is not None and len(box) == 4 and box_iou(box, item["box"]) >= 0.5
    return normalise(answer) == normalise(item["answer"])
