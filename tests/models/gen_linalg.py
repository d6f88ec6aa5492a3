# gen_linalg.py — Einsum and Det cases beyond the ONNX node suite (ops/linalg.c).
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import numpy as np  # noqa: E402

from testgen import rng, save  # noqa: E402


def einsum(name, eq, *xs, opset=12):
    y = np.einsum(eq, *[x.astype(np.float64) if x.dtype.kind == "f" else x for x in xs])
    save(name, "Einsum", [(f"x{i}", x) for i, x in enumerate(xs)], [("y", np.asarray(y).astype(xs[0].dtype))], opset,
         equation=eq)


def main():
    r = rng(50)
    f = lambda *s: r.standard_normal(s).astype(np.float32)  # noqa: E731
    einsum("test_einsum_implicit_matmul", "ij,jk", f(3, 4), f(4, 5))
    einsum("test_einsum_implicit_sorted_output", "ba,Ac", f(2, 3), f(4, 5))
    einsum("test_einsum_trace", "ii", f(4, 4))
    einsum("test_einsum_diagonal_explicit", "ii->i", f(4, 4))
    einsum("test_einsum_three_operands", "ab,bc,cd->ad", f(2, 3), f(3, 4), f(4, 2))
    einsum("test_einsum_ellipsis_broadcast", "...ij,...jk->...ik", f(2, 1, 3, 4), f(5, 4, 2))
    einsum("test_einsum_ellipsis_middle", "i...j->j...i", f(2, 3, 4, 5))
    einsum("test_einsum_ellipsis_implicit", "...j,j", f(3, 2, 4), f(4))
    einsum("test_einsum_outer_spaces", "i, j -> ij", f(3), f(4))
    einsum("test_einsum_scalar_output", "ij,ij->", f(3, 4), f(3, 4))
    einsum("test_einsum_repeated_in_two_operands", "iij,jk->ik", f(3, 3, 2), f(2, 4))
    einsum("test_einsum_int64", "bij,bjk->bik", r.integers(-5, 5, (2, 3, 4)), r.integers(-5, 5, (2, 4, 2)))
    einsum("test_einsum_f64_batch_diag", "...ii->...i", r.standard_normal((2, 3, 3)))
    x = f(2, 4, 4)
    save("test_det_batch_4x4", "Det", [("x", x)], [("y", np.linalg.det(x.astype(np.float64)).astype(np.float32))], 11)
    x = r.standard_normal((3, 5, 5))
    x[1, :, 2] = 0  # singular
    x[2] = np.triu(x[2])[::-1]  # pivoting needed
    save("test_det_f64_singular_pivoting", "Det", [("x", x)], [("y", np.linalg.det(x))], 11)
    x = f(1, 1)
    save("test_det_1x1", "Det", [("x", x)], [("y", np.linalg.det(x.astype(np.float64)).astype(np.float32))], 11)


main()
