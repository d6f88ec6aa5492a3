// infer.c — walks the graph in order: types and shapes of every value, constant folding of
// nodes whose inputs are all known, and inlining of `If` branches whose condition is known.
// Subgraphs of control-flow ops go through the same passes (prepare_subgraph).
#include "../compiler.h"

#include <string.h>

// Folding a node whose output is much larger than its inputs would bloat .rodata
// (ConstantOfShape of a big zero tensor); such nodes run at startup instead. A node whose
// output is no larger than its inputs (QuantizeLinear of float weights) always folds.
#define FOLD_MAX_BYTES (1 << 20)

// Every input tensor (sequence members included) is a constant.
static bool inputs_known(Compiler *cc, const Node *n) {
  for (int i = 0; i < n->nin; i++) {
    if (!n->in[i])
      continue;
    int count;
    Value **ts = tensors_of(&cc->pool, n->in[i], &count);
    for (int k = 0; k < count; k++)
      if (!ts[k]->data)
        return false;
  }
  return true;
}

static int64_t tensor_bytes(Compiler *cc, Value *v) {
  int count;
  Value **ts = tensors_of(&cc->pool, v, &count);
  int64_t bytes = 0;
  for (int k = 0; k < count; k++)
    bytes += value_bytes(ts[k]);
  return bytes;
}

static bool worth_folding(Compiler *cc, const Node *n) {
  int64_t in_bytes = 0, out_bytes = 0;
  for (int i = 0; i < n->nin; i++)
    if (n->in[i])
      in_bytes += tensor_bytes(cc, n->in[i]);
  for (int i = 0; i < n->nout; i++)
    if (n->out[i]) {
      if (n->out[i]->type != VAL_TENSOR || !dtype_supported(n->out[i]->dtype))
        return false;
      out_bytes += value_bytes(n->out[i]);
    }
  return out_bytes <= in_bytes || (out_bytes <= FOLD_MAX_BYTES && out_bytes <= 4 * in_bytes + 4096);
}

static void reparent_subgraphs(Graph *from, Graph *to) {
  for (int i = 0; i < from->nodes.len; i++) {
    Node *n = from->nodes.items[i];
    for (int j = 0; j < n->nattrs; j++) {
      Attr *a = &n->attrs[j];
      if (a->type == ATTR_GRAPH && a->g->parent == from)
        a->g->parent = to;
      for (int k = 0; a->type == ATTR_GRAPHS && k < a->n; k++)
        if (a->graphs[k]->parent == from)
          a->graphs[k]->parent = to;
    }
  }
}

void replace_node(Compiler *cc, Node *n, Graph *with, Value **outs) {
  Graph *g = n->graph;
  PtrVec nodes = {0};
  for (int i = 0; i < g->nodes.len; i++) {
    if (g->nodes.items[i] != n) {
      vec_push(&cc->pool, &nodes, g->nodes.items[i]);
      continue;
    }
    for (int j = 0; j < with->nodes.len; j++) {
      Node *m = with->nodes.items[j];
      m->graph = g;
      vec_push(&cc->pool, &nodes, m);
    }
  }
  reparent_subgraphs(with, g);
  g->nodes = nodes;
  for (int i = 0; i < with->values.len; i++) { // no longer a subgraph's inputs or outputs
    Value *v = with->values.items[i];
    v->input_index = v->output_index = -1;
    vec_push(&cc->pool, &g->values, v);
  }
  for (int i = 0; i < n->nout; i++)
    if (n->out[i])
      graph_replace_uses(g, n->out[i], outs[i]);
}

// `If` with a compile-time condition: the taken branch's nodes replace the If node, right
// where it stood, and are inferred next.
static void inline_if(Compiler *cc, Node *n) {
  Value *cond = n->in[0];
  bool taken = dtype_get(cond->dtype, cond->data, 0) != 0;
  const Attr *a = node_attr(n, taken ? "then_branch" : "else_branch");
  if (!a || a->type != ATTR_GRAPH)
    fatal_at(cc, n, "missing branch attribute");
  Graph *br = a->g;
  if (br->outputs.len != n->nout)
    fatal_at(cc, n, "branch has %d outputs, the node %d", br->outputs.len, n->nout);
  replace_node(cc, n, br, (Value **)br->outputs.items);
}

static void check_inputs_typed(Compiler *cc, Node *n) {
  for (int i = 0; i < n->nin; i++)
    if (n->in[i] && !n->in[i]->typed)
      fatal_at(cc, n, "input %d ('%s') has no known type or shape", i, n->in[i]->name);
}

// An input whose shape is only known at run time (NonZero, Unique...: `shape` is an upper
// bound) reaches only ops whose lowering reads its actual dims.
static void check_dynamic_inputs(Compiler *cc, Node *n) {
  if (n->op->flags & OPF_DYNAMIC)
    return;
  for (int i = 0; i < n->nin; i++)
    if (dynamic_tensor(n->in[i]))
      reject_dynamic(cc, n, i, NULL);
}

// String tensors reach only ops that copy them or read their text.
static void check_string_inputs(Compiler *cc, Node *n) {
  if (n->op->flags & OPF_STRINGS)
    return;
  for (int i = 0; i < n->nin; i++)
    if (n->in[i] && n->in[i]->type == VAL_TENSOR && n->in[i]->dtype == DT_STRING)
      fatal_at(cc, n, "input %d ('%s') is a string tensor: not supported by %s", i, n->in[i]->name, n->op_type);
}

// A node running a subgraph that can stop the run (an If branch compiled as an error path)
// passes the status on.
static bool subgraphs_may_fail(const Node *n) {
  for (int j = 0; j < n->nattrs; j++) {
    const Attr *a = &n->attrs[j];
    int count = a->type == ATTR_GRAPH ? 1 : a->type == ATTR_GRAPHS ? a->n : 0;
    for (int k = 0; k < count; k++) {
      const Graph *sub = a->type == ATTR_GRAPH ? a->g : a->graphs[k];
      for (int s = 0; s < sub->nodes.len; s++)
        if (((const Node *)sub->nodes.items[s])->may_fail)
          return true;
    }
  }
  return false;
}

void infer_graph(Compiler *cc, Graph *g) {
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    if (n->inferred)
      continue;
    check_inputs_typed(cc, n);
    if (n->op->kind == OP_If && n->in[0]->data) {
      inline_if(cc, n);
      i--;
      continue;
    }
    check_string_inputs(cc, n);
    bool dynamic = has_dynamic_input(n);
    if (dynamic)
      check_dynamic_inputs(cc, n);
    n->op->infer(cc, n);
    if (i >= g->nodes.len || g->nodes.items[i] != n) { // it replaced itself: go on from there
      i--;
      continue;
    }
    n->inferred = true;
    n->may_fail |= subgraphs_may_fail(n);
    if (dynamic || has_dynamic_output(n)) // sizes computed from data-dependent sizes
      mark_dynamic_dims(cc, n);
    for (int j = 0; j < n->nout; j++) {
      if (n->out[j] && !n->out[j]->typed)
        fatal_at(cc, n, "output %d has no type after inference", j);
      if (n->out[j] && n->out[j]->type == VAL_TENSOR && !shape_fits(&n->out[j]->shape, n->out[j]->dtype))
        fatal_at(cc, n, "output %d of shape %s is too large", j, shape_str(&cc->pool, &n->out[j]->shape));
    }
    bool has_data = true;
    for (int j = 0; j < n->nout; j++)
      has_data &= !n->out[j] || n->out[j]->data != NULL;
    if (!has_data && n->op->lower && inputs_known(cc, n) && worth_folding(cc, n))
      fold_node(cc, n);
  }
}

int64_t prepare_subgraph(Compiler *cc, Graph *g) {
  infer_graph(cc, g);
  eliminate_dead(cc, g);
  materialize_outputs(cc, g);
  verify_graph(cc, g);
  return plan_memory(cc, g).arena_size;
}
