// pool.c — MaxPool (with indices), AveragePool (count_include_pad), global pooling.
#include "../compiler.h"
#include "ops.h"

#include <math.h>

void infer_pool(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape;
  const int64_t *ks;
  int nk = attr_ints(n, "kernel_shape", &ks);
  if (nk != x->rank - 2)
    fatal_at(cc, n, "kernel_shape has %d values for input %s", nk, shape_str(&cc->pool, x));
  ConvGeom *g = pool_alloc(&cc->pool, sizeof(ConvGeom));
  *g = conv_geometry(cc, n, x, ks, attr_int(n, "ceil_mode", 0));
  n->priv = g;
  Shape y = *x;
  for (int i = 0; i < g->nsp; i++)
    y.dim[i + 2] = g->out[i];
  set_output(n, 0, n->in[0]->dtype, y);
  set_output(n, 1, DT_I64, y); // MaxPool indices
}

void lower_pool(KB *kb, Node *n) {
  const ConvGeom *g = n->priv;
  const Shape *x = &n->in[0]->shape, *y = &n->out[0]->shape;
  DType dt = n->out[0]->dtype, ct = dtype_compute(dt);
  bool is_max = n->op->kind == OP_MaxPool;
  bool with_indices = is_max && n->nout > 1 && n->out[1];
  bool count_pad = attr_int(n, "count_include_pad", 0);
  Loop lo[MAX_RANK], lk[3];
  LLVMValueRef oi[MAX_RANK];
  kb_for_shape(kb, lo, y, oi);
  LLVMTypeRef cty = kb_ctype(kb, ct);
  LLVMValueRef init = is_max ? (dtype_is_float(ct) ? kb_const(kb, ct, -INFINITY)
                                                   : LLVMConstInt(cty, dtype_is_signed(ct) ? 1ull << (LLVMGetIntTypeWidth(cty) - 1) : 0, 0))
                             : kb_const(kb, ct, 0.0);
  LLVMValueRef acc = kb_var(kb, cty, init);
  LLVMValueRef count = kb_var(kb, kb->t_idx, kb_idx(kb, 0));
  LLVMValueRef best = kb_var(kb, kb->t_idx, kb_idx(kb, 0));
  LLVMValueRef plane = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, oi[0], kb_idx(kb, x->dim[1]), ""), oi[1], "");
  LLVMValueRef xoff = plane, inside = NULL, pos[3];
  for (int i = 0; i < g->nsp; i++) {
    LLVMValueRef k = kb_for(kb, &lk[i], g->kernel[i]);
    pos[i] = window_index(kb, g, i, oi[2 + i], k, x->dim[2 + i], &inside);
    xoff = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, xoff, kb_idx(kb, x->dim[2 + i]), ""), pos[i], "");
  }
  IfBlock ib;
  kb_if(kb, &ib, inside);
  LLVMValueRef v = kb_load(kb, dt, kb->in[0], xoff);
  LLVMValueRef cur = kb_get(kb, cty, acc);
  if (is_max) {
    LLVMValueRef better = kb_gt(kb, ct, v, cur);
    kb_set(kb, acc, kb_select(kb, better, v, cur));
    if (with_indices) {
      // storage_order 1 (column-major) numbers the spatial dims in reverse order.
      LLVMValueRef flat = xoff;
      if (attr_int(n, "storage_order", 0)) {
        flat = kb_idx(kb, 0);
        for (int i = g->nsp - 1; i >= 0; i--)
          flat = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, flat, kb_idx(kb, x->dim[2 + i]), ""), pos[i], "");
        int64_t spatial = shape_numel(x) / (x->dim[0] * x->dim[1]);
        flat = LLVMBuildAdd(kb->b, flat, LLVMBuildMul(kb->b, plane, kb_idx(kb, spatial), ""), "");
      }
      kb_set(kb, best, kb_select(kb, better, flat, kb_get(kb, kb->t_idx, best)));
    }
  } else {
    kb_set(kb, acc, kb_add(kb, ct, cur, v));
  }
  kb_set(kb, count, LLVMBuildAdd(kb->b, kb_get(kb, kb->t_idx, count), kb_idx(kb, 1), ""));
  kb_end_if(kb, &ib);
  for (int i = g->nsp - 1; i >= 0; i--)
    kb_end_for(kb, &lk[i]);
  LLVMValueRef r = kb_get(kb, cty, acc);
  if (!is_max) {
    LLVMValueRef cnt = kb_get(kb, kb->t_idx, count);
    if (count_pad) { // the window clipped to the padded input
      cnt = kb_idx(kb, 1);
      for (int i = 0; i < g->nsp; i++) {
        LLVMValueRef start = LLVMBuildSub(kb->b, LLVMBuildMul(kb->b, oi[2 + i], kb_idx(kb, g->stride[i]), ""), kb_idx(kb, g->pad_begin[i]), "");
        LLVMValueRef end = kb_min(kb, DT_I64, LLVMBuildAdd(kb->b, start, kb_idx(kb, (g->kernel[i] - 1) * g->dilation[i] + 1), ""),
                                  kb_idx(kb, x->dim[2 + i] + g->pad_end[i]));
        LLVMValueRef len = LLVMBuildSub(kb->b, end, start, "");
        // dilated windows count only the sampled positions
        len = LLVMBuildSDiv(kb->b, LLVMBuildAdd(kb->b, len, kb_idx(kb, g->dilation[i] - 1), ""), kb_idx(kb, g->dilation[i]), "");
        cnt = LLVMBuildMul(kb->b, cnt, len, "");
      }
    }
    r = kb_div(kb, ct, r, kb_convert(kb, cnt, DT_I64, ct));
  }
  kb_store(kb, dt, kb->out[0], kb_flat(kb, y, oi), r);
  if (with_indices)
    kb_store(kb, DT_I64, kb->out[1], kb_flat(kb, y, oi), LLVMBuildSExtOrBitCast(kb->b, kb_get(kb, kb->t_idx, best), LLVMInt64TypeInContext(kb->ctx), ""));
  kb_end_for_shape(kb, lo, y);
}

void infer_global_pool(Compiler *cc, Node *n) {
  Shape y = n->in[0]->shape;
  if (y.rank < 2)
    fatal_at(cc, n, "input must have rank >= 2");
  for (int i = 2; i < y.rank; i++)
    y.dim[i] = 1;
  set_output(n, 0, n->in[0]->dtype, y);
}

void lower_global_pool(KB *kb, Node *n) {
  const Shape *x = &n->in[0]->shape;
  DType dt = n->in[0]->dtype, ct = dtype_compute(dt);
  int64_t planes = x->dim[0] * x->dim[1], size = shape_numel(x) / (planes ? planes : 1);
  bool is_max = n->op->kind == OP_GlobalMaxPool;
  Loop lp, li;
  LLVMValueRef p = kb_for(kb, &lp, planes);
  LLVMValueRef acc = kb_var(kb, kb_ctype(kb, ct), kb_const(kb, ct, is_max ? -INFINITY : 0.0));
  LLVMValueRef i = kb_for(kb, &li, size);
  LLVMValueRef v = kb_load(kb, dt, kb->in[0], LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, p, kb_idx(kb, size), ""), i, ""));
  LLVMValueRef cur = kb_get(kb, kb_ctype(kb, ct), acc);
  kb_set(kb, acc, is_max ? kb_max(kb, ct, cur, v) : kb_add(kb, ct, cur, v));
  kb_end_for(kb, &li);
  LLVMValueRef r = kb_get(kb, kb_ctype(kb, ct), acc);
  if (!is_max)
    r = kb_div(kb, ct, r, kb_const(kb, ct, (double)size));
  kb_store(kb, dt, kb->out[0], p, r);
  kb_end_for(kb, &lp);
}
