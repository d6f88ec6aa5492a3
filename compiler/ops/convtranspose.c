// convtranspose.c — ConvTranspose: N-D (1 to 3 spatial dims), groups, strides, dilations,
// explicit pads, output_padding, output_shape and auto_pad.
#include "../compiler.h"
#include "ops.h"

#include <string.h>

// Python's v // 2: the spec's padding split, also for the negative total padding an
// output_shape larger than the natural output gives (the extra rows come out at the end).
static int64_t floor_half(int64_t v) { return v >= 0 ? v / 2 : -((1 - v) / 2); }

// Output position of input i and kernel tap k along dim d: i * stride + k * dilation - pad_begin.
static ConvGeom transpose_geometry(Compiler *cc, Node *n, const Shape *x, const Shape *w) {
  ConvGeom g = {.nsp = x->rank - 2};
  int nsp = g.nsp;
  memcpy(g.kernel, w->dim + 2, sizeof(int64_t) * (size_t)nsp);
  int64_t out_pad[3], pads[6], target[3];
  conv_ints(n, "strides", nsp, 1, g.stride, cc);
  conv_ints(n, "dilations", nsp, 1, g.dilation, cc);
  conv_ints(n, "output_padding", nsp, 0, out_pad, cc);
  conv_ints(n, "pads", 2 * nsp, 0, pads, cc);
  const int64_t *os;
  int nos = attr_ints(n, "output_shape", &os);
  if (nos >= 0 && nos != nsp && nos != x->rank)
    fatal_at(cc, n, "output_shape has %d values for %d spatial dims", nos, nsp);
  const char *auto_pad = attr_string(n, "auto_pad", "NOTSET");
  bool same = !strcmp(auto_pad, "SAME_UPPER") || !strcmp(auto_pad, "SAME_LOWER");
  if (!same && strcmp(auto_pad, "VALID") && strcmp(auto_pad, "NOTSET"))
    fatal_at(cc, n, "auto_pad '%s' is not supported", auto_pad);
  for (int i = 0; i < nsp; i++) {
    int64_t in = x->dim[2 + i], s = g.stride[i];
    if (s <= 0 || g.dilation[i] <= 0 || out_pad[i] < 0)
      fatal_at(cc, n, "strides and dilations must be positive, output_padding not negative");
    int64_t natural = s * (in - 1) + out_pad[i] + (g.kernel[i] - 1) * g.dilation[i] + 1;
    if (nos >= 0 || same) { // the pads follow from the requested size
      target[i] = nos >= 0 ? os[nos - nsp + i] : in * s;
      int64_t total = natural - target[i];
      bool upper = !strcmp(auto_pad, "SAME_UPPER");
      g.pad_begin[i] = upper ? floor_half(total) : total - floor_half(total);
      g.pad_end[i] = total - g.pad_begin[i];
      g.out[i] = target[i];
    } else {
      bool valid = !strcmp(auto_pad, "VALID");
      g.pad_begin[i] = valid ? 0 : pads[i];
      g.pad_end[i] = valid ? 0 : pads[nsp + i];
      g.out[i] = natural - g.pad_begin[i] - g.pad_end[i];
    }
    if (g.out[i] <= 0)
      fatal_at(cc, n, "the output would have %lld elements along spatial dim %d", (long long)g.out[i], i);
  }
  return g;
}

void infer_ConvTranspose(Compiler *cc, Node *n) {
  if (widen_half(cc, n))
    return;
  const Shape *x = &n->in[0]->shape, *w = &n->in[1]->shape;
  if (x->rank < 3 || x->rank > 5 || w->rank != x->rank)
    fatal_at(cc, n, "X %s and W %s must have the same rank, 3 to 5", shape_str(&cc->pool, x), shape_str(&cc->pool, w));
  if (!dtype_is_float(n->in[0]->dtype))
    fatal_at(cc, n, "input type %s is not supported", dtype_onnx_name(n->in[0]->dtype));
  int64_t group = attr_int(n, "group", 1);
  if (group <= 0 || x->dim[1] % group || w->dim[0] != x->dim[1])
    fatal_at(cc, n, "%lld input channels, W %s and group %lld do not agree", (long long)x->dim[1],
             shape_str(&cc->pool, w), (long long)group);
  const int64_t *ks;
  int nk = attr_ints(n, "kernel_shape", &ks);
  for (int i = 0; i < nk && i + 2 < w->rank; i++)
    if (ks[i] != w->dim[i + 2])
      fatal_at(cc, n, "kernel_shape disagrees with W");
  ConvGeom *g = pool_alloc(&cc->pool, sizeof(ConvGeom));
  *g = transpose_geometry(cc, n, x, w);
  g->group = group;
  int64_t M = w->dim[1] * group;
  Value *b = node_input(n, 2);
  if (b && shape_numel(&b->shape) != M)
    fatal_at(cc, n, "bias has %lld values for %lld output channels", (long long)shape_numel(&b->shape), (long long)M);
  n->priv = g;
  Shape y = {.rank = x->rank, .dim = {x->dim[0], M}};
  for (int i = 0; i < g->nsp; i++)
    y.dim[2 + i] = g->out[i];
  set_output(n, 0, n->in[0]->dtype, y);
  // f16/bf16 accumulate in f32 scratch: summing in the output's precision loses too much
  DType ct = dtype_compute(n->in[0]->dtype);
  if (ct != n->in[0]->dtype)
    n->scratch = shape_numel(&y) * dtype_size(ct);
}

static LLVMValueRef mul_add(KB *kb, LLVMValueRef a, int64_t b, LLVMValueRef c) {
  return LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, a, kb_idx(kb, b), ""), c, "");
}

// Every input element scatters X * W into the output window it reaches.
void lower_ConvTranspose(KB *kb, Node *n) {
  const ConvGeom *g = n->priv;
  const Shape *x = &n->in[0]->shape, *w = &n->in[1]->shape, *y = &n->out[0]->shape;
  DType dt = n->out[0]->dtype, ct = dtype_compute(dt), wt = n->in[1]->dtype;
  int64_t cpg = x->dim[1] / g->group, mpg = w->dim[1], M = y->dim[1];
  int64_t out_size = shape_numel(y) / (y->dim[0] * M), in_size = shape_numel(x) / (x->dim[0] * x->dim[1]);
  LLVMValueRef acc = n->scratch > 0 ? kb->scratch : kb->out[0];
  Loop l0, l1, l2, lg, lc, lm, li[3], lk[3];
  // Start from the bias (or zero).
  LLVMValueRef nn = kb_for(kb, &l0, y->dim[0]), m = kb_for(kb, &l1, M);
  LLVMValueRef bias = node_input(n, 2) ? kb_convert(kb, kb_load(kb, n->in[2]->dtype, kb->in[2], m), n->in[2]->dtype, ct)
                                       : kb_const(kb, ct, 0.0);
  LLVMValueRef s = kb_for(kb, &l2, out_size);
  kb_store(kb, ct, acc, mul_add(kb, mul_add(kb, nn, M, m), out_size, s), bias);
  kb_end_for(kb, &l2);
  kb_end_for(kb, &l1);
  kb_end_for(kb, &l0);

  nn = kb_for(kb, &l0, x->dim[0]);
  LLVMValueRef grp = kb_for(kb, &lg, g->group);
  LLVMValueRef ci = kb_for(kb, &lc, cpg);
  LLVMValueRef c = mul_add(kb, grp, cpg, ci);
  LLVMValueRef xoff = mul_add(kb, mul_add(kb, nn, x->dim[1], c), in_size, kb_idx(kb, 0));
  LLVMValueRef ipos[3];
  for (int d = 0; d < g->nsp; d++) {
    ipos[d] = kb_for(kb, &li[d], x->dim[2 + d]);
    int64_t rest = 1;
    for (int e = d + 1; e < g->nsp; e++)
      rest *= x->dim[2 + e];
    xoff = mul_add(kb, ipos[d], rest, xoff);
  }
  LLVMValueRef xv = kb_convert(kb, kb_load(kb, dt, kb->in[0], xoff), dt, ct);
  LLVMValueRef mo = kb_for(kb, &lm, mpg);
  LLVMValueRef woff = mul_add(kb, c, mpg, mo);
  LLVMValueRef yoff = mul_add(kb, nn, M, mul_add(kb, grp, mpg, mo));
  LLVMValueRef inside = NULL;
  for (int d = 0; d < g->nsp; d++) {
    LLVMValueRef k = kb_for(kb, &lk[d], g->kernel[d]);
    LLVMValueRef o = LLVMBuildSub(kb->b, mul_add(kb, ipos[d], g->stride[d], LLVMBuildNSWMul(kb->b, k, kb_idx(kb, g->dilation[d]), "")),
                                  kb_idx(kb, g->pad_begin[d]), "");
    LLVMValueRef ok = LLVMBuildICmp(kb->b, LLVMIntULT, o, kb_idx(kb, g->out[d]), "");
    inside = inside ? LLVMBuildAnd(kb->b, inside, ok, "") : ok;
    woff = mul_add(kb, woff, w->dim[2 + d], k);
    yoff = mul_add(kb, yoff, y->dim[2 + d], o);
  }
  IfBlock ib;
  kb_if(kb, &ib, inside);
  LLVMValueRef wv = kb_convert(kb, kb_load(kb, wt, kb->in[1], woff), wt, ct);
  kb_store(kb, ct, acc, yoff, kb_fma(kb, ct, xv, wv, kb_load(kb, ct, acc, yoff)));
  kb_end_if(kb, &ib);
  for (int d = g->nsp - 1; d >= 0; d--)
    kb_end_for(kb, &lk[d]);
  kb_end_for(kb, &lm);
  for (int d = g->nsp - 1; d >= 0; d--)
    kb_end_for(kb, &li[d]);
  kb_end_for(kb, &lc);
  kb_end_for(kb, &lg);
  kb_end_for(kb, &l0);

  if (n->scratch > 0) {
    LLVMValueRef i = kb_for(kb, &l0, shape_numel(y));
    kb_store(kb, dt, kb->out[0], i, kb_load(kb, ct, acc, i));
    kb_end_for(kb, &l0);
  }
}
