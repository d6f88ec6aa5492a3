# half.py — float16 and bfloat16 models end to end: a conv net (Conv, BatchNormalization, Relu,
# MaxPool, GlobalAveragePool, Gemm, Softmax), an MLP (MatMul, Add, Tanh, Sigmoid) and an LSTM,
# every weight and activation in the half type. The references compute each op in float32 from
# half inputs and round its output to the half type, as the compiled code does (ONNX fixes
# the types, not the internal precision).
import numpy as np
from onnx import TensorProto, helper

from casegen import save

rng = np.random.default_rng(5)


def to_bf16_bits(x):
    bits = np.asarray(x, np.float32).view(np.uint32)
    return ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def from_bf16_bits(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


class Half:
    """Rounding to the half type and its tensors (float16 natively; bfloat16 as raw bits)."""

    def __init__(self, kind):
        self.kind = kind
        self.onnx = TensorProto.FLOAT16 if kind == "float16" else TensorProto.BFLOAT16

    def round(self, x):
        x = np.asarray(x, np.float32)
        return x.astype(np.float16).astype(np.float32) if self.kind == "float16" else from_bf16_bits(to_bf16_bits(x))

    def tensor(self, name, x):
        if self.kind == "float16":
            return np.asarray(x, np.float32).astype(np.float16)
        t = helper.make_tensor(name, TensorProto.BFLOAT16, list(np.shape(x)), to_bf16_bits(x).tobytes(), raw=True)
        return t


def conv2d(x, w, pads):
    xp = np.pad(x, ((0, 0), (0, 0), (pads, pads), (pads, pads)))
    n, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    oh, ow = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
    y = np.zeros((n, m, oh, ow))
    for i in range(kh):
        for j in range(kw):
            y += np.einsum("nchw,mc->nmhw", xp[:, :, i:i + oh, j:j + ow], w[:, :, i, j])
    return y


def convnet(h):
    r = h.round
    x = r(rng.normal(0, 1, (2, 3, 10, 10)))
    w1, b1 = r(rng.normal(0, 0.3, (8, 3, 3, 3))), r(rng.normal(0, 0.1, 8))
    gamma, beta = r(rng.uniform(0.5, 1.5, 8)), r(rng.normal(0, 0.1, 8))
    mean, var = r(rng.normal(0, 0.1, 8)), r(rng.uniform(0.5, 1.5, 8))
    w2, b2 = r(rng.normal(0, 0.3, (5, 8))), r(rng.normal(0, 0.1, 5))
    c = r(conv2d(x, w1, 1) + b1[None, :, None, None])
    bn = r((c - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5) * gamma[None, :, None, None] +
           beta[None, :, None, None])
    a = np.maximum(bn, 0)
    p = r(a.reshape(2, 8, 5, 2, 5, 2).max(axis=(3, 5)))
    g = r(p.mean(axis=(2, 3)))
    z = r(g @ w2.T + b2)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    y = r(e / e.sum(axis=1, keepdims=True))
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["bn"]),
             helper.make_node("Relu", ["bn"], ["a"]),
             helper.make_node("MaxPool", ["a"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("GlobalAveragePool", ["p"], ["gp"]),
             helper.make_node("Flatten", ["gp"], ["g"]),
             helper.make_node("Gemm", ["g", "w2", "b2"], ["z"], transB=1),
             helper.make_node("Softmax", ["z"], ["y"], axis=1)]
    inits = [(n, h.tensor(n, v)) for n, v in (("w1", w1), ("b1", b1), ("gamma", gamma), ("beta", beta), ("mean", mean),
                                              ("var", var), ("w2", w2), ("b2", b2))]
    save(f"{h.kind}_convnet", nodes, [("x", h.tensor("x", x))], [("y", h.tensor("y", y))], 13, inits)


def mlp(h):
    r = h.round
    x = r(rng.normal(0, 1, (4, 20)))
    w1, b1 = r(rng.normal(0, 0.3, (20, 16))), r(rng.normal(0, 0.1, 16))
    w2 = r(rng.normal(0, 0.3, (16, 6)))
    t = r(np.tanh(r(r(x @ w1) + b1)))
    y = r(1 / (1 + np.exp(-r(t @ w2))))
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["m1"]), helper.make_node("Add", ["m1", "b1"], ["a1"]),
             helper.make_node("Tanh", ["a1"], ["t"]), helper.make_node("MatMul", ["t", "w2"], ["m2"]),
             helper.make_node("Sigmoid", ["m2"], ["y"])]
    save(f"{h.kind}_mlp", nodes, [("x", h.tensor("x", x))], [("y", h.tensor("y", y))], 13,
         [(n, h.tensor(n, v)) for n, v in (("w1", w1), ("b1", b1), ("w2", w2))])


def lstm(h):
    """One-directional LSTM (default activations), sequence 5, batch 2, hidden 4: gates in
    float32 from the half inputs, each output rounded to the half type."""
    r = h.round
    T, B, I, H = 5, 2, 3, 4
    x = r(rng.normal(0, 1, (T, B, I)))
    W, R = r(rng.normal(0, 0.4, (1, 4 * H, I))), r(rng.normal(0, 0.4, (1, 4 * H, H)))
    Bias = r(rng.normal(0, 0.1, (1, 8 * H)))
    sig = lambda v: 1 / (1 + np.exp(-v))
    ht, ct = np.zeros((B, H), np.float32), np.zeros((B, H), np.float32)
    ys = []
    for t in range(T):
        g = x[t] @ W[0].T + ht @ R[0].T + Bias[0, :4 * H] + Bias[0, 4 * H:]
        i, o, f, c = sig(g[:, :H]), sig(g[:, H:2 * H]), sig(g[:, 2 * H:3 * H]), np.tanh(g[:, 3 * H:])
        ct = (f * ct + i * c).astype(np.float32)
        ht = (o * np.tanh(ct)).astype(np.float32)
        ys.append(r(ht))
    y = np.stack(ys)[:, None]
    node = helper.make_node("LSTM", ["x", "W", "R", "B"], ["y", "yh", "yc"], hidden_size=H)
    save(f"{h.kind}_lstm", [node], [("x", h.tensor("x", x))],
         [("y", h.tensor("y", y)), ("yh", h.tensor("yh", r(ht)[None])), ("yc", h.tensor("yc", r(ct)[None]))], 14,
         [(n, h.tensor(n, v)) for n, v in (("W", W), ("R", R), ("B", Bias))])


for kind in ("float16", "bfloat16"):
    convnet(Half(kind))
    mlp(Half(kind))
    lstm(Half(kind))
