#!/usr/bin/env python3
"""Compares two GGUF files with llama.cpp's own reader (gguf-py's GGUFReader).

  PYTHONPATH=<llama.cpp>/gguf-py python3 tools/export_proof/compare_gguf.py A.gguf B.gguf \
      [--label-a ours --label-b converter] [--expect expected_gguf_differences.json] [--json-out R.json]

Compared: the header (version), every metadata key with its value type and value (arrays as a whole:
element type, length and every element; the first differing element is printed), every tensor's name,
shape (ne order), ggml type and data bytes. Tensor order and data offsets are reported, not required
to match (loaders look tensors up by name). For a tensor whose bytes differ, the number of differing
bytes and, where gguf-py can dequantize the type, the largest absolute difference of the values are
given.

--expect names a JSON file {"keys": {NAME_OR_GLOB: why}, "tensors": {NAME_OR_GLOB: why}}: a listed
difference is still printed, marked "explained", but does not fail the comparison. Exit status: 0 when
every difference is explained (or there is none), 1 otherwise, 2 on bad input.

The JSON result (stdout last line with --json, and --json-out) holds: same_keys, differing_keys,
only_in_a, only_in_b, tensors_identical, differing_tensors, tensor_order_same, unexplained, ok.
"""
import argparse
import fnmatch
import json
import os
import sys
import time

try:
    import numpy as np
    from gguf import GGUFReader, GGUFValueType
    from gguf.constants import GGMLQuantizationType
except ImportError as e:  # pragma: no cover - environment problem
    sys.stderr.write(f"compare_gguf.py needs numpy and llama.cpp's gguf-py on PYTHONPATH: {e}\n")
    sys.exit(2)

HEADER_FIELDS = ("GGUF.version", "GGUF.tensor_count", "GGUF.kv_count")


def field_types(field):
    return [GGUFValueType(t).name for t in field.types]


def field_raw(reader, field):
    """The field's bytes as stored (key, type tag and value)."""
    n = sum(int(p.nbytes) for p in field.parts)
    return reader.data[field.offset:field.offset + n].tobytes()


def field_value(field):
    """The value as Python data (lists for arrays, str for strings)."""
    if not field.types:
        return None
    if field.types[0] == GGUFValueType.ARRAY:
        return field.contents()
    return field.contents()


def short(v, limit=120):
    s = repr(v)
    return s if len(s) <= limit else s[:limit - 3] + "..."


def first_array_difference(va, vb):
    n = min(len(va), len(vb))
    for i in range(n):
        a, b = va[i], vb[i]
        if type(a) is float or type(b) is float:
            if not (a == b or (a != a and b != b)):  # NaN == NaN for this purpose
                return i
        elif a != b:
            return i
    return n if len(va) != len(vb) else None


def compare_field(name, ra, fa, rb, fb):
    """None if identical, else a dict describing the difference."""
    ta, tb = field_types(fa), field_types(fb)
    if ta != tb:
        return {"key": name, "what": "type", "a": "/".join(ta), "b": "/".join(tb),
                "a_value": short(field_value(fa)), "b_value": short(field_value(fb))}
    if name in HEADER_FIELDS:
        va, vb = field_value(fa), field_value(fb)
        return None if va == vb else {"key": name, "what": "value", "a": va, "b": vb}
    if field_raw(ra, fa) == field_raw(rb, fb):
        return None
    va, vb = field_value(fa), field_value(fb)
    if fa.types[0] == GGUFValueType.ARRAY:
        i = first_array_difference(va, vb)
        d = {"key": name, "what": "array", "type": "/".join(ta), "len_a": len(va), "len_b": len(vb)}
        if i is not None:
            d.update({"first_index": i, "a": short(va[i]) if i < len(va) else "(end)",
                      "b": short(vb[i]) if i < len(vb) else "(end)"})
            d["n_differing"] = sum(1 for x, y in zip(va, vb) if x != y) + abs(len(va) - len(vb))
        else:  # equal as values but not as bytes (e.g. -0.0 vs 0.0)
            d.update({"first_index": None, "note": "values compare equal, bytes differ"})
        return d
    if va == vb:
        return {"key": name, "what": "bytes", "a": short(va), "b": short(vb),
                "note": "values compare equal, bytes differ"}
    return {"key": name, "what": "value", "type": "/".join(ta), "a": short(va, 300), "b": short(vb, 300)}


def tensor_bytes(reader, t):
    return reader.data[t.data_offset:t.data_offset + t.n_bytes]


def tensor_values(reader, t):
    """float32 values if gguf-py can decode the type, else None."""
    raw = np.asarray(tensor_bytes(reader, t))
    ty = t.tensor_type
    try:
        if ty == GGMLQuantizationType.F32:
            return raw.view(np.float32).astype(np.float64)
        if ty == GGMLQuantizationType.F16:
            return raw.view(np.float16).astype(np.float64)
        if ty == GGMLQuantizationType.BF16:
            return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        from gguf import quants
        return quants.dequantize(raw, ty).astype(np.float64).reshape(-1)
    except Exception:  # noqa: BLE001 - a type gguf-py cannot decode: byte figures only
        return None


def compare_tensor(ra, ta, rb, tb):
    sa, sb = [int(x) for x in ta.shape], [int(x) for x in tb.shape]
    ya, yb = ta.tensor_type.name, tb.tensor_type.name
    d = {"name": ta.name}
    problems = []
    if sa != sb:
        problems.append("shape")
        d.update({"shape_a": sa, "shape_b": sb})
    if ya != yb:
        problems.append("type")
        d.update({"type_a": ya, "type_b": yb})
    if not problems:
        a, b = tensor_bytes(ra, ta), tensor_bytes(rb, tb)
        if a.shape == b.shape and np.array_equal(a, b):
            return None
        problems.append("data")
        ba, bb = np.asarray(a), np.asarray(b)
        d["type"] = ya
        d["shape"] = sa
        d["differing_bytes"] = int(np.count_nonzero(ba != bb)) if ba.shape == bb.shape else None
        d["bytes"] = int(ba.size)
        va, vb = tensor_values(ra, ta), tensor_values(rb, tb)
        if va is not None and vb is not None and va.shape == vb.shape:
            diff = np.abs(va - vb)
            d["max_abs_diff"] = float(np.nanmax(diff)) if diff.size else 0.0
            d["max_abs_value"] = float(np.nanmax(np.abs(va))) if va.size else 0.0
            d["differing_values"] = int(np.count_nonzero(va != vb))
    d["what"] = problems
    return d


class Expectations:
    def __init__(self, path):
        self.keys, self.tensors = {}, {}
        if path:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
            self.keys = doc.get("keys", {})
            self.tensors = doc.get("tensors", {})

    @staticmethod
    def _why(table, name):
        for pat, why in table.items():
            if pat == name or fnmatch.fnmatchcase(name, pat):
                return why
        return None

    def key(self, name):
        return self._why(self.keys, name)

    def tensor(self, name):
        return self._why(self.tensors, name)


def compare(path_a, path_b, expect, label_a="a", label_b="b", max_print=40, out=sys.stdout):
    t0 = time.time()
    ra, rb = GGUFReader(path_a), GGUFReader(path_b)
    load_s = time.time() - t0

    keys_a = [k for k in ra.fields if k not in HEADER_FIELDS]
    keys_b = [k for k in rb.fields if k not in HEADER_FIELDS]
    set_a, set_b = set(keys_a), set(keys_b)
    only_a = [k for k in keys_a if k not in set_b]
    only_b = [k for k in keys_b if k not in set_a]
    differing = []
    d = compare_field("GGUF.version", ra, ra.fields["GGUF.version"], rb, rb.fields["GGUF.version"])
    if d is not None:
        differing.append(d)
    for k in keys_a:
        if k in set_b:
            d = compare_field(k, ra, ra.fields[k], rb, rb.fields[k])
            if d is not None:
                differing.append(d)
    key_order_same = [k for k in keys_a if k in set_b] == [k for k in keys_b if k in set_a]

    tens_a = {t.name: t for t in ra.tensors}
    tens_b = {t.name: t for t in rb.tensors}
    t_only_a = [n for n in tens_a if n not in tens_b]
    t_only_b = [n for n in tens_b if n not in tens_a]
    t_diff = []
    for n, ta in tens_a.items():
        if n in tens_b:
            d = compare_tensor(ra, ta, rb, tens_b[n])
            if d is not None:
                t_diff.append(d)
    common_a = [t.name for t in ra.tensors if t.name in tens_b]
    common_b = [t.name for t in rb.tensors if t.name in tens_a]

    unexplained = []

    def mark(kind, name, why):
        if why is None:
            unexplained.append(f"{kind} {name}")
            return "UNEXPLAINED"
        return f"explained: {why}"

    for d in differing:
        d["status"] = mark("key", d["key"], expect.key(d["key"]))
    only_a_st = {k: mark("key only in " + label_a, k, expect.key(k)) for k in only_a}
    only_b_st = {k: mark("key only in " + label_b, k, expect.key(k)) for k in only_b}
    for d in t_diff:
        d["status"] = mark("tensor", d["name"], expect.tensor(d["name"]))
    t_only_a_st = {n: mark("tensor only in " + label_a, n, expect.tensor(n)) for n in t_only_a}
    t_only_b_st = {n: mark("tensor only in " + label_b, n, expect.tensor(n)) for n in t_only_b}

    type_counts = {}
    for t in ra.tensors:
        type_counts[t.tensor_type.name] = type_counts.get(t.tensor_type.name, 0) + 1

    p = lambda *a: print(*a, file=out)  # noqa: E731
    p(f"A ({label_a}): {path_a}  [{os.path.getsize(path_a)} bytes, {len(ra.tensors)} tensors, "
      f"{len(keys_a)} keys, alignment {ra.alignment}]")
    p(f"B ({label_b}): {path_b}  [{os.path.getsize(path_b)} bytes, {len(rb.tensors)} tensors, "
      f"{len(keys_b)} keys, alignment {rb.alignment}]")
    p(f"  read in {load_s:.1f} s; A's tensor types: {type_counts}")
    n_same = len(set_a & set_b) - len([d for d in differing if d["key"] != "GGUF.version"])
    p(f"metadata: {n_same} keys identical (type and value), {len(differing)} differ, "
      f"{len(only_a)} only in A, {len(only_b)} only in B; key order {'same' if key_order_same else 'differs'}")
    for d in differing[:max_print]:
        body = {k: v for k, v in d.items() if k not in ("key", "status")}
        p(f"  key {d['key']}: {body}  [{d['status']}]")
    if len(differing) > max_print:
        p(f"  ... {len(differing) - max_print} more differing keys")
    for k, st in only_a_st.items():
        p(f"  only in A: {k} = {short(field_value(ra.fields[k]))}  [{st}]")
    for k, st in only_b_st.items():
        p(f"  only in B: {k} = {short(field_value(rb.fields[k]))}  [{st}]")
    p(f"tensors: {len(tens_a) - len(t_only_a) - len(t_diff)} identical (name, shape, type, data), "
      f"{len(t_diff)} differ, {len(t_only_a)} only in A, {len(t_only_b)} only in B; "
      f"order {'same' if common_a == common_b else 'differs'}")
    for d in t_diff[:max_print]:
        body = {k: v for k, v in d.items() if k not in ("name", "status")}
        p(f"  tensor {d['name']}: {body}  [{d['status']}]")
    if len(t_diff) > max_print:
        p(f"  ... {len(t_diff) - max_print} more differing tensors")
    for n, st in t_only_a_st.items():
        t = tens_a[n]
        p(f"  only in A: {n} {t.tensor_type.name} {[int(x) for x in t.shape]}  [{st}]")
    for n, st in t_only_b_st.items():
        t = tens_b[n]
        p(f"  only in B: {n} {t.tensor_type.name} {[int(x) for x in t.shape]}  [{st}]")
    ok = not unexplained
    p(f"RESULT: {'IDENTICAL' if not (differing or only_a or only_b or t_diff or t_only_a or t_only_b) else ('DIFFERENCES ALL EXPLAINED' if ok else 'UNEXPLAINED DIFFERENCES: ' + str(len(unexplained)))}")

    return {
        "a": path_a, "b": path_b, "label_a": label_a, "label_b": label_b,
        "same_keys": n_same,
        "differing_keys": differing,
        "only_in_a": [{"key": k, "value": short(field_value(ra.fields[k])), "status": s} for k, s in only_a_st.items()],
        "only_in_b": [{"key": k, "value": short(field_value(rb.fields[k])), "status": s} for k, s in only_b_st.items()],
        "key_order_same": key_order_same,
        "tensor_count": [len(tens_a), len(tens_b)],
        "tensors_identical": len(tens_a) - len(t_only_a) - len(t_diff),
        "differing_tensors": t_diff,
        "tensors_only_in_a": [{"name": n, "status": s} for n, s in t_only_a_st.items()],
        "tensors_only_in_b": [{"name": n, "status": s} for n, s in t_only_b_st.items()],
        "tensor_order_same": common_a == common_b,
        "tensor_types_a": type_counts,
        "unexplained": unexplained,
        "ok": ok,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--label-a", default="a")
    ap.add_argument("--label-b", default="b")
    ap.add_argument("--expect", help="JSON of explained differences (see above)")
    ap.add_argument("--json-out", help="write the JSON result here")
    ap.add_argument("--json", action="store_true", help="print the JSON result as the last stdout line")
    ap.add_argument("--max-print", type=int, default=40)
    args = ap.parse_args(argv)
    for p in (args.a, args.b):
        if not os.path.isfile(p):
            sys.stderr.write(f"compare_gguf.py: no such file: {p}\n")
            return 2
    try:
        res = compare(args.a, args.b, Expectations(args.expect), args.label_a, args.label_b, args.max_print)
    except (ValueError, KeyError, OSError) as e:
        sys.stderr.write(f"compare_gguf.py: cannot read {args.a} / {args.b}: {e}\n")
        return 2
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1, default=str)
    if args.json:
        print(json.dumps(res, default=str))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
