#!/usr/bin/python3
"""Independent decoder and reference executor for qforge checkpoints (.qf.h5, format 1.2).

Written from export/FORMAT.md ALONE (no C++ source of the project was read). It is an outside
oracle: if it agrees with the C++ reader/runtime, the spec is complete; where it had to guess,
the guess is marked `SPEC-GAP:` in a comment (and listed in tests/format/README.md).

    /usr/bin/python3 tests/format/decode_qf.py CHECKPOINT [--expect-refusal] [-v]

Exit codes: 0 pass (or, with --expect-refusal, refused), 1 mismatch (or, with --expect-refusal,
accepted), 3 refused (a conformance rule was violated; one line names the object and reason).

Needs only h5py and numpy (Debian's /usr/bin/python3).
"""
import argparse
import hashlib
import json
import math
import re
import sys

import h5py
import numpy as np

F32 = np.float32

# ------------------------------------------------------------------------------------------------
# Refusals
# ------------------------------------------------------------------------------------------------


class Refusal(Exception):
    """A conformance violation ("Conformance: what a reader must reject")."""

    def __init__(self, obj, reason):
        super().__init__(f"{obj}: {reason}")
        self.obj = obj
        self.reason = reason


WARNINGS = []


def warn(obj, msg):
    WARNINGS.append(f"{obj}: {msg}")


# ------------------------------------------------------------------------------------------------
# Constants from the spec
# ------------------------------------------------------------------------------------------------

# "Versioning and required features": features defined so far.
KNOWN_FEATURES = {"nm_int4"}
# Defined by the format but not decoded here (refused by name like any unknown feature): fp8_e4m3 (1.3).
RESERVED_FEATURES = {"weight_zero_point", "kv_cache_int4", "block_sparse"}
READER_MAJOR = 1
READER_MINOR = 2

# "Layer groups": attributes (always present) and their types.
LAYER_ATTRS = {
    "kind": "str", "weight_format": "str", "weight_shape": "intlist", "bits": "int",
    "granularity": "str", "group_size": "int", "sparsity": "str", "act_mode": "str",
    "act_bits": "int", "act_symmetric": "int", "act_scale": "float", "act_zero_point": "int",
}
WEIGHT_FORMATS = {"none", "float32", "int8", "int4", "nm_int8", "nm_int4"}
QUANTIZED_FORMATS = {"int8", "int4", "nm_int8", "nm_int4"}

# "Ops" table: number of inputs, whether the kind has a layer group, and its attributes.
# attribute spec: (map, default or REQUIRED, allowed lengths, (lo, hi))
REQUIRED = object()
_KSP = {  # kernel/stride/padding: "lists may have one element (used for both dims) or two"
    "kernel": ("ints", REQUIRED, (1, 2), (1, 65536)),
    "stride": ("ints", None, (1, 2), (1, 65536)),      # None: defaults to kernel for pools
    "padding": ("ints", [0], (1, 2), (0, 65536)),
}
OPS = {
    "linear": dict(n_in=1, params=True, attrs={}),
    "conv2d": dict(n_in=1, params=True, attrs={
        # SPEC-GAP: "kernel [kh,kw] (the weight's; 1..65536)" gives no default and does not say
        # whether it is required. Assumed: optional; when present it must equal the weight's.
        "kernel": ("ints", None, (1, 2), (1, 65536)),
        "stride": ("ints", [1], (1, 2), (1, 65536)),
        "padding": ("ints", [0], (1, 2), (0, 65536)),
        "groups": ("ints", [1], (1,), (1, 2 ** 24)),
    }),
    "relu": dict(n_in=1, params=False, attrs={}),
    "gelu": dict(n_in=1, params=False, attrs={}),
    "maxpool2d": dict(n_in=1, params=False, attrs=_KSP),
    "avgpool2d": dict(n_in=1, params=False, attrs=_KSP),
    "flatten": dict(n_in=1, params=False, attrs={"start_dim": ("ints", [1], (1,), (-8, 8))}),
    "add": dict(n_in=2, params=False, attrs={}),
    "layernorm": dict(n_in=1, params=True, attrs={"eps": ("floats", 1e-5, None, None)}),
    "softmax": dict(n_in=1, params=False, attrs={}),
    "embedding": dict(n_in=1, params=True, attrs={}),
    "positional_embedding": dict(n_in=1, params=True, attrs={}),
    "causal_attention": dict(n_in=1, params=False,
                             attrs={"heads": ("ints", REQUIRED, (1,), (1, 65536))}),
}

# "Validation": integer-deterministic kinds (linear/conv2d only with quantized weight AND input).
EXACT_KINDS = {"relu", "maxpool2d", "flatten", "add", "positional_embedding", "embedding"}


def is_x_name(name):
    """'Optional': names starting with x_ inside op attribute maps and layer groups."""
    return name.startswith("x_")


# ------------------------------------------------------------------------------------------------
# Reading: attributes and datasets ("Conventions")
# ------------------------------------------------------------------------------------------------


def attr_str(obj, name, path):
    """String attributes are scalar, fixed-length, NUL-padded (h5py returns bytes)."""
    if name not in obj.attrs:
        raise Refusal(path, f"missing attribute '{name}'")
    tid = obj.attrs.get_id(name)
    # SPEC-GAP: the conformance list does not mention attributes of the wrong type; a reader
    # must still interpret them, so we refuse anything but a scalar fixed-length string.
    if tid.dtype.kind != "S" or tid.shape not in ((), None):
        raise Refusal(path, f"attribute '{name}' must be a scalar fixed-length string, "
                            f"got {tid.dtype} {tid.shape}")
    v = obj.attrs[name]
    return bytes(v).rstrip(b"\0").decode("utf-8")


def attr_int(obj, name, path):
    """Integer attributes are int64 scalars."""
    if name not in obj.attrs:
        raise Refusal(path, f"missing attribute '{name}'")
    tid = obj.attrs.get_id(name)
    if tid.dtype != np.dtype("int64") or tid.shape != ():
        raise Refusal(path, f"attribute '{name}' must be an int64 scalar, got {tid.dtype} {tid.shape}")
    return int(obj.attrs[name])


def attr_intlist(obj, name, path):
    """Integer lists (e.g. weight_shape) are 1-D int64 arrays."""
    if name not in obj.attrs:
        raise Refusal(path, f"missing attribute '{name}'")
    tid = obj.attrs.get_id(name)
    if tid.dtype != np.dtype("int64") or tid.shape is None or len(tid.shape) != 1:
        # SPEC-GAP: "an empty weight_shape" (weight_format none): an HDF5 attribute cannot be a
        # 0-length simple dataspace in every writer; we accept a null dataspace as [] too.
        if tid.shape is None and tid.dtype == np.dtype("int64"):
            return []
        raise Refusal(path, f"attribute '{name}' must be a 1-D int64 array, got {tid.dtype} {tid.shape}")
    return [int(v) for v in np.asarray(obj.attrs[name]).reshape(-1)]


def attr_float(obj, name, path):
    """Float attributes are float32 scalars."""
    if name not in obj.attrs:
        raise Refusal(path, f"missing attribute '{name}'")
    tid = obj.attrs.get_id(name)
    if tid.dtype != np.dtype("float32") or tid.shape != ():
        raise Refusal(path, f"attribute '{name}' must be a float32 scalar, got {tid.dtype} {tid.shape}")
    return F32(obj.attrs[name])


class Reader:
    """Holds the open file and the version; reads every dataset through the digest check."""

    def __init__(self, f):
        self.f = f
        self.minor = None
        self.digests_required = True

    def dataset(self, path, dtype=None, shape=None):
        """Read one dataset: existence, dtype, shape, fully stored, fletcher32, sha256.

        "Conventions: Content digest (1.2)" and "Conformance": a dataset without its sha256
        attribute or whose bytes do not hash to it; a dataset of the wrong dtype or shape, data
        not fully stored, or a read failure (fletcher32).
        """
        if path not in self.f:
            raise Refusal(path, "missing dataset")
        ds = self.f[path]
        if not isinstance(ds, h5py.Dataset):
            raise Refusal(path, "expected a dataset, found a group")
        if dtype is not None:
            want = [np.dtype(d) for d in (dtype if isinstance(dtype, (list, tuple)) else [dtype])]
            # SPEC-GAP: "All multi-byte values are little-endian; HDF5 records the type of every
            # dataset anyway" - unclear whether a big-endian dataset is an error. We compare the
            # kind and size only, and hash the little-endian bytes as the digest rule says.
            if not any(ds.dtype.kind == w.kind and ds.dtype.itemsize == w.itemsize for w in want):
                raise Refusal(path, f"wrong dtype {ds.dtype}, expected {' or '.join(map(str, want))}")
        if shape is not None and tuple(ds.shape) != tuple(shape):
            raise Refusal(path, f"wrong shape {tuple(ds.shape)}, expected {tuple(shape)}")
        self._check_fully_stored(ds, path)
        try:
            a = ds[()]
        except OSError as e:  # fletcher32 failure and other read errors
            raise Refusal(path, f"read failure ({e})")
        a = np.asarray(a)
        self._check_digest(ds, a, path)
        return a.astype(a.dtype.newbyteorder("<"), copy=False)

    @staticmethod
    def _check_fully_stored(ds, path):
        n = int(np.prod(ds.shape)) if ds.shape else 1
        if n == 0:
            return
        if ds.chunks is None:
            # "Every non-empty dataset is chunked with the fletcher32 filter".
            # SPEC-GAP: not listed among the conformance refusals; we only warn.
            warn(path, "non-empty dataset is not chunked (so has no fletcher32 filter)")
            if ds.id.get_offset() is None or ds.id.get_storage_size() < ds.id.get_type().get_size() * n:
                raise Refusal(path, "data not fully stored")
            return
        if not ds.fletcher32:
            warn(path, "non-empty dataset without the fletcher32 filter")
        want = 1
        for s, c in zip(ds.shape, ds.chunks):
            want *= -(-s // c)
        try:
            have = ds.id.get_num_chunks()
        except Exception:  # older HDF5: fall back on the storage size
            have = want if ds.id.get_storage_size() > 0 else 0
        if have != want:
            raise Refusal(path, f"data not fully stored ({have} of {want} chunks)")

    def _check_digest(self, ds, a, path):
        if "sha256" not in ds.attrs:
            if self.digests_required:
                raise Refusal(path, "dataset without its sha256 attribute")
            return
        want = attr_str(ds, "sha256", path)
        le = np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<"), copy=False))
        got = hashlib.sha256(le.tobytes()).hexdigest()
        if got != want:
            raise Refusal(path, f"sha256 mismatch: bytes hash to {got[:16]}..., attribute says {want[:16]}...")

    def text(self, path):
        """Text (JSON, YAML) is a 1-D uint8 dataset of UTF-8 bytes."""
        a = self.dataset(path, dtype="uint8")
        if a.ndim != 1:
            raise Refusal(path, f"text dataset must be 1-D, got shape {a.shape}")
        try:
            return a.tobytes().decode("utf-8")
        except UnicodeDecodeError as e:
            raise Refusal(path, f"not UTF-8 ({e})")


# ------------------------------------------------------------------------------------------------
# "Versioning and required features"
# ------------------------------------------------------------------------------------------------


def check_root(rd):
    f = rd.f
    if "format" not in f.attrs:
        raise Refusal("/", "not a qforge checkpoint (no 'format' attribute)")
    fmt = attr_str(f, "format", "/")
    if fmt != "qforge":
        raise Refusal("/", f"format is {fmt!r}, not 'qforge'")
    major = attr_int(f, "format_version", "/")
    if major > READER_MAJOR:
        raise Refusal("/", f"written by a newer qforge (format_version {major}, "
                           f"this reader supports {READER_MAJOR})")
    if major != READER_MAJOR:
        raise Refusal("/", f"format_version {major} is not this reader's major {READER_MAJOR}")
    # SPEC-GAP: format_minor is listed as a root attribute, but the conformance list does not
    # say a missing one is an error, nor whether 1.0 files had it. Assumed: absent -> 0.
    minor = attr_int(f, "format_minor", "/") if "format_minor" in f.attrs else 0
    if minor < 0:
        raise Refusal("/", f"format_minor {minor} is negative")
    rd.minor = minor
    # "From 1.2 on, required_features, the per-dataset sha256 and the golden reference
    # attribute are mandatory." Files of 1.0/1.1 have no digests.
    rd.digests_required = minor >= 2
    if "required_features" in f.attrs:
        req = [n for n in attr_str(f, "required_features", "/").split(",") if n]
    elif minor >= 2:
        raise Refusal("/", "missing attribute 'required_features' (mandatory from 1.2)")
    else:
        req = []
    for n in req:
        if n not in KNOWN_FEATURES:
            raise Refusal("/", f"requires feature {n!r}, which this reader does not implement")
    return set(req)


# ------------------------------------------------------------------------------------------------
# "The graph (/graph)"
# ------------------------------------------------------------------------------------------------


def parse_graph(rd):
    txt = rd.text("graph")
    try:
        g = json.loads(txt)
    except ValueError as e:
        raise Refusal("/graph", f"not valid JSON ({e})")
    if not isinstance(g, dict):
        raise Refusal("/graph", "graph JSON is not an object")
    for key in ("inputs", "outputs", "ops"):
        if key not in g or not isinstance(g[key], list):
            raise Refusal("/graph", f"missing or non-list '{key}'")
    produced = {}
    inputs = []
    for i, gi in enumerate(g["inputs"]):
        where = f"/graph inputs[{i}]"
        if not isinstance(gi, dict) or not isinstance(gi.get("name"), str):
            raise Refusal(where, "input without a string 'name'")
        name = gi["name"]
        check_name(name, where)
        if gi.get("dtype") not in ("float32", "int64"):
            raise Refusal(where, f"dtype {gi.get('dtype')!r} is not float32 or int64")
        shape = gi.get("shape")
        if not isinstance(shape, list) or not all(is_int(d) and (d == -1 or d >= 0) for d in shape):
            raise Refusal(where, f"bad shape {shape!r}")
        if name in produced:
            raise Refusal(where, f"tensor '{name}' produced twice")
        produced[name] = None
        inputs.append(dict(name=name, dtype=gi["dtype"], shape=shape))
    ops = []
    names = set()
    for i, op in enumerate(g["ops"]):
        where = f"/graph ops[{i}]"
        if not isinstance(op, dict):
            raise Refusal(where, "op is not an object")
        kind, name = op.get("kind"), op.get("name")
        if not isinstance(name, str):
            raise Refusal(where, "op without a string 'name'")
        check_name(name, where)
        where = f"op '{name}'"
        if name in names:
            raise Refusal(where, "op name not unique")
        names.add(name)
        if kind not in OPS:
            raise Refusal(where, f"unknown op kind {kind!r}")
        ins, outs = op.get("inputs"), op.get("outputs")
        if not isinstance(ins, list) or not all(isinstance(t, str) for t in ins):
            raise Refusal(where, "'inputs' is not a list of strings")
        if not isinstance(outs, list) or not all(isinstance(t, str) for t in outs):
            raise Refusal(where, "'outputs' is not a list of strings")
        # "Every op has exactly one output and the number of inputs its kind takes"
        if len(outs) != 1:
            raise Refusal(where, f"has {len(outs)} outputs, every op has exactly one")
        if len(ins) != OPS[kind]["n_in"]:
            raise Refusal(where, f"{kind} takes {OPS[kind]['n_in']} input(s), got {len(ins)}")
        for t in ins:
            if t not in produced:
                raise Refusal(where, f"input '{t}' is not a graph input or an earlier op's output")
        check_name(outs[0], where)
        if outs[0] in produced:
            raise Refusal(where, f"tensor '{outs[0]}' produced twice")
        produced[outs[0]] = name
        attrs = check_op_attrs(kind, op, where)
        ops.append(dict(kind=kind, name=name, inputs=ins, output=outs[0], attrs=attrs))
    outputs = g["outputs"]
    for t in outputs:
        if not isinstance(t, str) or t not in produced:
            # SPEC-GAP: the conformance list does not name a graph output that nothing produces;
            # it cannot be computed, so it is refused.
            raise Refusal("/graph outputs", f"output {t!r} is not produced by the graph")
    if "family" in g and not isinstance(g["family"], str):
        warn("/graph", "'family' is not a string (informational)")
    return dict(inputs=inputs, outputs=outputs, ops=ops, family=g.get("family"))


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_name(name, where):
    """'Names of layers, graph tensors and extra parameters never contain /'."""
    if "/" in name or name == "":
        raise Refusal(where, f"name {name!r} is empty or contains '/'")


def check_op_attrs(kind, op, where):
    """'The graph': each kind accepts exactly the attributes of its row in the Ops table, with the
    lengths and ranges given there; an unknown attribute (not x_) or one out of range is an
    error, checked before any arithmetic uses it."""
    spec = OPS[kind]["attrs"]
    out = {}
    for mapname in ("ints", "floats", "strings"):
        # SPEC-GAP: the example shows ints/floats/strings on every op; the text does not say
        # whether they are required. Assumed: an absent map is empty.
        m = op.get(mapname, {})
        if not isinstance(m, dict):
            raise Refusal(where, f"'{mapname}' is not an object")
        for k, v in m.items():
            if is_x_name(k):
                continue
            if k not in spec or spec[k][0] != mapname:
                raise Refusal(where, f"unknown attribute '{k}' in '{mapname}' for kind {kind}")
            _, default, lengths, rng = spec[k]
            if mapname == "ints":
                if not isinstance(v, list) or not all(is_int(x) for x in v):
                    raise Refusal(where, f"attribute '{k}' must be a list of integers, got {v!r}")
                if len(v) not in lengths:
                    raise Refusal(where, f"attribute '{k}' has length {len(v)}, allowed {lengths}")
                for x in v:
                    if not rng[0] <= x <= rng[1]:
                        raise Refusal(where, f"attribute '{k}' value {x} outside [{rng[0]}, {rng[1]}]")
                out[k] = list(v)
            elif mapname == "floats":
                if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                    raise Refusal(where, f"attribute '{k}' must be a finite number, got {v!r}")
                out[k] = float(v)
            else:
                if not isinstance(v, str):
                    raise Refusal(where, f"attribute '{k}' must be a string")
                out[k] = v
    for k, (mapname, default, lengths, rng) in spec.items():
        if k not in out:
            if default is REQUIRED:
                raise Refusal(where, f"missing required attribute '{k}'")
            if default is not None:
                out[k] = default
    # kind-specific ranges
    if kind == "layernorm":
        if not 0.0 < out["eps"] <= 1.0:
            raise Refusal(where, f"eps {out['eps']} not in (0, 1]")
    if kind in ("maxpool2d", "avgpool2d"):
        if "stride" not in out:
            out["stride"] = list(out["kernel"])  # "stride (= kernel)"
        kh, kw = pair(out["kernel"])
        ph, pw = pair(out["padding"])
        # "padding (0; at most kernel/2)"
        if 2 * ph > kh or 2 * pw > kw:
            raise Refusal(where, f"padding {out['padding']} exceeds kernel/2 (kernel {out['kernel']})")
    return out


def pair(v):
    """'Kernel/stride/padding lists may have one element (used for both dims) or two [h, w]'."""
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


# ------------------------------------------------------------------------------------------------
# "Layer groups" and weight decoding
# ------------------------------------------------------------------------------------------------


def code_range(bits, symmetric):
    """'Arithmetic': symmetric restricted range [-(2^(b-1)-1), 2^(b-1)-1]; asymmetric [0, 2^b-1]."""
    if symmetric:
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    return 0, 2 ** bits - 1


def unpack_int4(b, n, bits, where):
    """'int4 packing': byte j holds code 2j (low nibble) and 2j+1 (high nibble), two's
    complement; odd count -> last high nibble is 0 padding; reject nonzero padding and any
    nibble outside the restricted range of `bits`."""
    b = np.asarray(b, dtype=np.uint8)
    lo = (b & 0xF).astype(np.int16)
    hi = (b >> 4).astype(np.int16)
    lo[lo > 7] -= 16
    hi[hi > 7] -= 16
    codes = np.stack([lo, hi], axis=-1).reshape(b.shape[0], -1)
    if n % 2 == 1 and codes.shape[1] > n and np.any(codes[:, n:] != 0):
        r = int(np.nonzero(np.any(codes[:, n:] != 0, axis=1))[0][0])
        raise Refusal(where, f"nonzero int4 padding nibble in row {r}")
    codes = codes[:, :n]
    check_codes(codes, bits, where)
    return codes.astype(np.int64)


def check_codes(codes, bits, where):
    qmin, qmax = code_range(bits, True)
    bad = (codes < qmin) | (codes > qmax)
    if np.any(bad):
        o, k = np.argwhere(bad)[0]
        raise Refusal(where, f"code {int(codes[o, k])} at [{o}, {k}] outside the restricted "
                             f"range [{qmin}, {qmax}] of {bits} bits")


def index_bits(m):
    """'N:M compression': b = 1 for M <= 2, 2 for M <= 4, 4 for M <= 16."""
    return 1 if m <= 2 else 2 if m <= 4 else 4


def decode_nm(values, indices, O, K, N, M, bits, where):
    """'N:M compression': scatter the kept codes of each group of M along K to their indices.
    Rejects an index >= M, indices not strictly increasing in a group, nonzero bits after the
    last index of a row, codes outside the restricted range."""
    b = index_bits(M)
    nkept = K // M * N
    mask = (1 << b) - 1
    W = np.zeros((O, K), np.int64)
    ix = np.asarray(indices, dtype=np.uint8)
    for o in range(O):
        prev = -1
        for j in range(nkept):
            bit = j * b
            i = (int(ix[o, bit // 8]) >> (bit % 8)) & mask
            if i >= M:
                raise Refusal(where + "/weight_indices", f"row {o}: index {i} >= M={M}")
            if j % N == 0:
                prev = -1
            if i <= prev:
                raise Refusal(where + "/weight_indices",
                              f"row {o}, group {j // N}: indices not strictly increasing")
            prev = i
            W[o, (j // N) * M + i] = values[o, j]
        # nonzero bits after the last index of the row
        used = nkept * b
        for byte in range(used // 8, ix.shape[1]):
            lowbit = used - byte * 8 if byte == used // 8 else 0
            if lowbit >= 8:
                continue
            if int(ix[o, byte]) >> lowbit != 0:
                raise Refusal(where + "/weight_indices", f"row {o}: nonzero bits after the last index")
    return W


class Layer:
    pass


def load_layer(rd, op, features):
    """'Layer groups (/layers/<op name>)': exactly the listed attributes/datasets (plus x_)."""
    kind, name = op["kind"], op["name"]
    path = f"/layers/{name}"
    if f"layers/{name}" not in rd.f or not isinstance(rd.f[f"layers/{name}"], h5py.Group):
        raise Refusal(path, f"layer group missing for {kind} op '{name}'")
    grp = rd.f[f"layers/{name}"]
    for a in grp.attrs:
        if a not in LAYER_ATTRS and not is_x_name(a):
            raise Refusal(path, f"unknown layer attribute '{a}'")
    L = Layer()
    L.name, L.kind, L.path = name, kind, path
    getters = dict(str=attr_str, int=attr_int, intlist=attr_intlist, float=attr_float)
    A = {k: getters[t](grp, k, path) for k, t in LAYER_ATTRS.items()}
    L.attrs = A
    if A["kind"] != kind:
        raise Refusal(path, f"kind {A['kind']!r} differs from the graph's {kind!r}")
    fmt = A["weight_format"]
    if fmt not in WEIGHT_FORMATS:
        raise Refusal(path, f"unknown weight_format {fmt!r}")
    L.fmt = fmt
    shape = A["weight_shape"]
    bits = A["bits"]

    # --- which weight formats each kind may have
    # "Only linear, conv2d and embedding have quantized weights"; layernorm and
    # positional_embedding weights are float32.
    # SPEC-GAP: weight_format 'none' ("no weight", "weight_shape empty when none") is defined
    # but no kind with a layer group is said to use it; every such kind needs its weight. We
    # refuse 'none' on every kind.
    allowed = {"linear": {"float32"} | QUANTIZED_FORMATS, "conv2d": {"float32"} | QUANTIZED_FORMATS,
               "embedding": {"float32"} | QUANTIZED_FORMATS,
               "layernorm": {"float32"}, "positional_embedding": {"float32"}}[kind]
    if fmt not in allowed:
        if fmt in QUANTIZED_FORMATS:
            raise Refusal(path, f"a quantized weight ({fmt}) on kind {kind}, which has none")
        raise Refusal(path, f"weight_format {fmt!r} not allowed for kind {kind}")

    # --- weight_shape by kind
    want_rank = {"linear": 2, "conv2d": 4, "embedding": 2, "layernorm": 1, "positional_embedding": 2}[kind]
    if len(shape) != want_rank or any(d <= 0 for d in shape):
        raise Refusal(path, f"weight_shape {shape} invalid for {kind} (rank {want_rank}, positive)")
    O = shape[0]
    K = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    L.O, L.K, L.shape = O, K, shape

    # --- bits: "int8 and nm_int8 hold 5..8 (nm_int8 also 2..4 in files before 1.1), int4 and
    # nm_int4 hold 2..4, float32 has 32"
    if fmt in ("int8",) and not 5 <= bits <= 8:
        raise Refusal(path, f"bits {bits} outside 5..8 for int8")
    if fmt == "nm_int8" and not (5 <= bits <= 8 or (rd.minor < 1 and 2 <= bits <= 4)):
        raise Refusal(path, f"bits {bits} outside 5..8 for nm_int8")
    if fmt in ("int4", "nm_int4") and not 2 <= bits <= 4:
        raise Refusal(path, f"bits {bits} outside 2..4 for {fmt}")
    if fmt == "float32" and bits != 32:
        raise Refusal(path, f"bits {bits}, float32 has 32")
    L.bits = bits

    # --- granularity / group_size
    gran, gs = A["granularity"], A["group_size"]
    if gran not in ("tensor", "channel", "group"):
        raise Refusal(path, f"unknown granularity {gran!r}")
    if fmt == "float32" and gran != "tensor":
        raise Refusal(path, "granularity must be 'tensor' for float32")
    if gran == "group":
        if gs <= 0 or K % gs != 0:
            raise Refusal(path, f"group_size {gs} does not divide K={K}")
    elif gs != 0:
        raise Refusal(path, f"group_size {gs} must be 0 unless granularity is 'group'")
    L.gran, L.gs = gran, gs

    # --- sparsity
    sp = A["sparsity"]
    if fmt in ("nm_int8", "nm_int4"):
        m = re.fullmatch(r"([1-9][0-9]*):([1-9][0-9]*)", sp)
        if not m:
            raise Refusal(path, f"sparsity {sp!r} is not N:M for {fmt}")
        N, M = int(m.group(1)), int(m.group(2))
        # SPEC-GAP: no stated range for N and M. Index widths are only defined up to M = 16,
        # and "at most N nonzero codes" of M only makes sense for N <= M.
        if not (N <= M <= 16):
            raise Refusal(path, f"sparsity {sp}: need N <= M <= 16")
        if K % M != 0:
            raise Refusal(path, f"sparsity {sp}: K={K} not a multiple of M")
        L.N, L.M = N, M
    else:
        # SPEC-GAP: "sparsity: dense or N:M" - a dense format with an N:M sparsity string has no
        # stated meaning; refused.
        if sp != "dense":
            raise Refusal(path, f"sparsity {sp!r} with weight_format {fmt} (only N:M formats are sparse)")
    if fmt == "nm_int4" and "nm_int4" not in features and rd.minor >= 2:
        # "a file that uses it lists the name in required_features" - SPEC-GAP: not in the
        # conformance list; we can compute it, so only warn.
        warn(path, "uses nm_int4 but 'nm_int4' is not in required_features")

    # --- activation scheme ("Conformance": static on linear/conv2d, dynamic per token on
    # linear only and symmetric int8 only; never without a quantized weight)
    load_act_scheme(L, A, kind, fmt, path)

    # --- datasets
    expected = weight_datasets(rd, L, grp, path)
    L.bias = None
    if kind in ("linear", "conv2d"):
        if "bias" in grp:
            L.bias = rd.dataset(f"{path}/bias", "float32", (O,))
            check_finite(L.bias, f"{path}/bias")
        expected.add("bias")
    elif kind == "layernorm":
        L.bias = rd.dataset(f"{path}/bias", "float32", (O,))
        check_finite(L.bias, f"{path}/bias")
        expected.add("bias")
    for k in grp:
        if k not in expected and not is_x_name(k):
            raise Refusal(path, f"unknown layer dataset or group '{k}'")
    return L


def load_act_scheme(L, A, kind, fmt, path):
    mode = A["act_mode"]
    if mode not in ("none", "static", "dynamic_per_token"):
        raise Refusal(path, f"unknown act_mode {mode!r}")
    sym = A["act_symmetric"]
    if sym not in (0, 1):
        raise Refusal(path, f"act_symmetric {sym} is not 0 or 1")
    abits, ascale, azp = A["act_bits"], A["act_scale"], A["act_zero_point"]
    if mode != "none":
        if kind not in ("linear", "conv2d"):
            raise Refusal(path, f"activation scheme {mode} on kind {kind}, which defines none")
        if fmt not in QUANTIZED_FORMATS:
            raise Refusal(path, f"activation scheme {mode} without a quantized weight")
    if mode == "dynamic_per_token":
        if kind != "linear":
            raise Refusal(path, "dynamic_per_token on a kind other than linear")
        if abits != 8 or sym != 1:
            raise Refusal(path, f"dynamic_per_token must be symmetric int8 (act_bits {abits}, "
                                f"act_symmetric {sym})")
    if mode == "static":
        # SPEC-GAP: no range is given for act_bits. Assumed 2..8 (codes are "int8
        # activations"; the restricted ranges are defined for any b >= 2).
        if not 2 <= abits <= 8:
            raise Refusal(path, f"act_bits {abits} outside 2..8")
        if not (np.isfinite(ascale) and ascale > 0):
            raise Refusal(path, f"act scale {ascale} is not finite and > 0")
        qmin, qmax = code_range(abits, sym == 1)
        if sym == 1 and azp != 0:
            raise Refusal(path, f"act zero point {azp} nonzero for symmetric codes")
        if not qmin <= azp <= qmax:
            raise Refusal(path, f"act zero point {azp} outside the code range [{qmin}, {qmax}]")
    else:
        # "act_bits (0 when none)", "act_scale (1 otherwise)", "act_zero_point (0 otherwise)".
        # SPEC-GAP: stated as the values written, not as reader rules. We refuse other values
        # (a reader cannot know what a nonzero zero point on a dynamic layer would mean).
        if mode == "none" and abits != 0:
            raise Refusal(path, f"act_bits {abits} with act_mode none (must be 0)")
        if ascale != F32(1) or azp != 0:
            raise Refusal(path, f"act_scale {ascale} / act_zero_point {azp} set with act_mode {mode}")
    L.act_mode, L.act_bits, L.act_sym = mode, abits, sym == 1
    L.act_scale, L.act_zp = F32(ascale), int(azp)


def check_finite(a, where):
    """'Conformance': a non-finite float parameter."""
    if not np.all(np.isfinite(a)):
        raise Refusal(where, "non-finite float parameter")


def weight_datasets(rd, L, grp, path):
    """'Datasets by weight_format'; decodes L.codes (int64 [O, K]) and L.scale, or L.wf (float)."""
    fmt, O, K = L.fmt, L.O, L.K
    L.codes = L.scale = L.wf = None
    if fmt == "float32":
        L.wf = rd.dataset(f"{path}/weight", "float32", tuple(L.shape))
        check_finite(L.wf, f"{path}/weight")
        return {"weight"}
    if fmt == "int8":
        c = rd.dataset(f"{path}/weight", "int8", (O, K)).astype(np.int64)
        check_codes(c, L.bits, f"{path}/weight")
        L.codes = c
        names = {"weight"}
    elif fmt == "int4":
        b = rd.dataset(f"{path}/weight", "uint8", (O, (K + 1) // 2))
        L.codes = unpack_int4(b, K, L.bits, f"{path}/weight")
        names = {"weight"}
    else:  # nm_int8 / nm_int4
        nk = K // L.M * L.N
        ib = index_bits(L.M)
        ix = rd.dataset(f"{path}/weight_indices", "uint8", (O, (nk * ib + 7) // 8))
        if fmt == "nm_int8":
            v = rd.dataset(f"{path}/weight_values", "int8", (O, nk)).astype(np.int64)
            check_codes(v, L.bits, f"{path}/weight_values")
        else:
            vb = rd.dataset(f"{path}/weight_values", "uint8", (O, (nk + 1) // 2))
            v = unpack_int4(vb, nk, L.bits, f"{path}/weight_values")
        L.codes = decode_nm(v, ix, O, K, L.N, L.M, L.bits, path)
        names = {"weight_values", "weight_indices"}
    sshape = {"tensor": (1,), "channel": (O,), "group": (O, K // L.gs if L.gs else 0)}[L.gran]
    s = rd.dataset(f"{path}/weight_scale", "float32", sshape)
    if not np.all(np.isfinite(s) & (s > 0)):
        raise Refusal(f"{path}/weight_scale", "a scale that is not finite and > 0")
    L.scale = s.astype(F32)
    names.add("weight_scale")
    return names


def scale_per_element(L):
    """'Dequantized weight: W[o, k] = code[o, k] * scale[o or (o, k // group_size) or 0]'."""
    if L.gran == "tensor":
        return np.broadcast_to(L.scale[0], (L.O, L.K))
    if L.gran == "channel":
        return np.broadcast_to(L.scale[:, None], (L.O, L.K))
    return np.repeat(L.scale, L.gs, axis=1)


def dequant(L):
    """Float32 weight [O, K]: one float32 multiply per element."""
    if L.wf is not None:
        return L.wf.reshape(L.O, -1).astype(F32)
    return (L.codes.astype(F32) * scale_per_element(L).astype(F32)).astype(F32)


# ------------------------------------------------------------------------------------------------
# "Arithmetic" and "The quantization contract"
# ------------------------------------------------------------------------------------------------


def quantize_static(x, s, z, bits, symmetric):
    """q = clamp(round_half_even(x / s) + z, qmin, qmax), each step one float32 operation."""
    qmin, qmax = code_range(bits, symmetric)
    t = np.rint(x.astype(F32) / F32(s))            # true float32 division, round half to even
    t = (t + F32(z)).astype(F32)
    t = np.clip(t, F32(qmin), F32(qmax))
    return t.astype(np.int64)


def dynamic_token_scales(x):
    """dynamic_per_token: sx[row] = max|x[row]| / 127 (float32); all-zero row -> 1;
    'a positive scale below 1e-12 becomes 1e-12' (core rules, 'Scales from data')."""
    amax = np.max(np.abs(x.astype(F32)), axis=-1, keepdims=True).astype(F32)
    s = (amax / F32(127)).astype(F32)
    # SPEC-GAP: the floor 1e-12 is applied as float32(1e-12); also whether a row whose
    # max|x|/127 underflows to 0 (not all-zero) gets 1 or 1e-12 is unstated: we give it 1e-12.
    s = np.where(amax == 0, F32(1), np.where(s < F32(1e-12), F32(1e-12), s)).astype(F32)
    return s


def quantize_input(L, x):
    """Input activation of a linear/conv2d with act_mode != none -> (qx int64, sx, zx).
    sx is a float32 scalar (static) or a float32 [..., 1] array (per token)."""
    if L.act_mode == "static":
        return quantize_static(x, L.act_scale, L.act_zp, L.act_bits, L.act_sym), L.act_scale, L.act_zp
    sx = dynamic_token_scales(x)
    q = np.clip(np.rint(x.astype(F32) / sx), F32(-127), F32(127)).astype(np.int64)
    return q, sx, 0


def int_gemm_epilogue(L, qx, sx, zx, rows=None):
    """Integer GEMM and epilogue of 'The quantization contract'.

    qx: int64 [..., K] codes; W rows `rows` (slice, default all) of L.codes.
      tensor/channel: y[o] = float32(acc[o]) * (sx * sw[o]) + bias[o]
      group:          y[o] = sx * S + bias[o], S = sum_g float32(acc_g[o]) * sw[o, g] in increasing g
    Accumulation in int64 (the spec says int32; identical unless int32 overflows).
    """
    rows = rows if rows is not None else slice(0, L.O)
    W = L.codes[rows]                                   # int64 [O', K]
    xz = (qx - zx).astype(np.int64)
    bias = L.bias[rows].astype(F32) if L.bias is not None else None
    sx = F32(sx) if np.ndim(sx) == 0 else sx.astype(F32)
    if L.gran in ("tensor", "channel"):
        acc = xz @ W.T                                  # int64 [..., O']
        sw = np.broadcast_to(L.scale[0], (W.shape[0],)) if L.gran == "tensor" else L.scale[rows]
        comb = (sx * sw.astype(F32)).astype(F32)        # sx * sw[o] first
        y = (acc.astype(F32) * comb).astype(F32)
    else:
        G = L.K // L.gs
        sw = L.scale[rows].astype(F32)                  # [O', G]
        S = np.zeros(xz.shape[:-1] + (W.shape[0],), F32)
        for g in range(G):
            ks = slice(g * L.gs, (g + 1) * L.gs)
            acc_g = xz[..., ks] @ W[:, ks].T           # int64 [..., O']
            S = (S + (acc_g.astype(F32) * sw[:, g]).astype(F32)).astype(F32)
        y = (sx * S).astype(F32)
    if bias is not None:
        y = (y + bias).astype(F32)
    return y


def is_exact_layer(L):
    """'Validation': linear/conv2d are integer-deterministic with a quantized weight *and* a
    quantized input."""
    return L.fmt in QUANTIZED_FORMATS and L.act_mode != "none"


# ------------------------------------------------------------------------------------------------
# Ops
# ------------------------------------------------------------------------------------------------


def op_linear(op, L, x):
    """linear: y = x W^T + b (contract above); x [..., K]."""
    x = np.asarray(x, F32)
    if x.shape[-1] != L.K:
        raise Refusal(f"op '{op['name']}'", f"input last dim {x.shape[-1]} != K={L.K}")
    if is_exact_layer(L):
        qx, sx, zx = quantize_input(L, x)
        return int_gemm_epilogue(L, qx, sx, zx)
    # float GEMM (float weight, or weight-only quantized: y = x @ dequant(W).T + bias)
    y = (x @ dequant(L).T).astype(F32)
    if L.bias is not None:
        y = (y + L.bias).astype(F32)
    return y


def im2col(xp, kh, kw, sh, sw, OH, OW):
    """Patches [N, OH, OW, C*kh*kw] with K index (c * kh + i) * kw + j (PyTorch order)."""
    N, C = xp.shape[:2]
    cols = np.empty((N, C, kh, kw, OH, OW), xp.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(N, OH, OW, C * kh * kw)


def out_size(H, k, s, p):
    """OH = floor((H + 2p - k) / s) + 1."""
    return (H + 2 * p - k) // s + 1


def op_conv2d(op, L, x):
    """conv2d: torch.nn.functional.conv2d, zero padding, no dilation; the quantized case is the
    integer GEMM over im2col patches with the quantized input padded by zx."""
    where = f"op '{op['name']}'"
    a = op["attrs"]
    O, Cg, kh, kw = L.shape
    if "kernel" in a and pair(a["kernel"]) != (kh, kw):
        raise Refusal(where, f"kernel {a['kernel']} differs from the weight's [{kh}, {kw}]")
    sh, sw = pair(a["stride"])
    ph, pw = pair(a["padding"])
    g = a["groups"][0]
    x = np.asarray(x, F32)
    if x.ndim != 4:
        raise Refusal(where, f"input must be NCHW, got shape {x.shape}")
    N, C, H, W = x.shape
    if C % g or O % g or C // g != Cg:
        raise Refusal(where, f"groups {g} incompatible with C={C}, O={O}, weight C/g={Cg}")
    OH, OW = out_size(H, kh, sh, ph), out_size(W, kw, sw, pw)
    if OH <= 0 or OW <= 0:
        raise Refusal(where, f"empty output {OH}x{OW}")
    Og = O // g
    exact = is_exact_layer(L)
    if exact:
        qx, sx, zx = quantize_input(L, x)          # static only (checked at load)
        xp = np.pad(qx, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=zx)
    else:
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=0)
        Wd = dequant(L)
    out = np.empty((N, OH, OW, O), F32)
    for gi in range(g):
        cols = im2col(xp[:, gi * Cg:(gi + 1) * Cg], kh, kw, sh, sw, OH, OW)
        rows = slice(gi * Og, (gi + 1) * Og)
        if exact:
            out[..., rows] = int_gemm_epilogue(L, cols, sx, zx, rows)
        else:
            y = (cols @ Wd[rows].T).astype(F32)
            if L.bias is not None:
                y = (y + L.bias[rows]).astype(F32)
            out[..., rows] = y
    return out.transpose(0, 3, 1, 2).copy()


def op_relu(op, L, x):
    """relu: max(x, 0)."""
    x = np.asarray(x, F32)
    return np.maximum(x, F32(0)).astype(F32)


def op_gelu(op, L, x):
    """gelu exact: 0.5 x (1 + erf(x / sqrt(2))), computed in double and rounded to float32."""
    x = np.asarray(x, F32)
    erf = np.vectorize(math.erf, otypes=[np.float64])
    xd = x.astype(np.float64)
    return (0.5 * xd * (1.0 + erf(xd / math.sqrt(2.0)))).astype(F32)


def _pool(op, x, fill, reduce):
    where = f"op '{op['name']}'"
    a = op["attrs"]
    kh, kw = pair(a["kernel"])
    sh, sw = pair(a["stride"])
    ph, pw = pair(a["padding"])
    x = np.asarray(x, F32)
    if x.ndim != 4:
        raise Refusal(where, f"input must be NCHW, got shape {x.shape}")
    N, C, H, W = x.shape
    OH, OW = out_size(H, kh, sh, ph), out_size(W, kw, sw, pw)
    if OH <= 0 or OW <= 0:
        raise Refusal(where, f"empty output {OH}x{OW}")
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    win = np.empty((N, C, OH, OW, kh * kw), F32)
    for i in range(kh):
        for j in range(kw):
            win[..., i * kw + j] = xp[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw]
    return reduce(win, kh * kw)


def op_maxpool2d(op, L, x):
    """maxpool2d: max over window; padding never wins (-inf); floor output size."""
    return _pool(op, x, -np.inf, lambda w, n: np.max(w, axis=-1).astype(F32))


def op_avgpool2d(op, L, x):
    """avgpool2d: mean over window, count_include_pad=True (divide by kh*kw)."""
    def red(w, n):
        s = np.zeros(w.shape[:-1], F32)
        for t in range(n):
            s = (s + w[..., t]).astype(F32)
        return (s / F32(n)).astype(F32)
    return _pool(op, x, 0.0, red)


def op_flatten(op, L, x):
    """flatten: reshape to [d0..d(start-1), prod(rest)]; negative start_dim counts from the end."""
    x = np.asarray(x)
    s = op["attrs"]["start_dim"][0]
    if s < 0:
        s += x.ndim
    # SPEC-GAP: the valid runtime range of start_dim relative to the rank is not stated;
    # assumed 0 <= start_dim < rank (as torch.flatten).
    if not 0 <= s < x.ndim:
        raise Refusal(f"op '{op['name']}'", f"start_dim {op['attrs']['start_dim'][0]} invalid for rank {x.ndim}")
    return x.reshape(x.shape[:s] + (int(np.prod(x.shape[s:])),)).astype(F32)


def op_add(op, L, a, b):
    """add: elementwise, same shape."""
    a, b = np.asarray(a, F32), np.asarray(b, F32)
    if a.shape != b.shape:
        raise Refusal(f"op '{op['name']}'", f"shapes differ: {a.shape} vs {b.shape}")
    return (a + b).astype(F32)


def op_layernorm(op, L, x):
    """layernorm over the last dim, biased variance: (x - mean) / sqrt(var + eps) * w + b."""
    x = np.asarray(x, F32)
    if x.shape[-1] != L.O:
        raise Refusal(f"op '{op['name']}'", f"last dim {x.shape[-1]} != C={L.O}")
    # SPEC-GAP: eps is a JSON number (double); whether it is rounded to float32 before use is
    # not said. We use float32(eps) in float32 arithmetic.
    eps = F32(op["attrs"]["eps"])
    mean = np.mean(x, axis=-1, keepdims=True, dtype=F32)
    d = (x - mean).astype(F32)
    var = np.mean(d * d, axis=-1, keepdims=True, dtype=F32)
    y = d / np.sqrt(var + eps).astype(F32)
    return (y.astype(F32) * L.wf + L.bias).astype(F32)


def op_softmax(op, L, x):
    """softmax over the last dim, max-subtracted."""
    x = np.asarray(x, F32)
    e = np.exp(x - np.max(x, axis=-1, keepdims=True)).astype(F32)
    return (e / np.sum(e, axis=-1, keepdims=True, dtype=F32)).astype(F32)


def op_embedding(op, L, ids):
    """embedding: y[b,t] = W[ids[b,t]] (dequantized: code * scale, exactly); id outside [0, V)
    is an error."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise Refusal(f"op '{op['name']}'", f"ids must be int64, got {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= L.O):
        raise Refusal(f"op '{op['name']}'", f"token id outside [0, {L.O})")
    return dequant(L)[ids.astype(np.int64)]


def op_positional_embedding(op, L, x):
    """positional_embedding: y[b,t] = x[b,t] + W[p0 + t], p0 = 0 for a full run."""
    x = np.asarray(x, F32)
    Tmax, D = L.shape
    if x.ndim != 3 or x.shape[2] != D:
        raise Refusal(f"op '{op['name']}'", f"input {x.shape} is not [B, T, {D}]")
    T = x.shape[1]
    if T > Tmax:
        raise Refusal(f"op '{op['name']}'", f"positions past the table: T={T} > Tmax={Tmax}")
    return (x + L.wf[:T]).astype(F32)


def op_causal_attention(op, L, x):
    """causal_attention: q, k, v = split of the last dim; per head softmax(q k^T / sqrt(d) +
    causal mask) v; heads concatenated -> [B, T, C]."""
    where = f"op '{op['name']}'"
    x = np.asarray(x, F32)
    h = op["attrs"]["heads"][0]
    if x.ndim != 3 or x.shape[2] % 3:
        raise Refusal(where, f"input {x.shape} is not [B, T, 3C]")
    B, T, C3 = x.shape
    C = C3 // 3
    if C % h:
        raise Refusal(where, f"heads {h} does not divide C={C}")
    d = C // h
    q, k, v = x[..., :C], x[..., C:2 * C], x[..., 2 * C:]
    out = np.empty((B, T, C), F32)
    mask = np.triu(np.ones((T, T), bool), 1)
    for hi in range(h):
        cs = slice(hi * d, hi * d + d)
        s = (q[..., cs] @ k[..., cs].transpose(0, 2, 1)).astype(F32) / F32(math.sqrt(d))
        s = np.where(mask, F32(-np.inf), s).astype(F32)
        e = np.exp(s - np.max(s, axis=-1, keepdims=True)).astype(F32)
        p = (e / np.sum(e, axis=-1, keepdims=True, dtype=F32)).astype(F32)
        out[..., cs] = (p @ v[..., cs]).astype(F32)
    return out


OP_FUNCS = {
    "linear": op_linear, "conv2d": op_conv2d, "relu": op_relu, "gelu": op_gelu,
    "maxpool2d": op_maxpool2d, "avgpool2d": op_avgpool2d, "flatten": op_flatten, "add": op_add,
    "layernorm": op_layernorm, "softmax": op_softmax, "embedding": op_embedding,
    "positional_embedding": op_positional_embedding, "causal_attention": op_causal_attention,
}


def run_op(op, layers, args):
    return OP_FUNCS[op["kind"]](op, layers.get(op["name"]), *args)


def op_is_exact(op, layers):
    if op["kind"] in ("linear", "conv2d"):
        return is_exact_layer(layers[op["name"]])
    return op["kind"] in EXACT_KINDS


def run_graph(graph, layers, feeds):
    env = dict(feeds)
    for op in graph["ops"]:
        env[op["output"]] = run_op(op, layers, [env[t] for t in op["inputs"]])
    return env


def exact_path(graph, layers):
    """'Validation 1': an output whose every upstream op is integer-deterministic (graph inputs
    count as exact)."""
    exact = {gi["name"]: True for gi in graph["inputs"]}
    for op in graph["ops"]:
        exact[op["output"]] = op_is_exact(op, layers) and all(exact[t] for t in op["inputs"])
    return exact


# ------------------------------------------------------------------------------------------------
# Golden cases and "Validation"
# ------------------------------------------------------------------------------------------------


def load_golden(rd, graph, ops_by_output):
    """'/golden/': num_cases, reference; per case inputs, outputs, optional model_outputs/trace."""
    f = rd.f
    if "golden" not in f:
        if rd.minor >= 2:
            raise Refusal("/golden", "missing (the golden reference attribute is mandatory from 1.2)")
        return "model", []
    g = f["golden"]
    if "reference" in g.attrs:
        ref = attr_str(g, "reference", "/golden")
    elif rd.minor >= 2:
        raise Refusal("/golden", "missing attribute 'reference' (mandatory from 1.2)")
    else:
        ref = "model"
    if ref not in ("contract", "model"):
        # SPEC-GAP: other values are not defined; we refuse rather than guess the check.
        raise Refusal("/golden", f"unknown reference {ref!r} (contract | model)")
    n = attr_int(g, "num_cases", "/golden")
    if n < 0:
        raise Refusal("/golden", f"num_cases {n} negative")
    cases = []
    for i in range(n):
        base = f"golden/{i}"
        if base not in f:
            raise Refusal(f"/{base}", "missing golden case")
        case = dict(inputs={}, outputs={}, model_outputs={}, trace={})
        for gi in graph["inputs"]:
            p = f"{base}/inputs/{gi['name']}"
            a = rd.dataset(p, gi["dtype"])
            sh = gi["shape"]
            if a.ndim != len(sh) or any(s != -1 and s != d for s, d in zip(sh, a.shape)):
                raise Refusal("/" + p, f"shape {a.shape} does not match the graph input {sh}")
            case["inputs"][gi["name"]] = a
        for t in graph["outputs"]:
            case["outputs"][t] = rd.dataset(f"{base}/outputs/{t}", "float32")
        for sub in ("model_outputs", "trace"):
            if f"{base}/{sub}" in f:
                for t in f[f"{base}/{sub}"]:
                    if sub == "trace" and t not in ops_by_output:
                        warn(f"/{base}/trace/{t}", "not an op output; ignored")
                        continue
                    case[sub][t] = rd.dataset(f"{base}/{sub}/{t}", "float32")
        cases.append(case)
    return ref, cases


def agreement(y, gold):
    """'Validation 1': top-1 agreement over rows (all dims but the last) and max|y - golden| / u,
    u = max|golden| / 127."""
    y = np.asarray(y, np.float64)
    gold = np.asarray(gold, np.float64)
    rows = int(np.prod(y.shape[:-1])) if y.ndim > 1 else 1
    a = y.reshape(rows, -1).argmax(-1)
    b = gold.reshape(rows, -1).argmax(-1)
    top1 = float(np.mean(a == b)) if rows else 1.0
    u = np.max(np.abs(gold)) / 127 if gold.size else 0.0
    d = np.max(np.abs(y - gold)) if gold.size else 0.0
    units = d / u if u > 0 else (0.0 if d == 0 else math.inf)
    return top1, units


def bits_equal(a, b):
    a = np.ascontiguousarray(a, F32)
    b = np.ascontiguousarray(b, F32)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def float_bound(op, L, args, traced_out):
    """'Validation 2': bound on max abs difference for float-reduction ops (u = 2^-24)."""
    u = 2.0 ** -24
    X = max(float(np.max(np.abs(np.asarray(a, np.float64)))) if np.size(a) else 0.0 for a in args)
    Y = float(np.max(np.abs(traced_out))) if traced_out.size else 0.0
    kind = op["kind"]
    if kind in ("linear", "conv2d"):
        W = dequant(L).astype(np.float64)
        K = L.K
        b = float(np.max(np.abs(L.bias))) if L.bias is not None else 0.0
        return (2 * K + 4) * u * (X * float(np.max(np.sum(np.abs(W), axis=1))) + b)
    if kind == "layernorm":
        C = L.O
        return (4 * C + 16) * u * (Y + float(np.max(np.abs(L.bias))))
    if kind == "softmax":
        C = np.asarray(args[0]).shape[-1]
        return (2 * C + 16) * u
    if kind == "gelu":
        return 16 * u * X
    if kind == "avgpool2d":
        kh, kw = pair(op["attrs"]["kernel"])
        return (kh * kw + 2) * u * X
    if kind == "causal_attention":
        x = np.asarray(args[0])
        d = x.shape[-1] // 3 // op["attrs"]["heads"][0]
        # SPEC-GAP: "L keys" - for a full causal run the longest row attends to all T keys;
        # we take L = T.
        Lk = x.shape[1]
        return X * ((4 * Lk + 16) * u + 4 * (2 * d + 4) * u * X * X / math.sqrt(d))
    raise AssertionError(kind)


def validate(graph, layers, ref, cases, report):
    """'Validation (qforge validate)': outputs, per-op on the trace, model_outputs for info."""
    ok = True
    exact = exact_path(graph, layers)
    for ci, case in enumerate(cases):
        env = run_graph(graph, layers, case["inputs"])
        # 1. Outputs
        for t in graph["outputs"]:
            y, gold = env[t], case["outputs"][t]
            if np.shape(y) != gold.shape:
                report(f"case {ci} output '{t}': shape {np.shape(y)} != golden {gold.shape}  FAIL")
                ok = False
                continue
            top1, units = agreement(y, gold)
            if ref == "contract" and exact[t]:
                same = bits_equal(y, gold)
                nd = int(np.sum(np.asarray(y, F32).view(np.uint32) != gold.view(np.uint32)))
                report(f"case {ci} output '{t}': integer path -> bit-identical check: "
                       f"{'PASS' if same else 'FAIL'} ({nd} of {gold.size} values differ; "
                       f"top1 {top1 * 100:.1f}%, max diff {units:.3f} units)")
                ok &= same
            else:
                good = top1 >= 0.99 and units <= 2.0
                why = "reference=model" if ref != "contract" else "float-reduction path"
                report(f"case {ci} output '{t}': {why} -> agreement check: "
                       f"{'PASS' if good else 'FAIL'} (top1 {top1 * 100:.1f}%, "
                       f"max diff {units:.3f} units, bit-identical {bits_equal(y, gold)})")
                ok &= good
        # 2. Per op, on the trace
        tr = case["trace"]
        if tr:
            n_exact = n_float = n_skip = 0
            first_fail = None
            for op in graph["ops"]:
                srcs = []
                for t in op["inputs"]:
                    srcs.append(case["inputs"][t] if t in case["inputs"] else tr.get(t))
                if op["output"] not in tr or any(s is None for s in srcs):
                    n_skip += 1
                    continue
                got = run_op(op, layers, srcs)
                want = tr[op["output"]]
                if np.shape(got) != want.shape:
                    msg = f"shape {np.shape(got)} != traced {want.shape}"
                    passed = False
                elif op_is_exact(op, layers):
                    n_exact += 1
                    passed = bits_equal(got, want)
                    nd = int(np.sum(np.asarray(got, F32).view(np.uint32) != want.view(np.uint32)))
                    md = float(np.max(np.abs(np.asarray(got, np.float64) - want))) if want.size else 0
                    msg = f"exact: {nd} of {want.size} values differ, max abs diff {md:.3g}"
                else:
                    n_float += 1
                    bound = float_bound(op, layers.get(op["name"]), srcs, want)
                    md = float(np.max(np.abs(np.asarray(got, np.float64) - want))) if want.size else 0
                    passed = md <= bound
                    msg = f"float: max abs diff {md:.3g} <= bound {bound:.3g}"
                if VERBOSE or not passed:
                    report(f"  case {ci} op '{op['name']}' ({op['kind']}): "
                           f"{'ok' if passed else 'FAIL'} ({msg})")
                if not passed and first_fail is None:
                    first_fail = f"{op['name']} ({op['kind']}): {msg}"
            report(f"case {ci} per-op trace check: {n_exact} exact ops, {n_float} float ops, "
                   f"{n_skip} not traced; first failing op: {first_fail or 'none'}")
            ok &= first_fail is None
        # 3. model_outputs, for information
        for t, mo in case["model_outputs"].items():
            if t in case["outputs"] and mo.shape == case["outputs"][t].shape:
                top1, units = agreement(mo, case["outputs"][t])
                report(f"case {ci} model_outputs '{t}' vs outputs (info): top1 {top1 * 100:.1f}%, "
                       f"max diff {units:.3f} units")
    return ok


# ------------------------------------------------------------------------------------------------
# Whole file
# ------------------------------------------------------------------------------------------------


def check_text_datasets(rd):
    """/recipe (YAML text) and /metrics (JSON array): read with their digests."""
    for p in ("recipe", "metrics"):
        if p not in rd.f:
            # SPEC-GAP: both are in the Layout but the conformance list does not say they are
            # required; we only warn when absent.
            warn(f"/{p}", "absent")
            continue
        txt = rd.text(p)
        if p == "metrics" and txt:
            try:
                if not isinstance(json.loads(txt), list):
                    warn("/metrics", "not a JSON array")
            except ValueError:
                warn("/metrics", "not valid JSON")


def check_layer_groups_listed(rd, graph):
    """'/layers/<op name>/: one group per op that has parameters'; 'Ops without parameters have
    no layer group'. SPEC-GAP: a group under /layers naming no op (or a parameterless op) is not
    in the conformance list; we refuse it, since /layers is not among the optional places."""
    if "layers" not in rd.f:
        return
    with_params = {op["name"] for op in graph["ops"] if OPS[op["kind"]]["params"]}
    for name in rd.f["layers"]:
        if name not in with_params and not is_x_name(name):
            raise Refusal(f"/layers/{name}", "layer group for no op with parameters")


def decode(path):
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise Refusal(path, f"cannot open as HDF5 ({e})")
    rd = Reader(f)
    features = check_root(rd)
    graph = parse_graph(rd)
    check_layer_groups_listed(rd, graph)
    layers = {}
    for op in graph["ops"]:
        if OPS[op["kind"]]["params"]:
            layers[op["name"]] = load_layer(rd, op, features)
    ops_by_output = {op["output"]: op for op in graph["ops"]}
    ref, cases = load_golden(rd, graph, ops_by_output)
    check_text_datasets(rd)
    return rd, graph, layers, ref, cases


VERBOSE = False


def main():
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--expect-refusal", action="store_true",
                    help="exit 0 if the file is refused, 1 if accepted")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every per-op check")
    args = ap.parse_args()
    VERBOSE = args.verbose
    try:
        rd, graph, layers, ref, cases = decode(args.checkpoint)
        lines = []
        ok = validate(graph, layers, ref, cases, lines.append)
    except Refusal as e:
        print(f"REFUSED {e.obj}: {e.reason}")
        return 0 if args.expect_refusal else 3
    if args.expect_refusal:
        print(f"ACCEPTED {args.checkpoint}: expected a refusal")
        return 1
    print(f"{args.checkpoint}: format 1.{rd.minor}, family {graph['family']}, "
          f"{len(graph['ops'])} ops, {len(layers)} layers, golden reference={ref}, {len(cases)} case(s)")
    for L in layers.values():
        extra = f" {L.N}:{L.M}" if L.fmt.startswith("nm_") else ""
        print(f"  layer {L.name}: {L.kind} {L.fmt}{extra} bits={L.bits} {L.gran}"
              f"{'/' + str(L.gs) if L.gran == 'group' else ''} act={L.act_mode}"
              f"{' (integer path)' if L.kind in ('linear', 'conv2d') and is_exact_layer(L) else ''}")
    for w in WARNINGS:
        print(f"  warning: {w}")
    for line in lines:
        print(line)
    print("PASS" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
