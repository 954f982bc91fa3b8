#!/usr/bin/python3
"""Speculative decoding and prefix-cache timings for docs/RESULTS.md ("Generation").

CPU time (user + sys of the qforge process, one kernel thread) is the measure: the machine is
shared, so wall time says more about the neighbours than about the code. Every configuration is
run in rounds, interleaved, and reported as mean +- std over the rounds.

  bench/generation_bench.py spec --qforge BUILD/cli/qforge --target T.qf.h5 --draft D.qf.h5 \
      --k 2 4 6 --rounds 5 -n 200
  bench/generation_bench.py prefix --qforge BUILD/cli/qforge --model T.qf.h5 --rounds 5
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile

PROMPTS = [
    "The jury further said in term-end presentments that the City Executive Committee",
    "It was a cold morning in the spring of that year, and",
    "The President said that he would not",
    "Mrs. Smith had been living in the house for",
]

SHARED = ("The Fulton County Grand Jury said Friday an investigation of recent primary elections "
          "produced no evidence that any irregularities took place. The jury further said in "
          "term-end presentments that the City Executive Committee had over-all charge ")[:200]


def run(cmd):
    """Runs cmd; returns (stdout, stderr, cpu seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit("failed: " + " ".join(cmd) + "\n" + p.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return p.stdout, p.stderr, cpu


def ms(xs):
    return f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs) if len(xs) > 1 else 0:.3f}"


def spec(a):
    base = [a.qforge, "generate", a.target, "-t", "0", "-n", str(a.n), "--threads", "1", "--stats"]
    configs = [("target only", [])] + [(f"k = {k}", ["--draft", a.draft, "--speculate", str(k)]) for k in a.k]
    cpu = {c: [] for c, _ in configs}
    accept = {c: [] for c, _ in configs}
    mismatches = 0
    for r in range(a.rounds):
        for name, extra in configs:
            total = 0.0
            for p in PROMPTS:
                out, err, t = run(base + ["-p", p] + extra)
                total += t
                if name == "target only":
                    ref = cpu.setdefault(("ref", p), out)
                elif out != cpu[("ref", p)]:
                    mismatches += 1
                if "acceptance" in err:
                    accept[name].append(float(err.split("acceptance ")[1].split()[0]))
            cpu[name].append(len(PROMPTS) * a.n / total)  # tokens per CPU second, 4 prompts
        print(f"round {r + 1}/{a.rounds}: " + ", ".join(f"{n}: {cpu[n][-1]:.0f} tok/cpu-s" for n, _ in configs),
              file=sys.stderr)
    print(f"| decoding | tokens per CPU second | ratio to target only | draft acceptance |")
    print(f"| --- | --- | --- | --- |")
    ref = cpu["target only"]
    for name, _ in configs:
        ratios = [x / y for x, y in zip(cpu[name], ref)]
        acc = f"{statistics.mean(accept[name]):.3f}" if accept[name] else "—"
        print(f"| {name} | {ms(cpu[name])} | {ms(ratios)} | {acc} |")
    print(f"\ngreedy outputs differing from target-only: {mismatches} of {a.rounds * len(PROMPTS) * len(a.k)}")


def prefix(a):
    suffixes = [f"{w} the" for w in ["and", "but", "of", "in", "for", "that", "with", "as", "on", "by", "at", "from",
                                      "was", "had", "is", "were"]]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        for s in suffixes:
            f.write(SHARED + s + "\n")
        path = f.name
    base = [a.qforge, "generate", a.model, "--prompts", path, "-t", "0", "-n", "1", "--threads", "1", "--stats"]
    cfgs = [("no prefix cache", ["--prefix-cache-mb", "0"]), ("prefix cache", ["--prefix-cache-mb", "64"])]
    ttft = {c: [] for c, _ in cfgs}
    cold = []
    outs = {}
    for r in range(a.rounds):
        for name, extra in cfgs:
            out, err, _ = run(base + extra)
            outs.setdefault(name, out)
            lines = [l for l in err.splitlines() if l.startswith("[prompt")]
            t = [float(l.split("first token after ")[1].split(" ms")[0]) for l in lines]
            # prompt 0 is cold in both; later prompts share the 200-byte prefix
            ttft[name].append(statistics.mean(t[1:]))
            if name == "prefix cache":
                cold.append(t[0])
    os.unlink(path)
    print("| prompts 2..16 (200 shared bytes + a few) | time to first token, ms (wall, mean ± std over rounds) |")
    print("| --- | --- |")
    for name, _ in cfgs:
        print(f"| {name} | {ms(ttft[name])} |")
    print(f"| prefix cache, first (cold) prompt, chunked prefill | {ms(cold)} |")
    ratios = [x / y for x, y in zip(ttft["no prefix cache"], ttft["prefix cache"])]
    print(f"\nspeedup of time to first token: {ms(ratios)}; outputs identical: {outs['no prefix cache'] == outs['prefix cache']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("spec")
    s.add_argument("--qforge", required=True)
    s.add_argument("--target", required=True)
    s.add_argument("--draft", required=True)
    s.add_argument("--k", type=int, nargs="+", default=[2, 4, 6])
    s.add_argument("--rounds", type=int, default=5)
    s.add_argument("-n", type=int, default=200)
    p = sub.add_parser("prefix")
    p.add_argument("--qforge", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    spec(a) if a.what == "spec" else prefix(a)


if __name__ == "__main__":
    main()
