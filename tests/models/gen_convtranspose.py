# gen_convtranspose.py — ConvTranspose cases beyond the ONNX node suite (ops/convtranspose.c).
import itertools
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import numpy as np  # noqa: E402

from testgen import rng, save  # noqa: E402


def conv_transpose(x, w, b, group, strides, dilations, pads_begin, out_shape):
    """Scatter form of the spec: Y[n, g*Mg + m, i*s + k*d - pad] += X[n, c, i] * W[c, m, k]."""
    N, C = x.shape[:2]
    Mg, ks = w.shape[1], w.shape[2:]
    y = np.zeros((N, Mg * group) + tuple(out_shape))
    cg = C // group
    for n, c in itertools.product(range(N), range(C)):
        g = c // cg
        for i in itertools.product(*[range(v) for v in x.shape[2:]]):
            for m in range(Mg):
                for k in itertools.product(*[range(v) for v in ks]):
                    o = [i[d] * strides[d] + k[d] * dilations[d] - pads_begin[d] for d in range(len(ks))]
                    if all(0 <= o[d] < out_shape[d] for d in range(len(ks))):
                        y[(n, g * Mg + m) + tuple(o)] += x[(n, c) + i] * w[(c, m) + k]
    if b is not None:
        y += b.reshape((1, -1) + (1,) * len(ks))
    return y


def natural(x, w, strides, dilations, out_pad):
    return [strides[d] * (x.shape[2 + d] - 1) + out_pad[d] + (w.shape[2 + d] - 1) * dilations[d] + 1
            for d in range(x.ndim - 2)]


def main():
    r = rng(20)
    # 2-D, 2 groups of 2 output channels, strides, dilations, asymmetric pads, output_padding
    x = r.standard_normal((2, 4, 3, 4)).astype(np.float32)
    w = r.standard_normal((4, 2, 2, 3)).astype(np.float32)
    b = r.standard_normal(4).astype(np.float32)
    st, dil, pads, op = [2, 3], [2, 1], [1, 0, 0, 2], [1, 2]
    out = [n - pads[d] - pads[2 + d] for d, n in enumerate(natural(x, w, st, dil, op))]
    y = conv_transpose(x, w, b, 2, st, dil, pads[:2], out)
    save("test_convtranspose_groups_strides_dilations_pads", "ConvTranspose", [("x", x), ("w", w), ("b", b)],
         [("y", y.astype(np.float32))], 11, group=2, strides=st, dilations=dil, pads=pads, output_padding=op)
    # 1-D, SAME_LOWER with strides 3: output 3 * in, the odd padding at the start
    x = r.standard_normal((1, 2, 5)).astype(np.float32)
    w = r.standard_normal((2, 3, 4)).astype(np.float32)
    total = natural(x, w, [3], [1], [0])[0] - 15
    y = conv_transpose(x, w, None, 1, [3], [1], [total - total // 2], [15])
    save("test_convtranspose_1d_same_lower", "ConvTranspose", [("x", x), ("w", w)], [("y", y.astype(np.float32))], 11,
         strides=[3], auto_pad="SAME_LOWER")
    # output_shape (with N and C) smaller than the natural size: the pads follow from it
    total = natural(x, w, [2], [2], [0])[0] - 12
    y = conv_transpose(x, w, None, 1, [2], [2], [total - total // 2], [12])
    save("test_convtranspose_1d_output_shape_dilations", "ConvTranspose", [("x", x), ("w", w)],
         [("y", y.astype(np.float32))], 11, strides=[2], dilations=[2], output_shape=[1, 3, 12])
    # 3-D, depthwise (group = channels), f64
    x = r.standard_normal((1, 3, 2, 3, 2))
    w = r.standard_normal((3, 1, 2, 2, 3))
    b = r.standard_normal(3)
    out = natural(x, w, [2, 1, 2], [1, 1, 1], [0, 0, 0])
    y = conv_transpose(x, w, b, 3, [2, 1, 2], [1, 1, 1], [0, 0, 0], out)
    save("test_convtranspose_3d_depthwise_f64", "ConvTranspose", [("x", x), ("w", w), ("b", b)], [("y", y)], 11,
         group=3, strides=[2, 1, 2])
    # f16 data, accumulated in f32
    x = r.standard_normal((1, 3, 4, 4)).astype(np.float16)
    w = r.standard_normal((3, 2, 3, 3)).astype(np.float16)
    out = [n - 2 for n in natural(x, w, [2, 2], [1, 1], [0, 0])]
    y = conv_transpose(x.astype(np.float64), w.astype(np.float64), None, 1, [2, 2], [1, 1], [1, 1], out)
    save("test_convtranspose_2d_f16_pads", "ConvTranspose", [("x", x), ("w", w)], [("y", y.astype(np.float16))], 11,
         strides=[2, 2], pads=[1, 1, 1, 1])


main()
