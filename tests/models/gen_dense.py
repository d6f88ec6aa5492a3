# gen_dense.py — Conv, Gemm and MatMul with constant weights, the way models hold them: these
# run on the GEMM engine (ops/gemm_kernel.c, ops/conv_gemm.c), whose tiles, packed operands,
# phase planes and edges the node suite (weights as graph inputs) never reaches. Shapes are
# chosen to hit full and partial row tiles and column panels, masked last vectors, strides,
# dilations, asymmetric padding, groups and depthwise convolutions, the 3x3 convolutions
# computed by Winograd's algorithm (ops/conv_winograd.c), and the rounding error of the
# algorithm chosen for trained-like layers.
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import numpy as np  # noqa: E402
from onnx import helper  # noqa: E402

from testgen import rng, save_graph  # noqa: E402


def conv_ref(x, w, b, strides, pads, dil, group):
    """Direct convolution in float64; PADS are ONNX begins then ends."""
    nsp = x.ndim - 2
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + [(pads[i], pads[i + nsp]) for i in range(nsp)])
    n, c = x.shape[:2]
    m, cpg = w.shape[:2]
    ks = w.shape[2:]
    out = [(xp.shape[2 + i] - ((ks[i] - 1) * dil[i] + 1)) // strides[i] + 1 for i in range(nsp)]
    y = np.zeros([n, m] + out)
    mpg = m // group
    for idx in np.ndindex(*ks):
        sl = tuple(slice(idx[i] * dil[i], idx[i] * dil[i] + (out[i] - 1) * strides[i] + 1, strides[i])
                   for i in range(nsp))
        win = xp[(slice(None), slice(None)) + sl]  # [n, c, out...]
        for g in range(group):
            wg = w[g * mpg:(g + 1) * mpg, :, *idx].astype(np.float64)  # [mpg, cpg]
            y[:, g * mpg:(g + 1) * mpg] += np.einsum("mc,nc...->nm...", wg, win[:, g * cpg:(g + 1) * cpg])
    if b is not None:
        y += b.reshape((1, -1) + (1,) * nsp)
    return y.astype(np.float32)


def conv_cases():
    r = rng(10)
    # name, x shape, cout, kernel, strides, pads (begins + ends), dilations, group, bias
    cases = [
        ("3x3", (1, 3, 10, 11), 5, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, True),
        ("3x3_nopad", (1, 4, 9, 12), 6, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 1, True),
        ("3x3_s2_asym", (1, 4, 13, 9), 7, (3, 3), (2, 2), (1, 0, 2, 1), (1, 1), 1, True),
        ("3x3_s21", (2, 3, 11, 10), 4, (3, 3), (2, 1), (1, 1, 1, 1), (1, 1), 1, False),
        ("3x3_dil2", (1, 3, 12, 12), 5, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 1, True),
        ("3x3_s2_dil2", (1, 2, 15, 14), 3, (3, 3), (2, 2), (1, 2, 2, 1), (2, 2), 1, True),
        ("1x1", (2, 20, 7, 9), 37, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, True),
        ("1x1_s2", (1, 16, 9, 9), 24, (1, 1), (2, 2), (0, 0, 0, 0), (1, 1), 1, False),
        ("1x1_pad", (1, 5, 4, 6), 3, (1, 1), (1, 1), (1, 0, 0, 2), (1, 1), 1, True),
        ("7x7_s2", (1, 3, 22, 20), 16, (7, 7), (2, 2), (3, 3, 3, 3), (1, 1), 1, False),
        ("10x4_s2", (1, 1, 49, 10), 24, (10, 4), (2, 2), (4, 1, 5, 1), (1, 1), 1, True),
        ("depthwise", (1, 8, 10, 10), 8, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 8, True),
        ("depthwise_s2", (2, 6, 11, 9), 6, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 6, False),
        ("depthwise_mult2", (1, 4, 8, 8), 8, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 4, True),
        # rows several vectors wide: masked edges, the last vector partial
        ("depthwise_wide_s2", (1, 3, 9, 75), 3, (5, 5), (2, 2), (2, 2, 2, 2), (1, 1), 3, True),
        ("depthwise_dil_asym", (1, 2, 8, 40), 2, (3, 3), (1, 1), (2, 1, 2, 3), (2, 2), 2, True),
        ("depthwise_s3", (1, 2, 10, 50), 2, (3, 3), (3, 3), (1, 1, 1, 1), (1, 1), 2, False),
        ("group2", (1, 6, 9, 8), 10, (3, 3), (1, 1), (0, 1, 1, 0), (1, 1), 2, True),
        ("wide", (1, 24, 30, 30), 40, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, True),
        # small outputs: pixels as rows, output channels as vector columns (transposed)
        ("small_3x3", (2, 16, 7, 7), 32, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, True),
        ("small_s2_asym", (1, 8, 9, 9), 48, (3, 3), (2, 2), (1, 0, 1, 1), (1, 1), 1, True),
        ("small_1x1", (1, 64, 5, 5), 48, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1, False),
        ("small_1d", (1, 12, 9), 40, (3,), (1,), (1, 1), (1,), 1, True),
        # the product is computed and cropped in chunks of output rows (two and a rest)
        ("chunked", (2, 4, 60, 61), 48, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, True),
        ("1d", (2, 5, 17), 6, (3,), (2,), (1, 2), (1,), 1, True),
        ("1d_dw", (1, 4, 20), 4, (5,), (1,), (2, 2), (2,), 4, False),
    ]
    for name, xs, cout, ks, st, pads, dil, group, bias in cases:
        x = r.standard_normal(xs).astype(np.float32)
        w = r.standard_normal((cout, xs[1] // group) + ks).astype(np.float32)
        b = r.standard_normal(cout).astype(np.float32) if bias else None
        inits = [("W", w)] + ([("B", b)] if bias else [])
        node = helper.make_node("Conv", ["X", "W"] + (["B"] if bias else []), ["Y"], kernel_shape=list(ks),
                                strides=list(st), pads=list(pads), dilations=list(dil), group=group)
        y = conv_ref(x, w, b, st, pads, dil, group)
        save_graph(f"test_dense_conv_{name}", [node], [("X", x)], [("Y", y)], inits)


def winograd_cases():
    """3x3 stride-1 convolutions the host computes by Winograd's F(2x2, 3x3), as its cost
    estimate chooses for these shapes, and by F(4x4, 3x3) in the runs that force it
    (--conv-algo=winograd4, ctest models_*_winograd*): output sizes that leave partial tiles,
    padding (none, asymmetric, wider than the kernel's reach), batches, bias, and fused
    epilogues in vectors and element by element; the f4 shapes over several chunks of tile rows
    with a rest, and over enough chunks to run them on the threads. The data are small integers and the weights
    multiples of 9, so that the transformed weights G g G^T (denominators 2^k * 9) and every
    sum are exact in float32: a wrong tile, coefficient or edge shows as a large error, while
    F(4x4)'s ordinary rounding on normal data (about 1e-6 of the output's scale) would exceed
    the checker's 1e-5 absolute tolerance on outputs near zero."""
    r = rng(13)
    # name, x shape, cout, pads (begins + ends), bias, epilogue
    cases = [
        ("f2_relu", (1, 32, 17, 19), 24, (1, 1, 1, 1), True, "relu"),
        ("f2_batch_asym", (2, 48, 15, 16), 24, (2, 0, 1, 2), False, None),
        ("f2_nopad_relu6", (1, 48, 19, 21), 16, (0, 0, 0, 0), True, "relu6"),
        ("f2_sin", (1, 32, 9, 11), 24, (1, 1, 1, 1), False, "sin"),
        ("f4_chunks_residual", (1, 24, 50, 47), 32, (1, 1, 1, 1), True, "add_relu"),
        ("f4_batch_nopad", (2, 24, 31, 33), 64, (0, 0, 0, 0), True, None),
        ("f4_parallel", (1, 32, 62, 63), 32, (1, 2, 1, 0), False, "relu"),
    ]
    for name, xs, cout, pads, bias, epilogue in cases:
        x = r.integers(-2, 3, xs).astype(np.float32)
        w = (9 * r.integers(-1, 2, (cout, xs[1], 3, 3))).astype(np.float32)
        b = r.integers(-20, 21, cout).astype(np.float32) if bias else None
        y = conv_ref(x, w, b, (1, 1), pads, (1, 1), 1).astype(np.float64)
        inits = [("W", w)] + ([("B", b)] if bias else [])
        inputs = [("X", x)]
        nodes = [helper.make_node("Conv", ["X", "W"] + (["B"] if bias else []), ["c"], kernel_shape=[3, 3],
                                  pads=list(pads))]
        if epilogue == "relu":
            nodes.append(helper.make_node("Relu", ["c"], ["Y"]))
            y = np.maximum(y, 0)
        elif epilogue == "relu6":
            nodes.append(helper.make_node("Clip", ["c", "lo", "hi"], ["Y"]))
            inits += [("lo", np.array(0, np.float32)), ("hi", np.array(6, np.float32))]
            y = np.clip(y, 0, 6)
        elif epilogue == "sin":  # libm: element by element after the store
            nodes.append(helper.make_node("Sin", ["c"], ["Y"]))
            y = np.sin(y)
        elif epilogue == "add_relu":  # a residual block's tail
            s = r.integers(-30, 31, y.shape).astype(np.float32)
            inputs.append(("S", s))
            nodes += [helper.make_node("Add", ["c", "S"], ["a"]), helper.make_node("Relu", ["a"], ["Y"])]
            y = np.maximum(y + s, 0)
        else:
            nodes[0].output[0] = "Y"
        save_graph(f"test_dense_conv_winograd_{name}", nodes, inputs, [("Y", y.astype(np.float32))], inits)


def accuracy_cases():
    """3x3 convolutions as trained networks hold them, by the algorithm the host picks
    (--conv-algo=auto), against float64 within half the conformance tolerance
    (5e-5 + 5e-4*|y|): weights ~ N(0, 2/K) with K = 9 * Cin, a small bias, and a first layer
    on raw pixels 0..255 (outputs of RMS about 200) or a 128-channel layer on post-ReLU
    activations of scale 4 (outputs of RMS about 4). Winograd's F(4x4, 3x3), which the cost
    estimate picked for the second before the accuracy rule, misses even the full tolerance on
    both (benchmarks/conv_accuracy.py measures every algorithm)."""
    r = rng(14)
    for name, cin, cout, size, raw in (("raw_pixels", 3, 32, 64, True), ("c128_scale4", 128, 128, 40, False)):
        if raw:
            x = r.integers(0, 256, (1, cin, size, size)).astype(np.float32)
        else:
            x = (4 * np.maximum(r.standard_normal((1, cin, size, size)), 0)).astype(np.float32)
        w = (r.standard_normal((cout, cin, 3, 3)) * np.sqrt(2 / (9 * cin))).astype(np.float32)
        b = (0.1 * r.standard_normal(cout)).astype(np.float32)
        node = helper.make_node("Conv", ["X", "W", "B"], ["Y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        y = conv_ref(x, w, b, (1, 1), (1, 1, 1, 1), (1, 1), 1)
        save_graph(f"test_dense_conv_accuracy_{name}", [node], [("X", x)], [("Y", y)], [("W", w), ("B", b)],
                   float_tolerance=(5e-5, 5e-4))


def matmul_cases():
    r = rng(11)
    f = np.float32
    # MatMul with a constant right operand (packed B), batched A flattened into rows or not.
    for name, a_shape, b_shape in (("1x1", (1, 1), (1, 1)), ("5x17x7", (5, 17), (17, 7)),
                                   ("33x64x100", (33, 64), (64, 100)), ("1x40x33", (1, 40), (40, 33)),
                                   ("batch_a", (2, 3, 9, 20), (20, 35)), ("batch_b", (3, 6, 8), (3, 8, 19)),
                                   ("vec_a", (24,), (24, 18)), ("vec_b", (7, 24), (24,)),
                                   ("16x16x16", (16, 16), (16, 16))):
        a = r.standard_normal(a_shape).astype(f)
        b = r.standard_normal(b_shape).astype(f)
        y = np.matmul(a.astype(np.float64), b).astype(f)
        save_graph(f"test_dense_matmul_const_{name}", [helper.make_node("MatMul", ["A", "B"], ["Y"])],
                   [("A", a)], [("Y", y)], [("B", b)])
    # Both operands computed: B rows read in place, batches broadcast.
    a = r.standard_normal((2, 3, 13, 21)).astype(f)
    b = r.standard_normal((1, 3, 21, 30)).astype(f)
    save_graph("test_dense_matmul_data", [helper.make_node("MatMul", ["A", "B"], ["Y"])],
               [("A", a), ("B", b)], [("Y", np.matmul(a.astype(np.float64), b).astype(f))])
    # A constant left operand (packed A) times a computed B.
    a = r.standard_normal((19, 12)).astype(f)
    b = r.standard_normal((12, 45)).astype(f)
    save_graph("test_dense_matmul_const_a", [helper.make_node("MatMul", ["A", "B"], ["Y"])],
               [("B", b)], [("Y", (a.astype(np.float64) @ b).astype(f))], [("A", a)])


def gemm_cases():
    r = rng(12)
    f = np.float32
    M, K, N = 21, 37, 50
    for name, ta, tb, c_shape, alpha, beta in (("plain", 0, 0, (N,), 1.0, 1.0), ("transB", 0, 1, (1, N), 1.0, 1.0),
                                               ("transA", 1, 0, (M, 1), 0.5, 2.0), ("both", 1, 1, (M, N), 1.5, 0.5),
                                               ("scalar_c", 0, 1, (1,), 1.0, 3.0), ("no_c", 0, 1, None, 2.0, 1.0),
                                               ("beta_vec", 0, 0, (N,), 1.0, -0.5)):
        a = r.standard_normal((K, M) if ta else (M, K)).astype(f)
        b = r.standard_normal((N, K) if tb else (K, N)).astype(f)
        am, bm = (a.T if ta else a).astype(np.float64), (b.T if tb else b).astype(np.float64)
        y = alpha * am @ bm
        inits = [("B", b)]
        if c_shape:
            c = r.standard_normal(c_shape).astype(f)
            y = y + beta * c
            inits.append(("C", c))
        node = helper.make_node("Gemm", ["A", "B"] + (["C"] if c_shape else []), ["Y"], transA=ta, transB=tb,
                                alpha=alpha, beta=beta)
        save_graph(f"test_dense_gemm_{name}", [node], [("A", a)], [("Y", y.astype(f))], inits)
    # C computed at run time: a bias vector read in place.
    a = r.standard_normal((6, 10)).astype(f)
    b = r.standard_normal((10, 20)).astype(f)
    c = r.standard_normal((20,)).astype(f)
    save_graph("test_dense_gemm_data_c", [helper.make_node("Gemm", ["A", "B", "C"], ["Y"])], [("A", a), ("C", c)],
               [("Y", (a.astype(np.float64) @ b + c).astype(f))], [("B", b)])


if __name__ == "__main__":
    conv_cases()
    winograd_cases()
    accuracy_cases()
    matmul_cases()
    gemm_cases()
