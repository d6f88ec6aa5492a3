# qweights.py — float activations over compressed weights (passes/qdq.c, ops/wgemm.c):
# DequantizeLinear of constant int8/uint8 (per channel) and int4/uint4 (blocks along K,
# opset 21) weights into MatMul, Gemm and Conv; float16/bfloat16 weights behind a Cast;
# com.microsoft MatMulNBits (4 and 8 bits, packed and float zero points, bias); weights
# pruned in blocks (the sparse kernel). References: numpy float64 of the dequantized weights.
import numpy as np
from onnx import TensorProto, helper

from casegen import save

rng = np.random.default_rng(99)
INT4, UINT4 = 22, 21


def int4_tensor(values, signed):
    """An INT4/UINT4 TensorProto (numpy and onnx 1.12 have no 4-bit type): two per byte."""
    flat = (values.astype(np.int64).reshape(-1) & 15).astype(np.uint8)
    if flat.size % 2:
        flat = np.append(flat, 0)
    t = TensorProto()
    t.data_type = INT4 if signed else UINT4
    t.dims.extend(values.shape)
    t.raw_data = (flat[0::2] | (flat[1::2] << 4)).astype(np.uint8).tobytes()
    return t


def conv2d(x, w, pads, group=1):
    n, c, h, wd = x.shape
    m, cpg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh, ow = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
    y = np.zeros((n, m, oh, ow))
    mpg = m // group
    for g in range(group):
        for i in range(kh):
            for j in range(kw):
                y[:, g * mpg:(g + 1) * mpg] += np.einsum("nchw,mc->nmhw", xp[:, g * cpg:(g + 1) * cpg, i:i + oh, j:j + ow],
                                                         w[g * mpg:(g + 1) * mpg, :, i, j])
    return y


def dq_blocked(codes, scale, zp, axis, block):
    s = np.repeat(scale, block, axis=axis)
    z = np.repeat(zp, block, axis=axis)
    sl = [slice(None)] * codes.ndim
    sl[axis] = slice(0, codes.shape[axis])
    return (codes.astype(np.int64) - z[tuple(sl)]) * s[tuple(sl)].astype(np.float64)


def dq_node(name, codes_name, scale_name, zp_name, **attrs):
    ins = [codes_name, scale_name] + ([zp_name] if zp_name else [])
    return helper.make_node("DequantizeLinear", ins, [name], **attrs)


def int8_cases():
    x = rng.normal(0, 1, (3, 40)).astype(np.float32)
    codes = rng.integers(-128, 128, (40, 24)).astype(np.int8)
    scale = rng.uniform(0.001, 0.01, 24).astype(np.float32)
    w = codes.astype(np.float64) * scale
    save("wonly_matmul_int8_per_channel", [dq_node("w", "wq", "ws", None, axis=1), helper.make_node("MatMul", ["x", "w"], ["y"])],
         [("x", x)], [("y", (x @ w).astype(np.float32))], 13, [("wq", codes), ("ws", scale)])
    codes = rng.integers(0, 256, (24, 40)).astype(np.uint8)
    zp = rng.integers(100, 156, 24).astype(np.uint8)
    w = (codes.astype(np.float64) - zp[:, None]) * scale[:, None]
    b = rng.normal(0, 1, 24).astype(np.float32)
    save("wonly_gemm_uint8_zero_points", [dq_node("w", "wq", "ws", "wz", axis=0),
                                          helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1, beta=0.5)],
         [("x", x)], [("y", (x @ w.T + 0.5 * b).astype(np.float32))], 13, [("wq", codes), ("ws", scale), ("wz", zp), ("b", b)])
    xc = rng.normal(0, 1, (1, 6, 7, 7)).astype(np.float32)
    codes = rng.integers(-127, 128, (8, 3, 3, 3)).astype(np.int8)
    scale = rng.uniform(0.005, 0.02, 8).astype(np.float32)
    w = codes.astype(np.float64) * scale[:, None, None, None]
    bias = rng.normal(0, 1, 8).astype(np.float32)
    save("wonly_conv_int8_grouped", [dq_node("w", "wq", "ws", None, axis=0),
                                     helper.make_node("Conv", ["x", "w", "b"], ["y"], group=2, pads=[1, 1, 1, 1])],
         [("x", xc)], [("y", (conv2d(xc, w, [1, 1, 1, 1], 2) + bias[None, :, None, None]).astype(np.float32))], 13,
         [("wq", codes), ("ws", scale), ("b", bias)])


def int4_cases():
    x = rng.normal(0, 1, (2, 5, 64)).astype(np.float32)
    for signed, tag in ((True, "int4"), (False, "uint4")):
        lo, hi = (-8, 8) if signed else (0, 16)
        codes = rng.integers(lo, hi, (64, 20))
        scale = rng.uniform(0.01, 0.1, (2, 20)).astype(np.float32)  # blocks of 32 along K
        zp = rng.integers(lo, hi, (2, 20))
        w = dq_blocked(codes, scale, zp, 0, 32)
        save(f"wonly_matmul_{tag}_blocked", [dq_node("w", "wq", "ws", "wz", axis=0, block_size=32),
                                             helper.make_node("MatMul", ["x", "w"], ["y"])],
             [("x", x)], [("y", (x.astype(np.float64) @ w).astype(np.float32))], 21,
             [("wq", int4_tensor(codes, signed)), ("ws", scale), ("wz", int4_tensor(zp, signed))])
    # Gemm transB with blocks along axis 1 (K), K not a multiple of the block
    codes = rng.integers(-8, 8, (12, 50))
    scale = rng.uniform(0.01, 0.1, (12, 4)).astype(np.float32)
    w = dq_blocked(codes, scale, np.zeros((12, 4), np.int64), 1, 16)
    xg = rng.normal(0, 1, (3, 50)).astype(np.float32)
    save("wonly_gemm_int4_blocked_partial", [dq_node("w", "wq", "ws", None, axis=1, block_size=16),
                                             helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)],
         [("x", xg)], [("y", (xg.astype(np.float64) @ w.T).astype(np.float32))], 21, [("wq", int4_tensor(codes, True)), ("ws", scale)])
    # int4 QuantizeLinear / DequantizeLinear themselves (saturation, block scales)
    v = np.array([[-9.5, -8.4, -0.5, 0.5, 1.5, 7.49, 7.5, 100]], np.float32)
    q = np.clip(np.round(v / 1.0), -8, 7).astype(np.int8)
    qt = int4_tensor(q, True)
    qt.name = "y"
    node = helper.make_node("QuantizeLinear", ["v", "s", "z"], ["y"])
    save("quantize_int4_saturate", [node], [("v", v)], [("y", qt)], 21, [("s", np.array(1.0, np.float32)),
                                                                           ("z", int4_tensor(np.array(0), True))])


def float16_cases():
    x = rng.normal(0, 1, (4, 33)).astype(np.float32)
    for dt, tp, tag in ((np.float16, TensorProto.FLOAT16, "float16"), (None, TensorProto.BFLOAT16, "bfloat16")):
        w32 = rng.normal(0, 0.3, (33, 18)).astype(np.float32)
        if dt:
            wt, w = w32.astype(np.float16), w32.astype(np.float16).astype(np.float64)
        else:  # bfloat16: the top 16 bits, rounded to nearest even
            bits = w32.view(np.uint32)
            bits = ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
            wt = helper.make_tensor("wh", TensorProto.BFLOAT16, w32.shape, bits.tobytes(), raw=True)
            w = (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        save(f"wonly_matmul_{tag}_cast", [helper.make_node("Cast", ["wh"], ["w"], to=TensorProto.FLOAT),
                                          helper.make_node("MatMul", ["x", "w"], ["y"])],
             [("x", x)], [("y", (x.astype(np.float64) @ w).astype(np.float32))], 13, [("wh", wt)])


def pack_bits(codes, bits):
    """Codes [N, K] -> MatMulNBits' B [N, K/block, blob], low bits first."""
    n, k = codes.shape
    out = np.zeros((n, (k * bits + 7) // 8), np.uint8)
    for i in range(k):
        bit = i * bits
        for j in range(bits):
            out[:, (bit + j) // 8] |= (((codes[:, i] >> j) & 1) << ((bit + j) % 8)).astype(np.uint8)
    return out


def nbits_cases():
    for bits, block, zp_kind in ((4, 32, "packed"), (4, 16, "default"), (8, 32, "float"), (4, 64, "float")):
        K, N = 96, 20
        kb = (K + block - 1) // block
        codes = rng.integers(0, 1 << bits, (N, K))
        scale = rng.uniform(0.01, 0.05, (N, kb)).astype(np.float32)
        zp = rng.integers(0, 1 << bits, (N, kb))
        if zp_kind == "default":
            zp[:] = 1 << (bits - 1)
        w = (codes - np.repeat(zp, block, axis=1)[:, :K]) * np.repeat(scale, block, axis=1)[:, :K].astype(np.float64)
        bias = rng.normal(0, 1, N).astype(np.float32)
        a = rng.normal(0, 1, (2, 3, K)).astype(np.float32)
        padded = np.pad(codes, ((0, 0), (0, kb * block - K)))  # the last block padded with zeros
        inits = [("b", pack_bits(padded, bits).reshape(N, kb, block * bits // 8)), ("s", scale.reshape(-1))]
        ins = ["a", "b", "s"]
        if zp_kind == "packed":
            inits.append(("z", pack_bits(zp, bits)))
            ins.append("z")
        elif zp_kind == "float":
            inits.append(("z", zp.astype(np.float32)))
            ins.append("z")
        else:
            ins.append("")
        inits.append(("bias", bias))
        ins += ["", "bias"]
        node = helper.make_node("MatMulNBits", ins, ["y"], domain="com.microsoft", K=K, N=N, bits=bits, block_size=block)
        y = (a.astype(np.float64) @ w.T + bias).astype(np.float32)
        save(f"ms_matmulnbits_{bits}bit_block{block}_{zp_kind}", [node], [("a", a)], [("y", y)], 13, inits,
             domains=[("com.microsoft", 1)])


def pruned_cases():
    """Weights pruned in blocks of 16 output channels: most blocks of (k, 16 columns) zero."""
    x = rng.normal(0, 1, (2, 64)).astype(np.float32)
    w = rng.normal(0, 0.3, (48, 64)).astype(np.float32)  # Gemm transB: [N, K]
    keep = rng.random((3, 64)) < 0.1
    w *= np.repeat(keep, 16, axis=0)
    b = rng.normal(0, 1, 48).astype(np.float32)
    save("sparse_gemm_pruned_blocks", [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)],
         [("x", x)], [("y", (x.astype(np.float64) @ w.T + b).astype(np.float32))], 13, [("w", w), ("b", b)])
    xc = rng.normal(0, 1, (1, 8, 6, 6)).astype(np.float32)
    wc = rng.normal(0, 0.3, (32, 8, 3, 3)).astype(np.float32)
    keep = rng.random((2, 8, 3, 3)) < 0.08
    wc *= np.repeat(keep, 16, axis=0)
    save("sparse_conv_pruned_blocks", [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])],
         [("x", xc)], [("y", conv2d(xc, wc, [1, 1, 1, 1]).astype(np.float32))], 13, [("w", wc)])


int8_cases()
int4_cases()
float16_cases()
nbits_cases()
pruned_cases()
