// optimizer.c — the update rules of ai.onnx.preview.training: Adagrad, Momentum (standard and
// Nesterov) and Adam. Each is elementwise over groups of tensors: inputs R (learning rate),
// T (update count), then X..., G..., and the optimizer's state tensors; outputs the new X...
// and the new states, group by group.
#include "../compiler.h"
#include "ops.h"

#include <string.h>

// Tensors per group: X, G and the state tensors (Adagrad: H; Momentum: V; Adam: V, H).
static int group_width(const Node *n) { return n->op->kind == OP_Adam ? 4 : 3; }

void infer_optimizer(Compiler *cc, Node *n) {
  int k = group_width(n);
  if (n->nin < 2 + k || (n->nin - 2) % k)
    fatal_at(cc, n, "expects R, T and %d tensors per optimized tensor, got %d inputs", k, n->nin);
  int groups = (n->nin - 2) / k;
  if (n->nout != groups * (k - 1))
    fatal_at(cc, n, "expects %d outputs for %d optimized tensors, got %d", groups * (k - 1), groups, n->nout);
  for (int g = 0; g < groups; g++) {
    Value *x = n->in[2 + g];
    for (int j = 1; j < k; j++) {
      Value *v = n->in[2 + j * groups + g];
      if (!v || !shape_eq(&v->shape, &x->shape) || v->dtype != x->dtype)
        fatal_at(cc, n, "tensor %d of group %d does not match X in shape and type", j, g);
    }
    for (int j = 0; j < k - 1; j++)
      set_output(n, j * groups + g, x->dtype, x->shape);
  }
}

typedef struct {
  LLVMValueRef r, t_pos;   // learning rate (compute type), T > 0
  LLVMValueRef r_adam;     // Adam's bias-corrected learning rate
} Scalars;

static Scalars load_scalars(KB *kb, Node *n, DType ct) {
  Scalars s;
  Value *T = n->in[1];
  LLVMValueRef t = kb_convert(kb, kb_load(kb, T->dtype, kb->in[1], kb_idx(kb, 0)), T->dtype, DT_F64);
  s.r = kb_convert(kb, kb_load(kb, n->in[0]->dtype, kb->in[0], kb_idx(kb, 0)), n->in[0]->dtype, ct);
  s.t_pos = kb_gt(kb, DT_F64, t, kb_const(kb, DT_F64, 0));
  s.r_adam = s.r;
  if (n->op->kind == OP_Adagrad) { // R / (1 + T * decay_factor)
    LLVMValueRef decay = kb_add(kb, DT_F64, kb_const(kb, DT_F64, 1), kb_mul(kb, DT_F64, t, kb_const(kb, DT_F64, attr_float(n, "decay_factor", 0))));
    s.r = kb_div(kb, ct, s.r, kb_convert(kb, decay, DT_F64, ct));
  } else if (n->op->kind == OP_Adam) { // R * sqrt(1 - beta^T) / (1 - alpha^T) when T > 0
    LLVMValueRef one = kb_const(kb, DT_F64, 1);
    LLVMValueRef bt = math_pow(kb, DT_F64, kb_const(kb, DT_F64, attr_float(n, "beta", 0.999f)), t);
    LLVMValueRef at = math_pow(kb, DT_F64, kb_const(kb, DT_F64, attr_float(n, "alpha", 0.9f)), t);
    LLVMValueRef sq = kb_call_intrinsic(kb, "llvm.sqrt", kb_ctype(kb, DT_F64), (LLVMValueRef[]){kb_sub(kb, DT_F64, one, bt)}, 1);
    LLVMValueRef corr = kb_convert(kb, kb_div(kb, DT_F64, sq, kb_sub(kb, DT_F64, one, at)), DT_F64, ct);
    s.r_adam = kb_select(kb, s.t_pos, kb_mul(kb, ct, s.r, corr), s.r);
  }
  return s;
}

void lower_optimizer(KB *kb, Node *n) {
  int k = group_width(n), groups = (n->nin - 2) / k;
  OpKind kind = n->op->kind;
  for (int g = 0; g < groups; g++) {
    DType dt = n->in[2 + g]->dtype, ct = dtype_compute(dt);
    Scalars s = load_scalars(kb, n, ct);
    Loop l;
    LLVMValueRef i = kb_for(kb, &l, shape_numel(&n->in[2 + g]->shape));
    LLVMValueRef x = kb_load(kb, dt, kb->in[2 + g], i), grad = kb_load(kb, dt, kb->in[2 + groups + g], i);
    LLVMValueRef state = kb_load(kb, dt, kb->in[2 + 2 * groups + g], i);
    LLVMValueRef c = kb_const(kb, ct, attr_float(n, "norm_coefficient", 0));
    LLVMValueRef gr = kb_fma(kb, ct, c, x, grad); // gradient of the regularized loss
    LLVMValueRef xn, s1;
    if (kind == OP_Adagrad) {
      s1 = kb_fma(kb, ct, gr, gr, state);
      LLVMValueRef h = kb_add(kb, ct, kb_call_intrinsic(kb, "llvm.sqrt", kb_ctype(kb, ct), &s1, 1),
                              kb_const(kb, ct, attr_float(n, "epsilon", 1e-6f)));
      xn = kb_sub(kb, ct, x, kb_div(kb, ct, kb_mul(kb, ct, s.r, gr), h));
    } else if (kind == OP_Momentum) {
      LLVMValueRef alpha = kb_const(kb, ct, attr_float(n, "alpha", 0));
      LLVMValueRef beta = kb_select(kb, s.t_pos, kb_const(kb, ct, attr_float(n, "beta", 0)), kb_const(kb, ct, 1));
      s1 = kb_add(kb, ct, kb_mul(kb, ct, alpha, state), kb_mul(kb, ct, beta, gr));
      LLVMValueRef step = strcmp(attr_string(n, "mode", "standard"), "nesterov") ? s1 : kb_fma(kb, ct, alpha, s1, gr);
      xn = kb_sub(kb, ct, x, kb_mul(kb, ct, s.r, step));
    } else { // Adam
      double alpha = attr_float(n, "alpha", 0.9f), beta = attr_float(n, "beta", 0.999f);
      LLVMValueRef h = kb_load(kb, dt, kb->in[2 + 3 * groups + g], i);
      s1 = kb_add(kb, ct, kb_mul(kb, ct, kb_const(kb, ct, alpha), state), kb_mul(kb, ct, kb_const(kb, ct, 1 - alpha), gr));
      LLVMValueRef h1 = kb_add(kb, ct, kb_mul(kb, ct, kb_const(kb, ct, beta), h),
                               kb_mul(kb, ct, kb_const(kb, ct, 1 - beta), kb_mul(kb, ct, gr, gr)));
      LLVMValueRef hs = kb_add(kb, ct, kb_call_intrinsic(kb, "llvm.sqrt", kb_ctype(kb, ct), &h1, 1),
                               kb_const(kb, ct, attr_float(n, "epsilon", 1e-6f)));
      xn = kb_sub(kb, ct, x, kb_mul(kb, ct, s.r_adam, kb_div(kb, ct, s1, hs)));
      xn = kb_mul(kb, ct, kb_const(kb, ct, 1 - attr_float(n, "norm_coefficient_post", 0)), xn);
      kb_store(kb, dt, kb->out[2 * groups + g], i, h1);
    }
    kb_store(kb, dt, kb->out[g], i, xn);
    kb_store(kb, dt, kb->out[groups + g], i, s1);
    kb_end_for(kb, &l);
  }
}
