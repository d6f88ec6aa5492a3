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
  QCore core;
  bool depthwise;            // one input channel per group and one output channel per group
  bool direct;               // 1x1, stride 1, no padding, whole groups of channels: NHWC rows are A
  ConvGeom g;
  int64_t batch, cin, cout, cpg, mpg, ksp;
  int64_t in_sp[3], out_sp[3], in_pixels, pixels;
  int64_t panel;             // patch rows per panel
  int32_t x_pad;             // the input zero point as stored in the NHWC copy
  int32_t x_zp;              // depthwise: the input zero point
  Shape y_shape;
} QConvPlan;

static int64_t align64(int64_t v) { return (v + 63) / 64 * 64; }

// Scratch: the NHWC copy (plus a vector of slack), the patch panel, its row sums.
static int64_t nhwc_bytes(const QConvPlan *p) { return align64(p->in_pixels * p->cin + 64); }
static int64_t panel_bytes(const QConvPlan *p) { return align64(p->panel * p->core.kgroups * p->core.dot.group); }

void infer_QConv(Compiler *cc, Node *n) {
  const QConvPlan *p = n->priv;
  if (!p)
    fatal_at(cc, n, "internal op QConv without a plan");
  set_output(n, 0, n->out[0]->dtype, p->y_shape);
  n->scratch = nhwc_bytes(p);
  if (!p->depthwise)
    n->scratch += (p->direct ? 0 : panel_bytes(p)) + (p->core.need_rowsum ? 4 * p->panel : 0);
}

static LLVMValueRef byte_at(KB *kb, LLVMValueRef base, LLVMValueRef off) {
  return LLVMBuildInBoundsGEP2(kb->b, LLVMInt8TypeInContext(kb->ctx), base, &off, 1, "");
}

// Image IMG of the input into XT, channels last, with the top bits flipped if FLIP.
static void emit_nhwc(KB *kb, const QConvPlan *p, LLVMValueRef img, LLVMValueRef xt, bool flip) {
  Loop lc, lp;
  LLVMValueRef c = kb_for(kb, &lc, p->cin);
  LLVMValueRef src = LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, img, kb_idx(kb, p->cin), ""), c, ""),
                                  kb_idx(kb, p->in_pixels), "");
  LLVMValueRef px = kb_for(kb, &lp, p->in_pixels);
  LLVMValueRef v = kb_load(kb, DT_U8, kb->in[0], LLVMBuildAdd(kb->b, src, px, ""));
  if (flip)
    v = LLVMBuildXor(kb->b, v, LLVMConstInt(LLVMInt8TypeInContext(kb->ctx), 0x80, 0), "");
  kb_store(kb, DT_U8, xt, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, px, kb_idx(kb, p->cin), ""), c, ""), v);
  kb_end_for(kb, &lp);
  kb_end_for(kb, &lc);
}

// The output position of pixel index PX along each spatial dim.
static void pixel_coords(KB *kb, const QConvPlan *p, LLVMValueRef px, LLVMValueRef *o) {
  for (int i = p->g.nsp - 1; i >= 0; i--) {
    o[i] = LLVMBuildSRem(kb->b, px, kb_idx(kb, p->out_sp[i]), "");
    px = LLVMBuildSDiv(kb->b, px, kb_idx(kb, p->out_sp[i]), "");
  }
}

// Kernel position KPOS as offsets along each spatial dim.
static void kernel_coords(KB *kb, const QConvPlan *p, LLVMValueRef kpos, LLVMValueRef *k) {
  for (int i = p->g.nsp - 1; i >= 0; i--) {
    k[i] = LLVMBuildSRem(kb->b, kpos, kb_idx(kb, p->g.kernel[i]), "");
    kpos = LLVMBuildSDiv(kb->b, kpos, kb_idx(kb, p->g.kernel[i]), "");
  }
}

// The input pixel read by output O and kernel offset K, with the in-bounds test.
static LLVMValueRef input_pixel(KB *kb, const QConvPlan *p, LLVMValueRef *o, LLVMValueRef *k, LLVMValueRef *inside) {
  LLVMValueRef at = kb_idx(kb, 0);
  *inside = NULL;
  for (int i = 0; i < p->g.nsp; i++)
    at = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, at, kb_idx(kb, p->in_sp[i]), ""),
                      window_index(kb, &p->g, i, o[i], k[i], p->in_sp[i], inside), "");
  return at;
}

// Patch rows of output pixels [P0, P0 + COUNT), group GRP, into PANEL (K4 bytes each), and
// their sums into ROWSUM when the core needs them.
static void emit_patches(KB *kb, const QConvPlan *p, LLVMValueRef xt, LLVMValueRef grp, LLVMValueRef p0, int64_t count,
                         LLVMValueRef panel, LLVMValueRef rowsum) {
  const QCore *c = &p->core;
  int64_t K4 = c->kgroups * c->dot.group;
  Loop lr, lk;
  LLVMValueRef r = kb_for(kb, &lr, count);
  LLVMValueRef row = byte_at(kb, panel, LLVMBuildMul(kb->b, r, kb_idx(kb, K4), ""));
  LLVMValueRef o[3], k[3], inside;
  pixel_coords(kb, p, LLVMBuildAdd(kb->b, p0, r, ""), o);
  LLVMValueRef kpos = kb_for(kb, &lk, p->ksp);
  kernel_coords(kb, p, kpos, k);
  LLVMValueRef src = input_pixel(kb, p, o, k, &inside);
  LLVMValueRef dst = byte_at(kb, row, LLVMBuildMul(kb->b, kpos, kb_idx(kb, p->cpg), ""));
  IfBlock ib;
  kb_if(kb, &ib, inside);
  kb_memcpy(kb, dst, byte_at(kb, xt, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, src, kb_idx(kb, p->cin), ""),
                                                LLVMBuildMul(kb->b, grp, kb_idx(kb, p->cpg), ""), "")), p->cpg);
  kb_else(kb, &ib);
  kb_memset(kb, dst, p->x_pad & 0xff, p->cpg);
  kb_end_if(kb, &ib);
  kb_end_for(kb, &lk);
  if (K4 > c->K)
    kb_memset(kb, byte_at(kb, row, kb_idx(kb, c->K)), 0, K4 - c->K);
  if (rowsum)
    kb_store(kb, DT_I32, rowsum, r, qrow_sum(kb, c, row, c->K, false));
  kb_end_for(kb, &lr);
}

static void emit_panel(KB *kb, Node *n, LLVMValueRef img, LLVMValueRef grp, LLVMValueRef p0, int64_t count) {
  const QConvPlan *p = n->priv;
  const QCore *c = &p->core;
  LLVMValueRef xt = kb->scratch, panel = byte_at(kb, kb->scratch, kb_idx(kb, nhwc_bytes(p)));
  LLVMValueRef rowsum = c->need_rowsum ? byte_at(kb, panel, kb_idx(kb, panel_bytes(p))) : NULL;
  emit_patches(kb, p, xt, grp, p0, count, panel, rowsum);
  LLVMValueRef y = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, img, kb_idx(kb, p->cout), ""),
                                                                      LLVMBuildMul(kb->b, grp, kb_idx(kb, p->mpg), ""), ""),
                                                  kb_idx(kb, p->pixels), ""), p0, "");
  qcore_emit(kb, n, c, grp, panel, c->kgroups * c->dot.group, false, rowsum, count, y, 1, p->pixels);
}

// 1x1, stride 1, no padding: the NHWC copy is A, one row per pixel.
static void emit_direct(KB *kb, Node *n, LLVMValueRef img, LLVMValueRef grp) {
  const QConvPlan *p = n->priv;
  const QCore *c = &p->core;
  LLVMValueRef a = byte_at(kb, kb->scratch, LLVMBuildMul(kb->b, grp, kb_idx(kb, p->cpg), ""));
  LLVMValueRef rowsum = NULL;
  if (c->need_rowsum) {
    rowsum = byte_at(kb, kb->scratch, kb_idx(kb, nhwc_bytes(p)));
    Loop lr;
    LLVMValueRef r = kb_for(kb, &lr, p->pixels);
    kb_store(kb, DT_I32, rowsum, r, qrow_sum(kb, c, byte_at(kb, a, LLVMBuildMul(kb->b, r, kb_idx(kb, p->cin), "")), c->K, false));
    kb_end_for(kb, &lr);
  }
  LLVMValueRef y = LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, img, kb_idx(kb, p->cout), ""),
                                                    LLVMBuildMul(kb->b, grp, kb_idx(kb, p->mpg), ""), ""),
                                kb_idx(kb, p->pixels), "");
  qcore_emit(kb, n, c, grp, a, p->cin, false, rowsum, p->pixels, y, 1, p->pixels);
}

// Depthwise: for each output pixel and vector of channels, the window's products of
// (x - x_zp) and the weights less their zero points (int16, [kernel position][channel]).
static void emit_depthwise(KB *kb, Node *n, LLVMValueRef img) {
  const QConvPlan *p = n->priv;
  const QCore *c = &p->core;
  int L = c->dot.lanes;
  int64_t cblocks = (p->cin + L - 1) / L, cpad = cblocks * L;
  LLVMTypeRef i32 = LLVMInt32TypeInContext(kb->ctx), v32 = LLVMVectorType(i32, (unsigned)L);
  LLVMTypeRef i8 = LLVMInt8TypeInContext(kb->ctx), i16 = LLVMInt16TypeInContext(kb->ctx);
  LLVMValueRef y = LLVMBuildMul(kb->b, img, kb_idx(kb, p->cout * p->pixels), "");
  void *ctx = qcore_store_ctx(kb->cc, n, c, kb_idx(kb, 0), y, 1, p->pixels);
  Loop lp, lb, lk;
  LLVMValueRef px = kb_for(kb, &lp, p->pixels);
  LLVMValueRef o[3], k[3], inside;
  pixel_coords(kb, p, px, o);
  LLVMValueRef blk = kb_for(kb, &lb, cblocks);
  LLVMValueRef acc = kb_var(kb, v32, LLVMConstNull(v32));
  LLVMValueRef ch = LLVMBuildMul(kb->b, blk, kb_idx(kb, L), "");
  LLVMValueRef zx = qsplat(kb, LLVMConstInt(i32, (unsigned long long)p->x_zp, 1), L);
  LLVMValueRef kpos = kb_for(kb, &lk, p->ksp);
  kernel_coords(kb, p, kpos, k);
  LLVMValueRef src = input_pixel(kb, p, o, k, &inside);
  LLVMValueRef xv = qload_vec(kb, i8, L, kb->scratch, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, src, kb_idx(kb, p->cin), ""), ch, ""));
  xv = c->a_stored == DT_I8 ? LLVMBuildSExt(kb->b, xv, v32, "") : LLVMBuildZExt(kb->b, xv, v32, "");
  xv = kb_select(kb, inside, LLVMBuildSub(kb->b, xv, zx, ""), LLVMConstNull(v32));
  LLVMValueRef wv = qload_vec(kb, i16, L, kb->in[1], LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, kpos, kb_idx(kb, cpad), ""), ch, ""));
  wv = LLVMBuildSExt(kb->b, wv, v32, "");
  kb_set(kb, acc, LLVMBuildAdd(kb->b, kb_get(kb, v32, acc), LLVMBuildNSWMul(kb->b, xv, wv, ""), ""));
  kb_end_for(kb, &lk);
  LLVMValueRef sum = kb_get(kb, v32, acc);
  // the last block may be partial: its lanes past the channels are not stored
  int64_t tail = p->cin % L;
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
  const QCore *c = &p->core;
  Loop li, lg, lp;
  LLVMValueRef img = kb_for(kb, &li, p->batch);
  emit_nhwc(kb, p, img, kb->scratch, !p->depthwise && c->a_stored != c->dot.a_type);
  if (p->depthwise) {
    emit_depthwise(kb, n, img);
    kb_end_for(kb, &li);
    return;
  }
  LLVMValueRef grp = kb_for(kb, &lg, p->g.group);
  if (p->direct) {
    emit_direct(kb, n, img, grp);
  } else {
    int64_t full = p->pixels / p->panel * p->panel;
    if (full > 0) {
      LLVMValueRef p0 = kb_for_v(kb, &lp, kb_idx(kb, 0), kb_idx(kb, full), p->panel);
      emit_panel(kb, n, img, grp, p0, p->panel);
      kb_end_for(kb, &lp);
    }
    if (p->pixels > full)
      emit_panel(kb, n, img, grp, kb_idx(kb, full), p->pixels - full);
  }
  kb_end_for(kb, &lg);
  kb_end_for(kb, &li);
}

// Weight (k, n) with K ordered (kernel position, channel of the group): W[n][c][kpos].
static int32_t conv_weight(const QLinearSpec *s, int64_t k, int64_t n, int64_t K, int64_t N) {
  (void)N;
  int64_t cpg = s->w->shape.dim[1], ksp = K / cpg;
  return (int32_t)dtype_get_int(s->w->dtype, s->w->data, n * K + (k % cpg) * ksp + k / cpg);
}

// The depthwise weights (w - zw) as int16 [kernel position][channel padded to lanes], and the
// epilogue parameters with no offsets (the products are exact).
static void depthwise_weights(Compiler *cc, Graph *with, Node *n, QConvPlan *p, const QLinearSpec *s) {
  QCore *c = &p->core;
  int L = c->dot.lanes;
  int64_t cpad = (p->cin + L - 1) / L * L;
  int16_t *w = pool_alloc(&cc->pool, sizeof(int16_t) * (size_t)(p->ksp * cpad));
  int32_t *prm = pool_alloc(&cc->pool, sizeof(int32_t) * (size_t)(4 * cpad));
  float *fprm = pool_alloc(&cc->pool, sizeof(float) * (size_t)(2 * cpad));
  for (int64_t ch = 0; ch < p->cin; ch++) {
    int32_t zw = s->w_zp[s->nw > 1 ? ch : 0];
    for (int64_t k = 0; k < p->ksp; k++)
      w[k * cpad + ch] = (int16_t)(dtype_get_int(s->w->dtype, s->w->data, ch * p->ksp + k) - zw);
    prm[ch] = s->out == QOUT_FLOAT && s->bias_f ? 0 : (int32_t)qbias_acc(s, ch);
    qmultiplier(qchannel_multiplier(s, ch), &prm[2 * cpad + ch], &prm[3 * cpad + ch]);
    fprm[ch] = qchannel_multiplier(s, ch);
    fprm[cpad + ch] = s->bias_f && s->out == QOUT_FLOAT ? s->bias_f[ch] : 0;
  }
  n->in[1] = graph_const(with, pool_printf(&cc->pool, "%s.packed", s->w->name), DT_I16,
                         (Shape){.rank = 2, .dim = {p->ksp, cpad}}, w);
  n->in[2] = graph_const(with, pool_printf(&cc->pool, "%s.requant", s->src->name), DT_I32, (Shape){.rank = 2, .dim = {4, cpad}}, prm);
  if (s->out == QOUT_FLOAT)
    n->in[3] = graph_const(with, pool_printf(&cc->pool, "%s.scale", s->src->name), DT_F32, (Shape){.rank = 2, .dim = {2, cpad}}, fprm);
}

Node *qconv_build(Compiler *cc, Graph *with, const QLinearSpec *s, const Target *t) {
  const Shape *xs = &s->x->shape, *ws = &s->w->shape;
  QConvPlan *p = pool_alloc(&cc->pool, sizeof *p);
  p->g = conv_geometry(cc, s->src, xs, ws->dim + 2, false);
  p->g.group = attr_int(s->src, "group", 1);
  p->batch = xs->dim[0], p->cin = xs->dim[1], p->cout = ws->dim[0];
  p->cpg = ws->dim[1], p->mpg = p->cout / p->g.group;
  p->in_pixels = 1, p->pixels = 1, p->ksp = 1;
  Shape y = {.rank = xs->rank, .dim = {xs->dim[0], ws->dim[0]}};
  bool unit = true;
  for (int i = 0; i < p->g.nsp; i++) {
    p->in_sp[i] = xs->dim[2 + i];
    p->out_sp[i] = y.dim[2 + i] = p->g.out[i];
    p->in_pixels *= p->in_sp[i];
    p->pixels *= p->out_sp[i];
    p->ksp *= p->g.kernel[i];
    unit &= p->g.kernel[i] == 1 && p->g.stride[i] == 1 && p->g.pad_begin[i] == 0 && p->g.pad_end[i] == 0;
  }
  p->y_shape = y;
  p->depthwise = p->cpg == 1 && p->mpg == 1 && p->g.group > 1;
  Node *n = graph_new_node(with, "QConv", "edgecc", pool_printf(&cc->pool, "%s.qconv", s->src->name), 4, 1);
  n->in[0] = s->x;
  QCore *c = &p->core;
  if (p->depthwise) {
    *c = (QCore){.dot = qdot_select(t, s->x->dtype, s->w->dtype, true), .N = p->cin, .K = p->ksp, .groups = 1,
                 .a_stored = s->x->dtype, .out = s->out, .y_zp = s->y_zp, .lo = s->lo, .hi = s->hi};
    c->dot.dot = QDOT_WIDEN;
    p->x_zp = s->x_zp;
    depthwise_weights(cc, with, n, p, s);
  } else {
    if (!qcore_build(cc, with, n, c, s, t, p->cpg * p->ksp, p->mpg, p->g.group, conv_weight))
      return NULL;
    p->x_pad = s->x_zp + qdot_shift(s->x->dtype, c->dot.a_type);
    p->direct = unit && c->K % c->dot.group == 0;
    int64_t K4 = c->kgroups * c->dot.group;
    p->panel = PANEL_BYTES / K4;
    p->panel = p->panel < c->dot.mr ? c->dot.mr : p->panel;
    p->panel = p->panel > p->pixels ? p->pixels : p->panel;
    if (p->direct)
      p->panel = p->pixels; // the row sums cover every pixel
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
