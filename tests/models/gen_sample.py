# gen_sample.py — GridSample (opset 16 and the N-D opset 20 form) and RoiAlign cases beyond
# the ONNX node suite (ops/resize.c), against direct numpy transcriptions of the spec.
import itertools
import math
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import numpy as np  # noqa: E402

from testgen import rng, save  # noqa: E402


def reflect(v, lo, hi):
    rng_ = hi - lo
    if rng_ <= 0:
        return lo
    if v < lo:
        dx = lo - v
        n = int(dx / rng_)
        r = dx - n * rng_
        return lo + r if n % 2 == 0 else hi - r
    if v > hi:
        dx = v - hi
        n = int(dx / rng_)
        r = dx - n * rng_
        return hi - r if n % 2 == 0 else lo + r
    return v


def cubic_w(t, a=-0.75):
    def k(x):
        x = abs(x)
        if x <= 1:
            return ((a + 2) * x - (a + 3)) * x * x + 1
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return [k(t + 1), k(t), k(1 - t), k(2 - t)]


def grid_sample(x, grid, mode, pad, align):
    N, C = x.shape[:2]
    dims = x.shape[2:]
    r = len(dims)
    y = np.zeros((N, C) + grid.shape[1:-1])
    for n in range(N):
        for o in itertools.product(*[range(v) for v in grid.shape[1:-1]]):
            g = grid[(n,) + o][::-1]
            taps = []
            for i in range(r):
                L = dims[i]
                lo, hi = (0.0, L - 1.0) if align else (-0.5, L - 0.5)
                v = (g[i] + 1) / 2 * (L - 1) if align else ((g[i] + 1) * L - 1) / 2
                if mode == "nearest":
                    v = float(np.rint(v)) if r != 3 else (math.floor(v + 0.5) if v >= 0 else math.ceil(v - 0.5))
                if v < lo or v > hi:
                    v = min(max(v, 0), L - 1) if pad == "border" else reflect(v, lo, hi) if pad == "reflection" else v
                if mode == "nearest":
                    pts = [(int(v), 1.0)]
                elif mode == "linear":
                    b = math.floor(v)
                    pts = [(b, 1 - (v - b)), (b + 1, v - b)]
                else:
                    b = math.floor(v)
                    pts = list(zip(range(b - 1, b + 3), cubic_w(v - b)))
                fixed = []
                for p, w in pts:
                    if pad == "border":
                        p = min(max(p, 0), L - 1)
                    elif pad == "reflection":
                        p = int(reflect(p, lo, hi))
                    fixed.append((p, w))
                taps.append(fixed)
            for combo in itertools.product(*taps):
                w = np.prod([t[1] for t in combo])
                pos = tuple(t[0] for t in combo)
                if all(0 <= pos[i] < dims[i] for i in range(r)):
                    y[(n, slice(None)) + o] += w * x[(n, slice(None)) + pos]
    return y


def grid_cases():
    r = rng(40)
    cases = [  # name, X shape, grid spatial shape, mode, padding, align_corners, opset
        ("test_gridsample_1d_linear_zeros", (1, 2, 6), (5,), "linear", "zeros", 0, 20),
        ("test_gridsample_bicubic_border_align", (2, 2, 4, 5), (3, 4), "bicubic", "border", 1, 16),
        ("test_gridsample_cubic_reflection", (1, 3, 5, 4), (4, 6), "cubic", "reflection", 0, 20),
        ("test_gridsample_nearest_reflection_align", (1, 2, 4, 4), (5, 3), "nearest", "reflection", 1, 16),
        ("test_gridsample_volumetric_linear_reflection", (1, 2, 3, 4, 3), (2, 3, 2), "linear", "reflection", 0, 20),
        ("test_gridsample_volumetric_nearest_zeros", (2, 1, 3, 3, 4), (2, 2, 3), "nearest", "zeros", 1, 20),
        ("test_gridsample_volumetric_cubic_border", (1, 1, 3, 4, 3), (2, 2, 2), "cubic", "border", 0, 20),
    ]
    for name, xs, gs, mode, pad, align, opset in cases:
        x = r.standard_normal(xs).astype(np.float32)
        grid = (r.random((xs[0],) + gs + (len(xs) - 2,)) * 3 - 1.5).astype(np.float32)
        base = {"bicubic": "cubic", "bilinear": "linear"}.get(mode, mode)
        y = grid_sample(x, grid.astype(np.float64), base, pad, align)
        save(name, "GridSample", [("x", x), ("grid", grid)], [("y", y.astype(np.float32))], opset, mode=mode,
             padding_mode=pad, align_corners=align)
    # f64 data and grid, nearest with halves: rounding to even in 2-D
    x = r.standard_normal((1, 1, 4, 4))
    grid = np.array([[[[-0.75, -0.25], [0.25, 0.75]], [[-1.25, 0.5], [1.0, -1.0]]]])
    y = grid_sample(x, grid, "nearest", "zeros", 0)
    save("test_gridsample_nearest_f64_halves", "GridSample", [("x", x), ("grid", grid)], [("y", y)], 16,
         mode="nearest")


def roi_align(x, rois, idx, oh, ow, ratio, scale, mode, half):
    R, (N, C, H, W) = len(rois), x.shape
    y = np.zeros((R, C, oh, ow))
    for r in range(R):
        off = 0.5 if half else 0.0
        x1, y1, x2, y2 = [v * scale - off for v in rois[r]]
        rh, rw = y2 - y1, x2 - x1
        if not half:
            rh, rw = max(rh, 1.0), max(rw, 1.0)
        bh, bw = rh / oh, rw / ow
        gh = ratio if ratio > 0 else int(math.ceil(rh / oh))
        gw = ratio if ratio > 0 else int(math.ceil(rw / ow))
        for ph, pw in itertools.product(range(oh), range(ow)):
            vals = []
            for iy, ix in itertools.product(range(gh), range(gw)):
                yy = y1 + ph * bh + (iy + 0.5) * bh / gh
                xx = x1 + pw * bw + (ix + 0.5) * bw / gw
                if yy < -1 or yy > H or xx < -1 or xx > W:
                    vals.append(np.zeros((4, C)))
                    continue
                yy, xx = max(yy, 0), max(xx, 0)
                yl, xl = int(yy), int(xx)
                if yl >= H - 1:
                    yh = yl = H - 1
                    yy = yl
                else:
                    yh = yl + 1
                if xl >= W - 1:
                    xh = xl = W - 1
                    xx = xl
                else:
                    xh = xl + 1
                ly, lx = yy - yl, xx - xl
                d = x[idx[r]]
                vals.append(np.stack([(1 - ly) * (1 - lx) * d[:, yl, xl], (1 - ly) * lx * d[:, yl, xh],
                                      ly * (1 - lx) * d[:, yh, xl], ly * lx * d[:, yh, xh]]))
            if not vals:
                continue
            v = np.stack(vals)  # samples x 4 x C
            y[r, :, ph, pw] = v.max(axis=(0, 1)) if mode == "max" else v.sum(axis=(0, 1)) / max(gh * gw, 1)
    return y


def roi_cases():
    r = rng(41)
    x = r.standard_normal((2, 3, 10, 12)).astype(np.float32)
    rois = np.array([[0, 0, 9, 9], [2.5, 1.2, 20.1, 15.7], [5, 5, 4, 3], [-3, -2, 6.5, 30]], dtype=np.float32)
    idx = np.array([0, 1, 1, 0], dtype=np.int64)
    for name, oh, ow, ratio, scale, mode, ctm in (
            ("test_roialign_max_half_pixel_ratio2", 3, 2, 2, 0.5, "max", "half_pixel"),
            ("test_roialign_avg_output_half_pixel_adaptive", 2, 4, 0, 0.5, "avg", "output_half_pixel"),
            ("test_roialign_max_adaptive", 4, 3, 0, 0.75, "max", "half_pixel")):
        y = roi_align(x.astype(np.float64), rois.astype(np.float64), idx, oh, ow, ratio, scale, mode, ctm == "half_pixel")
        save(name, "RoiAlign", [("x", x), ("rois", rois), ("idx", idx)], [("y", y.astype(np.float32))], 16,
             output_height=oh, output_width=ow, sampling_ratio=ratio, spatial_scale=scale, mode=mode,
             coordinate_transformation_mode=ctm)
    xd = x.astype(np.float64)
    y = roi_align(xd, rois.astype(np.float64), idx, 2, 2, 1, 1.0, "avg", False)
    save("test_roialign_opset10_f64", "RoiAlign", [("x", xd), ("rois", rois.astype(np.float64)), ("idx", idx)],
         [("y", y)], 10, output_height=2, output_width=2, sampling_ratio=1)


grid_cases()
roi_cases()
