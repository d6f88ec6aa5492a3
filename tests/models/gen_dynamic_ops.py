#!/usr/bin/python3
"""Model tests for data-dependent shapes through the shape-polymorphic ops: one chain per op
family, each starting from NonZero (select: NonZero -> Squeeze -> Gather), Compress or
NonMaxSuppression, whose output sizes depend on the data, with numpy reference outputs. Folders are named dyn_*; see gen_dynamic.py for
the ops that produce data-dependent shapes themselves.
"""
import sys

import numpy as np
from onnx import TensorProto, helper

from gen_dynamic import save

F32 = np.float32
I64 = np.int64


def node(op, inputs, outputs, **attrs):
    return helper.make_node(op, inputs, outputs, **attrs)


def ints(*v):
    return np.array(v, dtype=I64)


def select(src, cond, out, axis):
    """Nodes keeping the slices of SRC along AXIS where COND is true, through NonZero (some
    chains use Compress instead): OUT has a data-dependent length along AXIS."""
    return [node("NonZero", [cond], [out + "_nz"]), node("Squeeze", [out + "_nz"], [out + "_idx"]),
            node("Gather", [src, out + "_idx"], [out], axis=axis)]


def nms(boxes, scores, max_out, iou_thr, score_thr):
    """ONNX NonMaxSuppression (center_point_box 0): rows [batch, class, box] in selection order."""
    def iou(a, b):
        ya, xa = sorted((a[0], a[2])), sorted((a[1], a[3]))
        yb, xb = sorted((b[0], b[2])), sorted((b[1], b[3]))
        h = min(ya[1], yb[1]) - max(ya[0], yb[0])
        w = min(xa[1], xb[1]) - max(xa[0], xb[0])
        if h <= 0 or w <= 0:
            return 0.0
        inter = h * w
        union = (ya[1] - ya[0]) * (xa[1] - xa[0]) + (yb[1] - yb[0]) * (xb[1] - xb[0]) - inter
        return inter / union
    rows = []
    for b in range(scores.shape[0]):
        for c in range(scores.shape[1]):
            kept = []
            for s in np.argsort(-scores[b, c], kind="stable"):
                if len(kept) == max_out or scores[b, c, s] <= score_thr:
                    break
                if all(iou(boxes[b, s], boxes[b, k]) <= iou_thr for k in kept):
                    kept.append(s)
            rows += [[b, c, k] for k in kept]
    return np.array(rows, dtype=I64).reshape(-1, 3)


def detector(root):
    """Detector post-processing as graph-surgeon tools export it: NonMaxSuppression ->
    Gather(axis=1) -> Transpose -> Gather(boxes, idx, axis=1) -> Squeeze(axes=[1]), the
    detections assembled as [box, score, class] rows (GatherND, Unsqueeze, Cast, Concat), and
    their count read at run time (Shape -> Gather; Size)."""
    rng = np.random.default_rng(11)
    centers = rng.uniform(0, 20, size=(8, 2))
    centers[1] = centers[0] + 0.2  # overlapping pairs: suppressed
    centers[5] = centers[4] + 0.3
    boxes = np.concatenate([centers - 1, centers + 1], axis=1)[None].astype(F32)  # [1, 8, 4]
    scores = rng.uniform(0, 1, size=(1, 2, 8)).astype(F32)
    sel = nms(boxes, scores, 6, 0.5, 0.5)  # 8 of at most 12 rows
    picked = boxes[0][sel[:, 2]][None]  # [1, K, 4]
    dets = np.concatenate([picked[0], scores[sel[:, 0], sel[:, 1], sel[:, 2]][:, None],
                           sel[:, 1:2].astype(F32)], axis=1)
    nodes = [node("NonMaxSuppression", ["boxes", "scores", "max_out", "iou", "score_thr"], ["sel"]),
             node("Gather", ["sel", "box_col"], ["box_idx"], axis=1),
             node("Transpose", ["box_idx"], ["box_idx_t"]),
             node("Gather", ["boxes", "box_idx_t"], ["gathered"], axis=1),
             node("Squeeze", ["gathered", "one"], ["picked"]),
             node("Squeeze", ["picked", "zero"], ["picked_rows"]),
             node("GatherND", ["scores", "sel"], ["picked_scores"]),
             node("Unsqueeze", ["picked_scores", "one"], ["score_col"]),
             node("Gather", ["sel", "class_col"], ["cls"], axis=1),
             node("Cast", ["cls"], ["cls_f"], to=TensorProto.FLOAT),
             node("Concat", ["picked_rows", "score_col", "cls_f"], ["dets"], axis=1),
             node("Shape", ["sel"], ["sel_shape"]),
             node("Gather", ["sel_shape", "zero"], ["count"]),
             node("Size", ["dets"], ["dets_size"])]
    save(root, "dyn_detector", nodes, [("boxes", boxes), ("scores", scores)],
         [("picked", picked), ("dets", dets), ("count", ints(len(sel))), ("dets_size", np.array(dets.size, I64))],
         [("max_out", ints(6)), ("iou", np.array([0.5], F32)), ("score_thr", np.array([0.5], F32)),
          ("box_col", ints(2)), ("class_col", ints(1)), ("one", ints(1)), ("zero", ints(0))])


def views(root):
    """Views of data-dependent shapes have their own run-time dims: Reshape with -1 and with 0
    (copying a data-dependent dim), Flatten, Unsqueeze, Squeeze, Identity; and Squeeze of a
    data-dependent dim that is 1 at run time (bounded by 3), which leaves a static shape."""
    x = np.array([[0, 1.5, 0, 2], [3, 0, 0, 0], [0, -1, 4, 0]], dtype=F32)
    idx = np.array(np.nonzero(x), dtype=I64).T  # [N, 2]
    vals = x[np.nonzero(x)]
    nodes = [node("NonZero", ["x"], ["nz"]),
             node("Transpose", ["nz"], ["idx"]),
             node("GatherND", ["x", "idx"], ["vals"]),
             node("Reshape", ["vals", "col_shape"], ["col"]),
             node("Mul", ["col", "scale"], ["table"]),
             node("Unsqueeze", ["vals", "zero"], ["row"]),
             node("Flatten", ["idx"], ["flat"], axis=0),
             node("Reshape", ["idx", "keep_n"], ["idx3"]),
             node("Squeeze", ["idx3", "two"], ["idx2"]),
             node("Identity", ["idx2"], ["same_i"]),
             node("Cast", ["same_i"], ["same"], to=TensorProto.FLOAT),
             node("Transpose", ["row"], ["row_t"]),
             node("Add", ["same", "row_t"], ["shifted"]),
             node("Compress", ["x", "pick"], ["one_row"], axis=0),
             node("Squeeze", ["one_row", "zero"], ["squeezed"]),
             node("Mul", ["squeezed", "squeezed"], ["squared"])]
    scale = np.array([[1, 10]], dtype=F32)
    pick = np.array([0, 0, 1], dtype=bool)
    save(root, "dyn_views", nodes, [("x", x), ("pick", pick)],
         [("table", vals[:, None] * scale), ("row", vals[None]), ("flat", idx.reshape(1, -1)),
          ("shifted", idx.astype(F32) + vals[:, None]), ("squared", x[2] * x[2])],
         [("col_shape", ints(-1, 1)), ("scale", scale), ("zero", ints(0)), ("keep_n", ints(0, 2, 1)),
          ("two", ints(2))])


def copies(root):
    """Concat (along the data-dependent axis and across it), Slice with constant parameters
    (negative starts, a negative step), Split into equal parts of the run-time axis and into
    given sizes across it, of the rows NonZero selects."""
    x = np.arange(21, dtype=F32).reshape(7, 3) - 5
    cond = np.array([1, 0, 1, 1, 0, 1, 1], dtype=bool)
    r = x[cond]
    k = len(r)
    half = (k + 1) // 2
    nodes = select("x", "cond", "r", 0) + [
             node("Add", ["r", "r"], ["r2"]),
             node("Concat", ["r", "r2"], ["rows"], axis=0),
             node("Concat", ["r", "r2", "x_first"], ["cols"], axis=1),
             node("Slice", ["r", "s1", "e1", "a0"], ["inner"]),
             node("Slice", ["r", "s2", "e2", "a0", "st2"], ["backwards"]),
             node("Slice", ["r", "s3", "e3", "a1"], ["two_cols"]),
             node("Split", ["r"], ["top", "bottom"], axis=0),
             node("Split", ["r", "sizes"], ["left", "right"], axis=1)]
    save(root, "dyn_copies", nodes, [("x", x), ("cond", cond), ("x_first", x[cond][:, :1] * 0 + 7)],
         [("rows", np.concatenate([r, 2 * r])), ("cols", np.concatenate([r, 2 * r, np.full((k, 1), 7, F32)], 1)),
          ("inner", r[1:-1]), ("backwards", r[-1::-2]), ("two_cols", r[:, 0:2]),
          ("top", r[:half]), ("bottom", r[half:]), ("left", r[:, :1]), ("right", r[:, 1:])],
         [("s1", ints(1)), ("e1", ints(-1)), ("a0", ints(0)), ("s2", ints(-1)), ("e2", ints(-1000)),
          ("st2", ints(-2)), ("s3", ints(0)), ("e3", ints(2)), ("a1", ints(1)), ("sizes", ints(1, 2))])


def pads(root):
    """Pad (constant, reflect, edge) across and along a data-dependent axis, Tile and Expand."""
    x = np.arange(12, dtype=F32).reshape(6, 2) * 0.5
    cond = np.array([0, 1, 1, 0, 1, 0], dtype=bool)
    r = x[cond]  # [3, 2]
    nodes = select("x", "cond", "r", 0) + [
             node("Pad", ["r", "p_const", "nine"], ["constant"], mode="constant"),
             node("Pad", ["r", "p_reflect"], ["reflect"], mode="reflect"),
             node("Pad", ["r", "p_edge"], ["edge"], mode="edge"),
             node("Tile", ["r", "reps"], ["tiled"]),
             node("Slice", ["r", "zero", "one", "one"], ["first_col"]),
             node("Expand", ["first_col", "wide"], ["expanded"]),
             node("Expand", ["r", "stacked"], ["stacked_r"])]
    save(root, "dyn_pads", nodes, [("x", x), ("cond", cond)],
         [("constant", np.pad(r, ((1, 0), (0, 2)), constant_values=9)),
          ("reflect", np.pad(r, ((2, 1), (1, 0)), mode="reflect")),
          ("edge", np.pad(r, ((2, 1), (0, 1)), mode="edge")),
          ("tiled", np.tile(r, (2, 3))), ("expanded", np.broadcast_to(r[:, :1], (len(r), 4)).copy()),
          ("stacked_r", np.broadcast_to(r, (2, len(r), 2)).copy())],
         [("p_const", ints(1, 0, 0, 2)), ("nine", np.array(9, F32)), ("p_reflect", ints(2, 1, 1, 0)),
          ("p_edge", ints(2, 0, 1, 1)), ("reps", ints(2, 3)), ("zero", ints(0)), ("one", ints(1)),
          ("wide", ints(1, 4)), ("stacked", ints(2, 1, 1))])


def casts(root):
    """Cast and Where (a data-dependent condition and operands, broadcasting static ones)."""
    x = np.array([[1.5, -2.25, 3], [0, 0, 0], [-4.75, 5, -0.5], [2, 2, -2]], dtype=F32)
    cond = np.array([1, 0, 1, 1], dtype=bool)
    r = x[cond]
    nodes = [node("Compress", ["x", "cond"], ["r"], axis=0),
             node("Cast", ["r"], ["as_int"], to=TensorProto.INT32),
             node("Cast", ["as_int"], ["back"], to=TensorProto.DOUBLE),
             node("Greater", ["r", "zero"], ["pos"]),
             node("Where", ["pos", "r", "minus_one"], ["clipped"]),
             node("Where", ["pos", "lo", "hi"], ["picked"])]
    lo, hi = np.array([[1, 2, 3]], F32), np.array([10], F32)
    save(root, "dyn_casts", nodes, [("x", x), ("cond", cond)],
         [("as_int", r.astype(np.int32)), ("back", r.astype(np.int32).astype(np.float64)),
          ("clipped", np.where(r > 0, r, F32(-1))), ("picked", np.where(r > 0, lo, hi))],
         [("zero", np.array(0, F32)), ("minus_one", np.array(-1, F32)), ("lo", lo), ("hi", hi)])


def reductions(root):
    """Every Reduce*, ArgMax and ArgMin over a data-dependent axis (the middle one of three)
    and across it; reducing it away gives a static shape, which an op without support for
    data-dependent shapes (Einsum) then takes."""
    x = (np.arange(30, dtype=F32).reshape(2, 5, 3) % 7 - 2.5) * 0.75
    x[1, 3, 2] = x[1, 0, 2]  # a tie for the last-index variants
    cond = np.array([1, 1, 0, 1, 1], dtype=bool)
    m = x[:, cond]  # [2, K, 3]
    def summed(g):
        return lambda a, axis, keepdims: g(np.sum(a, axis, keepdims=keepdims))

    # op: (its input, the reference applied to it as reduced by np.sum, or a numpy reduction)
    reduces = {"ReduceSum": ("m", np.sum), "ReduceMean": ("m", np.mean), "ReduceMax": ("m", np.max),
               "ReduceMin": ("m", np.min), "ReduceProd": ("m", np.prod), "ReduceL1": ("am", np.sum),
               "ReduceL2": ("sq", summed(np.sqrt)), "ReduceLogSum": ("m1", summed(np.log)),
               "ReduceLogSumExp": ("em", summed(np.log)), "ReduceSumSquare": ("sq", np.sum)}
    m64 = m.astype(np.float64)
    refs = {"m": m64, "am": np.abs(m64), "m1": np.abs(m64) + 1, "sq": m64 * m64, "em": np.exp(m64)}
    inputs = {"m": "m", "am": "m", "m1": "m1", "sq": "m", "em": "m"}
    nodes = select("x", "cond", "m", 1) + [node("Abs", ["m"], ["am"]), node("Add", ["am", "one"], ["m1"])]
    outputs = []
    for i, (op, (ref, f)) in enumerate(reduces.items()):
        axes, keep = ([1], 1) if i % 2 == 0 else ([2], 0)
        ins = [inputs[ref], "axes%d" % axes[0]] if op == "ReduceSum" else [inputs[ref]]
        attrs = {} if op == "ReduceSum" else {"axes": axes}
        nodes.append(node(op, ins, ["out_" + op], keepdims=keep, **attrs))
        outputs.append(("out_" + op, f(refs[ref], axis=axes[0], keepdims=bool(keep)).astype(F32)))
    nodes += [node("ArgMax", ["m"], ["argmax"], axis=1),
              node("ArgMin", ["m"], ["argmin_last"], axis=1, keepdims=0, select_last_index=1),
              node("ArgMax", ["m"], ["argmax_cols"], axis=2, keepdims=0),
              node("ReduceMax", ["m"], ["peak"], axes=[0, 1], keepdims=0),
              node("Einsum", ["peak", "peak"], ["outer"], equation="i,j->ij")]
    argmin_last = m.shape[1] - 1 - np.argmin(m[:, ::-1], axis=1)
    peak = m.max(axis=(0, 1))
    outputs += [("argmax", np.argmax(m, axis=1)[:, None].astype(I64)), ("argmin_last", argmin_last.astype(I64)),
                ("argmax_cols", np.argmax(m, axis=2).astype(I64)), ("outer", np.outer(peak, peak))]
    save(root, "dyn_reductions", nodes, [("x", x), ("cond", cond)], outputs,
         [("one", np.array(1, F32)), ("axes1", ints(1))])


def softmaxes(root):
    """Softmax, LogSoftmax, Hardmax and CumSum along a data-dependent axis and across it."""
    x = np.sin(np.arange(24, dtype=F32)).reshape(2, 4, 3) * 3
    x[0, 3, 1] = x[0, 0, 1]  # a tie for Hardmax: the first wins
    cond = np.array([1, 0, 1, 1], dtype=bool)
    m = x[:, cond].astype(np.float64)

    def softmax(a, axis):
        e = np.exp(a - a.max(axis, keepdims=True))
        return e / e.sum(axis, keepdims=True)

    hard = np.zeros_like(m)
    np.put_along_axis(hard, np.argmax(m, axis=1)[:, None], 1, axis=1)
    nodes = select("x", "cond", "m", 1) + [
             node("Softmax", ["m"], ["soft"], axis=1),
             node("LogSoftmax", ["m"], ["logsoft"], axis=-1),
             node("Hardmax", ["m"], ["hard"], axis=1),
             node("CumSum", ["m", "one"], ["cum"]),
             node("CumSum", ["m", "one"], ["cum_rev"], reverse=1, exclusive=1)]
    rev = np.flip(np.cumsum(np.flip(m, 1), 1), 1) - m
    save(root, "dyn_softmax", nodes, [("x", x), ("cond", cond)],
         [("soft", softmax(m, 1).astype(F32)), ("logsoft", np.log(softmax(m, 2)).astype(F32)), ("hard", hard.astype(F32)),
          ("cum", np.cumsum(m, 1).astype(F32)), ("cum_rev", rev.astype(F32))],
         [("one", ints(1))])


def topk(root, name, cond):
    """TopK with a constant K along a data-dependent axis: K = min(K, its run-time length);
    and across it."""
    x = np.array([[3, 1], [9, -2], [4, 4], [1, 8], [5, 0], [2, 6]], dtype=F32)
    r = x[cond]
    k = min(3, len(r))
    nodes = select("x", "cond", "r", 0) + [
             node("TopK", ["r", "three"], ["v", "i"], axis=0),
             node("TopK", ["r", "one"], ["sv", "si"], axis=1, largest=0)]
    order = np.argsort(-r, axis=0, kind="stable")[:k]
    small = np.argsort(r, axis=1, kind="stable")[:, :1]
    save(root, name, nodes, [("x", x), ("cond", cond)],
         [("v", np.take_along_axis(r, order, 0)), ("i", order.astype(I64)),
          ("sv", np.take_along_axis(r, small, 1)), ("si", small.astype(I64))],
         [("three", ints(3)), ("one", ints(1))])


def products(root):
    """MatMul and Gemm on data-dependent rows of A: the GEMM engine with run-time rows (full
    row tiles and the rest), a constant and a run-time B, a batched A, Gemm's bias, alpha,
    beta and transB, an integer product on the generic path; a vector A of data-dependent
    length (it must be B's K) whose product has a static shape, then an Add and a Relu (not
    fused into the product); and a product large enough for the threaded engine."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((16, 4)).astype(F32)
    cond = np.zeros(16, dtype=bool)
    cond[[0, 2, 3, 5, 6, 7, 9, 10, 12, 13, 15]] = True  # 11 rows
    r = x[cond].astype(np.float64)
    w = rng.standard_normal((4, 24)).astype(F32)
    b = rng.standard_normal((4, 3)).astype(F32)
    g = rng.standard_normal((5, 4)).astype(F32)
    c = rng.standard_normal(5).astype(F32)
    wi = np.arange(8, dtype=np.int32).reshape(4, 2) - 3
    nodes = select("x", "cond", "r", 0) + [
             node("MatMul", ["r", "w"], ["rw"]),
             node("MatMul", ["r", "b"], ["rb"]),
             node("Unsqueeze", ["r", "zero"], ["r3"]),
             node("MatMul", ["r3", "w"], ["r3w"]),
             node("Gemm", ["r", "g", "c"], ["gemm"], transB=1, alpha=0.5, beta=2.0),
             node("Cast", ["r"], ["ri"], to=TensorProto.INT32),
             node("MatMul", ["ri", "wi"], ["rwi"]),
             node("Compress", ["v", "vcond"], ["vk"]),
             node("MatMul", ["vk", "b"], ["vb"]),
             node("Add", ["vb", "bias"], ["vbb"]),
             node("Relu", ["vbb"], ["vec"]),
             *select("big", "big_cond", "big_r", 0),
             node("MatMul", ["big_r", "big_w"], ["big_out"])]
    ri = x[cond].astype(np.int32)
    v = np.array([1.5, 0, -2, 0.5, 3, 0], dtype=F32)
    vcond = np.array([1, 0, 1, 1, 1, 0], dtype=bool)  # 4 = B's K
    bias = np.array([0.25, -1, 0.5], dtype=F32)
    big = rng.standard_normal((200, 64)).astype(F32)
    big_cond = rng.uniform(size=200) < 0.7
    big_w = rng.standard_normal((64, 256)).astype(F32)
    save(root, "dyn_products", nodes, [("x", x), ("cond", cond), ("b", b), ("v", v), ("vcond", vcond), ("big", big),
                                       ("big_cond", big_cond)],
         [("rw", (r @ w).astype(F32)), ("rb", (r @ b).astype(F32)), ("r3w", (r @ w)[None].astype(F32)),
          ("gemm", (0.5 * r @ g.T.astype(np.float64) + 2.0 * c).astype(F32)), ("rwi", ri @ wi),
          ("vec", np.maximum(v[vcond].astype(np.float64) @ b + bias, 0).astype(F32)),
          ("big_out", (big[big_cond].astype(np.float64) @ big_w).astype(F32))],
         [("w", w), ("zero", ints(0)), ("g", g), ("c", c), ("wi", wi), ("bias", bias), ("big_w", big_w)])


def resizes(root):
    """Resize with scales of masks whose count is data-dependent (the copied axis 0)."""
    x = np.arange(20, dtype=F32).reshape(5, 1, 2, 2) % 7
    cond = np.array([0, 1, 1, 0, 1], dtype=bool)
    m = x[cond]
    near = m.repeat(2, axis=2).repeat(2, axis=3)
    # linear, half_pixel, 2x: each output coordinate o reads (o + 0.5) / 2 - 0.5, clamped
    src = np.clip((np.arange(4) + 0.5) / 2 - 0.5, 0, 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, 1)
    f = src - lo
    rows = m[:, :, lo, :] * (1 - f)[None, None, :, None] + m[:, :, hi, :] * f[None, None, :, None]
    lin = rows[:, :, :, lo] * (1 - f) + rows[:, :, :, hi] * f
    nodes = select("x", "cond", "m", 0) + [
             node("Resize", ["m", "", "scales"], ["near"], mode="nearest"),
             node("Resize", ["m", "", "scales"], ["lin"], mode="linear")]
    save(root, "dyn_resize", nodes, [("x", x), ("cond", cond)], [("near", near), ("lin", lin.astype(F32))],
         [("scales", np.array([1, 1, 2, 2], F32))])


def sequences(root):
    """Sequences of data-dependent tensors: SplitToSequence with sizes across the data-dependent
    axis, SequenceAt, SequenceConstruct, SequenceLength and ConcatFromSequence (with and
    without a new axis)."""
    x = np.arange(15, dtype=F32).reshape(5, 3)
    cond = np.array([1, 1, 0, 0, 1], dtype=bool)
    r = x[cond]
    nodes = select("x", "cond", "r", 0) + [
             node("SplitToSequence", ["r", "sizes"], ["parts"], axis=1),
             node("SequenceAt", ["parts", "one"], ["second"]),
             node("ConcatFromSequence", ["parts"], ["joined"], axis=1),
             node("Pad", ["second", "pad_one"], ["second_pad"]),
             node("SequenceConstruct", ["r", "second_pad"], ["pair"]),
             node("SequenceLength", ["pair"], ["count"]),
             node("ConcatFromSequence", ["pair"], ["stacked"], axis=0, new_axis=1)]
    second = r[:, 1:]
    second_pad = np.pad(second, ((0, 0), (1, 0)))
    save(root, "dyn_sequences", nodes, [("x", x), ("cond", cond)],
         [("second", second), ("joined", r), ("count", np.array(2, I64)), ("stacked", np.stack([r, second_pad]))],
         [("sizes", ints(1, 2)), ("one", ints(1)), ("pad_one", ints(0, 1, 0, 0))])


def sequence_map(root):
    """SequenceMap's body on members of data-dependent shape (each copy of the body takes the
    member's run-time dims)."""
    x = np.arange(12, dtype=F32).reshape(4, 3) - 4
    cond = np.array([1, 0, 1, 1], dtype=bool)
    r = x[cond]
    elem = helper.make_tensor_value_info("e", TensorProto.FLOAT, None)
    body = helper.make_graph([node("Mul", ["e", "e"], ["sq"]), node("ReduceSum", ["sq", "axes"], ["s"], keepdims=1)],
                             "body", [elem], [helper.make_tensor_value_info("s", TensorProto.FLOAT, None)],
                             [helper.make_tensor(n, TensorProto.INT64, [1], [0]) for n in ["axes"]])
    nodes = select("x", "cond", "r", 0) + [
             node("SplitToSequence", ["r", "sizes"], ["parts"], axis=1),
             node("SequenceMap", ["parts"], ["sums"], body=body),
             node("ConcatFromSequence", ["sums"], ["joined"], axis=1)]
    save(root, "dyn_sequence_map", nodes, [("x", x), ("cond", cond)],
         [("joined", np.concatenate([np.sum(r[:, :2] ** 2, 0, keepdims=True), np.sum(r[:, 2:] ** 2, 0, keepdims=True)], 1))],
         [("sizes", ints(2, 1))], opset=17)


def main():
    root = sys.argv[1]
    for gen in (detector, views, copies, pads, casts, reductions, softmaxes, products, resizes, sequences, sequence_map):
        gen(root)
    topk(root, "dyn_topk", np.array([1, 1, 0, 1, 1, 1], dtype=bool))
    topk(root, "dyn_topk_short", np.array([0, 1, 0, 0, 1, 0], dtype=bool))  # 2 rows: K = 2


if __name__ == "__main__":
    main()
