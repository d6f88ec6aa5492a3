#!/usr/bin/python3
"""text_model.py OUT.onnx — the model tests/cross/text.sh runs on every target: a text pipeline
(StringNormalizer -> TfIdfVectorizer, Equal) and numbers printed and read back (Cast float ->
string -> double, string -> float)."""
import sys

import onnx
from onnx import TensorProto, helper

S = TensorProto.STRING
nodes = [
    helper.make_node("StringNormalizer", ["words"], ["kept"], case_change_action="UPPER",
                     stopwords=["the", "a"]),
    helper.make_node("TfIdfVectorizer", ["kept"], ["counts"], min_gram_length=1, max_gram_length=2,
                     max_skip_count=1, mode="TF", ngram_counts=[0, 3], ngram_indexes=[0, 1, 2, 3],
                     pool_strings=["CAT", "MAT", "ÉTÉ", "CAT", "MAT"]),
    helper.make_node("Equal", ["kept", "cat"], ["is_cat"]),
    helper.make_node("Cast", ["x"], ["x_text"], to=S),
    helper.make_node("Cast", ["x_text"], ["x_back"], to=TensorProto.DOUBLE),
    helper.make_node("Cast", ["numbers"], ["parsed"], to=TensorProto.FLOAT),
]
graph = helper.make_graph(
    nodes, "text",
    [helper.make_tensor_value_info("words", S, [6]), helper.make_tensor_value_info("x", TensorProto.FLOAT, [6]),
     helper.make_tensor_value_info("numbers", S, [4])],
    [helper.make_tensor_value_info(n, t, [None]) for n, t in
     (("kept", S), ("counts", TensorProto.FLOAT), ("is_cat", TensorProto.BOOL))] +
    [helper.make_tensor_value_info("x_text", S, [6]), helper.make_tensor_value_info("x_back", TensorProto.DOUBLE, [6]),
     helper.make_tensor_value_info("parsed", TensorProto.FLOAT, [4])],
    [helper.make_tensor("cat", S, [1], [b"CAT"])])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]), sys.argv[1])
