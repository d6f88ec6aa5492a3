#!/usr/bin/python3
"""Model tests for data-dependent shapes: ONNX backend-test folders (model.onnx,
test_data_set_0/input_N.pb, output_N.pb) with numpy reference outputs, written into
the directory given as the first argument (tests/models/generate.sh).

Data-dependent shapes: values produced by NonZero, Unique, Compress and NonMaxSuppression
have static upper bounds and run-time dims; these chains check that consumers read the
actual dims and that graph outputs report them.
"""
import os
import sys
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def save(root, name, nodes, inputs, outputs, initializers=(), opset=OPSET):
    """inputs/outputs: lists of (name, numpy array); the graph declares their types and
    shapes, outputs with unknown dims (they are data-dependent). Models of opsets newer
    than this onnx knows are not checked."""
    def info(n, a, dynamic):
        shape = [None] * a.ndim if dynamic else list(a.shape)
        return helper.make_tensor_value_info(n, onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[a.dtype], shape)

    graph = helper.make_graph(nodes, name, [info(n, a, False) for n, a in inputs],
                              [info(n, a, True) for n, a in outputs],
                              [numpy_helper.from_array(a, n) for n, a in initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if opset <= onnx.defs.onnx_opset_version():
        onnx.checker.check_model(model)
    d = os.path.join(root, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    onnx.save(model, os.path.join(d, "model.onnx"))
    for kind, tensors in (("input", inputs), ("output", outputs)):
        for i, (n, a) in enumerate(tensors):
            t = numpy_helper.from_array(a, n)
            with open(os.path.join(d, "test_data_set_0", "%s_%d.pb" % (kind, i)), "wb") as f:
                f.write(t.SerializeToString())


def nonzero_gathernd(root):
    """NonZero -> Transpose -> GatherND: the values of the nonzero elements; scattered back
    doubled with ScatterND (dynamic indices and updates)."""
    x = np.array([[0, 1.5, 0, 2], [3, 0, 0, 0], [0, -1, 4, 0]], dtype=np.float32)
    idx = np.array(np.nonzero(x), dtype=np.int64)
    nodes = [helper.make_node("NonZero", ["x"], ["nz"]),
             helper.make_node("Transpose", ["nz"], ["idx"]),
             helper.make_node("GatherND", ["x", "idx"], ["vals"]),
             helper.make_node("Add", ["vals", "vals"], ["twice"]),
             helper.make_node("ScatterND", ["zeros", "idx", "twice"], ["doubled"])]
    save(root, "nonzero_gathernd", nodes, [("x", x)],
         [("idx", idx.T.copy()), ("vals", x[np.nonzero(x)]), ("doubled", 2 * x)],
         [("zeros", np.zeros_like(x))])


def compress_nonzero(root):
    """Ops whose input has a data-dependent shape and whose output size depends on data
    again (Compress -> NonZero), and a OneHot of dynamic indices."""
    x = np.array([[2, 0, 1], [0, 3, 0]], dtype=np.int64)
    cond = np.array([True, True, False, True, False, True])
    c = np.compress(cond, x)
    nodes = [helper.make_node("Compress", ["x", "cond"], ["c"]),
             helper.make_node("NonZero", ["c"], ["nz"]),
             helper.make_node("OneHot", ["c", "depth", "values"], ["hot"], axis=0)]
    hot = np.where(np.arange(4)[:, None] == c[None, :], 5, -1).astype(np.float32)
    save(root, "compress_nonzero", nodes, [("x", x), ("cond", cond)],
         [("nz", np.array(np.nonzero(c), dtype=np.int64)), ("hot", hot)],
         [("depth", np.array(4, dtype=np.int64)), ("values", np.array([-1, 5], dtype=np.float32))])


def nonzero_eltwise(root):
    """Elementwise ops on a dynamic value: unary, broadcasting against a static operand, and
    two dynamic operands."""
    x = np.array([[1, 0, 2], [0, 0, 3]], dtype=np.int32)
    nz = np.array(np.nonzero(x), dtype=np.int64)
    scale = np.array([[10], [100]], dtype=np.float32)
    f = nz.astype(np.float32)
    scaled = f * scale + np.float32(0.5)
    nodes = [helper.make_node("NonZero", ["x"], ["nz"]),
             helper.make_node("Cast", ["nz"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["f", "scale"], ["m"]),
             helper.make_node("Add", ["m", "half"], ["scaled"]),
             helper.make_node("Mul", ["f", "f"], ["sq"]),
             helper.make_node("Neg", ["sq"], ["neg"])]
    save(root, "nonzero_eltwise", nodes, [("x", x)], [("scaled", scaled), ("neg", -(f * f))],
         [("scale", scale), ("half", np.array(0.5, dtype=np.float32))])


def unique_gather(root):
    """Unique's outputs feeding Gather (as indices) and Mul; Y listed twice as an output and
    passed through Identity (copies of a dynamic value)."""
    x = np.array([3, 1, 3, 0, 1, 3], dtype=np.int64)
    table = np.arange(20, dtype=np.float32).reshape(5, 4)
    y, idx, inv, counts = np.unique(x, True, True, True)
    nodes = [helper.make_node("Unique", ["x"], ["y", "indices", "inverse", "counts"]),
             helper.make_node("Gather", ["table", "y"], ["rows"], axis=0),
             helper.make_node("Mul", ["counts", "counts"], ["counts2"]),
             helper.make_node("Identity", ["y"], ["y_id"])]
    save(root, "unique_gather", nodes, [("x", x)],
         [("rows", table[y]), ("counts2", counts * counts), ("inverse", inv.astype(np.int64)),
          ("y_id", y), ("y", y)], [("table", table)])


def compress_sigmoid(root):
    """Compress along an axis with a data condition, then a unary op and a transpose."""
    x = np.arange(12, dtype=np.float32).reshape(4, 3) / 6 - 1
    cond = np.array([True, False, True, True])
    c = x[cond]
    nodes = [helper.make_node("Compress", ["x", "cond"], ["c"], axis=0),
             helper.make_node("Sigmoid", ["c"], ["s"]),
             helper.make_node("Transpose", ["s"], ["t"], perm=[1, 0])]
    save(root, "compress_sigmoid", nodes, [("x", x), ("cond", cond)],
         [("t", (1 / (1 + np.exp(-c))).T.astype(np.float32).copy())])


def nms_boxes(root):
    """NonMaxSuppression -> Gather of the box column -> Gather of the selected boxes."""
    boxes = np.array([[[0, 0, 1, 1], [0, 0.1, 1, 1.1], [0, -0.1, 1, 0.9],
                       [0, 10, 1, 11], [0, 10.1, 1, 11.1], [0, 100, 1, 101]]], dtype=np.float32)
    scores = np.array([[[0.9, 0.75, 0.6, 0.95, 0.5, 0.3]]], dtype=np.float32)
    selected = np.array([[0, 0, 3], [0, 0, 0], [0, 0, 5]], dtype=np.int64)
    nodes = [helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "score"], ["sel"]),
             helper.make_node("Gather", ["sel", "col"], ["which"], axis=1),
             helper.make_node("Gather", ["boxes0", "which"], ["picked"], axis=0)]
    save(root, "nms_boxes", nodes, [("boxes0", boxes[0]), ("scores", scores)],
         [("picked", boxes[0][selected[:, 2]])],
         [("boxes", boxes), ("max_out", np.array([3], dtype=np.int64)), ("iou", np.array([0.5], dtype=np.float32)),
          ("score", np.array([0.0], dtype=np.float32)), ("col", np.array(2, dtype=np.int64))])


def nonzero_folded(root):
    """NonZero of a constant is folded at compile time to its exact static shape, so any op
    may consume it (here Reshape, which rejects run-time shapes)."""
    c = np.array([[0, 7], [5, 0], [0, 1]], dtype=np.float32)
    nz = np.array(np.nonzero(c), dtype=np.int64)
    x = np.arange(nz.size, dtype=np.int64)
    nodes = [helper.make_node("NonZero", ["c"], ["nz"]),
             helper.make_node("Reshape", ["nz", "flat"], ["r"]),
             helper.make_node("Add", ["r", "x"], ["y"])]
    save(root, "nonzero_folded", nodes, [("x", x)], [("y", nz.reshape(-1) + x)],
         [("c", c), ("flat", np.array([-1], dtype=np.int64))])


def scatter_reductions(root):
    """ScatterElements and ScatterND with the max and min reductions of opset 18, duplicate
    indices included (each update combines with the result of the previous ones)."""
    data = np.array([[1, 5, 3], [4, 2, 6]], dtype=np.float32)
    ind = np.array([[2, 2, 0], [1, 1, 1]], dtype=np.int64)
    upd = np.array([[7, 0, 9], [3, -1, 8]], dtype=np.float32)
    nd_ind = np.array([[0, 1], [1, 2], [0, 1]], dtype=np.int64)
    nd_upd = np.array([0, 10, 4], dtype=np.float32)
    nodes, outputs = [], []
    for red, f in (("max", np.maximum), ("min", np.minimum)):
        el = data.copy()
        for i in range(2):
            for j in range(3):
                el[i, ind[i, j]] = f(el[i, ind[i, j]], upd[i, j])
        nd = data.copy()
        for k in range(3):
            nd[tuple(nd_ind[k])] = f(nd[tuple(nd_ind[k])], nd_upd[k])
        nodes += [helper.make_node("ScatterElements", ["data", "ind", "upd"], ["el_" + red], axis=1, reduction=red),
                  helper.make_node("ScatterND", ["data", "nd_ind", "nd_upd"], ["nd_" + red], reduction=red)]
        outputs += [("el_" + red, el), ("nd_" + red, nd)]
    save(root, "scatter_reductions", nodes, [("data", data), ("upd", upd), ("nd_upd", nd_upd)], outputs,
         [("ind", ind), ("nd_ind", nd_ind)], opset=18)


def topk_ties(root):
    """TopK along a middle axis with equal values: the lower index comes first, for the
    largest and the smallest."""
    x = np.array([[[1, 3], [3, 3], [2, 1], [3, 0]]], dtype=np.float32)  # [1, 4, 2]
    k = 3
    nodes = [helper.make_node("TopK", ["x", "k"], ["lv", "li"], axis=1),
             helper.make_node("TopK", ["x", "k"], ["sv", "si"], axis=1, largest=0)]
    li = np.argsort(-x, axis=1, kind="stable")[:, :k]
    si = np.argsort(x, axis=1, kind="stable")[:, :k]
    save(root, "topk_ties", nodes, [("x", x)],
         [("lv", np.take_along_axis(x, li, 1)), ("li", li.astype(np.int64)),
          ("sv", np.take_along_axis(x, si, 1)), ("si", si.astype(np.int64))],
         [("k", np.array([k], dtype=np.int64))])


def topk_runtime_k(root):
    """TopK whose K is computed from the data (the count of positive entries of m), so it is
    known only at run time: the outputs are dynamic, bounded by the axis; K is also an output,
    so the input m is data and stays a run-time input."""
    x = np.array([[3, 1, 4, 1, 5, 9], [2, 6, 5, 3, 5, 8]], dtype=np.float32)
    m = np.array([1, -1, 2, 3], dtype=np.float32)
    k = int((m > 0).sum())
    nodes = [helper.make_node("Greater", ["m", "zero"], ["pos"]),
             helper.make_node("Cast", ["pos"], ["posi"], to=TensorProto.INT64),
             helper.make_node("ReduceSum", ["posi"], ["k"], keepdims=1),
             helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=1)]
    idx = np.argsort(-x, axis=1, kind="stable")[:, :k]
    save(root, "topk_runtime_k", nodes, [("x", x), ("m", m)],
         [("v", np.take_along_axis(x, idx, 1)), ("i", idx.astype(np.int64)), ("k", np.array([k], dtype=np.int64))],
         [("zero", np.array(0, dtype=np.float32))])


def main():
    models = sys.argv[1]
    for gen in (nonzero_gathernd, compress_nonzero, nonzero_eltwise, unique_gather, compress_sigmoid, nms_boxes,
                nonzero_folded, scatter_reductions, topk_ties, topk_runtime_k):
        gen(models)


if __name__ == "__main__":
    main()
