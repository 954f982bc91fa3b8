#!/usr/bin/python3
"""Turns the raw results of bench/cpu_race.sh into the markdown tables of docs/RESULTS.md:
medians over rounds with their spread, and the issue-16 target ratios, all from one run.

    /usr/bin/python3 bench/race_report.py RESULTS.tsv [--command "the exact command"]

RESULTS.tsv: one line per measurement, `kind <TAB> round <TAB> label <TAB> JSON`, where kind is
`cnn` (qforge bench / torch_int8_peer.py / ort_bench.mjs JSON, label = checkpoint path) or
`gemm` (gemm_bench / gemm_peers.py JSON lines, label unused), or `check` (accuracy runs).
"""
import argparse
import json
import os
import statistics
import sys
from collections import defaultdict

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))


def describe_checkpoint(path):
    try:
        from qf_checkpoint import Checkpoint
        ck = Checkpoint(path)
    except Exception as e:  # noqa: BLE001 -- a label only
        return f"? ({e})"
    fmts = []
    for op in ck.ops:
        L = ck.layers.get(op["name"])
        if L is not None and L.quantized:
            f = {"int8": "int8", "int4": "int4", "nm_int8": f"int8 {L.sparsity}", "nm_int4": f"int4 {L.sparsity}"}[
                L.weight_format]
            if f not in fmts:
                fmts.append(f)
    return " + ".join(fmts)


def med_spread(vals, fmt="{:.1f}"):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None, "n/a"
    m = statistics.median(vals)
    if len(vals) == 1:
        return m, fmt.format(m)
    return m, f"{fmt.format(m)} ({fmt.format(min(vals))}–{fmt.format(max(vals))})"


def ratio(a, b, fmt="{:.2f}×"):
    if a is None or b is None or b == 0:
        return "n/a"
    return fmt.format(a / b)


UNSTABLE = 2.0  # max/min over rounds above which a median is not trusted


def spread(vals):
    vals = [v for v in vals if v]
    return max(vals) / min(vals) if len(vals) > 1 else 1.0


def verdict(x, target, higher_is_better=True, spreads=()):
    if x is None:
        return "n/a"
    if any(sp > UNSTABLE for sp in spreads):
        return f"unstable (spread > {UNSTABLE:g}× or implausible): re-run on a quiet machine"
    ok = x >= target if higher_is_better else x <= target
    return "met" if ok else "not met"


def impl_name(r):
    if r.get("impl") == "torch":
        return "PyTorch float32" if r["engine"] == "fp32" else f"PyTorch {r['engine']} int8"
    if r.get("impl") == "ort":
        return "ORT CPU EP " + ("float32" if "fp32" in r.get("model", "") else "int8 (QDQ)")
    single = "" if r.get("threads_applied", True) else ", single-threaded: runtime has no thread setting"
    return f"qforge ({r.get('kernels', '?')} kernels{single})"


def base_name(r):
    return impl_name({k: v for k, v in r.items() if k != "threads_applied"})


def cnn_tables(rows, checks, out):
    by_ckpt = defaultdict(lambda: defaultdict(list))
    for label, r in rows:
        by_ckpt[label][impl_name(r)].append(r)
    acc = {}
    for label, r in checks:
        acc[(label, base_name(r))] = r.get("accuracy")
    targets = []
    for label, impls in by_ckpt.items():
        desc = describe_checkpoint(label)
        any_r = next(iter(impls.values()))[0]
        out.append(f"\n### {os.path.basename(label)} ({desc}), batch {any_r.get('batch')}, "
                   f"{any_r.get('threads')} threads\n")
        out.append("| implementation | images/s, median (min–max) | batch-1 latency ms, median (min–max) | rounds | "
                   "test accuracy |")
        out.append("| --- | --- | --- | --- | --- |")
        meds, spr = {}, {}
        for name, rs in sorted(impls.items(), key=lambda kv: (not kv[0].startswith("qforge"), kv[0])):
            ips, ips_s = med_spread([r["items_per_s"] for r in rs])
            lat, lat_s = med_spread([r["latency_ms_b1"] for r in rs], "{:.3f}")
            meds[name] = (ips, lat)
            spr[name] = [spread([r["items_per_s"] for r in rs]), spread([r["latency_ms_b1"] for r in rs])]
            # Plausibility: one image cannot honestly take a quarter of a whole batch's time. That
            # happens to OpenMP peers on a loaded machine (barriers wait for descheduled threads).
            batch_ms = 1e3 * (rs[0].get("batch") or 1) / ips if ips else None
            if batch_ms and lat and lat > 0.25 * batch_ms:
                spr[name][1] = float("inf")
                name_note = f" (batch-1 latency implausible: {lat:.1f} ms vs {batch_ms:.1f} ms per batch)"
            else:
                name_note = ""
            a = acc.get((label, base_name(rs[0])))
            out.append(f"| {name}{name_note} | {ips_s} | {lat_s} | {len(rs)} | {'—' if a is None else f'{a:.2f}'} |")
        for name, rs in impls.items():  # the runtime's per-op profile (Engine::op_times), last round
            last = rs[-1]
            if name.startswith("qforge") and last.get("op_times") and last.get("profile_runs"):
                total = sum(o["seconds"] for o in last["op_times"]) or 1.0
                out.append(f"\nqforge per-op time at batch {last.get('batch')} ({last['profile_runs']} profiled runs):\n")
                out.append("| op | kind | ms/run | share | kernel path |")
                out.append("| --- | --- | --- | --- | --- |")
                for o in last["op_times"]:
                    out.append(f"| {o['name']} | {o['kind']} | {1e3 * o['seconds'] / last['profile_runs']:.3f} | "
                               f"{100 * o['seconds'] / total:.1f}% | {o.get('kernel') or '—'} |")
        qn = [k for k in meds if k.startswith("qforge")]
        q = [meds[k] for k in qn]
        t8 = {k: v for k, v in meds.items() if k.startswith("PyTorch") and k.endswith("int8")}
        if q and t8:
            qi, ql = q[0]
            best_name, (bi, _) = max(t8.items(), key=lambda kv: kv[1][0] or 0)
            lat_name, (_, bl) = min(t8.items(), key=lambda kv: kv[1][1] or 1e30)
            sparse = "2:4" in desc or "int4" in desc
            tgt = 2.0 if sparse else 1.5
            r1 = qi / bi if qi and bi else None
            r2 = ql / bl if ql and bl else None
            targets.append((f"{os.path.basename(label)} ({desc}): images/s ÷ best PyTorch int8 ({best_name})",
                            f"≥ {tgt}×", ratio(qi, bi), verdict(r1, tgt, spreads=(spr[qn[0]][0], spr[best_name][0]))))
            targets.append((f"{os.path.basename(label)}: batch-1 latency ÷ best PyTorch int8 ({lat_name})",
                            "≤ 0.5×", ratio(ql, bl),
                            verdict(r2, 0.5, False, spreads=(spr[qn[0]][1], spr[lat_name][1]))))
            ort = meds.get("ORT CPU EP int8 (QDQ)")
            if ort:
                targets.append((f"{os.path.basename(label)}: images/s ÷ ORT int8 (no target)", "—", ratio(qi, ort[0]), ""))
    return targets


def gemm_tables(rows, out):
    cell = defaultdict(list)  # (impl, kernels, variant, m, n, k) -> gops list
    notes = {}
    layouts = defaultdict(set)  # (variant, n, k) -> the packed layouts qforge ran (gemm_bench "layout")
    for _, r in rows:
        if r.get("impl") == "qforge" and r.get("layout"):
            layouts[(r["variant"], r["n"], r["k"])].add(r["layout"])
        if r.get("gops") is None:
            notes[(r["impl"], r["kernels"], r["variant"], r["m"], r["n"], r["k"])] = r.get("error", "n/a")
            continue
        key = (r["impl"], r["kernels"], r["variant"], r["m"], r["n"], r["k"])
        cell[key].append(r["gops"])
        if r.get("rows_timed") and r["rows_timed"] != r["n"]:
            notes[key] = f"rows={r['rows_timed']}"
    cols = sorted({(i, kt, v) for (i, kt, v, _, _, _) in cell}, key=lambda c: (c[0] != "qforge", c[1], c[2]))
    shapes = sorted({(n, k, m) for (_, _, _, m, n, k) in cell}, key=lambda s: (s[0] * s[1], s[2]))

    def colname(c):
        return f"{c[0]} {c[1]} {c[2]}" if c[0] == "torch" else f"qforge/{c[1]} {c[2]}"

    out.append("\nGOP/s (2·M·N·K per call), median over rounds (min–max); `*` = timed on a row slice.")
    if layouts:
        out.append("qforge weight layouts (the kernel that ran): " + "; ".join(
            f"{v} {n}×{k}: {', '.join(sorted(ls))}" for (v, n, k), ls in sorted(layouts.items())) + ".")
    if any(r.get("impl") == "qforge" and r.get("threads_applied") is False for _, r in rows):
        out.append("qforge ran single-threaded: this runtime has no thread setting yet (--threads ignored).")
    out.append("")
    out.append("| N×K | M | " + " | ".join(colname(c) for c in cols) + " |")
    out.append("| --- | --- | " + " | ".join("---" for _ in cols) + " |")
    med = {}
    for n, k, m in shapes:
        cells = []
        for c in cols:
            key = (c[0], c[1], c[2], m, n, k)
            v, s = med_spread(cell.get(key, []), "{:.2f}")
            med[key] = v
            if key in notes and v is not None:
                s += "*"
            cells.append(s)
        out.append(f"| {n}×{k} | {m} | " + " | ".join(cells) + " |")

    def sp(*keys):  # spreads of the cells a ratio uses
        return tuple(spread(cell.get(key, [])) for key in keys)

    def best(impl, variant, m, n, k, kernels=None):
        vals = [(v, key[1]) for key, v in med.items() if v is not None and key[0] == impl and key[2] == variant
                and key[3:] == (m, n, k) and (kernels is None or key[1] == kernels)]
        return max(vals) if vals else (None, None)

    targets = []
    for n, k, m in shapes:
        if m >= 128:
            q, qt = best("qforge", "int8", m, n, k)
            qt = qt or "—"
            o, ov = max([(med.get(("torch", "onednn", v, m, n, k)) or 0, v) for v in ("int8-static", "int8-dynamic")])
            targets.append((f"int8 GEMM M={m} {n}×{k}: qforge/{qt} ÷ oneDNN int8 ({ov})", "≥ 1.2×",
                            ratio(q, o or None),
                            verdict(q / o if q and o else None, 1.2,
                                    spreads=sp(("qforge", qt, "int8", m, n, k), ("torch", "onednn", ov, m, n, k)))))
    for n, k, m in shapes:
        if m != 1 or (n, k) != (4096, 4096):
            continue
        f, _ = best("torch", "f32", m, n, k)
        o, ov = max([(med.get(("torch", "onednn", v, m, n, k)) or 0, v) for v in ("int8-static", "int8-dynamic")])
        for var in ("int4", "int4_g128"):
            q, qt = best("qforge", var, m, n, k)
            qt = qt or "—"
            qk = ("qforge", qt, var, m, n, k)
            targets.append((f"M=1 {var} GEMV 4096×4096: qforge/{qt} ÷ float32 (OpenBLAS)", "≥ 5×",
                            ratio(q, f), verdict(q / f if q and f else None, 5,
                                                 spreads=sp(qk, ("torch", "openblas", "f32", m, n, k)))))
            targets.append((f"M=1 {var} GEMV 4096×4096: qforge/{qt} ÷ oneDNN int8 ({ov})", "≥ 1.5×",
                            ratio(q, o or None), verdict(q / o if q and o else None, 1.5,
                                                         spreads=sp(qk, ("torch", "onednn", ov, m, n, k)))))
        s, st = best("qforge", "int4_24", m, n, k)
        d, _ = best("qforge", "int4", m, n, k, st)
        targets.append((f"M=1 int4 2:4 ÷ dense int4 (per channel), 4096×4096, qforge/{st}", "≥ 1.25×",
                        ratio(s, d), verdict(s / d if s and d else None, 1.25,
                                             spreads=sp(("qforge", st, "int4_24", m, n, k), ("qforge", st, "int4", m, n, k)))))
    return targets


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results")
    ap.add_argument("--command", default="")
    a = ap.parse_args()
    cnn, gemm, checks = [], [], []
    with open(a.results) as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t", 3)
            if len(parts) != 4 or not parts[3].startswith("{"):
                continue
            kind, _, label, js = parts
            try:
                r = json.loads(js)
            except json.JSONDecodeError:
                continue
            {"cnn": cnn, "gemm": gemm, "check": checks}.get(kind, []).append((label, r))
    out = []
    if a.command:
        out.append(f"Command: `{a.command}`")
    loads = [r["loadavg_1min"] for _, r in cnn + gemm if isinstance(r.get("loadavg_1min"), (int, float))]
    if loads:
        out.append(f"\n1-minute load average when each measurement started: {min(loads):.2f}–{max(loads):.2f} "
                   f"({os.cpu_count()} CPUs; the race itself adds up to its thread count, anything beyond that is other "
                   "work, which 2-thread OpenMP peers suffer from most).")
    targets = []
    if cnn:
        out.append("\n## Fashion CNN: qforge vs PyTorch int8 vs ONNX Runtime\n")
        targets += cnn_tables(cnn, checks, out)
    if gemm:
        out.append("\n## GEMM: qforge kernel tables vs PyTorch\n")
        targets += gemm_tables(gemm, out)
    if targets:
        out.append("\n## Issue 16 targets (ratios of medians, same run)\n")
        out.append("| ratio | target | measured | |")
        out.append("| --- | --- | --- | --- |")
        for t in targets:
            out.append("| " + " | ".join(t) + " |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
