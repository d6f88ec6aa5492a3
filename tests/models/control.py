# control.py — If, Loop and Scan cases the ONNX node tests do not cover: run-time
# conditions, loops too long to unroll, data-dependent trip counts (dynamic scan outputs),
# while loops without M, nesting, subgraphs reading outer values, Scan axes and directions.
import numpy as np
from onnx import TensorProto, helper

from casegen import save

rng = np.random.default_rng(11)
F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def const(name, value):
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(
        name, {np.float32: F, np.int64: I64, np.bool_: B}[value.dtype.type], value.shape, value.flatten().tolist()))


def body(name, nodes, ins, outs):
    return helper.make_graph(nodes, name, [helper.make_tensor_value_info(n, t, s) for n, t, s in ins],
                             [helper.make_tensor_value_info(n, t, s) for n, t, s in outs])


def loop_long_runtime():
    # 300 trips of a 5-node body: too many copies to unroll, runs as a run-time loop. The
    # body gathers at the iteration number (run-time indices are fine there).
    table = rng.uniform(-1, 1, (10, 3)).astype(np.float32)
    y0 = rng.uniform(-1, 1, 3).astype(np.float32)
    g = body("b", [
        const("ten", np.array(10, np.int64)),
        helper.make_node("Mod", ["i", "ten"], ["k"]),
        helper.make_node("Gather", ["table", "k"], ["row"]),
        const("half", np.array(0.5, np.float32)),
        helper.make_node("Mul", ["y_in", "half"], ["scaled"]),
        helper.make_node("Add", ["scaled", "row"], ["y_out"]),
        helper.make_node("Identity", ["c_in"], ["c_out"]),
        helper.make_node("Neg", ["y_out"], ["s"]),
    ], [("i", I64, []), ("c_in", B, []), ("y_in", F, [3])], [("c_out", B, []), ("y_out", F, [3]), ("s", F, [3])])
    y, scan = y0.astype(np.float64), []
    for i in range(300):
        y = y * 0.5 + table[i % 10]
        scan.append(-y)
    save("loop_long_runtime", [helper.make_node("Loop", ["M", "", "y0"], ["y", "scan"], body=g)],
         [("y0", y0)], [("y", y.astype(np.float32)), ("scan", np.array(scan, np.float32))], 13,
         initializers=[("M", np.array(300, np.int64)), ("table", table)])


def loop_data_condition():
    # The condition depends on data: at most M trips, the scan output has a dynamic length.
    x = np.array([0.5, 1.0, 0.25], np.float32)
    limit = np.array(6.0, np.float32)
    g = body("b", [
        helper.make_node("Add", ["y_in", "x"], ["y_out"]),
        helper.make_node("ReduceSum", ["y_out"], ["total"], keepdims=0),
        helper.make_node("Less", ["total", "limit"], ["c_out"]),
        helper.make_node("Cast", ["i"], ["fi"], to=F),
        helper.make_node("Mul", ["y_out", "fi"], ["s"]),
    ], [("i", I64, []), ("c_in", B, []), ("y_in", F, [3])], [("c_out", B, []), ("y_out", F, [3]), ("s", F, [3])])
    y, scan, c, i = np.zeros(3), [], True, 0
    while i < 8 and c:
        y = y + x
        c = y.sum() < limit
        scan.append(y * i)
        i += 1
    save("loop_data_condition",
         [helper.make_node("Loop", ["M", "cond", "y0"], ["y", "scan"], body=g)],
         [("M", np.array(8, np.int64)), ("cond", np.array(True)), ("y0", np.zeros(3, np.float32)), ("x", x),
          ("limit", limit)],
         [("y", y.astype(np.float32)), ("scan", np.array(scan, np.float32))], 13)


def loop_while():
    # No M: runs while the data-dependent condition holds; no scan outputs.
    g = body("b", [
        const("two", np.array(2.0, np.float32)),
        helper.make_node("Mul", ["v_in", "two"], ["v_out"]),
        helper.make_node("ReduceMax", ["v_out"], ["m"], keepdims=0),
        helper.make_node("Less", ["m", "bound"], ["c_out"]),
    ], [("i", I64, []), ("c_in", B, []), ("v_in", F, [2, 2])], [("c_out", B, []), ("v_out", F, [2, 2])])
    v0 = np.array([[0.1, 0.3], [0.2, 0.05]], np.float32)
    bound = np.array(5.0, np.float32)
    v = v0.copy()
    while True:
        v = v * 2
        if not v.max() < bound:
            break
    save("loop_while", [
        const("t", np.array(True)),
        helper.make_node("Loop", ["", "t", "v0"], ["v"], body=g)],
        [("v0", v0), ("bound", bound)], [("v", v)], 13)


def loop_nested(name, M, N):
    # An inner loop reads a value of the main graph and one of the outer body.
    w = rng.uniform(-1, 1, (2,)).astype(np.float32)
    inner = body("inner", [
        helper.make_node("Mul", ["a_in", "w"], ["p"]),
        helper.make_node("Add", ["p", "o"], ["a_out"]),
        helper.make_node("Identity", ["ci"], ["co"]),
    ], [("j", I64, []), ("ci", B, []), ("a_in", F, [2])], [("co", B, []), ("a_out", F, [2])])
    outer = body("outer", [
        helper.make_node("Cast", ["i"], ["fi"], to=F),
        helper.make_node("Add", ["x", "fi"], ["o"]),
        helper.make_node("Loop", ["N", "", "acc_in"], ["acc_out"], body=inner),
        helper.make_node("Identity", ["c_in"], ["c_out"]),
    ], [("i", I64, []), ("c_in", B, []), ("acc_in", F, [2])], [("c_out", B, []), ("acc_out", F, [2])])
    x = rng.uniform(-1, 1, (2,)).astype(np.float32)
    acc = np.ones(2)
    for i in range(M):
        o = x + i
        for _ in range(N):
            acc = acc * w + o
    save(name, [
        helper.make_node("Loop", ["M", "", "acc0"], ["acc"], body=outer)],
        [("x", x), ("acc0", np.ones(2, np.float32))], [("acc", acc.astype(np.float32))], 13,
        initializers=[("M", np.array(M, np.int64)), ("N", np.array(N, np.int64)), ("w", w)])


def loop_zero_trips():
    g = body("b", [
        helper.make_node("Add", ["y_in", "y_in"], ["y_out"]),
        helper.make_node("Identity", ["c_in"], ["c_out"]),
        helper.make_node("Identity", ["y_out"], ["s"]),
    ], [("i", I64, []), ("c_in", B, []), ("y_in", F, [2])], [("c_out", B, []), ("y_out", F, [2]), ("s", F, [2])])
    y0 = np.array([1.5, -2], np.float32)
    save("loop_zero_trips", [helper.make_node("Loop", ["M", "", "y0"], ["y", "scan"], body=g)],
         [("y0", y0)], [("y", y0), ("scan", np.zeros((0, 2), np.float32))], 13,
         initializers=[("M", np.array(0, np.int64))])


def if_runtime():
    # The condition comes from data; the branches read outer values, one returns an outer
    # value as is, one a constant.
    x = rng.uniform(-1, 1, (2, 3)).astype(np.float32)
    w = rng.uniform(-1, 1, (2, 3)).astype(np.float32)
    then = body("then", [helper.make_node("Mul", ["x", "w"], ["t0"]),
                         const("k", np.full((3,), 7, np.float32))],
                [], [("t0", F, [2, 3]), ("x", F, [2, 3]), ("k", F, [3])])
    other = body("else", [helper.make_node("Sub", ["x", "w"], ["e0"]),
                          helper.make_node("Neg", ["x"], ["e1"]),
                          helper.make_node("Relu", ["w2"], ["e2"])],
                 [], [("e0", F, [2, 3]), ("e1", F, [2, 3]), ("e2", F, [3])])
    for name, xs in (("if_runtime_then", x), ("if_runtime_else", -np.abs(x))):
        c = xs.sum() > 0
        w2 = rng.uniform(-1, 1, 3).astype(np.float32)
        outs = (xs * w, xs, np.full(3, 7, np.float32)) if c else (xs - w, -xs, np.maximum(w2, 0))
        save(name, [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
                    const("zero", np.array(0, np.float32)),
                    helper.make_node("Greater", ["s", "zero"], ["c"]),
                    helper.make_node("If", ["c"], ["a", "b", "d"], then_branch=then, else_branch=other)],
             [("x", xs), ("w2", w2)], [("a", outs[0]), ("b", outs[1]), ("d", outs[2])], 13,
             initializers=[("w", w)])


def if_in_loop():
    # A run-time loop whose body branches on the parity of the iteration number.
    then = body("then", [helper.make_node("Add", ["v_in", "x"], ["r"])], [], [("r", F, [3])])
    other = body("else", [helper.make_node("Mul", ["v_in", "x"], ["r2"])], [], [("r2", F, [3])])
    g = body("b", [
        const("two", np.array(2, np.int64)),
        const("zero", np.array(0, np.int64)),
        helper.make_node("Mod", ["i", "two"], ["m"]),
        helper.make_node("Equal", ["m", "zero"], ["even"]),
        helper.make_node("If", ["even"], ["v_out"], then_branch=then, else_branch=other),
        helper.make_node("Identity", ["c_in"], ["c_out"]),
    ], [("i", I64, []), ("c_in", B, []), ("v_in", F, [3])], [("c_out", B, []), ("v_out", F, [3])])
    x = np.array([0.5, -1.0, 0.75], np.float32)
    v = np.ones(3)
    for i in range(200):
        v = v + x if i % 2 == 0 else v * x
    save("if_in_loop", [helper.make_node("Loop", ["M", "", "v0"], ["v"], body=g)],
         [("v0", np.ones(3, np.float32)), ("x", x)], [("v", v.astype(np.float32))], 13,
         initializers=[("M", np.array(200, np.int64))])


def scan_axes_directions():
    # Two scan inputs along axis 1, one read backwards; scan outputs along axis 1 and 0,
    # one written backwards; a state value.
    a = rng.uniform(-1, 1, (2, 4, 3)).astype(np.float32)
    b = rng.uniform(-1, 1, (3, 4)).astype(np.float32)
    g = body("b", [
        helper.make_node("Add", ["s_in", "ea"], ["t"]),
        helper.make_node("Mul", ["t", "eb"], ["s_out"]),
        helper.make_node("Sub", ["ea", "eb"], ["o1"]),
        helper.make_node("ReduceSum", ["s_out"], ["o2"], keepdims=1, axes=[0]),
    ], [("s_in", F, [2, 3]), ("ea", F, [2, 3]), ("eb", F, [3])],
        [("s_out", F, [2, 3]), ("o1", F, [2, 3]), ("o2", F, [1, 3])])
    s = np.zeros((2, 3))
    o1 = np.zeros((2, 4, 3))
    o2 = np.zeros((4, 1, 3))
    for t in range(4):
        ea, eb = a[:, t, :], b[:, 3 - t]
        s = (s + ea) * eb
        o1[:, t, :] = ea - eb
        o2[3 - t] = s.sum(axis=0, keepdims=True)
    save("scan_axes_directions", [helper.make_node(
        "Scan", ["s0", "a", "b"], ["s", "o1", "o2"], body=g, num_scan_inputs=2,
        scan_input_axes=[1, -1], scan_input_directions=[0, 1], scan_output_axes=[1, 0],
        scan_output_directions=[0, 1])],
        [("s0", np.zeros((2, 3), np.float32)), ("a", a), ("b", b)],
        [("s", s.astype(np.float32)), ("o1", o1.astype(np.float32)), ("o2", o2.astype(np.float32))], 11)


def scan8_batch_reverse():
    # Opset 8: a batch dim on everything, per-input directions.
    x = rng.uniform(-1, 1, (2, 5, 3)).astype(np.float32)
    g = body("b", [helper.make_node("Add", ["s_in", "e"], ["s_out"]),
                   helper.make_node("Identity", ["s_out"], ["o"])],
             [("s_in", F, [3]), ("e", F, [3])], [("s_out", F, [3]), ("o", F, [3])])
    s = np.zeros((2, 3))
    o = np.zeros((2, 5, 3))
    for bi in range(2):
        for t in range(5):
            s[bi] = s[bi] + x[bi, 4 - t]
            o[bi, t] = s[bi]
    save("scan8_batch_reverse", [helper.make_node("Scan", ["", "s0", "x"], ["s", "o"], body=g, num_scan_inputs=1,
                                                  directions=[1])],
         [("s0", np.zeros((2, 3), np.float32)), ("x", x)],
         [("s", s.astype(np.float32)), ("o", o.astype(np.float32))], 8)


def scan8_sequence_lens():
    # Opset 8 with per-batch lengths: steps past a length leave zeros; a reversed input
    # starts at its own last valid step (as onnxruntime does).
    x = rng.uniform(-1, 1, (3, 4, 2)).astype(np.float32)
    lens = np.array([4, 2, 1], np.int64)
    g = body("b", [helper.make_node("Mul", ["s_in", "e"], ["m"]),
                   helper.make_node("Add", ["m", "f"], ["s_out"]),
                   helper.make_node("Identity", ["s_out"], ["o"])],
             [("s_in", F, [2]), ("e", F, [2]), ("f", F, [2])], [("s_out", F, [2]), ("o", F, [2])])
    s = np.ones((3, 2))
    o = np.zeros((3, 4, 2))
    for bi in range(3):
        n = lens[bi]
        for t in range(n):
            s[bi] = s[bi] * x[bi, t] + x[bi, n - 1 - t]
            o[bi, t] = s[bi]
    save("scan8_sequence_lens", [helper.make_node("Scan", ["lens", "s0", "x", "x"], ["s", "o"], body=g,
                                                  num_scan_inputs=2, directions=[0, 1])],
         [("lens", lens), ("s0", np.ones((3, 2), np.float32)), ("x", x)],
         [("s", s.astype(np.float32)), ("o", o.astype(np.float32))], 8)


loop_long_runtime()
loop_data_condition()
loop_while()
loop_nested("loop_nested", 40, 30)  # both unrolled, or the outer one at run time
loop_nested("loop_nested_runtime", 300, 400)  # both at run time
loop_zero_trips()
if_runtime()
if_in_loop()
scan_axes_directions()
scan8_batch_reverse()
scan8_sequence_lens()
