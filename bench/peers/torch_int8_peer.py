#!/usr/bin/python3
"""PyTorch int8 peer of `qforge bench`: the same CNN, built from the checkpoint's own codes and
scales as a converted torch.ao.quantization model, timed like qforge bench.

    /usr/bin/python3 bench/peers/torch_int8_peer.py CKPT [--engine onednn|qnnpack|fbgemm|x86|fp32]
        [--batch 256] [--threads 2] [--iters 20] [--mode jit|eager] [--accuracy] [--json]

The model is what `torch.ao.quantization.convert` produces for a fused conv-relu / linear-relu
network with static quantization, built directly so that it holds the checkpoint's exact weights:
  * input:  nnq.Quantize with the first layer's (act_scale, act_zero_point), quint8;
  * conv+relu / linear+relu: nniq.ConvReLU2d / nniq.LinearReLU, plain nnq.Conv2d / nnq.Linear
    otherwise; weights = the checkpoint's int8 codes as a per-channel qint8 tensor (zero point 0)
    with the checkpoint's scales, float bias; output (scale, zero point) = the *next* quantized
    layer's input activation parameters (relu / maxpool / flatten in between commute with that
    quantization), the last layer's from the golden outputs' range (qforge outputs float there);
  * maxpool / flatten on quint8 tensors; nnq.DeQuantize at the end.
int4 weights (and 2:4, decoded to dense codes) run as int8 codes in [-7, 7]: PyTorch's CPU
quantized engines have no int4 or 2:4 sparse kernels. Per-group scales are not expressible there
(the CNN has none); such a layer fails loudly.
--engine fp32 runs the same network in float32 with the dequantized weights (the float baseline).
--mode jit (default) traces and freezes the model (TorchScript, what one deploys); eager keeps
Python modules.

Debian's python3-torch 1.13 has the `onednn` and `qnnpack` engines; `fbgemm` / `x86` exist only
in builds with FBGEMM (PyPI wheels), so they are refused here with that message.
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

# OpenBLAS (the float32 path on Debian) reads its thread count at load: set it from --threads
# before torch is imported, so every library of the peer runs the same number of threads.
for _i, _a in enumerate(sys.argv):
    if _a == "--threads" and _i + 1 < len(sys.argv):
        os.environ.setdefault("OPENBLAS_NUM_THREADS", sys.argv[_i + 1])
    elif _a.startswith("--threads="):
        os.environ.setdefault("OPENBLAS_NUM_THREADS", _a.split("=", 1)[1])
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qf_checkpoint import Checkpoint, ints, load_fashion_test, output_qparams  # noqa: E402

try:
    import torch.ao.nn.quantized as nnq
    import torch.ao.nn.intrinsic.quantized as nniq
except ImportError:  # torch < 1.13
    import torch.nn.quantized as nnq
    import torch.nn.intrinsic.quantized as nniq


def act_qparams(L):
    """The layer's static input quantization as quint8 (scale, zero point)."""
    if L.act_mode != "static" or L.act_bits != 8:
        raise SystemExit(f"{L.name}: act_mode {L.act_mode}/{L.act_bits} bits: the PyTorch peer supports static "
                         "8-bit input quantization only (the Fashion CNN's)")
    if L.act_symmetric:  # signed codes q in [-127, 127] == quint8 codes q + 128, same scale
        return L.act_scale, 128
    return L.act_scale, L.act_zero_point


def qweight(L):
    cs = L.channel_scales()
    if cs is None:
        raise SystemExit(f"{L.name}: per-group weight scales have no PyTorch quantized-CPU equivalent")
    codes = torch.from_numpy(L.codes.reshape(L.weight_shape).astype(np.int8))
    return torch._make_per_channel_quantized_tensor(codes, torch.from_numpy(cs.astype(np.float64)),
                                                    torch.zeros(len(cs), dtype=torch.long), 0)


def build_int8(ck):
    ops = ck.ops
    gemms = [i for i, op in enumerate(ops) if op["kind"] in ("conv2d", "linear")]
    mods = []
    first = ck.layers[ops[gemms[0]]["name"]]
    s, z = act_qparams(first)
    mods.append(nnq.Quantize(s, z, torch.quint8))
    i = 0
    while i < len(ops):
        op = ops[i]
        kind = op["kind"]
        if kind in ("conv2d", "linear"):
            L = ck.layers[op["name"]]
            if not L.quantized:
                raise SystemExit(f"{op['name']}: float weight in a quantized model: not supported by this peer")
            fuse_relu = i + 1 < len(ops) and ops[i + 1]["kind"] == "relu"
            nxt = [j for j in gemms if j > i]
            out_s, out_z = act_qparams(ck.layers[ops[nxt[0]]["name"]]) if nxt else output_qparams(ck)
            if kind == "conv2d":
                o, c = L.weight_shape[0], L.weight_shape[1]
                kh, kw = L.weight_shape[2], L.weight_shape[3]
                groups = ints(op, "groups", 1)[0]
                cls = nniq.ConvReLU2d if fuse_relu else nnq.Conv2d
                m = cls(c * groups, o, (kh, kw), stride=ints(op, "stride", 1), padding=ints(op, "padding", 0),
                        groups=groups, bias=L.bias is not None)
            else:
                cls = nniq.LinearReLU if fuse_relu else nnq.Linear
                m = cls(L.weight_shape[1], L.weight_shape[0], L.bias is not None)  # 3rd: bias_ / bias
            bias = torch.from_numpy(L.bias) if L.bias is not None else None
            m.set_weight_bias(qweight(L), bias)
            m.scale, m.zero_point = float(out_s), int(out_z)
            mods.append(m)
            i += 2 if fuse_relu else 1
            continue
        if kind == "relu":
            mods.append(nn.ReLU())  # a relu not after a GEMM (none in the CNN)
        elif kind == "maxpool2d":
            k = ints(op, "kernel", 2)
            mods.append(nn.MaxPool2d(k, stride=ints(op, "stride", k[0]), padding=ints(op, "padding", 0)))
        elif kind == "flatten":
            mods.append(nn.Flatten(ints(op, "start_dim", 1)[0]))
        else:
            raise SystemExit(f"op kind {kind!r}: not supported by the PyTorch CNN peer")
        i += 1
    mods.append(nnq.DeQuantize())
    return nn.Sequential(*mods).eval()


def build_fp32(ck):
    mods = []
    for op in ck.ops:
        kind = op["kind"]
        if kind == "conv2d":
            L = ck.layers[op["name"]]
            o, c, kh, kw = L.weight_shape
            groups = ints(op, "groups", 1)[0]
            m = nn.Conv2d(c * groups, o, (kh, kw), stride=ints(op, "stride", 1), padding=ints(op, "padding", 0),
                          groups=groups, bias=L.bias is not None)
        elif kind == "linear":
            L = ck.layers[op["name"]]
            m = nn.Linear(L.weight_shape[1], L.weight_shape[0], bias=L.bias is not None)
        elif kind == "relu":
            mods.append(nn.ReLU())
            continue
        elif kind == "maxpool2d":
            k = ints(op, "kernel", 2)
            mods.append(nn.MaxPool2d(k, stride=ints(op, "stride", k[0]), padding=ints(op, "padding", 0)))
            continue
        elif kind == "flatten":
            mods.append(nn.Flatten(ints(op, "start_dim", 1)[0]))
            continue
        else:
            raise SystemExit(f"op kind {kind!r}: not supported by the PyTorch CNN peer")
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(L.dequantized()))
            if L.bias is not None:
                m.bias.copy_(torch.from_numpy(L.bias))
        mods.append(m)
    return nn.Sequential(*mods).eval()


def batched(x, b):
    reps = -(-b // x.shape[0])
    return torch.from_numpy(np.concatenate([x] * reps)[:b].copy())


def timed(fn, x, iters, warmup, max_s=None):
    for _ in range(warmup):
        fn(x)
    out = []
    t_start = time.perf_counter()
    for i in range(iters):
        t0 = time.perf_counter()
        fn(x)
        out.append(time.perf_counter() - t0)
        if max_s is not None and i >= 4 and time.perf_counter() - t_start > max_s:
            break
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--engine", default="onednn", help="onednn, qnnpack, fbgemm, x86 (if built) or fp32")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--latency-iters", type=int, default=200)
    ap.add_argument("--mode", choices=["jit", "eager"], default="jit")
    ap.add_argument("--accuracy", action="store_true", help="also score the Fashion-MNIST test set")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    ck = Checkpoint(a.checkpoint)
    if ck.graph.get("family") != "cnn":
        raise SystemExit(f"{a.checkpoint}: family {ck.graph.get('family')!r}: the PyTorch peer covers the CNN only")
    if a.engine != "fp32":
        if a.engine not in torch.backends.quantized.supported_engines:
            raise SystemExit(f"quantized engine {a.engine!r} is not in this PyTorch build "
                             f"(torch {torch.__version__}: {torch.backends.quantized.supported_engines})")
        torch.backends.quantized.engine = a.engine  # before building: weights are prepacked for it
        model = build_int8(ck)
    else:
        model = build_fp32(ck)

    x0 = next(iter(ck.golden_inputs.values())).astype(np.float32)
    with torch.inference_mode():
        fn = model
        if a.mode == "jit":
            fn = torch.jit.trace(model, batched(x0, 2))
            try:
                fn = torch.jit.freeze(fn)
            except Exception as e:  # noqa: BLE001 -- freezing is an optimisation only
                print(f"note: torch.jit.freeze failed ({e}); timing the traced module", file=sys.stderr)
        # Same model as the checkpoint's contract? Golden outputs, then (optionally) the test set.
        gy = next(iter(ck.golden_outputs.values()))
        y = fn(torch.from_numpy(x0)).numpy()
        agree = float(np.mean(y.argmax(-1) == gy.argmax(-1)))
        u = max(float(np.abs(gy).max()) / 127.0, 1e-12)
        max_diff_units = float(np.abs(y - gy).max() / u)
        acc = None
        if a.accuracy:
            xt, yt = load_fashion_test(ck)
            correct = 0
            for i in range(0, len(xt), 500):
                correct += int((fn(torch.from_numpy(xt[i:i + 500])).argmax(-1).numpy() == yt[i:i + 500]).sum())
            acc = 100.0 * correct / len(xt)

        xb = batched(x0, a.batch)
        secs = timed(fn, xb, a.iters, a.warmup)
        x1 = batched(x0, 1)
        lat = timed(fn, x1, a.latency_iters, max(a.warmup, 3), max_s=2.0)
    med = statistics.median(secs)
    res = {
        "impl": "torch", "engine": a.engine, "mode": a.mode, "torch": torch.__version__,
        "checkpoint": a.checkpoint, "batch": a.batch, "threads": torch.get_num_threads(),
        "items_per_s": a.batch / med, "ms_per_run_median": med * 1e3, "ms_per_run_min": min(secs) * 1e3,
        "ms_per_run_max": max(secs) * 1e3, "iters": len(secs),
        "latency_ms_b1": statistics.median(lat) * 1e3, "latency_iters": len(lat),
        "golden_top1_agreement": agree, "golden_max_diff_units": max_diff_units,
        "accuracy": acc, "checkpoint_metrics": ck.metrics,
        "weights": "int8 codes (int4 / 2:4 checkpoints: their codes, dense, as int8)" if a.engine != "fp32"
        else "float32 (dequantized checkpoint weights)",
    }
    if a.json:
        print(json.dumps(res))
        return
    print(f"{a.checkpoint} (PyTorch {torch.__version__}, engine {a.engine}, {a.mode}, threads {res['threads']})")
    for r in ck.describe():
        print("  " + r)
    print(f"  batch {a.batch:<6d} {res['items_per_s']:12.1f} images/s   (median of {len(secs)} runs: {med*1e3:.3f} ms)")
    print(f"  batch 1 latency {res['latency_ms_b1']:8.3f} ms       (median of {len(lat)} runs)")
    print(f"  golden case 0: top-1 agreement {agree*100:.2f}%, max diff {max_diff_units:.3f} units of max|y|/127")
    if acc is not None:
        final = [m for m in ck.metrics if isinstance(m, dict) and m.get("event") == "final"] \
            if isinstance(ck.metrics, list) else [ck.metrics]
        ref = final[-1].get("accuracy") if final else None
        print(f"  Fashion-MNIST test accuracy {acc:.2f}% (the checkpoint's run: {ref})")


if __name__ == "__main__":
    main()
