# qmodels.py — quantized models with constant weights, the form real models take, so the
# integer kernels (passes/qdq.c, ops/qgemm.c, ops/qconv.c) run rather than the reference ops:
#   QOperator: QLinearConv, QLinearMatMul, ConvInteger, MatMulInteger (u8/s8, per channel,
#              zero points that need the run-time sums, K not a multiple of 4, groups) —
#              bit-exact with ONNX Runtime's requantization: the int32 result as float32
#              times the float32 multiplier, the product rounded to float32, then half to
#              even, as the kernels do;
#   QDQ: DequantizeLinear -> Conv / MatMul / Gemm (+ Relu / Clip) -> QuantizeLinear groups and
#        small conv nets and MLPs, against a numpy float reference of the ONNX definitions:
#        within one quantization step (int_tolerance), where the float reference may round a
#        near-tie the other way.
import numpy as np
from onnx import TensorProto, helper

from casegen import save

rng = np.random.default_rng(2024)
RANGE = {np.uint8: (0, 255), np.int8: (-128, 127)}
TYPE = {np.uint8: TensorProto.UINT8, np.int8: TensorProto.INT8}


def ints(shape, dt, lo=None, hi=None):
    a, b = RANGE[dt]
    return rng.integers(a if lo is None else lo, (b if hi is None else hi) + 1, shape).astype(dt)


def quantize(x, scale, zp, dt, axis=None):
    """QuantizeLinear: round half to even of x / scale (float32) plus the zero point, saturated."""
    scale, zp = np.asarray(scale, np.float32), np.asarray(zp)
    if axis is not None and scale.size > 1:
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    q = np.round(x.astype(np.float32) / scale) + zp.astype(np.float64)
    return np.clip(q, *RANGE[dt]).astype(dt)


def dequantize(q, scale, zp, axis=None):
    scale, zp = np.asarray(scale, np.float32), np.asarray(zp)
    if axis is not None and scale.size > 1:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return ((q.astype(np.int32) - zp.astype(np.int32)).astype(np.float32) * scale).astype(np.float32)


def conv2d(x, w, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1):
    """Conv on N x C x H x W, exact for integers (int64) and float64."""
    n, c, h, wd = x.shape
    m, cpg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (xp.shape[2] - ((kh - 1) * dilations[0] + 1)) // strides[0] + 1
    ow = (xp.shape[3] - ((kw - 1) * dilations[1] + 1)) // strides[1] + 1
    y = np.zeros((n, m, oh, ow), x.dtype)
    mpg = m // group
    for g in range(group):
        xs = xp[:, g * cpg:(g + 1) * cpg]
        for i in range(kh):
            for j in range(kw):
                r0, c0 = i * dilations[0], j * dilations[1]
                patch = xs[:, :, r0:r0 + strides[0] * (oh - 1) + 1:strides[0], c0:c0 + strides[1] * (ow - 1) + 1:strides[1]]
                y[:, g * mpg:(g + 1) * mpg] += np.einsum("nchw,mc->nmhw", patch, w[g * mpg:(g + 1) * mpg, :, i, j])
    return y


def requant(acc, x_scale, w_scale, y_scale, y_zp, dt, axis):
    """ONNX Runtime's requantization: float32(acc) times the float32 multiplier, rounded to
    float32, then half to even."""
    mult = (np.float32(x_scale) * np.asarray(w_scale, np.float32) / np.float32(y_scale)).astype(np.float32)
    if mult.size > 1:
        shape = [1] * acc.ndim
        shape[axis] = -1
        mult = mult.reshape(shape)
    r = (acc.astype(np.float32) * mult).astype(np.float32)
    return np.clip(np.round(r).astype(np.float64) + float(y_zp), *RANGE[dt]).astype(dt)


def scalar(v, dt=np.float32):
    return np.array(v, dt)


#
# QOperator ops with constant weights: bit-exact
#
def qlinearconv_case(name, xdt, wdt, x_shape, w_shape, per_channel, w_zp_value, bias, **attrs):
    x = ints(x_shape, xdt)
    w = ints(w_shape, wdt)
    m = w_shape[0]
    x_scale, y_scale = np.float32(0.02), np.float32(0.35)
    w_scale = rng.uniform(0.002, 0.02, m).astype(np.float32) if per_channel else np.float32(0.01)
    x_zp = xdt(RANGE[xdt][0] + 100 if xdt == np.uint8 else -7)
    w_zp = np.full(m, w_zp_value, wdt) if per_channel else wdt(w_zp_value)
    y_zp = xdt(RANGE[xdt][0] + 90 if xdt == np.uint8 else 5)
    b = rng.integers(-20000, 20000, m).astype(np.int32) if bias else None
    strides = attrs.get("strides", [1, 1])
    pads = attrs.get("pads", [0, 0, 0, 0])
    dil = attrs.get("dilations", [1, 1])
    group = attrs.get("group", 1)
    wz = np.asarray(w_zp, np.int64).reshape(-1, 1, 1, 1) if per_channel else np.int64(w_zp)
    acc = conv2d(x.astype(np.int64) - np.int64(x_zp), w.astype(np.int64) - wz, strides, pads, dil, group)
    if bias:
        acc = acc + b.reshape(1, -1, 1, 1)
    y = requant(acc, x_scale, w_scale, y_scale, y_zp, xdt, 1)
    inits = [("xs", scalar(x_scale)), ("xz", np.array(x_zp, xdt)), ("w", w), ("ws", np.asarray(w_scale, np.float32)),
             ("wz", np.asarray(w_zp, wdt)), ("ys", scalar(y_scale)), ("yz", np.array(y_zp, xdt))]
    ins = ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"]
    if bias:
        inits.append(("b", b))
        ins.append("b")
    node = helper.make_node("QLinearConv", ins, ["y"], **attrs)
    save(name, [node], [("x", x)], [("y", y)], 13, inits)


def qlinearmatmul_case(name, adt, bdt, a_shape, b_shape, b_zp_value, per_column):
    a, b = ints(a_shape, adt), ints(b_shape, bdt)
    n = b_shape[-1]
    a_scale, y_scale = np.float32(0.03), np.float32(0.5)
    b_scale = rng.uniform(0.002, 0.02, n).astype(np.float32) if per_column else np.float32(0.01)
    a_zp = adt(120 if adt == np.uint8 else 3)
    b_zp = np.full(n, b_zp_value, bdt) if per_column else bdt(b_zp_value)
    y_zp = adt(128 if adt == np.uint8 else -3)
    acc = np.matmul(a.astype(np.int64) - np.int64(a_zp), b.astype(np.int64) - np.asarray(b_zp, np.int64))
    y = requant(acc, a_scale, b_scale, y_scale, y_zp, adt, -1)
    inits = [("as", scalar(a_scale)), ("az", np.array(a_zp, adt)), ("b", b), ("bs", np.asarray(b_scale, np.float32)),
             ("bz", np.asarray(b_zp, bdt)), ("ys", scalar(y_scale)), ("yz", np.array(y_zp, adt))]
    node = helper.make_node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])
    save(name, [node], [("a", a)], [("y", y)], 13, inits)


def qoperator_cases():
    qlinearconv_case("qop_qlinearconv_u8s8_per_channel_bias", np.uint8, np.int8, (1, 8, 9, 9), (16, 8, 3, 3), True, 0,
                     True, pads=[1, 1, 1, 1])
    qlinearconv_case("qop_qlinearconv_s8s8_stride_dilation", np.int8, np.int8, (2, 5, 11, 10), (7, 5, 3, 2), False, 0,
                     True, strides=[2, 1], dilations=[1, 2], pads=[1, 0, 2, 1])
    qlinearconv_case("qop_qlinearconv_u8u8_weight_zero_point_group", np.uint8, np.uint8, (1, 6, 7, 7), (6, 3, 3, 3), True,
                     131, True, group=2, pads=[1, 1, 1, 1])
    qlinearconv_case("qop_qlinearconv_u8s8_depthwise", np.uint8, np.int8, (1, 12, 8, 8), (12, 1, 3, 3), True, 0, True,
                     group=12, pads=[1, 1, 1, 1], strides=[2, 2])
    qlinearconv_case("qop_qlinearconv_s8u8_pointwise", np.int8, np.uint8, (1, 32, 5, 6), (40, 32, 1, 1), False, 100, False)
    qlinearmatmul_case("qop_qlinearmatmul_u8s8_k70", np.uint8, np.int8, (3, 70), (70, 37), 0, True)
    qlinearmatmul_case("qop_qlinearmatmul_u8u8_zero_points_batched", np.uint8, np.uint8, (2, 5, 33), (33, 19), 140, True)
    qlinearmatmul_case("qop_qlinearmatmul_s8s8_per_tensor", np.int8, np.int8, (4, 64), (64, 48), 0, False)
    x, w = ints((1, 3, 6, 6), np.uint8), ints((5, 3, 2, 2), np.uint8)
    acc = conv2d(x.astype(np.int64) - 9, w.astype(np.int64) - 77, pads=[1, 1, 0, 0])
    save("qop_convinteger_constant_weights", [helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], pads=[1, 1, 0, 0])],
         [("x", x)], [("y", acc.astype(np.int32))], 10, [("w", w), ("xz", np.array(9, np.uint8)), ("wz", np.array(77, np.uint8))])
    a, b = ints((6, 21), np.int8), ints((21, 10), np.int8)
    acc = np.matmul(a.astype(np.int64) + 4, b.astype(np.int64) - 2)
    save("qop_matmulinteger_constant_weights", [helper.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["y"])],
         [("a", a)], [("y", acc.astype(np.int32))], 10, [("b", b), ("az", np.array(-4, np.int8)), ("bz", np.array(2, np.int8))])


#
# QDQ groups and nets: float references
#
class Builder:
    """A QDQ model under construction, with its numpy float reference alongside."""

    def __init__(self):
        self.nodes, self.inits, self.outputs = [], [], []
        self.count = 0

    def name(self, base):
        self.count += 1
        return f"{base}{self.count}"

    def const(self, base, value):
        n = self.name(base)
        self.inits.append((n, value))
        return n

    def q(self, x, ref, scale, zp, dt):
        s, z = self.const("s", scalar(scale)), self.const("z", np.array(zp, dt))
        y = self.name("q")
        self.nodes.append(helper.make_node("QuantizeLinear", [x, s, z], [y]))
        return y, quantize(ref, scale, zp, dt)

    def dq(self, q, ref, scale, zp, dt, axis=None):
        s = self.const("s", np.asarray(scale, np.float32))
        z = self.const("z", np.asarray(zp, dt))
        y = self.name("dq")
        attrs = {"axis": axis} if axis is not None else {}
        self.nodes.append(helper.make_node("DequantizeLinear", [q, s, z], [y], **attrs))
        return y, dequantize(ref, scale, zp, axis)

    def weights(self, w, dt, axis):
        """Weights quantized per channel (symmetric int8, or uint8 with zero point 128)."""
        amax = np.abs(w).max(axis=tuple(i for i in range(w.ndim) if i != axis))
        scale = (np.maximum(amax, 1e-6) / 127).astype(np.float32)
        zp = np.zeros(scale.shape, np.int64) + (128 if dt == np.uint8 else 0)
        wq = quantize(w, scale, zp.astype(dt), dt, axis)
        wn = self.const("w", wq)
        return self.dq(wn, wq, scale, zp.astype(dt), dt, axis) + (scale,)

    def bias(self, b, x_scale, w_scale):
        """int32 bias with scale x_scale * w_scale, the way quantizers write it."""
        scale = (np.float32(x_scale) * w_scale).astype(np.float32)
        bq = np.round(b / scale).astype(np.int32)
        bn = self.const("b", bq)
        return self.dq(bn, bq, scale, np.zeros(scale.shape, np.int32), np.int32, 0)

    def node(self, op, ins, **attrs):
        y = self.name(op.lower())
        self.nodes.append(helper.make_node(op, ins, [y], **attrs))
        return y


def act_params(ref, dt):
    lo, hi = float(min(ref.min(), 0)), float(max(ref.max(), 0))
    scale = np.float32((hi - lo) / (255 if dt == np.uint8 else 254))
    zp = int(np.round(-lo / scale)) if dt == np.uint8 else int(np.round(-(hi + lo) / 2 / scale))
    return scale, zp


def batchnorm(bld, y, yr, channels):
    """An inference BatchNormalization after a layer (some channels with negative scales)."""
    gamma = rng.uniform(0.5, 1.5, channels) * np.where(np.arange(channels) % 3 == 1, -1, 1)
    beta, mean, var = rng.normal(0, 0.3, channels), rng.normal(0, 0.3, channels), rng.uniform(0.5, 2, channels)
    params = [bld.const(k, v.astype(np.float32)) for k, v in (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var))]
    f = [np.float32(v).astype(np.float64).reshape(1, -1, 1, 1) for v in (gamma, beta, mean, var)]
    ref = (yr.astype(np.float64) - f[2]) / np.sqrt(f[3] + 1e-5) * f[0] + f[1]
    return bld.node("BatchNormalization", [y] + params), ref.astype(np.float32)


def qdq_conv(bld, x, xr, x_scale, x_zp, dt, cin, cout, wdt=np.int8, act="relu", bn=False, quantize_out=True,
             group=1, **attrs):
    """x (quantized) -> DQ -> Conv (+ bias, + BatchNormalization, + activation) -> Q, with
    per-channel weights."""
    w = rng.normal(0, 0.3, (cout, cin // group, 3, 3)).astype(np.float32)
    xd, xdr = bld.dq(x, xr, x_scale, x_zp, dt)
    wd, wdr, ws = bld.weights(w, wdt, 0)
    bd, bdr = bld.bias(rng.normal(0, 0.2, cout), x_scale, ws)
    y = bld.node("Conv", [xd, wd, bd], group=group, **attrs)
    strides, pads = attrs.get("strides", [1, 1]), attrs.get("pads", [0, 0, 0, 0])
    yr = (conv2d(xdr.astype(np.float64), wdr.astype(np.float64), strides, pads, group=group) +
          bdr.reshape(1, -1, 1, 1)).astype(np.float32)
    if bn:
        y, yr = batchnorm(bld, y, yr, cout)
    if act == "relu":
        y, yr = bld.node("Relu", [y]), np.maximum(yr, 0)
    elif act == "clip":
        lo, hi = bld.const("lo", scalar(0.0)), bld.const("hi", scalar(6.0))
        y, yr = bld.node("Clip", [y, lo, hi]), np.clip(yr, 0, 6)
    if not quantize_out:
        return y, yr, None, None
    scale, zp = act_params(yr, dt)
    q, qr = bld.q(y, yr, scale, zp, dt)
    return q, qr, scale, zp


def qdq_dense(bld, x, xr, x_scale, x_zp, dt, k, n, gemm=True, quantize_out=True, relu=False):
    w = rng.normal(0, 0.3, (n, k) if gemm else (k, n)).astype(np.float32)
    xd, xdr = bld.dq(x, xr, x_scale, x_zp, dt)
    wd, wdr, ws = bld.weights(w, np.int8, 0 if gemm else 1)
    if gemm:
        bd, bdr = bld.bias(rng.normal(0, 0.2, n), x_scale, ws)
        y = bld.node("Gemm", [xd, wd, bd], transB=1)
        yr = (xdr.astype(np.float64) @ wdr.T.astype(np.float64) + bdr).astype(np.float32)
    else:
        y = bld.node("MatMul", [xd, wd])
        yr = np.matmul(xdr.astype(np.float64), wdr.astype(np.float64)).astype(np.float32)
    if relu:
        y, yr = bld.node("Relu", [y]), np.maximum(yr, 0)
    if not quantize_out:
        return y, yr, None, None
    scale, zp = act_params(yr, dt)
    q, qr = bld.q(y, yr, scale, zp, dt)
    return q, qr, scale, zp


def save_qdq(name, bld, inputs, outputs, tolerance=1):
    save(name, bld.nodes, inputs, outputs, 13, bld.inits, int_tolerance=tolerance)


def qdq_cases():
    for dt, tag in ((np.uint8, "u8"), (np.int8, "s8")):
        bld = Builder()
        x = rng.normal(0, 1, (1, 6, 10, 10)).astype(np.float32)
        xs, xz = act_params(x, dt)
        q, qr = bld.q("x", x, xs, xz, dt)
        y, yr, _, _ = qdq_conv(bld, q, qr, xs, xz, dt, 6, 12, pads=[1, 1, 1, 1])
        save_qdq(f"qdq_conv_relu_{tag}", bld, [("x", x)], [(y, yr)])
    bld = Builder()
    x = rng.normal(0, 1, (2, 4, 9, 9)).astype(np.float32)
    xs, xz = act_params(x, np.uint8)
    q, qr = bld.q("x", x, xs, xz, np.uint8)
    y, yr, _, _ = qdq_conv(bld, q, qr, xs, xz, np.uint8, 4, 8, wdt=np.uint8, act="clip", strides=[2, 2])
    save_qdq("qdq_conv_clip_u8_weights_strided", bld, [("x", x)], [(y, yr)])
    # A float bias that is not whole accumulator units, with an output step finer than the
    # accumulator's (multiplier about 3): rounding the bias to accumulator units would be off
    # by more than a step; the requantization carries it as a fixed-point addend.
    bld = Builder()
    xq = rng.integers(125, 132, (1, 2, 6, 6)).astype(np.uint8)
    wq = rng.integers(-2, 3, (4, 2, 3, 3)).astype(np.int8)
    bias = np.array([0.1, -0.37, 0.61, 1.13], np.float32)
    xd, xdr = bld.dq("x", xq, 0.5, 128, np.uint8)
    wd, wdr = bld.dq(bld.const("w", wq), wq, np.float32(0.5), 0, np.int8)
    y = bld.node("Conv", [xd, wd, bld.const("b", bias)], pads=[1, 1, 1, 1])
    yr = (conv2d(xdr.astype(np.float64), wdr.astype(np.float64), (1, 1), (1, 1, 1, 1)) + bias.reshape(1, -1, 1, 1)).astype(np.float32)
    q, qr = bld.q(y, yr, 0.08, 128, np.uint8)
    save_qdq("qdq_conv_float_bias_fine_output_u8", bld, [("x", xq)], [(q, qr)])
    # Conv -> BatchNormalization (not folded before quantization): the normalization joins the
    # kernel's scales and bias, before a Clip and Q, before a float output, after depthwise
    for tag, dt, act, out_q, group in (("clip_u8", np.uint8, "clip", True, 1), ("float_output_s8", np.int8, None, False, 1),
                                       ("depthwise_relu_u8", np.uint8, "relu", True, 8)):
        bld = Builder()
        x = rng.normal(0, 1, (1, 8, 9, 9)).astype(np.float32)
        xs, xz = act_params(x, dt)
        q, qr = bld.q("x", x, xs, xz, dt)
        y, yr, _, _ = qdq_conv(bld, q, qr, xs, xz, dt, 8, 8 if group > 1 else 12, act=act, bn=True,
                               quantize_out=out_q, group=group, pads=[1, 1, 1, 1])
        save_qdq(f"qdq_conv_batchnorm_{tag}", bld, [("x", x)], [(y, yr)])
    bld = Builder()
    x = rng.normal(0, 1, (2, 3, 48)).astype(np.float32)
    xs, xz = act_params(x, np.uint8)
    q, qr = bld.q("x", x, xs, xz, np.uint8)
    y, yr, _, _ = qdq_dense(bld, q, qr, xs, xz, np.uint8, 48, 20, gemm=False)
    save_qdq("qdq_matmul_batched_u8", bld, [("x", x)], [(y, yr)])
    bld = Builder()
    x = rng.normal(0, 1, (5, 30)).astype(np.float32)
    xs, xz = act_params(x, np.int8)
    q, qr = bld.q("x", x, xs, xz, np.int8)
    y, yr, _, _ = qdq_dense(bld, q, qr, xs, xz, np.int8, 30, 17, quantize_out=False)
    save_qdq("qdq_gemm_float_output_s8", bld, [("x", x)], [(y, yr)])
    # A small CNN: conv-relu x2 (the second strided), then a dense layer; every layer's
    # quantized output is checked (each within one step of the reference computed from the
    # reference's previous layer; a step of difference upstream can move a downstream value by
    # one more step, hence tolerance 2 there).
    bld = Builder()
    x = rng.normal(0, 1, (1, 3, 12, 12)).astype(np.float32)
    xs, xz = act_params(x, np.uint8)
    q, qr = bld.q("x", x, xs, xz, np.uint8)
    c1, c1r, s1, z1 = qdq_conv(bld, q, qr, xs, xz, np.uint8, 3, 8, pads=[1, 1, 1, 1])
    c2, c2r, s2, z2 = qdq_conv(bld, c1, c1r, s1, z1, np.uint8, 8, 16, strides=[2, 2], pads=[1, 1, 1, 1])
    flat = bld.node("Flatten", [c2])
    d, dr, _, _ = qdq_dense(bld, flat, c2r.reshape(1, -1), s2, z2, np.uint8, 16 * 36, 10)
    save_qdq("qdq_cnn_u8", bld, [("x", x)], [(c1, c1r), (c2, c2r), (d, dr)], tolerance=2)
    # An MLP in int8 (symmetric activations): Gemm-Relu, MatMul-Relu, Gemm with a float output
    bld = Builder()
    x = rng.normal(0, 1, (3, 40)).astype(np.float32)
    xs, xz = act_params(x, np.int8)
    q, qr = bld.q("x", x, xs, xz, np.int8)
    h1, h1r, s1, z1 = qdq_dense(bld, q, qr, xs, xz, np.int8, 40, 32, relu=True)
    h2, h2r, s2, z2 = qdq_dense(bld, h1, h1r, s1, z1, np.int8, 32, 24, gemm=False, relu=True)
    y, yr, _, _ = qdq_dense(bld, h2, h2r, s2, z2, np.int8, 24, 10, quantize_out=False)
    save_qdq("qdq_mlp_s8", bld, [("x", x)], [(h1, h1r), (h2, h2r), (y, yr)], tolerance=2)


def sigmoid(x):
    return (1 / (1 + np.exp(-x.astype(np.float64)))).astype(np.float32)


def pool2d(x, k, s, mode, pads=(0, 0, 0, 0), count_include_pad=False):
    n, c, h, w = x.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])),
                constant_values=-np.inf if mode == "max" else 0)
    valid = np.pad(np.ones((h, w)), ((pads[0], pads[2]), (pads[1], pads[3])))
    oh, ow = (xp.shape[2] - k) // s + 1, (xp.shape[3] - k) // s + 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * s:i * s + k, j * s:j * s + k]
            if mode == "max":
                y[:, :, i, j] = win.max(axis=(2, 3))
            else:
                cnt = k * k if count_include_pad else valid[i * s:i * s + k, j * s:j * s + k].sum()
                y[:, :, i, j] = win.sum(axis=(2, 3)) / cnt
    return y.astype(np.float32)


def quantized_input(bld, shape, dt, name="x", spread=1.0):
    x = rng.normal(0, spread, shape).astype(np.float32)
    xs, xz = act_params(x, dt)
    q, qr = bld.q(name, x, xs, xz, dt)
    xd, xdr = bld.dq(q, qr, xs, xz, dt)
    return x, xd, xdr


def qdq_single(name, dt, op, fn, shape=(2, 4, 6, 6), extra=(), tolerance=1, same_scale=False, **attrs):
    """x -> Q -> DQ -> OP -> Q: one pattern, float reference FN."""
    bld = Builder()
    x, xd, xdr = quantized_input(bld, shape, dt)
    ins = [xd] + [bld.const("c", v) if v is not None else "" for v in extra]
    y = bld.node(op, ins, **attrs)
    yr = fn(xdr)
    if same_scale:  # quantized like the input: the op runs on the quantized data as it is
        scale, zp = bld.inits[0][1], bld.inits[1][1]
    else:
        scale, zp = act_params(yr, dt)
    q, qr = bld.q(y, yr, scale, zp, dt)
    save_qdq(name, bld, [("x", x)], [(q, qr)], tolerance)


def conv_transpose2d(x, w, stride, pads, out_pad):
    """ConvTranspose, one group: every input scatters its kernel into the output."""
    n, c, h, wd = x.shape
    _, m, kh, kw = w.shape
    full = np.zeros((n, m, (h - 1) * stride + kh + out_pad, (wd - 1) * stride + kw + out_pad))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += np.einsum("nc,cmab->nmab", x[:, :, i, j], w)
    return full[:, :, pads[0]:full.shape[2] - pads[2], pads[1]:full.shape[3] - pads[3]]


def qdq_convtranspose_case():
    bld = Builder()
    x, xd, xdr = quantized_input(bld, (1, 4, 5, 5), np.uint8)
    w = rng.normal(0, 0.3, (4, 6, 3, 3)).astype(np.float32)
    wd, wdr, ws = bld.weights(w, np.int8, 1)
    bd, bdr = bld.bias(rng.normal(0, 0.2, 6), bld.inits[0][1], ws)
    y = bld.node("ConvTranspose", [xd, wd, bd], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])
    yr = (conv_transpose2d(xdr.astype(np.float64), wdr.astype(np.float64), 2, [1, 1, 1, 1], 1) +
          bdr.reshape(1, -1, 1, 1)).astype(np.float32)
    scale, zp = act_params(yr, np.uint8)
    q, qr = bld.q(y, yr, scale, zp, np.uint8)
    save_qdq("qdq_convtranspose_u8", bld, [("x", x)], [(q, qr)])


def qdq_more_cases():
    qdq_convtranspose_case()
    for dt, tag in ((np.uint8, "u8"), (np.int8, "s8")):
        qdq_single(f"qdq_sigmoid_{tag}", dt, "Sigmoid", sigmoid)
        qdq_single(f"qdq_leakyrelu_{tag}", dt, "LeakyRelu", lambda v: np.where(v >= 0, v, np.float32(0.1) * v).astype(np.float32),
                   alpha=0.1)
        qdq_single(f"qdq_maxpool_{tag}", dt, "MaxPool", lambda v: pool2d(v, 3, 2, "max", (1, 1, 1, 1)), tolerance=0,
                   same_scale=True, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
        qdq_single(f"qdq_averagepool_{tag}", dt, "AveragePool", lambda v: pool2d(v, 2, 2, "avg"), kernel_shape=[2, 2],
                   strides=[2, 2])
        qdq_single(f"qdq_globalaveragepool_{tag}", dt, "GlobalAveragePool", lambda v: v.mean(axis=(2, 3), keepdims=True))
    qdq_single("qdq_transpose_requantized_u8", np.uint8, "Transpose", lambda v: v.transpose(0, 2, 3, 1), tolerance=0,
               perm=[0, 2, 3, 1])
    qdq_single("qdq_reshape_same_scale_s8", np.int8, "Reshape", lambda v: v.reshape(2, -1), tolerance=0, same_scale=True,
               extra=[np.array([2, -1], np.int64)])
    qdq_single("qdq_resize_nearest_u8", np.uint8, "Resize", lambda v: v.repeat(2, axis=2).repeat(2, axis=3), tolerance=0,
               same_scale=True, extra=[None, np.array([1, 1, 2, 2], np.float32)], mode="nearest")
    qdq_single("qdq_mul_constant_u8", np.uint8, "Mul", lambda v: (v * np.float32(-1.5)).astype(np.float32),
               extra=[np.array(-1.5, np.float32)])
    for dt, tag in ((np.uint8, "u8"), (np.int8, "s8")):
        for op, fn in (("Add", np.add), ("Mul", np.multiply)):
            bld = Builder()
            a, ad, adr = quantized_input(bld, (2, 3, 5), dt, "a")
            b, bd, bdr = quantized_input(bld, (3, 1), dt, "b", spread=2.0)  # broadcast
            y = bld.node(op, [ad, bd])
            yr = fn(adr, bdr).astype(np.float32)
            if op == "Add":  # and a fused Relu
                y, yr = bld.node("Relu", [y]), np.maximum(yr, 0)
            scale, zp = act_params(yr, dt)
            q, qr = bld.q(y, yr, scale, zp, dt)
            save_qdq(f"qdq_{op.lower()}_broadcast_{tag}", bld, [("a", a), ("b", b)], [(q, qr)])
    bld = Builder()
    a, ad, adr = quantized_input(bld, (1, 3, 4, 4), np.uint8, "a")
    b, bd, bdr = quantized_input(bld, (1, 5, 4, 4), np.uint8, "b", spread=3.0)
    y = bld.node("Concat", [ad, bd], axis=1)
    yr = np.concatenate([adr, bdr], axis=1)
    scale, zp = act_params(yr, np.uint8)
    q, qr = bld.q(y, yr, scale, zp, np.uint8)
    save_qdq("qdq_concat_requantized_u8", bld, [("a", a), ("b", b)], [(q, qr)], 0)
    bld = Builder()
    x, xd, xdr = quantized_input(bld, (3, 7), np.int8)
    scale, zp = act_params(xdr * 2, np.int8)
    q, qr = bld.q(xd, xdr, scale, zp, np.int8)
    save_qdq("qdq_requantize_s8", bld, [("x", x)], [(q, qr)], 0)


#
# com.microsoft QOperator ops
#
MS = [("com.microsoft", 1)]


def ms_case(name, nodes, inputs, outputs, inits, tolerance):
    save(name, nodes, inputs, outputs, 13, inits, domains=MS, int_tolerance=tolerance)


def ms_cases():
    for dt, tag in ((np.uint8, "u8"), (np.int8, "s8")):
        za, zb, zc = (dt(100), dt(140), dt(128)) if dt == np.uint8 else (dt(-10), dt(12), dt(0))
        a, b = ints((2, 3, 4), dt), ints((3, 1), dt)
        sa, sb, sc = np.float32(0.05), np.float32(0.02), np.float32(0.07)
        va, vb = dequantize(a, sa, za), dequantize(b, sb, zb)
        params = [("sa", scalar(sa)), ("za", np.array(za, dt)), ("sb", scalar(sb)), ("zb", np.array(zb, dt)),
                  ("sc", scalar(sc)), ("zc", np.array(zc, dt))]
        for op, fn in (("QLinearAdd", np.add), ("QLinearMul", np.multiply)):
            node = helper.make_node(op, ["a", "sa", "za", "b", "sb", "zb", "sc", "zc"], ["c"], domain="com.microsoft")
            ms_case(f"ms_{op.lower()}_{tag}", [node], [("a", a), ("b", b)], [("c", quantize(fn(va, vb), sc, zc, dt))], params, 1)
        x = ints((2, 5, 6), dt)
        xs, xz, ys, yz = np.float32(0.06), dt(za), np.float32(1 / 256), dt(0 if dt == np.uint8 else -128)
        node = helper.make_node("QLinearSigmoid", ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft")
        ms_case(f"ms_qlinearsigmoid_{tag}", [node], [("x", x)], [("y", quantize(sigmoid(dequantize(x, xs, xz)), ys, yz, dt))],
                [("xs", scalar(xs)), ("xz", np.array(xz, dt)), ("ys", scalar(ys)), ("yz", np.array(yz, dt))], 1)
        v = dequantize(x, xs, xz)
        ys2, yz2 = np.float32(0.05), dt(za)
        node = helper.make_node("QLinearLeakyRelu", ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft", alpha=0.2)
        ms_case(f"ms_qlinearleakyrelu_{tag}", [node], [("x", x)],
                [("y", quantize(np.where(v >= 0, v, np.float32(0.2) * v), ys2, yz2, dt))],
                [("xs", scalar(xs)), ("xz", np.array(xz, dt)), ("ys", scalar(ys2)), ("yz", np.array(yz2, dt))], 1)
        x4 = ints((2, 6, 5, 7), dt)
        xs4, xz4, ys4, yz4 = np.float32(0.1), dt(za), np.float32(0.03), dt(zb)
        for last in (0, 1):
            xin = x4.transpose(0, 2, 3, 1) if last else x4
            mean = dequantize(x4, xs4, xz4).astype(np.float64).mean(axis=(2, 3), keepdims=True).astype(np.float32)
            y = quantize(mean, ys4, yz4, dt)
            node = helper.make_node("QLinearGlobalAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft",
                                    channels_last=last)
            ms_case(f"ms_qlinearglobalaveragepool_{'nhwc' if last else 'nchw'}_{tag}", [node], [("x", xin)],
                    [("y", y.transpose(0, 2, 3, 1) if last else y)],
                    [("xs", scalar(xs4)), ("xz", np.array(xz4, dt)), ("ys", scalar(ys4)), ("yz", np.array(yz4, dt))], 1)
        node = helper.make_node("QLinearAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft",
                                kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
        y = quantize(pool2d(dequantize(x4, xs4, xz4), 3, 2, "avg", (1, 1, 1, 1)), ys4, yz4, dt)
        ms_case(f"ms_qlinearaveragepool_{tag}", [node], [("x", x4)], [("y", y)],
                [("xs", scalar(xs4)), ("xz", np.array(xz4, dt)), ("ys", scalar(ys4)), ("yz", np.array(yz4, dt))], 1)
        a1, a2 = ints((1, 2, 3), dt), ints((1, 4, 3), dt)
        s1, z1, s2, z2, sy, zy = np.float32(0.1), dt(za), np.float32(0.03), dt(zb), np.float32(0.08), dt(zc)
        y = quantize(np.concatenate([dequantize(a1, s1, z1), dequantize(a2, s2, z2)], axis=1), sy, zy, dt)
        node = helper.make_node("QLinearConcat", ["sy", "zy", "a1", "s1", "z1", "a2", "s2", "z2"], ["y"],
                                domain="com.microsoft", axis=1)
        ms_case(f"ms_qlinearconcat_{tag}", [node], [("a1", a1), ("a2", a2)], [("y", y)],
                [("sy", scalar(sy)), ("zy", np.array(zy, dt)), ("s1", scalar(s1)), ("z1", np.array(z1, dt)),
                 ("s2", scalar(s2)), ("z2", np.array(z2, dt))], 0)


#
# com.microsoft ops ONNX Runtime's quantizer writes that stand for a float op between
# DequantizeLinear and QuantizeLinear (compiler/ops/qexpand.c)
#
def qgemm_case(name, dt, wdt, M, K, N, per_column, trans_b, bias, quantized_out):
    za = dt(3) if dt == np.uint8 else dt(-5)
    a, sa = ints((M, K), dt), np.float32(0.04)
    b = ints((N, K) if trans_b else (K, N), wdt)
    sb = rng.uniform(0.005, 0.02, N).astype(np.float32) if per_column else np.float32(0.01)
    zb = (ints(N, wdt, -3, 3) if per_column else np.array(2, wdt)) if wdt == np.int8 else \
         (ints(N, wdt, 120, 135) if per_column else np.array(128, wdt))
    bt = b.T if trans_b else b
    acc = (a.astype(np.int64) - za) @ (bt.astype(np.int64) - np.asarray(zb, np.int64))
    ins, names = [("a", a)], ["a", "sa", "za", "b", "sb", "zb"]
    params = [("sa", scalar(sa)), ("za", np.array(za, dt)), ("b", b), ("sb", np.asarray(sb)), ("zb", np.asarray(zb, wdt))]
    if bias:
        c = rng.integers(-2000, 2000, N).astype(np.int32)
        acc = acc + c
        params.append(("c", c))
    names.append("c" if bias else "")
    if quantized_out:
        sy, zy = np.float32(0.5), dt(10) if dt == np.uint8 else dt(0)
        names += ["sy", "zy"]
        params += [("sy", scalar(sy)), ("zy", np.array(zy, dt))]
        y = requant(acc, sa, sb, sy, zy, dt, 1)
    else:
        y = (acc.astype(np.float64) * (np.float32(sa) * np.asarray(sb, np.float32)).astype(np.float64)).astype(np.float32)
    node = helper.make_node("QGemm", names, ["y"], domain="com.microsoft", transB=int(trans_b))
    ms_case(name, [node], ins, [("y", y)], params, 1 if quantized_out else 0)


def lstm_reference(X, W, R, B, direction):
    """ONNX LSTM (default activations, no peepholes), layout 0: Y, Y_h, Y_c."""
    T, N, _ = X.shape
    D, G4, H = W.shape[0], W.shape[1], R.shape[2]
    Y = np.zeros((T, D, N, H), np.float32)
    hs, cs = np.zeros((D, N, H), np.float32), np.zeros((D, N, H), np.float32)
    for d in range(D):
        h, c = np.zeros((N, H)), np.zeros((N, H))
        steps = range(T - 1, -1, -1) if direction == "reverse" or d == 1 else range(T)
        for t in steps:
            g = X[t] @ W[d].T + h @ R[d].T + B[d, :G4] + B[d, G4:]
            i, o, f, cc = (g[:, k * H:(k + 1) * H] for k in range(4))
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(cc)
            h = sigmoid(o) * np.tanh(c)
            Y[t, d] = h
        hs[d], cs[d] = h, c
    return Y, hs, cs


def dynamic_lstm_case(name, dt, per_row, direction):
    T, N, I, H = 5, 2, 6, 8
    D = 2 if direction == "bidirectional" else 1
    X = rng.uniform(-1, 1, (T, N, I)).astype(np.float32)
    B = rng.uniform(-0.5, 0.5, (D, 8 * H)).astype(np.float32)
    ins, params, floats = [], [], []
    for tag, L in (("w", I), ("r", H)):
        q = ints((D, L, 4 * H), dt)  # ORT's layout: [directions, size, 4 x hidden]
        shape = (D, 4 * H) if per_row else (D,)
        scale = rng.uniform(0.002, 0.01, shape).astype(np.float32)
        zp = ints(shape, dt, 120, 136) if dt == np.uint8 else ints(shape, dt, -4, 4)
        s3, z3 = (scale[:, None, :], zp[:, None, :]) if per_row else (scale[:, None, None], zp[:, None, None])
        floats.append(((q.astype(np.int32) - z3) * s3).astype(np.float32).transpose(0, 2, 1))
        params += [(tag, q), (tag + "_scale", scale), (tag + "_zp", zp)]
    Y, Yh, Yc = lstm_reference(X, floats[0], floats[1], B, direction)
    names = ["x", "w", "r", "b", "", "", "", "", "w_scale", "w_zp", "r_scale", "r_zp"]
    node = helper.make_node("DynamicQuantizeLSTM", names, ["y", "y_h", "y_c"], domain="com.microsoft",
                            hidden_size=H, direction=direction)
    ms_case(name, [node], [("x", X)], [("y", Y), ("y_h", Yh), ("y_c", Yc)], params + [("b", B)], 0)


def ms_float_op_cases():
    for dt, tag in ((np.uint8, "u8"), (np.int8, "s8")):
        qgemm_case(f"ms_qgemm_{tag}", dt, np.int8, 5, 7, 9, False, False, True, True)
        qgemm_case(f"ms_qgemm_transb_per_column_{tag}", dt, np.int8, 4, 33, 20, True, True, True, True)
        qgemm_case(f"ms_qgemm_float_out_{tag}", dt, np.int8, 3, 10, 6, True, True, True, False)
        qgemm_case(f"ms_qgemm_no_bias_{tag}", dt, dt, 2, 16, 17, False, True, False, True)
        x, xs, xz = ints((2, 3, 10), dt), np.float32(0.08), dt(128) if dt == np.uint8 else dt(0)
        ys, yz = np.float32(1 / 256), dt(0) if dt == np.uint8 else dt(-128)
        qp = [("xs", scalar(xs)), ("xz", np.array(xz, dt)), ("ys", scalar(ys)), ("yz", np.array(yz, dt))]
        v = dequantize(x, xs, xz).astype(np.float64)
        for opset, axis in ((13, -1), (13, 1), (12, 1)):
            red = tuple(range(axis, 3)) if opset < 13 else (axis,)  # before 13: flattened from the axis
            e = np.exp(v - v.max(axis=red, keepdims=True))
            y = quantize((e / e.sum(axis=red, keepdims=True)).astype(np.float32), ys, yz, dt)
            node = helper.make_node("QLinearSoftmax", ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft",
                                    axis=axis, opset=opset)
            ms_case(f"ms_qlinearsoftmax_opset{opset}_axis{axis % 3}_{tag}", [node], [("x", x)], [("y", y)], qp, 1)
        ry, rz = np.float32(0.05), dt(100) if dt == np.uint8 else dt(-3)
        y = quantize(v.mean(axis=(1,), keepdims=False).astype(np.float32), ry, rz, dt)
        node = helper.make_node("QLinearReduceMean", ["x", "xs", "xz", "ys", "yz"], ["y"], domain="com.microsoft",
                                axes=[1], keepdims=0)
        ms_case(f"ms_qlinearreducemean_{tag}", [node], [("x", x)], [("y", y)],
                [("xs", scalar(xs)), ("xz", np.array(xz, dt)), ("ys", scalar(ry)), ("yz", np.array(rz, dt))], 1)
        cond = rng.integers(0, 2, (3, 10)).astype(bool)
        other, os_, oz = ints((2, 1, 10), dt), np.float32(0.03), dt(7)
        zs, zz = np.float32(0.06), dt(120) if dt == np.uint8 else dt(2)
        y = quantize(np.where(cond, v.astype(np.float32), dequantize(other, os_, oz)), zs, zz, dt)
        node = helper.make_node("QLinearWhere", ["c", "x", "xs", "xz", "o", "os", "oz", "zs", "zz"], ["y"],
                                domain="com.microsoft")
        ms_case(f"ms_qlinearwhere_{tag}", [node], [("c", cond), ("x", x), ("o", other)], [("y", y)],
                [("xs", scalar(xs)), ("xz", np.array(xz, dt)), ("os", scalar(os_)), ("oz", np.array(oz, dt)),
                 ("zs", scalar(zs)), ("zz", np.array(zz, dt))], 1)
        dynamic_lstm_case(f"ms_dynamicquantizelstm_{tag}", dt, False, "forward")
        dynamic_lstm_case(f"ms_dynamicquantizelstm_per_row_bidirectional_{tag}", dt, True, "bidirectional")


qoperator_cases()
qdq_cases()
qdq_more_cases()
ms_cases()
ms_float_op_cases()
