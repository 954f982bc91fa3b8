#!/usr/bin/python3
"""PTQ vs QAT on the Fashion CNN and the Brown GPT: regenerates the calibration tables of
docs/RESULTS.md. Runs the qforge binary; recipes are written to RUNS/recipes from the ones in
recipes/ with the bit width, method and seed replaced; every number comes from the run's
metrics.jsonl ("final" record), the float baseline from its own run directory.

  bench/calibrate_compare.py --qforge BUILD/qforge [--runs runs/calib] [--seeds 0 1 2] [--only cnn|gpt]
"""
import argparse, json, os, re, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def final(run_dir, key):
    """The "final" record's value; for a run cut short, its last epoch's."""
    rec = last = None
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if r.get("event") == "final":
                rec = r
            if key in r:
                last = r
    return (rec or last)[key]


def start(run_dir, key):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if r.get("event") == "start":
                return r[key]


def recipe(src, out_dir, name, float_run, bits=None, method=None, seed=None, extra=None):
    text = open(os.path.join(ROOT, "recipes", src)).read()
    text = re.sub(r"^name: .*$", "name: " + name, text, flags=re.M)
    text = re.sub(r"init_from: .*$", "init_from: " + os.path.abspath(float_run), text, flags=re.M)
    if bits is not None:
        text = re.sub(r"weights: \{bits: \d+", "weights: {bits: %d" % bits, text)
    if method is not None:
        text = re.sub(r"ptq: \{method: [a-z]+[^}]*\}", "ptq: {method: %s}" % method, text)
    if seed is not None:
        text = re.sub(r"^seed: .*$", "seed: %d" % seed, text, flags=re.M)
    for a, b in (extra or []):
        text = text.replace(a, b)
    path = os.path.join(out_dir, name + ".yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def sh(args, log):
    t = time.time()
    with open(log, "w") as f:
        subprocess.run(args, check=True, stdout=f, stderr=subprocess.STDOUT)
    return time.time() - t


def mean_std(xs):
    return "%.2f ± %.2f" % (statistics.mean(xs), statistics.stdev(xs)) if len(xs) > 1 else "%.2f" % xs[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qforge", required=True)
    ap.add_argument("--runs", default="runs/calib")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--bits", type=int, nargs="+", default=[4, 3, 2])
    ap.add_argument("--only", choices=["cnn", "gpt", "mixed"])
    ap.add_argument("--qat-bits", type=int, nargs="+", default=[4])
    ap.add_argument("--qat-steps", type=int, default=0, help="QAT optimizer steps instead of the recipe's 3 epochs")
    ap.add_argument("--float-run", help="an existing float CNN run directory to start from")
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    rdir = os.path.join(a.runs, "recipes")
    os.makedirs(rdir, exist_ok=True)
    q = os.path.abspath(a.qforge)

    if a.only in (None, "cnn"):
        fl = a.float_run or os.path.join(a.runs, "fashion_cnn_fp32")
        if not os.path.exists(os.path.join(fl, "checkpoint.pt")):
            sh([q, "run", os.path.join(ROOT, "recipes/fashion_cnn_fp32.yaml"), "-o", fl, "-q"], fl + ".log")
        base = final(fl, "accuracy")
        print("## Fashion CNN, int4/3/2 weights per channel, int8 static activations (test accuracy %)\n")
        print("float: %.2f (%s)\n" % (base, fl))
        print("| weights | RTN min-max | RTN MSE | GPTQ (MSE scales) | QAT (LSQ) | QAT from GPTQ |")
        print("| --- | --- | --- | --- | --- | --- |")
        for bits in a.bits:
            row = {}
            for m in ("minmax", "mse", "gptq"):
                accs = []
                for s in a.seeds:  # the seed picks the calibration batches
                    name = "fashion_w%d_ptq_%s_s%d" % (bits, m, s)
                    rp = recipe("fashion_cnn_w4a8_ptq_%s.yaml" % m, rdir, name, fl, bits=bits, seed=s,
                                method=("gptq, observer: mse, batches: 32" if m == "gptq" else m))
                    rd = os.path.join(a.runs, name)
                    sh([q, "calibrate", rp, "--run-dir", rd, "-o", rd + ".qf.h5", "--threads", str(a.threads)],
                       rd + ".log")
                    accs.append(final(rd, "accuracy"))
                row[m] = mean_std(accs)
            for m, src in (("qat", "fashion_cnn_w4a8.yaml"), ("qat_gptq", "fashion_cnn_w4a8_gptq_qat.yaml")):
                if bits not in a.qat_bits:
                    row[m] = "–"
                    continue
                accs = []
                for s in a.seeds:
                    name = "fashion_w%d_%s_s%d" % (bits, m, s)
                    extra = [("epochs: 3", "steps: %d" % a.qat_steps)] if a.qat_steps else None
                    rp = recipe(src, rdir, name, fl, bits=bits, seed=s, extra=extra)
                    rd = os.path.join(a.runs, name)
                    if not os.path.exists(os.path.join(rd, "metrics.jsonl")) or not any(
                            '"final"' in l for l in open(os.path.join(rd, "metrics.jsonl"))):
                        sh([q, "run", rp, "-o", rd, "-q", "--threads", str(a.threads)], rd + ".log")
                    accs.append(final(rd, "accuracy"))
                row[m] = mean_std(accs)
            print("| w%d | %s | %s | %s | %s | %s |" % (bits, row["minmax"], row["mse"], row["gptq"], row["qat"],
                                                      row["qat_gptq"]))
            sys.stdout.flush()

    if a.only in (None, "mixed"):
        # Sensitivity-guided mixed precision (w2/w3/w4/w8/float per layer) at exactly the size of
        # uniform w4 per channel, both calibrated with MSE scales (no training).
        fl = a.float_run or os.path.join(a.runs, "fashion_cnn_fp32")
        base = final(fl, "accuracy")
        rp = recipe("fashion_cnn_w4a8_ptq_mse.yaml", rdir, "fashion_sens", fl)
        csv = os.path.join(a.runs, "fashion_sens.csv")
        sh([q, "sensitivity", rp, "--formats", "w2,w3,w4,w8,float", "--batches", "8", "--csv", csv, "--threads",
            str(a.threads), "--png", os.path.join(ROOT, "docs/sensitivity_fashion_cnn.png")], csv + ".log")
        rows = [l.strip().split(",") for l in open(csv)][1:]
        # bits_w4 is column 4 + 4 * 2 + 1 (layer, kind, rows, cols, then 4 columns per format)
        w4_bits = sum(int(r[4 + 4 * 2 + 1]) for r in rows)
        weights = sum(int(r[2]) * int(r[3]) for r in rows)
        budget = w4_bits / weights
        mixed = os.path.join(rdir, "fashion_mixed.yaml")
        sh([q, "sensitivity", rp, "--formats", "w2,w3,w4,w8,float", "--batches", "8", "--threads", str(a.threads),
            "--budget", "%.9f" % budget, "--write-recipe", mixed], mixed + ".log")
        print("\n## Fashion CNN: sensitivity-guided mixed precision vs uniform w4, same size (MSE scales, no training)\n")
        print("float: %.2f; budget = uniform w4 per channel = %.5f bits/weight\n" % (base, budget))
        print("```")
        print(open(mixed + ".log").read().strip())
        print("```")
        rd = os.path.join(a.runs, "fashion_mixed")
        sh([q, "calibrate", mixed, "--run-dir", rd, "-o", rd + ".qf.h5", "--threads", str(a.threads)], rd + ".log")
        rd4 = os.path.join(a.runs, "fashion_w4_ptq_mse_s0")
        if not os.path.exists(rd4):
            rp4 = recipe("fashion_cnn_w4a8_ptq_mse.yaml", rdir, "fashion_w4_ptq_mse_s0", fl, seed=0)
            sh([q, "calibrate", rp4, "--run-dir", rd4, "-o", rd4 + ".qf.h5", "--threads", str(a.threads)], rd4 + ".log")
        print("\n| variant | bits/weight | test accuracy |\n| --- | --- | --- |")
        print("| uniform w4 (MSE) | %.5f | %.2f |" % (budget, final(rd4, "accuracy")))
        chosen = re.search(r"mixed precision under \S+ bits/weight: (\S+) bits/weight", open(mixed + ".log").read())
        print("| mixed (MSE) | %s | %.2f |" % (chosen.group(1), final(rd, "accuracy")))
        sys.stdout.flush()

    if a.only in (None, "gpt"):
        fl = os.path.join(a.runs, "brown_gpt_fp32")
        if not os.path.exists(os.path.join(fl, "checkpoint.pt")):
            sh([q, "run", os.path.join(ROOT, "recipes/brown_gpt_fp32.yaml"), "-o", fl, "-q"], fl + ".log")
        base = final(fl, "perplexity")
        print("\n## Brown GPT, int4 weights per group of 64, int8 dynamic activations (validation perplexity)\n")
        print("float: %.4f (%s)\n" % (base, fl))
        print("| method | perplexity | gap to float | gap recovered vs RTN |")
        print("| --- | --- | --- | --- |")
        res = {}
        for m in ("minmax", "gptq"):
            ps = []
            for s in a.seeds[:1]:
                name = "brown_w4_ptq_%s_s%d" % (m, s)
                rp = recipe("brown_gpt_w4a8_ptq_gptq.yaml", rdir, name, fl, seed=s,
                            method=("gptq, observer: mse, batches: 32" if m == "gptq" else m))
                rd = os.path.join(a.runs, name)
                sh([q, "calibrate", rp, "--run-dir", rd, "-o", rd + ".qf.h5"], rd + ".log")
                ps.append(final(rd, "perplexity"))
            res[m] = ps
        rtn_gap = statistics.mean(res["minmax"]) - base
        for m, label in (("minmax", "RTN min-max"), ("gptq", "GPTQ (MSE scales)")):
            p = statistics.mean(res[m])
            print("| %s | %.4f | %+.2f %% | %.0f %% |" % (label, p, 100 * (p / base - 1), 100 * (1 - (p - base) / rtn_gap)))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
