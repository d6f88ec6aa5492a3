// shape.c — ops that only change how a buffer is viewed (Reshape, Flatten, Squeeze, Unsqueeze,
// Identity, Dropout at inference) and ops whose result is known from shapes alone (Shape, Size,
// Constant, ConstantOfShape). Views share their input's storage: no lowering, no copy. A view
// of a data-dependent shape has dims of its own, which its dims function computes at run time
// (the data, compact in row-major order, reads the same in both shapes).
#include "../compiler.h"
#include "ops.h"

#include <string.h>

static void set_view(Compiler *cc, Node *n, Shape s) {
  if (shape_numel(&s) != shape_numel(&n->in[0]->shape) && !n->in[0]->dynamic) // bounds may not match
    fatal_at(cc, n, "cannot view %s elements as shape %s", shape_str(&cc->pool, &n->in[0]->shape),
             shape_str(&cc->pool, &s));
  set_output(n, 0, n->in[0]->dtype, s);
  // A view of a constant is a constant: later nodes may need its value at compile time.
  if (n->in[0]->data)
    n->out[0]->data = n->in[0]->data;
}

// The target shape as given: 0 copies the input's dim (unless allowzero), -1 takes the rest.
typedef struct {
  Shape target;
  bool allowzero;
} ReshapeTarget;

void infer_Reshape(Compiler *cc, Node *n) {
  const Shape *in = &n->in[0]->shape;
  Shape s = {0};
  ReshapeTarget *t = pool_alloc(&cc->pool, sizeof(ReshapeTarget));
  bool follows = false; // a dim of the target follows the input's data-dependent dims
  int64_t count;
  const int64_t *dims = NULL;
  Value *sv = NULL;
  if (n->opset < 5) {
    count = attr_ints(n, "shape", &dims);
  } else {
    sv = need_const(cc, n, 1);
    count = shape_numel(&sv->shape);
  }
  if (count < 0 || count > MAX_RANK)
    fatal_at(cc, n, "target shape of %lld dims is not supported", (long long)count);
  bool allowzero = t->allowzero = attr_int(n, "allowzero", 0);
  int infer_at = -1;
  int64_t known = 1;
  s.rank = t->target.rank = (int)count;
  for (int i = 0; i < s.rank; i++) {
    int64_t d = t->target.dim[i] = sv ? value_int(sv, i) : dims[i];
    if (d == 0 && !allowzero) {
      if (i >= in->rank)
        fatal_at(cc, n, "dim %d is 0 (copy) but the input has rank %d", i, in->rank);
      d = in->dim[i];
      follows |= (n->in[0]->dynamic & DYN_DIM(i)) != 0;
    }
    if (d == -1) {
      if (infer_at >= 0)
        fatal_at(cc, n, "more than one -1 in the target shape");
      infer_at = i;
      continue;
    }
    if (d < 0)
      fatal_at(cc, n, "invalid target dimension %lld", (long long)d);
    s.dim[i] = d;
    known *= d;
  }
  if (n->in[0]->dynamic && infer_at < 0 && !follows)
    reject_dynamic(cc, n, 0, "a target shape without 0 or -1 for its data-dependent dims is not supported");
  if (infer_at >= 0) {
    int64_t total = shape_numel(in);
    if (known == 0 || (total % known && !n->in[0]->dynamic))
      fatal_at(cc, n, "cannot reshape %s into a shape with -1", shape_str(&cc->pool, in));
    s.dim[infer_at] = known ? (total + known - 1) / known : 0; // exact, or a bound
  }
  n->priv = t;
  set_view(cc, n, s);
}

void dims_Reshape(KB *kb, const Node *n, RtShape *out) {
  const ReshapeTarget *t = n->priv;
  RtShape in = kb_in_shape(kb, 0);
  LLVMValueRef known = kb_idx(kb, 1);
  int infer_at = -1;
  out[0].rank = t->target.rank;
  for (int i = 0; i < t->target.rank; i++) {
    int64_t d = t->target.dim[i];
    if (d == -1) {
      infer_at = i;
      continue;
    }
    out[0].dim[i] = d == 0 && !t->allowzero ? in.dim[i] : kb_idx(kb, d);
    known = LLVMBuildNSWMul(kb->b, known, out[0].dim[i], "");
  }
  if (infer_at >= 0) // a target with zeros but no -1 was rejected at compile time if empty
    out[0].dim[infer_at] = LLVMBuildSDiv(kb->b, kb_numel(kb, &in), kb_max(kb, DT_I64, known, kb_idx(kb, 1)), "");
}

void infer_Flatten(Compiler *cc, Node *n) {
  const Shape *in = &n->in[0]->shape;
  int64_t axis = attr_int(n, "axis", 1);
  if (axis < -in->rank || axis > in->rank)
    fatal_at(cc, n, "axis %lld is out of range for rank %d", (long long)axis, in->rank);
  if (axis < 0)
    axis += in->rank;
  Shape s = {.rank = 2, .dim = {1, 1}};
  for (int i = 0; i < in->rank; i++)
    s.dim[i < axis ? 0 : 1] *= in->dim[i];
  n->priv = pool_dup(&cc->pool, &axis, sizeof axis);
  set_view(cc, n, s);
}

void dims_Flatten(KB *kb, const Node *n, RtShape *out) {
  int axis = (int)*(const int64_t *)n->priv;
  RtShape in = kb_in_shape(kb, 0);
  out[0] = (RtShape){.rank = 2, .dim = {kb_numel_range(kb, &in, 0, axis), kb_numel_range(kb, &in, axis, in.rank)}};
}

// Axes of Squeeze/Unsqueeze: an attribute before opset 13, an input after.
static int get_axes(Compiler *cc, Node *n, int64_t *axes) {
  const int64_t *a;
  int count;
  if (n->opset < 13) {
    count = attr_ints(n, "axes", &a);
    for (int i = 0; i < count; i++)
      axes[i] = a[i];
    return count;
  }
  Value *v = node_input(n, 1) ? need_const(cc, n, 1) : NULL;
  if (!v)
    return -1;
  count = (int)shape_numel(&v->shape);
  if (count > MAX_RANK)
    fatal_at(cc, n, "too many axes");
  for (int i = 0; i < count; i++)
    axes[i] = value_int(v, i);
  return count;
}

void infer_Squeeze(Compiler *cc, Node *n) {
  const Shape *in = &n->in[0]->shape;
  int64_t axes[MAX_RANK];
  int count = get_axes(cc, n, axes);
  bool *drop = pool_alloc(&cc->pool, sizeof(bool) * MAX_RANK);
  for (int i = 0; i < count; i++) { // a data-dependent dim must be 1 at run time
    int a = norm_axis(cc, n, axes[i], in->rank);
    if (in->dim[a] != 1 && !(n->in[0]->dynamic & DYN_DIM(a)))
      fatal_at(cc, n, "cannot squeeze axis %d of size %lld", a, (long long)in->dim[a]);
    drop[a] = true;
  }
  for (int i = 0; i < in->rank && count < 0; i++) {
    if (in->dim[i] == 1 && (n->in[0]->dynamic & DYN_DIM(i)))
      reject_dynamic(cc, n, 0, "without axes, whether a data-dependent dim is 1 is not known at compile time");
    drop[i] = in->dim[i] == 1;
  }
  Shape s = {0};
  for (int i = 0; i < in->rank; i++)
    if (!drop[i])
      s.dim[s.rank++] = in->dim[i];
  n->priv = drop;
  set_view(cc, n, s);
}

void dims_Squeeze(KB *kb, const Node *n, RtShape *out) {
  const bool *drop = n->priv;
  RtShape in = kb_in_shape(kb, 0);
  out[0].rank = 0;
  for (int i = 0; i < in.rank; i++)
    if (!drop[i])
      out[0].dim[out[0].rank++] = in.dim[i];
}

void infer_Unsqueeze(Compiler *cc, Node *n) {
  const Shape *in = &n->in[0]->shape;
  int64_t axes[MAX_RANK];
  int count = get_axes(cc, n, axes);
  if (count < 0)
    fatal_at(cc, n, "axes are required");
  int rank = in->rank + count;
  if (rank > MAX_RANK)
    fatal_at(cc, n, "result rank %d exceeds the supported %d", rank, MAX_RANK);
  bool ins[MAX_RANK] = {0};
  for (int i = 0; i < count; i++) {
    int a = norm_axis(cc, n, axes[i], rank);
    if (ins[a])
      fatal_at(cc, n, "axis %d repeated", a);
    ins[a] = true;
  }
  Shape s = {.rank = rank};
  for (int i = 0, j = 0; i < rank; i++)
    s.dim[i] = ins[i] ? 1 : in->dim[j++];
  n->priv = pool_dup(&cc->pool, ins, sizeof ins);
  set_view(cc, n, s);
}

void dims_Unsqueeze(KB *kb, const Node *n, RtShape *out) {
  const bool *ins = n->priv;
  RtShape in = kb_in_shape(kb, 0);
  out[0].rank = n->out[0]->shape.rank;
  for (int i = 0, j = 0; i < out[0].rank; i++)
    out[0].dim[i] = ins[i] ? kb_idx(kb, 1) : in.dim[j++];
}

// Every output has input 0's shape (Identity, Dropout's data and mask, Softmax, Scatter...).
void dims_same(KB *kb, const Node *n, RtShape *out) {
  for (int i = 0; i < n->nout; i++)
    out[i] = kb_in_shape(kb, 0);
}

void infer_Identity(Compiler *cc, Node *n) {
  Value *in = n->in[0], *out = n->out[0];
  if (in->type != VAL_TENSOR) { // sequences and optionals pass through at compile time
    out->type = in->type;
    out->dtype = in->dtype;
    out->elems = in->elems;
    out->nelems = in->nelems;
    out->typed = true;
    return;
  }
  set_view(cc, n, in->shape);
}

void infer_Dropout(Compiler *cc, Node *n) {
  // Inference mode only: training_mode (an input since opset 12) must be false.
  Value *tm = node_input(n, 2);
  if (tm && (!tm->data || value_int(tm, 0)))
    fatal_at(cc, n, "training mode is not supported (dropout is random)");
  if (n->opset < 7 && attr_int(n, "is_test", 0) == 0 && n->nout > 1)
    fatal_at(cc, n, "training mode is not supported (dropout is random)");
  set_view(cc, n, n->in[0]->shape);
  set_output(n, 1, DT_BOOL, n->in[0]->shape);
}

// The mask of inference-mode Dropout is all true; the data output is a view.
void lower_Dropout(KB *kb, Node *n) {
  if (n->nout > 1 && n->out[1])
    kb_memset(kb, kb->out[1], 1, shape_numel(&n->out[1]->shape));
}

static void set_const_i64(Compiler *cc, Node *n, Shape s, const int64_t *vals) {
  set_output(n, 0, DT_I64, s);
  int64_t count = shape_numel(&s);
  n->out[0]->data = pool_alloc(&cc->pool, sizeof(int64_t) * (size_t)(count + 1)); // never empty
  memcpy(n->out[0]->data, vals, sizeof(int64_t) * (size_t)count);
}

// The dims Shape returns: [start, end) after clamping.
static void shape_range(const Node *n, int *start, int *end) {
  int rank = n->in[0]->shape.rank;
  int64_t s = attr_int(n, "start", 0), e = attr_int(n, "end", rank);
  if (s < 0)
    s += rank;
  if (e < 0)
    e += rank;
  s = s < 0 ? 0 : s > rank ? rank : s;
  e = e < s ? s : e > rank ? rank : e;
  *start = (int)s, *end = (int)e;
}

// Known at compile time, unless the dims are data-dependent: then read at run time.
void infer_Shape(Compiler *cc, Node *n) {
  int start, end;
  shape_range(n, &start, &end);
  Shape s = {.rank = 1, .dim = {end - start}};
  if (n->in[0]->dynamic & (DYN_DIM(end) - DYN_DIM(start)))
    set_output(n, 0, DT_I64, s);
  else
    set_const_i64(cc, n, s, n->in[0]->shape.dim + start);
}

void dims_Shape(KB *kb, const Node *n, RtShape *out) {
  int start, end;
  shape_range(n, &start, &end);
  out[0] = (RtShape){.rank = 1, .dim = {kb_idx(kb, end - start)}};
}

void lower_Shape(KB *kb, Node *n) {
  int start, end;
  shape_range(n, &start, &end);
  RtShape in = kb_in_shape(kb, 0);
  for (int d = start; d < end; d++)
    kb_store(kb, DT_I64, kb->out[0], kb_idx(kb, d - start), LLVMBuildIntCast2(kb->b, in.dim[d], LLVMInt64TypeInContext(kb->ctx), 1, ""));
}

void infer_Size(Compiler *cc, Node *n) {
  int64_t numel = shape_numel(&n->in[0]->shape);
  if (n->in[0]->dynamic)
    set_output(n, 0, DT_I64, (Shape){0});
  else
    set_const_i64(cc, n, (Shape){0}, &numel);
}

void dims_Size(KB *kb, const Node *n, RtShape *out) {
  (void)kb, (void)n;
  out[0] = (RtShape){0};
}

void lower_Size(KB *kb, Node *n) {
  RtShape in = kb_in_shape(kb, 0);
  (void)n;
  kb_store(kb, DT_I64, kb->out[0], kb_idx(kb, 0), LLVMBuildIntCast2(kb->b, kb_numel(kb, &in), LLVMInt64TypeInContext(kb->ctx), 1, ""));
}

void infer_Constant(Compiler *cc, Node *n) {
  if (n->nattrs != 1)
    fatal_at(cc, n, "expects exactly one attribute");
  const Attr *a = &n->attrs[0];
  Pool *p = &cc->pool;
  Value *out = n->out[0];
  if (!strcmp(a->name, "value") && a->type == ATTR_TENSOR) {
    set_output(n, 0, a->t->dtype, a->t->shape);
    out->data = a->t->data;
  } else if (!strcmp(a->name, "value_float") && a->type == ATTR_FLOAT) {
    set_output(n, 0, DT_F32, (Shape){0});
    out->data = pool_dup(p, &a->f, sizeof(float));
  } else if (!strcmp(a->name, "value_floats") && a->type == ATTR_FLOATS) {
    set_output(n, 0, DT_F32, (Shape){.rank = 1, .dim = {a->n}});
    out->data = pool_dup(p, a->floats, sizeof(float) * (size_t)(a->n + 1));
  } else if (!strcmp(a->name, "value_int") && a->type == ATTR_INT) {
    set_output(n, 0, DT_I64, (Shape){0});
    out->data = pool_dup(p, &a->i, sizeof(int64_t));
  } else if (!strcmp(a->name, "value_ints") && a->type == ATTR_INTS) {
    set_output(n, 0, DT_I64, (Shape){.rank = 1, .dim = {a->n}});
    out->data = pool_dup(p, a->ints, sizeof(int64_t) * (size_t)(a->n + 1));
  } else if (!strcmp(a->name, "value_string") && a->type == ATTR_STRING) {
    set_output(n, 0, DT_STRING, (Shape){0});
    out->data = pool_dup(p, &a->s, sizeof(char *));
  } else if (!strcmp(a->name, "value_strings") && a->type == ATTR_STRINGS) {
    set_output(n, 0, DT_STRING, (Shape){.rank = 1, .dim = {a->n}});
    out->data = pool_dup(p, a->strings, sizeof(char *) * (size_t)(a->n + 1));
  } else {
    fatal_at(cc, n, "attribute '%s' is not supported", a->name);
  }
}

void infer_ConstantOfShape(Compiler *cc, Node *n) {
  Value *sv = need_const(cc, n, 0);
  Shape s = {.rank = (int)shape_numel(&sv->shape)};
  if (s.rank > MAX_RANK)
    fatal_at(cc, n, "rank %d exceeds the supported %d", s.rank, MAX_RANK);
  for (int i = 0; i < s.rank; i++)
    if ((s.dim[i] = value_int(sv, i)) < 0)
      fatal_at(cc, n, "negative dimension %lld", (long long)s.dim[i]);
  const Attr *a = node_attr(n, "value");
  DType dt = a && a->type == ATTR_TENSOR ? a->t->dtype : DT_F32;
  if (a && (a->type != ATTR_TENSOR || shape_numel(&a->t->shape) != 1))
    fatal_at(cc, n, "value must be a one-element tensor");
  if (dt == DT_STRING)
    fatal_at(cc, n, "a string value is not supported");
  set_output(n, 0, dt, s);
}

void lower_ConstantOfShape(KB *kb, Node *n) {
  const Attr *a = node_attr(n, "value");
  DType dt = n->out[0]->dtype;
  double v = a ? value_double(a->t, 0) : 0.0;
  LLVMValueRef c = dtype_is_float(dt) ? kb_const(kb, dtype_compute(dt), v)
                   : dt == DT_BOOL   ? LLVMConstInt(kb_ctype(kb, dt), v != 0, 0)
                                     : kb_const_int(kb, dt, value_int(a->t, 0));
  Loop l;
  LLVMValueRef i = kb_for(kb, &l, shape_numel(&n->out[0]->shape));
  kb_store(kb, dt, kb->out[0], i, c);
  kb_end_for(kb, &l);
}

// Copy gives a graph output its own buffer when it would otherwise alias an input, a constant,
// a view or another output. A dynamic value copies its actual elements.
void lower_Copy(KB *kb, Node *n) {
  if (!n->in[0]->dynamic) {
    kb_memcpy(kb, kb->out[0], kb->in[0], shape_numel(&n->out[0]->shape) * kb_sizeof(kb, n->out[0]->dtype));
    return;
  }
  RtShape s = kb_out_shape(kb, 0);
  LLVMValueRef bytes = LLVMBuildNSWMul(kb->b, kb_numel(kb, &s), kb_idx(kb, kb_sizeof(kb, n->in[0]->dtype)), "");
  LLVMBuildMemCpy(kb->b, kb->out[0], 1, kb->in[0], 1, bytes);
}
