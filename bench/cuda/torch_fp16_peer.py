"""torch.matmul FP16 on the same shapes as cuda_gemm_bench: a second peer (PyTorch's cuBLAS
path, as users call it) for the same run. CUDA-event timing, median of repeats, weights rotated
through enough copies to exceed the L2 cache. Usage: python3 torch_fp16_peer.py [--quick|--help]"""
import sys

import torch


def main():
    if "--help" in sys.argv or "-h" in sys.argv:
        print(__doc__)
        return
    if not torch.cuda.is_available():
        print("no CUDA GPU: nothing to time")
        return
    quick = "--quick" in sys.argv
    shapes = [(4096, 4096)] if quick else [(4096, 4096), (8192, 8192), (28672, 8192)]
    ms = [1, 16] if quick else [1, 16, 64, 128, 1024]
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print("| N | K | M | torch.matmul fp16 us | TFLOP/s |\n|---|---|---|---|---|")
    for n, k in shapes:
        copies = max(1, min(64, 3 * l2 // (n * k * 2) + 1))
        ws = [torch.randn(n, k, device="cuda", dtype=torch.float16) * 0.05 for _ in range(copies)]
        for m in ms:
            x = torch.randn(m, k, device="cuda", dtype=torch.float16)
            for i in range(3):
                torch.matmul(x, ws[i % copies].t())
            torch.cuda.synchronize()
            times = []
            iters = 50
            for r in range(7):
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                for i in range(iters):
                    torch.matmul(x, ws[(r * iters + i) % copies].t())
                b.record()
                b.synchronize()
                times.append(1000.0 * a.elapsed_time(b) / iters)
            t = sorted(times)[len(times) // 2]
            print(f"| {n} | {k} | {m} | {t:.1f} | {2 * m * n * k / t / 1e6:.0f} |")
        del ws


if __name__ == "__main__":
    main()
