// softmax.c — Softmax, LogSoftmax and Hardmax over one axis (opset >= 13) or over the
// flattened trailing dims from `axis` (opset < 13).
#include "../compiler.h"
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

void lower_softmax(KB *kb, Node *n) {
  const AxisSplit *s = n->priv;
  DType dt = n->out[0]->dtype, ct = dtype_compute(dt);
  LLVMTypeRef t = kb_ctype(kb, ct);
  OpKind kind = n->op->kind;
  Loop lo, li, lk;
  LLVMValueRef o = kb_for(kb, &lo, s->outer), in = kb_for(kb, &li, s->inner);
  LLVMValueRef base = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, o, kb_idx(kb, s->len * s->inner), ""), in, "");
#define AT(k) LLVMBuildAdd(kb->b, base, LLVMBuildMul(kb->b, k, kb_idx(kb, s->inner), ""), "")
  LLVMValueRef maxv = kb_var(kb, t, kb_const(kb, ct, -INFINITY));
  LLVMValueRef argmax = kb_var(kb, kb->t_idx, kb_idx(kb, 0));
  LLVMValueRef k = kb_for(kb, &lk, s->len);
  LLVMValueRef v = kb_load(kb, dt, kb->in[0], AT(k));
  LLVMValueRef better = kb_gt(kb, ct, v, kb_get(kb, t, maxv));
  kb_set(kb, argmax, kb_select(kb, better, k, kb_get(kb, kb->t_idx, argmax)));
  kb_set(kb, maxv, kb_select(kb, better, v, kb_get(kb, t, maxv)));
  kb_end_for(kb, &lk);
  if (kind == OP_Hardmax) {
    k = kb_for(kb, &lk, s->len);
    LLVMValueRef hit = LLVMBuildICmp(kb->b, LLVMIntEQ, k, kb_get(kb, kb->t_idx, argmax), "");
    kb_store(kb, dt, kb->out[0], AT(k), kb_select(kb, hit, kb_const(kb, ct, 1.0), kb_const(kb, ct, 0.0)));
    kb_end_for(kb, &lk);
  } else {
    LLVMValueRef mx = kb_get(kb, t, maxv);
    LLVMValueRef sum = kb_var(kb, t, kb_const(kb, ct, 0.0));
    k = kb_for(kb, &lk, s->len);
    LLVMValueRef e = math_exp(kb, ct, kb_sub(kb, ct, kb_load(kb, dt, kb->in[0], AT(k)), mx));
    if (kind == OP_Softmax)
      kb_store(kb, dt, kb->out[0], AT(k), e);
    kb_set(kb, sum, kb_add(kb, ct, kb_get(kb, t, sum), e));
    kb_end_for(kb, &lk);
    LLVMValueRef total = kb_get(kb, t, sum);
    LLVMValueRef shift = kind == OP_LogSoftmax ? kb_add(kb, ct, mx, math_log(kb, ct, total)) : NULL;
    LLVMValueRef inv = kind == OP_Softmax ? kb_div(kb, ct, kb_const(kb, ct, 1.0), total) : NULL;
    k = kb_for(kb, &lk, s->len);
    LLVMValueRef r = kind == OP_Softmax ? kb_mul(kb, ct, kb_load(kb, dt, kb->out[0], AT(k)), inv)
                                        : kb_sub(kb, ct, kb_load(kb, dt, kb->in[0], AT(k)), shift);
    kb_store(kb, dt, kb->out[0], AT(k), r);
    kb_end_for(kb, &lk);
  }
#undef AT
  kb_end_for(kb, &li);
  kb_end_for(kb, &lo);
}
