// softmax.c — Softmax, LogSoftmax and Hardmax over one axis (opset >= 13) or over the
// flattened trailing dims from `axis` (opset < 13).
#include "../compiler.h"
#include "gemm_kernel.h"
#include "ops.h"

#include <math.h>

typedef struct {
  int64_t outer, len, inner; // the input viewed as [outer, len, inner], normalized over len
} AxisSplit;

void infer_softmax(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape;
  int axis = norm_axis(cc, n, attr_int(n, "axis", n->opset < 13 ? 1 : -1), x->rank);
  AxisSplit *s = pool_alloc(&cc->pool, sizeof(AxisSplit));
  s->outer = s->len = s->inner = 1;
  for (int d = 0; d < x->rank; d++) {
    if (d < axis)
      s->outer *= x->dim[d];
    else if (d == axis || n->opset < 13)
      s->len *= x->dim[d];
    else
      s->inner *= x->dim[d];
  }
  n->priv = s;
  set_output(n, 0, n->in[0]->dtype, *x);
}

//
// f32 Softmax and LogSoftmax over a contiguous axis, in explicit vectors of the target's
// width: a vector maximum, exp(x - max) stored and summed, then the scaling pass. The tail
// of a row is masked (lanes past it are -inf for the maximum, 0 for the sum).
//
static LLVMValueRef horizontal(KB *kb, LLVMValueRef v, int vl, bool is_max) {
  LLVMValueRef r = vl > 1 ? LLVMBuildExtractElement(kb->b, v, kb_idx(kb, 0), "") : v;
  for (int i = 1; i < vl; i++) {
    LLVMValueRef e = LLVMBuildExtractElement(kb->b, v, kb_idx(kb, i), "");
    r = is_max ? kb_max(kb, DT_F32, r, e) : LLVMBuildFAdd(kb->b, r, e, "");
  }
  return r;
}

typedef struct {
  LLVMValueRef at;    // element offset of the vector
  int valid;          // lanes in the row
  LLVMValueRef mask;  // NULL for whole vectors
} RowVec;

// Calls BODY for each vector of a row of LEN floats starting at BASE.
static void for_row_vectors(KB *kb, LLVMValueRef base, int64_t len, int vl, void (*body)(KB *, const RowVec *, void *),
                            void *ctx) {
  int64_t full = len / vl, rest = len - full * vl;
  if (full > 0) {
    Loop l;
    LLVMValueRef i = kb_for(kb, &l, full);
    RowVec rv = {LLVMBuildAdd(kb->b, base, LLVMBuildMul(kb->b, i, kb_idx(kb, vl), ""), ""), vl, NULL};
    body(kb, &rv, ctx);
    kb_end_for(kb, &l);
  }
  if (rest > 0) {
    RowVec rv = {LLVMBuildAdd(kb->b, base, kb_idx(kb, full * vl), ""), (int)rest, vec_mask(kb, vl, (int)rest)};
    body(kb, &rv, ctx);
  }
}

typedef struct {
  Node *n;
  int vl;
  LLVMTypeRef vt;
  LLVMValueRef acc;        // the maximum's vector accumulator variable
  LLVMValueRef base;       // the row's first element
  LLVMValueRef mx, scale;  // row maximum (splat); the final pass's factor or shift (splat)
} RowPass;

static void max_pass(KB *kb, const RowVec *rv, void *ctx) {
  RowPass *p = ctx;
  LLVMValueRef x = vec_load(kb, kb->in[0], rv->at, p->vl, rv->valid);
  if (rv->mask)
    x = kb_select(kb, rv->mask, x, vec_splat(kb, LLVMConstReal(LLVMFloatTypeInContext(kb->ctx), -INFINITY), p->vl));
  kb_set(kb, p->acc, kb_max(kb, DT_F32, kb_get(kb, p->vt, p->acc), x));
}

// exp(x - max) of one vector of a row, stored for Softmax; lanes past the row are 0.
static LLVMValueRef exp_vector(KB *kb, const RowVec *rv, const RowPass *p) {
  LLVMValueRef x = vec_load(kb, kb->in[0], rv->at, p->vl, rv->valid);
  LLVMValueRef e = math_exp(kb, DT_F32, LLVMBuildFSub(kb->b, x, p->mx, ""));
  if (rv->mask)
    e = kb_select(kb, rv->mask, e, LLVMConstNull(p->vt));
  if (p->n->op->kind == OP_Softmax)
    vec_store(kb, kb->out[0], rv->at, e, p->vl, rv->valid);
  return e;
}

// The terms of the denominator: the row's whole vectors.
static void exp_term(KB *kb, LLVMValueRef *idx, LLVMValueRef *terms, void *ctx) {
  const RowPass *p = ctx;
  RowVec rv = {LLVMBuildAdd(kb->b, p->base, LLVMBuildMul(kb->b, idx[0], kb_idx(kb, p->vl), ""), ""), p->vl, NULL};
  terms[0] = exp_vector(kb, &rv, p);
}

static void final_pass(KB *kb, const RowVec *rv, void *ctx) {
  RowPass *p = ctx;
  LLVMValueRef y = p->n->op->kind == OP_Softmax
                       ? LLVMBuildFMul(kb->b, vec_load(kb, kb->out[0], rv->at, p->vl, rv->valid), p->scale, "")
                       : LLVMBuildFSub(kb->b, vec_load(kb, kb->in[0], rv->at, p->vl, rv->valid), p->scale, "");
  vec_store(kb, kb->out[0], rv->at, y, p->vl, rv->valid);
}

static void lower_softmax_rows(KB *kb, Node *n, const AxisSplit *s) {
  int vl = vec_lanes(kb->cc);
  LLVMTypeRef f32 = LLVMFloatTypeInContext(kb->ctx);
  RowPass p = {.n = n, .vl = vl, .vt = vl > 1 ? LLVMVectorType(f32, (unsigned)vl) : f32};
  Loop lo;
  LLVMValueRef base = LLVMBuildMul(kb->b, kb_for(kb, &lo, s->outer), kb_idx(kb, s->len), "");
  p.acc = kb_var(kb, p.vt, vec_splat(kb, LLVMConstReal(f32, -INFINITY), vl));
  for_row_vectors(kb, base, s->len, vl, max_pass, &p);
  LLVMValueRef mx = horizontal(kb, kb_get(kb, p.vt, p.acc), vl, true);
  p.mx = vec_splat(kb, mx, vl);
  p.base = base;
  int64_t full = s->len / vl, rest = s->len - full * vl;
  LLVMValueRef vsum;
  kb_sum(kb, 1, &p.vt, 1, &full, NULL, exp_term, &p, &vsum);
  if (rest > 0) {
    RowVec tail = {LLVMBuildAdd(kb->b, base, kb_idx(kb, full * vl), ""), (int)rest, vec_mask(kb, vl, (int)rest)};
    vsum = LLVMBuildFAdd(kb->b, vsum, exp_vector(kb, &tail, &p), "");
  }
  LLVMValueRef sum = horizontal(kb, vsum, vl, false);
  p.scale = vec_splat(kb, n->op->kind == OP_Softmax ? LLVMBuildFDiv(kb->b, LLVMConstReal(f32, 1.0), sum, "")
                                                    : LLVMBuildFAdd(kb->b, mx, math_log(kb, DT_F32, sum), ""), vl);
  for_row_vectors(kb, base, s->len, vl, final_pass, &p);
  kb_end_for(kb, &lo);
}

// The split of the input's run-time dims (constants when they are static).
static void split_dims(KB *kb, const Node *n, LLVMValueRef *outer, LLVMValueRef *len, LLVMValueRef *inner) {
  RtShape x = kb_in_shape(kb, 0);
  int axis = norm_axis(kb->cc, n, attr_int(n, "axis", n->opset < 13 ? 1 : -1), x.rank);
  *outer = kb_numel_range(kb, &x, 0, axis);
  *len = kb_numel_range(kb, &x, axis, n->opset < 13 ? x.rank : axis + 1);
  *inner = kb_numel_range(kb, &x, n->opset < 13 ? x.rank : axis + 1, x.rank);
}

typedef struct {
  Node *n;
  LLVMValueRef base, inner, mx;
} ExpTerm;

// exp(x - max) at index IDX[0] of the axis, stored for Softmax.
static void strided_exp_term(KB *kb, LLVMValueRef *idx, LLVMValueRef *terms, void *ctx) {
  const ExpTerm *e = ctx;
  DType dt = e->n->out[0]->dtype, ct = dtype_compute(dt);
  LLVMValueRef at = LLVMBuildAdd(kb->b, e->base, LLVMBuildMul(kb->b, idx[0], e->inner, ""), "");
  terms[0] = math_exp(kb, ct, kb_sub(kb, ct, kb_load(kb, dt, kb->in[0], at), e->mx));
  if (e->n->op->kind == OP_Softmax)
    kb_store(kb, dt, kb->out[0], at, terms[0]);
}

void lower_softmax(KB *kb, Node *n) {
  const AxisSplit *s = n->priv;
  if (s->inner == 1 && n->op->kind != OP_Hardmax && n->out[0]->dtype == DT_F32 && s->len > 0 && !n->in[0]->dynamic) {
    lower_softmax_rows(kb, n, s);
    return;
  }
  DType dt = n->out[0]->dtype, ct = dtype_compute(dt);
  LLVMTypeRef t = kb_ctype(kb, ct);
  OpKind kind = n->op->kind;
  Loop lo, li, lk;
  LLVMValueRef outer, len, inner, zero = kb_idx(kb, 0);
  split_dims(kb, n, &outer, &len, &inner);
  LLVMValueRef o = kb_for_v(kb, &lo, zero, outer, 1), in = kb_for_v(kb, &li, zero, inner, 1);
  LLVMValueRef base = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, o, LLVMBuildMul(kb->b, len, inner, ""), ""), in, "");
#define AT(k) LLVMBuildAdd(kb->b, base, LLVMBuildMul(kb->b, k, inner, ""), "")
  LLVMValueRef maxv = kb_var(kb, t, kb_const(kb, ct, -INFINITY));
  LLVMValueRef argmax = kb_var(kb, kb->t_idx, kb_idx(kb, 0));
  LLVMValueRef k = kb_for_v(kb, &lk, zero, len, 1);
  LLVMValueRef v = kb_load(kb, dt, kb->in[0], AT(k));
  LLVMValueRef better = kb_gt(kb, ct, v, kb_get(kb, t, maxv));
  kb_set(kb, argmax, kb_select(kb, better, k, kb_get(kb, kb->t_idx, argmax)));
  kb_set(kb, maxv, kb_select(kb, better, v, kb_get(kb, t, maxv)));
  kb_end_for(kb, &lk);
  if (kind == OP_Hardmax) {
    k = kb_for_v(kb, &lk, zero, len, 1);
    LLVMValueRef hit = LLVMBuildICmp(kb->b, LLVMIntEQ, k, kb_get(kb, kb->t_idx, argmax), "");
    kb_store(kb, dt, kb->out[0], AT(k), kb_select(kb, hit, kb_const(kb, ct, 1.0), kb_const(kb, ct, 0.0)));
    kb_end_for(kb, &lk);
  } else {
    LLVMValueRef mx = kb_get(kb, t, maxv), total;
    ExpTerm term = {n, base, inner, mx};
    kb_sum(kb, 1, &t, 1, &s->len, n->in[0]->dynamic ? &len : NULL, strided_exp_term, &term, &total);
    LLVMValueRef shift = kind == OP_LogSoftmax ? kb_add(kb, ct, mx, math_log(kb, ct, total)) : NULL;
    LLVMValueRef inv = kind == OP_Softmax ? kb_div(kb, ct, kb_const(kb, ct, 1.0), total) : NULL;
    k = kb_for_v(kb, &lk, zero, len, 1);
    LLVMValueRef r = kind == OP_Softmax ? kb_mul(kb, ct, kb_load(kb, dt, kb->out[0], AT(k)), inv)
                                        : kb_sub(kb, ct, kb_load(kb, dt, kb->in[0], AT(k)), shift);
    kb_store(kb, dt, kb->out[0], AT(k), r);
    kb_end_for(kb, &lk);
  }
#undef AT
  kb_end_for(kb, &li);
  kb_end_for(kb, &lo);
}
