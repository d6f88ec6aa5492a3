#!/usr/bin/python3
"""mutate.py OUTDIR SEED_MODEL... — writes corrupted copies of the seed models: random byte
flips, truncations, inserted garbage, and structurally wrong but parseable models (dangling
inputs, wrong attribute types, absurd dims, cycles via renamed outputs). Deterministic (fixed
seed) so a failure can be reproduced."""
import os
import random
import sys

import onnx

rng = random.Random(20261128)
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
count = 0


def write(data):
    global count
    with open(os.path.join(out, "m%04d.onnx" % count), "wb") as f:
        f.write(data)
    count += 1


for path in sys.argv[2:]:
    data = open(path, "rb").read()
    for _ in range(10):  # byte-level damage
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        write(bytes(b))
    write(data[: rng.randrange(1, len(data))])
    cut = rng.randrange(len(data))
    write(data[:cut] + bytes(rng.randrange(256) for _ in range(32)) + data[cut:])
    model = onnx.load(path)  # structural damage that still parses
    nodes = model.graph.node
    if nodes:
        m = onnx.ModelProto()
        m.CopyFrom(model)
        n = m.graph.node[rng.randrange(len(m.graph.node))]
        if n.input:
            n.input[rng.randrange(len(n.input))] = "no_such_value"
        write(m.SerializeToString())
        m = onnx.ModelProto()
        m.CopyFrom(model)
        n = m.graph.node[-1]
        if n.output and m.graph.node[0].input:
            m.graph.node[0].input[0] = n.output[0]  # a cycle
        write(m.SerializeToString())
        m = onnx.ModelProto()
        m.CopyFrom(model)
        for a in m.graph.node[0].attribute:
            a.type = rng.choice([1, 2, 3, 6, 7])  # the wrong kind of attribute
        write(m.SerializeToString())
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for vi in m.graph.input:
        for d in vi.type.tensor_type.shape.dim:
            d.dim_value = rng.choice([0, 1 << 40, 7])
    write(m.SerializeToString())
