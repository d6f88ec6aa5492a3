// qconv.c — integer convolutions of quantized models (QDQ Conv, QLinearConv, ConvInteger) on
// the microkernel of qgemm.c. The weights are the broadcast operand, one row of bytes per
// output channel, packed at compile time; the input is the vector operand: each panel of
// output pixels is gathered (im2col) into the packed layout in scratch, shifted to the type
// the instruction multiplies, padding reading as the input's zero point. One vector of
// accumulators then holds consecutive output pixels of one channel, stored straight into the
// NCHW output.
#include "../compiler.h"
#include "ops.h"

#include <string.h>

// Bytes of one im2col panel: enough output pixels to amortize the loops, small enough to stay
// in the L1/L2 caches with the weights.
#define PANEL_BYTES (48 * 1024)

typedef struct {
  QDot dot;
  ConvGeom g;
  int64_t batch, cin, cout, cpg, mpg;
  int64_t in_sp[3], out_sp[3], in_plane, pixels;
  int64_t K, kgroups;
  int64_t panel;              // output pixels per panel (a multiple of the lanes)
  DType x_stored;
  int32_t x_pad;              // the input zero point as the kernel reads it
  bool need_colsum;
  QOutKind out;
  int32_t y_zp, lo, hi;
  Shape y_shape;
} QConvPlan;

void infer_QConv(Compiler *cc, Node *n) {
  const QConvPlan *p = n->priv;
  if (!p)
    fatal_at(cc, n, "internal op QConv without a plan");
  set_output(n, 0, n->out[0]->dtype, p->y_shape);
  int64_t pb = p->panel * p->kgroups * p->dot.group;
  n->scratch = (pb + 63) / 64 * 64 + (p->need_colsum ? 4 * p->panel : 0);
}

typedef struct {
  const QConvPlan *p;
  Node *n;
  LLVMValueRef oc0;     // first output channel of the group
  LLVMValueRef y0;      // element offset of the panel's first pixel in channel 0 of the image
  LLVMValueRef colsum;  // i32[panel] or NULL
} ConvStore;

static void conv_store(KB *kb, void *ctx, LLVMValueRef row, LLVMValueRef blk, LLVMValueRef acc, int valid) {
  ConvStore *cs = ctx;
  const QConvPlan *p = cs->p;
  int L = p->dot.lanes;
  LLVMTypeRef i32 = LLVMInt32TypeInContext(kb->ctx), f32 = LLVMFloatTypeInContext(kb->ctx);
  LLVMValueRef oc = LLVMBuildAdd(kb->b, cs->oc0, row, "");
  LLVMValueRef px = LLVMBuildMul(kb->b, blk, kb_idx(kb, L), "");
  LLVMValueRef yat = LLVMBuildAdd(kb->b, LLVMBuildAdd(kb->b, cs->y0, LLVMBuildMul(kb->b, oc, kb_idx(kb, p->pixels), ""), ""), px, "");
  DType yt = cs->n->out[0]->dtype;
  LLVMValueRef prm = kb->in[2];
  LLVMValueRef v = LLVMBuildAdd(kb->b, acc, qsplat(kb, kb_load(kb, DT_I32, prm, oc), L), "");
  if (cs->colsum) {
    LLVMValueRef zw = qsplat(kb, kb_load(kb, DT_I32, prm, LLVMBuildAdd(kb->b, oc, kb_idx(kb, p->cout), "")), L);
    v = LLVMBuildSub(kb->b, v, LLVMBuildMul(kb->b, zw, qload_vec(kb, i32, L, cs->colsum, px), ""), "");
  }
  if (p->out == QOUT_INT32) {
    qstore_lanes(kb, DT_I32, kb->out[0], yat, v, valid);
  } else if (p->out == QOUT_FLOAT) {
    LLVMValueRef scale = qsplat(kb, kb_load(kb, DT_F32, kb->in[3], oc), L);
    LLVMValueRef bias = qsplat(kb, kb_load(kb, DT_F32, kb->in[3], LLVMBuildAdd(kb->b, oc, kb_idx(kb, p->cout), "")), L);
    LLVMValueRef y = LLVMBuildFAdd(kb->b, LLVMBuildFMul(kb->b, LLVMBuildSIToFP(kb->b, v, LLVMVectorType(f32, (unsigned)L), ""), scale, ""), bias, "");
    qstore_lanes(kb, yt, kb->out[0], yat, y, valid);
  } else {
    LLVMValueRef mult = qsplat(kb, kb_load(kb, DT_I32, prm, LLVMBuildAdd(kb->b, oc, kb_idx(kb, 2 * p->cout), "")), L);
    LLVMValueRef shift = qsplat(kb, kb_load(kb, DT_I32, prm, LLVMBuildAdd(kb->b, oc, kb_idx(kb, 3 * p->cout), "")), L);
    LLVMValueRef y = qrequantize(kb, v, mult, shift, p->y_zp, p->lo, p->hi);
    qstore_lanes(kb, yt, kb->out[0], yat, LLVMBuildTrunc(kb->b, y, LLVMVectorType(kb_type(kb, yt), (unsigned)L), ""), valid);
  }
}

// Gathers output pixels [P0, P0 + COUNT) of image IMG, group GRP into the packed panel, and
// their column sums (as the kernel reads the bytes) when needed.
static void emit_im2col(KB *kb, const QConvPlan *p, LLVMValueRef x, LLVMValueRef img, LLVMValueRef grp, LLVMValueRef p0,
                        int64_t count, LLVMValueRef panel, LLVMValueRef colsum) {
  const ConvGeom *g = &p->g;
  LLVMBuilderRef b = kb->b;
  LLVMTypeRef i8 = LLVMInt8TypeInContext(kb->ctx), i32 = LLVMInt32TypeInContext(kb->ctx);
  int64_t ksp = p->K / p->cpg;
  int L = p->dot.lanes, G = p->dot.group;
  kb_memset(kb, panel, 0, (count + L - 1) / L * L * p->kgroups * G);
  if (colsum)
    kb_memset(kb, colsum, 0, 4 * p->panel);
  bool flip = p->x_stored != p->dot.b_type;
  Loop lk, lp;
  LLVMValueRef k = kb_for(kb, &lk, p->K);
  LLVMValueRef c = LLVMBuildSDiv(b, k, kb_idx(kb, ksp), ""), kpos = LLVMBuildSRem(b, k, kb_idx(kb, ksp), "");
  LLVMValueRef kk[3];
  for (int i = g->nsp - 1; i >= 0; i--) { // kernel offsets along each spatial dim
    kk[i] = LLVMBuildSRem(b, kpos, kb_idx(kb, g->kernel[i]), "");
    kpos = LLVMBuildSDiv(b, kpos, kb_idx(kb, g->kernel[i]), "");
  }
  LLVMValueRef chan = LLVMBuildAdd(b, LLVMBuildMul(b, img, kb_idx(kb, p->cin), ""),
                                   LLVMBuildAdd(b, LLVMBuildMul(b, grp, kb_idx(kb, p->cpg), ""), c, ""), "");
  LLVMValueRef plane = LLVMBuildMul(b, chan, kb_idx(kb, p->in_plane), "");
  LLVMValueRef kg = LLVMBuildSDiv(b, k, kb_idx(kb, G), ""), kj = LLVMBuildSRem(b, k, kb_idx(kb, G), "");
  LLVMValueRef pix = kb_for(kb, &lp, count);
  LLVMValueRef rest = LLVMBuildAdd(b, p0, pix, ""), inside = NULL, off = kb_idx(kb, 0);
  LLVMValueRef o[3];
  for (int i = g->nsp - 1; i >= 0; i--) {
    o[i] = LLVMBuildSRem(b, rest, kb_idx(kb, p->out_sp[i]), "");
    rest = LLVMBuildSDiv(b, rest, kb_idx(kb, p->out_sp[i]), "");
  }
  for (int i = 0; i < g->nsp; i++)
    off = LLVMBuildAdd(b, LLVMBuildMul(b, off, kb_idx(kb, p->in_sp[i]), ""), window_index(kb, g, i, o[i], kk[i], p->in_sp[i], &inside), "");
  LLVMValueRef v = kb_load(kb, DT_U8, x, LLVMBuildAdd(b, plane, off, ""));
  if (flip)
    v = LLVMBuildXor(b, v, LLVMConstInt(i8, 0x80, 0), "");
  v = kb_select(kb, inside, v, LLVMConstInt(i8, (unsigned long long)p->x_pad, 1));
  LLVMValueRef at = LLVMBuildAdd(b, LLVMBuildMul(b, LLVMBuildAdd(b, LLVMBuildMul(b, LLVMBuildAdd(b, LLVMBuildMul(b, LLVMBuildSDiv(b, pix, kb_idx(kb, L), ""), kb_idx(kb, p->kgroups), ""), kg, ""), kb_idx(kb, L), ""),
                                                                 LLVMBuildSRem(b, pix, kb_idx(kb, L), ""), ""), kb_idx(kb, G), ""), kj, "");
  kb_store(kb, DT_U8, panel, at, v);
  if (colsum) {
    LLVMValueRef w = p->dot.b_type == DT_I8 ? LLVMBuildSExt(b, v, i32, "") : LLVMBuildZExt(b, v, i32, "");
    kb_store(kb, DT_I32, colsum, pix, LLVMBuildAdd(b, kb_load(kb, DT_I32, colsum, pix), w, ""));
  }
  kb_end_for(kb, &lp);
  kb_end_for(kb, &lk);
}

static void emit_panel(KB *kb, Node *n, LLVMValueRef img, LLVMValueRef grp, LLVMValueRef p0, int64_t count) {
  const QConvPlan *p = n->priv;
  LLVMTypeRef i8 = LLVMInt8TypeInContext(kb->ctx);
  int64_t pb = p->panel * p->kgroups * p->dot.group;
  LLVMValueRef panel = kb->scratch;
  LLVMValueRef colsum = NULL;
  if (p->need_colsum) {
    LLVMValueRef at = kb_idx(kb, (pb + 63) / 64 * 64);
    colsum = LLVMBuildInBoundsGEP2(kb->b, i8, kb->scratch, &at, 1, "");
  }
  emit_im2col(kb, p, kb->in[0], img, grp, p0, count, panel, colsum);
  int64_t K4 = p->kgroups * p->dot.group;
  LLVMValueRef wat = LLVMBuildMul(kb->b, LLVMBuildMul(kb->b, grp, kb_idx(kb, p->mpg), ""), kb_idx(kb, K4), "");
  ConvStore cs = {p, n, LLVMBuildMul(kb->b, grp, kb_idx(kb, p->mpg), ""),
                  LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, img, kb_idx(kb, p->cout * p->pixels), ""), p0, ""), colsum};
  QMicro mk = {.dot = &p->dot, .a = LLVMBuildInBoundsGEP2(kb->b, i8, kb->in[1], &wat, 1, ""), .lda = K4,
               .b = panel, .kgroups = p->kgroups, .rows = p->mpg, .cols = count, .store = conv_store, .ctx = &cs};
  qmicro_emit(kb, &mk);
}

void lower_QConv(KB *kb, Node *n) {
  const QConvPlan *p = n->priv;
  Loop li, lg, lp;
  LLVMValueRef img = kb_for(kb, &li, p->batch), grp = kb_for(kb, &lg, p->g.group);
  int64_t full = p->pixels / p->panel * p->panel;
  if (full > 0) {
    LLVMValueRef p0 = kb_for_v(kb, &lp, kb_idx(kb, 0), kb_idx(kb, full), p->panel);
    emit_panel(kb, n, img, grp, p0, p->panel);
    kb_end_for(kb, &lp);
  }
  if (p->pixels > full)
    emit_panel(kb, n, img, grp, kb_idx(kb, full), p->pixels - full);
  kb_end_for(kb, &lg);
  kb_end_for(kb, &li);
}

Node *qconv_build(Compiler *cc, Graph *with, const QLinearSpec *s, const Target *t) {
  const Shape *xs = &s->x->shape, *ws = &s->w->shape;
  QConvPlan *p = pool_alloc(&cc->pool, sizeof *p);
  // Weights are the broadcast operand (A) here, the input the vector operand (B).
  p->dot = qdot_select(t, s->w->dtype, s->x->dtype, false);
  p->g = conv_geometry(cc, s->src, xs, ws->dim + 2, false);
  p->g.group = attr_int(s->src, "group", 1);
  p->batch = xs->dim[0], p->cin = xs->dim[1], p->cout = ws->dim[0];
  p->cpg = ws->dim[1], p->mpg = p->cout / p->g.group;
  p->in_plane = 1, p->pixels = 1;
  Shape y = {.rank = xs->rank, .dim = {xs->dim[0], ws->dim[0]}};
  for (int i = 0; i < p->g.nsp; i++) {
    p->in_sp[i] = xs->dim[2 + i];
    p->out_sp[i] = y.dim[2 + i] = p->g.out[i];
    p->in_plane *= p->in_sp[i];
    p->pixels *= p->out_sp[i];
  }
  p->y_shape = y;
  p->K = shape_numel(ws) / p->cout;
  int G = p->dot.group, L = p->dot.lanes;
  p->kgroups = (p->K + G - 1) / G;
  int64_t K4 = p->kgroups * G;
  int64_t blocks = PANEL_BYTES / (K4 * L);
  blocks = blocks < 1 ? 1 : blocks;
  int64_t need = (p->pixels + L - 1) / L;
  p->panel = (blocks < need ? blocks : need) * L;
  p->x_stored = s->x->dtype;
  int dx = qdot_shift(s->x->dtype, p->dot.b_type), dw = qdot_shift(s->w->dtype, p->dot.a_type);
  p->x_pad = s->x_zp + dx;
  p->out = s->out;
  p->y_zp = s->y_zp, p->lo = s->lo, p->hi = s->hi;
  int64_t M = p->cout;
  uint8_t *rows = pool_alloc(&cc->pool, (size_t)(M * K4));
  int32_t *prm = pool_alloc(&cc->pool, sizeof(int32_t) * (size_t)(4 * M));
  float *fprm = pool_alloc(&cc->pool, sizeof(float) * (size_t)(2 * M));
  int64_t zx = (int64_t)s->x_zp + dx;
  for (int64_t m = 0; m < M; m++) {
    int64_t rowsum = 0, zw = (int64_t)s->w_zp[s->nw > 1 ? m : 0] + dw;
    for (int64_t k = 0; k < p->K; k++) {
      int64_t v = dtype_get_int(s->w->dtype, s->w->data, m * p->K + k) + dw;
      rows[m * K4 + k] = (uint8_t)v;
      rowsum += v;
    }
    int64_t c = qbias_acc(s, m) - zx * rowsum + p->K * zx * zw;
    if (s->out == QOUT_FLOAT && s->bias_f)
      c -= qbias_acc(s, m); // the float bias is added after scaling
    if (c != (int32_t)c)
      return NULL;
    prm[m] = (int32_t)c;
    prm[M + m] = (int32_t)zw;
    p->need_colsum |= zw != 0;
    qmultiplier(qchannel_multiplier(s, m), &prm[2 * M + m], &prm[3 * M + m]);
    fprm[m] = qchannel_multiplier(s, m);
    fprm[M + m] = s->bias_f && s->out == QOUT_FLOAT ? s->bias_f[m] : 0;
  }
  int64_t bytes = M * K4;
  Node *n = graph_new_node(with, "QConv", "edgecc", pool_printf(&cc->pool, "%s.qconv", s->src->name), 4, 1);
  n->in[0] = s->x;
  n->in[1] = graph_const(with, pool_printf(&cc->pool, "%s.packed", s->w->name), p->dot.a_type, shape_of(1, &bytes), rows);
  n->in[2] = graph_const(with, pool_printf(&cc->pool, "%s.requant", s->src->name), DT_I32,
                         (Shape){.rank = 2, .dim = {4, M}}, prm);
  if (s->out == QOUT_FLOAT)
    n->in[3] = graph_const(with, pool_printf(&cc->pool, "%s.scale", s->src->name), DT_F32,
                           (Shape){.rank = 2, .dim = {2, M}}, fprm);
  Value *yv = graph_new_value(with, pool_printf(&cc->pool, "%s.y", s->src->name));
  yv->producer = n;
  yv->dtype = s->y_dt;
  n->out[0] = yv;
  n->priv = p;
  n->kernel = pool_printf(&cc->pool, "qconv.%s", qdot_name(&p->dot));
  infer_QConv(cc, n);
  n->inferred = true;
  return n;
}
