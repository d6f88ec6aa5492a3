// table.c — the op table built from ops.def, and lookups over it.
#include "../compiler.h"
#include "ops.h"

#include <stdlib.h>
#include <string.h>

const OpDesc op_table[OP_COUNT_] = {
#define OP(name, domain, first, last, infer, lower, scalar, dims, shape_inputs, required, max_in, flags, attrs) \
  [OP_##name] = {OP_##name, #name, domain, first, last, infer, lower, scalar, dims, shape_inputs, required, max_in, flags, attrs},
#include "ops.def"
#undef OP
};

const OpDesc *op_find(const char *domain, const char *name) {
  if (!strcmp(domain, "ai.onnx"))
    domain = "";
  for (int i = 0; i < OP_COUNT_; i++)
    if (!strcmp(op_table[i].name, name) && !strcmp(op_table[i].domain, domain))
      return &op_table[i];
  return NULL;
}

static int by_name(const void *a, const void *b) {
  const OpDesc *x = *(const OpDesc *const *)a, *y = *(const OpDesc *const *)b;
  int d = strcmp(x->domain, y->domain);
  return d ? d : strcmp(x->name, y->name);
}

void list_ops(FILE *out, bool markdown) {
  const OpDesc *sorted[OP_COUNT_];
  for (int i = 0; i < OP_COUNT_; i++)
    sorted[i] = &op_table[i];
  qsort(sorted, OP_COUNT_, sizeof sorted[0], by_name);
  if (markdown)
    fprintf(out, "| op | domain | opsets | data-dependent shapes |\n| --- | --- | --- | --- |\n");
  for (int i = 0; i < OP_COUNT_; i++) {
    const OpDesc *op = sorted[i];
    const char *domain = *op->domain ? op->domain : "ai.onnx";
    bool dynamic = op->flags & OPF_DYNAMIC; // takes inputs of data-dependent shape
    char opsets[32];
    snprintf(opsets, sizeof opsets, "%d-%d", op->first_opset, op->last_opset);
    if (markdown)
      fprintf(out, "| %s | %s | %s | %s |\n", op->name, domain, opsets, dynamic ? "yes" : "");
    else if (dynamic)
      fprintf(out, "%-28s %-26s %-6s dynamic\n", op->name, domain, opsets);
    else
      fprintf(out, "%-28s %-26s %s\n", op->name, domain, opsets);
  }
}
