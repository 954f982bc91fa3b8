#!/usr/bin/python3
"""Paired differences between variants of bench/qat_gpt_tables.py's table (docs/RESULTS.md, issue 18).

  bench/qat_gpt_tables.py W --seeds 0 1 2 3 4 --json t.json
  bench/qat_gpt_paired.py t.json A:B [C:D ...]

For each pair A:B, per seed: A's and B's gap against their own equal-budget float twins and their
recovery of that twin's RTN gap ("rec. (eq.)"), then the differences A - B as mean ± sample std
with the paired t (n - 1 degrees of freedom: 4 for 5 seeds, |t| > 2.78 is p < 0.05), and A's perplexity
against B's (A / B - 1, in %, paired): what A's change does to the model itself.
"""
import json, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qat_gpt_tables import ms, t_stat  # noqa: E402  (the table's own mean ± std and paired t)


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    rows = json.load(open(sys.argv[1]))
    print("| A − B | seeds | gap A, per seed | gap B, per seed | Δ gap (points), t | rec. (eq.) A | rec. (eq.) B | Δ rec. (points), t | ppl A / B − 1, t |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for pair in sys.argv[2:]:
        a, b = pair.split(":")
        ra, rb = rows[a], rows[b]
        seeds = [s for s in ra["seeds"] if s in rb["seeds"]]
        if len(ra["gap"]) != len(ra["seeds"]) or len(rb["gap"]) != len(rb["seeds"]):
            raise SystemExit("%s: a variant without its float twin for every seed" % pair)
        ga = [ra["gap"][ra["seeds"].index(s)] for s in seeds]
        gb = [rb["gap"][rb["seeds"].index(s)] for s in seeds]
        dg = [x - y for x, y in zip(ga, gb)]
        ea, eb = ra["recovery_vs_equal_budget_rtn"], rb["recovery_vs_equal_budget_rtn"]
        has_rec = len(ea) == len(ra["seeds"]) and len(eb) == len(rb["seeds"])
        if has_rec:
            ea = [ea[ra["seeds"].index(s)] for s in seeds]
            eb = [eb[rb["seeds"].index(s)] for s in seeds]
            dr = [x - y for x, y in zip(ea, eb)]
        dp = [100 * (ra["ppl"][ra["seeds"].index(s)] / rb["ppl"][rb["seeds"].index(s)] - 1) for s in seeds]
        print("| %s − %s | %d | %s | %s | %s, t = %.2f | %s | %s | %s | %s %%, t = %.2f |" % (
            a, b, len(seeds), ", ".join("%.2f" % x for x in ga), ", ".join("%.2f" % x for x in gb),
            ms(dg, "%+.2f"), t_stat(dg),
            ms(ea, "%.0f") + " %" if has_rec else "—", ms(eb, "%.0f") + " %" if has_rec else "—",
            (ms(dr, "%+.1f") + ", t = %.2f" % t_stat(dr)) if has_rec else "—", ms(dp, "%+.3f"), t_stat(dp)))


if __name__ == "__main__":
    main()
