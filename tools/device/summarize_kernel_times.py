#!/usr/bin/env python3
"""Sums Nsight Compute's per-launch durations (ncu --csv --page raw, gpu__time_duration.sum) per
kernel name, one table per load: a load starts at the first synthetic-weight kernel after
inference kernels (tools/device/profile_decode.sh runs one `bench` over several precisions).

  python3 tools/device/summarize_kernel_times.py ncu.csv
"""
import csv
import re
import sys

LOAD = re.compile(r"synthetic_kernel|convert_|int8_transposed|int8_rows|nf4_blocks|nf4_nested|nf4_offsets|nf4_run_sums")
SCALE = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3}


def short(name):
    """The kernel's name with its template arguments (the weight format), namespaces and the
    argument list dropped."""
    name = name.replace("(anonymous namespace)::", "").replace("<unnamed>::", "")
    name = name.replace("ql::gpu::", "").replace("ql::", "")
    name = re.sub(r"^void ", "", name.strip())
    depth = 0
    for i, ch in enumerate(name):
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "(" and depth == 0 and i > 0:
            return name[:i]
    return name


def main():
    rows = list(csv.reader(open(sys.argv[1], newline="")))
    start = next(i for i, r in enumerate(rows) if "Kernel Name" in r)
    head, units = rows[start], rows[start + 1]
    k, t = head.index("Kernel Name"), head.index("gpu__time_duration.sum")
    scale = SCALE.get(units[t].strip(), 1.0)
    launches = []
    for r in rows[start + 2:]:
        if len(r) <= max(k, t):
            continue
        try:
            launches.append((short(r[k]), float(r[t].replace(",", "")) * scale))
        except ValueError:
            continue
    # Segments: each begins at a synthetic-weight kernel that follows a kernel of inference.
    segments, prev_load = [], False
    for name, us in launches:
        is_load = bool(LOAD.search(name))
        if name.startswith("synthetic_kernel") and (not segments or not prev_load):
            segments.append([])
        if segments:
            segments[-1].append((name, us, is_load))
        prev_load = is_load
    loads = []
    for seg in segments:
        last = max(i for i, (_, _, is_load) in enumerate(seg) if is_load)
        load = {"load": {}, "run": {}}
        for i, (name, us, _) in enumerate(seg):
            c = load["load" if i <= last else "run"].setdefault(name, [0, 0.0])
            c[0] += 1
            c[1] += us
        loads.append(load)
    for n, load in enumerate(loads, 1):
        run = load["run"]
        total = sum(v[1] for v in run.values())
        steps = sum(v[0] for name, v in run.items() if name.startswith("sample_kernel"))
        print(f"load {n}: {sum(v[0] for v in load['load'].values())} load kernels "
              f"{sum(v[1] for v in load['load'].values()) / 1e3:.1f} ms; inference {sum(v[0] for v in run.values())} "
              f"launches {total / 1e3:.2f} ms, {steps} sampled tokens")
        print(f"  {'kernel':34} {'launches':>8} {'total us':>10} {'mean us':>9} {'share':>6}")
        for name, (count, us) in sorted(run.items(), key=lambda kv: -kv[1][1]):
            print(f"  {name:34} {count:8} {us:10.1f} {us / count:9.2f} {100 * us / max(total, 1e-9):5.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
