# opsets.py — models declaring the newest ai.onnx opsets (23 to 25, whose changes to existing
# ops only add element types edgecc does not have): a small net through ops those opsets
# touched (Reshape, Transpose, Squeeze, Unsqueeze, Flatten, Pad, Cast, Shape, Identity) and
# ops they did not (Conv, Relu, MatMul, Softmax) computes what it computes at opset 21.
# And the oldest: opsets before 7 (early CNTK and Caffe2 exports) broadcast binary ops with
# broadcast/axis attributes and mark in-place hints with consumed_inputs.
import numpy as np
from onnx import helper

from casegen import save

rng = np.random.default_rng(25)


def net(opset):
    x = rng.uniform(-1, 1, (1, 2, 6, 6)).astype(np.float32)
    w = rng.normal(0, 0.5, (4, 2, 3, 3)).astype(np.float32)
    m = rng.normal(0, 0.5, (16, 5)).astype(np.float32)
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["p"], mode="edge"),
        helper.make_node("Conv", ["p", "w"], ["c"]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 3, 1]),
        helper.make_node("Shape", ["t"], ["s"], start=0, end=1),
        helper.make_node("Concat", ["s", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["t", "target"], ["flat"]),
        helper.make_node("Unsqueeze", ["flat", "axis0"], ["u"]),
        helper.make_node("Squeeze", ["u", "axis0"], ["sq"]),
        helper.make_node("Identity", ["sq"], ["id"]),
        helper.make_node("Cast", ["id"], ["f"], to=1),
        helper.make_node("Reshape", ["f", "rows"], ["rows16"]),
        helper.make_node("MatMul", ["rows16", "m"], ["mm"]),
        helper.make_node("Softmax", ["mm"], ["y"], axis=-1),
    ]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge").astype(np.float64)
    c = np.zeros((1, 4, 6, 6))
    for i in range(3):
        for j in range(3):
            c += np.einsum("nchw,mc->nmhw", xp[:, :, i:i + 6, j:j + 6], w[:, :, i, j])
    rows = np.maximum(c, 0).transpose(0, 2, 3, 1).reshape(-1, 16) @ m.astype(np.float64)
    e = np.exp(rows - rows.max(axis=1, keepdims=True))
    y = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    inits = [("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)), ("w", w), ("minus1", np.array([-1], np.int64)),
             ("axis0", np.array([0], np.int64)), ("rows", np.array([-1, 16], np.int64)), ("m", m)]
    save(f"opset{opset}_net", nodes, [("x", x)], [("y", y)], opset, inits)


for version in (21, 23, 24, 25):
    net(version)


def legacy_broadcast():
    x = rng.uniform(-1, 1, (2, 3, 4, 5)).astype(np.float32)
    bias, scale = rng.normal(0, 1, 3).astype(np.float32), rng.normal(0, 1, (4, 5)).astype(np.float32)
    other = rng.uniform(-1, 1, (2, 3, 4, 5)).astype(np.float32)
    nodes = [
        helper.make_node("Add", ["x", "bias"], ["a"], broadcast=1, axis=1, consumed_inputs=[0, 0]),
        helper.make_node("Mul", ["a", "scale"], ["m"], broadcast=1),  # no axis: A's last dims
        helper.make_node("Sub", ["m", "other"], ["s"]),                # same shapes, no broadcast
        helper.make_node("Relu", ["s"], ["y"], consumed_inputs=[0]),
    ]
    y = np.maximum((x + bias.reshape(1, 3, 1, 1)) * scale - other, 0).astype(np.float32)
    save("opset5_legacy_broadcast", nodes, [("x", x), ("other", other)], [("y", y)], 5,
         [("bias", bias), ("scale", scale)])


legacy_broadcast()
