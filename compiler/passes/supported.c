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
      if (!attr_known(n->op, a->name))
        error_at(cc, n, "unsupported attribute '%s'", a->name);
    }
  }
}

void check_supported(Compiler *cc, Graph *g) {
  check_graph(cc, g);
  bail_if_errors(cc);
}
