// graph.c — construction and queries of the tensor IR.
#include "../compiler.h"

#include <string.h>

int64_t shape_numel(const Shape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++)
    n *= s->dim[i];
  return n;
}

bool shape_eq(const Shape *a, const Shape *b) {
  if (a->rank != b->rank)
    return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dim[i] != b->dim[i])
      return false;
  return true;
}

char *shape_str(Pool *p, const Shape *s) {
  if (s->rank == 0)
    return pool_strdup(p, "scalar");
  char buf[MAX_RANK * 21 + 1];
  int len = 0;
  for (int i = 0; i < s->rank; i++)
    len += snprintf(buf + len, sizeof buf - (size_t)len, i ? "x%lld" : "%lld", (long long)s->dim[i]);
  return pool_strdup(p, buf);
}

Shape shape_of(int rank, const int64_t *dims) {
  Shape s = {.rank = rank};
  for (int i = 0; i < rank; i++)
    s.dim[i] = dims[i];
  return s;
}

Graph *graph_new(Compiler *cc, Graph *parent, const char *name) {
  Graph *g = pool_alloc(&cc->pool, sizeof(Graph));
  g->cc = cc;
  g->parent = parent;
  g->name = pool_strdup(&cc->pool, name ? name : "main");
  if (parent) {
    g->opset_onnx = parent->opset_onnx;
    g->opset_ml = parent->opset_ml;
    g->opset_ms = parent->opset_ms;
    g->opset_training = parent->opset_training;
  }
  return g;
}

Value *graph_new_value(Graph *g, const char *name) {
  Value *v = pool_alloc(&g->cc->pool, sizeof(Value));
  v->name = pool_strdup(&g->cc->pool, name ? name : "");
  v->id = g->cc->next_value_id++; // unique across subgraphs: names symbols
  v->input_index = -1;
  v->output_index = -1;
  v->offset = -1;
  v->dims_offset = -1;
  vec_push(&g->cc->pool, &g->values, v);
  return v;
}

Node *graph_new_node(Graph *g, const char *op_type, const char *domain, const char *name, int nin,
                     int nout) {
  Pool *p = &g->cc->pool;
  Node *n = pool_alloc(p, sizeof(Node));
  n->op_type = pool_strdup(p, op_type);
  n->domain = pool_strdup(p, domain ? domain : "");
  n->name = name && *name ? pool_strdup(p, name) : pool_printf(p, "%s_%d", op_type, g->nodes.len);
  n->graph = g;
  n->nin = nin;
  n->nout = nout;
  n->in = pool_alloc(p, sizeof(Value *) * (size_t)(nin + 1));
  n->out = pool_alloc(p, sizeof(Value *) * (size_t)(nout + 1));
  n->op = op_find(n->domain, n->op_type);
  n->opset = !*n->domain || !strcmp(n->domain, "ai.onnx") ? g->opset_onnx
             : !strcmp(n->domain, "ai.onnx.ml")          ? g->opset_ml
             : !strcmp(n->domain, "com.microsoft")       ? g->opset_ms
                                                         : g->opset_training;
  vec_push(p, &g->nodes, n);
  return n;
}

Value *graph_const(Graph *g, const char *name, DType dt, Shape shape, const void *data) {
  Value *v = graph_new_value(g, name);
  v->dtype = dt;
  v->shape = shape;
  v->typed = true;
  size_t bytes = (size_t)(shape_numel(&shape) * dtype_size(dt));
  v->data = pool_alloc(&g->cc->pool, bytes ? bytes : 1);
  if (data && bytes)
    memcpy(v->data, data, bytes);
  return v;
}

Value *graph_find_value(Graph *g, const char *name) {
  for (; g; g = g->parent)
    for (int i = g->values.len - 1; i >= 0; i--) {
      Value *v = g->values.items[i];
      if (!strcmp(v->name, name))
        return v;
    }
  return NULL;
}

static int count_uses(const Graph *g, const Value *v) {
  int uses = 0;
  for (int i = 0; i < g->nodes.len; i++) {
    const Node *n = g->nodes.items[i];
    for (int j = 0; j < n->nin; j++)
      uses += n->in[j] == v;
    for (int j = 0; j < n->nattrs; j++) {
      const Attr *a = &n->attrs[j];
      if (a->type == ATTR_GRAPH)
        uses += count_uses(a->g, v);
      for (int k = 0; a->type == ATTR_GRAPHS && k < a->n; k++)
        uses += count_uses(a->graphs[k], v);
    }
  }
  return uses;
}

int value_uses(const Graph *g, const Value *v) { return count_uses(g, v); }

void graph_remove_dead(Graph *g) {
  int w = 0;
  for (int i = 0; i < g->values.len; i++) {
    Value *v = g->values.items[i];
    bool live = v->input_index >= 0 || v->output_index >= 0 || (v->producer && !v->data) ||
                count_uses(g, v) > 0;
    if (live)
      g->values.items[w++] = v;
  }
  g->values.len = w;
}

const Attr *node_attr(const Node *n, const char *name) {
  for (int i = 0; i < n->nattrs; i++)
    if (!strcmp(n->attrs[i].name, name))
      return &n->attrs[i];
  return NULL;
}

int64_t attr_int(const Node *n, const char *name, int64_t dflt) {
  const Attr *a = node_attr(n, name);
  return a && a->type == ATTR_INT ? a->i : dflt;
}

float attr_float(const Node *n, const char *name, float dflt) {
  const Attr *a = node_attr(n, name);
  if (a && a->type == ATTR_FLOAT)
    return a->f;
  return a && a->type == ATTR_INT ? (float)a->i : dflt;
}

const char *attr_string(const Node *n, const char *name, const char *dflt) {
  const Attr *a = node_attr(n, name);
  return a && a->type == ATTR_STRING ? a->s : dflt;
}

int attr_ints(const Node *n, const char *name, const int64_t **vals) {
  const Attr *a = node_attr(n, name);
  if (!a || a->type != ATTR_INTS)
    return -1;
  *vals = a->ints;
  return a->n;
}

int attr_floats(const Node *n, const char *name, const float **vals) {
  const Attr *a = node_attr(n, name);
  if (!a || a->type != ATTR_FLOATS)
    return -1;
  *vals = a->floats;
  return a->n;
}

Value *node_input(const Node *n, int i) { return i < n->nin ? n->in[i] : NULL; }

int64_t value_int(const Value *v, int64_t i) { return dtype_get_int(v->dtype, v->data, i); }
double value_double(const Value *v, int64_t i) { return dtype_get(v->dtype, v->data, i); }
int64_t value_bytes(const Value *v) { return shape_numel(&v->shape) * dtype_size(v->dtype); }

int64_t value_max_strlen(const Value *v) {
  if (!v->data)
    return v->max_strlen;
  int64_t longest = 0;
  for (int64_t i = 0; i < shape_numel(&v->shape); i++) {
    int64_t len = (int64_t)strlen(((const char *const *)v->data)[i]);
    longest = len > longest ? len : longest;
  }
  return longest;
}

static void replace_in_graph(Graph *g, Value *old, Value *new) {
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    for (int j = 0; j < n->nin; j++)
      if (n->in[j] == old)
        n->in[j] = new;
    for (int j = 0; j < n->nattrs; j++) {
      Attr *a = &n->attrs[j];
      if (a->type == ATTR_GRAPH)
        replace_in_graph(a->g, old, new);
      for (int k = 0; a->type == ATTR_GRAPHS && k < a->n; k++)
        replace_in_graph(a->graphs[k], old, new);
    }
  }
  for (int i = 0; i < g->outputs.len; i++)
    if (g->outputs.items[i] == old)
      g->outputs.items[i] = new;
}

void graph_replace_uses(Graph *g, Value *old, Value *new) {
  replace_in_graph(g, old, new);
  if (old->output_index >= 0 && new->output_index < 0)
    new->output_index = old->output_index;
}
