# gen_fusion.py — graphs the optimization passes rewrite: BatchNormalization folded into Conv
# (passes/fold_batchnorm.c) and elementwise chains fused into the epilogue of Conv, Gemm and
# MatMul (passes/fuse_epilogue.c, ops/epilogue.c), applied in registers or over finished
# tiles or while cropping; and the cases where a pass must hold back (a value read twice,
# an intermediate that is a graph output, training-mode BN).
import math
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import numpy as np  # noqa: E402
from onnx import helper  # noqa: E402

from gen_dense import conv_ref  # noqa: E402
from testgen import rng, save_graph  # noqa: E402

r = rng(20)
f = np.float32
erf = np.vectorize(math.erf)


def node(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def randn(*shape):
    return r.standard_normal(shape).astype(f)


def bn_ref(x, s, b, m, v, eps=1e-5):
    sh = (1, -1) + (1,) * (x.ndim - 2)
    return (x - m.reshape(sh)) / np.sqrt(v.reshape(sh) + eps) * s.reshape(sh) + b.reshape(sh)


def bn_params(c):
    return [r.uniform(0.5, 1.5, c).astype(f), randn(c), randn(c), r.uniform(0.5, 1.5, c).astype(f)]


def conv_bn_act(name, act, xs=(1, 6, 9, 10), cout=12, k=3, pad=1, stride=1, group=1):
    x, w = randn(*xs), randn(cout, xs[1] // group, k, k)
    p = bn_params(cout)
    nodes = [node("Conv", ["X", "W"], ["c"], kernel_shape=[k, k], pads=[pad] * 4, strides=[stride] * 2, group=group),
             node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"])]
    y = bn_ref(conv_ref(x, w, None, (stride, stride), [pad] * 4, (1, 1), group).astype(np.float64), *p)
    inits = [("W", w), ("s", p[0]), ("b", p[1]), ("m", p[2]), ("v", p[3])]
    if act is None:
        nodes[-1].output[0] = "Y"
    elif act == "relu":
        nodes.append(node("Relu", ["n"], ["Y"]))
        y = np.maximum(y, 0)
    elif act == "relu6":
        nodes.append(node("Clip", ["n", "lo", "hi"], ["Y"]))
        inits += [("lo", np.array(0, f)), ("hi", np.array(6, f))]
        y = np.clip(y, 0, 6)
    elif act == "silu":
        nodes += [node("Sigmoid", ["n"], ["sg"]), node("Mul", ["n", "sg"], ["Y"])]
        y = y / (1 + np.exp(-y))
    save_graph(f"test_fusion_{name}", nodes, [("X", x)], [("Y", y.astype(f))], inits)


conv_bn_act("conv_bn", None)
conv_bn_act("conv_bn_relu", "relu")
conv_bn_act("conv_bn_relu6_dw", "relu6", xs=(1, 8, 11, 11), cout=8, group=8, stride=2)
conv_bn_act("conv_bn_silu_1x1", "silu", xs=(1, 16, 6, 7), cout=20, k=1, pad=0)
conv_bn_act("conv_bn_silu", "silu", xs=(1, 5, 12, 12), cout=17)

# Residual block tail: Conv + bias, Add of the shortcut, Relu; 1x1 (no crop), 3x3 (crop) and
# 3x3 large enough to be cropped in chunks of rows.
for k, hw, c in ((1, (7, 9), 8), (3, (7, 9), 8), (3, (120, 100), 16), (3, (5, 6), 32)):
    x, w, b, sc = randn(1, c, *hw), randn(c, c, k, k), randn(c), randn(1, c, *hw)
    y = np.maximum(conv_ref(x, w, b, (1, 1), [k // 2] * 4, (1, 1), 1).astype(np.float64) + sc, 0)
    k = "chunked" if hw[0] >= 100 else "transposed" if c == 32 else f"{k}x{k}"
    save_graph(f"test_fusion_conv_add_relu_{k}", [node("Conv", ["X", "W", "B"], ["c"], pads=[w.shape[2] // 2] * 4),
                                                      node("Add", ["c", "S"], ["a"]), node("Relu", ["a"], ["Y"])],
               [("X", x), ("S", sc)], [("Y", y.astype(f))], [("W", w), ("B", b)])

# Operands broadcast along one spatial dim only: not contiguous over the flattened columns,
# so the epilogue runs over finished tiles; Sin calls libm, so it cannot run on vectors.
x, w, h, col = randn(2, 4, 5, 6), randn(6, 4, 1, 1), randn(1, 1, 5, 1), randn(6, 1, 1)
y = conv_ref(x, w, None, (1, 1), [0] * 4, (1, 1), 1).astype(np.float64) * h + col
save_graph("test_fusion_conv_broadcast_rows", [node("Conv", ["X", "W"], ["c"]), node("Mul", ["c", "H"], ["m"]),
                                               node("Add", ["m", "C"], ["Y"])],
           [("X", x), ("H", h)], [("Y", y.astype(f))], [("W", w), ("C", col)])
x, w = randn(1, 3, 6, 6), randn(5, 3, 1, 1)
save_graph("test_fusion_conv_sin", [node("Conv", ["X", "W"], ["c"]), node("Sin", ["c"], ["Y"])], [("X", x)],
           [("Y", np.sin(conv_ref(x, w, None, (1, 1), [0] * 4, (1, 1), 1).astype(np.float64)).astype(f))], [("W", w)])

# Transformer feed-forward: MatMul + bias, GELU written with Erf, residual Add.
x, w, b = randn(1, 19, 24), randn(24, 40), randn(40)
h = x.astype(np.float64) @ w + b
g = h * 0.5 * (1 + erf(h / math.sqrt(2)))
save_graph("test_fusion_matmul_gelu",
           [node("MatMul", ["X", "W"], ["mm"]), node("Add", ["mm", "B"], ["h"]), node("Div", ["h", "r2"], ["d"]),
            node("Erf", ["d"], ["e"]), node("Add", ["e", "one"], ["e1"]), node("Mul", ["h", "e1"], ["p"]),
            node("Mul", ["p", "half"], ["Y"])],
           [("X", x)], [("Y", g.astype(f))],
           [("W", w), ("B", b), ("r2", np.array(math.sqrt(2), f)), ("one", np.array(1, f)), ("half", np.array(0.5, f))])
# Batched MatMul of two computed operands with a per-row scale and a residual.
a, bm, s, res = randn(2, 3, 9, 8), randn(2, 3, 8, 21), randn(2, 1, 9, 1), randn(2, 3, 9, 21)
save_graph("test_fusion_matmul_batched", [node("MatMul", ["A", "B"], ["mm"]), node("Mul", ["mm", "S"], ["m"]),
                                          node("Add", ["m", "R"], ["Y"])],
           [("A", a), ("B", bm), ("S", s), ("R", res)], [("Y", (a.astype(np.float64) @ bm * s + res).astype(f))])
# Gemm + Relu, the MLP layer.
a, w, c = randn(13, 30), randn(45, 30), randn(45)
save_graph("test_fusion_gemm_relu", [node("Gemm", ["A", "W", "C"], ["g"], transB=1), node("Relu", ["g"], ["Y"])],
           [("A", a)], [("Y", np.maximum(a.astype(np.float64) @ w.T + c, 0).astype(f))], [("W", w), ("C", c)])

# Holding back: the Conv result is also a graph output (no BN fold, no fusion past it); an
# intermediate read by a later non-elementwise node; BN in training mode is not folded.
x, w = randn(1, 3, 5, 5), randn(4, 3, 3, 3)
p = bn_params(4)
c = conv_ref(x, w, None, (1, 1), [1] * 4, (1, 1), 1)
n = bn_ref(c.astype(np.float64), *p)
save_graph("test_fusion_hold_output", [node("Conv", ["X", "W"], ["C"], pads=[1] * 4),
                                       node("BatchNormalization", ["C", "s", "b", "m", "v"], ["n"]),
                                       node("Relu", ["n"], ["Y"])],
           [("X", x)], [("C", c), ("Y", np.maximum(n, 0).astype(f))],
           [("W", w), ("s", p[0]), ("b", p[1]), ("m", p[2]), ("v", p[3])])
t = np.tanh(c.astype(np.float64))
save_graph("test_fusion_hold_escape", [node("Conv", ["X", "W"], ["c"], pads=[1] * 4), node("Tanh", ["c"], ["t"]),
                                       node("ReduceSum", ["t"], ["R"], axes=[1], keepdims=1),
                                       node("Mul", ["t", "t"], ["Y"])],
           [("X", x)], [("R", t.sum(axis=1, keepdims=True).astype(f)), ("Y", (t * t).astype(f))], [("W", w)], opset=12)
