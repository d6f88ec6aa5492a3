// dce.c — dead-code elimination: nodes whose outputs nobody needs, and nodes whose outputs
// were all folded into constants.
#include "../compiler.h"

#include <string.h>

static void mark_subgraph_uses(Graph *sub, bool *live, int nvals_max);

// A live sequence or optional keeps its members alive.
static void mark(Value *v, bool *live, int nmax) {
  if (!v || v->id >= nmax)
    return;
  live[v->id] = true;
  for (int i = 0; v->type != VAL_TENSOR && i < v->nelems; i++)
    mark(v->elems[i], live, nmax);
}

// Whether V, an output of N, or a member N created is needed and not a folded constant.
static bool needed_output(const Node *n, Value *v, const bool *live) {
  if (v->type == VAL_TENSOR)
    return live[v->id] && !v->data && v->producer == n;
  if (live[v->id])
    return true;
  for (int i = 0; i < v->nelems; i++)
    if (needed_output(n, v->elems[i], live))
      return true;
  return false;
}

static void mark_node_inputs(Node *n, bool *live, int nmax) {
  for (int j = 0; j < n->nin; j++)
    mark(n->in[j], live, nmax);
  for (int j = 0; j < n->nattrs; j++) {
    const Attr *a = &n->attrs[j];
    if (a->type == ATTR_GRAPH)
      mark_subgraph_uses(a->g, live, nmax);
    for (int k = 0; a->type == ATTR_GRAPHS && k < a->n; k++)
      mark_subgraph_uses(a->graphs[k], live, nmax);
  }
}

// Outer-scope values a subgraph reads stay alive with the node that owns it.
static void mark_subgraph_uses(Graph *sub, bool *live, int nmax) {
  for (int i = 0; i < sub->nodes.len; i++)
    mark_node_inputs(sub->nodes.items[i], live, nmax);
  for (int i = 0; i < sub->outputs.len; i++)
    mark(sub->outputs.items[i], live, nmax);
}

void eliminate_dead(Compiler *cc, Graph *g) {
  int nmax = cc->next_value_id;
  bool *live = pool_alloc(&cc->pool, (size_t)nmax + 1);
  for (int i = 0; i < g->outputs.len; i++)
    mark(g->outputs.items[i], live, nmax);
  int w = g->nodes.len;
  PtrVec kept = {0};
  bool *keep = pool_alloc(&cc->pool, (size_t)w + 1);
  for (int i = g->nodes.len - 1; i >= 0; i--) {
    Node *n = g->nodes.items[i];
    bool needed = false;
    for (int j = 0; j < n->nout; j++)
      needed |= n->out[j] && needed_output(n, n->out[j], live);
    if (!needed)
      continue;
    keep[i] = true;
    mark_node_inputs(n, live, nmax);
  }
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    if (keep[i]) {
      vec_push(&cc->pool, &kept, n);
      continue;
    }
    for (int j = 0; j < n->nout; j++)
      if (n->out[j] && n->out[j]->data)
        n->out[j]->producer = NULL; // a folded constant now
  }
  g->nodes = kept;
  graph_remove_dead(g);
}
