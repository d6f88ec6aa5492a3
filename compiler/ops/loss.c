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

typedef struct {
  DType dt;
  const LossGeom *g;
  LLVMValueRef base, max;
} ClassTerm;

// exp(x - max) of class IDX[0].
static void class_exp_term(KB *kb, LLVMValueRef *idx, LLVMValueRef *terms, void *ctx) {
  const ClassTerm *c = ctx;
  DType ct = dtype_compute(c->dt);
  LLVMValueRef at = LLVMBuildAdd(kb->b, c->base, LLVMBuildMul(kb->b, idx[0], kb_idx(kb, c->g->d), ""), "");
  terms[0] = math_exp(kb, ct, kb_sub(kb, ct, kb_load(kb, c->dt, kb->in[0], at), c->max));
}

// log(sum(exp(x - max))) + max over the classes at (i, d): the log-softmax normalizer.
static LLVMValueRef log_sum_exp(KB *kb, DType dt, const LossGeom *g, LLVMValueRef base) {
  DType ct = dtype_compute(dt);
  LLVMTypeRef t = kb_ctype(kb, ct);
  LLVMValueRef mx = kb_var(kb, t, kb_load(kb, dt, kb->in[0], base));
  Loop l;
  LLVMValueRef c = kb_for(kb, &l, g->c);
  LLVMValueRef at = LLVMBuildAdd(kb->b, base, LLVMBuildMul(kb->b, c, kb_idx(kb, g->d), ""), "");
  kb_set(kb, mx, kb_max(kb, ct, kb_get(kb, t, mx), kb_load(kb, dt, kb->in[0], at)));
  kb_end_for(kb, &l);
  ClassTerm term = {dt, g, base, kb_get(kb, t, mx)};
  LLVMValueRef sum;
  kb_sum(kb, 1, &t, 1, &g->c, NULL, class_exp_term, &term, &sum);
  return kb_add(kb, ct, math_log(kb, ct, sum), term.max);
}

// The loss and weight of target position (IDX[0], IDX[1]), its loss stored when not reduced.
static void position_term(KB *kb, LLVMValueRef *idx, LLVMValueRef *terms, void *ctx) {
  const Node *n = ctx;
  const LossGeom *g = n->priv;
  bool softmax = n->op->kind == OP_SoftmaxCrossEntropyLoss;
  DType dt = n->in[0]->dtype, ct = dtype_compute(dt), it = n->in[1]->dtype;
  const Attr *ii = node_attr(n, "ignore_index");
  LLVMValueRef i = idx[0], d = idx[1];
  Loop lc;
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
  terms[0] = loss;
  terms[1] = w;
}

void lower_loss(KB *kb, Node *n) {
  const LossGeom *g = n->priv;
  DType dt = n->in[0]->dtype, ct = dtype_compute(dt);
  LLVMTypeRef types[2] = {kb_ctype(kb, ct), kb_ctype(kb, ct)};
  int64_t dims[2] = {g->n, g->d};
  LLVMValueRef sums[2]; // of the losses and of the weights
  kb_sum(kb, 2, types, 2, dims, NULL, position_term, n, sums);
  if (g->reduction == LOSS_SUM)
    kb_store(kb, dt, kb->out[0], kb_idx(kb, 0), sums[0]);
  else if (g->reduction == LOSS_MEAN)
    kb_store(kb, dt, kb->out[0], kb_idx(kb, 0), kb_div(kb, ct, sums[0], sums[1]));
}
