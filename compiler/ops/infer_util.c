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

int norm_axis(Compiler *cc, Node *n, int64_t axis, int rank) {
  if (axis < -rank || axis >= (rank ? rank : 1))
    fatal_at(cc, n, "axis %lld is out of range for rank %d", (long long)axis, rank);
  return (int)(axis < 0 ? axis + rank : axis);
}

bool is_view_op(const Node *n) {
  return n->op && (n->op->flags & OPF_VIEW) && n->out[0] && n->in[0] && n->in[0]->type == VAL_TENSOR;
}

bool has_dynamic_input(const Node *n) {
  for (int i = 0; i < n->nin; i++)
    if (n->in[i] && n->in[i]->dynamic)
      return true;
  return false;
}
