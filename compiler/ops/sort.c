// sort.c — ops that order elements: TopK (K shape-like, static output) and Unique (output
// sizes depend on the data: static upper bounds, actual dims at run time). Both work in place
// in their outputs or a small scratch, without allocation: TopK keeps the best K of a slice by
// insertion, Unique compares slices pairwise (quadratic, fine for the sizes edge models use).
#include "../compiler.h"
#include "ops.h"

#include <string.h>

//
// TopK: the K largest (or smallest) elements along an axis and their indices, best first;
// equal elements keep their order (the lower index first). K is an attribute (opset < 10) or
// an input: known at compile time the outputs are static (unless the axis has a data-dependent
// length: K is then min(K, that length)); a run-time K makes them dynamic, bounded by the
// axis, their actual length K clamped into [0, axis length].
//
static bool topk_static(const Node *n) { return n->opset < 10 || n->in[1]->data; }

static int64_t topk_k(Compiler *cc, Node *n) {
  if (n->opset < 10)
    return attr_int(n, "k", -1);
  Value *kv = need_const(cc, n, 1);
  if (shape_numel(&kv->shape) != 1)
    fatal_at(cc, n, "K must have one element");
  return value_int(kv, 0);
}

void infer_TopK(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape;
  int axis = norm_axis(cc, n, attr_int(n, "axis", -1), x->rank);
  if (n->in[0]->dtype == DT_STRING || n->in[0]->dtype == DT_BOOL)
    fatal_at(cc, n, "input of type %s is not supported", dtype_onnx_name(n->in[0]->dtype));
  if (n->nout != 2)
    fatal_at(cc, n, "expects two outputs (values, indices)");
  if (!topk_static(n) && shape_numel(&n->in[1]->shape) != 1)
    fatal_at(cc, n, "K must have one element");
  int64_t k = topk_static(n) ? topk_k(cc, n) : x->dim[axis];
  bool data_axis = n->in[0]->dynamic & DYN_DIM(axis); // K = min(K, its length at run time)
  if (k < 0 || (k > x->dim[axis] && !data_axis))
    fatal_at(cc, n, "K = %lld is out of range for an axis of %lld", (long long)k, (long long)x->dim[axis]);
  Shape s = *x;
  s.dim[axis] = k < x->dim[axis] ? k : x->dim[axis];
  set_output(n, 0, n->in[0]->dtype, s);
  set_output(n, 1, DT_I64, s);
  for (int i = 0; i < 2 && !topk_static(n); i++)
    if (n->out[i])
      n->out[i]->dynamic = DYN_DIM(axis);
  int64_t numel = shape_numel(&s);
  n->scratch = (n->out[0] ? 0 : dtype_size(n->in[0]->dtype) * numel) + (n->out[1] ? 0 : 8 * numel);
}

// The outputs' dims: the input's, with K (the constant, or the run-time input) clamped into
// [0, the axis length] along the axis.
void dims_TopK(KB *kb, const Node *n, RtShape *out) {
  RtShape x = kb_in_shape(kb, 0);
  int axis = norm_axis(kb->cc, n, attr_int(n, "axis", -1), x.rank);
  LLVMValueRef k;
  if (topk_static(n)) {
    k = kb_idx(kb, topk_k(kb->cc, (Node *)n));
  } else {
    Value *kv = n->in[1];
    k = LLVMBuildIntCast2(kb->b, kb_convert(kb, kb_load(kb, kv->dtype, kb->in[1], kb_idx(kb, 0)), kv->dtype, DT_I64), kb->t_idx, 1, "");
  }
  out[0] = out[1] = x;
  out[0].dim[axis] = out[1].dim[axis] = kb_min(kb, DT_I64, kb_max(kb, DT_I64, k, kb_idx(kb, 0)), x.dim[axis]);
}

// Emits `if (v is better than w)` per `largest`: strictly, so ties keep the earlier element.
static LLVMValueRef better(KB *kb, DType ct, bool largest, LLVMValueRef v, LLVMValueRef w) {
  return largest ? kb_gt(kb, ct, v, w) : kb_lt(kb, ct, v, w);
}

void lower_TopK(KB *kb, Node *n) {
  RtShape x = kb_in_shape(kb, 0);
  int axis = norm_axis(kb->cc, n, attr_int(n, "axis", -1), x.rank);
  int out = n->out[0] ? 0 : 1;
  const Shape *bound = &n->out[out]->shape;
  if (bound->dim[axis] == 0 || shape_numel(&n->in[0]->shape) == 0)
    return;
  LLVMValueRef k = kb_out_shape(kb, out).dim[axis], len = x.dim[axis];
  bool largest = attr_int(n, "largest", 1);
  DType dt = n->in[0]->dtype, ct = dtype_compute(dt);
  LLVMValueRef outer = kb_numel_range(kb, &x, 0, axis), inner = kb_numel_range(kb, &x, axis + 1, x.rank);
  // The kept elements live in the outputs (compact with the actual K), or in scratch for an
  // output not requested.
  LLVMValueRef vals = n->out[0] ? kb->out[0] : kb->scratch;
  LLVMValueRef idxs = n->out[1] ? kb->out[1] : n->out[0] ? kb->scratch : kb_gep(kb, dt, kb->scratch, kb_idx(kb, shape_numel(bound)));
  IfBlock any;
  kb_if(kb, &any, LLVMBuildICmp(kb->b, LLVMIntSGT, k, kb_idx(kb, 0), ""));
  Loop lo, li, lj, lq;
  LLVMValueRef o = kb_for_v(kb, &lo, kb_idx(kb, 0), outer, 1), in = kb_for_v(kb, &li, kb_idx(kb, 0), inner, 1);
  LLVMValueRef src = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, o, LLVMBuildMul(kb->b, len, inner, ""), ""), in, "");
  LLVMValueRef dst = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, o, LLVMBuildMul(kb->b, k, inner, ""), ""), in, "");
#define SRC(j) LLVMBuildAdd(kb->b, src, LLVMBuildMul(kb->b, j, inner, ""), "")
#define DST(q) LLVMBuildAdd(kb->b, dst, LLVMBuildMul(kb->b, q, inner, ""), "")
  LLVMValueRef count = kb_var(kb, kb->t_idx, kb_idx(kb, 0));
  LLVMValueRef j = kb_for_v(kb, &lj, kb_idx(kb, 0), len, 1);
  LLVMValueRef v = kb_load(kb, dt, kb->in[0], SRC(j));
  LLVMValueRef c = kb_get(kb, kb->t_idx, count);
  LLVMValueRef full = LLVMBuildICmp(kb->b, LLVMIntEQ, c, k, "");
  LLVMValueRef worst = kb_load(kb, dt, vals, DST(kb_max(kb, DT_I64, LLVMBuildSub(kb->b, c, kb_idx(kb, 1), ""), kb_idx(kb, 0))));
  IfBlock keep;
  kb_if(kb, &keep, LLVMBuildOr(kb->b, LLVMBuildNot(kb->b, full, ""), better(kb, ct, largest, v, worst), ""));
  // Insert v: from the last slot down, shift worse elements back until v's place is found.
  LLVMValueRef top = kb_select(kb, full, LLVMBuildSub(kb->b, k, kb_idx(kb, 1), ""), c);
  LLVMValueRef placed = kb_var(kb, LLVMInt1TypeInContext(kb->ctx), LLVMConstInt(LLVMInt1TypeInContext(kb->ctx), 0, 0));
  LLVMValueRef step = kb_for_v(kb, &lq, kb_idx(kb, 0), LLVMBuildAdd(kb->b, top, kb_idx(kb, 1), ""), 1);
  LLVMValueRef q = LLVMBuildSub(kb->b, top, step, "");
  IfBlock todo, shift;
  kb_if(kb, &todo, LLVMBuildNot(kb->b, kb_get(kb, LLVMInt1TypeInContext(kb->ctx), placed), ""));
  LLVMValueRef prev = kb_max(kb, DT_I64, LLVMBuildSub(kb->b, q, kb_idx(kb, 1), ""), kb_idx(kb, 0));
  LLVMValueRef pv = kb_load(kb, dt, vals, DST(prev));
  LLVMValueRef move = LLVMBuildAnd(kb->b, LLVMBuildICmp(kb->b, LLVMIntSGT, q, kb_idx(kb, 0), ""), better(kb, ct, largest, v, pv), "");
  kb_if(kb, &shift, move);
  kb_store(kb, dt, vals, DST(q), pv);
  kb_store(kb, DT_I64, idxs, DST(q), kb_load(kb, DT_I64, idxs, DST(prev)));
  kb_else(kb, &shift);
  kb_store(kb, dt, vals, DST(q), v);
  kb_store(kb, DT_I64, idxs, DST(q), LLVMBuildIntCast2(kb->b, j, LLVMInt64TypeInContext(kb->ctx), 1, ""));
  kb_set(kb, placed, LLVMConstInt(LLVMInt1TypeInContext(kb->ctx), 1, 0));
  kb_end_if(kb, &shift);
  kb_end_if(kb, &todo);
  kb_end_for(kb, &lq);
  kb_set(kb, count, kb_select(kb, full, c, LLVMBuildAdd(kb->b, c, kb_idx(kb, 1), "")));
  kb_end_if(kb, &keep);
  kb_end_for(kb, &lj);
  kb_end_for(kb, &li);
  kb_end_for(kb, &lo);
  kb_end_if(kb, &any);
#undef SRC
#undef DST
}

//
// Unique: distinct elements (no axis: of the flattened input) or distinct slices along an
// axis, sorted ascending (lexicographically for slices) or in order of first occurrence, with
// the index of each one's first occurrence, the inverse mapping and the counts.
//
typedef struct {
  int axis;                // -1: flattened
  int64_t outer, n, inner; // the input viewed as [outer, n, inner]; slices are j in [0, n)
} UniqueGeom;

void infer_Unique(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape;
  if (n->in[0]->dtype == DT_STRING)
    fatal_at(cc, n, "string input is not supported");
  UniqueGeom *g = pool_alloc(&cc->pool, sizeof(UniqueGeom));
  const Attr *a = node_attr(n, "axis");
  g->axis = a ? norm_axis(cc, n, a->i, x->rank) : -1;
  g->outer = g->inner = 1;
  g->n = g->axis < 0 ? shape_numel(x) : x->dim[g->axis];
  for (int d = 0; d < g->axis; d++)
    g->outer *= x->dim[d];
  for (int d = g->axis + 1; g->axis >= 0 && d < x->rank; d++)
    g->inner *= x->dim[d];
  n->priv = g;
  Shape y = g->axis < 0 ? (Shape){.rank = 1, .dim = {g->n}} : *x;
  Shape list = {.rank = 1, .dim = {g->n}};
  set_output(n, 0, n->in[0]->dtype, y);
  set_output(n, 1, DT_I64, list);
  set_output(n, 2, DT_I64, list);
  set_output(n, 3, DT_I64, list);
  for (int i = 0; i < n->nout; i++)
    if (n->out[i] && i != 2) // the inverse indices have one entry per input slice
      n->out[i]->dynamic = DYN_DIM(i == 0 && g->axis >= 0 ? g->axis : 0);
  n->scratch = 4 * 8 * (g->n > 0 ? g->n : 1); // first, count, slot_of (per slice), rank
}

// Element e of slice j (e in [0, outer*inner)).
static LLVMValueRef slice_elem(KB *kb, const UniqueGeom *g, LLVMValueRef j, LLVMValueRef e) {
  LLVMValueRef o = LLVMBuildUDiv(kb->b, e, kb_idx(kb, g->inner), ""), i = LLVMBuildURem(kb->b, e, kb_idx(kb, g->inner), "");
  LLVMValueRef at = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, o, kb_idx(kb, g->n), ""), j, "");
  return LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, at, kb_idx(kb, g->inner), ""), i, "");
}

// Three-way lexicographic comparison of slices a and b: -1, 0 or 1 (i32).
static LLVMValueRef compare_slices(KB *kb, Node *n, const UniqueGeom *g, LLVMValueRef a, LLVMValueRef b) {
  DType dt = n->in[0]->dtype, ct = dtype_compute(dt);
  LLVMTypeRef i32 = LLVMInt32TypeInContext(kb->ctx);
  LLVMValueRef state = kb_var(kb, i32, LLVMConstInt(i32, 0, 0));
  Loop le;
  LLVMValueRef e = kb_for(kb, &le, g->outer * g->inner);
  LLVMValueRef x = kb_load(kb, dt, kb->in[0], slice_elem(kb, g, a, e));
  LLVMValueRef y = kb_load(kb, dt, kb->in[0], slice_elem(kb, g, b, e));
  if (dt == DT_BOOL) { // compare as integers
    x = LLVMBuildZExt(kb->b, x, i32, ""), y = LLVMBuildZExt(kb->b, y, i32, "");
    ct = DT_I32;
  }
  LLVMValueRef s = kb_get(kb, i32, state);
  LLVMValueRef d = kb_select(kb, kb_lt(kb, ct, x, y), LLVMConstInt(i32, (unsigned long long)-1, 1),
                             kb_select(kb, kb_gt(kb, ct, x, y), LLVMConstInt(i32, 1, 0), LLVMConstInt(i32, 0, 0)));
  kb_set(kb, state, kb_select(kb, LLVMBuildICmp(kb->b, LLVMIntEQ, s, LLVMConstInt(i32, 0, 0), ""), d, s));
  kb_end_for(kb, &le);
  return kb_get(kb, i32, state);
}

void lower_Unique(KB *kb, Node *n) {
  const UniqueGeom *g = n->priv;
  LLVMTypeRef i64 = LLVMInt64TypeInContext(kb->ctx), i32 = LLVMInt32TypeInContext(kb->ctx);
  LLVMValueRef first = kb->scratch;                                  // per unique: its first slice
  LLVMValueRef count = kb_gep(kb, DT_I64, kb->scratch, kb_idx(kb, g->n));     // per unique
  LLVMValueRef unique_of = kb_gep(kb, DT_I64, kb->scratch, kb_idx(kb, 2 * g->n)); // per slice
  LLVMValueRef rank = kb_gep(kb, DT_I64, kb->scratch, kb_idx(kb, 3 * g->n));  // per unique
#define I64(v) LLVMBuildIntCast2(kb->b, v, i64, 1, "")
#define IDX(v) LLVMBuildIntCast2(kb->b, v, kb->t_idx, 1, "")
  // Pass 1: uniques in order of first occurrence.
  LLVMValueRef nu = kb_var(kb, kb->t_idx, kb_idx(kb, 0));
  Loop lj, lk;
  LLVMValueRef j = kb_for(kb, &lj, g->n);
  LLVMValueRef found = kb_var(kb, kb->t_idx, kb_idx(kb, -1));
  LLVMValueRef k = kb_for_v(kb, &lk, kb_idx(kb, 0), kb_get(kb, kb->t_idx, nu), 1);
  IfBlock unseen;
  kb_if(kb, &unseen, LLVMBuildICmp(kb->b, LLVMIntSLT, kb_get(kb, kb->t_idx, found), kb_idx(kb, 0), ""));
  LLVMValueRef same = LLVMBuildICmp(kb->b, LLVMIntEQ, compare_slices(kb, n, g, IDX(kb_load(kb, DT_I64, first, k)), j),
                                    LLVMConstInt(i32, 0, 0), "");
  kb_set(kb, found, kb_select(kb, same, k, kb_get(kb, kb->t_idx, found)));
  kb_end_if(kb, &unseen);
  kb_end_for(kb, &lk);
  LLVMValueRef f = kb_get(kb, kb->t_idx, found);
  IfBlock is_new;
  kb_if(kb, &is_new, LLVMBuildICmp(kb->b, LLVMIntSLT, f, kb_idx(kb, 0), ""));
  LLVMValueRef u = kb_get(kb, kb->t_idx, nu);
  kb_store(kb, DT_I64, first, u, I64(j));
  kb_store(kb, DT_I64, count, u, LLVMConstInt(i64, 1, 0));
  kb_store(kb, DT_I64, unique_of, j, I64(u));
  kb_set(kb, nu, LLVMBuildAdd(kb->b, u, kb_idx(kb, 1), ""));
  kb_else(kb, &is_new);
  kb_store(kb, DT_I64, count, f, LLVMBuildAdd(kb->b, kb_load(kb, DT_I64, count, f), LLVMConstInt(i64, 1, 0), ""));
  kb_store(kb, DT_I64, unique_of, j, I64(f));
  kb_end_if(kb, &is_new);
  kb_end_for(kb, &lj);
  LLVMValueRef total = kb_get(kb, kb->t_idx, nu);
  // Pass 2: each unique's output slot, its rank among the uniques when sorted.
  bool sorted = attr_int(n, "sorted", 1);
  Loop la, lb;
  LLVMValueRef a = kb_for_v(kb, &la, kb_idx(kb, 0), total, 1);
  LLVMValueRef r = kb_var(kb, i64, LLVMConstInt(i64, 0, 0));
  if (sorted) {
    LLVMValueRef b = kb_for_v(kb, &lb, kb_idx(kb, 0), total, 1);
    LLVMValueRef cmp = compare_slices(kb, n, g, IDX(kb_load(kb, DT_I64, first, b)), IDX(kb_load(kb, DT_I64, first, a)));
    LLVMValueRef less = LLVMBuildICmp(kb->b, LLVMIntSLT, cmp, LLVMConstInt(i32, 0, 0), "");
    kb_set(kb, r, LLVMBuildAdd(kb->b, kb_get(kb, i64, r), LLVMBuildZExt(kb->b, less, i64, ""), ""));
    kb_end_for(kb, &lb);
  } else {
    kb_set(kb, r, I64(a));
  }
  LLVMValueRef slot = IDX(kb_get(kb, i64, r));
  kb_store(kb, DT_I64, rank, a, I64(slot));
  // Pass 3: the outputs.
  LLVMValueRef fa = IDX(kb_load(kb, DT_I64, first, a));
  if (n->out[0]) { // slice `slot` of Y, whose axis has `total` slices
    Loop le;
    LLVMValueRef e = kb_for(kb, &le, g->outer * g->inner);
    LLVMValueRef o = LLVMBuildUDiv(kb->b, e, kb_idx(kb, g->inner), ""), i = LLVMBuildURem(kb->b, e, kb_idx(kb, g->inner), "");
    LLVMValueRef at = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, o, total, ""), slot, ""),
                                                       kb_idx(kb, g->inner), ""), i, "");
    copy_element(kb, n->in[0]->dtype, kb->out[0], at, kb->in[0], slice_elem(kb, g, fa, e));
    kb_end_for(kb, &le);
  }
  if (n->nout > 1 && n->out[1])
    kb_store(kb, DT_I64, kb->out[1], slot, I64(fa));
  if (n->nout > 3 && n->out[3])
    kb_store(kb, DT_I64, kb->out[3], slot, kb_load(kb, DT_I64, count, a));
  kb_end_for(kb, &la);
  if (n->nout > 2 && n->out[2]) {
    j = kb_for(kb, &lj, g->n);
    kb_store(kb, DT_I64, kb->out[2], j, kb_load(kb, DT_I64, rank, IDX(kb_load(kb, DT_I64, unique_of, j))));
    kb_end_for(kb, &lj);
  }
  // Actual dims: `total` slices.
  RtShape list = {.rank = 1, .dim = {total}};
  if (n->out[0]) {
    RtShape ys = kb_shape_const(kb, &n->out[0]->shape);
    ys.dim[g->axis < 0 ? 0 : g->axis] = total;
    kb_set_out_shape(kb, 0, &ys);
  }
  for (int i = 1; i < n->nout; i++)
    kb_set_out_shape(kb, i, &list);
#undef I64
#undef IDX
}
