#!/usr/bin/python3
"""Seeded QAT-quality table of the Brown GPT (docs/RESULTS.md "QAT quality on the Brown GPT", issue 18).

  bench/qat_gpt_tables.py W [--seeds 0 1 2] [--json out.json]

Reads W/<variant>/seed-<s>/summary.json (the runtime's measurements on the exported checkpoints,
as `qforge run` writes them; e.g. unpacked from scripts/device/qat_gpt_tables.sh's q.tgz) and prints,
per variant, bits per byte and perplexity (mean ± sample std over seeds) and, paired per seed:
  gap       perplexity vs the equal-budget float model (brown_gpt_fp32_continued, or its _lrXeY / _stepsN /
            _emaD / _rwXeY (schedule restart) twin for a variant named so, when that twin ran; in that order in
            the twin's name), in %
  recovery  1 - gap / (PTQ RTN's perplexity gap vs its own teacher), in %: the share of PTQ's loss
            that QAT removes (issue 18's target: >= 80 %, with gap <= 0.5 %)
  rec. (eq.) the same against RTN of the equal-budget float model (<rtn>_of_continued, QAT's PTQ peer
            at the same training budget), when that run exists
Weight-only rows (brown_gpt_w4_*, gpt_w4_ptq_*) pair with the weight-only RTN (gpt_w4_ptq_rtn); w4a8 rows
with gpt_ptq_rtn; rows on int4's full code range (*_full) with the RTN of that range (<rtn>_full) when it ran,
and rows with the LM head in float or int8 (*_headfp, *_head8) with the RTN of that scheme. PTQ rows *_of_continued are measured against the equal-budget float model.
  vs QAT    the bits-per-byte difference to brown_gpt_w4a8 (LSQ from RTN), with its paired t
            (2 degrees of freedom for 3 seeds: |t| > 4.30 is p < 0.05)
"""
import argparse, json, math, os, re, statistics


def ms(xs, f="%.3f"):
    if not xs:
        return "—"
    if len(xs) == 1:
        return f % xs[0]
    return (f + " ± " + f.replace("+", "")) % (statistics.mean(xs), statistics.stdev(xs))


def t_stat(ds):
    if len(ds) < 2:
        return float("nan")
    sd = statistics.stdev(ds)
    return statistics.mean(ds) / (sd / math.sqrt(len(ds))) if sd > 0 else float("inf")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("work")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--json")
    a = ap.parse_args()
    m = {}
    for v in sorted(os.listdir(a.work)):
        for s in a.seeds:
            p = os.path.join(a.work, v, "seed-%d" % s, "summary.json")
            if os.path.exists(p) and (v.startswith("brown_gpt") or v.startswith("gpt_")):
                j = json.load(open(p))
                if j["metrics"].get("validate") != 1.0:
                    raise SystemExit("%s: validate did not pass" % p)
                m.setdefault(v, {})[s] = j["metrics"]
    T, F, QAT = "brown_gpt_fp32", "brown_gpt_fp32_continued", "brown_gpt_w4a8"
    ppl = lambda v, s: m[v][s]["perplexity"]
    bpb = lambda v, s: m[v][s]["bits_per_byte"]
    rel = lambda v, ref, s: ppl(v, s) / ppl(ref, s) - 1
    out = {}
    print("| variant | seeds | bits/byte | perplexity | gap vs equal-budget float (ppl) | recovery of RTN's gap "
          "| rec. vs RTN of equal-budget float | Δ bpb vs QAT (LSQ from RTN), t |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for v in sorted(m, key=lambda v: (v != T, v)):
        seeds = sorted(m[v])
        row = {"seeds": seeds, "bpb": [bpb(v, s) for s in seeds], "ppl": [ppl(v, s) for s in seeds]}
        gap = rec = rec_eq = dq = []
        weight_only = v.startswith("brown_gpt_w4_") or v.startswith("gpt_w4_")
        rtn = "gpt_w4_ptq_rtn" if weight_only else "gpt_ptq_rtn"
        if re.search(r"_full(_|$)", v) and rtn + "_full" in m:  # int4's full code range: its own RTN
            rtn += "_full"
        for scheme in ("_headfp", "_head8"):  # the LM head in float / int8: the RTN of that scheme
            if re.search(scheme + r"(_|$)", v) and rtn + scheme in m:
                rtn += scheme
        if v.startswith("brown_gpt_w4") or v.startswith("gpt_"):
            # Trained at another lr or for another number of steps: its float twin, when it ran.
            twin = F + "".join(re.findall(r"_lr\d+e\d+|_steps\d+|_ema\d+|_rw\d+e\d+", v))
            fl = twin if twin in m else F
            of_cont = "_of_continued" in v
            ref = T if v.startswith("gpt_") and not of_cont else fl
            ok = [s for s in seeds if s in m.get(ref, {}) and s in m.get(rtn, {}) and s in m.get(T, {})]
            gap = [100 * rel(v, ref, s) for s in ok]
            rec = [100 * (1 - rel(v, ref, s) / rel(rtn, T, s)) for s in ok]
            eq = rtn + "_of_continued" + fl[len(F):]  # RTN of the same equal-budget float
            rec_eq = [100 * (1 - rel(v, ref, s) / rel(eq, fl, s)) for s in ok if s in m.get(eq, {}) and s in m.get(fl, {})]
            if v != QAT and v.startswith("brown_gpt_w4a8"):
                dq = [bpb(v, s) - bpb(QAT, s) for s in seeds if s in m.get(QAT, {})]
        elif v.startswith(F):
            ok = [s for s in seeds if s in m.get(T, {})]
            gap = [100 * (ppl(v, s) / ppl(T, s) - 1) for s in ok]  # vs the teacher: what 600 steps buy
        row.update(gap=gap, recovery=rec, recovery_vs_equal_budget_rtn=rec_eq, d_bpb_vs_qat=dq)
        out[v] = row
        print("| %s | %d | %s | %s | %s | %s | %s | %s |" % (
            v, len(seeds), ms(row["bpb"]), ms(row["ppl"]), ms(gap, "%+.2f") + (" %" if gap else ""),
            ms(rec, "%.0f") + (" %" if rec else ""), ms(rec_eq, "%.0f") + (" %" if rec_eq else ""),
            (ms(dq, "%+.4f") + ", t = %.1f" % t_stat(dq)) if len(dq) > 1 else ms(dq, "%+.4f")))
    print("\ngap: PTQ rows vs their teacher (*_of_continued: vs the equal-budget float), float-continued rows vs the teacher, QAT rows vs the equal-budget float.")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
