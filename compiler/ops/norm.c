// norm.c — normalization: BatchNormalization (inference mode).
#include "../compiler.h"
#include "ops.h"

#include <math.h>

void infer_BatchNormalization(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape;
  if (attr_int(n, "training_mode", 0))
    fatal_at(cc, n, "training mode is not supported");
  if (x->rank < 2)
    fatal_at(cc, n, "input must have rank >= 2");
  for (int i = 1; i < 5; i++)
    if (!n->in[i] || shape_numel(&n->in[i]->shape) != x->dim[1])
      fatal_at(cc, n, "input %d must hold %lld per-channel values", i, (long long)x->dim[1]);
  set_output(n, 0, n->in[0]->dtype, *x);
  for (int i = 1; i < n->nout; i++)
    if (n->out[i])
      fatal_at(cc, n, "training outputs (running mean and variance) are not supported");
}

void lower_BatchNormalization(KB *kb, Node *n) {
  const Shape *x = &n->in[0]->shape;
  DType dt = n->out[0]->dtype, ct = dtype_compute(dt);
  int64_t C = x->dim[1], planes = x->dim[0] * C, inner = planes ? shape_numel(x) / planes : 0;
  double eps = attr_float(n, "epsilon", 1e-5f);
  Loop ln, lc, li;
  LLVMValueRef nn = kb_for(kb, &ln, x->dim[0]);
  LLVMValueRef c = kb_for(kb, &lc, C);
  LLVMValueRef scale = kb_convert(kb, kb_load(kb, n->in[1]->dtype, kb->in[1], c), n->in[1]->dtype, ct);
  LLVMValueRef bias = kb_convert(kb, kb_load(kb, n->in[2]->dtype, kb->in[2], c), n->in[2]->dtype, ct);
  LLVMValueRef mean = kb_convert(kb, kb_load(kb, n->in[3]->dtype, kb->in[3], c), n->in[3]->dtype, ct);
  LLVMValueRef var = kb_convert(kb, kb_load(kb, n->in[4]->dtype, kb->in[4], c), n->in[4]->dtype, ct);
  LLVMValueRef sd = kb_call_intrinsic(kb, "llvm.sqrt", kb_ctype(kb, ct),
                                      (LLVMValueRef[]){kb_add(kb, ct, var, kb_const(kb, ct, eps))}, 1);
  LLVMValueRef a = kb_div(kb, ct, scale, sd);
  LLVMValueRef b = kb_sub(kb, ct, bias, kb_mul(kb, ct, mean, a));
  LLVMValueRef base = LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, nn, kb_idx(kb, C), ""), c, ""), kb_idx(kb, inner), "");
  LLVMValueRef i = kb_for(kb, &li, inner);
  LLVMValueRef off = LLVMBuildAdd(kb->b, base, i, "");
  kb_store(kb, dt, kb->out[0], off, kb_fma(kb, ct, kb_load(kb, dt, kb->in[0], off), a, b));
  kb_end_for(kb, &li);
  kb_end_for(kb, &lc);
  kb_end_for(kb, &ln);
}
