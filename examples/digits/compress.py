#!/usr/bin/python3
"""Compressed forms of the digit classifier that train.py trains (run after it, with Debian's
/usr/bin/python3: numpy, sklearn, onnx). Writes, next to digits.onnx:

  digits_qdq.onnx   the int8 model in QDQ form, as quantization tools write them: weights
                    int8 per output channel (symmetric), biases int32, activations uint8 with
                    ranges calibrated on the training digits. edgecc runs it in integer
                    arithmetic.
  digits_pruned.onnx  the float model with three quarters of its first two weight matrices
                    pruned in blocks of 16 output channels x 1 input (the blocks edgecc's
                    sparse kernel skips), then fine-tuned with the pruned weights held at 0.
  calibration/      64 training digits as input .pb files (one folder per sample), for
                    `edgecc --quantize int8 --calibrate calibration`.

and prints each model's accuracy on the held-out digits as numpy computes it (the QDQ model
with its quantization simulated in float).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from train import HERE, SEED, export, forward, softmax, split

CAL_SAMPLES = 64
DENSITY = 0.25  # fraction of weight blocks the pruned model keeps
BLOCK = 16      # output channels per pruned block


def load_params(path):
    model = onnx.load(path)
    return {t.name: numpy_helper.to_array(t).astype(np.float32) for t in model.graph.initializer}


def quantize(x, scale, zp, lo, hi):
    return np.clip(np.round(x.astype(np.float32) / scale) + zp, lo, hi)


def uint8_params(values):
    lo, hi = min(float(values.min()), 0.0), max(float(values.max()), 0.0)
    scale = np.float32((hi - lo) / 255 if hi > lo else 1)
    return scale, int(np.clip(np.round(-lo / scale), 0, 255))


def qdq_model(params, xcal, path):
    """The QDQ model: activation ranges from the calibration digits, per-channel int8 weights."""
    acts = forward(params, xcal)  # normalized input, two hidden layers, logits
    inits, nodes = [numpy_helper.from_array(params[k], k) for k in ("mean", "scale")], []
    nodes += [helper.make_node("Sub", ["pixels", "mean"], ["centered"], name="center"),
              helper.make_node("Mul", ["centered", "scale"], ["h0"], name="normalize")]

    def const(name, value):
        inits.append(numpy_helper.from_array(value, name))
        return name

    def qdq(x, scale, zp):
        s, z = const(f"{x}_scale", np.array(scale, np.float32)), const(f"{x}_zero_point", np.array(zp, np.uint8))
        nodes.append(helper.make_node("QuantizeLinear", [x, s, z], [f"{x}_q"], name=f"{x}_quantize"))
        nodes.append(helper.make_node("DequantizeLinear", [f"{x}_q", s, z], [f"{x}_dq"], name=f"{x}_dequantize"))
        return f"{x}_dq"

    x = "h0"
    for i in range(3):
        xs, xz = uint8_params(np.maximum(acts[i], 0) if i else acts[i])
        xd = qdq(x, xs, xz)
        w, b = params[f"w{i}"], params[f"b{i}"]
        ws = (np.maximum(np.abs(w).max(axis=1), 1e-8) / 127).astype(np.float32)
        wq = np.clip(np.round(w / ws[:, None]), -127, 127).astype(np.int8)
        bs = (np.float32(xs) * ws).astype(np.float32)
        bq = np.round(b / bs).astype(np.int32)
        nodes.append(helper.make_node("DequantizeLinear", [const(f"w{i}_q", wq), const(f"w{i}_scale", ws)], [f"w{i}_dq"], axis=0))
        nodes.append(helper.make_node("DequantizeLinear", [const(f"b{i}_q", bq), const(f"b{i}_scale", bs)], [f"b{i}_dq"], axis=0))
        out = f"z{i}" if i < 2 else "logits"
        nodes.append(helper.make_node("Gemm", [xd, f"w{i}_dq", f"b{i}_dq"], [out], name=f"dense{i}", transB=1))
        if i < 2:
            nodes.append(helper.make_node("Relu", [out], [f"h{i + 1}"], name=f"relu{i}"))
            x = f"h{i + 1}"
        else:
            ls, lz = uint8_params(acts[3])
            x = qdq("logits", ls, lz)
    nodes.append(helper.make_node("Softmax", [x], ["probabilities"], name="softmax", axis=1))
    graph = helper.make_graph(
        nodes, "digits_qdq", [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])], inits)
    model = helper.make_model(graph, producer_name="edgecc-examples", opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return model


def run_qdq(model, x):
    """The QDQ model in numpy: every Q/DQ pair rounds to its uint8 grid."""
    p = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    h = (x - p["mean"]) * p["scale"]
    for i in range(3):
        name = "h0" if i == 0 else f"h{i}"
        s, z = p[f"{name}_scale"], p[f"{name}_zero_point"].astype(np.float32)
        h = (quantize(h, s, z, 0, 255) - z) * s
        w = p[f"w{i}_q"].astype(np.float32) * p[f"w{i}_scale"][:, None]
        b = p[f"b{i}_q"].astype(np.float32) * p[f"b{i}_scale"]
        h = h @ w.T + b
        if i < 2:
            h = np.maximum(h, 0)
    s, z = p["logits_scale"], p["logits_zero_point"].astype(np.float32)
    return softmax((quantize(h, s, z, 0, 255) - z) * s)


def prune(params, x, y):
    """Block pruning of w0 and w1 (largest-norm blocks of 16 outputs x 1 input kept), then
    fine-tuning with the masks applied after every step."""
    masks = {}
    for i in (0, 1):
        w = params[f"w{i}"]
        blocks = np.sqrt((w.reshape(-1, BLOCK, w.shape[1]) ** 2).sum(axis=1))  # [out/16, in]
        keep = blocks >= np.quantile(blocks, 1 - DENSITY)
        masks[f"w{i}"] = np.repeat(keep, BLOCK, axis=0).astype(np.float32)
        params[f"w{i}"] = w * masks[f"w{i}"]
    rng = np.random.default_rng(SEED + 1)
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    lr, momentum, batch = 0.02, 0.9, 32
    for epoch in range(60):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            acts = forward(params, x[idx])
            grad = softmax(acts[-1])
            grad[np.arange(len(idx)), y[idx]] -= 1
            grad /= len(idx)
            for i in (2, 1, 0):
                gw, gb = grad.T @ acts[i], grad.sum(axis=0)
                if i > 0:
                    grad = (grad @ params[f"w{i}"]) * (acts[i] > 0)
                for k, g in ((f"w{i}", gw), (f"b{i}", gb)):
                    velocity[k] = momentum * velocity[k] - lr * g
                    params[k] = (params[k] + velocity[k]).astype(np.float32)
                    if k in masks:
                        params[k] *= masks[k]
    return params


def write_calibration(x, folder):
    for i in range(CAL_SAMPLES):
        d = os.path.join(folder, f"sample_{i:03d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "input_0.pb"), "wb") as f:
            f.write(numpy_helper.from_array(x[i:i + 1], "pixels").SerializeToString())


def accuracy(probs, y):
    return float((probs.argmax(axis=1) == y).mean())


def main():
    xtr, ytr, xte, yte = split()
    params = load_params(os.path.join(HERE, "digits.onnx"))
    write_calibration(xtr, os.path.join(HERE, "calibration"))
    qdq = qdq_model(params, xtr[:CAL_SAMPLES], os.path.join(HERE, "digits_qdq.onnx"))
    print(f"int8 QDQ accuracy on held-out digits (numpy): {accuracy(run_qdq(qdq, xte), yte):.4f}")
    pruned = prune(params, xtr, ytr)
    export(pruned, os.path.join(HERE, "digits_pruned.onnx"))
    print(f"pruned accuracy on held-out digits (numpy): {accuracy(softmax(forward(pruned, xte)[-1]), yte):.4f}")
    for i in (0, 1):
        w = pruned[f"w{i}"]
        print(f"  w{i}: {np.count_nonzero(w)} of {w.size} weights nonzero")


if __name__ == "__main__":
    sys.exit(main())
