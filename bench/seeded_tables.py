#!/usr/bin/python3
"""Seeded regeneration of docs/RESULTS.md's older method-comparison tables (issues 17, 18):

  ptq     Fashion CNN: RTN min-max / RTN MSE / GPTQ at w4, w3, w2 (qforge run --calibrate-only)
  qat     Fashion CNN: QAT w4a8 (LSQ) from RTN min-max scales vs from GPTQ
  distill Fashion CNN: w4a8 and w4a8 + 2:4, each with and without distillation
  gpt     Brown GPT: float, PTQ (RTN, GPTQ), float equal budget, QAT, QAT + KD
  formats issue 22: Brown GPT int4 KV cache (PTQ, QAT); FP8 vs int8 vs int4 vs mixed FP8/int4 and
          its same-size int8/int4 peer (GPT and CNN); Fashion CNN 32x32 blocks at 50 / 70 % with
          their dense twins at the same short budget

Every seed s trains its own float teacher (seed s) and every variant of seed s starts from it, so
variants are compared *paired*: the table gives each variant's mean ± sample std over seeds and,
for the comparisons, the mean ± std of the per-seed difference with its paired t statistic. Every
number is the standalone runtime's, on the exported checkpoint (`qforge run`'s summary.json:
export -> validate -> eval), the way `qforge check` measures.

  bench/seeded_tables.py --qforge BUILD/cli/qforge --work W --seeds 0 1 2 --device cuda --jobs 8
      [--tables ptq,qat,distill,gpt] [--out results.json]
Runs go to W/<variant>/seed-<s> (the layout `qforge check DIR --baseline F` reads). With --summarize-only,
nothing runs: the tables come from the W/<variant>/seed-<s>/summary.json already there (e.g. unpacked from
scripts/device/seeded_tables.sh's s.tgz).
"""
import argparse, concurrent.futures as cf, json, math, os, re, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_recipe(src, dst, seed, subs):
    text = open(os.path.join(ROOT, src)).read()
    text = re.sub(r"^seed: .*$", "seed: %d" % seed, text, flags=re.M)
    for a, b in subs:
        text = re.sub(a, b, text, flags=re.M)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "w") as f:
        f.write(text)
    return dst


class Runner:
    def __init__(self, a):
        self.a = a
        self.q = os.path.abspath(a.qforge)
        self.w = os.path.abspath(a.work)
        self.results = {}  # key -> {seed: metrics}
        self.t0 = time.time()

    def run(self, key, seed, src, subs=(), calibrate=False):
        """Trains (or calibrates) one variant for one seed; returns its runtime metrics."""
        name = key
        rec = write_recipe(src, os.path.join(self.w, "recipes", "%s_s%d.yaml" % (name, seed)), seed, subs)
        out = os.path.join(self.w, name, "seed-%d" % seed)
        args = [self.q, "run", rec, "-o", out, "--device", self.a.device, "--threads", str(self.a.threads), "-q"]
        if calibrate:
            args.append("--calibrate-only")
        log = os.path.join(self.w, "logs", "%s_s%d.txt" % (name, seed))
        os.makedirs(os.path.dirname(log), exist_ok=True)
        t = time.time()
        with open(log, "w") as f:
            rc = subprocess.run(args, stdout=f, stderr=subprocess.STDOUT).returncode
        m = None
        try:
            m = json.load(open(os.path.join(out, "summary.json")))["metrics"]
        except Exception:
            pass
        print("%7.1fs  %-34s seed %d  rc %d  %5.1fs  %s" % (time.time() - self.t0, name, seed, rc, time.time() - t,
              "" if m is None else {k: round(v, 4) for k, v in m.items() if k in ("accuracy", "perplexity", "bits_per_byte", "validate")}),
              flush=True)
        self.results.setdefault(key, {})[seed] = m
        return m


# issue 22's table: (variant, recipe, calibrate only). The GPT and CNN w4a8 QAT rows, the float
# teachers and the GPT's equal-budget float come from the tables above (same names, same seeds).
FORMAT_VARIANTS = [
    ("gpt_kv4_ptq", "recipes/brown_gpt_kv4.yaml", True),
    ("brown_gpt_kv4", "recipes/brown_gpt_kv4.yaml", False),
    ("gpt_fp8_ptq", "recipes/brown_gpt_fp8.yaml", True),
    ("brown_gpt_fp8", "recipes/brown_gpt_fp8.yaml", False),
    ("brown_gpt_w8a8", "bench/recipes/brown_gpt_w8a8.yaml", False),
    ("brown_gpt_fp8_w4_mixed", "bench/recipes/brown_gpt_fp8_w4_mixed.yaml", False),
    ("brown_gpt_w8_w4_mixed", "bench/recipes/brown_gpt_w8_w4_mixed.yaml", False),
    ("brown_gpt_fp32_continued", "bench/recipes/brown_gpt_fp32_continued.yaml", False),
    ("brown_gpt_w4a8", "recipes/brown_gpt_w4a8.yaml", False),
    ("fashion_cnn_fp8", "recipes/fashion_cnn_fp8.yaml", False),
    ("fashion_cnn_w8a8", "recipes/fashion_cnn_w8a8.yaml", False),
    ("fashion_cnn_fp8_w4_mixed", "recipes/fashion_cnn_fp8_w4_mixed.yaml", False),
    ("fashion_cnn_w8_w4_mixed", "recipes/fashion_cnn_w8_w4_mixed.yaml", False),
    ("fashion_cnn_w4a8", "recipes/fashion_cnn_w4a8.yaml", False),
] + [("fashion_cnn_w%da8_bs32_%d" % (b, p), "recipes/fashion_cnn_w%da8_bs32_%d.yaml" % (b, p), False)
     for b in (4, 8) for p in (50, 70)] + [
    ("fashion_cnn_w%da8_dense_twin" % b, "bench/recipes/fashion_cnn_w%da8_dense_twin.yaml" % b, False) for b in (4, 8)]

# PTQ of the equal-budget float GPT (variant, recipe, calibrated from brown_gpt_fp32_continued).
OF_CONTINUED = [("gpt_ptq_rtn_of_continued", "recipes/brown_gpt_w4a8.yaml"),
                ("gpt_ptq_gptq_of_continued", "recipes/brown_gpt_w4a8_ptq_gptq.yaml"),
                ("gpt_kv4_ptq_of_continued", "recipes/brown_gpt_kv4.yaml"),
                ("gpt_fp8_ptq_of_continued", "recipes/brown_gpt_fp8.yaml"),
                ("gpt_w8a8_ptq_of_continued", "bench/recipes/brown_gpt_w8a8.yaml")]

FORMAT_COMPARISONS = [
    ("brown_gpt_fp32", "gpt_kv4_ptq", "bits_per_byte"),
    ("brown_gpt_fp32_continued", "brown_gpt_kv4", "bits_per_byte"),
    ("brown_gpt_fp32", "gpt_fp8_ptq", "bits_per_byte"),
] + [("brown_gpt_fp32_continued", v, "bits_per_byte") for v in
     ("brown_gpt_fp8", "brown_gpt_w8a8", "brown_gpt_fp8_w4_mixed", "brown_gpt_w8_w4_mixed")] + [
    ("brown_gpt_w8a8", "brown_gpt_fp8", "bits_per_byte"),
    ("brown_gpt_w8_w4_mixed", "brown_gpt_fp8_w4_mixed", "bits_per_byte"),
] + [("brown_gpt_fp32_continued", v, "bits_per_byte") for v, _ in OF_CONTINUED] + [
    ("gpt_ptq_rtn_of_continued", "brown_gpt_w4a8", "bits_per_byte"),
    ("gpt_ptq_gptq_of_continued", "brown_gpt_w4a8", "bits_per_byte"),
    ("gpt_kv4_ptq_of_continued", "brown_gpt_kv4", "bits_per_byte"),
    ("gpt_fp8_ptq_of_continued", "brown_gpt_fp8", "bits_per_byte"),
    ("gpt_w8a8_ptq_of_continued", "brown_gpt_w8a8", "bits_per_byte"),
] + [("fashion_cnn_fp32", v, "accuracy") for v in
     ("fashion_cnn_fp8", "fashion_cnn_w8a8", "fashion_cnn_fp8_w4_mixed", "fashion_cnn_w8_w4_mixed")] + [
    ("fashion_cnn_w8a8", "fashion_cnn_fp8", "accuracy"),
    ("fashion_cnn_w8_w4_mixed", "fashion_cnn_fp8_w4_mixed", "accuracy"),
] + [("fashion_cnn_w%da8_dense_twin" % b, "fashion_cnn_w%da8_bs32_%d" % (b, p), "accuracy")
     for b in (4, 8) for p in (50, 70)]


def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"n": len(xs), "mean": statistics.mean(xs), "std": statistics.stdev(xs) if len(xs) > 1 else 0.0, "values": xs}


def paired(res, a, b, metric, seeds):
    """b - a per seed: mean, std and the paired t statistic (df = n - 1)."""
    d = []
    for s in seeds:
        ma, mb = res.get(a, {}).get(s), res.get(b, {}).get(s)
        if ma and mb and metric in ma and metric in mb:
            d.append(mb[metric] - ma[metric])
    if len(d) < 2:
        return {"n": len(d), "diffs": d}
    sd = statistics.stdev(d)
    return {"n": len(d), "mean": statistics.mean(d), "std": sd,
            "t": statistics.mean(d) / (sd / math.sqrt(len(d))) if sd > 0 else float("inf"), "diffs": d}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qforge", required=True)
    ap.add_argument("--work", default="runs/seeded")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--tables", default="ptq,qat,distill,gpt,formats")
    ap.add_argument("--out", default=None, help="results JSON (default WORK/results.json)")
    ap.add_argument("--summarize-only", action="store_true", help="read WORK/*/seed-*/summary.json, run nothing")
    a = ap.parse_args()
    tables = set(a.tables.split(","))
    R = Runner(a)
    W = R.w
    out = a.out or os.path.join(W, "results.json")

    def teacher(kind, s):
        return os.path.join(W, kind, "seed-%d" % s)

    def dump():
        with open(out + ".tmp", "w") as f:
            json.dump({"seeds": a.seeds, "results": R.results}, f, indent=1)
        os.replace(out + ".tmp", out)

    if a.summarize_only:
        tables = set()
        for d in sorted(os.listdir(W)):
            for s_ in a.seeds:
                f = os.path.join(W, d, "seed-%d" % s_, "summary.json")
                if os.path.exists(f):
                    R.results.setdefault(d, {})[s_] = json.load(open(f))["metrics"]
    with cf.ThreadPoolExecutor(max_workers=a.jobs) as pool:
        # Stage 1: the float teachers, one per seed.
        fut = []
        for s in a.seeds:
            if tables & {"ptq", "qat", "distill", "formats"}:
                fut.append(pool.submit(R.run, "fashion_cnn_fp32", s, "recipes/fashion_cnn_fp32.yaml"))
            if tables & {"gpt", "formats"}:
                fut.append(pool.submit(R.run, "brown_gpt_fp32", s, "recipes/brown_gpt_fp32.yaml"))
        for f in fut:
            f.result()
        dump()
        # Stage 2: every variant of every seed from its seed's teacher.
        fut = []
        submitted = {}  # seed -> variant names queued by the tables before "formats"
        for s in a.seeds:
            cnn = [(r"fashion_cnn_fp32\.yaml", teacher("fashion_cnn_fp32", s))]
            gpt = [(r"(\.\./\.\./recipes/)?brown_gpt_fp32\.yaml", teacher("brown_gpt_fp32", s))]
            if "ptq" in tables:
                for method in ("minmax", "mse", "gptq"):
                    for bits in (4, 3, 2):
                        fut.append(pool.submit(R.run, "ptq_%s_w%d" % (method, bits), s,
                                               "recipes/fashion_cnn_w4a8_ptq_%s.yaml" % method,
                                               cnn + [(r"weights: \{bits: 4", "weights: {bits: %d" % bits)], True))
            if "qat" in tables or "distill" in tables:
                fut.append(pool.submit(R.run, "fashion_cnn_w4a8", s, "recipes/fashion_cnn_w4a8.yaml", cnn))
            if "qat" in tables:
                fut.append(pool.submit(R.run, "fashion_cnn_w4a8_gptq_qat", s, "recipes/fashion_cnn_w4a8_gptq_qat.yaml", cnn))
            if "distill" in tables:
                for r in ("fashion_cnn_w4a8_kd", "fashion_cnn_w4a8_sp24", "fashion_cnn_w4a8_sp24_kd"):
                    fut.append(pool.submit(R.run, r, s, "recipes/%s.yaml" % r, cnn))
            if "gpt" in tables:
                fut.append(pool.submit(R.run, "gpt_ptq_rtn", s, "recipes/brown_gpt_w4a8.yaml", gpt, True))
                fut.append(pool.submit(R.run, "gpt_ptq_gptq", s, "recipes/brown_gpt_w4a8_ptq_gptq.yaml", gpt, True))
                fut.append(pool.submit(R.run, "brown_gpt_fp32_continued", s, "bench/recipes/brown_gpt_fp32_continued.yaml", gpt))
                fut.append(pool.submit(R.run, "brown_gpt_w4a8", s, "recipes/brown_gpt_w4a8.yaml", gpt))
                fut.append(pool.submit(R.run, "brown_gpt_w4a8_kd", s, "recipes/brown_gpt_w4a8_kd.yaml", gpt))
            submitted[s] = ({"fashion_cnn_w4a8"} if tables & {"qat", "distill"} else set()) | (
                {"brown_gpt_fp32_continued", "brown_gpt_w4a8"} if "gpt" in tables else set())
            if "formats" in tables:
                for key, src, calib in FORMAT_VARIANTS:
                    if key not in submitted[s]:  # the gpt / qat tables may have queued it already
                        fut.append(pool.submit(R.run, key, s, src, gpt if "brown_gpt" in src else cnn, calib))
        for f in fut:
            try:
                f.result()
            except Exception as e:  # keep the others
                print("job failed:", e, flush=True)
            dump()

        # Stage 3: PTQ of the equal-budget float GPT, the PTQ peer of each QAT at the same 2,100 steps.
        if "formats" in tables or "gpt" in tables:
            fut = [pool.submit(R.run, key, s, src, [(r"(\.\./\.\./recipes/)?brown_gpt_fp32\.yaml",
                                                    teacher("brown_gpt_fp32_continued", s))], True)
                   for s in a.seeds for key, src in OF_CONTINUED]
            for f in fut:
                f.result()
            dump()

    res = R.results
    summary = {k: {m: stats([(v or {}).get(m) for v in per.values()])
                   for m in ("accuracy", "perplexity", "bits_per_byte", "bits_per_weight")}
               for k, per in res.items()}
    comps = {}
    for a_, b_, m in [("ptq_minmax_w4", "ptq_mse_w4", "accuracy"), ("ptq_mse_w4", "ptq_gptq_w4", "accuracy"),
                      ("ptq_minmax_w3", "ptq_mse_w3", "accuracy"), ("ptq_mse_w3", "ptq_gptq_w3", "accuracy"),
                      ("ptq_minmax_w2", "ptq_mse_w2", "accuracy"), ("ptq_mse_w2", "ptq_gptq_w2", "accuracy"),
                      ("ptq_gptq_w4", "fashion_cnn_w4a8", "accuracy"),
                      ("fashion_cnn_w4a8", "fashion_cnn_w4a8_gptq_qat", "accuracy"),
                      ("fashion_cnn_fp32", "fashion_cnn_w4a8", "accuracy"),
                      ("fashion_cnn_w4a8", "fashion_cnn_w4a8_kd", "accuracy"),
                      ("fashion_cnn_w4a8_sp24", "fashion_cnn_w4a8_sp24_kd", "accuracy"),
                      ("fashion_cnn_fp32", "fashion_cnn_w4a8_kd", "accuracy"),
                      ("brown_gpt_fp32", "gpt_ptq_rtn", "bits_per_byte"),
                      ("gpt_ptq_rtn", "gpt_ptq_gptq", "bits_per_byte"),
                      ("brown_gpt_fp32_continued", "brown_gpt_w4a8", "bits_per_byte"),
                      ("brown_gpt_w4a8", "brown_gpt_w4a8_kd", "bits_per_byte")] + FORMAT_COMPARISONS:
        if a_ in res and b_ in res:
            comps["%s -> %s (%s)" % (a_, b_, m)] = paired(res, a_, b_, m, a.seeds)
    with open(out + ".tmp", "w") as f:
        json.dump({"seeds": a.seeds, "results": res, "summary": summary, "paired": comps}, f, indent=1)
    os.replace(out + ".tmp", out)
    for k, v in sorted(summary.items()):
        for m, st in v.items():
            if st and m != "bits_per_weight":
                print("%-34s %-14s %.3f ± %.3f  (n=%d) %s" % (k, m, st["mean"], st["std"], st["n"],
                      " ".join("%.3f" % x for x in st["values"])))
    for k, v in comps.items():
        if "mean" in v:
            print("%-70s %+.3f ± %.3f  t=%.2f  (n=%d)" % (k, v["mean"], v["std"], v["t"], v["n"]))
    print("total %.1fs" % (time.time() - R.t0))


if __name__ == "__main__":
    main()
