# qcontrib.py — com.microsoft QOperator ops against numpy implementations of ONNX Runtime's
# definitions (its CPU kernels: the ops' only specification), compared exactly:
#   QLinearSigmoid, QLinearLeakyRelu: a 256-entry table q_out(f(dq_in(x))) in float32, the
#     logistic being MLAS's rational polynomial with fused multiply-adds;
#   QLinearConcat: each input through such a table with f the identity, unless it is
#     quantized like the output (then copied);
#   QLinearAdd, QLinearMul: float32 formulas (fused multiply-adds for Add, ordered by how
#     ONNX Runtime walks the broadcast);
# one node per op for uint8 and int8 on every input byte, zero points such as -127, -108, -4,
# 20 and scales whose ratios make rounding ties, and chains as a quantized detector has them
# (QLinearConv -> activation -> QLinearConv ..., each keeping its 8-bit rounding).
# Also quantization parameters in every one-element form ([], [1], [1, 1]) mixed freely.
import numpy as np
from onnx import helper

from casegen import save

rng = np.random.default_rng(1107)
f32 = np.float32
RANGE = {np.uint8: (0, 255), np.int8: (-128, 127)}
MS = [("com.microsoft", 1)]


def fma32(a, b, c):
    """float32 a * b + c rounded once (exact: the float64 product is exact, TwoSum gives the
    sum's error, which decides float32 ties the float64 sum rounded onto)."""
    a, b, c = (np.asarray(v, f32).astype(np.float64) for v in (a, b, c))
    p = a * b
    s = p + c
    bb = s - p
    err = (p - (s - bb)) + (c - bb)
    r = s.astype(f32)
    r64 = r.astype(np.float64)
    up, down = np.nextafter(r, f32(np.inf)), np.nextafter(r, f32(-np.inf))
    tie_up = (r64 < s) & (err > 0) & (s - r64 == (up.astype(np.float64) - r64) / 2)
    tie_down = (r64 > s) & (err < 0) & (r64 - s == (r64 - down.astype(np.float64)) / 2)
    return np.where(tie_up, up, np.where(tie_down, down, r)).astype(f32)


def quantize(v, scale, zp, dt):
    """MLAS QuantizeLinear: round half to even of v / scale (float32), plus zp, saturated."""
    q = np.round((np.asarray(v, f32) / f32(scale)).astype(f32)).astype(np.float64) + int(zp)
    return np.clip(q, *RANGE[dt]).astype(dt)


def codes(dt):
    """Every value of DT, in the order of their bytes."""
    return np.arange(256).astype(np.uint8).view(dt)


def dequantize(x, scale, zp):
    return (f32(scale) * (x.astype(np.int32) - int(zp)).astype(f32)).astype(f32)


def logistic(x):
    """MLAS's logistic: an odd rational polynomial of x clamped to [-18, 18], fused multiply-adds,
    clamped below at 0 (not above: near 18 it exceeds 1 by an ulp, as ONNX Runtime's x86-64
    kernel computes it)."""
    alpha = [f32(v) for v in (4.37031012579801e-11, 1.15627324459942e-07, 6.08574864600143e-05,
                              8.51377133304701e-03, 2.48287947061529e-01)]
    beta = [f32(v) for v in (6.10247389755681e-13, 5.76102136993427e-09, 6.29106785017040e-06,
                             1.70198817374094e-03, 1.16817656904453e-01, 9.93151921023180e-01)]
    x = np.clip(np.asarray(x, f32), f32(-18), f32(18))
    x2 = (x * x).astype(f32)
    p = fma32(x2, alpha[0], alpha[1])
    for k in alpha[2:]:
        p = fma32(p, x2, k)
    q = fma32(x2, beta[0], beta[1])
    for k in beta[2:]:
        q = fma32(q, x2, k)
    y = ((x * p).astype(f32) / q).astype(f32) + f32(0.5)
    return np.maximum(y.astype(f32), f32(0))


def identity(v):
    return v


def leaky_relu(alpha):
    return lambda v: np.where(v >= 0, v, (f32(alpha) * v).astype(f32)).astype(f32)


def table(f, xs, xz, ys, yz, dt, yt=None):
    """ONNX Runtime's lookup table: entry i for the input whose byte is i."""
    return quantize(f(dequantize(codes(dt), xs, xz)), ys, yz, yt or dt)


def lookup(x, t):
    return t[x.view(np.uint8)]


def constant_along_span(shape, out):
    """ONNX Runtime walks a broadcast along the innermost output dim larger than 1; an operand
    constant along it is the scalar of each span."""
    for d in range(len(out) - 1, -1, -1):
        if out[d] == 1:
            continue
        k = d - (len(out) - len(shape))
        return k < 0 or shape[k] == 1
    return False


def qlinear_add(a, sa, za, b, sb, zb, sc, zc, dt):
    """C = roundeven(fma(p, rp, fma(q, rq, k))), k = zc - fma(rp, zp, rq * zq), p the operand
    varying along the broadcast's spans (A unless A is constant along them), q the other."""
    out = np.broadcast_shapes(a.shape, b.shape)
    ra, rb = f32(f32(sa) / f32(sc)), f32(f32(sb) / f32(sc))
    (p, rp, zp), (q, rq, zq) = (a, ra, za), (b, rb, zb)
    if constant_along_span(a.shape, out):
        (p, rp, zp), (q, rq, zq) = (q, rq, zq), (p, rp, zp)
    k = f32(f32(zc) - fma32(rp, f32(int(zp)), f32(rq * f32(int(zq)))))
    p, q = np.broadcast_arrays(p.astype(np.int32).astype(f32), q.astype(np.int32).astype(f32))
    return np.clip(np.round(fma32(p, rp, fma32(q, rq, k))), *RANGE[dt]).astype(dt)


def qlinear_mul(a, sa, za, b, sb, zb, sc, zc, dt):
    """C = roundeven((a - za) * (b - zb) * m + zc), m = sa * sb / sc, each float32 step rounded."""
    m = f32(f32(f32(sa) * f32(sb)) / f32(sc))
    prod = ((a.astype(np.int32) - int(za)) * (b.astype(np.int32) - int(zb))).astype(f32)
    v = ((prod * m).astype(f32) + f32(zc)).astype(f32)
    return np.clip(np.round(v), *RANGE[dt]).astype(dt)


def qlinear_conv(x, xs, xz, w, ws, wz, ys, yz, b, dt, pads):
    """QLinearConv (2-D, stride 1) requantized as ONNX Runtime does: float32(acc) times the
    float32 multiplier x_scale * w_scale / y_scale, rounded half to even."""
    xp = np.pad(x.astype(np.int64) - int(xz), ((0, 0), (0, 0), (pads, pads), (pads, pads)))
    m, c, kh, kw = w.shape
    oh, ow = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
    acc = np.zeros((x.shape[0], m, oh, ow), np.int64)
    wc = w.astype(np.int64) - np.asarray(wz, np.int64).reshape(-1, 1, 1, 1)
    for i in range(kh):
        for j in range(kw):
            acc += np.einsum("nchw,mc->nmhw", xp[:, :, i:i + oh, j:j + ow], wc[:, :, i, j])
    acc += b.reshape(1, -1, 1, 1)
    mult = ((f32(xs) * np.asarray(ws, f32)).astype(f32) / f32(ys)).astype(f32).reshape(1, -1, 1, 1)
    v = (acc.astype(f32) * mult).astype(f32)
    return np.clip(np.round(v).astype(np.float64) + int(yz), *RANGE[dt]).astype(dt)


def params(dt, s, z, shape_s=(), shape_z=()):
    """A scale and zero point as initializer arrays of the given shapes."""
    return np.full(shape_s, s, f32), np.full(shape_z, z, dt)


def ms(name, nodes, inputs, outputs, inits):
    save(name, nodes, inputs, outputs, 13, inits, domains=MS)


def node(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, domain="com.microsoft", **attrs)


# (x_scale, x_zp, y_scale, y_zp) per type: zero points as ONNX Runtime's quantizer writes them
# and scale ratios that put many values on ties (x_scale / y_scale of 1/2, 3/2).
UNARY_PARAMS = {
    np.int8: [(0.0625, -127, 1 / 256, -128), (0.05, -108, 0.1, -4), (0.0373, 20, 0.0249, -127), (0.03, -4, 0.02, 20)],
    np.uint8: [(0.0625, 1, 1 / 256, 0), (0.05, 148, 0.1, 20), (0.0373, 20, 0.0249, 128), (0.03, 255, 0.02, 131),
               (0.06855712, 0, 0.009950249, 0)],  # code 255's logistic is 1 + 2^-23, 1 / y_scale just below 100.5
}


def unary_cases():
    for dt, tag in ((np.uint8, "u8"), (np.int8, "s8")):
        x = codes(dt).reshape(4, 64)
        for i, (xs, xz, ys, yz) in enumerate(UNARY_PARAMS[dt]):
            qp = [("xs", f32(xs)), ("xz", np.array(xz, dt)), ("ys", f32(ys)), ("yz", np.array(yz, dt))]
            y = lookup(x, table(logistic, xs, xz, ys, yz, dt))
            ms(f"qop_qlinearsigmoid_{tag}_{i}", [node("QLinearSigmoid", ["x", "xs", "xz", "ys", "yz"], ["y"])],
               [("x", x)], [("y", y)], qp)
            for alpha in (0.1, 0.01):
                attrs = {"alpha": alpha} if alpha != 0.01 else {}  # 0.01: the default
                y = lookup(x, table(leaky_relu(alpha), xs, xz, ys, yz, dt))
                ms(f"qop_qlinearleakyrelu_{tag}_{i}_alpha{alpha}",
                   [node("QLinearLeakyRelu", ["x", "xs", "xz", "ys", "yz"], ["y"], **attrs)], [("x", x)], [("y", y)], qp)


# (a_scale, a_zp, b_scale, b_zp, c_scale, c_zp)
BINARY_PARAMS = {
    np.int8: [(0.05, -127, 0.1, -108, 0.2, -4), (0.0577, -7, 0.0311, 20, 0.0612, -108), (0.031, 20, 0.047, -4, 0.09, -127)],
    np.uint8: [(0.05, 1, 0.1, 148, 0.2, 20), (0.0577, 121, 0.0311, 20, 0.0612, 128), (0.031, 20, 0.047, 255, 0.09, 3)],
}
# same shape; B constant along the spans; A constant along them; B one element; broadcast rows
SHAPES = [((16, 256), (16, 256)), ((2, 16, 40), (16, 1)), ((16, 1), (2, 16, 40)), ((7, 45), ()), ((5, 40), (40,))]


def binary_cases():
    for dt, tag in ((np.uint8, "u8"), (np.int8, "s8")):
        all_pairs = np.stack(np.meshgrid(codes(dt), codes(dt), indexing="ij"))  # every (a, b)
        for i, (sa, za, sb, zb, sc, zc) in enumerate(BINARY_PARAMS[dt]):
            qp = [("sa", f32(sa)), ("za", np.array(za, dt)), ("sb", f32(sb)), ("zb", np.array(zb, dt)),
                  ("sc", f32(sc)), ("zc", np.array(zc, dt))]
            for op, ref in (("QLinearAdd", qlinear_add), ("QLinearMul", qlinear_mul)):
                n = node(op, ["a", "sa", "za", "b", "sb", "zb", "sc", "zc"], ["c"])
                for j, (ash, bsh) in enumerate(SHAPES):
                    a, b = (all_pairs[0], all_pairs[1]) if j == 0 else \
                           (rng.integers(*RANGE[dt], ash, endpoint=True).astype(dt),
                            rng.integers(*RANGE[dt], bsh, endpoint=True).astype(dt))
                    c = ref(a, sa, za, b, sb, zb, sc, zc, dt)
                    ms(f"qop_{op.lower()}_{tag}_{i}_shape{j}", [n], [("a", a), ("b", b)], [("c", c)], qp)


def concat_cases():
    for dt, tag in ((np.uint8, "u8"), (np.int8, "s8")):
        z = [-127, -108, -4, 20] if dt == np.int8 else [1, 148, 128, 20]
        ys, yz = f32(0.05), dt(z[2])
        ins = [(codes(dt).reshape(1, 4, 64), f32(0.025), dt(z[0])),  # half the output's scale: ties
               (rng.integers(*RANGE[dt], (1, 3, 64), endpoint=True).astype(dt), ys, yz),  # copied
               (codes(dt)[::-1].reshape(1, 4, 64), f32(0.0731), dt(z[1])),
               (rng.integers(*RANGE[dt], (1, 2, 64), endpoint=True).astype(dt), f32(0.15), dt(z[3]))]
        names, inits, feeds, parts = ["ys", "yz"], [("ys", ys), ("yz", np.array(yz, dt))], [], []
        for k, (x, s, zp) in enumerate(ins):
            names += [f"x{k}", f"s{k}", f"z{k}"]
            inits += [(f"s{k}", s), (f"z{k}", np.array(zp, dt))]
            feeds.append((f"x{k}", x))
            parts.append(x if (s, zp) == (ys, yz) else lookup(x, table(identity, s, zp, ys, yz, dt)))
        ms(f"qop_qlinearconcat_requantized_{tag}", [node("QLinearConcat", names, ["y"], axis=1)], feeds,
           [("y", np.concatenate(parts, axis=1))], inits)


def chain_case(dt, tag):
    """A detector's block: QLinearConv -> QLinearLeakyRelu -> QLinearConv -> QLinearSigmoid,
    QLinearMul (x * sigmoid(x)), a residual QLinearAdd and a QLinearConcat of branches with
    their own scales; every intermediate keeps its 8-bit rounding."""
    lo, hi = RANGE[dt]
    z = (lambda v: dt(v)) if dt == np.int8 else (lambda v: dt(v + 128))  # int8 zero points moved to uint8's range
    x = rng.integers(lo, hi, (1, 4, 9, 9), endpoint=True).astype(dt)
    xs, xz = f32(0.0078125), z(-1)
    inits, nodes = [("xs", xs), ("xz", np.array(xz, dt))], []

    def conv(name, inp, iq, cin, cout, k, oq, pads):
        """QLinearConv NAME of input INP (its name and quantization parameters' names), values
        IQ (with their parameters), to parameters OQ."""
        w = rng.integers(-127, 127, (cout, cin, k, k), endpoint=True).astype(np.int8)
        ws = rng.uniform(0.002, 0.01, cout).astype(f32)
        b = rng.integers(-3000, 3000, cout).astype(np.int32)
        inits.extend([(name + "_w", w), (name + "_ws", ws), (name + "_wz", np.zeros(cout, np.int8)), (name + "_b", b),
                      (name + "_s", oq[0]), (name + "_z", np.array(oq[1], dt))])
        nodes.append(helper.make_node("QLinearConv", [*inp, name + "_w", name + "_ws", name + "_wz", name + "_s",
                                                      name + "_z", name + "_b"], [name], pads=[pads] * 4))
        return qlinear_conv(iq[0], iq[1], iq[2], w, ws, np.zeros(cout), oq[0], oq[1], b, dt, pads)

    def qparam(name, s, zp):
        inits.extend([(name + "_s", f32(s)), (name + "_z", np.array(zp, dt))])
        return f32(s), zp

    c1q = (f32(0.0523), z(-108))
    c1 = conv("c1", ("x", "xs", "xz"), (x, xs, xz), 4, 8, 3, c1q, 1)
    l1q = qparam("l1", 0.0311, z(-127))
    nodes.append(node("QLinearLeakyRelu", ["c1", "c1_s", "c1_z", "l1_s", "l1_z"], ["l1"], alpha=0.1))
    l1 = lookup(c1, table(leaky_relu(0.1), *c1q, *l1q, dt))
    c2q = (f32(0.0733), z(-4))
    c2 = conv("c2", ("l1", "l1_s", "l1_z"), (l1, *l1q), 8, 8, 3, c2q, 1)
    s2q = qparam("s2", 1 / 256, z(-128))
    nodes.append(node("QLinearSigmoid", ["c2", "c2_s", "c2_z", "s2_s", "s2_z"], ["s2"]))
    s2 = lookup(c2, table(logistic, *c2q, *s2q, dt))
    m2q = qparam("m2", 0.0367, z(20))
    nodes.append(node("QLinearMul", ["c2", "c2_s", "c2_z", "s2", "s2_s", "s2_z", "m2_s", "m2_z"], ["m2"]))
    m2 = qlinear_mul(c2, *c2q, s2, *s2q, *m2q, dt)
    aq = qparam("a", 0.0577, z(-7))
    nodes.append(node("QLinearAdd", ["m2", "m2_s", "m2_z", "l1", "l1_s", "l1_z", "a_s", "a_z"], ["a"]))
    add = qlinear_add(m2, *m2q, l1, *l1q, *aq, dt)
    c3q = (f32(0.0412), z(20))
    c3 = conv("c3", ("a", "a_s", "a_z"), (add, *aq), 8, 6, 1, c3q, 0)
    yq = qparam("y", 0.0611, z(-20))
    nodes.append(node("QLinearConcat", ["y_s", "y_z", "c3", "c3_s", "c3_z", "s2", "s2_s", "s2_z", "a", "a_s", "a_z"], ["y"],
                      axis=1))
    y = np.concatenate([lookup(c3, table(identity, *c3q, *yq, dt)), lookup(s2, table(identity, *s2q, *yq, dt)),
                        lookup(add, table(identity, *aq, *yq, dt))], axis=1)
    save(f"qop_chain_detector_block_{tag}", nodes, [("x", x)], [("y", y), ("l1", l1), ("s2", s2)], 13, inits, domains=MS)


#
# Quantization parameters in any one-element form: [], [1], [1, 1], mixed freely
#
FORMS = [((1,), ()), ((), (1,)), ((1, 1), (1,)), ((1,), (1, 1, 1))]  # (scale shape, zero point shape)


def param_form_cases():
    for k, (ss, zs) in enumerate(FORMS):
        dt = np.int8 if k % 2 else np.uint8
        x = codes(dt).reshape(4, 64)
        s, zp = params(dt, 0.05, -108 if dt == np.int8 else 20, ss, zs)
        save(f"qop_params_dequantizelinear_{k}", [helper.make_node("DequantizeLinear", ["x", "s", "z"], ["y"])], [("x", x)],
             [("y", dequantize(x, s.item(), zp.item()))], 13, [("s", s), ("z", zp)])
        v = rng.uniform(-8, 8, (3, 50)).astype(f32)
        save(f"qop_params_quantizelinear_{k}", [helper.make_node("QuantizeLinear", ["v", "s", "z"], ["y"])], [("v", v)],
             [("y", quantize(v, s.item(), zp.item(), dt))], 13, [("s", s), ("z", zp)])
        # QLinearConv: x parameters in one form, y parameters in the other, per-tensor weights
        xs_, xz_ = params(dt, 0.02, zp.item(), ss, zs)
        ys_, yz_ = params(dt, 0.11, -4 if dt == np.int8 else 128, zs, ss)
        ws_, wz_ = params(np.int8, 0.01, 0, zs, ss)
        xi = rng.integers(*RANGE[dt], (1, 3, 6, 6), endpoint=True).astype(dt)
        w = rng.integers(-127, 127, (5, 3, 3, 3), endpoint=True).astype(np.int8)
        b = rng.integers(-500, 500, 5).astype(np.int32)
        y = qlinear_conv(xi, xs_.item(), xz_.item(), w, np.full(5, ws_.item(), f32), np.zeros(5), ys_.item(), yz_.item(), b,
                         dt, 1)
        save(f"qop_params_qlinearconv_{k}",
             [helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"], pads=[1] * 4)],
             [("x", xi)], [("y", y)], 13,
             [("xs", xs_), ("xz", xz_), ("w", w), ("ws", ws_), ("wz", wz_), ("ys", ys_), ("yz", yz_), ("b", b)])
        # ConvInteger and MatMulInteger zero points
        acc = qlinear_conv_acc(xi, xz_.item(), w)
        save(f"qop_params_convinteger_{k}", [helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"])], [("x", xi)],
             [("y", acc)], 13, [("w", w), ("xz", xz_), ("wz", wz_)])
        a = rng.integers(*RANGE[dt], (4, 9), endpoint=True).astype(dt)
        bm = rng.integers(-127, 127, (9, 6), endpoint=True).astype(np.int8)
        save(f"qop_params_matmulinteger_{k}", [helper.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["y"])], [("a", a)],
             [("y", ((a.astype(np.int32) - int(xz_.item())) @ bm.astype(np.int32)).astype(np.int32))], 13,
             [("b", bm), ("az", xz_), ("bz", wz_)])
        # QLinearMatMul: int32 products requantized by the float32 multiplier (float64 product,
        # exact for these sizes, as the ONNX reference computes it)
        acc = (a.astype(np.int64) - int(xz_.item())) @ bm.astype(np.int64)
        mult = f32(f32(xs_.item()) * f32(ws_.item()) / f32(ys_.item()))
        y = np.clip(np.round(acc * np.float64(mult)) + int(yz_.item()), *RANGE[dt]).astype(dt)
        save(f"qop_params_qlinearmatmul_{k}",
             [helper.make_node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])], [("a", a)], [("y", y)],
             13, [("as", xs_), ("az", xz_), ("b", bm), ("bs", ws_), ("bz", wz_), ("ys", ys_), ("yz", yz_)])
        # the com.microsoft ops
        sa, za = params(dt, 0.05, zp.item(), ss, zs)
        sb, zb = params(dt, 0.1, -127 if dt == np.int8 else 1, zs, ss)
        sc, zc = params(dt, 0.2, -4 if dt == np.int8 else 128, ss, ss)
        qp = [("sa", sa), ("za", za), ("sb", sb), ("zb", zb), ("sc", sc), ("zc", zc)]
        a2 = rng.integers(*RANGE[dt], (3, 20), endpoint=True).astype(dt)
        b2 = rng.integers(*RANGE[dt], (3, 20), endpoint=True).astype(dt)
        for op, ref in (("QLinearAdd", qlinear_add), ("QLinearMul", qlinear_mul)):
            c = ref(a2, sa.item(), za.item(), b2, sb.item(), zb.item(), sc.item(), zc.item(), dt)
            ms(f"qop_params_{op.lower()}_{k}", [node(op, ["a", "sa", "za", "b", "sb", "zb", "sc", "zc"], ["c"])],
               [("a", a2), ("b", b2)], [("c", c)], qp)
        y = lookup(x, table(logistic, sa.item(), za.item(), sb.item(), zb.item(), dt))
        ms(f"qop_params_qlinearsigmoid_{k}", [node("QLinearSigmoid", ["x", "sa", "za", "sb", "zb"], ["y"])], [("x", x)],
           [("y", y)], qp[:4])
        y = lookup(x, table(leaky_relu(0.01), sa.item(), za.item(), sc.item(), zc.item(), dt))
        ms(f"qop_params_qlinearleakyrelu_{k}", [node("QLinearLeakyRelu", ["x", "sa", "za", "sc", "zc"], ["y"])],
           [("x", x)], [("y", y)], qp[:2] + qp[4:])
        y = np.concatenate([lookup(a2, table(identity, sa.item(), za.item(), sc.item(), zc.item(), dt)),
                            lookup(b2, table(identity, sb.item(), zb.item(), sc.item(), zc.item(), dt))])
        ms(f"qop_params_qlinearconcat_{k}", [node("QLinearConcat", ["sc", "zc", "a", "sa", "za", "b", "sb", "zb"], ["y"], axis=0)],
           [("a", a2), ("b", b2)], [("y", y)], qp)
        # QGemm, expanded to DequantizeLinear / Gemm / QuantizeLinear in float (hence within a
        # step): a_scale and b_scale in different one-element forms
        g = a.astype(np.int64) - int(za.item())
        acc = g @ (bm.astype(np.int64) - int(wz_.item()))
        y = quantize((acc * np.float64(f32(sa.item()) * f32(ws_.item()))).astype(f32), 0.5, zc.item(), dt)
        save(f"qop_params_qgemm_{k}", [node("QGemm", ["a", "sa", "za", "b", "bs", "bz", "", "ys", "yz"], ["y"])],
             [("a", a)], [("y", y)], 13, [("sa", sa), ("za", za), ("b", bm), ("bs", ws_), ("bz", wz_),
                                          ("ys", np.full(zs, 0.5, f32)), ("yz", np.full(ss, zc.item(), dt))],
             domains=MS, int_tolerance=1)


def qlinear_conv_acc(x, xz, w):
    """ConvInteger without padding: int32 sums of (x - x_zp) * w."""
    xc = x.astype(np.int64) - int(xz)
    m, c, kh, kw = w.shape
    oh, ow = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    acc = np.zeros((x.shape[0], m, oh, ow), np.int64)
    for i in range(kh):
        for j in range(kw):
            acc += np.einsum("nchw,mc->nmhw", xc[:, :, i:i + oh, j:j + ow], w[:, :, i, j].astype(np.int64))
    return acc.astype(np.int32)


unary_cases()
binary_cases()
concat_cases()
chain_case(np.int8, "s8")
chain_case(np.uint8, "u8")
param_form_cases()
