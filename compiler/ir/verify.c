// verify.c — invariants of a graph ready for planning and code generation: every node has an
// op, every used value is typed and defined before use, outputs are tensors.
#include "../compiler.h"

// A sequence or optional brings its members (created by its producer) along.
static void define(Value *v, bool *defined) {
  defined[v->id] = true;
  for (int i = 0; v->type != VAL_TENSOR && i < v->nelems; i++)
    define(v->elems[i], defined);
}

void verify_graph(Compiler *cc, Graph *g) {
  int nmax = cc->next_value_id;
  bool *defined = pool_alloc(&cc->pool, (size_t)nmax + 1);
  for (int i = 0; i < g->values.len; i++) {
    Value *v = g->values.items[i];
    if (!v->producer)
      defined[v->id] = true;
  }
  for (Graph *p = g->parent; p; p = p->parent) // outer-scope values of a subgraph
    for (int i = 0; i < p->values.len; i++)
      defined[((Value *)p->values.items[i])->id] = true;
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    if (!n->op)
      fatal_at(cc, n, "internal error: node without an op reached code generation");
    for (int j = 0; j < n->nin; j++) {
      Value *v = n->in[j];
      if (v && (!defined[v->id] || !v->typed))
        fatal_at(cc, n, "internal error: input %d ('%s') is used before it is defined or typed", j, v->name);
    }
    for (int j = 0; j < n->nout; j++)
      if (n->out[j]) {
        if (n->out[j]->producer != n)
          fatal_at(cc, n, "internal error: output %d has another producer", j);
        define(n->out[j], defined);
      }
  }
  for (int i = 0; i < g->outputs.len; i++) {
    Value *v = g->outputs.items[i];
    if (!defined[v->id] || !v->typed)
      fatal_at(cc, NULL, "internal error: graph output '%s' is never computed", v->name);
  }
}
