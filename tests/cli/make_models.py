#!/usr/bin/python3
"""Writes the models tests/cli/errors.sh and outputs.sh feed to edgecc: valid ones and malformed ones.
Usage: make_models.py OUTDIR"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(os.path.join(out, "sub"), exist_ok=True)


def save(model, name):
    with open(os.path.join(out, name), "wb") as f:
        f.write(model.SerializeToString())


def model(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def vi(name, dims, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, dims)


good = model([helper.make_node("Relu", ["x"], ["r"], name="relu"),
              helper.make_node("Add", ["r", "w"], ["y"], name="add")],
             [vi("x", ["batch", 4])], [vi("y", ["batch", 4])],
             [numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")])
save(good, "good.onnx")
data = good.SerializeToString()
with open(os.path.join(out, "truncated.onnx"), "wb") as f:
    f.write(data[: len(data) // 2])
with open(os.path.join(out, "garbage.onnx"), "wb") as f:
    f.write(b"this is not a protobuf\xff\xfe" * 10)
open(os.path.join(out, "empty.onnx"), "wb").close()

save(model([helper.make_node("FooOp", ["x"], ["a"], name="foo"),
            helper.make_node("Relu", ["a"], ["b"], name="relu"),
            helper.make_node("BarOp", ["b"], ["y"], name="bar", domain="com.example")],
           [vi("x", [4])], [vi("y", [4])]), "unsupported.onnx")

ext = numpy_helper.from_array(np.zeros(4, np.float32), "w")
ext.ClearField("raw_data")
ext.data_location = TensorProto.EXTERNAL
for k, v in (("location", "../../../etc/passwd"), ("length", "16")):
    e = ext.external_data.add()
    e.key, e.value = k, v
save(model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], [vi("x", [4])], [vi("y", [4])], [ext]),
     "sub/escape.onnx")

save(model([helper.make_node("Add", ["x", "z"], ["y"], name="add_xz")],
           [vi("x", [3]), vi("z", [4])], [vi("y", [3])]), "mismatch.onnx")
save(model([helper.make_node("Relu", ["x"], ["y"], name="relu")],
           [vi("x", ["N", "C", 8])], [vi("y", ["N", "C", 8])]), "unbound.onnx")
save(model([helper.make_node("Add", ["x", "i"], ["y"], name="mixed")],
           [vi("x", [2]), vi("i", [2], TensorProto.INT64)], [vi("y", [2])]), "wrong_types.onnx")
huge = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 40, 1 << 40], raw_data=b"")
save(model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], [vi("x", [4])], [vi("y", [4])], [huge]),
     "huge.onnx")
save(model([helper.make_node("Relu", ["later"], ["y"], name="early"),
            helper.make_node("Relu", ["x"], ["later"], name="late")],
           [vi("x", [4])], [vi("y", [4])]), "order.onnx")
save(model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[3, 3], magic=4)],
           [vi("x", [1, 1, 5, 5])], [vi("y", [1, 1, 3, 3])],
           [numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "w")]), "bad_attr.onnx")
save(model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [vi("x", [4])], [vi("y", [4])], opset=99),
     "future_opset.onnx")
# An attribute ONNX moved to an input, still set by an exporter that mixed opsets.
save(model([helper.make_node("ReduceMean", ["x"], ["y"], name="mean", axes=[1], keepdims=0)],
           [vi("x", [2, 3])], [vi("y", [2])], opset=18), "retired_attr.onnx")
# Data-dependent shapes reach ops that take them; the others, and forms that cannot follow
# them, are rejected clearly: a Reshape to a fixed shape, an op without support (Einsum),
# MatMul with such a B.
save(model([helper.make_node("NonZero", ["x"], ["nz"], name="nonzero"),
            helper.make_node("Reshape", ["nz", "fixed"], ["y"], name="reshape")],
           [vi("x", [3, 4])], [vi("y", [None, None], TensorProto.INT64)],
           [numpy_helper.from_array(np.array([4, 3], dtype=np.int64), "fixed")]), "dynamic_reshape.onnx")
save(model([helper.make_node("NonZero", ["x"], ["nz"], name="nonzero"),
            helper.make_node("Cast", ["nz"], ["f"], name="cast", to=TensorProto.FLOAT),
            helper.make_node("Einsum", ["f"], ["y"], name="einsum", equation="ij->ji")],
           [vi("x", [3, 4])], [vi("y", [None, None])]), "dynamic_einsum.onnx")
save(model([helper.make_node("NonZero", ["x"], ["nz"], name="nonzero"),
            helper.make_node("Cast", ["nz"], ["f"], name="cast", to=TensorProto.FLOAT),
            helper.make_node("MatMul", ["w", "f"], ["y"], name="matmul")],
           [vi("x", [3, 4])], [vi("y", [None, None])],
           [numpy_helper.from_array(np.ones((3, 2), np.float32), "w")]), "dynamic_matmul.onnx")
# Compiles, with warnings: an initializer nobody reads, and float64 math in a float32 model.
save(model([helper.make_node("Cast", ["x"], ["xd"], name="to_double", to=TensorProto.DOUBLE),
            helper.make_node("Mul", ["xd", "xd"], ["sq"], name="square"),
            helper.make_node("Cast", ["sq"], ["y"], name="to_float", to=TensorProto.FLOAT)],
           [vi("x", [4])], [vi("y", [4])], [numpy_helper.from_array(np.zeros(8, np.float32), "unused_w")]),
     "suspicious.onnx")
# String tensors: arithmetic on text is rejected; StringNormalizer runs through `edgecc run`
# and has no Turkic case rules.
S = TensorProto.STRING
save(model([helper.make_node("Add", ["s", "s"], ["y"], name="add_text")], [vi("s", [2], S)], [vi("y", [2], S)]),
     "string_add.onnx")
save(model([helper.make_node("StringNormalizer", ["words"], ["y"], name="norm", case_change_action="LOWER",
                             stopwords=["the"])], [vi("words", [3], S)], [vi("y", [None], S)], opset=10),
     "lower.onnx")
save(model([helper.make_node("StringNormalizer", ["words"], ["y"], name="norm", case_change_action="UPPER",
                             locale="tr_TR.UTF-8")], [vi("words", [3], S)], [vi("y", [3], S)], opset=10),
     "turkish.onnx")
# A 3x3 convolution with constant weights: --conv-algo picks its kernel.
save(model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
           [vi("x", [1, 16, 12, 12])], [vi("y", [1, 16, 12, 12])],
           [numpy_helper.from_array(np.random.default_rng(0).standard_normal((16, 16, 3, 3)).astype(np.float32), "w")]),
     "conv3x3.onnx")
