// infer_util.c — helpers every op family's inference uses.
#include "../compiler.h"

void set_output(Node *n, int i, DType dt, Shape shape) {
  if (i >= n->nout || !n->out[i])
    return;
  Value *v = n->out[i];
  v->type = VAL_TENSOR;
  v->dtype = dt;
  v->shape = shape;
  v->typed = true;
  // Strings an op moves are its input strings: the longest input bounds them. Ops writing
  // new text set max_strlen themselves after this.
  v->max_strlen = 0;
  for (int j = 0; dt == DT_STRING && j < n->nin; j++)
    if (n->in[j] && n->in[j]->type == VAL_TENSOR && n->in[j]->dtype == DT_STRING &&
        value_max_strlen(n->in[j]) > v->max_strlen)
      v->max_strlen = value_max_strlen(n->in[j]);
}

Value *need_const(Compiler *cc, Node *n, int i) {
  Value *v = node_input(n, i);
  if (!v)
    fatal_at(cc, n, "input %d is required: a shape-like operand", i);
  if (!v->data) {
    const char *hint = v->input_index >= 0
                           ? pool_printf(&cc->pool, " (bind it with --bind %s=FILE.pb)", v->name)
                           : "";
    fatal_at(cc, n, "input %d ('%s') must be known at compile time: it is a shape-like operand%s", i,
             v->name, hint);
  }
  return v;
}

// Multidirectional (numpy) broadcasting.
bool broadcast_shapes(const Shape *a, const Shape *b, Shape *out) {
  Shape r = {.rank = a->rank > b->rank ? a->rank : b->rank};
  for (int i = 0; i < r.rank; i++) {
    int ia = a->rank - r.rank + i, ib = b->rank - r.rank + i;
    int64_t da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return false;
    r.dim[i] = da == 1 ? db : da;
  }
  *out = r;
  return true;
}

Shape broadcast_bounds(const Shape *a, unsigned a_dyn, const Shape *b, unsigned b_dyn, unsigned *dyn) {
  Shape r = {.rank = a->rank > b->rank ? a->rank : b->rank};
  unsigned rd = 0;
  for (int i = 0; i < r.rank; i++) {
    int ia = a->rank - r.rank + i, ib = b->rank - r.rank + i;
    int64_t da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
    bool dyn_a = ia >= 0 && (a_dyn & DYN_DIM(ia)), dyn_b = ib >= 0 && (b_dyn & DYN_DIM(ib));
    bool fixed_a = !dyn_a && da != 1, fixed_b = !dyn_b && db != 1;
    r.dim[i] = fixed_a ? da : fixed_b ? db : da > db ? da : db;
    if (dyn_a || dyn_b)
      rd |= DYN_DIM(i);
  }
  if (dyn)
    *dyn = rd;
  return r;
}

int norm_axis(Compiler *cc, const Node *n, int64_t axis, int rank) {
  if (axis < -rank || axis >= (rank ? rank : 1))
    fatal_at(cc, n, "axis %lld is out of range for rank %d", (long long)axis, rank);
  return (int)(axis < 0 ? axis + rank : axis);
}

bool is_view_op(const Node *n) {
  return n->op && (n->op->flags & OPF_VIEW) && n->out[0] && n->in[0] && n->in[0]->type == VAL_TENSOR;
}

Value *dynamic_tensor(Value *v) {
  if (!v)
    return NULL;
  if (v->type == VAL_TENSOR)
    return v->dynamic ? v : NULL;
  for (int i = 0; i < v->nelems; i++)
    if (dynamic_tensor(v->elems[i]))
      return dynamic_tensor(v->elems[i]);
  return NULL;
}

bool has_dynamic_input(const Node *n) {
  for (int i = 0; i < n->nin; i++)
    if (dynamic_tensor(n->in[i]))
      return true;
  return false;
}

bool has_dynamic_output(const Node *n) {
  for (int i = 0; i < n->nout; i++)
    if (dynamic_tensor(n->out[i]))
      return true;
  return false;
}

void reject_dynamic(Compiler *cc, Node *n, int i, const char *why) {
  Value *v = dynamic_tensor(n->in[i]);
  fatal_at(cc, n, "input %d ('%s') has a data-dependent shape (produced by %s): %s", i, n->in[i]->name,
           v && v->producer ? v->producer->op_type : "?", why ? why : pool_printf(&cc->pool, "not supported by %s", n->op_type));
}
