// qconv.c — integer convolutions of quantized models (QDQ Conv, QLinearConv, ConvInteger).
// Each image is first copied channels-last (NHWC), flipped to the type the dot product wants.
// A convolution is then the GEMM core of qgemm.c over patch rows: row p of A holds output
// pixel p's window, kernel position by kernel position, each a contiguous run of the group's
// channels (one memcpy), so K is ordered (kernel position, channel) and the weights are packed
// the same way. A 1x1 stride-1 convolution needs no patches: the NHWC copy is A. Depthwise
// convolutions have their own kernel, vectorized over channels. Results go straight into the
// NCHW output.
#include "../compiler.h"
#include "ops.h"

#include <string.h>

// Bytes of the patch rows gathered at a time: small enough to stay in the caches with the
// weights, large enough to amortize the loops.
#define PANEL_BYTES (32 * 1024)

typedef struct {
  KernelStats stats;
  QCore core;
  PatchGeom pg;
  bool depthwise;            // one input channel per group and one output channel per group
  bool direct;               // 1x1, stride 1, no padding, whole groups of channels: NHWC rows are A
  int64_t panel;             // patch rows per panel
  int32_t x_pad;             // the input zero point as stored in the NHWC copy
  int32_t x_zp;              // depthwise: the input zero point
  Shape y_shape;
} QConvPlan;

static int64_t align64(int64_t v) { return (v + 63) / 64 * 64; }

// Scratch: the NHWC copy (plus a vector of slack), the patch panel (none for direct
// convolutions), its row sums, the panel's results (rows of output channels: vector stores)
// before they are transposed into the NCHW output.
static int64_t nhwc_bytes(const QConvPlan *p) { return align64(p->pg.in_pixels * p->pg.cin + 64); }
static int64_t panel_bytes(const QConvPlan *p) {
  return p->direct ? 0 : align64(p->panel * p->core.kgroups * p->core.dot.group);
}
static int64_t rowsum_bytes(const QConvPlan *p) { return p->core.need_rowsum ? align64(4 * p->panel) : 0; }

void infer_QConv(Compiler *cc, Node *n) {
  const QConvPlan *p = n->priv;
  if (!p)
    fatal_at(cc, n, "internal op QConv without a plan");
  set_output(n, 0, n->out[0]->dtype, p->y_shape);
  n->scratch = nhwc_bytes(p);
  if (!p->depthwise)
    n->scratch += panel_bytes(p) + rowsum_bytes(p) + p->panel * p->pg.mpg * dtype_size(n->out[0]->dtype);
}

static LLVMValueRef byte_at(KB *kb, LLVMValueRef base, LLVMValueRef off) {
  return LLVMBuildInBoundsGEP2(kb->b, LLVMInt8TypeInContext(kb->ctx), base, &off, 1, "");
}

PatchGeom patch_geometry(Compiler *cc, Node *src, const Shape *xs, const Shape *ws, Shape *y) {
  PatchGeom p = {.g = conv_geometry(cc, src, xs, ws->dim + 2, false)};
  p.g.group = attr_int(src, "group", 1);
  p.batch = xs->dim[0], p.cin = xs->dim[1], p.cout = ws->dim[0];
  p.cpg = ws->dim[1], p.mpg = p.cout / p.g.group;
  p.in_pixels = 1, p.pixels = 1, p.ksp = 1;
  *y = (Shape){.rank = xs->rank, .dim = {xs->dim[0], ws->dim[0]}};
  p.unit = true;
  for (int i = 0; i < p.g.nsp; i++) {
    p.in_sp[i] = xs->dim[2 + i];
    p.out_sp[i] = y->dim[2 + i] = p.g.out[i];
    p.in_pixels *= p.in_sp[i];
    p.pixels *= p.out_sp[i];
    p.ksp *= p.g.kernel[i];
    p.unit &= p.g.kernel[i] == 1 && p.g.stride[i] == 1 && p.g.pad_begin[i] == 0 && p.g.pad_end[i] == 0;
  }
  return p;
}

void patch_nhwc(KB *kb, const PatchGeom *p, LLVMValueRef x, DType xt, LLVMValueRef img, LLVMValueRef dst, DType dt, bool flip) {
  Loop lc, lp;
  LLVMValueRef c = kb_for(kb, &lc, p->cin);
  LLVMValueRef src = LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, img, kb_idx(kb, p->cin), ""), c, ""),
                                  kb_idx(kb, p->in_pixels), "");
  LLVMValueRef px = kb_for(kb, &lp, p->in_pixels);
  LLVMValueRef v = kb_load(kb, xt, x, LLVMBuildAdd(kb->b, src, px, ""));
  if (flip)
    v = LLVMBuildXor(kb->b, v, LLVMConstInt(LLVMInt8TypeInContext(kb->ctx), 0x80, 0), "");
  kb_store(kb, dt, dst, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, px, kb_idx(kb, p->cin), ""), c, ""), kb_convert(kb, v, xt, dt));
  kb_end_for(kb, &lp);
  kb_end_for(kb, &lc);
}

// The output position of pixel index PX along each spatial dim.
static void pixel_coords(KB *kb, const PatchGeom *p, LLVMValueRef px, LLVMValueRef *o) {
  for (int i = p->g.nsp - 1; i >= 0; i--) {
    o[i] = LLVMBuildSRem(kb->b, px, kb_idx(kb, p->out_sp[i]), "");
    px = LLVMBuildSDiv(kb->b, px, kb_idx(kb, p->out_sp[i]), "");
  }
}

// Kernel position KPOS as offsets along each spatial dim.
static void kernel_coords(KB *kb, const PatchGeom *p, LLVMValueRef kpos, LLVMValueRef *k) {
  for (int i = p->g.nsp - 1; i >= 0; i--) {
    k[i] = LLVMBuildSRem(kb->b, kpos, kb_idx(kb, p->g.kernel[i]), "");
    kpos = LLVMBuildSDiv(kb->b, kpos, kb_idx(kb, p->g.kernel[i]), "");
  }
}

// The input pixel read by output O and kernel offset K, with the in-bounds test.
static LLVMValueRef input_pixel(KB *kb, const PatchGeom *p, LLVMValueRef *o, LLVMValueRef *k, LLVMValueRef *inside) {
  LLVMValueRef at = kb_idx(kb, 0);
  *inside = NULL;
  for (int i = 0; i < p->g.nsp; i++)
    at = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, at, kb_idx(kb, p->in_sp[i]), ""),
                      window_index(kb, &p->g, i, o[i], k[i], p->in_sp[i], inside), "");
  return at;
}

void patch_rows(KB *kb, const PatchGeom *p, LLVMValueRef xt, int esize, LLVMValueRef grp, LLVMValueRef p0, int64_t count,
                LLVMValueRef panel, int64_t row_elems, int pad_byte) {
  int64_t K = p->cpg * p->ksp;
  Loop lr, lk;
  LLVMValueRef r = kb_for(kb, &lr, count);
  LLVMValueRef row = byte_at(kb, panel, LLVMBuildMul(kb->b, r, kb_idx(kb, row_elems * esize), ""));
  LLVMValueRef o[3], k[3], inside;
  pixel_coords(kb, p, LLVMBuildAdd(kb->b, p0, r, ""), o);
  LLVMValueRef kpos = kb_for(kb, &lk, p->ksp);
  kernel_coords(kb, p, kpos, k);
  LLVMValueRef src = input_pixel(kb, p, o, k, &inside);
  LLVMValueRef dst = byte_at(kb, row, LLVMBuildMul(kb->b, kpos, kb_idx(kb, p->cpg * esize), ""));
  IfBlock ib;
  kb_if(kb, &ib, inside);
  LLVMValueRef from = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, src, kb_idx(kb, p->cin), ""), LLVMBuildMul(kb->b, grp, kb_idx(kb, p->cpg), ""), "");
  kb_memcpy(kb, dst, byte_at(kb, xt, LLVMBuildMul(kb->b, from, kb_idx(kb, esize), "")), p->cpg * esize);
  kb_else(kb, &ib);
  kb_memset(kb, dst, pad_byte, p->cpg * esize);
  kb_end_if(kb, &ib);
  kb_end_for(kb, &lk);
  if (row_elems > K)
    kb_memset(kb, byte_at(kb, row, kb_idx(kb, K * esize)), 0, (row_elems - K) * esize);
  kb_end_for(kb, &lr);
}

// Output pixels [P0, P0 + COUNT) of image IMG, group GRP: their rows of A (patches, or the
// NHWC copy itself for direct convolutions), the GEMM core into the scratch result rows, then
// those into the NCHW output.
static void emit_panel(KB *kb, Node *n, LLVMValueRef img, LLVMValueRef grp, LLVMValueRef p0, int64_t count) {
  const QConvPlan *p = n->priv;
  const PatchGeom *pg = &p->pg;
  const QCore *c = &p->core;
  int64_t K4 = c->kgroups * c->dot.group, at = nhwc_bytes(p);
  LLVMValueRef xt = kb->scratch, a = byte_at(kb, kb->scratch, kb_idx(kb, at)), rowsum = NULL;
  int64_t lda = K4;
  if (p->direct) {
    a = byte_at(kb, xt, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, p0, kb_idx(kb, pg->cin), ""),
                                     LLVMBuildMul(kb->b, grp, kb_idx(kb, pg->cpg), ""), ""));
    lda = pg->cin;
  } else {
    patch_rows(kb, pg, xt, 1, grp, p0, count, a, K4, p->x_pad & 0xff);
  }
  at += panel_bytes(p);
  if (c->need_rowsum) {
    rowsum = byte_at(kb, kb->scratch, kb_idx(kb, at));
    Loop lr;
    LLVMValueRef r = kb_for(kb, &lr, count);
    kb_store(kb, DT_I32, rowsum, r, qrow_sum(kb, c, byte_at(kb, a, LLVMBuildMul(kb->b, r, kb_idx(kb, lda), "")), c->K, false));
    kb_end_for(kb, &lr);
  }
  LLVMValueRef res = byte_at(kb, kb->scratch, kb_idx(kb, at + rowsum_bytes(p)));
  qcore_emit(kb, n, c, grp, a, lda, false, rowsum, count, res, kb_idx(kb, 0), pg->mpg, 1);
  DType yt = n->out[0]->dtype;
  LLVMValueRef y0 = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, img, kb_idx(kb, pg->cout), ""),
                                                                       LLVMBuildMul(kb->b, grp, kb_idx(kb, pg->mpg), ""), ""),
                                                   kb_idx(kb, pg->pixels), ""), p0, "");
  Loop lj, lr;
  LLVMValueRef j = kb_for(kb, &lj, pg->mpg), r = kb_for(kb, &lr, count);
  copy_element(kb, yt, kb->out[0], LLVMBuildAdd(kb->b, y0, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, j, kb_idx(kb, pg->pixels), ""), r, ""), ""),
               res, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, r, kb_idx(kb, pg->mpg), ""), j, ""));
  kb_end_for(kb, &lr);
  kb_end_for(kb, &lj);
}

// Depthwise: for each output pixel and vector of channels, the window's products of
// (x - x_zp) and the weights less their zero points (int16, [kernel position][channel]).
static void emit_depthwise(KB *kb, Node *n, LLVMValueRef img) {
  const QConvPlan *p = n->priv;
  const PatchGeom *pg = &p->pg;
  const QCore *c = &p->core;
  int L = c->dot.lanes;
  int64_t cblocks = (pg->cin + L - 1) / L, cpad = cblocks * L;
  LLVMTypeRef i32 = LLVMInt32TypeInContext(kb->ctx), v32 = LLVMVectorType(i32, (unsigned)L);
  LLVMTypeRef i8 = LLVMInt8TypeInContext(kb->ctx), i16 = LLVMInt16TypeInContext(kb->ctx);
  LLVMValueRef y = LLVMBuildMul(kb->b, img, kb_idx(kb, pg->cout * pg->pixels), "");
  void *ctx = qcore_store_ctx(kb, n, c, kb_idx(kb, 0), y, 1, pg->pixels);
  Loop lp, lb, lk;
  LLVMValueRef px = kb_for(kb, &lp, pg->pixels);
  LLVMValueRef o[3], k[3], inside;
  pixel_coords(kb, pg, px, o);
  LLVMValueRef blk = kb_for(kb, &lb, cblocks);
  LLVMValueRef acc = kb_var(kb, v32, LLVMConstNull(v32));
  LLVMValueRef ch = LLVMBuildMul(kb->b, blk, kb_idx(kb, L), "");
  LLVMValueRef zx = qsplat(kb, LLVMConstInt(i32, (unsigned long long)p->x_zp, 1), L);
  LLVMValueRef kpos = kb_for(kb, &lk, pg->ksp);
  kernel_coords(kb, pg, kpos, k);
  LLVMValueRef src = input_pixel(kb, pg, o, k, &inside);
  LLVMValueRef xv = qload_vec(kb, i8, L, kb->scratch, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, src, kb_idx(kb, pg->cin), ""), ch, ""));
  xv = c->a_stored == DT_I8 ? LLVMBuildSExt(kb->b, xv, v32, "") : LLVMBuildZExt(kb->b, xv, v32, "");
  xv = kb_select(kb, inside, LLVMBuildSub(kb->b, xv, zx, ""), LLVMConstNull(v32));
  LLVMValueRef wv = qload_vec(kb, i16, L, kb->in[1], LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, kpos, kb_idx(kb, cpad), ""), ch, ""));
  wv = LLVMBuildSExt(kb->b, wv, v32, "");
  kb_set(kb, acc, LLVMBuildAdd(kb->b, kb_get(kb, v32, acc), LLVMBuildNSWMul(kb->b, xv, wv, ""), ""));
  kb_end_for(kb, &lk);
  LLVMValueRef sum = kb_get(kb, v32, acc);
  // the last block may be partial: its lanes past the channels are not stored
  int64_t tail = pg->cin % L;
  if (tail) {
    IfBlock ib;
    kb_if(kb, &ib, LLVMBuildICmp(kb->b, LLVMIntEQ, blk, kb_idx(kb, cblocks - 1), ""));
    qcore_store(kb, ctx, px, blk, sum, (int)tail);
    kb_else(kb, &ib);
    qcore_store(kb, ctx, px, blk, sum, L);
    kb_end_if(kb, &ib);
  } else {
    qcore_store(kb, ctx, px, blk, sum, L);
  }
  kb_end_for(kb, &lb);
  kb_end_for(kb, &lp);
}

void lower_QConv(KB *kb, Node *n) {
  const QConvPlan *p = n->priv;
  const PatchGeom *pg = &p->pg;
  const QCore *c = &p->core;
  Loop li, lg, lp;
  LLVMValueRef img = kb_for(kb, &li, pg->batch);
  DType xt = n->in[0]->dtype;
  patch_nhwc(kb, pg, kb->in[0], xt, img, kb->scratch, xt, !p->depthwise && c->a_stored != c->dot.a_type);
  if (p->depthwise) {
    emit_depthwise(kb, n, img);
    kb_end_for(kb, &li);
    return;
  }
  LLVMValueRef grp = kb_for(kb, &lg, pg->g.group);
  int64_t full = pg->pixels / p->panel * p->panel;
  if (full > 0) {
    LLVMValueRef p0 = kb_for_v(kb, &lp, kb_idx(kb, 0), kb_idx(kb, full), p->panel);
    emit_panel(kb, n, img, grp, p0, p->panel);
    kb_end_for(kb, &lp);
  }
  if (pg->pixels > full)
    emit_panel(kb, n, img, grp, kb_idx(kb, full), pg->pixels - full);
  kb_end_for(kb, &lg);
  kb_end_for(kb, &li);
}

// Weight (k, n) with K ordered (kernel position, channel of the group): W[n][c][kpos].
int32_t conv_weight(const QLinearSpec *s, int64_t k, int64_t n, int64_t K, int64_t N) {
  (void)N;
  int64_t cpg = s->w->shape.dim[1], ksp = K / cpg;
  return (int32_t)dtype_get_int(s->w->dtype, s->w->data, n * K + (k % cpg) * ksp + k / cpg);
}

// The depthwise weights (w - zw) as int16 [kernel position][channel padded to lanes], and the
// epilogue parameters with no offsets (the products are exact); false if they do not fit.
static bool depthwise_weights(Compiler *cc, Graph *with, Node *n, QConvPlan *p, const QLinearSpec *s) {
  QCore *c = &p->core;
  int L = c->dot.lanes;
  int64_t cin = p->pg.cin, ksp = p->pg.ksp, cpad = (cin + L - 1) / L * L;
  int16_t *w = pool_alloc(&cc->pool, sizeof(int16_t) * (size_t)(ksp * cpad));
  int32_t *prm = pool_alloc(&cc->pool, sizeof(int32_t) * (size_t)(qparam_rows(c) * cpad));
  float *fprm = pool_alloc(&cc->pool, sizeof(float) * (size_t)(2 * cpad));
  for (int64_t ch = 0; ch < cin; ch++) {
    int32_t zw = s->w_zp[s->nw > 1 ? ch : 0];
    for (int64_t k = 0; k < ksp; k++)
      w[k * cpad + ch] = (int16_t)(dtype_get_int(s->w->dtype, s->w->data, ch * ksp + k) - zw);
    if (!qchannel_params(s, c, ch, &prm[ch], cpad, &fprm[ch], cpad))
      return false;
  }
  n->in[1] = graph_const(with, pool_printf(&cc->pool, "%s.packed", s->w->name), DT_I16,
                         (Shape){.rank = 2, .dim = {ksp, cpad}}, w);
  n->in[2] = graph_const(with, pool_printf(&cc->pool, "%s.requant", s->src->name), DT_I32,
                         (Shape){.rank = 2, .dim = {qparam_rows(c), cpad}}, prm);
  if (s->out != QOUT_INT32)
    n->in[3] = graph_const(with, pool_printf(&cc->pool, "%s.scale", s->src->name), DT_F32, (Shape){.rank = 2, .dim = {2, cpad}}, fprm);
  return true;
}

Node *qconv_build(Compiler *cc, Graph *with, const QLinearSpec *s, const Target *t) {
  QConvPlan *p = pool_alloc(&cc->pool, sizeof *p);
  PatchGeom *pg = &p->pg;
  *pg = patch_geometry(cc, s->src, &s->x->shape, &s->w->shape, &p->y_shape);
  p->depthwise = pg->cpg == 1 && pg->mpg == 1 && pg->g.group > 1;
  int64_t K = pg->cpg * pg->ksp;
  p->stats = (KernelStats){.macs = pg->batch * pg->cout * pg->pixels * K, .weights = pg->cout * K};
  Node *n = graph_new_node(with, "QConv", "edgecc", pool_printf(&cc->pool, "%s.qconv", s->src->name), 4, 1);
  n->in[0] = s->x;
  QCore *c = &p->core;
  if (p->depthwise) {
    *c = (QCore){.dot = qdot_select(t, s->x->dtype, s->w->dtype, true), .N = pg->cin, .K = pg->ksp, .groups = 1,
                 .a_stored = s->x->dtype, .bias64 = qbias_fractional(s, pg->cin), .out = s->out, .y_zp = s->y_zp,
                 .lo = s->lo, .hi = s->hi};
    c->dot.dot = QDOT_WIDEN;
    p->x_zp = s->x_zp;
    if (!depthwise_weights(cc, with, n, p, s))
      return NULL;
  } else {
    if (!qcore_build(cc, with, n, c, s, t, pg->cpg * pg->ksp, pg->mpg, pg->g.group, conv_weight))
      return NULL;
    p->x_pad = s->x_zp + qdot_shift(s->x->dtype, c->dot.a_type);
    p->direct = pg->unit && c->K % c->dot.group == 0;
    int64_t K4 = c->kgroups * c->dot.group;
    p->panel = PANEL_BYTES / K4 / c->dot.mr * c->dot.mr; // whole register tiles
    p->panel = p->panel < c->dot.mr ? c->dot.mr : p->panel;
    p->panel = p->panel > pg->pixels ? pg->pixels : p->panel;
  }
  Value *yv = graph_new_value(with, pool_printf(&cc->pool, "%s.y", s->src->name));
  yv->producer = n;
  yv->dtype = s->y_dt;
  n->out[0] = yv;
  n->priv = p;
  n->kernel = p->depthwise ? "qconv.depthwise" : pool_printf(&cc->pool, "qconv.%s", qdot_name(&c->dot));
  infer_QConv(cc, n);
  n->inferred = true;
  return n;
}

//
// QConvTranspose: the transposed convolution of a quantized QDQ group, as a gather per output
// element (the taps whose input position falls on the stride grid), products of the inputs
// less their zero point and the weights less theirs (int16 [Cin][Cout/group][kernel])
// accumulated in int32, then the same epilogue as the other kernels.
//
typedef struct {
  KernelStats stats;
  QCore core;                // epilogue (one lane)
  const ConvGeom *g;         // the ConvTranspose's geometry (its inference's)
  int64_t cin, cout, cpg, mpg, ksp;
  int32_t x_zp;
  Shape y_shape;
} QConvTPlan;

void infer_QConvTranspose(Compiler *cc, Node *n) {
  const QConvTPlan *p = n->priv;
  if (!p)
    fatal_at(cc, n, "internal op QConvTranspose without a plan");
  set_output(n, 0, n->out[0]->dtype, p->y_shape);
}

void lower_QConvTranspose(KB *kb, Node *n) {
  const QConvTPlan *p = n->priv;
  const ConvGeom *g = p->g;
  const Shape *xs = &n->in[0]->shape, *ys = &p->y_shape;
  LLVMTypeRef i32 = LLVMInt32TypeInContext(kb->ctx);
  LLVMBuilderRef b = kb->b;
  Loop lo[MAX_RANK], lc, lk[3];
  LLVMValueRef oi[MAX_RANK];
  kb_for_shape(kb, lo, ys, oi);
  LLVMValueRef oc = oi[1], grp = LLVMBuildSDiv(b, oc, kb_idx(kb, p->mpg), ""), j = LLVMBuildSRem(b, oc, kb_idx(kb, p->mpg), "");
  LLVMValueRef acc = kb_var(kb, i32, LLVMConstInt(i32, 0, 0));
  LLVMValueRef c = kb_for(kb, &lc, p->cpg);
  LLVMValueRef ic = LLVMBuildAdd(b, LLVMBuildMul(b, grp, kb_idx(kb, p->cpg), ""), c, "");
  LLVMValueRef xoff = LLVMBuildAdd(b, LLVMBuildMul(b, oi[0], kb_idx(kb, p->cin), ""), ic, "");
  LLVMValueRef woff = LLVMBuildAdd(b, LLVMBuildMul(b, ic, kb_idx(kb, p->mpg), ""), j, "");
  LLVMValueRef ok = LLVMConstInt(LLVMInt1TypeInContext(kb->ctx), 1, 0);
  for (int i = 0; i < g->nsp; i++) { // input position: (o + pad - k * dilation) / stride, when whole
    LLVMValueRef k = kb_for(kb, &lk[i], g->kernel[i]);
    LLVMValueRef t = LLVMBuildSub(b, LLVMBuildAdd(b, oi[2 + i], kb_idx(kb, g->pad_begin[i]), ""),
                                  LLVMBuildMul(b, k, kb_idx(kb, g->dilation[i]), ""), "");
    LLVMValueRef s = kb_idx(kb, g->stride[i]);
    LLVMValueRef pos = LLVMBuildSDiv(b, t, s, "");
    ok = LLVMBuildAnd(b, ok, LLVMBuildICmp(b, LLVMIntSGE, t, kb_idx(kb, 0), ""), "");
    ok = LLVMBuildAnd(b, ok, LLVMBuildICmp(b, LLVMIntEQ, LLVMBuildSRem(b, t, s, ""), kb_idx(kb, 0), ""), "");
    ok = LLVMBuildAnd(b, ok, LLVMBuildICmp(b, LLVMIntSLT, pos, kb_idx(kb, xs->dim[2 + i]), ""), "");
    pos = kb_select(kb, ok, pos, kb_idx(kb, 0));
    xoff = LLVMBuildAdd(b, LLVMBuildMul(b, xoff, kb_idx(kb, xs->dim[2 + i]), ""), pos, "");
    woff = LLVMBuildAdd(b, LLVMBuildMul(b, woff, kb_idx(kb, g->kernel[i]), ""), k, "");
  }
  DType xt = n->in[0]->dtype;
  LLVMValueRef xv = LLVMBuildSub(b, kb_convert(kb, kb_load(kb, xt, kb->in[0], xoff), xt, DT_I32),
                                 LLVMConstInt(i32, (unsigned long long)p->x_zp, 1), "");
  LLVMValueRef wv = kb_convert(kb, kb_load(kb, DT_I16, kb->in[1], woff), DT_I16, DT_I32);
  LLVMValueRef prod = kb_select(kb, ok, LLVMBuildNSWMul(b, xv, wv, ""), LLVMConstInt(i32, 0, 0));
  kb_set(kb, acc, LLVMBuildAdd(b, kb_get(kb, i32, acc), prod, ""));
  for (int i = g->nsp - 1; i >= 0; i--)
    kb_end_for(kb, &lk[i]);
  kb_end_for(kb, &lc);
  LLVMValueRef y = kb_flat(kb, ys, oi);
  void *ctx = qcore_store_ctx(kb, n, &p->core, oc, y, 0, 1);
  qcore_store(kb, ctx, kb_idx(kb, 0), kb_idx(kb, 0), qsplat(kb, kb_get(kb, i32, acc), 1), 1);
  kb_end_for_shape(kb, lo, ys);
}

Node *qconvtranspose_build(Compiler *cc, Graph *with, const QLinearSpec *s) {
  const Shape *ws = &s->w->shape;
  QConvTPlan *p = pool_alloc(&cc->pool, sizeof *p);
  p->g = s->src->priv;
  p->y_shape = s->src->out[0]->shape;
  p->cin = ws->dim[0], p->mpg = ws->dim[1], p->cout = p->mpg * p->g->group, p->cpg = p->cin / p->g->group;
  p->ksp = shape_numel(ws) / (p->cin * p->mpg);
  p->x_zp = s->x_zp;
  p->core = (QCore){.dot = {.lanes = 1}, .N = p->cout, .groups = 1, .a_stored = s->x->dtype,
                    .bias64 = qbias_fractional(s, p->cout), .out = s->out, .y_zp = s->y_zp, .lo = s->lo, .hi = s->hi};
  p->stats = (KernelStats){.macs = shape_numel(&s->x->shape) * p->mpg * p->ksp, .weights = shape_numel(ws)};
  int64_t M = p->cout, nw = shape_numel(ws);
  int16_t *w = pool_alloc(&cc->pool, sizeof(int16_t) * (size_t)nw);
  for (int64_t i = 0; i < nw; i++) { // [Cin][Cout/group][kernel]: the output channel's zero point
    int64_t oc = i / p->ksp % p->mpg + i / (p->ksp * p->mpg) / p->cpg * p->mpg;
    w[i] = (int16_t)(dtype_get_int(s->w->dtype, s->w->data, i) - s->w_zp[s->nw > 1 ? oc : 0]);
  }
  int32_t *prm = pool_alloc(&cc->pool, sizeof(int32_t) * (size_t)(qparam_rows(&p->core) * M));
  float *fprm = pool_alloc(&cc->pool, sizeof(float) * (size_t)(2 * M));
  for (int64_t oc = 0; oc < M; oc++) {
    if (!qchannel_params(s, &p->core, oc, &prm[oc], M, &fprm[oc], M))
      return NULL;
  }
  Node *n = graph_new_node(with, "QConvTranspose", "edgecc", pool_printf(&cc->pool, "%s.qconvt", s->src->name), 4, 1);
  n->in[0] = s->x;
  n->in[1] = graph_const(with, pool_printf(&cc->pool, "%s.centered", s->w->name), DT_I16, *ws, w);
  n->in[2] = graph_const(with, pool_printf(&cc->pool, "%s.requant", s->src->name), DT_I32,
                         (Shape){.rank = 2, .dim = {qparam_rows(&p->core), M}}, prm);
  if (s->out != QOUT_INT32)
    n->in[3] = graph_const(with, pool_printf(&cc->pool, "%s.scale", s->src->name), DT_F32, (Shape){.rank = 2, .dim = {2, M}}, fprm);
  Value *yv = n->out[0] = graph_new_value(with, pool_printf(&cc->pool, "%s.y", s->src->name));
  yv->producer = n;
  yv->dtype = s->y_dt;
  n->priv = p;
  n->kernel = "qconvtranspose";
  infer_QConvTranspose(cc, n);
  n->inferred = true;
  return n;
}
