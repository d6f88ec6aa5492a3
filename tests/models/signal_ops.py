# signal_ops.py — DFT, STFT, windows and MelWeightMatrix cases the ONNX node tests do not cover:
# dft_length padding and truncation, onesided, negative axes, complex input, opset 20's axis
# input, batches, double and float16, window output types, other mel parameters.
import numpy as np
from onnx import helper

from casegen import save

rng = np.random.default_rng(3)


def as_pairs(c, dtype=np.float32):
    return np.stack((c.real, c.imag), axis=-1).astype(dtype)


def dft_cases():
    x = rng.uniform(-1, 1, (2, 6, 3, 1)).astype(np.float32)
    xr = x[..., 0].astype(np.float64)
    save("dft_length_pad_onesided", [helper.make_node("DFT", ["x", "len"], ["y"], axis=1, onesided=1)],
         [("x", x)], [("y", as_pairs(np.fft.fft(xr, n=8, axis=1)[:, :5]))], 17,
         initializers=[("len", np.array(8, np.int64))])
    save("dft_length_truncate_neg_axis", [helper.make_node("DFT", ["x", "len"], ["y"], axis=-2)],
         [("x", x)], [("y", as_pairs(np.fft.fft(xr, n=2, axis=2)))], 17,
         initializers=[("len", np.array(2, np.int64))])
    z = rng.uniform(-1, 1, (3, 5, 2))
    zc = z[..., 0] + 1j * z[..., 1]
    save("dft_complex_inverse_double", [helper.make_node("DFT", ["z"], ["y"], axis=1, inverse=1)],
         [("z", z)], [("y", as_pairs(np.fft.ifft(zc, axis=1), np.float64))], 17)
    save("dft_opset20_axis_input", [helper.make_node("DFT", ["x", "", "axis"], ["y"])],
         [("x", x)], [("y", as_pairs(np.fft.fft(xr, axis=2)))], 20,
         initializers=[("axis", np.array(-2, np.int64))])
    h = rng.uniform(-1, 1, (4, 1)).astype(np.float16)
    save("dft_float16", [helper.make_node("DFT", ["h"], ["y"], axis=0)],
         [("h", h)], [("y", as_pairs(np.fft.fft(h[:, 0].astype(np.float64)), np.float16))], 17)


def stft_cases():
    sig = rng.uniform(-1, 1, (2, 40, 2)).astype(np.float32)
    win = np.hanning(10).astype(np.float32)
    step, length = 6, 10
    frames = (40 - length) // step + 1
    c = sig[..., 0].astype(np.float64) + 1j * sig[..., 1]
    out = np.zeros((2, frames, length), complex)
    for b in range(2):
        for f in range(frames):
            out[b, f] = np.fft.fft(c[b, f * step:f * step + length] * win)
    save("stft_complex_two_sided", [helper.make_node("STFT", ["s", "step", "w"], ["y"], onesided=0)],
         [("s", sig), ("w", win)], [("y", as_pairs(out))], 17,
         initializers=[("step", np.array(step, np.int64))])
    real = rng.uniform(-1, 1, (1, 33, 1))
    out = np.array([np.fft.rfft(real[0, f * 4:f * 4 + 12, 0]) for f in range((33 - 12) // 4 + 1)])
    save("stft_double_frame_length", [helper.make_node("STFT", ["s", "step", "", "len"], ["y"])],
         [("s", real)], [("y", as_pairs(out[None], np.float64))], 17,
         initializers=[("step", np.array(4, np.int64)), ("len", np.array(12, np.int64))])


def windows():
    n = np.arange(7)
    for op, a in (("HannWindow", (0.5, 0.5, 0)), ("HammingWindow", (25 / 46, 21 / 46, 0)),
                  ("BlackmanWindow", (0.42, 0.5, 0.08))):
        for periodic, N in ((1, 7), (0, 6)):
            y = a[0] - a[1] * np.cos(2 * np.pi * n / N) + a[2] * np.cos(4 * np.pi * n / N)
            for dt, name in ((np.float64, "double"), (np.float16, "float16")):
                code = {np.float64: 11, np.float16: 10}[dt]
                save(f"{op.lower()}_{'periodic' if periodic else 'symmetric'}_{name}",
                     [helper.make_node(op, ["size"], ["y"], periodic=periodic, output_datatype=code),
                      helper.make_node("Identity", ["x"], ["x_out"])],
                     [("x", np.ones(1, np.float32))], [("y", y.astype(dt)), ("x_out", np.ones(1, np.float32))], 17,
                     initializers=[("size", np.array(7, np.int64))])


def mel(num_mel_bins, dft_length, sample_rate, lower, upper):
    # The ONNX reference algorithm (backend/test/case/node/melweightmatrix.py).
    bins = np.arange(0, num_mel_bins + 2)
    low = 2595 * np.log10(1 + lower / 700)
    high = 2595 * np.log10(1 + upper / 700)
    step = (high - low) / bins.shape[0]
    hz = 700 * (np.power(10, (bins * step + low) / 2595) - 1)
    fb = ((dft_length + 1) * hz // sample_rate).astype(int)
    out = np.zeros((dft_length // 2 + 1, num_mel_bins))
    for i in range(num_mel_bins):
        lo, c, hi = fb[i], fb[i + 1], fb[i + 2]
        if c - lo == 0:
            out[c, i] = 1
        else:
            for j in range(lo, c + 1):
                out[j, i] = (j - lo) / (c - lo)
        if hi - c > 0:
            for j in range(c, hi):
                out[j, i] = (hi - j) / (hi - c)
    return out


def mel_cases():
    args = (10, 64, 16000, 300.0, 7000.0)
    save("melweightmatrix_double", [helper.make_node("MelWeightMatrix", ["m", "d", "r", "lo", "hi"], ["w"],
                                                     output_datatype=11)],
         [("r", np.array(args[2], np.int64)), ("lo", np.array(args[3], np.float64)),
          ("hi", np.array(args[4], np.float64))], [("w", mel(*args))], 17,
         initializers=[("m", np.array(args[0], np.int64)), ("d", np.array(args[1], np.int64))])


dft_cases()
stft_cases()
windows()
mel_cases()
