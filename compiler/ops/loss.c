// loss.c — NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (log-softmax over the class
// axis, then the same loss). Inputs are [N, C, d1..dk] viewed as [N, C, D]; targets [N, D].
// Every target position contributes w = weight[target] (1 without weights, 0 when it equals
// ignore_index) and loss -w * logp[n, target, d]; `mean` divides the sum by the sum of w.
#include "../compiler.h"
#include "ops.h"

#include <string.h>

typedef enum { LOSS_NONE, LOSS_SUM, LOSS_MEAN } LossReduction;

typedef struct {
  int64_t n, c, d;         // input viewed as [N, C, D]
  LossReduction reduction;
} LossGeom;

void infer_loss(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape, *t = &n->in[1]->shape;
  Value *w = node_input(n, 2);
  if (!dtype_is_float(n->in[0]->dtype))
    fatal_at(cc, n, "input of type %s is not supported", dtype_onnx_name(n->in[0]->dtype));
  if (n->in[1]->dtype != DT_I32 && n->in[1]->dtype != DT_I64)
    fatal_at(cc, n, "targets must be int32 or int64");
  if (x->rank < 2 || t->rank != x->rank - 1 || t->dim[0] != x->dim[0])
    fatal_at(cc, n, "input %s and target %s do not match ([N, C, d...] and [N, d...])", shape_str(&cc->pool, x),
             shape_str(&cc->pool, t));
  for (int i = 2; i < x->rank; i++)
    if (t->dim[i - 1] != x->dim[i])
      fatal_at(cc, n, "input %s and target %s do not match ([N, C, d...] and [N, d...])", shape_str(&cc->pool, x),
               shape_str(&cc->pool, t));
  if (w && (w->shape.rank != 1 || w->shape.dim[0] != x->dim[1] || w->dtype != n->in[0]->dtype))
    fatal_at(cc, n, "weight must be a [C] tensor of the input's type");
  LossGeom *g = pool_alloc(&cc->pool, sizeof(LossGeom));
  g->n = x->dim[0];
  g->c = x->dim[1];
  g->d = shape_numel(t) / (g->n ? g->n : 1);
  const char *r = attr_string(n, "reduction", "mean");
  g->reduction = !strcmp(r, "none") ? LOSS_NONE : !strcmp(r, "sum") ? LOSS_SUM : LOSS_MEAN;
  if (g->reduction == LOSS_MEAN && strcmp(r, "mean"))
    fatal_at(cc, n, "reduction '%s' is not supported", r);
  n->priv = g;
  set_output(n, 0, n->in[0]->dtype, g->reduction == LOSS_NONE ? *t : (Shape){0});
  set_output(n, 1, n->in[0]->dtype, *x); // SoftmaxCrossEntropyLoss: log_prob
}

// log(sum(exp(x - max))) + max over the classes at (i, d): the log-softmax normalizer.
static LLVMValueRef log_sum_exp(KB *kb, DType dt, const LossGeom *g, LLVMValueRef base) {
  DType ct = dtype_compute(dt);
  LLVMTypeRef t = kb_ctype(kb, ct);
  LLVMValueRef mx = kb_var(kb, t, kb_load(kb, dt, kb->in[0], base)), sum = kb_var(kb, t, kb_const(kb, ct, 0));
  Loop l;
  LLVMValueRef c = kb_for(kb, &l, g->c);
  LLVMValueRef at = LLVMBuildAdd(kb->b, base, LLVMBuildMul(kb->b, c, kb_idx(kb, g->d), ""), "");
  kb_set(kb, mx, kb_max(kb, ct, kb_get(kb, t, mx), kb_load(kb, dt, kb->in[0], at)));
  kb_end_for(kb, &l);
  LLVMValueRef m = kb_get(kb, t, mx);
  c = kb_for(kb, &l, g->c);
  at = LLVMBuildAdd(kb->b, base, LLVMBuildMul(kb->b, c, kb_idx(kb, g->d), ""), "");
  kb_set(kb, sum, kb_add(kb, ct, kb_get(kb, t, sum), math_exp(kb, ct, kb_sub(kb, ct, kb_load(kb, dt, kb->in[0], at), m))));
  kb_end_for(kb, &l);
  return kb_add(kb, ct, math_log(kb, ct, kb_get(kb, t, sum)), m);
}

void lower_loss(KB *kb, Node *n) {
  const LossGeom *g = n->priv;
  bool softmax = n->op->kind == OP_SoftmaxCrossEntropyLoss;
  DType dt = n->in[0]->dtype, ct = dtype_compute(dt), it = n->in[1]->dtype;
  LLVMTypeRef t = kb_ctype(kb, ct);
  const Attr *ii = node_attr(n, "ignore_index");
  LLVMValueRef sum = kb_var(kb, t, kb_const(kb, ct, 0)), wsum = kb_var(kb, t, kb_const(kb, ct, 0));
  Loop li, ld, lc;
  LLVMValueRef i = kb_for(kb, &li, g->n), d = kb_for(kb, &ld, g->d);
  LLVMValueRef base = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, i, kb_idx(kb, g->c * g->d), ""), d, "");
  LLVMValueRef pos = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, i, kb_idx(kb, g->d), ""), d, "");
  LLVMValueRef lse = softmax ? log_sum_exp(kb, dt, g, base) : NULL;
  if (softmax && n->nout > 1 && n->out[1]) {
    LLVMValueRef c = kb_for(kb, &lc, g->c);
    LLVMValueRef at = LLVMBuildAdd(kb->b, base, LLVMBuildMul(kb->b, c, kb_idx(kb, g->d), ""), "");
    kb_store(kb, dt, kb->out[1], at, kb_sub(kb, ct, kb_load(kb, dt, kb->in[0], at), lse));
    kb_end_for(kb, &lc);
  }
  LLVMValueRef target = LLVMBuildIntCast2(kb->b, kb_load(kb, it, kb->in[1], pos), LLVMInt64TypeInContext(kb->ctx), 1, "");
  LLVMValueRef ignored = LLVMConstInt(LLVMInt1TypeInContext(kb->ctx), 0, 0);
  if (ii)
    ignored = LLVMBuildICmp(kb->b, LLVMIntEQ, target, LLVMConstInt(LLVMInt64TypeInContext(kb->ctx), (unsigned long long)ii->i, 1), "");
  // Out-of-range targets (only meaningful when ignored) are clamped: no read outside the input.
  LLVMValueRef tc = LLVMBuildIntCast2(kb->b, target, kb->t_idx, 1, "");
  tc = kb_min(kb, DT_I64, kb_max(kb, DT_I64, tc, kb_idx(kb, 0)), kb_idx(kb, g->c - 1));
  LLVMValueRef w = node_input(n, 2) ? kb_load(kb, dt, kb->in[2], tc) : kb_const(kb, ct, 1);
  w = kb_select(kb, ignored, kb_const(kb, ct, 0), w);
  LLVMValueRef logp = kb_load(kb, dt, kb->in[0], LLVMBuildAdd(kb->b, base, LLVMBuildMul(kb->b, tc, kb_idx(kb, g->d), ""), ""));
  if (softmax)
    logp = kb_sub(kb, ct, logp, lse);
  LLVMValueRef loss = kb_select(kb, ignored, kb_const(kb, ct, 0), kb_neg(kb, ct, kb_mul(kb, ct, logp, w)));
  if (g->reduction == LOSS_NONE)
    kb_store(kb, dt, kb->out[0], pos, loss);
  kb_set(kb, sum, kb_add(kb, ct, kb_get(kb, t, sum), loss));
  kb_set(kb, wsum, kb_add(kb, ct, kb_get(kb, t, wsum), w));
  kb_end_for(kb, &ld);
  kb_end_for(kb, &li);
  if (g->reduction == LOSS_SUM)
    kb_store(kb, dt, kb->out[0], kb_idx(kb, 0), kb_get(kb, t, sum));
  else if (g->reduction == LOSS_MEAN)
    kb_store(kb, dt, kb->out[0], kb_idx(kb, 0), kb_div(kb, ct, kb_get(kb, t, sum), kb_get(kb, t, wsum)));
}
