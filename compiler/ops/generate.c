// generate.c — ops that produce tensors from indices and a few scalars: OneHot, Trilu,
// EyeLike, Range.
#include "../compiler.h"
#include "ops.h"

#include <math.h>

// The constant V in compute type of DT (bool: V != 0).
static LLVMValueRef typed_const(KB *kb, DType dt, double v) {
  if (dt == DT_BOOL)
    return LLVMConstInt(kb_ctype(kb, dt), v != 0, 0);
  return kb_const(kb, dtype_compute(dt), v);
}

static int64_t scalar_input(Compiler *cc, Node *n, int i, const char *what) {
  Value *v = need_const(cc, n, i);
  if (shape_numel(&v->shape) != 1)
    fatal_at(cc, n, "%s must have one element", what);
  return dtype_is_float(v->dtype) ? (int64_t)value_double(v, 0) : value_int(v, 0);
}

//
// OneHot(indices, depth, values = [off, on]): a new axis of length depth; out is `on` where
// the index (negative ones count from the end) equals the position along it.
//
void infer_OneHot(Compiler *cc, Node *n) {
  const Shape *ind = &n->in[0]->shape;
  int64_t depth = scalar_input(cc, n, 1, "depth");
  if (depth < 1)
    fatal_at(cc, n, "depth %lld must be positive", (long long)depth);
  if (shape_numel(&n->in[2]->shape) != 2 && !n->in[2]->dynamic)
    fatal_at(cc, n, "values must have two elements [off, on]");
  if (ind->rank + 1 > MAX_RANK)
    fatal_at(cc, n, "result rank %d exceeds the supported %d", ind->rank + 1, MAX_RANK);
  int axis = norm_axis(cc, n, attr_int(n, "axis", -1), ind->rank + 1);
  Shape s = {.rank = ind->rank + 1};
  for (int d = 0, j = 0; d < s.rank; d++)
    s.dim[d] = d == axis ? depth : ind->dim[j++];
  set_output(n, 0, n->in[2]->dtype, s);
}

static int onehot_axis(Compiler *cc, const Node *n) {
  return norm_axis(cc, n, attr_int(n, "axis", -1), n->out[0]->shape.rank);
}

void dims_OneHot(KB *kb, const Node *n, RtShape *out) {
  RtShape ind = kb_in_shape(kb, 0);
  int axis = onehot_axis(kb->cc, n);
  out[0].rank = ind.rank + 1;
  for (int d = 0, j = 0; d < out[0].rank; d++)
    out[0].dim[d] = d == axis ? kb_idx(kb, n->out[0]->shape.dim[axis]) : ind.dim[j++];
}

void lower_OneHot(KB *kb, Node *n) {
  RtShape ind = kb_in_shape(kb, 0);
  int axis = onehot_axis(kb->cc, n);
  int64_t depth = n->out[0]->shape.dim[axis];
  LLVMValueRef outer = kb_numel_range(kb, &ind, 0, axis), inner = kb_numel_range(kb, &ind, axis, ind.rank);
  DType it = n->in[0]->dtype, vt = n->in[2]->dtype;
  LLVMTypeRef st = kb_type(kb, vt);
  LLVMValueRef off = LLVMBuildLoad2(kb->b, st, kb_gep(kb, vt, kb->in[2], kb_idx(kb, 0)), "");
  LLVMValueRef on = LLVMBuildLoad2(kb->b, st, kb_gep(kb, vt, kb->in[2], kb_idx(kb, 1)), "");
  Loop lo, lj, li;
  LLVMValueRef o = kb_for_v(kb, &lo, kb_idx(kb, 0), outer, 1);
  LLVMValueRef i = kb_for_v(kb, &li, kb_idx(kb, 0), inner, 1);
  LLVMValueRef pos = LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, o, inner, ""), i, "");
  LLVMValueRef k = kb_convert(kb, kb_load(kb, it, kb->in[0], pos), it, DT_I64);
  k = LLVMBuildIntCast2(kb->b, k, kb->t_idx, 1, "");
  if (n->opset >= 11) // negative indices count from the end since opset 11
    k = kb_select(kb, LLVMBuildICmp(kb->b, LLVMIntSLT, k, kb_idx(kb, 0), ""), LLVMBuildAdd(kb->b, k, kb_idx(kb, depth), ""), k);
  LLVMValueRef j = kb_for(kb, &lj, depth);
  LLVMValueRef at = LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, o, kb_idx(kb, depth), ""), j, ""), inner, ""), i, "");
  LLVMValueRef v = kb_select(kb, LLVMBuildICmp(kb->b, LLVMIntEQ, j, k, ""), on, off);
  LLVMBuildStore(kb->b, v, kb_gep(kb, vt, kb->out[0], at));
  kb_end_for(kb, &lj);
  kb_end_for(kb, &li);
  kb_end_for(kb, &lo);
}

//
// Trilu: keeps the upper (j - i >= k) or lower (j - i <= k) triangle of the last two dims,
// zeroes the rest. k is an optional run-time scalar.
//
void infer_Trilu(Compiler *cc, Node *n) {
  if (n->in[0]->shape.rank < 2)
    fatal_at(cc, n, "the input must have rank >= 2");
  Value *k = node_input(n, 1);
  if (k && shape_numel(&k->shape) != 1)
    fatal_at(cc, n, "k must be a scalar");
  set_output(n, 0, n->in[0]->dtype, n->in[0]->shape);
}

void lower_Trilu(KB *kb, Node *n) {
  RtShape s = kb_in_shape(kb, 0);
  DType dt = n->in[0]->dtype;
  bool upper = attr_int(n, "upper", 1);
  LLVMValueRef k = kb_idx(kb, 0);
  if (node_input(n, 1))
    k = LLVMBuildIntCast2(kb->b, kb_convert(kb, kb_load(kb, n->in[1]->dtype, kb->in[1], kb_idx(kb, 0)), n->in[1]->dtype, DT_I64),
                          kb->t_idx, 1, "");
  Loop loops[MAX_RANK];
  LLVMValueRef idx[MAX_RANK], st[MAX_RANK];
  kb_strides(kb, &s, st);
  kb_for_rt(kb, loops, &s, idx);
  LLVMValueRef pos = kb_dot(kb, s.rank, idx, st);
  LLVMValueRef diag = LLVMBuildSub(kb->b, idx[s.rank - 1], idx[s.rank - 2], "");
  LLVMValueRef keep = LLVMBuildICmp(kb->b, upper ? LLVMIntSGE : LLVMIntSLE, diag, k, "");
  LLVMValueRef v = LLVMBuildLoad2(kb->b, kb_type(kb, dt), kb_gep(kb, dt, kb->in[0], pos), "");
  LLVMBuildStore(kb->b, kb_select(kb, keep, v, LLVMConstNull(kb_type(kb, dt))), kb_gep(kb, dt, kb->out[0], pos));
  kb_end_for_rt(kb, loops, &s);
}

//
// EyeLike: ones on diagonal k of a 2-D tensor shaped like the input, of type `dtype`.
//
void infer_EyeLike(Compiler *cc, Node *n) {
  if (n->in[0]->shape.rank != 2)
    fatal_at(cc, n, "the input must be 2-D");
  DType dt = (DType)attr_int(n, "dtype", n->in[0]->dtype);
  if (!dtype_supported(dt) || dt == DT_STRING)
    fatal_at(cc, n, "dtype %s is not supported", dtype_onnx_name(dt));
  set_output(n, 0, dt, n->in[0]->shape);
}

void lower_EyeLike(KB *kb, Node *n) {
  RtShape s = kb_in_shape(kb, 0);
  DType dt = n->out[0]->dtype;
  LLVMValueRef k = kb_idx(kb, attr_int(n, "k", 0)), one = typed_const(kb, dt, 1), zero = typed_const(kb, dt, 0);
  Loop li, lj;
  LLVMValueRef i = kb_for_v(kb, &li, kb_idx(kb, 0), s.dim[0], 1);
  LLVMValueRef j = kb_for_v(kb, &lj, kb_idx(kb, 0), s.dim[1], 1);
  LLVMValueRef on = LLVMBuildICmp(kb->b, LLVMIntEQ, LLVMBuildSub(kb->b, j, i, ""), k, "");
  kb_store(kb, dt, kb->out[0], LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, i, s.dim[1], ""), j, ""),
           kb_select(kb, on, one, zero));
  kb_end_for(kb, &lj);
  kb_end_for(kb, &li);
}

//
// Range(start, limit, delta): max(ceil((limit - start) / delta), 0) elements start + i*delta.
// The operands are shape-like: the output size depends on them.
//
void infer_Range(Compiler *cc, Node *n) {
  DType dt = n->in[0]->dtype;
  Value *v[3];
  for (int i = 0; i < 3; i++) {
    v[i] = need_const(cc, n, i);
    if (shape_numel(&v[i]->shape) != 1 || v[i]->dtype != dt)
      fatal_at(cc, n, "start, limit and delta must be scalars of one type");
  }
  int64_t count;
  if (dtype_is_float(dt)) {
    double start = value_double(v[0], 0), limit = value_double(v[1], 0), delta = value_double(v[2], 0);
    if (delta == 0 || !isfinite(start) || !isfinite(limit) || !isfinite(delta))
      fatal_at(cc, n, "delta must be nonzero and the operands finite");
    double c = dt == DT_F32 ? ceilf((float)(limit - start) / (float)delta) : ceil((limit - start) / delta);
    count = c > 0 ? (int64_t)c : 0;
  } else {
    int64_t start = value_int(v[0], 0), limit = value_int(v[1], 0), delta = value_int(v[2], 0);
    if (delta == 0)
      fatal_at(cc, n, "delta must be nonzero");
    int64_t span = limit - start;
    count = span / delta + ((span % delta) != 0 && ((span < 0) == (delta < 0)));
    count = count > 0 ? count : 0;
  }
  set_output(n, 0, dt, (Shape){.rank = 1, .dim = {count}});
}

void lower_Range(KB *kb, Node *n) {
  DType dt = n->out[0]->dtype, ct = dtype_compute(dt);
  LLVMValueRef start = kb_load(kb, dt, kb->in[0], kb_idx(kb, 0)), delta = kb_load(kb, dt, kb->in[2], kb_idx(kb, 0));
  Loop l;
  LLVMValueRef i = kb_for(kb, &l, n->out[0]->shape.dim[0]);
  LLVMValueRef fi = kb_convert(kb, LLVMBuildIntCast2(kb->b, i, LLVMInt64TypeInContext(kb->ctx), 1, ""), DT_I64, ct);
  kb_store(kb, dt, kb->out[0], i, kb_fma(kb, ct, fi, delta, start));
  kb_end_for(kb, &l);
}
