# gen_precision.py — long sums (codegen/sum.c): every op that sums many floats, over the same
# million uniform floats in [1, 3) (mean far from 0, where a serial float32 sum drifts by about
# 1e-5 relative), against float64 references rounded to float32, within 1e-6 relative
# (precision_sums) or 1e-6 of the unit scale of normalized outputs (precision_normalize).
# Large outputs are sampled with strided Slices; Softmax is checked through its maximum,
# exp(0) / denominator.
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import numpy as np  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from casegen import save  # noqa: E402

N = 1000000
OPSET = 18


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.outputs = [], [], []

    def const(self, name, value):
        self.inits.append((name, np.asarray(value)))
        return name

    def node(self, op, inputs, out, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [out] if isinstance(out, str) else out, **attrs))
        return out

    def reshape(self, x, shape):
        name = "x_" + "x".join(map(str, shape))
        if not any(n.output[0] == name for n in self.nodes):
            self.node("Reshape", [x, self.const(name + "_shape", np.array(shape, np.int64))], name)
        return name

    def sample(self, x, axis, step, out):
        """Every STEP-th element along AXIS of X, from STEP - 1 on."""
        self.node("Slice", [x, self.const(out + "_starts", np.array([step - 1], np.int64)),
                            self.const(out + "_ends", np.array([np.iinfo(np.int64).max], np.int64)),
                            self.const(out + "_axes", np.array([axis], np.int64)),
                            self.const(out + "_steps", np.array([step], np.int64))], out)
        return out

    def output(self, name, expected):
        self.outputs.append((name, np.asarray(expected).astype(np.float32)))


def sampled(a, axis, step):
    return np.take(a, np.arange(step - 1, a.shape[axis], step), axis=axis)


def reductions(g, x):
    total = x.sum()
    for op, expected in (("ReduceSum", total), ("ReduceMean", total / N), ("ReduceL1", np.abs(x).sum()),
                         ("ReduceL2", np.sqrt((x * x).sum())), ("ReduceSumSquare", (x * x).sum()),
                         ("ReduceLogSum", np.log(total)),
                         ("ReduceLogSumExp", np.log(np.exp(x - x.max()).sum()) + x.max())):
        g.output(g.node(op, ["x"], op.lower(), keepdims=0), expected)
    # two reduced dims, neither contiguous with the other
    x3 = g.reshape("x", (1000, 10, 100))
    axes = g.const("axes_0_2", np.array([0, 2], np.int64))
    g.output(g.node("ReduceSum", [x3, axes], "reducesum_strided", keepdims=0), x.reshape(1000, 10, 100).sum(axis=(0, 2)))
    g.output(g.node("Einsum", ["x"], "einsum_sum", equation="i->"), total)
    g.output(g.node("Einsum", [x3], "einsum_strided", equation="ijk->j"), x.reshape(1000, 10, 100).sum(axis=(0, 2)))


def pools(g, x):
    x4 = g.reshape("x", (1, 1, 1000, 1000))
    img = x.reshape(1000, 1000)
    g.output(g.node("GlobalAveragePool", [x4], "globalaveragepool"), np.full((1, 1, 1, 1), x.mean()))
    g.output(g.node("GlobalLpPool", [x4], "globallppool", p=2), np.full((1, 1, 1, 1), np.sqrt((x * x).sum())))
    # 3x3 windows of 1000x1000 clipped by one row and column of padding on each side
    padded = np.pad(img, 1)
    windows = np.array([[padded[i:i + 1000, j:j + 1000].sum() for j in range(3)] for i in range(3)])
    inside = np.array([[min(i + 1000, 1001) - max(i, 1) for _ in range(3)] for i in range(3)])
    counts = inside * inside.T
    g.output(g.node("AveragePool", [x4], "averagepool", kernel_shape=[1000, 1000], pads=[1, 1, 1, 1]),
             (windows / counts).reshape(1, 1, 3, 3))
    g.output(g.node("LpPool", [x4], "lppool", kernel_shape=[1000, 1000], p=1), np.full((1, 1, 1, 1), np.abs(x).sum()))


def statistics(g, x):
    row = g.reshape("x", (1, N))
    one = g.const("one", np.ones(1, np.float32))
    g.node("LayerNormalization", [row, one], ["ln_y", "layernorm_mean", "layernorm_invstddev"])
    var = x.var()
    g.output("layernorm_mean", np.full((1, 1), x.mean()))
    g.output("layernorm_invstddev", np.full((1, 1), 1 / np.sqrt(var + 1e-5)))
    # training mode, momentum 0: the running statistics are the batch's (population variance)
    x5 = g.reshape("x", (4, 2, N // 8))
    c = x.reshape(4, 2, N // 8).transpose(1, 0, 2).reshape(2, -1)
    g.node("BatchNormalization", [x5, g.const("bn_scale", np.ones(2, np.float32)), g.const("bn_b", np.zeros(2, np.float32)),
                                  g.const("bn_mean_in", np.zeros(2, np.float32)), g.const("bn_var_in", np.ones(2, np.float32))],
           ["bn_y", "batchnorm_running_mean", "batchnorm_running_var"], training_mode=1, momentum=0.0)
    g.output("batchnorm_running_mean", c.mean(axis=1))
    g.output("batchnorm_running_var", c.var(axis=1))


def running_sums(g, x):
    axis = g.const("axis0", np.array(0, np.int64))
    g.node("CumSum", ["x", axis], "cumsum")
    g.output(g.sample("cumsum", 0, 1000, "cumsum_sampled"), sampled(np.cumsum(x), 0, 1000))
    g.node("CumSum", ["x", axis], "cumsum_rev_excl", reverse=1, exclusive=1)
    rev = np.concatenate([np.cumsum(x[::-1])[::-1][1:], [0.0]])
    g.output(g.sample("cumsum_rev_excl", 0, 1000, "cumsum_rev_excl_sampled"), sampled(rev, 0, 1000))


def denominators(g, x):
    row = g.reshape("x", (1, N))
    s = np.exp(x - x.max()).sum()
    g.node("Softmax", [row], "softmax", axis=-1)
    g.output(g.node("ReduceMax", ["softmax"], "softmax_max", keepdims=0), 1 / s)
    g.node("LogSoftmax", [row], "logsoftmax", axis=-1)
    g.output(g.node("ReduceMax", ["logsoftmax"], "logsoftmax_max", keepdims=0), -np.log(s))
    cols = g.reshape("x", (N // 2, 2))
    g.node("Softmax", [cols], "softmax_cols", axis=0)
    xc = x.reshape(N // 2, 2)
    g.output(g.node("ReduceMax", ["softmax_cols", g.const("axes_0", np.array([0], np.int64))], "softmax_cols_max",
                    keepdims=0), 1 / np.exp(xc - xc.max(axis=0)).sum(axis=0))
    # the loss over a million classes, and the mean loss over a million positions
    label = g.const("label", np.array([123456], np.int64))
    g.output(g.node("SoftmaxCrossEntropyLoss", [row, label], "softmaxcrossentropyloss"),
             np.log(s) + x.max() - x[123456])
    targets = g.node("ConstantOfShape", [g.const("targets_shape", np.array([1, N], np.int64))], "targets",
                     value=helper.make_tensor("zero", TensorProto.INT64, [1], [0]))
    g.output(g.node("NegativeLogLikelihoodLoss", [g.reshape("x", (1, 1, N)), targets], "negativeloglikelihoodloss"),
             -x.mean())


def normalized(g, x):
    r = np.random.default_rng(8)

    def params(name, n):
        scale, bias = r.uniform(0.5, 1.5, n).astype(np.float32), r.uniform(-1, 1, n).astype(np.float32)
        return g.const(name + "_scale", scale), g.const(name + "_bias", bias), scale.astype(np.float64), bias.astype(np.float64)

    def norm(v, axes, eps=1e-5, after_sqrt=False):
        mean = v.mean(axis=axes, keepdims=True)
        var = ((v - mean) ** 2).mean(axis=axes, keepdims=True)
        return (v - mean) / (np.sqrt(var) + eps if after_sqrt else np.sqrt(var + eps))

    sc, b, scale, bias = params("ln", 1)
    g.node("LayerNormalization", [g.reshape("x", (1, N)), sc, b], "ln_y")
    g.output(g.sample("ln_y", 1, 1000, "layernorm_y"), sampled(norm(x.reshape(1, N), 1) * scale + bias, 1, 1000))
    sc, b, scale, bias = params("in", 2)
    g.node("InstanceNormalization", [g.reshape("x", (1, 2, N // 2)), sc, b], "in_y")
    y = norm(x.reshape(1, 2, N // 2), 2) * scale[None, :, None] + bias[None, :, None]
    g.output(g.sample("in_y", 2, 1000, "instancenorm_y"), sampled(y, 2, 1000))
    sc, b, scale, bias = params("gn", 2)
    g.node("GroupNormalization", [g.reshape("x", (1, 4, N // 4)), sc, b], "gn_y", num_groups=2)
    y = norm(x.reshape(1, 2, N // 2), 2).reshape(1, 4, N // 4)
    y = y * np.repeat(scale, 2)[None, :, None] + np.repeat(bias, 2)[None, :, None]
    g.output(g.sample("gn_y", 2, 1000, "groupnorm_y"), sampled(y, 2, 1000))
    g.node("MeanVarianceNormalization", [g.reshape("x", (2, 1, 500, 1000))], "mvn_y")
    y = norm(x.reshape(2, 1, 500, 1000), (0, 2, 3), 1e-9, after_sqrt=True)
    g.output(g.sample("mvn_y", 3, 100, "meanvariancenorm_y"), sampled(y, 3, 100))
    sc, b, scale, bias = params("bn", 2)
    g.node("BatchNormalization", [g.reshape("x", (4, 2, N // 8)), sc, b, g.const("bn_mean_in", np.zeros(2, np.float32)),
                                  g.const("bn_var_in", np.ones(2, np.float32))],
           ["bn_y", "bn_running_mean", "bn_running_var"], training_mode=1)
    y = norm(x.reshape(4, 2, N // 8), (0, 2)) * scale[None, :, None] + bias[None, :, None]
    g.output(g.sample("bn_y", 2, 1000, "batchnorm_y"), sampled(y, 2, 1000))


def main():
    x = np.random.default_rng(7).uniform(1, 3, N).astype(np.float32)
    xd = x.astype(np.float64)
    g = Graph()
    for build in (reductions, pools, statistics, running_sums, denominators):
        build(g, xd)
    save("precision_sums", g.nodes, [("x", x)], g.outputs, OPSET, g.inits, float_tolerance=(0.0, 1e-6))
    g = Graph()
    normalized(g, xd)
    save("precision_normalize", g.nodes, [("x", x)], g.outputs, OPSET, g.inits, float_tolerance=(1e-6, 1e-6))


main()
