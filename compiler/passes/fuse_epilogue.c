// fuse_epilogue.c — elementwise ops after a Conv, Gemm or MatMul (bias adds, activations,
// residual adds, GELU written out as Div/Erf/Add/Mul, SiLU as Sigmoid and Mul) run inside the
// producer's lowering, on each output element while it is still in registers or cache,
// instead of as passes of their own over memory.
//
// Starting from the host's result, the pass takes the following f32 elementwise nodes that
// read values of the group (in schedule order) as long as their output has the host's shape
// and their other operands are computed before the host runs. It keeps the longest prefix
// after which exactly one value of the group is read outside it (or is a graph output): that
// value becomes the host's output, the others never reach memory. The fused nodes' other
// operands are appended to the host's inputs, so the planner keeps them alive and the node
// function receives them.
#include "../compiler.h"

#define MAX_FUSED 24
#define MAX_HOST_INPUTS 48

static bool is_graph_output(const Graph *g, const Value *v) {
  for (int i = 0; i < g->outputs.len; i++)
    if (g->outputs.items[i] == v)
      return true;
  return false;
}

// (A product with data-dependent rows lowers without epilogues, even when its output's shape
// is static.)
static bool is_host(const Graph *g, const Node *n) {
  OpKind k = n->op->kind;
  return (k == OP_Conv || k == OP_Gemm || k == OP_MatMul) && n->nout == 1 && n->out[0] &&
         n->out[0]->dtype == DT_F32 && !n->out[0]->dynamic && !has_dynamic_input(n) && !n->epilogue &&
         !is_graph_output(g, n->out[0]);
}

typedef struct {
  Value *vals[MAX_FUSED + 1]; // the group's values: the host's result, then each op's output
  Node *ops[MAX_FUSED];
  int nops;
} Group;

static bool in_group(const Group *gr, const Value *v) {
  for (int i = 0; i <= gr->nops; i++)
    if (gr->vals[i] == v)
      return true;
  return false;
}

// Node M can join: elementwise, f32 in and out, the host's output shape, reading the group;
// its other operands are constants, graph inputs or produced before the host (DEF_AT: the
// schedule position of each value's producer, by value id).
static bool can_join(const Group *gr, const Node *m, int host_at, const int *def_at) {
  if (!m->op || !m->op->scalar || m->nout != 1 || !m->out[0] || m->out[0]->dtype != DT_F32 ||
      m->out[0]->dynamic || !shape_eq(&m->out[0]->shape, &gr->vals[0]->shape) || m->nin > 8)
    return false;
  bool reads_group = false;
  for (int i = 0; i < m->nin; i++) {
    Value *v = m->in[i];
    if (!v)
      continue;
    if (v->type != VAL_TENSOR || v->dtype != DT_F32 || v->dynamic)
      return false;
    if (in_group(gr, v))
      reads_group = true;
    else if (v->producer && def_at[v->id] >= host_at)
      return false;
  }
  return reads_group;
}

// Values of the group read outside it or returned by the graph; the last one in *WHICH.
static int escaping(const Graph *g, const Group *gr, Value **which) {
  int count = 0;
  for (int i = 0; i <= gr->nops; i++) {
    Value *v = gr->vals[i];
    int inside = 0;
    for (int j = 0; j < gr->nops; j++)
      for (int k = 0; k < gr->ops[j]->nin; k++)
        inside += gr->ops[j]->in[k] == v;
    if (value_uses(g, v) > inside || is_graph_output(g, v)) {
      count++;
      *which = v;
    }
  }
  return count;
}

// The longest valid group for the host at schedule position AT; its op count (0: none).
static int grow(const Graph *g, int at, const int *def_at, Group *gr) {
  Node *host = g->nodes.items[at];
  gr->vals[0] = host->out[0];
  gr->nops = 0;
  int best = 0;
  Value *out;
  for (int i = at + 1; i < g->nodes.len && gr->nops < MAX_FUSED; i++) {
    Node *m = g->nodes.items[i];
    if (!can_join(gr, m, at, def_at))
      continue;
    gr->ops[gr->nops++] = m;
    gr->vals[gr->nops] = m->out[0];
    if (escaping(g, gr, &out) == 1 && out == m->out[0])
      best = gr->nops;
  }
  gr->nops = best;
  return best;
}

static void absorb(Compiler *cc, Node *host, const Group *gr) {
  Epilogue *e = pool_alloc(&cc->pool, sizeof(Epilogue));
  e->raw = host->out[0];
  e->first_input = host->nin;
  Value **in = pool_alloc(&cc->pool, sizeof(Value *) * (MAX_HOST_INPUTS + 1));
  int nin = host->nin;
  for (int i = 0; i < host->nin; i++)
    in[i] = host->in[i];
  for (int j = 0; j < gr->nops; j++) {
    Node *m = gr->ops[j];
    vec_push(&cc->pool, &e->ops, m);
    for (int k = 0; k < m->nin; k++) {
      Value *v = m->in[k];
      bool known = !v || in_group(gr, v);
      for (int i = e->first_input; i < nin && !known; i++)
        known = in[i] == v;
      if (!known)
        in[nin++] = v;
    }
  }
  host->in = in;
  host->nin = nin;
  Value *y = gr->vals[gr->nops];
  host->out[0] = y;
  y->producer = host;
  host->epilogue = e;
}

// Operands the group would add to the host's inputs.
static int new_inputs(const Node *host, const Group *gr) {
  int count = 0;
  const Value *seen[MAX_FUSED * 8];
  for (int j = 0; j < gr->nops; j++)
    for (int k = 0; k < gr->ops[j]->nin; k++) {
      const Value *v = gr->ops[j]->in[k];
      bool known = !v || in_group(gr, v);
      for (int i = 0; i < host->nin && !known; i++)
        known = host->in[i] == v;
      for (int i = 0; i < count && !known; i++)
        known = seen[i] == v;
      if (!known)
        seen[count++] = v;
    }
  return count;
}

void fuse_epilogues(Compiler *cc, Graph *g) {
  int *def_at = pool_alloc(&cc->pool, sizeof(int) * (size_t)(cc->next_value_id + 1));
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    for (int j = 0; j < n->nout; j++)
      if (n->out[j])
        def_at[n->out[j]->id] = i;
  }
  bool *fused = pool_alloc(&cc->pool, (size_t)g->nodes.len + 1);
  for (int i = 0; i < g->nodes.len; i++) {
    Node *host = g->nodes.items[i];
    Group gr;
    if (fused[i] || !host->op || !is_host(g, host) || !grow(g, i, def_at, &gr) ||
        host->nin + new_inputs(host, &gr) > MAX_HOST_INPUTS)
      continue;
    for (int j = 0; j < gr.nops; j++)
      for (int k = i + 1; k < g->nodes.len; k++)
        if (g->nodes.items[k] == gr.ops[j])
          fused[k] = true;
    absorb(cc, host, &gr);
    // The host now produces the group's output: consumers scheduled between it and the
    // fused nodes cannot exist (they would read a group value and so have joined or
    // escaped), so the schedule stays valid.
  }
  PtrVec kept = {0};
  for (int i = 0; i < g->nodes.len; i++)
    if (!fused[i])
      vec_push(&cc->pool, &kept, g->nodes.items[i]);
  g->nodes = kept;
  graph_remove_dead(g);
}
