// outputs.c — each graph output must be written by a node into the caller's buffer. An
// output that is a graph input, a constant, a view of another buffer, a value of an enclosing
// graph (subgraphs), or listed twice gets a Copy node.
#include "../compiler.h"

static bool needs_copy(Graph *g, int i) {
  Value *v = g->outputs.items[i];
  if (v->input_index >= 0 || v->data || !v->producer || is_view_op(v->producer) || v->producer->graph != g)
    return true;
  for (int j = 0; j < i; j++)
    if (g->outputs.items[j] == v)
      return true;
  return false;
}

void materialize_outputs(Compiler *cc, Graph *g) {
  for (int i = 0; i < g->outputs.len; i++)
    ((Value *)g->outputs.items[i])->output_index = -1;
  for (int i = 0; i < g->outputs.len; i++) {
    Value *v = g->outputs.items[i];
    if (v->type != VAL_TENSOR)
      fatal_at(cc, NULL, "graph output '%s' is a sequence or optional: not supported", v->name);
    if (!needs_copy(g, i))
      continue;
    Node *n = graph_new_node(g, "Copy", "edgecc", pool_printf(&cc->pool, "copy_output_%d", i), 1, 1);
    Value *out = graph_new_value(g, v->name);
    out->producer = n;
    out->dtype = v->dtype;
    out->shape = v->shape;
    out->typed = true;
    n->in[0] = v;
    n->out[0] = out;
    g->outputs.items[i] = out;
  }
  for (int i = 0; i < g->outputs.len; i++)
    ((Value *)g->outputs.items[i])->output_index = i;
}
