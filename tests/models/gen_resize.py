# gen_resize.py — Resize and Upsample cases beyond the ONNX node suite (ops/resize.c):
# antialias, axes, keep_aspect_ratio_policy, half_pixel_symmetric, nearest modes when
# downsampling, integer data, tf_crop_and_resize with nearest, opset 10 and Upsample 7.
# The reference is separable: one resampling matrix per axis, built from the spec's
# definition of the n nearest neighbours (edge padded) and their coefficients.
import math
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import numpy as np  # noqa: E402

from testgen import rng, save  # noqa: E402


def coord(mode, o, n_in, n_out, scale, lo=0.0, hi=1.0):
    width = scale * n_in
    if mode == "half_pixel":
        return (o + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        return n_in / 2 * (1 - n_out / width) + (o + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (o + 0.5) / scale - 0.5 if n_out > 1 else 0.0
    if mode == "align_corners":
        return 0.0 if width == 1 else o * (n_in - 1) / (width - 1)
    if mode == "tf_crop_and_resize":
        if width == 1:
            return (hi - lo) * (n_in - 1) / 2 + lo * (n_in - 1)
        return o * (hi - lo) * (n_in - 1) / (width - 1) + lo * (n_in - 1)
    return o / scale  # asymmetric


def cubic(x, a):
    x = abs(x)
    if x <= 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    if x < 2:
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return 0.0


def coeffs(kind, ratio, scale, antialias, a, nearest_mode):
    if kind == "nearest":
        if ratio == 1:
            return [0.0, 1.0]
        up = {"round_prefer_floor": ratio > 0.5, "round_prefer_ceil": ratio >= 0.5, "floor": False, "ceil": True,
              "simple": scale < 1}[nearest_mode]
        return [0.0, 1.0] if up else [1.0, 0.0]
    s = min(scale, 1.0) if antialias else 1.0
    support = 1 if kind == "linear" else 2
    start = math.floor(-support / s) + 1
    args = [(start + j - ratio) * s for j in range(2 - 2 * start)]
    c = [max(0.0, 1 - abs(t)) if kind == "linear" else cubic(t, a) for t in args]
    return [v / sum(c) for v in c]


def axis_matrix(n_in, n_out, scale, kind, ctm, antialias=False, a=-0.75, exclude=False, nearest="round_prefer_floor",
                lo=0.0, hi=1.0):
    m, outside = np.zeros((n_out, n_in)), np.zeros(n_out, dtype=bool)
    for o in range(n_out):
        x = coord(ctm, o, n_in, n_out, scale, lo, hi)
        if ctm == "tf_crop_and_resize" and (x < 0 or x > n_in - 1):
            outside[o] = True
            continue
        ratio = 1.0 if x == math.floor(x) else x - math.floor(x)
        c = coeffs(kind, ratio, scale, antialias, a, nearest)
        n = len(c)
        pad = math.ceil(n / 2)  # the n nearest positions of the edge-padded axis, ties to the left
        near = sorted(sorted(range(-pad, n_in + pad), key=lambda i: (abs(x - i), i))[:n])
        if exclude:
            c = [v if 0 <= i < n_in else 0.0 for v, i in zip(c, near)]
            c = [v / sum(c) for v in c]
        for v, i in zip(c, near):
            m[o, min(max(i, 0), n_in - 1)] += v
    return m, outside


def resize(x, out, scales, kind, ctm, extrapolation=0.0, rois=None, **kw):
    y = x.astype(np.float64)
    mask = np.zeros(out, dtype=bool)
    for d in range(x.ndim):
        lo, hi = rois[d] if rois else (0.0, 1.0)
        m, outside = axis_matrix(x.shape[d], out[d], scales[d], kind, ctm, lo=lo, hi=hi, **kw)
        y = np.moveaxis(np.tensordot(m, np.moveaxis(y, d, 0), axes=1), 0, d)
        shape = [1] * x.ndim
        shape[d] = out[d]
        mask = mask | outside.reshape(shape)
    y[mask] = extrapolation
    return y


def cast(y, dt):
    return y.astype(dt) if np.issubdtype(dt, np.floating) else np.trunc(y).astype(dt)


def by_scales(name, x, scales, kind, ctm, opset=19, axes=None, ref=None, **attrs):
    full = [1.0] * x.ndim
    for i, a in enumerate(axes if axes is not None else range(x.ndim)):
        full[a] = float(np.float32(scales[i]))
    out = [int(s * n) for s, n in zip(full, x.shape)]
    y = resize(x, out, full, kind, ctm, **(ref or {}))
    extra = {"axes": list(axes)} if axes is not None else {}
    save(name, "Resize", [("x", x), ("", None), ("scales", np.array(scales, dtype=np.float32))],
         [("y", cast(y, x.dtype))], opset, mode=kind, coordinate_transformation_mode=ctm, **extra, **attrs)


def by_sizes(name, x, sizes, kind, ctm, axes, policy="stretch", opset=19, **attrs):
    r = x.ndim
    scales = [1.0] * r
    out = list(x.shape)
    for i, a in enumerate(axes):
        scales[a] = sizes[i] / x.shape[a]
    if policy != "stretch":
        s = (min if policy == "not_larger" else max)(scales[a] for a in axes)
        for a in axes:
            scales[a] = s
            out[a] = int(s * x.shape[a] + 0.5)
    else:
        for i, a in enumerate(axes):
            out[a] = sizes[i]
    y = resize(x, out, scales, kind, ctm)
    save(name, "Resize", [("x", x), ("", None), ("", None), ("sizes", np.array(sizes, dtype=np.int64))],
         [("y", cast(y, x.dtype))], opset, mode=kind, coordinate_transformation_mode=ctm, axes=list(axes),
         keep_aspect_ratio_policy=policy, **attrs)


def main():
    r = rng(30)
    x = r.standard_normal((1, 2, 8, 7)).astype(np.float32)
    by_scales("test_resize_downsample_scales_linear_antialias", x, [1, 1, 0.5, 0.6], "linear", "half_pixel",
              ref=dict(antialias=True), antialias=1)
    by_scales("test_resize_downsample_scales_cubic_antialias_exclude", x, [1, 1, 0.4, 0.75], "cubic", "half_pixel",
              ref=dict(antialias=True, a=-0.5, exclude=True), antialias=1, cubic_coeff_a=-0.5, exclude_outside=1)
    by_scales("test_resize_upsample_cubic_antialias_pytorch", x, [1, 1, 1.5, 2], "cubic", "pytorch_half_pixel",
              ref=dict(antialias=True), antialias=1)
    by_scales("test_resize_scales_axes_linear_symmetric", x, [0.7, 1.3], "linear", "half_pixel_symmetric", axes=[3, 2])
    by_scales("test_resize_downsample_nearest_ceil_half_pixel", x, [1, 1, 0.6, 0.45], "nearest", "half_pixel",
              ref=dict(nearest="ceil"), nearest_mode="ceil")
    by_scales("test_resize_nearest_round_prefer_ceil_align_corners", x, [1, 1, 1.7, 0.8], "nearest", "align_corners",
              ref=dict(nearest="round_prefer_ceil"), nearest_mode="round_prefer_ceil")
    x5 = r.standard_normal((1, 1, 3, 4, 5)).astype(np.float32)
    by_scales("test_resize_trilinear_asymmetric", x5, [1, 1, 2, 1.5, 0.8], "linear", "asymmetric")
    by_sizes("test_resize_sizes_not_larger_cubic", x, [5, 9], "cubic", "half_pixel", [2, 3], "not_larger")
    by_sizes("test_resize_sizes_not_smaller_nearest", x, [5, 9], "nearest", "pytorch_half_pixel", [2, 3], "not_smaller")
    by_sizes("test_resize_sizes_axes_linear_align_corners", x, [3], "linear", "align_corners", [-1 + 4])
    xi = r.integers(0, 256, (1, 3, 5, 6)).astype(np.uint8)
    by_scales("test_resize_uint8_linear", xi, [1, 1, 1.6, 0.5], "linear", "half_pixel")
    by_scales("test_resize_int32_nearest", xi.astype(np.int32), [1, 2, 0.8, 1.5], "nearest", "asymmetric",
              ref=dict(nearest="floor"), nearest_mode="floor")
    xd = r.standard_normal((2, 5, 4)).astype(np.float64)
    by_scales("test_resize_f64_cubic_1d_axis", xd, [2.5], "cubic", "half_pixel", axes=[1])
    # tf_crop_and_resize with nearest, ROI on two axes, extrapolation
    roi = np.array([0.2, -0.3, 1.1, 0.9], dtype=np.float32)
    rois = [(0.0, 1.0), (0.0, 1.0), (float(roi[0]), float(roi[2])), (float(roi[1]), float(roi[3]))]
    sizes = [1, 2, 6, 5]
    scales = [s / n for s, n in zip(sizes, x.shape)]
    y = resize(x, sizes, scales, "nearest", "tf_crop_and_resize", extrapolation=-7.5, rois=rois)
    save("test_resize_tf_crop_and_resize_nearest_axes", "Resize",
         [("x", x), ("roi", roi), ("", None), ("sizes", np.array(sizes[2:], dtype=np.int64))],
         [("y", y.astype(np.float32))], 18, mode="nearest", coordinate_transformation_mode="tf_crop_and_resize",
         axes=[2, 3], extrapolation_value=-7.5)
    # opset 10 Resize and Upsample 7: asymmetric coordinates, nearest floors when upsampling
    y = resize(x, [1, 2, 12, 7], [1, 1, 1.5, 1], "linear", "asymmetric")
    save("test_resize_opset10_linear", "Resize", [("x", x), ("scales", np.array([1, 1, 1.5, 1], np.float32))],
         [("y", y.astype(np.float32))], 10, mode="linear")
    y = resize(x, [1, 2, 20, 14], [1, 1, 2.5, 2], "nearest", "asymmetric", nearest="simple")
    save("test_upsample_opset7_nearest_fractional", "Upsample", [("x", x)], [("y", y.astype(np.float32))], 7,
         mode="nearest", scales=[1.0, 1.0, 2.5, 2.0])
    y = resize(x, [1, 2, 16, 21], [1, 1, 2, 3], "linear", "asymmetric")
    save("test_upsample_linear", "Upsample", [("x", x), ("scales", np.array([1, 1, 2, 3], np.float32))],
         [("y", y.astype(np.float32))], 9, mode="linear")


main()
