#!/usr/bin/python3
"""conv_accuracy.py — the rounding error of each 3x3 convolution algorithm on trained-like layers.

    benchmarks/conv_accuracy.py --edgecc build/edgecc [--algos auto,gemm,winograd2,winograd4]
                                [--layers raw3,c64,c256] [--size 32] [--seeds 3] [--target T]

Builds one Conv per layer (3x3, stride 1, pad 1, weights ~ N(0, 2/K) with K = 9 * Cin as after
He initialization and training, a small bias), feeds it post-ReLU activations (max(N(0, 1), 0))
or, for the first layer, raw pixels 0..255, computes the output in float64 with numpy, and runs
`edgecc run --conv-algo=ALGO` for each algorithm. Per layer and algorithm it prints the kernel
edgecc chose (--report) and the largest error:
  tol   max |y - ref| / (1e-4 + 1e-3 |ref|), the share of the conformance tolerance used
        (above 1 an output fails it)
  rms   max |y - ref| / RMS(ref), independent of the output's scale: an output of RMS S sees
        errors up to rms * S, against the tolerance's 1e-4 near zero
The worst over SEEDS random layers is reported. Layers: rawN (N channels of raw pixels to 32),
cN (N channels to N, post-ReLU inputs).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import helper, numpy_helper


def conv3x3_ref(x, w, b):
    """float64 3x3 stride-1 pad-1 convolution: one [Cout, Cin] x [Cin, pixels] product per tap."""
    n, c, h, wd = x.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((n, w.shape[0], h, wd))
    w64 = w.astype(np.float64)
    for i in range(3):
        for j in range(3):
            win = xp[:, :, i:i + h, j:j + wd].reshape(n, c, -1)
            y += np.einsum("oc,ncp->nop", w64[:, :, i, j], win, optimize=True).reshape(y.shape)
    return y + b.astype(np.float64).reshape(1, -1, 1, 1)


def layer(name, size, seed):
    """(x, w, b) of layer NAME: rawN or cN."""
    r = np.random.default_rng(seed)
    if name.startswith("raw"):
        cin, cout = int(name[3:]), 32
        x = r.integers(0, 256, (1, cin, size, size)).astype(np.float32)
    else:
        cin = cout = int(name[1:])
        x = np.maximum(r.standard_normal((1, cin, size, size)), 0).astype(np.float32)
    w = (r.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (9 * cin))).astype(np.float32)
    b = (0.1 * r.standard_normal(cout)).astype(np.float32)
    return x, w, b


def save_model(path, x, w, b):
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    shape = [x.shape[0], w.shape[0], x.shape[2], x.shape[3]]
    graph = helper.make_graph([node], "conv", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, shape)],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def run(edgecc, model, x, algo, target, work):
    """The output and the kernel edgecc uses for the Conv."""
    xin = os.path.join(work, "x.pb")
    with open(xin, "wb") as f:
        f.write(numpy_helper.from_array(x, "x").SerializeToString())
    opts = [f"--conv-algo={algo}"] + (["-target", target] if target else [])
    report = subprocess.run([edgecc, model, "-o", os.path.join(work, "m.o"), "--report=json"] + opts,
                            capture_output=True, text=True, check=True).stdout
    kernel = json.loads(report)["layers"][0]["kernel"]
    out = os.path.join(work, "out")
    subprocess.run([edgecc, "run", model, "-i", xin, "-d", out] + opts, check=True)
    return numpy_helper.to_array(onnx.load_tensor(os.path.join(out, "output_0.pb"))).astype(np.float64), kernel


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edgecc", required=True)
    ap.add_argument("--algos", default="auto,gemm,winograd2,winograd4")
    ap.add_argument("--layers", default="raw3,c16,c32,c64,c128,c256,c512")
    ap.add_argument("--size", type=int, default=32, help="input height and width")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--target", default=None)
    args = ap.parse_args()
    algos = args.algos.split(",")
    print(f"{'layer':8s} {'out rms':>9s}" + "".join(f" {a + ' kernel':>19s} {'tol':>8s} {'rms':>8s}" for a in algos))
    with tempfile.TemporaryDirectory() as work:
        for name in args.layers.split(","):
            worst = {a: (0.0, 0.0, "") for a in algos}
            rms_out = 0.0
            for seed in range(args.seeds):
                x, w, b = layer(name, args.size, seed)
                ref = conv3x3_ref(x, w, b)
                rms = np.sqrt(np.mean(ref * ref))
                rms_out = max(rms_out, rms)
                model = os.path.join(work, "conv.onnx")
                save_model(model, x, w, b)
                for a in algos:
                    y, kernel = run(args.edgecc, model, x, a, args.target, work)
                    err = np.abs(y - ref)
                    tol = float((err / (1e-4 + 1e-3 * np.abs(ref))).max())
                    rel = float(err.max() / rms)
                    t, r, _ = worst[a]
                    worst[a] = (max(t, tol), max(r, rel), kernel)
            line = f"{name:8s} {rms_out:9.3g}"
            for a in algos:
                t, r, kernel = worst[a]
                line += f" {kernel:>19s} {t:8.3f} {r:8.1e}"
            print(line)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
