// conv.c — convolution geometry (shared with pooling) and Conv: N-D, groups, dilations,
// explicit or automatic padding.
#include "../compiler.h"
#include "gemm_kernel.h"
#include "ops.h"

#include <string.h>

void conv_ints(const Node *n, const char *name, int count, int64_t dflt, int64_t *out, Compiler *cc) {
  const int64_t *v;
  int c = attr_ints(n, name, &v);
  if (c >= 0 && c != count)
    fatal_at(cc, (Node *)n, "'%s' has %d values for %d spatial dims", name, c, count);
  for (int i = 0; i < count; i++)
    out[i] = c >= 0 ? v[i] : dflt;
}

// X is [N, C, D1..Dk]; KERNEL the k spatial kernel sizes. Fills output dims and padding.
ConvGeom conv_geometry(Compiler *cc, Node *n, const Shape *x, const int64_t *kernel, bool ceil_mode) {
  ConvGeom g = {.nsp = x->rank - 2};
  if (g.nsp < 1 || g.nsp > 3)
    fatal_at(cc, n, "input of shape %s: 1 to 3 spatial dims are supported", shape_str(&cc->pool, x));
  memcpy(g.kernel, kernel, sizeof(int64_t) * (size_t)g.nsp);
  conv_ints(n, "strides", g.nsp, 1, g.stride, cc);
  conv_ints(n, "dilations", g.nsp, 1, g.dilation, cc);
  int64_t pads[2 * 3];
  conv_ints(n, "pads", 2 * g.nsp, 0, pads, cc);
  const char *auto_pad = attr_string(n, "auto_pad", "NOTSET");
  for (int i = 0; i < g.nsp; i++) {
    int64_t in = x->dim[i + 2], k = (g.kernel[i] - 1) * g.dilation[i] + 1, s = g.stride[i];
    if (s <= 0 || g.dilation[i] <= 0 || g.kernel[i] <= 0)
      fatal_at(cc, n, "strides, dilations and kernel sizes must be positive");
    if (!strcmp(auto_pad, "SAME_UPPER") || !strcmp(auto_pad, "SAME_LOWER")) {
      int64_t out = (in + s - 1) / s;
      int64_t total = (out - 1) * s + k - in;
      if (total < 0)
        total = 0;
      g.pad_begin[i] = !strcmp(auto_pad, "SAME_UPPER") ? total / 2 : total - total / 2;
      g.pad_end[i] = total - g.pad_begin[i];
      g.out[i] = out;
      continue;
    }
    if (!strcmp(auto_pad, "VALID")) {
      g.pad_begin[i] = g.pad_end[i] = 0;
    } else if (!strcmp(auto_pad, "NOTSET")) {
      g.pad_begin[i] = pads[i];
      g.pad_end[i] = pads[i + g.nsp];
    } else {
      fatal_at(cc, n, "auto_pad '%s' is not supported", auto_pad);
    }
    int64_t span = in + g.pad_begin[i] + g.pad_end[i] - k;
    if (span < 0)
      fatal_at(cc, n, "kernel %lld (dilated) is larger than the padded input %lld", (long long)k,
               (long long)(in + g.pad_begin[i] + g.pad_end[i]));
    g.out[i] = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    // A window that starts in the end padding is dropped (matches the reference pooling).
    if (ceil_mode && (g.out[i] - 1) * s >= in + g.pad_begin[i])
      g.out[i]--;
  }
  return g;
}

typedef struct {
  ConvGeom geom;
  bool on_engine;  // f32 with constant weights: the GEMM engine (conv_gemm.c)
  bool depthwise;  // and one channel per group: conv_depthwise.c
  bool winograd;   // or 3x3 stride 1, cheaper by Winograd's algorithm: conv_winograd.c
  ConvGemm gemm;
  ConvWinograd wino;
} ConvPriv;

void infer_Conv(Compiler *cc, Node *n) {
  if (widen_half(cc, n))
    return;
  const Shape *x = &n->in[0]->shape, *w = &n->in[1]->shape;
  if (x->rank < 3 || w->rank != x->rank)
    fatal_at(cc, n, "X %s and W %s must have the same rank >= 3", shape_str(&cc->pool, x), shape_str(&cc->pool, w));
  int64_t group = attr_int(n, "group", 1);
  if (group <= 0 || x->dim[1] % group || w->dim[0] % group || w->dim[1] * group != x->dim[1])
    fatal_at(cc, n, "%lld input channels, W %s and group %lld do not agree", (long long)x->dim[1],
             shape_str(&cc->pool, w), (long long)group);
  const int64_t *ks;
  int nk = attr_ints(n, "kernel_shape", &ks);
  if (nk >= 0)
    for (int i = 0; i < nk && i + 2 < w->rank; i++)
      if (ks[i] != w->dim[i + 2])
        fatal_at(cc, n, "kernel_shape disagrees with W");
  ConvPriv *priv = pool_alloc(&cc->pool, sizeof(ConvPriv));
  ConvGeom *g = &priv->geom;
  *g = conv_geometry(cc, n, x, w->dim + 2, false);
  g->group = group;
  Value *b = node_input(n, 2);
  if (b && shape_numel(&b->shape) != w->dim[0])
    fatal_at(cc, n, "bias has %lld values for %lld output channels", (long long)shape_numel(&b->shape),
             (long long)w->dim[0]);
  n->priv = priv;
  Shape y = {.rank = x->rank, .dim = {x->dim[0], w->dim[0]}};
  for (int i = 0; i < g->nsp; i++)
    y.dim[i + 2] = g->out[i];
  set_output(n, 0, n->in[0]->dtype, y);
  priv->on_engine = conv_gemm_plan(n, g, &priv->gemm);
  priv->depthwise = priv->on_engine && conv_depthwise_applies(&priv->gemm, cc);
  priv->winograd = priv->on_engine && !priv->depthwise && conv_winograd_plan(n, &priv->gemm, &priv->wino);
  if (priv->winograd)
    n->scratch = priv->wino.scratch;
  else if (priv->on_engine && !priv->depthwise)
    n->scratch = priv->gemm.scratch;
  if (priv->on_engine) // for --report
    n->kernel = priv->depthwise ? "conv.depthwise"
                : priv->winograd ? (priv->wino.m == 4 ? "conv.winograd4" : "conv.winograd2")
                : priv->gemm.transposed ? "conv.gemm.transposed" : "conv.gemm";
}

// Input offset of the window element (o, k) along spatial dim i, with the in-bounds test.
LLVMValueRef window_index(KB *kb, const ConvGeom *g, int i, LLVMValueRef o, LLVMValueRef k, int64_t in_dim,
                          LLVMValueRef *inside) {
  LLVMBuilderRef b = kb->b;
  LLVMValueRef pos = LLVMBuildAdd(b, LLVMBuildMul(b, o, kb_idx(kb, g->stride[i]), ""),
                                  LLVMBuildMul(b, k, kb_idx(kb, g->dilation[i]), ""), "");
  pos = LLVMBuildSub(b, pos, kb_idx(kb, g->pad_begin[i]), "");
  LLVMValueRef ok = LLVMBuildICmp(b, LLVMIntULT, pos, kb_idx(kb, in_dim), "");
  *inside = *inside ? LLVMBuildAnd(b, *inside, ok, "") : ok;
  return kb_select(kb, ok, pos, kb_idx(kb, 0));
}

void lower_Conv(KB *kb, Node *n) {
  const ConvPriv *priv = n->priv;
  if (priv->depthwise) {
    conv_depthwise_lower(kb, n, &priv->gemm);
    return;
  }
  if (priv->winograd) {
    conv_winograd_lower(kb, n, &priv->gemm, &priv->wino);
    return;
  }
  if (priv->on_engine) {
    conv_gemm_lower(kb, n, &priv->gemm);
    return;
  }
  const ConvGeom *g = &priv->geom;
  const Shape *x = &n->in[0]->shape, *w = &n->in[1]->shape, *y = &n->out[0]->shape;
  DType dt = n->out[0]->dtype, ct = dtype_compute(dt);
  int64_t cpg = w->dim[1], mpg = w->dim[0] / g->group;
  Shape outer = {.rank = 2 + g->nsp};
  for (int i = 0; i < outer.rank; i++)
    outer.dim[i] = y->dim[i];
  Loop lo[MAX_RANK], lc, lk[3];
  LLVMValueRef oi[MAX_RANK];
  kb_for_shape(kb, lo, &outer, oi);
  LLVMValueRef nn = oi[0], m = oi[1];
  LLVMValueRef grp = LLVMBuildSDiv(kb->b, m, kb_idx(kb, mpg), "");
  LLVMValueRef acc = kb_var(kb, kb_ctype(kb, ct), kb_const(kb, ct, 0.0));
  LLVMValueRef c = kb_for(kb, &lc, cpg);
  LLVMValueRef cin = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, grp, kb_idx(kb, cpg), ""), c, "");
  LLVMValueRef xoff = LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, nn, kb_idx(kb, x->dim[1]), ""), cin, ""), kb_idx(kb, 1), "");
  LLVMValueRef woff = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, m, kb_idx(kb, cpg), ""), c, "");
  LLVMValueRef inside = NULL;
  for (int i = 0; i < g->nsp; i++) {
    LLVMValueRef k = kb_for(kb, &lk[i], g->kernel[i]);
    LLVMValueRef pos = window_index(kb, g, i, oi[2 + i], k, x->dim[2 + i], &inside);
    xoff = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, xoff, kb_idx(kb, x->dim[2 + i]), ""), pos, "");
    woff = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, woff, kb_idx(kb, w->dim[2 + i]), ""), k, "");
  }
  LLVMValueRef xv = kb_load(kb, dt, kb->in[0], xoff);
  xv = kb_select(kb, inside, xv, kb_const(kb, ct, 0.0));
  LLVMValueRef wv = kb_load(kb, n->in[1]->dtype, kb->in[1], woff);
  kb_set(kb, acc, kb_fma(kb, ct, xv, wv, kb_get(kb, kb_ctype(kb, ct), acc)));
  for (int i = g->nsp - 1; i >= 0; i--)
    kb_end_for(kb, &lk[i]);
  kb_end_for(kb, &lc);
  LLVMValueRef r = kb_get(kb, kb_ctype(kb, ct), acc);
  if (own_input(n, 2))
    r = kb_add(kb, ct, r, kb_load(kb, n->in[2]->dtype, kb->in[2], m));
  kb_store(kb, dt, kb->out[0], kb_flat(kb, &outer, oi), r);
  kb_end_for_shape(kb, lo, &outer);
  epilogue_apply_all(kb, n);
}
