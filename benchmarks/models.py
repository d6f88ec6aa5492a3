#!/usr/bin/python3
# models.py OUTDIR — writes the benchmark set: ONNX models with random weights (fixed seeds, so
# every run measures the same models) and, beside each, NAME.json with its inputs (name, type,
# shape) for the ONNX Runtime runner. Needs /usr/bin/python3 (onnx + numpy).
#
#   mlp           3 fully connected layers, batch 64
#   cnn           small CIFAR-style CNN, 3x32x32
#   mobilenetv2   MobileNetV2 (width 1.0), 224x224, BatchNorm + ReLU6 as separate nodes
#   resnet18      ResNet-18, 224x224, BatchNorm as separate nodes
#   dscnn         DS-CNN keyword spotter (medium), 49x10 MFCC input
#   transformer   encoder, 4 layers, d=256, 4 heads, seq 128, LayerNorm, GELU (Erf), Softmax
#   lstm          speech model: 2 LSTM layers of 256 over 100 frames of 40 features
#   yolohead      YOLO-style detector head on two feature maps (conv + BN + SiLU, 1x1 to 255)
#   *_int8        QDQ (QuantizeLinear/DequantizeLinear) versions of the CNNs
# and two single layers for the GEMM throughput figure (not in the geometric mean):
#   gemm          MatMul 512x512 by a constant 512x512 (a projection over 512 tokens)
#   conv3x3       ResNet stage-2 convolution: 128 -> 128 channels, 28x28, bias, ReLU
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class Builder:
    """Accumulates nodes and initializers; names are generated."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, array, base="w"):
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def op(self, op_type, inputs, nout=1, **attrs):
        outs = [self.name(op_type.lower()) for _ in range(nout)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.name(op_type), **attrs))
        return outs[0] if nout == 1 else outs

    def weight(self, *shape, fan_in):
        return (self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    def conv(self, x, cin, cout, k, stride=1, group=1, bias=True, pad=None):
        kh, kw = (k, k) if isinstance(k, int) else k
        ph, pw = (kh // 2, kw // 2) if pad is None else pad
        w = self.const(self.weight(cout, cin // group, kh, kw, fan_in=cin // group * kh * kw))
        ins = [x, w] + ([self.const(self.rng.uniform(-0.1, 0.1, cout).astype(np.float32), "b")] if bias else [])
        return self.op("Conv", ins, kernel_shape=[kh, kw], strides=[stride, stride], pads=[ph, pw, ph, pw],
                       group=group)

    def bn(self, x, c):
        r = self.rng
        ps = [r.uniform(0.5, 1.5, c), r.uniform(-0.1, 0.1, c), r.uniform(-0.1, 0.1, c), r.uniform(0.5, 1.5, c)]
        return self.op("BatchNormalization", [x] + [self.const(p.astype(np.float32), "bn") for p in ps], epsilon=1e-5)

    def relu6(self, x):
        return self.op("Clip", [x, self.const(np.float32(0), "lo"), self.const(np.float32(6), "hi")])

    def silu(self, x):
        return self.op("Mul", [x, self.op("Sigmoid", [x])])

    def linear(self, x, din, dout):
        y = self.op("MatMul", [x, self.const(self.weight(din, dout, fan_in=din))])
        return self.op("Add", [y, self.const(self.rng.uniform(-0.1, 0.1, dout).astype(np.float32), "b")])

    def model(self, name, inputs, outputs):
        graph = helper.make_graph(self.nodes, name,
                                  [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                                  [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
                                  self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        m.ir_version = 8
        return m


def mlp():
    b = Builder(1)
    x = "input"
    for din, dout in ((784, 1024), (1024, 1024)):
        x = b.op("Relu", [b.op("Gemm", [x, b.const(b.weight(dout, din, fan_in=din)),
                                        b.const(np.zeros(dout, np.float32), "b")], transB=1)])
    y = b.op("Gemm", [x, b.const(b.weight(10, 1024, fan_in=1024)), b.const(np.zeros(10, np.float32), "b")], transB=1)
    return b.model("mlp", [("input", TensorProto.FLOAT, [64, 784])], [y])


def cnn():
    b = Builder(2)
    x, c = "input", 3
    for cout in (32, 64, 128):
        x = b.op("Relu", [b.conv(x, c, cout, 3)])
        x = b.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
        c = cout
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])])
    y = b.op("Gemm", [x, b.const(b.weight(10, c, fan_in=c)), b.const(np.zeros(10, np.float32), "b")], transB=1)
    return b.model("cnn", [("input", TensorProto.FLOAT, [1, 3, 32, 32])], [y])


def mobilenetv2():
    b = Builder(3)
    x = b.relu6(b.bn(b.conv("input", 3, 32, 3, stride=2, bias=False), 32))
    c = 32
    # (expansion, channels, repeats, stride) of the paper's table 2
    for t, cout, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                          (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            stride, hidden = (s if i == 0 else 1), c * t
            y = x
            if t != 1:
                y = b.relu6(b.bn(b.conv(y, c, hidden, 1, bias=False), hidden))
            y = b.relu6(b.bn(b.conv(y, hidden, hidden, 3, stride=stride, group=hidden, bias=False), hidden))
            y = b.bn(b.conv(y, hidden, cout, 1, bias=False), cout)
            x = b.op("Add", [x, y]) if stride == 1 and c == cout else y
            c = cout
    x = b.relu6(b.bn(b.conv(x, c, 1280, 1, bias=False), 1280))
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])])
    y = b.op("Gemm", [x, b.const(b.weight(1000, 1280, fan_in=1280)), b.const(np.zeros(1000, np.float32), "b")],
             transB=1)
    return b.model("mobilenetv2", [("input", TensorProto.FLOAT, [1, 3, 224, 224])], [y])


def resnet18():
    b = Builder(4)
    x = b.op("Relu", [b.bn(b.conv("input", 3, 64, 7, stride=2, bias=False), 64)])
    x = b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    c = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for i in range(2):
            s = stride if i == 0 else 1
            y = b.op("Relu", [b.bn(b.conv(x, c, cout, 3, stride=s, bias=False), cout)])
            y = b.bn(b.conv(y, cout, cout, 3, bias=False), cout)
            short = x if s == 1 and c == cout else b.bn(b.conv(x, c, cout, 1, stride=s, bias=False), cout)
            x = b.op("Relu", [b.op("Add", [y, short])])
            c = cout
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])])
    y = b.op("Gemm", [x, b.const(b.weight(1000, 512, fan_in=512)), b.const(np.zeros(1000, np.float32), "b")],
             transB=1)
    return b.model("resnet18", [("input", TensorProto.FLOAT, [1, 3, 224, 224])], [y])


def dscnn():
    # DS-CNN-M of "Hello Edge" (Zhang et al. 2017): 172 channels, 4 depthwise-separable blocks.
    b = Builder(5)
    ch = 172
    x = b.op("Relu", [b.bn(b.conv("input", 1, ch, (10, 4), stride=2, pad=(4, 1)), ch)])
    for _ in range(4):
        x = b.op("Relu", [b.bn(b.conv(x, ch, ch, 3, group=ch), ch)])
        x = b.op("Relu", [b.bn(b.conv(x, ch, ch, 1), ch)])
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])])
    y = b.op("Gemm", [x, b.const(b.weight(12, ch, fan_in=ch)), b.const(np.zeros(12, np.float32), "b")], transB=1)
    return b.model("dscnn", [("input", TensorProto.FLOAT, [1, 1, 49, 10])], [y])


def transformer():
    b = Builder(6)
    seq, d, heads, ff = 128, 256, 4, 1024
    hd = d // heads
    x = "input"

    def layer_norm(v):
        return b.op("LayerNormalization", [v, b.const(b.rng.uniform(0.8, 1.2, d).astype(np.float32), "g"),
                                           b.const(b.rng.uniform(-0.1, 0.1, d).astype(np.float32), "beta")],
                    axis=-1, epsilon=1e-5)

    def split_heads(v):  # [1, seq, d] -> [1, heads, seq, hd]
        r = b.op("Reshape", [v, b.const(np.array([1, seq, heads, hd], np.int64), "shape")])
        return b.op("Transpose", [r], perm=[0, 2, 1, 3])

    for _ in range(4):
        q, k, v = (split_heads(b.linear(x, d, d)) for _ in range(3))
        scores = b.op("MatMul", [q, b.op("Transpose", [k], perm=[0, 1, 3, 2])])
        scores = b.op("Div", [scores, b.const(np.float32(np.sqrt(hd)), "scale")])
        ctx = b.op("MatMul", [b.op("Softmax", [scores], axis=-1), v])
        ctx = b.op("Reshape", [b.op("Transpose", [ctx], perm=[0, 2, 1, 3]),
                               b.const(np.array([1, seq, d], np.int64), "shape")])
        x = layer_norm(b.op("Add", [x, b.linear(ctx, d, d)]))
        h = b.linear(x, d, ff)
        erf = b.op("Erf", [b.op("Div", [h, b.const(np.float32(np.sqrt(2.0)), "sqrt2")])])
        h = b.op("Mul", [b.op("Mul", [h, b.op("Add", [erf, b.const(np.float32(1), "one")])]),
                         b.const(np.float32(0.5), "half")])
        x = layer_norm(b.op("Add", [x, b.linear(h, ff, d)]))
    return b.model("transformer", [("input", TensorProto.FLOAT, [1, seq, d])], [x])


def lstm():
    b = Builder(7)
    frames, feat, hidden = 100, 40, 256
    x, din = "input", feat
    for _ in range(2):
        w = b.const(b.weight(1, 4 * hidden, din, fan_in=din))
        r = b.const(b.weight(1, 4 * hidden, hidden, fan_in=hidden))
        bias = b.const(np.zeros((1, 8 * hidden), np.float32), "b")
        y = b.op("LSTM", [x, w, r, bias], nout=3, hidden_size=hidden)[0]  # [frames, 1, 1, hidden]
        x, din = b.op("Squeeze", [y, b.const(np.array([1], np.int64), "axes")]), hidden
    y = b.linear(x, hidden, 29)  # characters
    return b.model("lstm", [("input", TensorProto.FLOAT, [frames, 1, feat])], [y])


def yolohead():
    b = Builder(8)
    outs = []
    for name, c, hw in (("p4", 128, 40), ("p5", 256, 20)):
        x = b.silu(b.bn(b.conv(name, c, c, 3, bias=False), c))
        x = b.silu(b.bn(b.conv(x, c, c, 3, bias=False), c))
        outs.append(b.op("Sigmoid", [b.conv(x, c, 255, 1)]))
    return b.model("yolohead", [("p4", TensorProto.FLOAT, [1, 128, 40, 40]), ("p5", TensorProto.FLOAT, [1, 256, 20, 20])],
                   outs)


def gemm():
    b = Builder(9)
    y = b.op("MatMul", ["input", b.const(b.weight(512, 512, fan_in=512))])
    return b.model("gemm", [("input", TensorProto.FLOAT, [512, 512])], [y])


def conv3x3():
    b = Builder(10)
    y = b.op("Relu", [b.conv("input", 128, 128, 3)])
    return b.model("conv3x3", [("input", TensorProto.FLOAT, [1, 128, 28, 28])], [y])


def quantize_qdq(model, seed):
    """The QDQ form of a float CNN, as quantization tools write it: every Conv and Gemm reads
    its activation and weight through QuantizeLinear -> DequantizeLinear (int8, per-tensor
    scales from the weights' range and a fixed activation range)."""
    rng = np.random.default_rng(seed)
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    nodes, extra = [], []
    for n in g.node:
        if n.op_type in ("Conv", "Gemm"):
            ins = list(n.input)
            for i in (0, 1):
                src = ins[i]
                if src in inits:
                    scale = float(np.abs(numpy_helper.to_array(inits[src])).max()) / 127 or 1.0
                else:
                    scale = float(rng.uniform(0.02, 0.05))
                s = f"{src}_scale"
                z = f"{src}_zero"
                if s not in {t.name for t in extra}:
                    extra += [numpy_helper.from_array(np.float32(scale), s), numpy_helper.from_array(np.int8(0), z)]
                q = helper.make_node("QuantizeLinear", [src, s, z], [f"{src}_q_{n.name}"])
                dq = helper.make_node("DequantizeLinear", [q.output[0], s, z], [f"{src}_dq_{n.name}"])
                nodes += [q, dq]
                ins[i] = dq.output[0]
            del n.input[:]
            n.input.extend(ins)
        nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(extra)
    g.name += "_int8"
    return model


def save(outdir, name, model):
    inferred = onnx.shape_inference.infer_shapes(model)  # declare the outputs' shapes
    for o, io in zip(model.graph.output, inferred.graph.output):
        o.CopyFrom(io)
    onnx.checker.check_model(model)
    with open(os.path.join(outdir, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())
    inputs = []
    for i in model.graph.input:
        t = i.type.tensor_type
        inputs.append({"name": i.name, "type": onnx.TensorProto.DataType.Name(t.elem_type).lower(),
                       "shape": [d.dim_value for d in t.shape.dim]})
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        json.dump({"inputs": inputs}, f)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    builders = {"mlp": mlp, "cnn": cnn, "mobilenetv2": mobilenetv2, "resnet18": resnet18, "dscnn": dscnn,
                "transformer": transformer, "lstm": lstm, "yolohead": yolohead, "gemm": gemm, "conv3x3": conv3x3}
    for name, build in builders.items():
        save(outdir, name, build())
    for i, name in enumerate(("cnn", "mobilenetv2", "resnet18", "dscnn")):
        save(outdir, name + "_int8", quantize_qdq(builders[name](), 100 + i))


if __name__ == "__main__":
    main()
