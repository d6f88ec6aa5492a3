# gen_norm.py — normalization cases beyond the ONNX node suite (ops/norm.c).
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import numpy as np  # noqa: E402

from testgen import rng, save  # noqa: E402


def moments(x, axes):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return mean, var


def group_norm():
    r = rng(1)
    for opset, shape, groups in ((18, (2, 6, 3, 4), 3), (21, (2, 6, 5), 2), (21, (1, 4, 2, 2, 3), 4)):
        x = r.standard_normal(shape).astype(np.float32)
        per = shape[1] if opset >= 21 else groups
        scale = r.standard_normal(per).astype(np.float32)
        bias = r.standard_normal(per).astype(np.float32)
        xg = x.astype(np.float64).reshape(shape[0], groups, -1)
        mean, var = moments(xg, 2)
        y = ((xg - mean) / np.sqrt(var + 1e-3)).reshape(shape)
        ch = (1, -1) + (1,) * (len(shape) - 2)
        if opset >= 21:
            y = y * scale.reshape(ch) + bias.reshape(ch)
        else:
            rep = np.repeat(np.arange(groups), shape[1] // groups)
            y = y * scale[rep].reshape(ch) + bias[rep].reshape(ch)
        save(f"test_group_normalization_opset{opset}_{len(shape)}d", "GroupNormalization",
             [("x", x), ("scale", scale), ("bias", bias)], [("y", y.astype(np.float32))], opset,
             num_groups=groups, epsilon=1e-3)


def layer_norm():
    r = rng(2)
    # f16 data, statistics in f32, Scale broadcast over the normalized shape, no B
    x = r.standard_normal((3, 4, 5)).astype(np.float16)
    w = r.standard_normal((1, 5)).astype(np.float16)
    xd = x.astype(np.float64)
    mean, var = moments(xd, (1, 2))
    inv = 1 / np.sqrt(var + 1e-5)
    y = (xd - mean) * inv * w
    save("test_layer_normalization_f16_broadcast_scale", "LayerNormalization", [("x", x), ("w", w)],
         [("y", y.astype(np.float16)), ("mean", mean.astype(np.float32)), ("inv", inv.astype(np.float32))], 17,
         axis=1)
    # f64 data with f64 statistics (stash_type = double)
    x = r.standard_normal((2, 3, 4)).astype(np.float64)
    w = r.standard_normal((4,))
    b = r.standard_normal((4,))
    mean, var = moments(x, (2,))
    inv = 1 / np.sqrt(var + 1e-2)
    save("test_layer_normalization_f64_stash_double", "LayerNormalization", [("x", x), ("w", w), ("b", b)],
         [("y", (x - mean) * inv * w[None, None, :] + b), ("mean", mean), ("inv", inv)], 17, axis=-1,
         epsilon=1e-2, stash_type=11)


def instance_norm():
    r = rng(3)
    x = r.standard_normal((2, 3, 7)).astype(np.float64)
    s, b = r.standard_normal(3), r.standard_normal(3)
    mean, var = moments(x, (2,))
    y = (x - mean) / np.sqrt(var + 1e-5) * s[None, :, None] + b[None, :, None]
    save("test_instancenorm_f64_1d", "InstanceNormalization", [("x", x), ("s", s), ("b", b)], [("y", y)], 17)


def mvn():
    r = rng(4)
    x = r.standard_normal((2, 3, 4, 5)).astype(np.float32)
    for axes in ((2, 3), (1,), (0, 1, 2, 3)):
        mean, var = moments(x.astype(np.float64), axes)
        y = (x - mean) / (np.sqrt(var) + 1e-9)
        save("test_mvn_axes_" + "".join(map(str, axes)), "MeanVarianceNormalization", [("x", x)],
             [("y", y.astype(np.float32))], 13, axes=list(axes))


def lrn():
    r = rng(5)
    x = r.standard_normal((2, 7, 3, 2)).astype(np.float32)
    size, alpha, beta, bias = 4, 0.3, 0.6, 1.5
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = np.zeros_like(x, dtype=np.float64)
    for c in range(7):
        sq[:, c] = (x[:, max(0, c - lo):min(7, c + hi + 1)].astype(np.float64) ** 2).sum(axis=1)
    y = x / (bias + alpha / size * sq) ** beta
    save("test_lrn_even_size", "LRN", [("x", x)], [("y", y.astype(np.float32))], 13, size=size,
         alpha=alpha, beta=beta, bias=bias)


def batchnorm_training():
    r = rng(6)
    x = r.standard_normal((3, 4, 5)).astype(np.float32)
    s, b = r.standard_normal(4).astype(np.float32), r.standard_normal(4).astype(np.float32)
    m, v = r.standard_normal(4).astype(np.float32), r.random(4).astype(np.float32)
    mean, var = moments(x.astype(np.float64), (0, 2))
    y = (x - mean) / np.sqrt(var + 1e-4) * s[None, :, None] + b[None, :, None]
    momentum = 0.8
    rm = m * momentum + mean.ravel() * (1 - momentum)
    rv = v * momentum + var.ravel() * (1 - momentum)
    save("test_batchnorm_training_3d_momentum", "BatchNormalization",
         [("x", x), ("s", s), ("b", b), ("m", m), ("v", v)],
         [("y", y.astype(np.float32)), ("rm", rm.astype(np.float32)), ("rv", rv.astype(np.float32))], 15,
         training_mode=1, momentum=momentum, epsilon=1e-4)


group_norm()
layer_norm()
instance_norm()
mvn()
lrn()
batchnorm_training()
