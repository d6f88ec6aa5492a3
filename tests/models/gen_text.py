#!/usr/bin/python3
"""Model tests for string tensors (folders named text_*): ONNX backend-test folders with
reference outputs computed here, written into the directory given as the first argument
(tests/models/generate.sh).

Numbers print as numpy's astype(str) prints them (the ONNX reference's Cast), text reads as
numpy's astype(float) reads it (Python's float(), then the target type); the rules numpy
does not define (text to integers and bool, case mapping, StringNormalizer, TfIdfVectorizer)
have small Python references below, written from the ONNX spec and reference semantics.
"""
import os
import sys
import re
import shutil

import numpy as np
import onnx
from onnx import helper, numpy_helper

OPSET = 13


def strings(values):
    return np.array(values, dtype=object)


def save(root, name, nodes, inputs, outputs, initializers=(), opset=OPSET, dynamic=()):
    """inputs/outputs: lists of (name, numpy array); object arrays are string tensors. Outputs
    named in DYNAMIC are declared with unknown dims (data-dependent)."""
    def info(n, a, unknown):
        shape = [None] * a.ndim if unknown else list(a.shape)
        return helper.make_tensor_value_info(n, onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[a.dtype], shape)

    graph = helper.make_graph(nodes, name, [info(n, a, False) for n, a in inputs],
                              [info(n, a, n in dynamic) for n, a in outputs],
                              [numpy_helper.from_array(a, n) for n, a in initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if opset <= onnx.defs.onnx_opset_version():
        onnx.checker.check_model(model)
    d = os.path.join(root, "text_" + name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    onnx.save(model, os.path.join(d, "model.onnx"))
    for kind, tensors in (("input", inputs), ("output", outputs)):
        for i, (n, a) in enumerate(tensors):
            with open(os.path.join(d, "test_data_set_0", "%s_%d.pb" % (kind, i)), "wb") as f:
                f.write(numpy_helper.from_array(a, n).SerializeToString())


#
# Cast
#
def float_values(rng, dtype, n):
    """Values across the type's range: random significands at every magnitude, and the edges."""
    info = np.finfo(dtype)
    lo, hi = int(np.log10(info.tiny)) - 1, int(np.log10(info.max))
    x = rng.standard_normal(n) * 10.0 ** rng.integers(lo, hi, n)
    edges = [0.0, -0.0, 1e-4, -1e-4, 1e16, 9.999e15, 0.1, 0.5, 1.0, 100.0, 123456789.0, float(info.max),
             float(-info.max), float(info.tiny), float(info.tiny) * 2.0 ** -(info.nmant - 1),
             np.inf, -np.inf, np.nan]
    with np.errstate(over="ignore"):
        return np.concatenate([x, edges]).astype(dtype)


def cast_numbers_to_text(root, rng):
    """Every numeric type the suite uses, printed: floats as numpy prints them (shortest digits
    of the source type, positional between 1e-4 and 1e16), integers in decimal, bools as
    True/False."""
    cases = [("float", float_values(rng, np.float32, 400)), ("double", float_values(rng, np.float64, 400)),
             ("float16", np.arange(0, 65536, dtype=np.uint16).view(np.float16)),
             ("bool", np.array([True, False, True]))]
    for t in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64):
        i = np.iinfo(t)
        cases.append((np.dtype(t).name, np.concatenate([np.array([i.min, i.max, 0, 1], dtype=t),
                                                         rng.integers(i.min, i.max, 40, dtype=t, endpoint=True)])))
    for name, x in cases:
        save(root, "cast_%s_to_string" % name, [helper.make_node("Cast", ["x"], ["y"], to=onnx.TensorProto.STRING)],
             [("x", x)], [("y", x.astype(str).astype(object))])


def text_to_int(s, dtype):
    """The documented rule: an integer literal wraps to the type, any other number truncates
    toward zero and saturates (NaN is 0)."""
    info = np.iinfo(dtype)
    t = s.strip()
    if re.fullmatch(r"[+-]?[0-9]+", t):
        v = int(t) % (1 << info.bits)
        return v - (1 << info.bits) if v > info.max else v
    f = float(t)
    if f != f:
        return 0
    return int(min(max(np.trunc(f), info.min), info.max))


def text_to_bool(s):
    t = s.strip().lower()
    if t in ("true", "false"):
        return t == "true"
    return float(t) != 0


def cast_text_to_numbers(root, rng):
    """Text read as numbers: floats correctly rounded (through double, as numpy does), the
    special values in any case, integers by the documented rule."""
    digits = ["%.*g" % (int(p), v) for p, v in zip(rng.integers(1, 20, 300),
                                                 rng.standard_normal(300) * 10.0 ** rng.integers(-40, 40, 300))]
    special = ["NaN", "nan", "INF", "+INF", "-INF", "-Infinity", "inf", " 2.5 ", "1e400", "-1e400", "1e-400",
               "-0", ".5", "5.", "4.9406564584124654e-324", "0.47892547", "3.4028235e38", "65504", "65520",
               "1.00048828125", "0.1e1", "1E3", "123456789012345678901234567890"]
    text = strings(digits + special)
    for t in (np.float32, np.float64, np.float16):
        with np.errstate(over="ignore"):
            y = text.astype(t)
        save(root, "cast_string_to_" + np.dtype(t).name,
             [helper.make_node("Cast", ["x"], ["y"], to=onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[np.dtype(t)])],
             [("x", text)], [("y", y)])
    ints = strings(["0", "-1", "127", "-128", "300", "-300", "42", "+7", " 12 ", "2.9", "-2.9", "1e3", "1e30",
                    "-1e30", "nan", "18446744073709551615", "9223372036854775807", "-9223372036854775808"])
    for t in (np.int8, np.uint8, np.int32, np.int64, np.uint64):
        y = np.array([text_to_int(s, t) for s in ints], dtype=t)
        save(root, "cast_string_to_" + np.dtype(t).name,
             [helper.make_node("Cast", ["x"], ["y"], to=onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[np.dtype(t)])],
             [("x", ints)], [("y", y)])
    bools = strings(["True", "false", "TRUE", "0", "1", "-0.0", "2.5", "nan"])
    save(root, "cast_string_to_bool", [helper.make_node("Cast", ["x"], ["y"], to=onnx.TensorProto.BOOL)],
         [("x", bools)], [("y", np.array([text_to_bool(s) for s in bools]))])


def castlike_and_folding(root):
    """CastLike to a string 'like' input; a Cast of a constant (folded at compile time: the
    text becomes .rodata) concatenated with run-time text; text -> number -> text."""
    x = np.array([[1.5, -2.25], [1e-5, 3e20]], dtype=np.float32)
    like = strings(["a"])
    w = np.array([[0.1, 7.0]], dtype=np.float32)
    nodes = [helper.make_node("CastLike", ["x", "like"], ["y"]),
             helper.make_node("Cast", ["w"], ["wt"], to=onnx.TensorProto.STRING),
             helper.make_node("Concat", ["y", "wt"], ["both"], axis=0),
             helper.make_node("Cast", ["both"], ["back"], to=onnx.TensorProto.DOUBLE),
             helper.make_node("Cast", ["back"], ["again"], to=onnx.TensorProto.STRING)]
    both = np.concatenate([x.astype(str), w.astype(str)]).astype(object)
    back = both.astype(np.float64)
    save(root, "castlike_folded", nodes, [("x", x), ("like", like)],
         [("y", x.astype(str).astype(object)), ("both", both), ("back", back),
          ("again", back.astype(str).astype(object))], [("w", w)], opset=15)


#
# Data movement and Equal
#
def movement(root):
    """Strings copied by pointer through Gather, Concat with a constant, Transpose, Reshape,
    Slice, Split, Expand, Where; an input straight to an output."""
    words = strings([["alpha", "béta", ""], ["γάμμα", "delta", "epsilon"]])
    idx = np.array([2, 0], dtype=np.int64)
    const = strings([["x"], ["yy"]])
    cond = np.array([[True], [False]])
    other = strings(["o1", "o2", "o3"])
    g = np.take(words, idx, axis=1)
    cat = np.concatenate([g, const], axis=1)
    t = cat.T
    flat = t.reshape(-1)
    sl = flat[1:5]
    s0, s1 = words[:, :1], words[:, 1:]
    ex = np.broadcast_to(strings(["e"]), (2, 2)).astype(object)
    wh = np.where(cond, words, other)
    nodes = [helper.make_node("Gather", ["words", "idx"], ["g"], axis=1),
             helper.make_node("Concat", ["g", "const"], ["cat"], axis=1),
             helper.make_node("Transpose", ["cat"], ["t"]),
             helper.make_node("Reshape", ["t", "flat_shape"], ["flat"]),
             helper.make_node("Slice", ["flat", "starts", "ends"], ["sl"]),
             helper.make_node("Split", ["words", "split"], ["s0", "s1"], axis=1),
             helper.make_node("Expand", ["e", "ex_shape"], ["ex"]),
             helper.make_node("Where", ["cond", "words", "other"], ["wh"]),
             helper.make_node("Identity", ["words"], ["same"])]
    save(root, "movement", nodes, [("words", words), ("idx", idx), ("cond", cond), ("other", other)],
         [("g", g), ("cat", cat), ("t", t), ("flat", flat), ("sl", sl), ("s0", s0), ("s1", s1), ("ex", ex),
          ("wh", wh), ("same", words)],
         [("const", const), ("flat_shape", np.array([-1], dtype=np.int64)), ("starts", np.array([1], dtype=np.int64)),
          ("ends", np.array([5], dtype=np.int64)), ("split", np.array([1, 2], dtype=np.int64)),
          ("e", strings(["e"])), ("ex_shape", np.array([2, 2], dtype=np.int64))])


def equal(root):
    """Equal on text (opset 19) with broadcasting: whole strings, byte for byte."""
    a = strings([["ab"], [""], ["abc"], ["Ünïcode"]])
    b = strings(["ab", "abc", "", "Ünïcode", "ünïcode"])
    save(root, "equal", [helper.make_node("Equal", ["a", "b"], ["y"])], [("a", a), ("b", b)],
         [("y", a == b)], opset=19)


#
# StringNormalizer and TfIdfVectorizer
#
def simple_case(s, upper):
    """One character at a time, characters whose case partner is a single character."""
    out = []
    for c in s:
        m = c.upper() if upper else c.lower()
        out.append(m if len(m) == 1 else c)
    return "".join(out)


def normalize(x, stopwords, action="NONE", sensitive=False):
    fold_upper = action == "UPPER"
    if sensitive:
        keep = [w for w in x if w not in stopwords]
    else:
        stops = {simple_case(w, fold_upper) for w in stopwords}
        keep = [w for w in x if simple_case(w, fold_upper) not in stops]
    if action != "NONE":
        keep = [simple_case(w, action == "UPPER") for w in keep]
    return keep or [""]


def normalizer(root):
    """Stopwords matched ignoring case in Latin-1 and Greek text, then upper- or lowercased;
    2-D input; every element dropped; no stopwords at all (a static shape)."""
    x = strings(["Straße", "ÉCOLE", "the", "école", "The", "Über", "ΣΊΣΥΦΟΣ", "ÿes", ""])
    cases = [("upper", x, dict(case_change_action="UPPER", stopwords=["THE", "über"]), "UPPER", False),
             ("lower_sensitive", x, dict(case_change_action="LOWER", is_case_sensitive=1, stopwords=["The", "école"]),
              "LOWER", True),
             ("all_dropped", strings(["a", "A"]), dict(stopwords=["a"]), "NONE", False),
             ("no_stopwords", x, dict(case_change_action="LOWER", locale="en_US.UTF-8"), "LOWER", False)]
    for name, inp, attrs, action, sensitive in cases:
        y = normalize(list(inp), attrs.get("stopwords", []), action, sensitive)
        save(root, "normalizer_" + name, [helper.make_node("StringNormalizer", ["x"], ["y"], **attrs)],
             [("x", inp)], [("y", strings(y))], opset=10, dynamic=("y",))
    two = strings([["Monday", "tuesday", "MONDAY", "Wed"]])
    y = normalize(list(two[0]), ["monday"], "LOWER")
    save(root, "normalizer_2d", [helper.make_node("StringNormalizer", ["x"], ["y"], case_change_action="LOWER",
                                                  stopwords=["monday"])],
         [("x", two)], [("y", strings([y]))], opset=10, dynamic=("y",))


def tfidf(rows, pool, counts, indexes, min_n, max_n, skips, mode, weights=None):
    """The ONNX reference's counting: for every skip distance 1..skips+1 and start, the
    n-grams of lengths min_n..max_n (unigrams at the first distance only) found in the pool."""
    grams = {}
    ordinal = 0
    for i, start in enumerate(counts):
        size = i + 1
        end = counts[i + 1] if i + 1 < len(counts) else len(pool)
        for g in range((end - start) // size):
            if min_n <= size <= max_n:
                grams[tuple(pool[start + g * size:start + (g + 1) * size])] = indexes[ordinal]
            ordinal += 1
    columns = max(indexes) + 1
    out = np.zeros((len(rows), columns), dtype=np.float32)
    for r, row in enumerate(rows):
        for dist in range(1, skips + 2):
            lo = max(min_n, 2) if dist > 1 else min_n
            for i in range(len(row)):
                for n in range(lo, max_n + 1):
                    pos = [i + k * dist for k in range(n)]
                    if pos[-1] < len(row) and tuple(row[p] for p in pos) in grams:
                        out[r, grams[tuple(row[p] for p in pos)]] += 1
    w = np.ones(columns, dtype=np.float32) if weights is None else np.array(weights[:columns], dtype=np.float32)
    if mode == "IDF":
        out = np.where(out > 0, w, 0).astype(np.float32)
    elif mode == "TFIDF":
        out = (out * w).astype(np.float32)
    return out


def vectorizer(root):
    """Pools of strings and of integers, every mode, weights or none, 1-D and 2-D inputs,
    uni- to trigrams with skips, a repeated n-gram (the later index wins)."""
    text = strings([["the", "cat", "sat", "on", "the", "mat", "the"], ["a", "cat", "the", "cat", "sat", "mat", "on"]])
    pool = ["cat", "mat", "the", "zebra", "cat", "sat", "the", "cat", "the", "mat", "the", "cat", "sat"]
    counts, indexes = [0, 4, 10], [3, 0, 5, 1, 2, 4, 6, 7, 8]
    weights = [0.5, 1.5, 2.0, 0.25, 3.0, 1.0, 0.75, 2.5, 4.0]
    ints = np.array([[5, 6, 7, 5, 6, 9, 6, 7], [7, 7, 5, 6, 7, 8, 9, 5]], dtype=np.int64)
    ipool = [5, 6, 7, 8, 5, 6, 6, 7, 7, 8, 5, 6]
    icounts, iindexes = [0, 4], [0, 1, 2, 3, 4, 5, 6, 4]
    cases = [("strings_tfidf_2d", text, dict(pool_strings=pool), counts, indexes, 1, 3, 2, "TFIDF", weights),
             ("strings_tf_1d", text[1], dict(pool_strings=pool), counts, indexes, 2, 3, 1, "TF", None),
             ("ints_idf_weights", ints, dict(pool_int64s=ipool), icounts, iindexes, 1, 2, 3, "IDF", [float(v) for v in range(1, 9)]),
             ("ints_idf", ints.astype(np.int32), dict(pool_int64s=ipool), icounts, iindexes, 1, 2, 0, "IDF", None),
             ("ints_tfidf_noweights", ints[0], dict(pool_int64s=ipool), icounts, iindexes, 1, 1, 3, "TFIDF", None)]
    for name, x, pool_attr, c, ix, lo, hi, skips, mode, w in cases:
        rows = x if x.ndim == 2 else x[None]
        pool_items = pool_attr.get("pool_strings", pool_attr.get("pool_int64s"))
        y = tfidf([list(r) for r in rows], pool_items, c, ix, lo, hi, skips, mode, w)
        attrs = dict(min_gram_length=lo, max_gram_length=hi, max_skip_count=skips, mode=mode, ngram_counts=c,
                     ngram_indexes=ix, **pool_attr)
        if w is not None:
            attrs["weights"] = w
        save(root, "tfidf_" + name, [helper.make_node("TfIdfVectorizer", ["x"], ["y"], **attrs)],
             [("x", x)], [("y", y if x.ndim == 2 else y[0])], opset=9)


def pipeline(root):
    """A text pipeline: StringNormalizer (data-dependent length) -> TfIdfVectorizer over the
    words it keeps, and -> Equal against a constant word; the counts are graph outputs."""
    words = strings(["The", "Cat", "sat", "on", "THE", "mat", "a", "cat"])
    pool = ["cat", "mat", "sat", "cat", "sat"]
    kept = normalize(list(words), ["the", "a", "on"], "LOWER")
    counts = tfidf([kept], pool, [0, 3], [0, 1, 2, 3], 1, 2, 1, "TF")[0]
    nodes = [helper.make_node("StringNormalizer", ["words"], ["kept"], case_change_action="LOWER",
                              stopwords=["the", "a", "on"]),
             helper.make_node("TfIdfVectorizer", ["kept"], ["counts"], min_gram_length=1, max_gram_length=2,
                              max_skip_count=1, mode="TF", ngram_counts=[0, 3], ngram_indexes=[0, 1, 2, 3],
                              pool_strings=pool),
             helper.make_node("Equal", ["kept", "cat"], ["is_cat"])]
    save(root, "pipeline", nodes, [("words", words)],
         [("kept", strings(kept)), ("counts", counts), ("is_cat", strings(kept) == "cat")],
         [("cat", strings(["cat"]))], opset=19, dynamic=("kept", "counts", "is_cat"))


def main():
    root = sys.argv[1]
    rng = np.random.default_rng(8)
    cast_numbers_to_text(root, rng)
    cast_text_to_numbers(root, rng)
    for gen in (castlike_and_folding, movement, equal, normalizer, vectorizer, pipeline):
        gen(root)


if __name__ == "__main__":
    main()
