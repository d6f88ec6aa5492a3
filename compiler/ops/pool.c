// pool.c — MaxPool (with indices), AveragePool (count_include_pad), LpPool, their global
// forms, and MaxUnpool.
#include "../compiler.h"
#include "ops.h"

#include <math.h>

static int64_t lp_order(Compiler *cc, Node *n) {
  int64_t p = attr_int(n, "p", 2);
  if (p < 1 || p > 64)
    fatal_at(cc, n, "p = %lld is not supported (1 to 64)", (long long)p);
  return p;
}

static void need_float_input(Compiler *cc, Node *n) {
  if (!dtype_is_float(n->in[0]->dtype))
    fatal_at(cc, n, "input type %s is not supported", dtype_onnx_name(n->in[0]->dtype));
}

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
  if (n->op->kind == OP_LpPool) {
    need_float_input(cc, n);
    lp_order(cc, n);
  }
}

// |x|^p for LpPool's integer p: repeated products, no pow call.
static LLVMValueRef abs_pow(KB *kb, DType ct, LLVMValueRef x, int64_t p) {
  LLVMValueRef a = kb_call_intrinsic(kb, "llvm.fabs", LLVMTypeOf(x), &x, 1), r = a;
  for (int64_t i = 1; i < p; i++)
    r = kb_mul(kb, ct, r, a);
  return r;
}

// The p-th root of an LpPool sum (>= 0): exp(log(s) / p), exact forms for p = 1 and 2.
static LLVMValueRef root(KB *kb, DType ct, LLVMValueRef s, int64_t p) {
  if (p == 1)
    return s;
  if (p == 2)
    return kb_call_intrinsic(kb, "llvm.sqrt", LLVMTypeOf(s), &s, 1);
  return math_exp(kb, ct, kb_div(kb, ct, math_log(kb, ct, s), kb_const(kb, ct, (double)p)));
}

// The input offset of the window element at kernel indices K of output OI, and whether it
// lies inside the input (else the offset is clamped into it).
static LLVMValueRef window_offset(KB *kb, const Node *n, const LLVMValueRef *oi, LLVMValueRef *k, LLVMValueRef *pos,
                                  LLVMValueRef *inside) {
  const ConvGeom *g = n->priv;
  const Shape *x = &n->in[0]->shape;
  LLVMValueRef off = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, oi[0], kb_idx(kb, x->dim[1]), ""), oi[1], "");
  *inside = NULL;
  for (int i = 0; i < g->nsp; i++) {
    pos[i] = window_index(kb, g, i, oi[2 + i], k[i], x->dim[2 + i], inside);
    off = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, off, kb_idx(kb, x->dim[2 + i]), ""), pos[i], "");
  }
  return off;
}

// MaxPool's maximum over the window of output OI, and in *BEST its flat index.
static LLVMValueRef window_max(KB *kb, const Node *n, const LLVMValueRef *oi, LLVMValueRef best) {
  const ConvGeom *g = n->priv;
  const Shape *x = &n->in[0]->shape;
  DType dt = n->out[0]->dtype, ct = dtype_compute(dt);
  LLVMTypeRef cty = kb_ctype(kb, ct);
  LLVMValueRef init = dtype_is_float(ct) ? kb_const(kb, ct, -INFINITY)
                                         : LLVMConstInt(cty, dtype_is_signed(ct) ? 1ull << (LLVMGetIntTypeWidth(cty) - 1) : 0, 0);
  LLVMValueRef acc = kb_var(kb, cty, init);
  Loop lk[3];
  LLVMValueRef k[3], pos[3], inside;
  for (int i = 0; i < g->nsp; i++)
    k[i] = kb_for(kb, &lk[i], g->kernel[i]);
  LLVMValueRef xoff = window_offset(kb, n, oi, k, pos, &inside);
  IfBlock ib;
  kb_if(kb, &ib, inside);
  LLVMValueRef v = kb_load(kb, dt, kb->in[0], xoff);
  LLVMValueRef cur = kb_get(kb, cty, acc);
  LLVMValueRef better = kb_gt(kb, ct, v, cur);
  kb_set(kb, acc, kb_select(kb, better, v, cur));
  if (best) {
    // storage_order 1 (column-major) numbers the spatial dims in reverse order.
    LLVMValueRef flat = xoff;
    if (attr_int(n, "storage_order", 0)) {
      flat = kb_idx(kb, 0);
      for (int i = g->nsp - 1; i >= 0; i--)
        flat = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, flat, kb_idx(kb, x->dim[2 + i]), ""), pos[i], "");
      int64_t spatial = shape_numel(x) / (x->dim[0] * x->dim[1]);
      LLVMValueRef plane = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, oi[0], kb_idx(kb, x->dim[1]), ""), oi[1], "");
      flat = LLVMBuildAdd(kb->b, flat, LLVMBuildMul(kb->b, plane, kb_idx(kb, spatial), ""), "");
    }
    kb_set(kb, best, kb_select(kb, better, flat, kb_get(kb, kb->t_idx, best)));
  }
  kb_end_if(kb, &ib);
  for (int i = g->nsp - 1; i >= 0; i--)
    kb_end_for(kb, &lk[i]);
  return kb_get(kb, cty, acc);
}

typedef struct {
  const Node *n;
  const LLVMValueRef *oi;
  int64_t p; // LpPool's order, 0 for AveragePool
} WindowTerm;

// x (|x|^p) and 1 inside the input, 0 and 0 outside.
static void window_term(KB *kb, LLVMValueRef *k, LLVMValueRef *terms, void *ctx) {
  const WindowTerm *w = ctx;
  DType dt = w->n->out[0]->dtype, ct = dtype_compute(dt);
  LLVMValueRef pos[3], inside;
  LLVMValueRef v = kb_load(kb, dt, kb->in[0], window_offset(kb, w->n, w->oi, k, pos, &inside));
  if (w->p)
    v = abs_pow(kb, ct, v, w->p);
  terms[0] = kb_select(kb, inside, v, kb_const(kb, ct, 0.0));
  terms[1] = LLVMBuildZExt(kb->b, inside, kb->t_idx, "");
}

// AveragePool's divisor: the window's positions inside the input (INSIDE), or with
// count_include_pad the window clipped to the padded input.
static LLVMValueRef window_count(KB *kb, const Node *n, const LLVMValueRef *oi, LLVMValueRef inside) {
  const ConvGeom *g = n->priv;
  const Shape *x = &n->in[0]->shape;
  if (!attr_int(n, "count_include_pad", 0))
    return inside;
  LLVMValueRef cnt = kb_idx(kb, 1);
  for (int i = 0; i < g->nsp; i++) {
    LLVMValueRef start = LLVMBuildSub(kb->b, LLVMBuildMul(kb->b, oi[2 + i], kb_idx(kb, g->stride[i]), ""), kb_idx(kb, g->pad_begin[i]), "");
    LLVMValueRef end = kb_min(kb, DT_I64, LLVMBuildAdd(kb->b, start, kb_idx(kb, (g->kernel[i] - 1) * g->dilation[i] + 1), ""),
                              kb_idx(kb, x->dim[2 + i] + g->pad_end[i]));
    LLVMValueRef len = LLVMBuildSub(kb->b, end, start, "");
    // dilated windows count only the sampled positions
    len = LLVMBuildSDiv(kb->b, LLVMBuildAdd(kb->b, len, kb_idx(kb, g->dilation[i] - 1), ""), kb_idx(kb, g->dilation[i]), "");
    cnt = LLVMBuildMul(kb->b, cnt, len, "");
  }
  return cnt;
}

void lower_pool(KB *kb, Node *n) {
  const ConvGeom *g = n->priv;
  const Shape *y = &n->out[0]->shape;
  DType dt = n->out[0]->dtype, ct = dtype_compute(dt);
  bool is_max = n->op->kind == OP_MaxPool, is_lp = n->op->kind == OP_LpPool;
  bool with_indices = is_max && n->nout > 1 && n->out[1];
  Loop lo[MAX_RANK];
  LLVMValueRef oi[MAX_RANK], r, best = with_indices ? kb_var(kb, kb->t_idx, NULL) : NULL;
  kb_for_shape(kb, lo, y, oi);
  if (is_max) {
    if (best)
      kb_set(kb, best, kb_idx(kb, 0));
    r = window_max(kb, n, oi, best);
  } else {
    WindowTerm term = {n, oi, is_lp ? attr_int(n, "p", 2) : 0};
    LLVMTypeRef types[2] = {kb_ctype(kb, ct), kb->t_idx};
    LLVMValueRef sums[2];
    kb_sum(kb, 2, types, g->nsp, g->kernel, NULL, window_term, &term, sums);
    r = is_lp ? root(kb, ct, sums[0], term.p) // padding contributes zeros to the norm
              : kb_div(kb, ct, sums[0], kb_convert(kb, window_count(kb, n, oi, sums[1]), DT_I64, ct));
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
  if (n->op->kind == OP_GlobalLpPool) {
    need_float_input(cc, n);
    lp_order(cc, n);
  }
}

typedef struct {
  const Node *n;
  LLVMValueRef base;
  int64_t p; // GlobalLpPool's order, 0 for GlobalAveragePool
} PlaneTerm;

static void plane_term(KB *kb, LLVMValueRef *idx, LLVMValueRef *terms, void *ctx) {
  const PlaneTerm *t = ctx;
  DType dt = t->n->in[0]->dtype;
  LLVMValueRef v = kb_load(kb, dt, kb->in[0], LLVMBuildAdd(kb->b, t->base, idx[0], ""));
  terms[0] = t->p ? abs_pow(kb, dtype_compute(dt), v, t->p) : v;
}

void lower_global_pool(KB *kb, Node *n) {
  const Shape *x = &n->in[0]->shape;
  DType dt = n->in[0]->dtype, ct = dtype_compute(dt);
  int64_t planes = x->dim[0] * x->dim[1], size = shape_numel(x) / (planes ? planes : 1);
  bool is_max = n->op->kind == OP_GlobalMaxPool, is_lp = n->op->kind == OP_GlobalLpPool;
  int64_t order = is_lp ? attr_int(n, "p", 2) : 0;
  Loop lp, li;
  LLVMValueRef p = kb_for(kb, &lp, planes), r;
  LLVMValueRef base = LLVMBuildMul(kb->b, p, kb_idx(kb, size), "");
  if (is_max) {
    LLVMValueRef acc = kb_var(kb, kb_ctype(kb, ct), kb_const(kb, ct, -INFINITY));
    LLVMValueRef i = kb_for(kb, &li, size);
    LLVMValueRef v = kb_load(kb, dt, kb->in[0], LLVMBuildAdd(kb->b, base, i, ""));
    kb_set(kb, acc, kb_max(kb, ct, kb_get(kb, kb_ctype(kb, ct), acc), v));
    kb_end_for(kb, &li);
    r = kb_get(kb, kb_ctype(kb, ct), acc);
  } else {
    PlaneTerm term = {n, base, order};
    LLVMTypeRef t = kb_ctype(kb, ct);
    kb_sum(kb, 1, &t, 1, &size, NULL, plane_term, &term, &r);
  }
  if (is_lp)
    r = root(kb, ct, r, order);
  else if (!is_max)
    r = kb_div(kb, ct, r, kb_const(kb, ct, (double)size));
  kb_store(kb, dt, kb->out[0], p, r);
  kb_end_for(kb, &lp);
}

//
// MaxUnpool: X scattered to the flat positions I of the unpooled shape
// ((in - 1) * stride + kernel - pads), zeros elsewhere. An output_shape input larger than
// that holds the unpooled tensor in its leading corner, zero padded (the reference semantics).
//
typedef struct {
  Shape unpooled;
} Unpool;

void infer_MaxUnpool(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape;
  int nsp = x->rank - 2;
  const int64_t *ks, *st, *pads;
  if (nsp < 1 || attr_ints(n, "kernel_shape", &ks) != nsp)
    fatal_at(cc, n, "kernel_shape must have one value per spatial dim of %s", shape_str(&cc->pool, x));
  int nst = attr_ints(n, "strides", &st), npads = attr_ints(n, "pads", &pads);
  if ((nst >= 0 && nst != nsp) || (npads >= 0 && npads != 2 * nsp))
    fatal_at(cc, n, "strides or pads do not match the %d spatial dims", nsp);
  if (!shape_eq(x, &n->in[1]->shape) || !dtype_is_int(n->in[1]->dtype))
    fatal_at(cc, n, "I must be integer indices of X's shape");
  Unpool *u = pool_alloc(&cc->pool, sizeof(Unpool));
  u->unpooled = *x;
  for (int i = 0; i < nsp; i++)
    u->unpooled.dim[2 + i] = (x->dim[2 + i] - 1) * (nst >= 0 ? st[i] : 1) + ks[i] -
                             (npads >= 0 ? pads[i] + pads[nsp + i] : 0);
  Shape y = u->unpooled;
  Value *os = node_input(n, 2) ? need_const(cc, n, 2) : NULL;
  if (os) {
    if (shape_numel(&os->shape) != x->rank)
      fatal_at(cc, n, "output_shape must have %d values", x->rank);
    for (int d = 0; d < x->rank; d++)
      y.dim[d] = value_int(os, d);
    for (int d = 0; d < x->rank; d++)
      if (y.dim[d] < u->unpooled.dim[d])
        fatal_at(cc, n, "output_shape %s is smaller than the unpooled shape %s", shape_str(&cc->pool, &y),
                 shape_str(&cc->pool, &u->unpooled));
  }
  n->priv = u;
  set_output(n, 0, n->in[0]->dtype, y);
}

void lower_MaxUnpool(KB *kb, Node *n) {
  const Unpool *u = n->priv;
  const Shape *y = &n->out[0]->shape;
  DType dt = n->out[0]->dtype, it = n->in[1]->dtype;
  kb_memset(kb, kb->out[0], 0, value_bytes(n->out[0]));
  Loop l;
  LLVMValueRef i = kb_for(kb, &l, shape_numel(&n->in[0]->shape));
  LLVMValueRef at = LLVMBuildIntCast2(kb->b, kb_load(kb, it, kb->in[1], i), kb->t_idx, dtype_is_signed(it), "");
  IfBlock ib;
  kb_if(kb, &ib, LLVMBuildICmp(kb->b, LLVMIntULT, at, kb_idx(kb, shape_numel(&u->unpooled)), ""));
  if (!shape_eq(&u->unpooled, y)) { // re-linearize the unpooled position in the output
    LLVMValueRef rest = at, off = kb_idx(kb, 0);
    int64_t st = 1;
    for (int d = y->rank - 1; d >= 0; d--) {
      LLVMValueRef c = LLVMBuildURem(kb->b, rest, kb_idx(kb, u->unpooled.dim[d]), "");
      rest = LLVMBuildUDiv(kb->b, rest, kb_idx(kb, u->unpooled.dim[d]), "");
      off = LLVMBuildAdd(kb->b, off, LLVMBuildMul(kb->b, c, kb_idx(kb, st), ""), "");
      st *= y->dim[d];
    }
    at = off;
  }
  LLVMValueRef v = LLVMBuildLoad2(kb->b, kb_type(kb, dt), kb_gep(kb, dt, kb->in[0], i), "");
  LLVMBuildStore(kb->b, v, kb_gep(kb, dt, kb->out[0], at));
  kb_end_if(kb, &ib);
  kb_end_for(kb, &l);
}
