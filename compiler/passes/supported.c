// supported.c — before any work, every node's op, opset and attributes are checked against the
// op table, and everything unsupported is reported in one run.
#include "../compiler.h"

#include <string.h>

static bool attr_known(const OpDesc *op, const char *name) {
  size_t len = strlen(name);
  for (const char *p = op->attrs; *p;) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == len && !strncmp(p, name, n))
      return true;
    if (!end)
      break;
    p = end + 1;
  }
  return false;
}

// Attributes ONNX retired in favour of inputs (or dropped): a node of a newer opset that still
// carries one comes from a broken exporter, and ignoring it would compute something else.
static const struct {
  const char *op, *attr;
  int gone_in; // the first opset without the attribute
} retired[] = {
    {"ReduceSum", "axes", 13},       {"ReduceMean", "axes", 18},      {"ReduceMax", "axes", 18},
    {"ReduceMin", "axes", 18},       {"ReduceProd", "axes", 18},      {"ReduceL1", "axes", 18},
    {"ReduceL2", "axes", 18},        {"ReduceLogSum", "axes", 18},    {"ReduceLogSumExp", "axes", 18},
    {"ReduceSumSquare", "axes", 18}, {"Squeeze", "axes", 13},         {"Unsqueeze", "axes", 13},
    {"Split", "split", 13},          {"Slice", "starts", 10},         {"Slice", "ends", 10},
    {"Slice", "axes", 10},           {"Pad", "pads", 11},             {"Pad", "value", 11},
    {"Pad", "paddings", 2},          {"Clip", "min", 11},             {"Clip", "max", 11},
    {"Upsample", "scales", 9},       {"Dropout", "ratio", 12},        {"Dropout", "is_test", 7},
    {"BatchNormalization", "spatial", 9}, {"BatchNormalization", "is_test", 7}, {"Gemm", "broadcast", 7},
    {"TopK", "k", 10},               {"Reshape", "shape", 5},
    // numpy broadcasting replaced these in opset 7
    {"Add", "broadcast", 7}, {"Add", "axis", 7}, {"Sub", "broadcast", 7}, {"Sub", "axis", 7},
    {"Mul", "broadcast", 7}, {"Mul", "axis", 7}, {"Div", "broadcast", 7}, {"Div", "axis", 7},
    {"Pow", "broadcast", 7}, {"Pow", "axis", 7}, {"Equal", "broadcast", 7}, {"Equal", "axis", 7},
    {"Less", "broadcast", 7}, {"Less", "axis", 7}, {"Greater", "broadcast", 7}, {"Greater", "axis", 7},
    {"And", "broadcast", 7}, {"And", "axis", 7}, {"Or", "broadcast", 7}, {"Or", "axis", 7},
    {"Xor", "broadcast", 7}, {"Xor", "axis", 7},
};

static void check_retired(Compiler *cc, const Node *n, const char *attr) {
  for (int i = 0; i < countof(retired); i++)
    if (n->opset >= retired[i].gone_in && !strcmp(n->op_type, retired[i].op) && !strcmp(attr, retired[i].attr))
      error_at(cc, n, "attribute '%s' is not part of %s-%d (it was removed in opset %d; the model's exporter "
                      "mixed opsets)", attr, n->op_type, n->opset, retired[i].gone_in);
}

static void check_graph(Compiler *cc, Graph *g) {
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    if (!n->op || !strcmp(n->domain, "edgecc")) {
      error_at(cc, n, "unsupported op '%s%s%s'", *n->domain ? n->domain : "", *n->domain ? "." : "", n->op_type);
      n->op = NULL;
      continue;
    }
    if (n->opset < n->op->first_opset || n->opset > n->op->last_opset)
      error_at(cc, n, "opset %d is not supported (supported: %d to %d)", n->opset, n->op->first_opset,
               n->op->last_opset);
    if (n->op->max_inputs >= 0 && n->nin > n->op->max_inputs)
      error_at(cc, n, "has %d inputs, the op takes at most %d", n->nin, n->op->max_inputs);
    for (int j = 0; j < 32; j++)
      if ((n->op->required >> j & 1) && !node_input(n, j))
        error_at(cc, n, "input %d is required", j);
    for (int j = 0; j < n->nattrs; j++) {
      const Attr *a = &n->attrs[j];
      if (a->type == ATTR_GRAPH)
        check_graph(cc, a->g);
      for (int k = 0; a->type == ATTR_GRAPHS && k < a->n; k++)
        check_graph(cc, a->graphs[k]);
      if (n->opset < 6 && !strcmp(a->name, "consumed_inputs"))
        continue; // a buffer-reuse hint of the first opsets, without effect on the result
      if (!attr_known(n->op, a->name))
        error_at(cc, n, "unsupported attribute '%s'", a->name);
      else if (!*n->op->domain)
        check_retired(cc, n, a->name);
    }
  }
}

void check_supported(Compiler *cc, Graph *g) {
  check_graph(cc, g);
  bail_if_errors(cc);
}
