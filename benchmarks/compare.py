#!/usr/bin/python3
"""compare.py — edgecc's outputs against ONNX Runtime's on any model.

    benchmarks/compare.py --edgecc build/edgecc MODEL.onnx [--dim NAME=N ...] [--keep DIR]
                          [-- EDGECC_OPTIONS...]

Feeds seeded random inputs (floats uniform in [-1, 1), integers 0..2) to ONNX Runtime
(benchmarks/ort_outputs.js; benchmarks/setup_ort.sh installs it), writes an ONNX backend-test
folder with its outputs as the expected ones, and runs `edgecc check` on it (the suite's
tolerance: 1e-5 + 1e-3 |expected|). Prints check's verdict and, per output, the largest
absolute difference against the output's largest magnitude: quantized models legitimately
differ by a step where ONNX Runtime's float arithmetic rounds a near-tie differently.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import mapping, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
JS_TYPES = {np.float32: "float32", np.float16: "float16", np.float64: "float64", np.int64: "int64", np.int32: "int32",
            np.int8: "int8", np.uint8: "uint8", np.bool_: "bool"}


def write_inputs(model, folder, dims):
    """Random inputs as input_N.pb (for check) and raw files (for ONNX Runtime)."""
    rng = np.random.default_rng(7)
    inits = {i.name for i in model.graph.initializer}
    described = []
    for i, v in enumerate(x for x in model.graph.input if x.name not in inits):
        tt = v.type.tensor_type
        shape = [d.dim_value if d.dim_value > 0 else int(dims.get(d.dim_param, 1)) for d in tt.shape.dim]
        dt = np.dtype(mapping.TENSOR_TYPE_TO_NP_TYPE[tt.elem_type]).type
        a = rng.uniform(-1, 1, shape).astype(dt) if issubclass(dt, np.floating) else rng.integers(0, 3, shape).astype(dt)
        a.tofile(os.path.join(folder, f"in_{i}.raw"))
        with open(os.path.join(folder, "test_data_set_0", f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, v.name).SerializeToString())
        described.append({"name": v.name, "type": JS_TYPES[dt], "shape": shape, "file": f"in_{i}.raw"})
    with open(os.path.join(folder, "inputs.json"), "w") as f:
        json.dump(described, f)


def write_expected(folder):
    """ONNX Runtime's outputs as output_N.pb; returns them."""
    with open(os.path.join(folder, "outputs.json")) as f:
        meta = json.load(f)
    types = {v: k for k, v in JS_TYPES.items()}
    outs = []
    for i, o in enumerate(meta):
        a = np.fromfile(os.path.join(folder, f"ort_{i}.raw"), types[o["type"]]).reshape(o["dims"])
        with open(os.path.join(folder, "test_data_set_0", f"output_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, o["name"]).SerializeToString())
        outs.append((o["name"], a))
    return outs


def load(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edgecc", required=True)
    ap.add_argument("model")
    ap.add_argument("--dim", action="append", default=[], help="NAME=N for a symbolic dimension")
    ap.add_argument("--keep", help="write the test folder here instead of a temporary one")
    ap.add_argument("options", nargs="*", help="edgecc options after --")
    args = ap.parse_args()
    dims = dict(d.split("=", 1) for d in args.dim)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or os.path.join(tmp, "case")
        os.makedirs(os.path.join(folder, "test_data_set_0"), exist_ok=True)
        model = onnx.load(args.model)
        onnx.save(model, os.path.join(folder, "model.onnx"))
        write_inputs(model, folder, dims)
        subprocess.run(["node", os.path.join(HERE, "ort_outputs.js"), args.model, folder], check=True)
        expected = write_expected(folder)
        flags = [f for d in args.dim for f in ("--dim", d)] + args.options
        check = subprocess.run([args.edgecc, "check"] + flags + [folder], capture_output=True, text=True)
        print((check.stdout + check.stderr).strip())
        ran = subprocess.run([args.edgecc, "run"] + flags + [args.model, "-d", os.path.join(tmp, "out")] +
                             [x for i in range(len(model.graph.input)) for x in
                              ("-i", os.path.join(folder, "test_data_set_0", f"input_{i}.pb"))
                              if os.path.exists(os.path.join(folder, "test_data_set_0", f"input_{i}.pb"))],
                             capture_output=True, text=True)
        if ran.returncode:
            sys.exit(ran.stderr.strip())
        for i, (name, want) in enumerate(expected):
            got = load(os.path.join(tmp, "out", f"output_{i}.pb")).astype(np.float64)
            diff = np.abs(got - want.astype(np.float64)).max() if want.size else 0.0
            print(f"{name}: max |edgecc - ORT| {diff:.3g}, max |ORT| {np.abs(want).max() if want.size else 0:.3g}")
        sys.exit(check.returncode)


if __name__ == "__main__":
    main()
