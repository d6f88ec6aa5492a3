// infer_util.c — helpers every op family's inference uses.
#include "../compiler.h"

#include <string.h>

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
  if (!n->op)
    return false;
  switch (n->op->kind) {
  case OP_Reshape:
  case OP_Flatten:
  case OP_Squeeze:
  case OP_Unsqueeze:
  case OP_Identity:
  case OP_Dropout:
    return n->out[0] && n->in[0] && n->in[0]->type == VAL_TENSOR;
  default: return false;
  }
}

bool has_dynamic_input(const Node *n) {
  for (int i = 0; i < n->nin; i++)
    if (n->in[i] && n->in[i]->dynamic)
      return true;
  return false;
}

bool accepts_dynamic_inputs(const Node *n) {
  if (n->op->scalar) // elementwise: lower_eltwise
    return true;
  switch (n->op->kind) {
  case OP_Identity: // a view with the same dims
  case OP_Copy:
  case OP_Transpose:
  case OP_Gather:
  case OP_GatherElements: // gather.c
  case OP_GatherND:
  case OP_Scatter:
  case OP_ScatterElements:
  case OP_ScatterND:
  case OP_OneHot: // generate.c
  case OP_Trilu:
  case OP_EyeLike:
  case OP_NonZero: // select.c
  case OP_Compress:
  case OP_StringNormalizer: // text.c
  case OP_TfIdfVectorizer:
    return true;
  default: return false;
  }
}

bool accepts_string_inputs(const Node *n) {
  switch (n->op->kind) {
  case OP_Identity: // views and shape queries
  case OP_Reshape:
  case OP_Flatten:
  case OP_Squeeze:
  case OP_Unsqueeze:
  case OP_Shape:
  case OP_Size:
  case OP_Copy:
  case OP_Transpose: // copy.c, gather.c, select.c: elements copied as they are (pointers)
  case OP_Concat:
  case OP_Split:
  case OP_Slice:
  case OP_Expand:
  case OP_Tile:
  case OP_Gather:
  case OP_DepthToSpace:
  case OP_SpaceToDepth:
  case OP_ReverseSequence:
  case OP_GatherElements:
  case OP_GatherND:
  case OP_Compress:
  case OP_Where:
  case OP_Equal: // text.c: the text itself
  case OP_Cast:
  case OP_CastLike:
  case OP_StringNormalizer:
  case OP_TfIdfVectorizer:
    return true;
  case OP_Scatter: // copies, unless the updates are combined arithmetically
  case OP_ScatterElements:
  case OP_ScatterND:
    return !strcmp(attr_string(n, "reduction", "none"), "none");
  default: return false;
  }
}
