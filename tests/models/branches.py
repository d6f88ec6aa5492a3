# branches.py — If nodes whose condition depends on an input value, as a voice-activity model
# selects its 16 kHz or 8 kHz path from a sample-rate input: each branch is valid only for one
# input length, so with a given length the other branch cannot be compiled (it becomes an
# error path, EDGECC_ERROR_BRANCH) and the one the data takes must run normally. The LSTMs
# of the branches are checked against rnn.py's numpy reference.
import numpy as np
from onnx import TensorProto, helper, numpy_helper

from casegen import save
from rnn import activations, reference

rng = np.random.default_rng(23)
F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
HIDDEN, FEATURES = 8, 32
RATES = {16000: 512, 8000: 256}  # sample rate -> samples per call


def const(name, value):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))


def lstm_weights(tag):
    W = rng.uniform(-0.3, 0.3, (1, 4 * HIDDEN, FEATURES)).astype(np.float32)
    R = rng.uniform(-0.3, 0.3, (1, 4 * HIDDEN, HIDDEN)).astype(np.float32)
    Bias = rng.uniform(-0.2, 0.2, (1, 8 * HIDDEN)).astype(np.float32)
    return {"W" + tag: W, "R" + tag: R, "B" + tag: Bias}


def branch(tag, samples, weights):
    """Reshape the samples into frames of FEATURES, run the LSTM over them, keep the last state:
    valid only for SAMPLES samples per call."""
    steps = samples // FEATURES
    nodes = [const("shape" + tag, np.array([1, steps, FEATURES], np.int64)),
             helper.make_node("Reshape", ["x", "shape" + tag], ["frames" + tag], name="reshape" + tag),
             helper.make_node("Transpose", ["frames" + tag], ["seq" + tag], perm=[1, 0, 2]),
             helper.make_node("LSTM", ["seq" + tag, "W" + tag, "R" + tag, "B" + tag], ["", "h" + tag],
                              hidden_size=HIDDEN, name="lstm" + tag),
             const("flat" + tag, np.array([1, HIDDEN], np.int64)),
             helper.make_node("Reshape", ["h" + tag, "flat" + tag], ["y" + tag])]
    return helper.make_graph(nodes, "rate" + tag, [], [helper.make_tensor_value_info("y" + tag, F, [1, HIDDEN])])


def expected(x, samples, weights, tag):
    frames = x.reshape(samples // FEATURES, 1, FEATURES).astype(np.float64)
    f = lambda k: weights[k + tag].astype(np.float64)
    _, h, _ = reference("LSTM", frames, f("W"), f("R"), f("B"), None, None, None, None, "forward", 0,
                        activations(["Sigmoid", "Tanh", "Tanh"], [], []), None, 0, 0)
    return h.reshape(1, HIDDEN).astype(np.float32)


def rate_select(nested):
    """If(sr == 16000): the 16 kHz branch or the 8 kHz one. NESTED puts that If inside the
    then-branch of another run-time If (sr > 0), so the error path crosses a subgraph."""
    weights = {**lstm_weights("16"), **lstm_weights("8")}
    select = helper.make_node("If", ["is16k"], ["y"], name="rate_branch",
                              then_branch=branch("16", RATES[16000], weights),
                              else_branch=branch("8", RATES[8000], weights))
    nodes = [const("k16000", np.array(16000, np.int64)), helper.make_node("Equal", ["sr", "k16000"], ["is16k"])]
    if nested:
        inner = helper.make_graph([select], "positive", [], [helper.make_tensor_value_info("y", F, [1, HIDDEN])])
        silent = helper.make_graph([const("zeros", np.zeros((1, HIDDEN), np.float32))], "silent", [],
                                   [helper.make_tensor_value_info("zeros", F, [1, HIDDEN])])
        nodes += [const("k0", np.array(0, np.int64)), helper.make_node("Greater", ["sr", "k0"], ["valid"]),
                  helper.make_node("If", ["valid"], ["out"], name="valid_rate", then_branch=inner, else_branch=silent)]
    else:
        nodes += [select, helper.make_node("Identity", ["y"], ["out"])]
    for rate, samples in RATES.items():
        x = rng.uniform(-1, 1, (1, samples)).astype(np.float32)
        tag = "16" if rate == 16000 else "8"
        name = "if_value_%s%dk" % ("nested_" if nested else "", rate // 1000)
        save(name, nodes, [("x", x), ("sr", np.array(rate, np.int64))], [("out", expected(x, samples, weights, tag))],
             14, initializers=list(weights.items()))


rate_select(nested=False)
rate_select(nested=True)
