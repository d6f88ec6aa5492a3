# sequence.py — sequence and optional cases the ONNX node tests do not cover:
# SplitToSequence / ConcatFromSequence in every form, positions (negative, default), erase,
# length, sequences read by run-time loops and produced by run-time Ifs, constant sequences
# folded at compile time, sequence inputs and outputs of differently shaped tensors.
import numpy as np
from onnx import TensorProto, helper

from casegen import save

rng = np.random.default_rng(5)
F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def const(name, value):
    t = {np.float32: F, np.int64: I64, np.bool_: B}[value.dtype.type]
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, t, value.shape,
                                                                            value.flatten().tolist()))


def split_concat():
    x = rng.uniform(-1, 1, (5, 4)).astype(np.float32)
    # split scalar 2 along axis 0: [2, 2, 1]; sizes [1, 3] along axis 1; no split, keepdims=0.
    nodes = [
        const("two", np.array(2, np.int64)),
        helper.make_node("SplitToSequence", ["x", "two"], ["s1"]),
        const("sizes", np.array([1, 3], np.int64)),
        helper.make_node("SplitToSequence", ["x", "sizes"], ["s2"], axis=-1),
        helper.make_node("SplitToSequence", ["x"], ["s3"], axis=1, keepdims=0),
        helper.make_node("ConcatFromSequence", ["s1"], ["c1"], axis=0),
        helper.make_node("ConcatFromSequence", ["s3"], ["c3"], axis=-1, new_axis=1),
        helper.make_node("ConcatFromSequence", ["s2"], ["c2"], axis=1),
    ]
    save("split_concat", nodes, [("x", x)],
         [("s1", [x[0:2], x[2:4], x[4:5]]), ("s2", [x[:, :1], x[:, 1:]]), ("s3", [x[:, i] for i in range(4)]),
          ("c1", x), ("c3", x), ("c2", x)], 13)


def positions():
    a = rng.uniform(-1, 1, (2,)).astype(np.float32)
    b = rng.uniform(-1, 1, (3,)).astype(np.float32)
    c = rng.uniform(-1, 1, (1,)).astype(np.float32)
    nodes = [
        helper.make_node("SequenceConstruct", ["a", "b"], ["s"]),
        const("m1", np.array(-1, np.int64)),
        helper.make_node("SequenceInsert", ["s", "c", "m1"], ["s2"]),   # a c b
        helper.make_node("SequenceErase", ["s2"], ["s3"]),              # a c
        const("zero", np.array(0, np.int64)),
        helper.make_node("SequenceErase", ["s2", "zero"], ["s4"]),      # c b
        helper.make_node("SequenceAt", ["s4", "m1"], ["last"]),         # b
        helper.make_node("SequenceLength", ["s2"], ["len"]),
        helper.make_node("Optional", ["last"], ["o"]),
        helper.make_node("OptionalHasElement", ["o"], ["has"]),
        helper.make_node("Optional", [], ["none"], type=helper.make_tensor_type_proto(F, [3])),
        helper.make_node("OptionalHasElement", ["none"], ["has_none"]),
        helper.make_node("OptionalGetElement", ["o"], ["got"]),
        helper.make_node("Mul", ["got", "got"], ["sq"]),
    ]
    save("positions", nodes, [("a", a), ("b", b), ("c", c)],
         [("s3", [a, c]), ("s4", [c, b]), ("len", np.array(3, np.int64)), ("has", np.array(True)),
          ("has_none", np.array(False)), ("sq", b * b)], 15)


def sequence_io():
    # A sequence input of differently shaped tensors, mapped, and returned.
    xs = [rng.uniform(-1, 1, s).astype(np.float32) for s in ((2, 3), (4,), (1, 1, 2))]
    body = helper.make_graph([helper.make_node("Mul", ["e", "k"], ["o"]),
                              helper.make_node("Shape", ["e"], ["sh"])], "b",
                             [helper.make_tensor_value_info("e", F, None), helper.make_tensor_value_info("k", F, [])],
                             [helper.make_tensor_value_info("o", F, None), helper.make_tensor_value_info("sh", I64, None)])
    k = np.array(3.0, np.float32)
    save("sequence_io", [helper.make_node("SequenceMap", ["xs", "k"], ["ys", "shapes"], body=body),
                         helper.make_node("SequenceLength", ["ys"], ["n"])],
         [("xs", xs), ("k", k)],
         [("ys", [x * k for x in xs]), ("shapes", [np.array(x.shape, np.int64) for x in xs]),
          ("n", np.array(3, np.int64))], 17)


def loop_reads_sequence():
    # A run-time loop body reads members of an outer sequence at fixed positions.
    a = rng.uniform(-1, 1, (3,)).astype(np.float32)
    b = rng.uniform(-1, 1, (3,)).astype(np.float32)
    body = helper.make_graph([
        const("one", np.array(1, np.int64)),
        helper.make_node("SequenceAt", ["s", "one"], ["m"]),
        helper.make_node("Mul", ["v_in", "m"], ["p"]),
        const("zero", np.array(0, np.int64)),
        helper.make_node("SequenceAt", ["s", "zero"], ["m0"]),
        helper.make_node("Add", ["p", "m0"], ["v_out"]),
        helper.make_node("Identity", ["c_in"], ["c_out"]),
    ], "b", [helper.make_tensor_value_info("i", I64, []), helper.make_tensor_value_info("c_in", B, []),
             helper.make_tensor_value_info("v_in", F, [3])],
        [helper.make_tensor_value_info("c_out", B, []), helper.make_tensor_value_info("v_out", F, [3])])
    v = np.zeros(3)
    for _ in range(500):
        v = v * b + a
    save("loop_reads_sequence", [helper.make_node("SequenceConstruct", ["a", "b"], ["s"]),
                                 helper.make_node("Loop", ["M", "", "v0"], ["v"], body=body)],
         [("a", a), ("b", b), ("v0", np.zeros(3, np.float32))], [("v", v.astype(np.float32))], 13,
         initializers=[("M", np.array(500, np.int64))])


def if_sequence_runtime():
    # Both branches build a sequence of the same shapes; the condition comes from data.
    x = rng.uniform(-1, 1, (2, 2)).astype(np.float32)
    then = helper.make_graph([helper.make_node("Neg", ["x"], ["n"]),
                              helper.make_node("SequenceConstruct", ["n", "x"], ["t"])], "then", [],
                             [helper.make_tensor_sequence_value_info("t", F, None)])
    other = helper.make_graph([helper.make_node("Abs", ["x"], ["a"]),
                               helper.make_node("Concat", ["a", "x"], ["ax"], axis=1),
                               const("two", np.array(2, np.int64)), helper.make_node("SplitToSequence", ["ax", "two"], ["e"], axis=1)], "else", [],
                              [helper.make_tensor_sequence_value_info("e", F, None)])
    for name, c in (("if_sequence_then", True), ("if_sequence_else", False)):
        out = [-x, x] if c else [np.abs(x), x]
        save(name, [helper.make_node("If", ["c"], ["s"], then_branch=then, else_branch=other),
                    helper.make_node("ConcatFromSequence", ["s"], ["cat"], axis=0)],
             [("c", np.array(c)), ("x", x)], [("cat", np.concatenate(out, 0))], 13)


def constant_sequence_folded():
    k1 = rng.uniform(-1, 1, (2, 3)).astype(np.float32)
    k2 = rng.uniform(-1, 1, (1, 3)).astype(np.float32)
    x = rng.uniform(-1, 1, (3, 3)).astype(np.float32)
    save("constant_sequence_folded", [
        helper.make_node("SequenceConstruct", ["k1", "k2"], ["s"]),
        helper.make_node("ConcatFromSequence", ["s"], ["k"], axis=0),
        helper.make_node("Add", ["x", "k"], ["y"])],
        [("x", x)], [("y", x + np.concatenate([k1, k2]))], 13, initializers=[("k1", k1), ("k2", k2)])


split_concat()
positions()
sequence_io()
loop_reads_sequence()
if_sequence_runtime()
constant_sequence_folded()
