// graph.c — construction and queries of the tensor IR.
#include "../compiler.h"

#include <string.h>

int64_t shape_numel(const Shape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++)
    n *= s->dim[i];
  return n;
}

bool shape_fits(const Shape *s, DType dt) {
  int64_t bytes = dtype_size(dt) > 0 ? dtype_size(dt) : 1;
  for (int i = 0; i < s->rank; i++) {
    if (s->dim[i] < 0)
      return false;
    if (s->dim[i] && bytes > MAX_TENSOR_BYTES / s->dim[i])
      return false;
    bytes *= s->dim[i];
  }
  return true;
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

// Marks V and, for sequences and optionals, their members.
static void mark_used(Value *v, bool *used) {
  if (!v)
    return;
  used[v->id] = true;
  for (int i = 0; v->type != VAL_TENSOR && i < v->nelems; i++)
    mark_used(v->elems[i], used);
}

static void mark_graph_uses(const Graph *g, bool *used) {
  for (int i = 0; i < g->nodes.len; i++) {
    const Node *n = g->nodes.items[i];
    for (int j = 0; j < n->nin; j++)
      mark_used(n->in[j], used);
    for (int j = 0; j < n->nattrs; j++) {
      const Attr *a = &n->attrs[j];
      if (a->type == ATTR_GRAPH)
        mark_graph_uses(a->g, used);
      for (int k = 0; a->type == ATTR_GRAPHS && k < a->n; k++)
        mark_graph_uses(a->graphs[k], used);
    }
  }
  for (int i = 0; i < g->outputs.len; i++)
    mark_used(g->outputs.items[i], used);
}

void graph_remove_dead(Graph *g) {
  bool *used = pool_alloc(&g->cc->pool, (size_t)g->cc->next_value_id + 1);
  mark_graph_uses(g, used);
  int w = 0;
  for (int i = 0; i < g->values.len; i++) {
    Value *v = g->values.items[i];
    bool live = v->input_index >= 0 || v->output_index >= 0 || (v->producer && !v->data) || used[v->id];
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

int value_tensors(Value *v, Value **out) {
  if (v->type == VAL_TENSOR) {
    if (out)
      out[0] = v;
    return 1;
  }
  int n = 0;
  for (int i = 0; i < v->nelems; i++)
    n += value_tensors(v->elems[i], out ? out + n : NULL);
  return n;
}

Value **tensors_of(Pool *p, Value *v, int *count) {
  *count = value_tensors(v, NULL);
  Value **ts = pool_alloc(p, sizeof(Value *) * (size_t)(*count + 1));
  value_tensors(v, ts);
  return ts;
}

//
// Captures: outer-scope values a subgraph reads
//
static void mark_owned(Graph *g, bool *owned) {
  for (int i = 0; i < g->values.len; i++)
    owned[((Value *)g->values.items[i])->id] = true;
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    for (int j = 0; j < n->nattrs; j++) {
      const Attr *a = &n->attrs[j];
      if (a->type == ATTR_GRAPH)
        mark_owned(a->g, owned);
      for (int k = 0; a->type == ATTR_GRAPHS && k < a->n; k++)
        mark_owned(a->graphs[k], owned);
    }
  }
}

typedef struct {
  Pool *pool;
  const bool *owned;
  bool *seen;
  PtrVec caps;
} Captures;

static void add_capture(Captures *c, Value *v) {
  if (!v || c->owned[v->id] || c->seen[v->id] || v->data)
    return;
  c->seen[v->id] = true;
  vec_push(c->pool, &c->caps, v);
}

static void collect_captures(Captures *c, Graph *g) {
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    for (int j = 0; j < n->nin; j++)
      add_capture(c, n->in[j]);
    for (int j = 0; j < n->nattrs; j++) {
      const Attr *a = &n->attrs[j];
      if (a->type == ATTR_GRAPH)
        collect_captures(c, a->g);
      for (int k = 0; a->type == ATTR_GRAPHS && k < a->n; k++)
        collect_captures(c, a->graphs[k]);
    }
  }
  for (int i = 0; i < g->outputs.len; i++)
    add_capture(c, g->outputs.items[i]);
}

int graph_captures(Graph *g, Value ***out) {
  Pool *p = &g->cc->pool;
  size_t nmax = (size_t)g->cc->next_value_id + 1;
  bool *owned = pool_alloc(p, nmax);
  mark_owned(g, owned);
  Captures c = {p, owned, pool_alloc(p, nmax), {0}};
  collect_captures(&c, g);
  *out = (Value **)c.caps.items;
  return c.caps.len;
}

//
// Cloning (loop unrolling, SequenceMap): fresh nodes and values, inputs rebound through a map
//
typedef struct {
  Compiler *cc;
  Value **map; // by value id of the source
  int nmap;
} Cloner;

static Value *remap(const Cloner *cl, Value *v) {
  return v && v->id < cl->nmap && cl->map[v->id] ? cl->map[v->id] : v;
}

static Graph *clone_graph(Cloner *cl, Graph *src, Graph *parent);

// TOP: values of the graph being inlined lose their input/output roles.
static void clone_values(Cloner *cl, Graph *src, Graph *dst, bool top) {
  for (int i = 0; i < src->values.len; i++) {
    Value *v = src->values.items[i];
    if (v->id < cl->nmap && cl->map[v->id])
      continue;
    Value *c = graph_new_value(dst, v->name);
    int id = c->id;
    *c = *v;
    c->id = id;
    c->producer = NULL;
    c->alias_of = NULL;
    c->offset = c->dims_offset = -1;
    if (top)
      c->input_index = c->output_index = -1;
    cl->map[v->id] = c;
  }
  for (int i = 0; i < src->values.len; i++) { // members may be values cloned after them
    Value *c = remap(cl, src->values.items[i]);
    if (!c->nelems || c->id < cl->nmap)
      continue;
    Value **elems = pool_alloc(&cl->cc->pool, sizeof(Value *) * (size_t)c->nelems);
    for (int k = 0; k < c->nelems; k++)
      elems[k] = remap(cl, c->elems[k]);
    c->elems = elems;
  }
}

static void clone_nodes(Cloner *cl, Graph *src, Graph *dst) {
  Pool *p = &cl->cc->pool;
  for (int i = 0; i < src->nodes.len; i++) {
    Node *n = src->nodes.items[i];
    Node *m = pool_dup(p, n, sizeof(Node));
    m->graph = dst;
    m->in = pool_alloc(p, sizeof(Value *) * (size_t)(n->nin + 1));
    m->out = pool_alloc(p, sizeof(Value *) * (size_t)(n->nout + 1));
    for (int j = 0; j < n->nin; j++)
      m->in[j] = remap(cl, n->in[j]);
    for (int j = 0; j < n->nout; j++)
      if ((m->out[j] = remap(cl, n->out[j])))
        m->out[j]->producer = m;
    m->attrs = pool_dup(p, n->attrs, sizeof(Attr) * (size_t)(n->nattrs + 1));
    for (int j = 0; j < n->nattrs; j++) {
      Attr *a = &m->attrs[j];
      if (a->type == ATTR_GRAPH)
        a->g = clone_graph(cl, a->g, dst);
      if (a->type == ATTR_GRAPHS) {
        Graph **gs = pool_alloc(p, sizeof(Graph *) * (size_t)(a->n + 1));
        for (int k = 0; k < a->n; k++)
          gs[k] = clone_graph(cl, a->graphs[k], dst);
        a->graphs = gs;
      }
    }
    m->priv = NULL;
    m->inferred = false;
    m->scratch = m->scratch_offset = 0;
    vec_push(p, &dst->nodes, m);
  }
}

static void remap_list(Cloner *cl, PtrVec *dst, const PtrVec *src) {
  for (int i = 0; i < src->len; i++)
    vec_push(&cl->cc->pool, dst, remap(cl, src->items[i]));
}

static Graph *clone_graph(Cloner *cl, Graph *src, Graph *parent) {
  Graph *g = graph_new(cl->cc, parent, src->name);
  clone_values(cl, src, g, false);
  clone_nodes(cl, src, g);
  remap_list(cl, &g->inputs, &src->inputs);
  remap_list(cl, &g->outputs, &src->outputs);
  return g;
}

Value **graph_clone_into(Graph *src, Graph *dst, Value **from, Value **to, int nbind) {
  Compiler *cc = src->cc;
  Cloner cl = {cc, pool_alloc(&cc->pool, sizeof(Value *) * (size_t)(cc->next_value_id + 1)), cc->next_value_id};
  for (int i = 0; i < nbind; i++)
    if (from[i])
      cl.map[from[i]->id] = to[i];
  clone_values(&cl, src, dst, true);
  clone_nodes(&cl, src, dst);
  Value **outs = pool_alloc(&src->cc->pool, sizeof(Value *) * (size_t)(src->outputs.len + 1));
  for (int i = 0; i < src->outputs.len; i++)
    outs[i] = remap(&cl, src->outputs.items[i]);
  return outs;
}
