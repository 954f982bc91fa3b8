#!/usr/bin/python3
"""Self-test of decode_qf.py: mutates the valid sample checkpoints (re-digesting what it edits,
so the mutation itself is what the decoder must judge) and checks accept/refuse decisions and
that the executor's bit-exact check is sensitive to the contract details.

    /usr/bin/python3 tests/format/selftest.py [SAMPLES_DIR]   (default /tmp/qf_samples)
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DECODER = os.path.join(HERE, "decode_qf.py")
PY = sys.executable


def digest(ds):
    a = np.ascontiguousarray(ds[()])
    ds.attrs.create("sha256", np.bytes_(hashlib.sha256(a.tobytes()).hexdigest()))


def put(f, path, arr):
    """(Re)write a dataset the way the format says: chunked, fletcher32, sha256."""
    if path in f:
        del f[path]
    arr = np.asarray(arr)
    kw = dict(chunks=arr.shape, fletcher32=True) if arr.size else {}
    ds = f.create_dataset(path, data=arr, **kw)
    digest(ds)


def edit_graph(f, fn):
    g = json.loads(f["graph"][()].tobytes().decode())
    fn(g)
    put(f, "graph", np.frombuffer(json.dumps(g).encode(), np.uint8))


def op(g, name):
    return next(o for o in g["ops"] if o["name"] == name)


def set_str(obj, name, value):
    obj.attrs.create(name, np.bytes_(value if value else "\0"))


def m_edit(path, fn):
    def run(f):
        ds = f[path]
        a = ds[()]
        a = fn(a)
        ds[...] = a
        digest(ds)
    return run


# (sample, name, mutation, expect) expect: "refuse" | "pass" | "mismatch"
CASES = [
    ("valid_mlp", "unchanged", lambda f: None, "pass"),
    ("valid_mlp", "newer major", lambda f: f.attrs.modify("format_version", np.int64(2)), "refuse"),
    ("valid_mlp", "format not qforge", lambda f: set_str(f, "format", "qfarge"), "refuse"),
    ("valid_mlp", "nm_int4 listed (known feature)", lambda f: set_str(f, "required_features", "nm_int4"), "pass"),
    ("valid_mlp", "reserved feature listed", lambda f: set_str(f, "required_features", "nm_int4,block_sparse"), "refuse"),
    ("valid_mlp", "required_features missing", lambda f: f.attrs.__delitem__("required_features"), "refuse"),
    ("valid_mlp", "golden reference missing", lambda f: f["golden"].attrs.__delitem__("reference"), "refuse"),
    ("valid_mlp", "sha256 missing", lambda f: f["layers/fc1/bias"].attrs.__delitem__("sha256"), "refuse"),
    ("valid_mlp", "new root attribute/dataset/group (optional)",
     lambda f: (f.attrs.create("x_new", np.int64(1)), put(f, "extra", np.arange(3)), f.create_group("more")), "pass"),
    ("valid_mlp", "x_ layer attribute and dataset",
     lambda f: (set_str(f["layers/fc1"], "x_calibration", "minmax"), put(f, "layers/fc1/x_hist", np.ones(4, np.float32))), "pass"),
    ("valid_mlp", "weight_zero_point dataset", lambda f: put(f, "layers/fc1/weight_zero_point", np.zeros(16, np.int32)), "refuse"),
    ("valid_mlp", "unknown layer attribute", lambda f: f["layers/fc1"].attrs.create("zero_point_mode", np.int64(1)), "refuse"),
    ("valid_mlp", "layer kind differs", lambda f: set_str(f["layers/fc1"], "kind", "conv2d"), "refuse"),
    ("valid_mlp", "layer group missing", lambda f: f["layers"].__delitem__("fc3"), "refuse"),
    ("valid_mlp", "int8 bits 9", lambda f: f["layers/fc1"].attrs.modify("bits", np.int64(9)), "refuse"),
    ("valid_mlp", "int8 code -128", m_edit("layers/fc1/weight", lambda a: (a.__setitem__((0, 0), -128), a)[1]), "refuse"),
    ("valid_mlp", "int4 nibble 0x8", m_edit("layers/fc2/weight", lambda a: (a.__setitem__((0, 0), (a[0, 0] & 0xF0) | 0x8), a)[1]), "refuse"),
    ("valid_mlp", "int4 nibbles swapped (decoder must see the mismatch)",
     m_edit("layers/fc2/weight", lambda a: ((a >> 4) | (a << 4)).astype(np.uint8)), "mismatch"),
    ("valid_mlp", "N:M indices not increasing",
     m_edit("layers/fc3/weight_indices", lambda a: (a.__setitem__((0, 0), 0b00000101), a)[1]), "refuse"),
    ("valid_mlp", "N:M nonzero bits after the last index",
     m_edit("layers/fc3/weight_indices", lambda a: (a.__setitem__((0, 1), a[0, 1] | 0xF0), a)[1]), "refuse"),
    ("valid_mlp", "scale zero", m_edit("layers/fc1/weight_scale", lambda a: (a.__setitem__(0, 0), a)[1]), "refuse"),
    ("valid_mlp", "scale NaN", m_edit("layers/fc3/weight_scale", lambda a: (a.__setitem__(0, np.nan), a)[1]), "refuse"),
    ("valid_mlp", "bias inf", m_edit("layers/fc1/bias", lambda a: (a.__setitem__(0, np.inf), a)[1]), "refuse"),
    ("valid_mlp", "group_size does not divide K", lambda f: f["layers/fc2"].attrs.modify("group_size", np.int64(5)), "refuse"),
    ("valid_mlp", "act zero point 256 (asym 8 bits)", lambda f: f["layers/fc1"].attrs.modify("act_zero_point", np.int64(256)), "refuse"),
    ("valid_mlp", "act zero point nonzero, symmetric",
     lambda f: (f["layers/fc1"].attrs.modify("act_symmetric", np.int64(1)), f["layers/fc1"].attrs.modify("act_zero_point", np.int64(3))), "refuse"),
    ("valid_mlp", "act scale negative", lambda f: f["layers/fc1"].attrs.modify("act_scale", np.float32(-1)), "refuse"),
    ("valid_mlp", "dynamic per token with 4 bits", lambda f: f["layers/fc2"].attrs.modify("act_bits", np.int64(4)), "refuse"),
    ("valid_mlp", "weight dtype wrong", lambda f: put(f, "layers/fc1/weight", f["layers/fc1/weight"][()].astype(np.int16)), "refuse"),
    ("valid_mlp", "weight shape wrong", lambda f: put(f, "layers/fc1/weight", f["layers/fc1/weight"][()][:, :11]), "refuse"),
    ("valid_mlp", "graph not JSON", lambda f: put(f, "graph", np.frombuffer(b"{nope", np.uint8)), "refuse"),
    ("valid_mlp", "unknown op kind", lambda f: edit_graph(f, lambda g: op(g, "r1").__setitem__("kind", "silu")), "refuse"),
    ("valid_mlp", "x_ op attribute", lambda f: edit_graph(f, lambda g: op(g, "fc1")["ints"].__setitem__("x_tile", [4])), "pass"),
    ("valid_mlp", "new op-level key (optional)", lambda f: edit_graph(f, lambda g: op(g, "fc1").__setitem__("note", "hi")), "pass"),
    ("valid_mlp", "input not produced earlier", lambda f: edit_graph(f, lambda g: op(g, "r1").__setitem__("inputs", ["a2"])), "refuse"),
    ("valid_mlp", "tensor produced twice", lambda f: edit_graph(f, lambda g: op(g, "r2").__setitem__("outputs", ["a1"])), "refuse"),
    ("valid_mlp", "corrupt golden output (bit flip)", m_edit("golden/0/outputs/logits", lambda a: (a.view(np.uint32).__setitem__((0, 0), a.view(np.uint32)[0, 0] ^ 1), a)[1]), "mismatch"),
    ("valid_cnn", "unchanged", lambda f: None, "pass"),
    ("valid_cnn", "conv dilation", lambda f: edit_graph(f, lambda g: op(g, "conv1")["ints"].__setitem__("dilation", [1])), "refuse"),
    ("valid_cnn", "conv kernel of wrong length", lambda f: edit_graph(f, lambda g: op(g, "conv1")["ints"].__setitem__("kernel", [3, 3, 3])), "refuse"),
    ("valid_cnn", "conv stride 0", lambda f: edit_graph(f, lambda g: op(g, "conv1")["ints"].__setitem__("stride", [0])), "refuse"),
    ("valid_cnn", "maxpool padding > kernel/2", lambda f: edit_graph(f, lambda g: op(g, "p1")["ints"].__setitem__("padding", [2])), "refuse"),
    ("valid_cnn", "maxpool kernel missing", lambda f: edit_graph(f, lambda g: op(g, "p1")["ints"].__delitem__("kernel")), "refuse"),
    ("valid_cnn", "flatten start_dim 9", lambda f: edit_graph(f, lambda g: op(g, "flat")["ints"].__setitem__("start_dim", [9])), "refuse"),
    ("valid_cnn", "dynamic per token on conv2d",
     lambda f: (set_str(f["layers/conv2"], "act_mode", "dynamic_per_token"), f["layers/conv2"].attrs.modify("act_scale", np.float32(1))), "refuse"),
    ("valid_cnn", "static act on float32 weight",
     lambda f: (set_str(f["layers/fc"], "act_mode", "static"), f["layers/fc"].attrs.modify("act_bits", np.int64(8))), "refuse"),
    ("valid_cnn", "bias on relu-like kind? (layer group for relu)", lambda f: put(f, "layers/r1/bias", np.zeros(4, np.float32)), "refuse"),
    ("valid_gpt", "unchanged", lambda f: None, "pass"),
    ("valid_gpt", "token id out of range", m_edit("golden/0/inputs/ids", lambda a: (a.__setitem__((0, 0), 11), a)[1]), "refuse"),
    ("valid_gpt", "attention heads missing", lambda f: edit_graph(f, lambda g: op(g, "attn")["ints"].__delitem__("heads")), "refuse"),
    ("valid_gpt", "layernorm eps 0", lambda f: edit_graph(f, lambda g: op(g, "ln1")["floats"].__setitem__("eps", 0.0)), "refuse"),
    ("valid_gpt", "quantized weight on layernorm",
     lambda f: set_str(f["layers/ln1"], "weight_format", "int8"), "refuse"),
    ("valid_gpt", "positional table too short",
     lambda f: (put(f, "layers/pos/weight", f["layers/pos/weight"][()][:5]), f["layers/pos"].attrs.modify("weight_shape", np.array([5, 8], np.int64))), "refuse"),
]


def main():
    samples = sys.argv[1] if len(sys.argv) > 1 else "/tmp/qf_samples"
    tmp = tempfile.mkdtemp(prefix="qf_selftest_")
    bad = 0
    try:
        for i, (sample, name, mut, expect) in enumerate(CASES):
            dst = os.path.join(tmp, f"{i:02d}.qf.h5")
            shutil.copy(os.path.join(samples, sample + ".qf.h5"), dst)
            with h5py.File(dst, "r+") as f:
                mut(f)
            r = subprocess.run([PY, DECODER, dst], capture_output=True, text=True)
            got = {0: "pass", 1: "mismatch", 3: "refuse"}.get(r.returncode, f"rc={r.returncode}")
            last = (r.stdout.strip().splitlines() or [r.stderr.strip()[-200:]])
            why = last[0] if got == "refuse" else last[-1]
            flag = "ok  " if got == expect else "FAIL"
            bad += got != expect
            print(f"{flag} {sample:10s} {name:55s} expect {expect:8s} got {got:8s} {why if got != 'pass' else ''}")
            if got != expect and r.stderr:
                print(r.stderr[-2000:])
    finally:
        shutil.rmtree(tmp)
    print(f"{len(CASES) - bad}/{len(CASES)} as expected")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
