#!/usr/bin/env python3
"""Checks a bitsandbytes-format export against its source checkpoint, independently of our C++ code.

  python3 tools/export_proof/check_bnb_export.py --source SRC --export EXP [--mode int8|nf4] [--json-out R.json]

Written from docs/formats.md sections 1 (safetensors), 6 (bitsandbytes checkpoints as
transformers saves them) and 7 (the quantization math), with nothing but struct, json and numpy: neither
the safetensors package nor bitsandbytes is used (bitsandbytes cannot be installed on our machines, so
transformers' own bnb loader cannot be run; this reader stands in for it).

What is checked:
- every safetensors file of both folders: header JSON, dtypes, data offsets covering the buffer with no
  hole or overlap, __metadata__ format "pt"; the index (if sharded) names every tensor once;
- the modules that must be quantized, derived from the SOURCE config.json (transformers v5's rule for
  Qwen3-VL-MoE, section 6.1): text self_attn q/k/v/o_proj of every layer (plus gate/up/down_proj of dense
  MLP layers, if the config has any); vision blocks' attn.qkv, attn.proj, mlp.linear_fc1/2; merger
  linear_fc1/2; deepstack_merger_list.k.linear_fc1/2 -- minus what the export's llm_int8_skip_modules
  names. NOT lm_head, embeddings, experts, the router, norms, patch_embed, pos_embed or biases;
- every tensor of every quantized module: name, dtype, shape (6.2 / 6.3), and its content:
  int8: SCB = absmax per row of the fp16-cast weight, codes = round-half-even(W16 * 127 / SCB),
        weight_format = 0;
  nf4:  quant_map = the NF4 table, nested_quant_map = the signed dynamic map (to 1 ulp), the quant-state
        JSON byte for byte (json.dumps default separators, key order of 6.3), codes = nearest NF4 level of
        x / absmax (high nibble first), absmax codes = nearest dynamic-map entry of (absmax - offset) /
        nested_absmax, nested_absmax = per-256 max |absmax - offset|; decoded with the STORED maps, the
        weights are compared with the source (relative RMS error reported);
- every other tensor (16-bit): present with the source's dtype and shape, and byte-identical;
- no tensor that the source does not explain;
- config.json: the source's config plus quantization_config exactly as 6.4 (dtype keys may differ).

Exit status: 0 when everything holds, 1 on any failure (each one printed), 2 on unreadable input.
"""
import argparse
import json
import math
import os
import re
import struct
import sys

import numpy as np

DTYPES = {  # safetensors dtype -> (numpy dtype, itemsize)
    "F64": ("<f8", 8), "F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2), "I64": ("<i8", 8),
    "I32": ("<i4", 4), "I16": ("<i2", 2), "I8": ("i1", 1), "U8": ("u1", 1), "BOOL": ("u1", 1),
    "U16": ("<u2", 2), "U32": ("<u4", 4), "U64": ("<u8", 8),
}
TORCH_DTYPE_NAME = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}

NF4_LEVELS = np.array([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0], dtype=np.float32)
NF4_THRESHOLDS = np.array([
    -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
    -0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
    0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683, 0.5016634166240692,
    0.6427869200706482, 0.8614784181118011], dtype=np.float32)

QCONFIG_NF4 = {
    "_load_in_4bit": True, "_load_in_8bit": False, "bnb_4bit_compute_dtype": "bfloat16",
    "bnb_4bit_quant_storage": "uint8", "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True,
    "llm_int8_enable_fp32_cpu_offload": False, "llm_int8_has_fp16_weight": False,
    "llm_int8_skip_modules": None, "llm_int8_threshold": 6.0, "load_in_4bit": True, "load_in_8bit": False,
    "quant_method": "bitsandbytes",
}
QCONFIG_INT8 = {
    "_load_in_4bit": False, "_load_in_8bit": True, "bnb_4bit_compute_dtype": "float32",
    "bnb_4bit_quant_storage": "uint8", "bnb_4bit_quant_type": "fp4", "bnb_4bit_use_double_quant": False,
    "llm_int8_enable_fp32_cpu_offload": False, "llm_int8_has_fp16_weight": False,
    "llm_int8_skip_modules": None, "llm_int8_threshold": 6.0, "load_in_4bit": False, "load_in_8bit": True,
    "quant_method": "bitsandbytes",
}
CONFIG_KEYS_ALLOWED_TO_DIFFER = {"dtype", "torch_dtype", "transformers_version", "quantization_config"}


# bitsandbytes' signed dynamic 8-bit map (create_dynamic_map(signed=True, max_exponent_bits=7,
# total_bits=8)), indices 0..127 as docs/formats.md §7.3 lists them (fp32; each printed value identifies one
# fp32 number); indices 128..254 are the negations of 126..0, index 255 is 1.0. torch's vectorized
# linspace may differ from these by 1 ulp in places, hence the 1-ulp tolerance of the check.
DYNAMIC_MAP_NEGATIVE_HALF = [
    -0.992968738, -0.978906274, -0.96484375, -0.950781226, -0.936718762, -0.922656238, -0.908593774, -0.89453125,
    -0.880468726, -0.866406262, -0.852343738, -0.838281274, -0.82421875, -0.810156226, -0.796093762, -0.782031238,
    -0.767968774, -0.75390625, -0.739843786, -0.725781262, -0.711718738, -0.697656274, -0.68359375, -0.669531286,
    -0.655468762, -0.641406238, -0.627343774, -0.61328125, -0.599218786, -0.585156262, -0.571093738, -0.557031274,
    -0.54296875, -0.528906226, -0.514843762, -0.500781238, -0.486718714, -0.47265625, -0.458593726, -0.444531232,
    -0.430468738, -0.416406214, -0.40234375, -0.388281226, -0.374218762, -0.360156238, -0.346093714, -0.33203125,
    -0.317968726, -0.303906262, -0.289843738, -0.275781244, -0.26171875, -0.247656241, -0.233593747, -0.219531253,
    -0.205468744, -0.19140625, -0.177343741, -0.163281247, -0.149218753, -0.135156244, -0.12109375, -0.107031256,
    -0.0985937491, -0.0957812518, -0.092968747, -0.0901562423, -0.0873437524, -0.0845312476, -0.0817187577, -0.078906253,
    -0.0760937482, -0.0732812509, -0.0704687461, -0.0676562563, -0.0648437515, -0.0620312504, -0.0592187531, -0.0564062484,
    -0.0535937548, -0.05078125, -0.047968749, -0.0451562479, -0.0423437469, -0.0395312496, -0.0367187485, -0.0339062475,
    -0.0310937501, -0.0282812472, -0.0254687481, -0.0226562507, -0.0198437497, -0.0170312487, -0.0142187504, -0.0114062503,
    -0.00971874967, -0.00915624946, -0.00859375019, -0.00803124998, -0.00746874977, -0.00690625003, -0.00634375028, -0.00578125007,
    -0.00521875033, -0.00465624966, -0.00409374991, -0.00353124971, -0.00296874996, -0.00240624999, -0.00184375001, -0.00128124992,
    -0.000943750027, -0.000831249927, -0.000718750001, -0.000606250076, -0.000493749976, -0.000381249964, -0.000268750009, -0.000156249997,
    -8.87499991e-05, -6.62500024e-05, -4.37499984e-05, -2.12499999e-05, -7.7499999e-06, -3.25000019e-06, -5.50000038e-07, 0,
]


def dynamic_map_signed():
    neg = np.array(DYNAMIC_MAP_NEGATIVE_HALF, dtype=np.float32)
    return np.concatenate([neg, -neg[:127][::-1], np.array([1.0], np.float32)])


def nearest_distance(table, v):
    """Distance from each v to the nearest entry of the ascending table (float64; NaN stays NaN)."""
    t = table.astype(np.float64)
    v = v.astype(np.float64)
    i = np.clip(np.searchsorted(t, v), 1, len(t) - 1)
    return np.minimum(np.abs(v - t[i - 1]), np.abs(v - t[i]))


class Failures:
    def __init__(self):
        self.items = []

    def add(self, msg):
        self.items.append(msg)
        print(f"  FAIL: {msg}", flush=True)


# --------------------------------------------------------------------------------------------------
# safetensors, read by hand (section 1)

class StFile:
    def __init__(self, path, fails):
        self.path = path
        self.tensors = {}
        self.metadata = None
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) != 8:
                raise ValueError(f"{path}: shorter than 8 bytes")
            n = struct.unpack("<Q", head)[0]
            if n > 100_000_000 or 8 + n > size:
                raise ValueError(f"{path}: header length {n} impossible for a {size}-byte file")
            raw = f.read(n)
        if not raw.startswith(b"{"):
            raise ValueError(f"{path}: header does not start with '{{'")
        header = json.loads(raw.decode("utf-8"))
        self.header_padded_to_8 = (n % 8 == 0)
        self.data_start = 8 + n
        buf_len = size - self.data_start
        spans = []
        for name, e in header.items():
            if name == "__metadata__":
                self.metadata = e
                continue
            dt, shape, (b, end) = e["dtype"], e["shape"], e["data_offsets"]
            if dt not in DTYPES:
                fails.add(f"{os.path.basename(path)}: {name}: dtype {dt} unknown")
                continue
            count = 1
            for d in shape:
                count *= d
            if end - b != count * DTYPES[dt][1]:
                fails.add(f"{os.path.basename(path)}: {name}: {end - b} bytes for {dt} {shape}")
            spans.append((b, end, name))
            self.tensors[name] = (dt, list(shape), b, end)
        spans.sort()
        pos = 0
        for b, end, name in spans:
            if b != pos:
                fails.add(f"{os.path.basename(path)}: {name} starts at {b}, expected {pos} (hole or overlap)")
            pos = end
        if pos != buf_len:
            fails.add(f"{os.path.basename(path)}: tensors cover {pos} of {buf_len} data bytes")
        if not isinstance(self.metadata, dict) or self.metadata.get("format") != "pt":
            fails.add(f"{os.path.basename(path)}: __metadata__ is {self.metadata!r}, expected format 'pt'")
        elif any(not isinstance(v, str) for v in self.metadata.values()):
            fails.add(f"{os.path.basename(path)}: __metadata__ values must be strings")

    def raw(self, name):
        dt, shape, b, end = self.tensors[name]
        return np.fromfile(self.path, dtype=np.uint8, count=end - b, offset=self.data_start + b)

    def array(self, name):
        dt, shape, b, end = self.tensors[name]
        return self.raw(name).view(DTYPES[dt][0]).reshape(shape)


class StFolder:
    def __init__(self, folder, fails):
        self.folder = folder
        index = os.path.join(folder, "model.safetensors.index.json")
        if os.path.exists(index):
            with open(index) as f:
                wm = json.load(f)["weight_map"]
            names = sorted(set(wm.values()))
        else:
            wm = None
            names = sorted(fn for fn in os.listdir(folder) if fn.endswith(".safetensors"))
            if len(names) != 1:
                raise ValueError(f"{folder}: {len(names)} safetensors files and no index")
        self.files = {fn: StFile(os.path.join(folder, fn), fails) for fn in names}
        self.where = {}
        for fn, st in self.files.items():
            for name in st.tensors:
                if name in self.where:
                    fails.add(f"{folder}: tensor {name} in both {self.where[name]} and {fn}")
                self.where[name] = fn
        if wm is not None:
            for name, fn in wm.items():
                if self.where.get(name) != fn:
                    fails.add(f"{folder}: index puts {name} in {fn}, found in {self.where.get(name)}")
            for name in self.where:
                if name not in wm:
                    fails.add(f"{folder}: {name} is missing from the index")

    def names(self):
        return list(self.where)

    def info(self, name):
        dt, shape, _, _ = self.files[self.where[name]].tensors[name]
        return dt, shape

    def raw(self, name):
        return self.files[self.where[name]].raw(name)

    def array(self, name):
        return self.files[self.where[name]].array(name)

    def f32(self, name):
        dt, _ = self.info(name)
        a = self.array(name)
        if dt == "BF16":
            return (a.astype(np.uint32) << 16).view(np.float32)
        return a.astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Which modules transformers quantizes (section 6.1)

def quantized_modules(cfg):
    text = cfg.get("text_config", cfg)
    vision = cfg.get("vision_config", {})
    mods = []
    n_layers = int(text["num_hidden_layers"])
    n_experts = int(text.get("num_experts", text.get("num_local_experts", 0)) or 0)
    step = int(text.get("decoder_sparse_step", 1) or 1)
    mlp_only = set(text.get("mlp_only_layers", []) or [])
    for i in range(n_layers):
        p = f"model.language_model.layers.{i}"
        mods += [f"{p}.self_attn.{k}_proj" for k in "qkvo"]
        sparse = i not in mlp_only and n_experts > 0 and (i + 1) % step == 0
        if not sparse:
            mods += [f"{p}.mlp.{k}_proj" for k in ("gate", "up", "down")]
    for b in range(int(vision.get("depth", 0))):
        p = f"model.visual.blocks.{b}"
        mods += [f"{p}.attn.qkv", f"{p}.attn.proj", f"{p}.mlp.linear_fc1", f"{p}.mlp.linear_fc2"]
    if vision:
        mods += ["model.visual.merger.linear_fc1", "model.visual.merger.linear_fc2"]
        for k in range(len(vision.get("deepstack_visual_indexes", []))):
            mods += [f"model.visual.deepstack_merger_list.{k}.linear_fc1",
                     f"model.visual.deepstack_merger_list.{k}.linear_fc2"]
    return mods


KNOWN_16BIT = [  # tensors transformers leaves in the load dtype (section 6.1), as regexes on the name
    r"^lm_head\.weight$", r"\.embed_tokens\.weight$", r"norm[^.]*\.(weight|bias)$", r"\.norm\.(weight|bias)$",
    r"\.mlp\.experts\.(gate_up_proj|down_proj)$", r"\.mlp\.gate\.weight$", r"patch_embed\.proj\.(weight|bias)$",
    r"pos_embed\.weight$", r"\.bias$",
]


def skipped(module, skip_list):
    for k in skip_list or []:
        if re.match(k, module) or module.endswith(k):
            return True
    return False


# --------------------------------------------------------------------------------------------------

def check_int8(P, src, exp, W, fails, stats):
    out, inn = W.shape
    for name, dt, shape in ((f"{P}.weight", "I8", [out, inn]), (f"{P}.SCB", "F32", [out]),
                            (f"{P}.weight_format", "U8", [])):
        if name not in exp.where:
            fails.add(f"{name} missing")
            return
        if list(exp.info(name)) != [dt, shape]:
            fails.add(f"{name}: {exp.info(name)}, expected {[dt, shape]}")
            return
    if int(exp.array(f"{P}.weight_format").reshape(-1)[0]) != 0:
        fails.add(f"{P}.weight_format is {int(exp.array(f'{P}.weight_format').reshape(-1)[0])}, expected 0 (row)")
    CB = exp.array(f"{P}.weight").astype(np.int32)
    SCB = exp.array(f"{P}.SCB").astype(np.float32)
    W16 = W.astype(np.float16).astype(np.float32)
    scb_ref = np.abs(W16).max(axis=1)
    if not np.array_equal(SCB, scb_ref):
        bad = int(np.count_nonzero(SCB != scb_ref))
        fails.add(f"{P}.SCB differs from max|fp16(W)| per row in {bad} of {out} rows")
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(scb_ref > 0, np.float32(127.0) / scb_ref, np.float32(0.0)).astype(np.float32)
    cb_ref = np.rint((W16 * scale[:, None]).astype(np.float32)).astype(np.int32)
    d = np.abs(CB - cb_ref)
    off1 = int(np.count_nonzero(d == 1))
    if d.max() > 1:
        fails.add(f"{P}.weight: codes differ from round(W16*127/SCB) by up to {int(d.max())} "
                  f"({int(np.count_nonzero(d > 1))} codes)")
    elif off1 > max(1, CB.size // 10000):
        fails.add(f"{P}.weight: {off1} of {CB.size} codes are off by one (more than rounding ties explain)")
    deq = CB.astype(np.float32) * (SCB[:, None] / np.float32(127.0))
    err = deq.astype(np.float64) - W.astype(np.float64)
    rel = math.sqrt(float((err ** 2).sum()) / max(float((W.astype(np.float64) ** 2).sum()), 1e-300))
    stats.append({"module": P, "shape": [out, inn], "rel_rmse": rel, "codes_off_by_one": off1})


def check_nf4(P, src, exp, W, src_dtype, fails, stats, dmap):
    out, inn = W.shape
    numel = out * inn
    nb = (numel + 63) // 64
    nnb = (nb + 255) // 256
    js_name = f"{P}.weight.quant_state.bitsandbytes__nf4"
    want = [(f"{P}.weight", "U8", [(numel + 1) // 2, 1]), (f"{P}.weight.absmax", "U8", [nb]),
            (f"{P}.weight.quant_map", "F32", [16]), (f"{P}.weight.nested_absmax", "F32", [nnb]),
            (f"{P}.weight.nested_quant_map", "F32", [256])]
    for name, dt, shape in want:
        if name not in exp.where:
            fails.add(f"{name} missing")
            return
        if list(exp.info(name)) != [dt, shape]:
            fails.add(f"{name}: {exp.info(name)}, expected {[dt, shape]}")
            return
    if js_name not in exp.where:
        fails.add(f"{js_name} missing")
        return
    jdt, jshape = exp.info(js_name)
    if jdt != "U8" or len(jshape) != 1:
        fails.add(f"{js_name}: {jdt} {jshape}, expected U8 [len]")
        return
    text = exp.raw(js_name).tobytes().decode("utf-8")
    try:
        qs = json.loads(text)
    except ValueError as e:
        fails.add(f"{js_name}: not JSON ({e}): {text[:120]!r}")
        return
    offset = qs.get("nested_offset")
    expect_qs = {"quant_type": "nf4", "blocksize": 64, "dtype": TORCH_DTYPE_NAME.get(src_dtype, src_dtype),
                 "shape": [out, inn], "nested_blocksize": 256, "nested_dtype": "float32",
                 "nested_offset": offset}
    if json.dumps(expect_qs) != text:
        fails.add(f"{js_name}: {text!r}, expected {json.dumps(expect_qs)!r}")
    if not isinstance(offset, float) or float(np.float32(offset)) != offset:
        fails.add(f"{js_name}: nested_offset {offset!r} is not a float32 value written as a Python float")
        return
    qmap = exp.array(f"{P}.weight.quant_map").astype(np.float32)
    if not np.array_equal(qmap, NF4_LEVELS):
        fails.add(f"{P}.weight.quant_map differs from the NF4 table: {qmap.tolist()}")
    nmap = exp.array(f"{P}.weight.nested_quant_map").astype(np.float32)
    ulps = np.abs(nmap.view(np.int32).astype(np.int64) - dmap.view(np.int32).astype(np.int64))
    if ulps.max() > 1:
        fails.add(f"{P}.weight.nested_quant_map differs from the dynamic map by up to {int(ulps.max())} ulp "
                  f"(at index {int(ulps.argmax())}: {nmap[ulps.argmax()]} vs {dmap[ulps.argmax()]})")

    # Source blocks of 64 over the flattened weight (the last one may be short).
    x = W.reshape(-1).astype(np.float32)
    pad = nb * 64 - numel
    xb = np.concatenate([x, np.zeros(pad, np.float32)]).reshape(nb, 64)
    absmax = np.abs(xb).max(axis=1).astype(np.float32)
    mean = float(np.mean(absmax, dtype=np.float64))
    if abs(offset - mean) > 1e-5 * max(abs(mean), 1e-30):
        fails.add(f"{js_name}: nested_offset {offset} is not the mean absmax {mean}")

    # Double quantization of absmax (section 7.3), checked with the STORED map.
    nested = exp.array(f"{P}.weight.nested_absmax").astype(np.float32)
    qa = exp.array(f"{P}.weight.absmax").astype(np.int64)
    a = (absmax - np.float32(offset)).astype(np.float32)
    apad = np.concatenate([a, np.zeros(nnb * 256 - nb, np.float32)]).reshape(nnb, 256)
    nested_ref = np.abs(apad).max(axis=1)
    if not np.allclose(nested, nested_ref, rtol=1e-6, atol=0):
        fails.add(f"{P}.weight.nested_absmax differs from max|absmax - offset| per 256 "
                  f"(max rel diff {float(np.max(np.abs(nested - nested_ref) / np.maximum(nested_ref, 1e-30))):.3g})")
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (a * np.repeat(np.float32(1.0) / nested, 256)[:nb]).astype(np.float32)
    best = nearest_distance(nmap, s)
    got = np.abs(nmap[qa].astype(np.float64) - s.astype(np.float64))
    not_nearest = int(np.count_nonzero(~(got <= best + 1e-7)))
    if not_nearest:
        fails.add(f"{P}.weight.absmax: {not_nearest} of {nb} codes are not the nearest map entry")
    absmax_dec = (nmap[qa] * np.repeat(nested, 256)[:nb] + np.float32(offset)).astype(np.float32)

    # NF4 codes (section 7.2): high nibble first.
    packed = exp.array(f"{P}.weight").reshape(-1)
    codes = np.empty(packed.size * 2, np.int64)
    codes[0::2] = packed >> 4
    codes[1::2] = packed & 0xF
    if numel % 2 and codes[numel] != 0:
        fails.add(f"{P}.weight: the padding nibble is {int(codes[numel])}, expected 0")
    codes = codes[:numel]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = (np.float32(1.0) / absmax).astype(np.float32)
        sx = (xb * inv[:, None]).astype(np.float32).reshape(-1)[:numel]
    ref = np.searchsorted(NF4_THRESHOLDS, sx, side="left").astype(np.int64)
    zero_block = np.repeat(absmax == 0, 64)[:numel]
    ok_code = (codes == ref) | (zero_block & ((codes == 7) | (codes == 0)))
    # A scaled value within 1e-6 of a threshold may land either side (fp32 rounding of 1/absmax).
    near = nearest_distance(NF4_THRESHOLDS, sx) < 1e-6
    bad = int(np.count_nonzero(~ok_code & ~near))
    if bad:
        i = int(np.argmax(~ok_code & ~near))
        fails.add(f"{P}.weight: {bad} of {numel} NF4 codes are not the nearest level (first at {i}: code "
                  f"{int(codes[i])}, expected {int(ref[i])}, x/absmax = {float(sx[i])})")
    deq = (qmap[codes] * np.repeat(absmax_dec, 64)[:numel]).astype(np.float32)
    err = deq.astype(np.float64) - x.astype(np.float64)
    rel = math.sqrt(float((err ** 2).sum()) / max(float((x.astype(np.float64) ** 2).sum()), 1e-300))
    if rel > 0.2:
        fails.add(f"{P}: NF4 relative RMS error {rel:.3f} (expected about 0.1 for Gaussian weights)")
    stats.append({"module": P, "shape": [out, inn], "rel_rmse": rel,
                  "absmax_rel_err_max": float(np.max(np.abs(absmax_dec - absmax) / np.maximum(absmax, 1e-30)))})


def check_config(src_dir, exp_dir, mode, fails):
    with open(os.path.join(src_dir, "config.json")) as f:
        src = json.load(f)
    path = os.path.join(exp_dir, "config.json")
    with open(path) as f:
        text = f.read()
    exp = json.loads(text)
    qc = exp.get("quantization_config")
    want = dict(QCONFIG_NF4 if mode == "nf4" else QCONFIG_INT8)
    info = {"transformers_style_text": text == json.dumps(exp, indent=2, sort_keys=True) + "\n"}
    if not isinstance(qc, dict):
        fails.add("config.json has no quantization_config")
        return info, []
    skip = qc.get("llm_int8_skip_modules")
    if skip is not None and not (isinstance(skip, list) and all(isinstance(s, str) for s in skip)):
        fails.add(f"quantization_config.llm_int8_skip_modules is {skip!r}: must be null or a list of names")
        skip = None
    want["llm_int8_skip_modules"] = qc.get("llm_int8_skip_modules") if skip is not None else None
    if mode == "nf4":
        want["bnb_4bit_compute_dtype"] = qc.get("bnb_4bit_compute_dtype") \
            if qc.get("bnb_4bit_compute_dtype") in ("bfloat16", "float16", "float32") else "bfloat16"
    for k in sorted(set(want) | set(qc)):
        if k not in qc:
            fails.add(f"quantization_config lacks {k} (expected {want[k]!r})")
        elif k not in want:
            fails.add(f"quantization_config has an unexpected key {k} = {qc[k]!r}")
        elif qc[k] != want[k] or type(qc[k]) is not type(want[k]):
            fails.add(f"quantization_config.{k} = {qc[k]!r}, expected {want[k]!r}")

    def diff(a, b, path=""):
        out = []
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                if k in CONFIG_KEYS_ALLOWED_TO_DIFFER:
                    continue
                if k not in a or k not in b:
                    out.append(f"{path}{k}: {'only in export' if k in b else 'missing in export'}")
                else:
                    out += diff(a[k], b[k], f"{path}{k}.")
        elif a != b:
            out.append(f"{path.rstrip('.')}: source {a!r}, export {b!r}")
        return out

    cdiff = diff(src, exp)
    for d in cdiff:
        fails.add(f"config.json differs from the source's: {d}")
    info["quantization_config"] = qc
    return info, skip or []


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", required=True)
    ap.add_argument("--export", required=True)
    ap.add_argument("--mode", choices=["int8", "nf4"], help="default: from the export's quantization_config")
    ap.add_argument("--json-out")
    args = ap.parse_args(argv)

    fails = Failures()
    try:
        with open(os.path.join(args.export, "config.json")) as f:
            qc = json.load(f).get("quantization_config", {}) or {}
        mode = args.mode or ("nf4" if qc.get("load_in_4bit") else "int8" if qc.get("load_in_8bit") else None)
        if mode is None:
            print("cannot tell int8 from nf4: no load_in_4bit/load_in_8bit in the export's config; pass --mode",
                  file=sys.stderr)
            return 2
        with open(os.path.join(args.source, "config.json")) as f:
            cfg = json.load(f)
        print(f"source {args.source}\nexport {args.export} ({mode})", flush=True)
        src = StFolder(args.source, fails)
        exp = StFolder(args.export, fails)
    except (OSError, ValueError, KeyError) as e:
        print(f"check_bnb_export.py: {e}", file=sys.stderr)
        return 2

    cinfo, skip = check_config(args.source, args.export, mode, fails)
    mods = quantized_modules(cfg)
    quant = [m for m in mods if not skipped(m, skip)]
    skipped_mods = [m for m in mods if skipped(m, skip)]
    print(f"{len(mods)} modules transformers quantizes for this config; {len(skipped_mods)} skipped by "
          f"llm_int8_skip_modules {skip}; {len(quant)} to check", flush=True)

    explained = set()
    stats = []
    dmap = dynamic_map_signed()
    for P in quant:
        wname = f"{P}.weight"
        if wname not in src.where:
            fails.add(f"source has no {wname}: the config and the checkpoint disagree")
            continue
        sdt, sshape = src.info(wname)
        if len(sshape) != 2:
            fails.add(f"source {wname} is {sshape}, expected 2-D")
            continue
        W = src.f32(wname)
        explained.add(wname)
        if mode == "int8":
            check_int8(P, src, exp, W, fails, stats)
            exp_names = [wname, f"{P}.SCB", f"{P}.weight_format"]
        else:
            check_nf4(P, src, exp, W, sdt, fails, stats, dmap)
            exp_names = [wname] + [f"{wname}.{s}" for s in ("absmax", "quant_map", "nested_absmax",
                                                           "nested_quant_map", "quant_state.bitsandbytes__nf4")]
        for n in exp_names:
            explained.add(("export", n))

    # Everything else of the source: 16-bit, byte-identical.
    n_same = 0
    unclassified = []
    for name in src.names():
        if name in explained:
            continue
        module = name.rsplit(".", 1)[0]
        if module not in mods and not any(re.search(p, name) for p in KNOWN_16BIT):
            unclassified.append(name)
        explained.add(("export", name))
        if name not in exp.where:
            fails.add(f"{name} (kept 16-bit) is missing from the export")
            continue
        if exp.info(name) != src.info(name):
            fails.add(f"{name}: export {exp.info(name)}, source {src.info(name)}")
            continue
        if not np.array_equal(src.raw(name), exp.raw(name)):
            a, b = src.f32(name), exp.f32(name)
            fails.add(f"{name}: bytes differ from the source ({int(np.count_nonzero(a != b))} values, "
                      f"max |diff| {float(np.max(np.abs(a - b))):.3g})")
            continue
        n_same += 1
    for name in unclassified:
        fails.add(f"source tensor {name} is neither a module transformers quantizes nor a known 16-bit one "
                  f"(update quantized_modules/KNOWN_16BIT)")
    extra = [n for n in exp.names() if ("export", n) not in explained]
    for n in extra:
        fails.add(f"export has a tensor the source does not explain: {n} {exp.info(n)}")

    rel = [s["rel_rmse"] for s in stats]
    res = {
        "ok": not fails.items, "mode": mode, "failures": fails.items,
        "modules_expected": len(mods), "modules_checked": len(stats), "modules_skipped": skipped_mods,
        "tensors_16bit_identical": n_same, "export_tensors": len(exp.names()), "source_tensors": len(src.names()),
        "rel_rmse_max": max(rel) if rel else None, "rel_rmse_mean": (sum(rel) / len(rel)) if rel else None,
        "config": cinfo, "export_files": sorted(os.listdir(args.export)),
        "modules": stats,
    }
    print(f"{len(stats)} quantized modules checked (relative RMS error mean "
          f"{res['rel_rmse_mean'] if rel else float('nan'):.4f}, max {res['rel_rmse_max'] if rel else float('nan'):.4f}); "
          f"{n_same} 16-bit tensors byte-identical; export {len(exp.names())} tensors; "
          f"config.json in transformers' text form: {cinfo.get('transformers_style_text')}")
    print(f"RESULT: {'PASS' if res['ok'] else 'FAIL (' + str(len(fails.items)) + ')'}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(res, f, indent=1)
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
