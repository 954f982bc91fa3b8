#!/usr/bin/env python3
"""Report of bench/gemm_ceiling_race.sh: per round (only those whose two vpdpbusd ceiling readings,
before and after, agree within --agree and are both above --min-ceiling, so that the machine ran at
one speed through the round), qforge's int8 GEMM and the best oneDNN int8 variant as shares of that
round's ceiling, their ratio, and the share of the ceiling that 1.2x oneDNN would need."""
import argparse
import json
import re
import statistics
from pathlib import Path


def ceiling(path):
    m = re.search(r"(\d+) threads? (\d+) GOP/s", path.read_text().split(",")[-1])
    return float(m.group(2))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dirs", nargs="+", help="output folders of gemm_ceiling_race.sh")
    ap.add_argument("--agree", type=float, default=0.05, help="largest relative difference of the two ceilings")
    ap.add_argument("--min-ceiling", type=float, default=0.0, help="skip rounds whose ceiling is below (GOP/s)")
    a = ap.parse_args()
    rounds, skipped = [], 0
    for d in map(Path, a.dirs):
        for qf_file in sorted(d.glob("qf_*.jsonl"), key=lambda p: int(p.stem.split("_")[1])):
            r = qf_file.stem.split("_")[1]
            c0, c1 = ceiling(d / f"peak_{r}a.txt"), ceiling(d / f"peak_{r}b.txt")
            if abs(c0 - c1) > a.agree * (c0 + c1) / 2 or min(c0, c1) < a.min_ceiling:
                skipped += 1
                continue
            qf = {(j["m"], j["n"], j["k"]): j["gops"] for j in map(json.loads, qf_file.open())}
            dn = {}
            for j in map(json.loads, (d / f"dnnl_{r}.jsonl").open()):
                key = (j["m"], j["n"], j["k"])
                dn[key] = max(dn.get(key, (0.0, "")), (j["gops"], j["variant"]))
            rounds.append((f"{d.name} r{r}", c0, c1, qf, dn))
    print(f"{len(rounds)} rounds with a steady ceiling, {skipped} skipped\n")
    print("| M | N x K | round | ceiling GOP/s (before / after) | qforge GOP/s (% of ceiling) | best oneDNN (% of ceiling) "
          "| qforge / oneDNN | 1.2x oneDNN needs |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    keys = sorted({k for _, _, _, qf, _ in rounds for k in qf}, key=lambda k: (-k[0], k[1]))
    for key in keys:
        need, ratio = [], []
        for name, c0, c1, qf, dn in rounds:
            if key not in qf or key not in dn:
                continue
            c = (c0 + c1) / 2
            q, (o, variant) = qf[key], dn[key]
            need.append(120 * o / c)
            ratio.append(q / o)
            print(f"| {key[0]} | {key[1]}x{key[2]} | {name} | {c0:.0f} / {c1:.0f} | {q:.0f} ({100 * q / c:.0f} %) | "
                  f"{o:.0f} {variant} ({100 * o / c:.0f} %) | {q / o:.2f} | {120 * o / c:.0f} % |")
        if ratio:
            print(f"| {key[0]} | {key[1]}x{key[2]} | **median** | | | | **{statistics.median(ratio):.2f}** "
                  f"| **{statistics.median(need):.0f} %** ({min(need):.0f}-{max(need):.0f}) |")


if __name__ == "__main__":
    main()
