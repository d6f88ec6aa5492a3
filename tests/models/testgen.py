# testgen.py — writes ONNX backend-test folders (model.onnx, test_data_set_0/*.pb) for
# behaviour the ONNX node suite does not cover. The gen_*.py scripts compute the expected
# outputs with their own numpy references and call save(); run them with /usr/bin/python3
# (numpy + onnx); the folders land in the directory given as the first argument
# (tests/models/generate.sh passes it; the build runs it into build/model-tests).
import os
import sys
import shutil

import numpy as np
from onnx import TensorProto, helper, mapping, numpy_helper

OUT = sys.argv[1]


def save(name, op, inputs, outputs, opset, **attrs):
    """One-node model NAME running OP. INPUTS and OUTPUTS are lists of (name, array); an input
    named '' is omitted. Every input is a graph input (shape-like ones are bound by check)."""
    node = helper.make_node(op, [n for n, _ in inputs], [n for n, _ in outputs], **attrs)

    def info(n, a):
        return helper.make_tensor_value_info(n, mapping.NP_TYPE_TO_TENSOR_TYPE[a.dtype], a.shape)

    graph = helper.make_graph([node], name, [info(n, a) for n, a in inputs if n],
                              [info(n, a) for n, a in outputs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.join(folder, "test_data_set_0"))
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    for kind, tensors in (("input", [t for t in inputs if t[0]]), ("output", outputs)):
        for i, (n, a) in enumerate(tensors):
            with open(os.path.join(folder, "test_data_set_0", f"{kind}_{i}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(np.asarray(a), n).SerializeToString())


def rng(seed):
    return np.random.default_rng(seed)


def save_graph(name, nodes, inputs, outputs, initializers=(), opset=17, float_tolerance=None):
    """A multi-node model NAME: NODES (helper.make_node), INPUTS and OUTPUTS lists of
    (name, array) as above, INITIALIZERS (name, array) pairs that become constant weights.
    FLOAT_TOLERANCE: (atol, rtol), float outputs pass within atol + rtol*|expected| instead of
    the default (`edgecc check`)."""
    def info(n, a):
        return helper.make_tensor_value_info(n, mapping.NP_TYPE_TO_TENSOR_TYPE[np.asarray(a).dtype],
                                             np.asarray(a).shape)

    graph = helper.make_graph(nodes, name, [info(n, a) for n, a in inputs], [info(n, a) for n, a in outputs],
                              [numpy_helper.from_array(np.asarray(a), n) for n, a in initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.join(folder, "test_data_set_0"))
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    if float_tolerance:
        with open(os.path.join(folder, "float_tolerance"), "w") as f:
            f.write("%r %r\n" % tuple(float_tolerance))
    for kind, tensors in (("input", inputs), ("output", outputs)):
        for i, (n, a) in enumerate(tensors):
            with open(os.path.join(folder, "test_data_set_0", f"{kind}_{i}.pb"), "wb") as f:
                f.write(numpy_helper.from_array(np.asarray(a), n).SerializeToString())
