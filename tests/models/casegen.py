# casegen.py — writes a model test folder in the layout of the ONNX node tests
# (model.onnx, test_data_set_0/input_N.pb, output_N.pb) so `edgecc check` runs it. The
# generator scripts next to this file compute the expected outputs with numpy references.
import os
import sys

import numpy as np

for _n, _t in (("float", float), ("int", int), ("bool", bool), ("object", object)):
    if not hasattr(np, _n):  # onnx 1.12 still uses the aliases newer numpy dropped
        setattr(np, _n, _t)

import onnx  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else "model-tests"


def value_info(name, value):
    if isinstance(value, onnx.TensorProto):
        return helper.make_tensor_value_info(name, value.data_type, list(value.dims))
    if isinstance(value, list):  # a sequence of tensors
        elem = helper.make_tensor_type_proto(onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[value[0].dtype] if value else 1, None)
        return helper.make_value_info(name, helper.make_sequence_type_proto(elem))
    t = onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[value.dtype]
    return helper.make_tensor_value_info(name, t, value.shape)


def tensor_proto(name, value):
    """A TensorProto; a TensorProto passes through (types numpy lacks, such as int4)."""
    if isinstance(value, onnx.TensorProto):
        value.name = name
        return value
    return numpy_helper.from_array(value, name)


def write_proto(path, name, value):
    if isinstance(value, list):
        proto = onnx.SequenceProto(name=name, elem_type=onnx.SequenceProto.TENSOR)
        proto.tensor_values.extend(numpy_helper.from_array(v) for v in value)
    else:
        proto = tensor_proto(name, value)
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())


def save(name, nodes, inputs, outputs, opset, initializers=(), domains=(), int_tolerance=0, float_tolerance=None):
    """inputs/outputs: lists of (name, numpy array or list of arrays). DOMAINS: extra
    (domain, version) opset imports. INT_TOLERANCE: integer outputs pass within that many
    units of the expected values (see `edgecc check`), for references computed in float.
    FLOAT_TOLERANCE: (atol, rtol), float outputs pass within atol + rtol*|expected| instead of
    the default."""
    graph = helper.make_graph(
        nodes, name,
        [value_info(n, v) for n, v in inputs],
        [value_info(n, v) for n, v in outputs],
        initializer=[tensor_proto(n, v) for n, v in initializers])
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in domains]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    folder = os.path.join(OUT, name)
    data = os.path.join(folder, "test_data_set_0")
    os.makedirs(data, exist_ok=True)
    onnx.save(model, os.path.join(folder, "model.onnx"))
    if int_tolerance:
        with open(os.path.join(folder, "int_tolerance"), "w") as f:
            f.write(f"{int_tolerance}\n")
    if float_tolerance:
        with open(os.path.join(folder, "float_tolerance"), "w") as f:
            f.write("%r %r\n" % tuple(float_tolerance))
    for i, (n, v) in enumerate(inputs):
        write_proto(os.path.join(data, f"input_{i}.pb"), n, v)
    for i, (n, v) in enumerate(outputs):
        write_proto(os.path.join(data, f"output_{i}.pb"), n, v)
