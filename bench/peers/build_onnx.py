#!/usr/bin/python3
"""Writes the qforge Fashion CNN checkpoint as an int8 QDQ ONNX model for the ONNX Runtime peer
(bench/peers/ort/ort_bench.mjs), plus the input files that peer reads.

    /usr/bin/python3 bench/peers/build_onnx.py CKPT OUT_DIR [--batch 256] [--float] [--test-set]

Writes OUT_DIR/model.onnx (OUT_DIR/model_fp32.onnx with --float), OUT_DIR/inputs.json (shapes and
the checkpoint's golden case) and, with --test-set, OUT_DIR/test_images.f32 + test_labels.u8.

The model is the QDQ form ONNX Runtime's own quantizer (quantize_static, QDQ format) writes for
this network, which ORT's graph optimizer fuses into its int8 kernels (QLinearConv, QGemm, uint8
MaxPool): every conv / linear reads QuantizeLinear -> DequantizeLinear of its input with the
checkpoint's (act_scale, act_zero_point), its weight is DequantizeLinear(int8 codes, per-channel
scales, axis 0) of the checkpoint's codes, its bias DequantizeLinear(int32 bias / (sx * sw)), and
relu / maxpool / reshape sit between Q/DQ pairs of the next layer's input parameters. The logits
are requantized with a range from the golden outputs (as in the PyTorch peer). int4 and 2:4
weights become dense int8 codes in [-7, 7] (ORT's CPU EP has no int4 conv / 2:4 kernel).
Built with the Debian `python3-onnx` package (onnx.helper), nothing else.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qf_checkpoint import Checkpoint, ints, load_fashion_test, output_qparams  # noqa: E402


class G:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def init(self, base, arr):
        nm = self.name(base)
        self.inits.append(numpy_helper.from_array(arr, nm))
        return nm

    def node(self, op, inputs, base, **attrs):
        out = self.name(base)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def act_q(L):
    if L.act_mode != "static" or L.act_bits != 8:
        raise SystemExit(f"{L.name}: act_mode {L.act_mode}/{L.act_bits}: the ORT peer supports static 8-bit only")
    if L.act_symmetric:
        return np.float32(L.act_scale), np.uint8(128)
    return np.float32(L.act_scale), np.uint8(L.act_zero_point)


def qdq(g, x, s, z, base):
    """Q -> DQ with uint8 (scale, zero point): one quantization point of the model."""
    sn, zn = g.init(base + "_scale", np.array(s, np.float32)), g.init(base + "_zp", np.array(z, np.uint8))
    q = g.node("QuantizeLinear", [x, sn, zn], base + "_q")
    return g.node("DequantizeLinear", [q, sn, zn], base + "_dq")


def build(ck, fp32=False):
    g = G()
    ops = ck.ops
    gemms = [i for i, op in enumerate(ops) if op["kind"] in ("conv2d", "linear")]
    x = "image"
    cur_q = None  # (scale, zp) the current tensor was last quantized with, re-applied after pool/reshape
    for i, op in enumerate(ops):
        kind, nm = op["kind"], op["name"].replace(".", "_")
        if kind in ("conv2d", "linear"):
            L = ck.layers[op["name"]]
            if not fp32:
                s, z = act_q(L)
                if cur_q is None:  # the model input (later inputs already come out of a Q/DQ pair)
                    x = qdq(g, x, s, z, nm + "_in")
                cs = L.channel_scales()
                if cs is None:
                    raise SystemExit(f"{L.name}: per-group scales are not expressible in this QDQ model")
                w = g.init(nm + "_w", L.codes.reshape(L.weight_shape).astype(np.int8))
                w_s = g.init(nm + "_w_scale", cs.astype(np.float32))
                w_z = g.init(nm + "_w_zp", np.zeros(len(cs), np.int8))
                wd = g.node("DequantizeLinear", [w, w_s, w_z], nm + "_w_dq", axis=0)
                inputs = [x, wd]
                if L.bias is not None:
                    bs = (np.float32(s) * cs).astype(np.float32)
                    bq = np.clip(np.rint(L.bias / bs), -2**31, 2**31 - 1).astype(np.int32)
                    b = g.init(nm + "_b", bq)
                    b_s = g.init(nm + "_b_scale", bs)
                    b_z = g.init(nm + "_b_zp", np.zeros(len(cs), np.int32))
                    inputs.append(g.node("DequantizeLinear", [b, b_s, b_z], nm + "_b_dq", axis=0))
            else:
                inputs = [x, g.init(nm + "_w", L.dequantized().astype(np.float32))]
                if L.bias is not None:
                    inputs.append(g.init(nm + "_b", L.bias))
            if kind == "conv2d":
                kh, kw = L.weight_shape[2], L.weight_shape[3]
                ph, pw = ints(op, "padding", 0)
                x = g.node("Conv", inputs, nm, kernel_shape=[kh, kw], strides=list(ints(op, "stride", 1)),
                           pads=[ph, pw, ph, pw], group=ints(op, "groups", 1)[0])
            else:
                x = g.node("Gemm", inputs, nm, transB=1)
            fuse_relu = i + 1 < len(ops) and ops[i + 1]["kind"] == "relu"
            if fuse_relu:
                x = g.node("Relu", [x], nm + "_relu")
            if not fp32:
                nxt = [j for j in gemms if j > i]
                cur_q = act_q(ck.layers[ops[nxt[0]]["name"]]) if nxt else output_qparams(ck)
                x = qdq(g, x, cur_q[0], cur_q[1], nm + "_out")
            continue
        if kind == "relu":
            if i > 0 and ops[i - 1]["kind"] in ("conv2d", "linear"):
                continue  # emitted with its GEMM
            x = g.node("Relu", [x], nm)
        elif kind == "maxpool2d":
            k = ints(op, "kernel", 2)
            ph, pw = ints(op, "padding", 0)
            x = g.node("MaxPool", [x], nm, kernel_shape=list(k), strides=list(ints(op, "stride", k[0])),
                       pads=[ph, pw, ph, pw])
        elif kind == "flatten":
            if ints(op, "start_dim", 1)[0] != 1:
                raise SystemExit("flatten start_dim != 1: not supported by the ORT peer")
            x = g.node("Reshape", [x, g.init(nm + "_shape", np.array([0, -1], np.int64))], nm)
        else:
            raise SystemExit(f"op kind {kind!r}: not supported by the ORT CNN peer")
        if not fp32 and cur_q is not None:
            x = qdq(g, x, cur_q[0], cur_q[1], nm)  # QDQ after a data-movement op: ORT runs it on uint8
    shape = ck.graph["inputs"][0]["shape"]
    inp = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N"] + list(shape[1:]))
    g.nodes.append(helper.make_node("Identity", [x], ["logits"], name="logits"))
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", None])
    graph = helper.make_graph(g.nodes, "qforge_" + ("fp32" if fp32 else "int8_qdq"), [inp], [out], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="qforge bench")
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("out_dir")
    ap.add_argument("--float", action="store_true", help="also write model_fp32.onnx (dequantized weights)")
    ap.add_argument("--test-set", action="store_true", help="write the normalised Fashion-MNIST test set")
    a = ap.parse_args()
    ck = Checkpoint(a.checkpoint)
    if ck.graph.get("family") != "cnn":
        raise SystemExit(f"{a.checkpoint}: family {ck.graph.get('family')!r}: the ORT peer covers the CNN only")
    os.makedirs(a.out_dir, exist_ok=True)
    onnx.save(build(ck), os.path.join(a.out_dir, "model.onnx"))
    if a.float:
        onnx.save(build(ck, fp32=True), os.path.join(a.out_dir, "model_fp32.onnx"))
    x0 = next(iter(ck.golden_inputs.values())).astype(np.float32)
    y0 = next(iter(ck.golden_outputs.values())).astype(np.float32)
    meta = {"checkpoint": a.checkpoint, "input_name": "image", "input_shape": list(x0.shape),
            "golden_inputs": x0.reshape(-1).tolist(), "golden_outputs": y0.reshape(-1).tolist(),
            "golden_output_shape": list(y0.shape), "metrics": ck.metrics}
    with open(os.path.join(a.out_dir, "inputs.json"), "w") as fh:
        json.dump(meta, fh)
    if a.test_set:
        xt, yt = load_fashion_test(ck)
        xt.astype("<f4").tofile(os.path.join(a.out_dir, "test_images.f32"))
        yt.astype(np.uint8).tofile(os.path.join(a.out_dir, "test_labels.u8"))
    print(f"wrote {a.out_dir}/model.onnx" + (" and model_fp32.onnx" if a.float else ""))


if __name__ == "__main__":
    main()
