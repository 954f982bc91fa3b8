"""PyTorch's own eager-mode QAT (torch.ao.quantization) on qforge's Fashion-MNIST CNN, for the
side-by-side in docs/RESULTS.md ("qforge vs PyTorch QAT"). A peer, never part of the product.

Same work as the qforge recipes:
  model    conv3x3(32)-BN-ReLU-maxpool2, conv3x3(64)-BN-ReLU-maxpool2, Linear(3136,128)-ReLU,
           Linear(128,10)   (recipes/fashion_cnn_fp32.yaml; convs without bias, padding 1)
  data     all 60,000 training / 10,000 test images, normalised with mean 0.2860 / std 0.3530
  teacher  8 epochs, AdamW lr 0.002 wd 0.05, cosine with 200 warm-up steps, label smoothing 0.05,
           batch 128                                                   (fashion_cnn_fp32.yaml)
  QAT      from the teacher, 3 epochs, AdamW lr 5e-4 wd 0, cosine, batch 128; BN statistics frozen
           after epoch 1, observers after epoch 2; weights per output channel symmetric min-max,
           activations static asymmetric uint8 with moving-average min-max (fashion_cnn_w8a8.yaml).
           w4a8: the same with weights in [-7, 7] (quant_min/max; qforge's w4a8 recipe learns its
           step sizes with LSQ, PyTorch's eager flow has no built-in LSQ: min-max here).
Accuracy: w8a8 after torch.ao.quantization.convert (real int8 kernels, fbgemm); w4a8 through the
fake-quantized model (eager convert has no 4-bit kernels). Step time: ms per training step of the
float model and of the QAT model, same batch and threads, interleaved.

Usage: /usr/bin/python3 bench/pytorch_qat.py --seeds 0 1 2 --data DIR --device cuda --json out.json
       /usr/bin/python3 bench/pytorch_qat.py --step-time --threads 2
"""
import argparse
import gzip
import json
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.ao.quantization as tq


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        magic = struct.unpack(">I", f.read(4))[0]
        dims = [struct.unpack(">I", f.read(4))[0] for _ in range(magic & 0xFF)]
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(dims)


def load(data_dir, split):
    stem = "train" if split == "train" else "t10k"
    find = lambda s: next(os.path.join(data_dir, n) for n in (s + ".gz", s) if os.path.exists(os.path.join(data_dir, n)))
    x = read_idx(find(f"{stem}-images-idx3-ubyte")).astype(np.float32) / 255.0
    y = read_idx(find(f"{stem}-labels-idx1-ubyte")).astype(np.int64)
    x = (x - 0.2860) / 0.3530
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant = tq.QuantStub()
        self.conv1, self.bn1, self.relu1 = nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU()
        self.conv2, self.bn2, self.relu2 = nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.fc, self.relu3, self.head = nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10)
        self.dequant = tq.DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        x = self.pool(self.relu1(self.bn1(self.conv1(x))))
        x = self.pool(self.relu2(self.bn2(self.conv2(x))))
        x = self.relu3(self.fc(torch.flatten(x, 1)))
        return self.dequant(self.head(x))


def lr_at(step, total, base, warmup=0):
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))


def train(model, x, y, epochs, lr, wd, warmup, smoothing, seed, device, epoch_hook=None):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    n, bs = x.shape[0], 128
    steps_per_epoch = (n + bs - 1) // bs
    total = epochs * steps_per_epoch
    step = 0
    for epoch in range(epochs):
        model.train()
        if epoch_hook:
            epoch_hook(model, epoch)
        g = torch.Generator().manual_seed(seed * 1000003 + epoch)
        perm = torch.randperm(n, generator=g)
        for i in range(steps_per_epoch):
            idx = perm[i * bs:(i + 1) * bs]
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, lr, warmup)
            xb, yb = x[idx].to(device), y[idx].to(device)
            loss = F.cross_entropy(model(xb), yb, label_smoothing=smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    return model


@torch.no_grad()
def accuracy(model, x, y, device):
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], 1000):
        correct += (model(x[i:i + 1000].to(device)).argmax(1).cpu() == y[i:i + 1000]).sum().item()
    return 100.0 * correct / x.shape[0]


def qconfig(weight_bits):
    qmax = 127 if weight_bits == 8 else 7  # symmetric, as qforge: int8 [-127, 127], int4 [-7, 7]
    w = tq.FakeQuantize.with_args(observer=tq.PerChannelMinMaxObserver, quant_min=-qmax, quant_max=qmax,
                                  dtype=torch.qint8, qscheme=torch.per_channel_symmetric, ch_axis=0)
    a = tq.FakeQuantize.with_args(observer=tq.MovingAverageMinMaxObserver, quant_min=0, quant_max=255,
                                  dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    return tq.QConfig(activation=a, weight=w)


def prepare_qat(teacher, weight_bits):
    m = Cnn()
    m.load_state_dict(teacher.state_dict())
    m.train()
    m = tq.fuse_modules_qat(m, [["conv1", "bn1", "relu1"], ["conv2", "bn2", "relu2"], ["fc", "relu3"]])
    m.qconfig = qconfig(weight_bits)
    return tq.prepare_qat(m)


def qat_hook(model, epoch):
    if epoch >= 1:
        model.apply(torch.ao.nn.intrinsic.qat.freeze_bn_stats)
    if epoch >= 2:
        model.apply(tq.disable_observer)


def calibrate(model, x, device, batches=16):
    # observers see the training data before the first step, like qforge's calibration_batches
    model.train()
    with torch.no_grad():
        for i in range(batches):
            model(x[i * 128:(i + 1) * 128].to(device))


def run_seed(seed, data_dir, device, subset=0):
    xtr, ytr = load(data_dir, "train")
    xte, yte = load(data_dir, "test")
    if subset:  # smoke tests only
        xtr, ytr, xte, yte = xtr[:subset], ytr[:subset], xte[:subset], yte[:subset]
    torch.manual_seed(seed)
    t0 = time.time()
    teacher = train(Cnn().to(device), xtr, ytr, 8, 0.002, 0.05, 200, 0.05, seed, device)
    out = {"seed": seed, "teacher": accuracy(teacher, xte, yte, device), "teacher_s": time.time() - t0}
    teacher = teacher.cpu()
    for bits in (8, 4):
        torch.manual_seed(seed)
        m = prepare_qat(teacher, bits).to(device)
        calibrate(m, xtr, device)
        t0 = time.time()
        train(m, xtr, ytr, 3, 5e-4, 0.0, 0, 0.0, seed, device, epoch_hook=qat_hook)
        out[f"w{bits}a8_qat_s"] = time.time() - t0
        out[f"w{bits}a8_fakequant"] = accuracy(m, xte, yte, device)
        if bits == 8:
            torch.backends.quantized.engine = "fbgemm"
            q = tq.convert(m.cpu().eval())
            out["w8a8_int8"] = accuracy(q, xte, yte, "cpu")
    print(json.dumps(out), flush=True)
    return out


def step_time(threads, steps, data_dir):
    torch.set_num_threads(threads)
    xtr, ytr = load(data_dir, "train")
    torch.manual_seed(0)
    models = {"float": Cnn(), "w8a8": prepare_qat(Cnn(), 8), "w4a8": prepare_qat(Cnn(), 4)}
    def ms(model):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        model.train()
        def one(i):
            xb, yb = xtr[(i * 128) % 59904:(i * 128) % 59904 + 128], ytr[(i * 128) % 59904:(i * 128) % 59904 + 128]
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        for i in range(3):
            one(i)
        t0 = time.perf_counter()
        for i in range(steps):
            one(i)
        return 1000 * (time.perf_counter() - t0) / steps
    res = {k: 0.0 for k in models}
    for _ in range(2):  # interleaved, like bench/qat_step_time.cpp
        for k, m in models.items():
            res[k] += ms(m) / 2
    print(json.dumps({"threads": threads, "batch": 128, "ms_per_step": res}), flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--step-time", action="store_true", help="only the ms/step measurement (CPU)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--json", help="append one JSON line per seed here")
    ap.add_argument("--subset", type=int, default=0, help="first N images only (smoke test)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.step_time:
        step_time(a.threads or torch.get_num_threads(), a.steps, a.data)
    else:
        for s in a.seeds:
            r = run_seed(s, a.data, a.device, a.subset)
            if a.json:
                with open(a.json, "a") as f:
                    f.write(json.dumps(r) + "\n")
