# quant.py — quantization cases the ONNX node tests do not cover: ties rounding to even,
# saturation, int8 and 16-bit types, negative axes, float16 scales (opset 19), blocked scales
# and output_dtype (opset 21), per-row/column zero points and scales, batched and 1-D
# integer matmuls, grouped/strided/dilated/auto-padded integer convolutions with bias.
import numpy as np
from onnx import helper

from casegen import save

rng = np.random.default_rng(17)
RANGE = {np.uint8: (0, 255), np.int8: (-128, 127), np.uint16: (0, 65535), np.int16: (-32768, 32767)}


def qround(v, zp, dt):
    lo, hi = RANGE[dt]
    return np.clip(np.round(v) + zp, lo, hi).astype(dt)


def quantize_cases():
    x = np.array([[0.5, 1.5, 2.5, -2.5, -0.5, 1000], [-1000, 3.5, -3.5, 0.25, 7, -7]], np.float32)
    s = np.array(1.0, np.float32)
    zp = np.array(-3, np.int8)
    save("quantize_int8_ties_saturate", [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["y"])],
         [("x", x), ("s", s), ("zp", zp)], [("y", qround(x / s, zp, np.int8))], 13)
    sa = np.array([0.5, 2, 4, 0.25, 1, 8], np.float32)
    zpa = np.array([0, 1, 2, 3, 4, 5], np.uint8)
    save("quantize_per_axis_negative", [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["y"], axis=-1)],
         [("x", x), ("s", sa), ("zp", zpa)], [("y", qround(x / sa, zpa, np.uint8))], 13)
    h = rng.uniform(-4, 4, (3, 4)).astype(np.float16)
    hs = np.array([0.03, 0.05, 0.07], np.float16)
    hz = np.array([10, -20, 0], np.int8)
    ref = qround(h.astype(np.float32) / hs.astype(np.float32)[:, None], hz[:, None], np.int8)
    save("quantize_float16_axis0", [helper.make_node("QuantizeLinear", ["h", "hs", "hz"], ["y"], axis=0)],
         [("h", h), ("hs", hs), ("hz", hz)], [("y", ref)], 19)
    b = rng.uniform(-100, 100, (2, 6)).astype(np.float32)
    bs = np.array([[0.01, 0.02], [0.03, 0.05]], np.float32)  # blocks of 3 along axis 1
    bz = np.array([[1, -1], [100, -100]], np.int16)
    ref = qround(b / np.repeat(bs, 3, axis=1), np.repeat(bz, 3, axis=1), np.int16)
    save("quantize_blocked_int16", [helper.make_node("QuantizeLinear", ["b", "bs", "bz"], ["y"], axis=1, block_size=3)],
         [("b", b), ("bs", bs), ("bz", bz)], [("y", ref)], 21)
    save("quantize_output_dtype_uint16", [helper.make_node("QuantizeLinear", ["b", "s"], ["y"], output_dtype=4)],
         [("b", b), ("s", np.array(0.002, np.float32))], [("y", qround(b / np.float32(0.002), 0, np.uint16))], 21)


def dequantize_cases():
    q = rng.integers(-2**31, 2**31 - 1, (5,), dtype=np.int64).astype(np.int32)
    s = np.array(0.001, np.float32)
    save("dequantize_int32", [helper.make_node("DequantizeLinear", ["q", "s"], ["y"])],
         [("q", q), ("s", s)], [("y", (q.astype(np.float32) * s).astype(np.float32))], 13)
    q8 = rng.integers(-128, 128, (3, 2, 2), dtype=np.int64).astype(np.int8)
    s8 = np.array([0.5, 0.25, 2], np.float32)
    z8 = np.array([-128, 0, 127], np.int8)
    ref = ((q8.astype(np.int32) - z8[:, None, None]).astype(np.float32) * s8[:, None, None]).astype(np.float32)
    save("dequantize_int8_axis0", [helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=0)],
         [("q", q8), ("s", s8), ("z", z8)], [("y", ref)], 13)
    qu = rng.integers(0, 256, (2, 3), dtype=np.int64).astype(np.uint8)
    hs = np.array(0.125, np.float16)
    ref = ((qu.astype(np.int32) - 7).astype(np.float32) * np.float32(hs)).astype(np.float16)
    save("dequantize_float16_scale", [helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])],
         [("q", qu), ("s", hs), ("z", np.array(7, np.uint8))], [("y", ref)], 19)
    q16 = rng.integers(-30000, 30000, (4, 4), dtype=np.int64).astype(np.int16)
    bs = np.array([[0.5, 2], [1, 4], [0.25, 8], [3, 5]], np.float32)
    bz = np.array([[0, 10], [-10, 20], [5, 5], [-7, 0]], np.int16)
    ref = ((q16.astype(np.int32) - np.repeat(bz, 2, axis=1)).astype(np.float32) * np.repeat(bs, 2, axis=1))
    save("dequantize_blocked_int16", [helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=-1, block_size=2)],
         [("q", q16), ("s", bs), ("z", bz)], [("y", ref.astype(np.float32))], 21)


def requant(acc, multiplier, zp, dt):
    return qround(acc.astype(np.float32) * np.float32(multiplier), zp, dt)


def matmul_cases():
    a = rng.integers(-128, 128, (2, 3, 5), dtype=np.int64).astype(np.int8)
    b = rng.integers(0, 256, (5, 4), dtype=np.int64).astype(np.uint8)
    azp = np.array([1, -2, 3], np.int8)  # per row
    bzp = np.array([128, 0, 255, 7], np.uint8)  # per column
    acc = np.matmul(a.astype(np.int32) - azp[:, None], b.astype(np.int32) - bzp.astype(np.int32))
    save("matmulinteger_batched_per_row_col", [helper.make_node("MatMulInteger", ["a", "b", "azp", "bzp"], ["y"])],
         [("a", a), ("b", b), ("azp", azp), ("bzp", bzp)], [("y", acc.astype(np.int32))], 10)
    v = rng.integers(0, 256, (5,), dtype=np.int64).astype(np.uint8)
    save("matmulinteger_vector", [helper.make_node("MatMulInteger", ["v", "b"], ["y"])],
         [("v", v), ("b", b)], [("y", np.matmul(v.astype(np.int32), b.astype(np.int32)).astype(np.int32))], 10)
    bs = np.array([0.01, 0.02, 0.005, 0.03], np.float32)
    a_s, ys = np.float32(0.05), np.float32(0.4)
    y = np.zeros(acc.shape, np.int8)
    for j in range(4):
        y[..., j] = requant(acc[..., j], np.float32(np.float32(a_s * bs[j]) / ys), -5, np.int8)
    save("qlinearmatmul_int8_per_column", [helper.make_node(
        "QLinearMatMul", ["a", "as", "azp", "b", "bs", "bzp", "ys", "yzp"], ["y"])],
        [("a", a), ("as", np.array(a_s)), ("azp", azp), ("b", b), ("bs", bs), ("bzp", bzp), ("ys", np.array(ys)),
         ("yzp", np.array(-5, np.int8))], [("y", y)], 10)


def conv_ref(x, w, stride, dilation, pads, group):
    n, c, h, wd = x.shape
    m, cpg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (xp.shape[2] - ((kh - 1) * dilation[0] + 1)) // stride[0] + 1
    ow = (xp.shape[3] - ((kw - 1) * dilation[1] + 1)) // stride[1] + 1
    y = np.zeros((n, m, oh, ow), np.int64)
    mpg = m // group
    for o in range(m):
        g = o // mpg
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cpg:(g + 1) * cpg, i * stride[0]:i * stride[0] + (kh - 1) * dilation[0] + 1:dilation[0],
                           j * stride[1]:j * stride[1] + (kw - 1) * dilation[1] + 1:dilation[1]]
                y[:, o, i, j] = (patch * w[o]).sum(axis=(1, 2, 3))
    return y


def conv_cases():
    x = rng.integers(-128, 128, (1, 4, 6, 5), dtype=np.int64).astype(np.int8)
    w = rng.integers(0, 256, (6, 2, 3, 2), dtype=np.int64).astype(np.uint8)
    xzp = np.array(-3, np.int8)
    wzp = np.array([0, 128, 3, 250, 17, 99], np.uint8)
    # padding reads as the zero point
    pads = [1, 1, 1, 1]
    xs = x.astype(np.int64) - xzp
    acc = conv_ref(xs, w.astype(np.int64) - wzp[:, None, None, None], (2, 2), (1, 2), pads, 2)
    save("convinteger_group_stride_dilation", [helper.make_node(
        "ConvInteger", ["x", "w", "xzp", "wzp"], ["y"], group=2, strides=[2, 2], dilations=[1, 2], pads=pads)],
        [("x", x), ("w", w), ("xzp", xzp), ("wzp", wzp)], [("y", acc.astype(np.int32))], 10)
    xu = rng.integers(0, 256, (1, 3, 5, 5), dtype=np.int64).astype(np.uint8)
    wi = rng.integers(-128, 128, (4, 3, 3, 3), dtype=np.int64).astype(np.int8)
    bias = rng.integers(-5000, 5000, (4,), dtype=np.int64).astype(np.int32)
    x_s, ys = np.float32(0.02), np.float32(0.3)
    ws = np.array([0.01, 0.02, 0.04, 0.003], np.float32)
    acc = conv_ref(xu.astype(np.int64) - 128, wi.astype(np.int64), (1, 1), (1, 1), [1, 1, 1, 1], 1) + bias[None, :, None, None]
    y = np.zeros(acc.shape, np.uint8)
    for o in range(4):
        y[:, o] = requant(acc[:, o], np.float32(np.float32(x_s * ws[o]) / ys), 100, np.uint8)
    save("qlinearconv_bias_per_channel_same", [helper.make_node(
        "QLinearConv", ["x", "xs", "xzp", "w", "ws", "wzp", "ys", "yzp", "b"], ["y"], auto_pad="SAME_UPPER")],
        [("x", xu), ("xs", np.array(x_s)), ("xzp", np.array(128, np.uint8)), ("w", wi), ("ws", ws),
         ("wzp", np.zeros(4, np.int8)), ("ys", np.array(ys)), ("yzp", np.array(100, np.uint8)), ("b", bias)],
        [("y", y)], 10)


quantize_cases()
dequantize_cases()
matmul_cases()
conv_cases()
