# gen_pool.py — pooling cases beyond the ONNX node suite (ops/pool.c): LpPool, GlobalLpPool,
# MaxUnpool with pads and output_shape, MaxPool/AveragePool attribute combinations.
import itertools
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import numpy as np  # noqa: E402

from testgen import rng, save  # noqa: E402


def out_len(n, k, s, d, pb, pe, ceil):
    span = n + pb + pe - ((k - 1) * d + 1)
    o = (-(-span // s) if ceil else span // s) + 1
    if ceil and (o - 1) * s >= n + pb:  # windows starting in the end padding are dropped
        o -= 1
    return o


def pool(x, mode, kernel, strides=None, dilations=None, pads=None, ceil=False, p=2, include_pad=False):
    """Reference pooling over the spatial dims of X (N, C, ...); mode max / avg / lp."""
    nsp = x.ndim - 2
    strides = strides or [1] * nsp
    dilations = dilations or [1] * nsp
    pads = pads or [0] * (2 * nsp)
    sp = x.shape[2:]
    outs = [out_len(sp[i], kernel[i], strides[i], dilations[i], pads[i], pads[nsp + i], ceil) for i in range(nsp)]
    y = np.zeros(x.shape[:2] + tuple(outs))
    ind = np.zeros(y.shape, dtype=np.int64)
    for o in itertools.product(*[range(v) for v in outs]):
        vals, idx, count_pad = [], [], 1
        for i in range(nsp):
            start = o[i] * strides[i] - pads[i]
            end = min(start + (kernel[i] - 1) * dilations[i] + 1, sp[i] + pads[nsp + i])
            count_pad *= -(-(end - start) // dilations[i])
        for k in itertools.product(*[range(v) for v in kernel]):
            pos = [o[i] * strides[i] + k[i] * dilations[i] - pads[i] for i in range(nsp)]
            if all(0 <= pos[i] < sp[i] for i in range(nsp)):
                vals.append(x[(slice(None), slice(None)) + tuple(pos)])
                idx.append(np.ravel_multi_index(pos, sp))
        v = np.stack(vals).astype(np.float64)
        at = (slice(None), slice(None)) + o
        if mode == "max":
            y[at] = v.max(axis=0)
            plane = np.arange(x.shape[0] * x.shape[1]).reshape(x.shape[:2]) * int(np.prod(sp))
            ind[at] = np.array(idx)[v.argmax(axis=0)] + plane
        elif mode == "avg":
            y[at] = v.sum(axis=0) / (count_pad if include_pad else len(vals))
        else:
            y[at] = (np.abs(v) ** p).sum(axis=0) ** (1.0 / p)
    return y.astype(x.dtype), ind


def lppool():
    r = rng(10)
    x1 = r.standard_normal((1, 3, 9)).astype(np.float32)
    save("test_lppool_1d_p3", "LpPool", [("x", x1)], [("y", pool(x1, "lp", [2], p=3)[0])], 11,
         kernel_shape=[2], p=3)
    x = r.standard_normal((2, 2, 7, 6)).astype(np.float32)
    save("test_lppool_2d_pads_p1", "LpPool", [("x", x)], [("y", pool(x, "lp", [3, 2], pads=[1, 0, 2, 1], p=1)[0])],
         11, kernel_shape=[3, 2], pads=[1, 0, 2, 1], p=1)
    save("test_lppool_2d_strides_default_p", "LpPool", [("x", x)], [("y", pool(x, "lp", [3, 3], strides=[2, 2])[0])],
         11, kernel_shape=[3, 3], strides=[2, 2])
    y = pool(x, "lp", [2, 2], strides=[2, 2], dilations=[2, 1], ceil=True, p=4)[0]
    save("test_lppool_2d_dilations_ceil_p4", "LpPool", [("x", x)], [("y", y)], 18, kernel_shape=[2, 2],
         strides=[2, 2], dilations=[2, 1], ceil_mode=1, p=4)
    # SAME_UPPER: 7 -> 7 with kernel 2: total padding 1, at the end
    y = pool(x, "lp", [2, 2], pads=[0, 0, 1, 1])[0]
    save("test_lppool_2d_same_upper", "LpPool", [("x", x)], [("y", y)], 18, kernel_shape=[2, 2], auto_pad="SAME_UPPER")
    x3 = r.standard_normal((1, 2, 3, 4, 3)).astype(np.float32)
    save("test_lppool_3d_p3", "LpPool", [("x", x3)], [("y", pool(x3, "lp", [2, 2, 2], p=3)[0])], 18,
         kernel_shape=[2, 2, 2], p=3)
    y = (np.abs(x.astype(np.float64)) ** 3).sum(axis=(2, 3), keepdims=True) ** (1 / 3)
    save("test_globallppool_p3", "GlobalLpPool", [("x", x)], [("y", y.astype(np.float32))], 2, p=3)
    y = np.sqrt((x3.astype(np.float64) ** 2).sum(axis=(2, 3, 4), keepdims=True))
    save("test_globallppool_3d_default", "GlobalLpPool", [("x", x3)], [("y", y.astype(np.float32))], 11)


def maxunpool():
    r = rng(11)
    # MaxPool with pads and strides, then unpool its output with the same attributes
    x = r.standard_normal((2, 3, 5, 6)).astype(np.float32)
    attrs = dict(kernel_shape=[2, 3], strides=[2, 2], pads=[1, 0, 0, 1])
    pooled, ind = pool(x, "max", [2, 3], strides=[2, 2], pads=[1, 0, 0, 1])
    y = np.zeros(x.size, dtype=np.float32)
    y[ind.ravel()] = pooled.ravel()
    save("test_maxunpool_pads_strides", "MaxUnpool", [("x", pooled), ("i", ind)],
         [("y", y.reshape(x.shape))], 11, **attrs)
    # output_shape larger than the unpooled shape: the unpooled tensor sits in its corner
    x = r.standard_normal((1, 2, 4, 4, 4)).astype(np.float64)
    pooled, ind = pool(x, "max", [2, 2, 2], strides=[2, 2, 2])
    y = np.zeros(x.size)
    y[ind.ravel()] = pooled.ravel()
    big = np.zeros((1, 2, 5, 4, 6))
    big[:, :, :4, :4, :4] = y.reshape(x.shape)
    save("test_maxunpool_3d_output_shape", "MaxUnpool",
         [("x", pooled), ("i", ind), ("shape", np.array(big.shape, dtype=np.int64))], [("y", big)], 11,
         kernel_shape=[2, 2, 2], strides=[2, 2, 2])


def max_avg():
    r = rng(12)
    x = r.standard_normal((1, 2, 7, 8)).astype(np.float32)
    y, ind = pool(x, "max", [3, 2], strides=[2, 3], dilations=[2, 2], pads=[1, 1, 1, 1], ceil=True)
    save("test_maxpool_2d_dilations_ceil_pads_indices", "MaxPool", [("x", x)], [("y", y), ("i", ind)], 12,
         kernel_shape=[3, 2], strides=[2, 3], dilations=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)
    xi = r.integers(-100, 100, (1, 2, 6, 5)).astype(np.int8)
    save("test_maxpool_2d_int8_pads", "MaxPool", [("x", xi)], [("y", pool(xi, "max", [3, 3], pads=[1, 1, 1, 1])[0])], 12,
         kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    y = pool(x, "avg", [3, 3], strides=[2, 2], dilations=[2, 1], pads=[1, 2, 1, 0], ceil=True, include_pad=True)[0]
    save("test_averagepool_2d_dilations_ceil_count_pad", "AveragePool", [("x", x)], [("y", y)], 19,
         kernel_shape=[3, 3], strides=[2, 2], dilations=[2, 1], pads=[1, 2, 1, 0], ceil_mode=1, count_include_pad=1)
    y = pool(x, "avg", [2, 3], strides=[3, 2], dilations=[1, 2], pads=[0, 1, 1, 1], ceil=True)[0]
    save("test_averagepool_2d_dilations_ceil", "AveragePool", [("x", x)], [("y", y)], 19,
         kernel_shape=[2, 3], strides=[3, 2], dilations=[1, 2], pads=[0, 1, 1, 1], ceil_mode=1)


lppool()
maxunpool()
max_avg()
