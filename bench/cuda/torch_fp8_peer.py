"""torch._scaled_mm (cuBLASLt FP8 E4M3) and torch.matmul FP16 on the shapes of cuda_fp8_bench: the
FP8 peer for the same device call. x [M, K] and w [N, K] E4M3, y = x w^T. Variants: per-tensor
scales with float32 output, per-row x / per-column w scales ("rowwise", bfloat16 output, as
PyTorch requires), each with use_fast_accum False (cuBLASLt promotes the partial sums, like
qforge's table kernel) and True. CUDA-event timing, median of 7 repeats of 50 launches, weights
rotated through enough copies to exceed the L2 cache.
Usage: python3 torch_fp8_peer.py [--quick|--help]"""
import sys

import torch


def median_us(fn, copies, iters=50, reps=7):
    for i in range(3):
        fn(i % copies)
    torch.cuda.synchronize()
    times = []
    for r in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for i in range(iters):
            fn((r * iters + i) % copies)
        b.record()
        b.synchronize()
        times.append(1000.0 * a.elapsed_time(b) / iters)
    return sorted(times)[len(times) // 2]


def main():
    if "--help" in sys.argv or "-h" in sys.argv:
        print(__doc__)
        return
    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to time")
        return
    quick = "--quick" in sys.argv
    shapes = [(8192, 8192)] if quick else [(8192, 8192), (28672, 8192)]
    ms = [1024] if quick else [16, 128, 1024]
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    f8 = torch.float8_e4m3fn
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    cols = ["torch.matmul fp16", "_scaled_mm tensor f32", "_scaled_mm tensor f32 fast", "_scaled_mm rowwise bf16",
            "_scaled_mm rowwise bf16 fast"]
    print("| N | K | M | " + " | ".join(c + " us (TFLOP/s)" for c in cols) + " |")
    print("|---|---|---|" + "---|" * len(cols))
    for n, k in shapes:
        copies = max(1, min(64, 3 * l2 // (n * k) + 1))
        w16 = [torch.randn(n, k, device="cuda", dtype=torch.float16) * 0.05 for _ in range(copies)]
        w8 = [(torch.randn(n, k, device="cuda") * 2).to(f8) for _ in range(copies)]
        one = torch.ones((), device="cuda")
        sw_row = torch.rand(1, n, device="cuda") * 0.01 + 0.001
        for m in ms:
            x16 = torch.randn(m, k, device="cuda", dtype=torch.float16)
            x8 = (torch.randn(m, k, device="cuda") * 2).to(f8)
            sx_row = torch.rand(m, 1, device="cuda") * 0.02 + 0.001
            runs = [
                lambda i: torch.matmul(x16, w16[i % len(w16)].t()),
                lambda i: torch._scaled_mm(x8, w8[i].t(), scale_a=one, scale_b=one, out_dtype=torch.float32),
                lambda i: torch._scaled_mm(x8, w8[i].t(), scale_a=one, scale_b=one, out_dtype=torch.float32,
                                           use_fast_accum=True),
                lambda i: torch._scaled_mm(x8, w8[i].t(), scale_a=sx_row, scale_b=sw_row, out_dtype=torch.bfloat16),
                lambda i: torch._scaled_mm(x8, w8[i].t(), scale_a=sx_row, scale_b=sw_row, out_dtype=torch.bfloat16,
                                           use_fast_accum=True),
            ]
            cells = []
            for j, fn in enumerate(runs):
                try:
                    t = median_us(fn, len(w16) if j == 0 else copies)
                    cells.append(f"{t:.1f} ({2 * m * n * k / t / 1e6:.0f})")
                except Exception as e:  # a variant this PyTorch / GPU refuses: say so, time the rest
                    cells.append("n/a: " + str(e).splitlines()[0][:60])
            print(f"| {n} | {k} | {m} | " + " | ".join(cells) + " |", flush=True)
        del w16, w8


if __name__ == "__main__":
    main()
