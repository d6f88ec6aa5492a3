// outputs.c — each graph output must be written by a node into the caller's buffer. An
// output that is a graph input, a constant, a view of another buffer, a value of an enclosing
// graph (subgraphs), or listed twice gets a Copy node.
//
// Sequences and optionals are compile-time lists: the main graph's outputs become their
// member tensors, named NAME[i] (an optional's tensor keeps NAME); a subgraph keeps the
// structure (its owner binds the members), with every member materialized.
#include "../compiler.h"

static bool needs_copy(Graph *g, Value *v, const PtrVec *done) {
  if (v->input_index >= 0 || v->data || !v->producer || is_view_op(v->producer) || v->producer->graph != g)
    return true;
  for (int j = 0; j < done->len; j++)
    if (done->items[j] == v)
      return true;
  return false;
}

// The tensor V as an output: itself, or a copy.
static Value *materialize(Compiler *cc, Graph *g, Value *v, const char *name, PtrVec *done) {
  if (!needs_copy(g, v, done)) {
    vec_push(&cc->pool, done, v);
    return v;
  }
  Node *n = graph_new_node(g, "Copy", "edgecc", pool_printf(&cc->pool, "copy_output_%d", done->len), 1, 1);
  Value *out = graph_new_value(g, name);
  out->producer = n;
  out->dtype = v->dtype;
  out->shape = v->shape;
  out->dynamic = v->dynamic;
  out->typed = true;
  n->in[0] = v;
  n->out[0] = out;
  n->inferred = true;
  vec_push(&cc->pool, done, out);
  return out;
}

// A subgraph's sequence or optional output: the same list of materialized members.
static Value *materialize_members(Compiler *cc, Graph *g, Value *v, PtrVec *done) {
  if (v->type == VAL_TENSOR)
    return materialize(cc, g, v, v->name, done);
  Value *r = graph_new_value(g, v->name);
  *r = (Value){.name = r->name, .id = r->id, .type = v->type, .dtype = v->dtype, .typed = true,
               .nelems = v->nelems, .input_index = -1, .output_index = -1, .offset = -1, .dims_offset = -1};
  r->elems = pool_alloc(&cc->pool, sizeof(Value *) * (size_t)(v->nelems + 1));
  for (int i = 0; i < v->nelems; i++)
    r->elems[i] = materialize_members(cc, g, v->elems[i], done);
  return r;
}

// The main graph's output V, named NAME, as tensors appended to OUTS.
static void flatten(Compiler *cc, Graph *g, Value *v, const char *name, PtrVec *outs, PtrVec *done) {
  if (v->type == VAL_TENSOR) {
    Value *t = materialize(cc, g, v, name, done);
    t->name = name;
    vec_push(&cc->pool, outs, t);
    return;
  }
  for (int i = 0; i < v->nelems; i++) {
    const char *member = v->type == VAL_OPTIONAL ? name : pool_printf(&cc->pool, "%s[%d]", name, i);
    flatten(cc, g, v->elems[i], member, outs, done);
  }
}

void materialize_outputs(Compiler *cc, Graph *g) {
  for (int i = 0; i < g->outputs.len; i++)
    ((Value *)g->outputs.items[i])->output_index = -1;
  PtrVec outs = {0}, done = {0};
  for (int i = 0; i < g->outputs.len; i++) {
    Value *v = g->outputs.items[i];
    if (g->parent)
      vec_push(&cc->pool, &outs, materialize_members(cc, g, v, &done));
    else
      flatten(cc, g, v, i < g->output_names.len ? g->output_names.items[i] : v->name, &outs, &done);
  }
  g->outputs = outs;
  for (int i = 0; i < done.len; i++)
    ((Value *)done.items[i])->output_index = i;
}
