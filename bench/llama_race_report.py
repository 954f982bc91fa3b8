#!/usr/bin/python3
"""The llama.cpp race's two reports (bench/llama_race.sh).

  llama_race_report.py check QFORGE_LOGITS.f32 LLAMA_PROBS.f32 [--label NAME]
      Same model? qforge's next-token logits (float32, full vocabulary) against llama.cpp's
      next-token probabilities for the same ids: |delta log p| over the tokens llama.cpp gives
      p >= 1e-6 (max, mean), KL(llama.cpp || qforge), top-1 and top-10 agreement.
  llama_race_report.py table RESULTS.jsonl [--cpu]
      Median tokens/s (min-max over rounds) per engine, test and thread count, and the ratios
      qforge / llama.cpp of the medians; --cpu: tokens per CPU second of the process instead.
"""
import json
import statistics
import sys
from collections import defaultdict

import numpy as np


def check(argv):
    label = "qforge"
    if "--label" in argv:
        i = argv.index("--label")
        label = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    logits = np.fromfile(argv[0], dtype=np.float32).astype(np.float64)
    p_ref = np.fromfile(argv[1], dtype=np.float32).astype(np.float64)
    n = min(len(logits), len(p_ref))
    logits, p_ref = logits[:n], p_ref[:n]
    lp = logits - logits.max()
    lp = lp - np.log(np.exp(lp).sum())
    mask = p_ref >= 1e-6
    d = np.abs(np.log(p_ref[mask]) - lp[mask])
    kl = float(np.sum(p_ref[mask] * (np.log(p_ref[mask]) - lp[mask])))
    top_q = np.argsort(-lp)[:10]
    top_r = np.argsort(-p_ref)[:10]
    print(f"| {label} | {int(mask.sum())} | {d.max():.4f} | {d.mean():.4f} | {kl:.2e} | "
          f"{'yes' if top_q[0] == top_r[0] else 'NO'} ({top_q[0]} / {top_r[0]}) | {len(set(top_q) & set(top_r))}/10 | "
          f"{np.exp(lp).max():.4f} / {p_ref.max():.4f} |")


def table(argv):
    key = "tokens_per_s"
    if "--cpu" in argv:  # tokens per CPU second of the whole process
        key = "tokens_per_cpu_s"
        argv = [a for a in argv if a != "--cpu"]
    rows = [json.loads(l) for l in open(argv[0]) if l.startswith("{") and key in l]
    by = defaultdict(list)
    for r in rows:
        by[(r["engine"], r["test"], r["threads"])].append(r[key])
    engines = sorted({k[0] for k in by}, key=lambda e: (e != "llama.cpp", e))
    tests = sorted({k[1] for k in by}, key=lambda t: (t[:2] != "pp", int(t[2:])))
    threads = sorted({k[2] for k in by})
    unit = "tok/CPU-s" if key == "tokens_per_cpu_s" else "tok/s"
    print("| threads | test | " + " | ".join(f"{e} {unit}" for e in engines) + " | " +
          " | ".join(f"{e} / llama.cpp" for e in engines if e != "llama.cpp") + " |")
    print("| --- | --- | " + " | ".join("---" for _ in engines) + " | " +
          " | ".join("---" for e in engines if e != "llama.cpp") + " |")
    for t in threads:
        for test in tests:
            med = {}
            cells = []
            for e in engines:
                v = by.get((e, test, t))
                if not v:
                    cells.append("-")
                    continue
                med[e] = statistics.median(v)
                cells.append(f"{med[e]:.2f} ({min(v):.2f}-{max(v):.2f}, n={len(v)})")
            ratios = []
            for e in engines:
                if e == "llama.cpp":
                    continue
                ratios.append(f"**{med[e] / med['llama.cpp']:.2f}x**" if e in med and "llama.cpp" in med else "-")
            print(f"| {t} | {test} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("check", "table"):
        print(__doc__)
        sys.exit(2)
    (check if sys.argv[1] == "check" else table)(sys.argv[2:])
