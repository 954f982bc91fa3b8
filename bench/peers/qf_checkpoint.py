"""Decode a qforge .qf.h5 checkpoint with h5py + numpy alone, as export/FORMAT.md describes it.

Used by the benchmark peers (torch_int8_peer.py, build_onnx.py) to build the *same* model in
PyTorch and ONNX Runtime from the checkpoint's own integer codes and scales. Nothing here is
qforge code: it is the format spec, read independently (an outside check of FORMAT.md too).
"""
import gzip
import hashlib
import json
import os

import h5py
import numpy as np


KNOWN_FEATURES = {"nm_int4"}  # FORMAT.md "required features" this decoder implements


def _s(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def read(ds):
    """A dataset's array, checked against its `sha256` attribute (format 1.2; absent before)."""
    a = ds[()]
    want = ds.attrs.get("sha256")
    if want is not None and hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest() != _s(want):
        raise ValueError(f"{ds.name}: sha256 digest mismatch (corrupt checkpoint)")
    return a


def unpack_int4(b, k):
    """uint8 [O, ceil(K/2)] -> int8 [O, K]: low nibble first, two's complement nibbles."""
    lo = (b & 0xF).astype(np.int8)
    hi = (b >> 4).astype(np.int8)
    lo[lo > 7] -= 16
    hi[hi > 7] -= 16
    return np.stack([lo, hi], axis=-1).reshape(b.shape[0], -1)[:, :k]


def decode_nm(values, indices, o, k, n, m):
    """N:M kept codes [O, K/M*N] + packed indices -> dense int8 [O, K] (vectorised FORMAT.md loop)."""
    bits = 1 if m <= 2 else 2 if m <= 4 else 4
    kept = k // m * n
    j = np.arange(kept)
    bit = j * bits
    idx = (indices[:, bit // 8].astype(np.int32) >> (bit % 8)) & ((1 << bits) - 1)  # [O, kept]
    cols = (j // n) * m + idx
    w = np.zeros((o, k), np.int8)
    np.put_along_axis(w, cols, values[:, :kept].astype(np.int8), axis=1)
    return w


class Layer:
    """One /layers/<name> group: dense int8 codes [O, K] (or float weight), scales, bias, act params."""

    def __init__(self, name, g):
        a = g.attrs
        self.name = name
        self.kind = _s(a["kind"])
        self.weight_format = _s(a["weight_format"])
        self.weight_shape = [int(x) for x in a.get("weight_shape", [])]
        self.bits = int(a.get("bits", 0))
        self.granularity = _s(a.get("granularity", "tensor"))
        self.group_size = int(a.get("group_size", 0))
        self.sparsity = _s(a.get("sparsity", "dense"))
        self.act_mode = _s(a.get("act_mode", "none"))
        self.act_bits = int(a.get("act_bits", 0))
        self.act_symmetric = bool(int(a.get("act_symmetric", 0)))
        self.act_scale = float(np.float32(a.get("act_scale", 1.0)))
        self.act_zero_point = int(a.get("act_zero_point", 0))
        self.bias = read(g["bias"]).astype(np.float32) if "bias" in g else None
        self.codes = None  # int8 [O, K] dense codes (quantized weights)
        self.scales = None  # float32 [1] | [O] | [O, K/G]
        self.f32 = None  # float weight in weight_shape (weight_format float32)
        wf = self.weight_format
        if wf == "float32":
            self.f32 = read(g["weight"]).astype(np.float32)
            return
        if wf == "none":
            return
        o = self.weight_shape[0]
        k = int(np.prod(self.weight_shape[1:]))
        if wf == "int8":
            self.codes = read(g["weight"]).astype(np.int8)
        elif wf == "int4":
            self.codes = unpack_int4(read(g["weight"]), k)
        elif wf in ("nm_int8", "nm_int4"):
            n, m = (int(x) for x in self.sparsity.split(":"))
            v = read(g["weight_values"])
            if wf == "nm_int4":
                v = unpack_int4(v, k // m * n)
            self.codes = decode_nm(v.astype(np.int8), read(g["weight_indices"]), o, k, n, m)
        else:
            raise ValueError(f"{name}: unknown weight_format {wf!r}")
        self.scales = read(g["weight_scale"]).astype(np.float32)
        assert self.codes.shape == (o, k), (name, self.codes.shape, (o, k))

    @property
    def quantized(self):
        return self.codes is not None

    def channel_scales(self):
        """Per-output-channel scales [O] (per-tensor expanded). Per-group: None."""
        o = self.weight_shape[0]
        if self.granularity == "tensor":
            return np.full((o,), self.scales.reshape(-1)[0], np.float32)
        if self.granularity == "channel":
            return self.scales.reshape(o)
        return None

    def dequantized(self):
        """float32 weight in weight_shape: code * scale (FORMAT.md)."""
        if self.f32 is not None:
            return self.f32
        o, k = self.codes.shape
        c = self.codes.astype(np.float32)
        if self.granularity == "group":
            s = np.repeat(self.scales.reshape(o, -1), self.group_size, axis=1)[:, :k]
        else:
            s = self.channel_scales()[:, None]
        return (c * s).reshape(self.weight_shape)


class Checkpoint:
    def __init__(self, path):
        self.path = path
        with h5py.File(path, "r") as f:
            if _s(f.attrs.get("format", b"")) != "qforge":
                raise ValueError(f"{path}: not a qforge checkpoint")
            self.format_version = (int(f.attrs["format_version"]), int(f.attrs["format_minor"]))
            if self.format_version[0] != 1:
                raise ValueError(f"{path}: format_version {self.format_version[0]}; this decoder reads 1")
            req = [n for n in _s(f.attrs.get("required_features", b"")).split(",") if n]
            unknown = [n for n in req if n not in KNOWN_FEATURES]
            if unknown:
                raise ValueError(f"{path}: requires feature {unknown[0]!r}, which this decoder does not implement")
            self.graph = json.loads(read(f["graph"]).tobytes().decode("utf-8"))
            self.layers = {name: Layer(name, f["layers"][name]) for name in f["layers"]}
            self.provenance = {k: _s(v) for k, v in f["provenance"].attrs.items()} if "provenance" in f else {}
            m = read(f["metrics"]).tobytes().decode("utf-8") if "metrics" in f else ""
            self.metrics = json.loads(m) if m.strip() else {}
            g0 = f["golden"]["0"]
            self.golden_inputs = {k: read(g0["inputs"][k]) for k in g0["inputs"]}
            self.golden_outputs = {k: read(g0["outputs"][k]) for k in g0["outputs"]}

    @property
    def ops(self):
        return self.graph["ops"]

    def describe(self):
        rows = []
        for op in self.ops:
            L = self.layers.get(op["name"])
            if L is None or not L.quantized:
                continue
            rows.append(f"{op['name']}: {L.weight_format} {L.bits}b {L.granularity} {L.sparsity} "
                        f"act {L.act_mode}/{L.act_bits}b sym={int(L.act_symmetric)}")
        return rows


def ints(op, key, default):
    v = op.get("ints", {}).get(key)
    if not v:
        return (default, default)
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


def load_fashion_test(ck, root="/usr/share/datasets/fashion-mnist"):
    """The 10,000 test images normalised as the checkpoint's provenance says, and labels."""
    def idx(path):
        with gzip.open(path, "rb") as fh:
            data = fh.read()
        ndim = data[3]
        dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
        return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)

    imgs = idx(os.path.join(root, "t10k-images-idx3-ubyte.gz"))
    labels = idx(os.path.join(root, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    mean = np.float32(float(ck.provenance.get("input_mean", "0")))
    std = np.float32(float(ck.provenance.get("input_std", "1")))
    # Same float32 ops as the trainer: (x / 255 - mean) / std.
    x = ((imgs.astype(np.float32) / np.float32(255.0)) - mean) / std
    return x.reshape(-1, 1, 28, 28).astype(np.float32), labels


def output_qparams(ck, margin=1.25):
    """Asymmetric uint8 (scale, zero point) covering the golden outputs' range times `margin`:
    what a peer needs where qforge keeps a float output but the peer's int8 op must requantize."""
    y = next(iter(ck.golden_outputs.values()))
    lo, hi = min(float(y.min()) * margin, 0.0), max(float(y.max()) * margin, 0.0)
    s = (hi - lo) / 255.0 or 1.0
    z = int(np.clip(round(-lo / s), 0, 255))
    return float(np.float32(s)), z
