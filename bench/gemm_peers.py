#!/usr/bin/python3
"""PyTorch side of the GEMM table (bench/gemm_bench.cpp is qforge's): GOP/s of PyTorch's
quantized int8 Linear (oneDNN, QNNPACK; static and dynamic) and of float32 F.linear (OpenBLAS),
on the same M x (N, K) shapes, printed as JSON lines (--json) or a markdown table.

    /usr/bin/python3 bench/gemm_peers.py --threads 2 [--m 1,16,128,1024]
        [--shapes 1024x1024,4096x4096,11008x4096] [--budget-s 1] [--max-iters 50] [--json]

Variants (each y = x W^T + b, per-output-channel int8 weights, zero point 0):
  * int8-static/<engine>: torch.ops.quantized.linear: quint8 input (zero point 128, already
    quantized, like qforge's qu8 operand), quint8 output (requantized). qforge's GEMM writes
    float32 instead -- PyTorch's static op has no float-output form.
  * int8-dynamic/<engine>: torch.ops.quantized.linear_dynamic: float input, quantized per tensor
    inside the op (its cost included), float output -- the closest contract to qforge's float
    output, with the input quantization on top.
  * f32: torch.nn.functional.linear in float32 (Debian's PyTorch calls OpenBLAS; its thread
    count is set from --threads before torch loads).
Debian's python3-torch 1.13 has the onednn and qnnpack engines only (no fbgemm / x86).
GOP/s counts 2*M*N*K. Timing: like gemm_bench, each case runs until --budget-s or --max-iters
calls (at least one, after one warm-up call) and reports the median call.
"""
import argparse
import json
import os
import statistics
import sys
import time

for _i, _a in enumerate(sys.argv):
    if _a == "--threads" and _i + 1 < len(sys.argv):
        os.environ.setdefault("OPENBLAS_NUM_THREADS", sys.argv[_i + 1])
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def timed(fn, budget_s, max_iters):
    fn()
    secs = []
    t_start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        fn()
        secs.append(time.perf_counter() - t0)
        if len(secs) >= max_iters or time.perf_counter() - t_start >= budget_s:
            return secs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--m", default="1,16,128,1024")
    ap.add_argument("--shapes", default="1024x1024,4096x4096,11008x4096", help="NxK list")
    ap.add_argument("--engines", default=",".join(e for e in ("onednn", "fbgemm", "x86", "qnnpack")
                                                   if e in torch.backends.quantized.supported_engines))
    ap.add_argument("--variants", default="int8-static,int8-dynamic,f32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget-s", type=float, default=1.0)
    ap.add_argument("--max-iters", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ms = sorted(int(x) for x in a.m.split(","))
    shapes = [tuple(int(v) for v in s.split("x")) for s in a.shapes.split(",")]
    variants = a.variants.split(",")
    engines = [e for e in a.engines.split(",") if e]
    if not a.json:
        print(f"PyTorch {torch.__version__}, threads {torch.get_num_threads()}, "
              f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
        print("| impl | N x K | M | GOP/s | ms/call | calls |")
        print("| --- | --- | --- | --- | --- | --- |")

    def report(impl, variant, m, n, k, secs, note=""):
        med = statistics.median(secs)
        gops = 2.0 * m * n * k / med / 1e9
        if a.json:
            print(json.dumps({"impl": "torch", "kernels": impl, "variant": variant, "m": m, "n": n, "k": k,
                              "gops": gops, "ms": med * 1e3, "iters": len(secs), "threads": torch.get_num_threads(),
                              "torch": torch.__version__, "note": note}), flush=True)
        else:
            print(f"| {impl} {variant} | {n}x{k} | {m} | {gops:.2f} | {med*1e3:.3f} | {len(secs)} |", flush=True)

    g = torch.Generator().manual_seed(1234)
    with torch.inference_mode():
        for n, k in shapes:
            codes = torch.randint(-127, 128, (n, k), dtype=torch.int8, generator=g)
            wscale = (torch.rand(n, generator=g, dtype=torch.float64) * 0.009 + 0.001)
            qw = torch._make_per_channel_quantized_tensor(codes, wscale, torch.zeros(n, dtype=torch.long), 0)
            wf = qw.dequantize().contiguous()
            bias = torch.full((n,), 0.25)
            for m in ms:
                xq_codes = torch.randint(0, 256, (m, k), dtype=torch.uint8, generator=g)
                xq = torch._make_per_tensor_quantized_tensor(xq_codes, 0.02, 128)
                xf = xq.dequantize().contiguous()
                for variant in variants:
                    if variant == "f32":
                        report("openblas", "f32", m, n, k, timed(lambda: F.linear(xf, wf, bias), a.budget_s, a.max_iters))
                        continue
                    for eng in engines:
                        torch.backends.quantized.engine = eng
                        try:
                            if variant == "int8-static":
                                packed = torch.ops.quantized.linear_prepack(qw, bias)
                                # output scale: |y| up to ~ sqrt(K) * 127 * 0.02 * 128 * 0.01, 8-bit range
                                out_s = float(2.0 * (k ** 0.5) * 0.02 * 128 * 0.01 * 4 / 255)
                                fn = lambda: torch.ops.quantized.linear(xq, packed, out_s, 128)  # noqa: E731
                            elif variant == "int8-dynamic":
                                packed = torch.ops.quantized.linear_prepack(qw, bias)
                                fn = lambda: torch.ops.quantized.linear_dynamic(xf, packed)  # noqa: E731
                            else:
                                raise SystemExit(f"unknown variant {variant!r}")
                            report(eng, variant, m, n, k, timed(fn, a.budget_s, a.max_iters))
                        except (RuntimeError, NotImplementedError) as e:
                            msg = str(e).splitlines()[0][:160]
                            if a.json:
                                print(json.dumps({"impl": "torch", "kernels": eng, "variant": variant, "m": m, "n": n,
                                                  "k": k, "gops": None, "error": msg}), flush=True)
                            else:
                                print(f"| {eng} {variant} | {n}x{k} | {m} | n/a: {msg} | | |", flush=True)


if __name__ == "__main__":
    main()
