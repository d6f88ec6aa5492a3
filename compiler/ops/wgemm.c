// wgemm.c — float activations times compressed weights: the weight-only forms of MatMul,
// Gemm and Conv (DequantizeLinear of constant int8/int4 weights, per channel or in blocks
// along K; float16/bfloat16 weights behind a Cast; MatMulNBits; --weights) and sparse weights.
// The weights stay compressed in memory and are decoded into float vectors in the kernel:
//   int8/uint8/int4/uint4 codes: (code - zero point) converted to float, the block's partial
//     sums scaled once per block;
//   float16 / bfloat16: converted (F16C / fcvt where the target has them);
//   sparse: only the nonzero blocks of lanes weights, each with its k, in float32.
// Layout of the codes: [column block][k][lanes] (4-bit: two per byte, lanes 0..L/2-1 in the
// low nibbles and L/2..L-1 in the high ones), so one load decodes a vector of columns.
#include "../compiler.h"
#include "ops.h"

#include <math.h>
#include <string.h>

static LLVMTypeRef vec(LLVMTypeRef elem, int n) { return LLVMVectorType(elem, (unsigned)n); }

static int lanes_of(const Target *t) {
  int bits = t && t->vector_bits >= 128 ? t->vector_bits : 128;
  return bits / 32;
}

const char *wformat_name(WFormat f) {
  static const char *names[] = {"f16", "bf16", "int8", "uint8", "int4", "uint4", "sparse"};
  return names[f];
}

static bool four_bit(WFormat f) { return f == WFMT_I4 || f == WFMT_U4; }
static bool integer(WFormat f) { return f >= WFMT_I8 && f <= WFMT_U4; }

// Bytes of the codes of one k row of a column block.
static int64_t row_bytes(WFormat f, int L) {
  switch (f) {
  case WFMT_F16:
  case WFMT_BF16: return 2 * L;
  case WFMT_I4:
  case WFMT_U4: return L / 2;
  default: return L;
  }
}


// <L x i16> float16 bits -> <L x float>: fpext where the target converts in hardware, else
// the exponent/mantissa shift and rescale by 2^112 (also exact for subnormals, Inf, NaN).
static LLVMValueRef f16_vector(KB *kb, LLVMValueRef h, int L) {
  LLVMBuilderRef b = kb->b;
  LLVMTypeRef f32 = LLVMFloatTypeInContext(kb->ctx), i32 = LLVMInt32TypeInContext(kb->ctx);
  if (kb->cc->target && kb->cc->target->float16 != HALF_NONE)
    return LLVMBuildFPExt(b, LLVMBuildBitCast(b, h, vec(LLVMHalfTypeInContext(kb->ctx), L), ""), vec(f32, L), "");
  LLVMValueRef x = LLVMBuildZExt(b, h, vec(i32, L), "");
#define C32(v) qsplat(kb, LLVMConstInt(i32, (v), 0), L)
  LLVMValueRef sign = LLVMBuildShl(b, LLVMBuildAnd(b, x, C32(0x8000), ""), C32(16), "");
  LLVMValueRef em = LLVMBuildAnd(b, x, C32(0x7fff), "");
  LLVMValueRef shifted = LLVMBuildShl(b, em, C32(13), "");
  LLVMValueRef scaled = LLVMBuildFMul(b, LLVMBuildBitCast(b, shifted, vec(f32, L), ""), qsplat(kb, LLVMConstReal(f32, 0x1p112), L), "");
  LLVMValueRef special = LLVMBuildOr(b, shifted, C32(0x7f800000), "");
  LLVMValueRef is_special = LLVMBuildICmp(b, LLVMIntUGE, em, C32(0x7c00), "");
  LLVMValueRef bits = LLVMBuildSelect(b, is_special, special, LLVMBuildBitCast(b, scaled, vec(i32, L), ""), "");
  return LLVMBuildBitCast(b, LLVMBuildOr(b, bits, sign, ""), vec(f32, L), "");
#undef C32
}

// The float vector of column block BLK, row K (codes at CODES; ZP: <L x i32> or NULL).
static LLVMValueRef decode(KB *kb, const WCore *c, LLVMValueRef codes, LLVMValueRef blk, LLVMValueRef k, LLVMValueRef zp) {
  int L = c->lanes;
  LLVMBuilderRef b = kb->b;
  LLVMTypeRef i8 = LLVMInt8TypeInContext(kb->ctx), i16 = LLVMInt16TypeInContext(kb->ctx), i32 = LLVMInt32TypeInContext(kb->ctx);
  LLVMTypeRef f32 = LLVMFloatTypeInContext(kb->ctx);
  int64_t rb = row_bytes(c->fmt, L);
  LLVMValueRef at = LLVMBuildMul(b, LLVMBuildAdd(b, LLVMBuildMul(b, blk, kb_idx(kb, c->K), ""), k, ""), kb_idx(kb, rb), "");
  switch (c->fmt) {
  case WFMT_F16:
  case WFMT_BF16: {
    LLVMValueRef h = qload_vec(kb, i16, L, codes, LLVMBuildSDiv(b, at, kb_idx(kb, 2), ""));
    if (c->fmt == WFMT_F16)
      return f16_vector(kb, h, L);
    return LLVMBuildBitCast(b, LLVMBuildShl(b, LLVMBuildZExt(b, h, vec(i32, L), ""), qsplat(kb, LLVMConstInt(i32, 16, 0), L), ""),
                            vec(f32, L), "");
  }
  default: {
    LLVMValueRef q;
    if (four_bit(c->fmt)) {
      LLVMValueRef p = qload_vec(kb, i8, L / 2, codes, at), four = qsplat(kb, LLVMConstInt(i8, 4, 0), L / 2);
      LLVMValueRef lo = c->fmt == WFMT_I4 ? LLVMBuildAShr(b, LLVMBuildShl(b, p, four, ""), four, "")
                                          : LLVMBuildAnd(b, p, qsplat(kb, LLVMConstInt(i8, 15, 0), L / 2), "");
      LLVMValueRef hi = c->fmt == WFMT_I4 ? LLVMBuildAShr(b, p, four, "") : LLVMBuildLShr(b, p, four, "");
      LLVMValueRef mask[64];
      for (int i = 0; i < L; i++)
        mask[i] = LLVMConstInt(i32, (unsigned)i, 0);
      q = LLVMBuildShuffleVector(b, lo, hi, LLVMConstVector(mask, (unsigned)L), "");
    } else {
      q = qload_vec(kb, i8, L, codes, at);
    }
    bool sgn = c->fmt == WFMT_I8 || c->fmt == WFMT_I4;
    q = sgn ? LLVMBuildSExt(b, q, vec(i32, L), "") : LLVMBuildZExt(b, q, vec(i32, L), "");
    if (zp)
      q = LLVMBuildSub(b, q, zp, "");
    return LLVMBuildSIToFP(b, q, vec(f32, L), "");
  }
  }
}

typedef struct {
  const WCore *c;
  Node *n;
  DType xt;
  LLVMValueRef x;            // rows of activations (XT elements), LDA apart
  int64_t lda;
  LLVMValueRef grp;          // the column group
  LLVMValueRef y;            // element offset of row 0, column 0 of the group
  int64_t row_stride, col_stride;
} WRun;

static LLVMValueRef fma_vec(KB *kb, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  LLVMValueRef args[3] = {a, b, c};
  return kb_call_intrinsic(kb, "llvm.fmuladd", LLVMTypeOf(a), args, 3);
}

static LLVMValueRef x_at(KB *kb, const WRun *w, LLVMValueRef row, LLVMValueRef k, int L) {
  LLVMValueRef at = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, row, kb_idx(kb, w->lda), ""), k, "");
  return qsplat(kb, kb_convert(kb, kb_load(kb, w->xt, w->x, at), w->xt, DT_F32), L);
}

static void store_row(KB *kb, const WRun *w, LLVMValueRef row, LLVMValueRef gblk, LLVMValueRef blk, LLVMValueRef v, int valid) {
  const WCore *c = w->c;
  int L = c->lanes;
  LLVMValueRef col = LLVMBuildMul(kb->b, blk, kb_idx(kb, L), "");
  if (c->has_bias)
    v = LLVMBuildFAdd(kb->b, v, qload_vec(kb, LLVMFloatTypeInContext(kb->ctx), L, kb->in[4], LLVMBuildMul(kb->b, gblk, kb_idx(kb, L), "")), "");
  LLVMValueRef at = LLVMBuildAdd(kb->b, w->y, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, row, kb_idx(kb, w->row_stride), ""),
                                                         LLVMBuildMul(kb->b, col, kb_idx(kb, w->col_stride), ""), ""), "");
  qstore_lanes(kb, w->n->out[0]->dtype, kb->out[0], at, w->col_stride, v, valid);
}

// Rows ROW..ROW+MR of column block BLK (of the group).
static void emit_tile(KB *kb, const WRun *w, LLVMValueRef row, LLVMValueRef blk, int mr, int valid) {
  const WCore *c = w->c;
  int L = c->lanes;
  LLVMTypeRef f32 = LLVMFloatTypeInContext(kb->ctx), vf = vec(f32, L), i32 = LLVMInt32TypeInContext(kb->ctx);
  LLVMValueRef gblk = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, w->grp, kb_idx(kb, c->nblocks), ""), blk, "");
  LLVMValueRef total[8], acc[8];
  for (int r = 0; r < mr; r++)
    total[r] = kb_var(kb, vf, LLVMConstNull(vf));
  if (c->fmt == WFMT_SPARSE) { // in[1] values [nnz][L], in[2] k of each, in[3] block starts
    LLVMValueRef start = kb_load(kb, DT_I32, kb->in[3], gblk);
    LLVMValueRef end = kb_load(kb, DT_I32, kb->in[3], LLVMBuildAdd(kb->b, gblk, kb_idx(kb, 1), ""));
    Loop lj;
    LLVMValueRef j = kb_for_v(kb, &lj, LLVMBuildSExt(kb->b, start, kb->t_idx, ""), LLVMBuildSExt(kb->b, end, kb->t_idx, ""), 1);
    LLVMValueRef k = LLVMBuildSExt(kb->b, kb_load(kb, DT_I32, kb->in[2], j), kb->t_idx, "");
    LLVMValueRef wv = qload_vec(kb, f32, L, kb->in[1], LLVMBuildMul(kb->b, j, kb_idx(kb, L), ""));
    for (int r = 0; r < mr; r++)
      kb_set(kb, total[r], fma_vec(kb, x_at(kb, w, LLVMBuildAdd(kb->b, row, kb_idx(kb, r), ""), k, L), wv, kb_get(kb, vf, total[r])));
    kb_end_for(kb, &lj);
  } else {
    for (int r = 0; r < mr; r++)
      acc[r] = kb_var(kb, vf, LLVMConstNull(vf));
    Loop lb, lk;
    LLVMValueRef kblk = kb_for(kb, &lb, c->kblocks);
    LLVMValueRef pat = integer(c->fmt) ? LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, gblk, kb_idx(kb, c->kblocks), ""), kblk, ""),
                                                      kb_idx(kb, L), "")
                                       : NULL;
    LLVMValueRef zp = NULL;
    if (c->has_zp) {
      zp = qload_vec(kb, LLVMInt8TypeInContext(kb->ctx), L, kb->in[3], pat);
      zp = c->fmt == WFMT_U8 || c->fmt == WFMT_U4 ? LLVMBuildZExt(kb->b, zp, vec(i32, L), "") : LLVMBuildSExt(kb->b, zp, vec(i32, L), "");
    }
    for (int r = 0; r < mr; r++)
      kb_set(kb, acc[r], LLVMConstNull(vf));
    LLVMValueRef k0 = LLVMBuildMul(kb->b, kblk, kb_idx(kb, c->block), "");
    LLVMValueRef k1 = LLVMBuildAdd(kb->b, k0, kb_idx(kb, c->block), ""); // the last block may be shorter
    k1 = kb_select(kb, LLVMBuildICmp(kb->b, LLVMIntSLT, k1, kb_idx(kb, c->K), ""), k1, kb_idx(kb, c->K));
    LLVMValueRef k = kb_for_v(kb, &lk, k0, k1, 1);
    LLVMValueRef wv = decode(kb, c, kb->in[1], gblk, k, zp);
    for (int r = 0; r < mr; r++)
      kb_set(kb, acc[r], fma_vec(kb, x_at(kb, w, LLVMBuildAdd(kb->b, row, kb_idx(kb, r), ""), k, L), wv, kb_get(kb, vf, acc[r])));
    kb_end_for(kb, &lk);
    LLVMValueRef scale = integer(c->fmt) ? qload_vec(kb, f32, L, kb->in[2], pat) : NULL;
    for (int r = 0; r < mr; r++) {
      LLVMValueRef a = kb_get(kb, vf, acc[r]);
      kb_set(kb, total[r], scale ? fma_vec(kb, a, scale, kb_get(kb, vf, total[r])) : LLVMBuildFAdd(kb->b, a, kb_get(kb, vf, total[r]), ""));
    }
    kb_end_for(kb, &lb);
  }
  for (int r = 0; r < mr; r++)
    store_row(kb, w, LLVMBuildAdd(kb->b, row, kb_idx(kb, r), ""), gblk, blk, kb_get(kb, vf, total[r]), valid);
}

static void emit_block_rows(KB *kb, const WRun *w, LLVMValueRef blk, int64_t rows, int valid) {
  int mr = w->c->mr;
  int64_t full = rows / mr * mr;
  if (full > 0) {
    Loop lm;
    LLVMValueRef row = kb_for_v(kb, &lm, kb_idx(kb, 0), kb_idx(kb, full), mr);
    emit_tile(kb, w, row, blk, mr, valid);
    kb_end_for(kb, &lm);
  }
  if (rows > full)
    emit_tile(kb, w, kb_idx(kb, full), blk, (int)(rows - full), valid);
}

void wcore_emit(KB *kb, Node *n, const WCore *c, LLVMValueRef grp, LLVMValueRef x, DType xt, int64_t lda, int64_t rows,
                LLVMValueRef y, int64_t row_stride, int64_t col_stride) {
  WRun w = {c, n, xt, x, lda, grp, y, row_stride, col_stride};
  int64_t full = c->N / c->lanes, tail = c->N % c->lanes;
  if (full > 0) {
    Loop lb;
    LLVMValueRef blk = kb_for(kb, &lb, full);
    emit_block_rows(kb, &w, blk, rows, c->lanes);
    kb_end_for(kb, &lb);
  }
  if (tail)
    emit_block_rows(kb, &w, kb_idx(kb, full), rows, (int)tail);
}

//
// Building: the codes (or sparse blocks) and the per-block scales, zero points and bias
//
static double weight(const WLinearSpec *s, int64_t k, int64_t ch) { return s->weight(s->ctx, k, ch); }

// The fraction of column blocks x k rows holding a nonzero weight (the sparse kernel's work
// relative to the dense one), for lanes L.
double wsparse_density(const WLinearSpec *s, int L) {
  int64_t nblocks = (s->N + L - 1) / L, nonzero = 0;
  for (int64_t g = 0; g < s->groups; g++)
    for (int64_t b = 0; b < nblocks; b++)
      for (int64_t k = 0; k < s->K; k++) {
        bool any = false;
        for (int64_t l = 0; l < L && b * L + l < s->N && !any; l++)
          any = weight(s, k, g * s->N + b * L + l) != 0;
        nonzero += any;
      }
  return (double)nonzero / (double)(s->groups * nblocks * s->K);
}

bool wcore_build(Compiler *cc, Graph *with, Node *n, WCore *c, const WLinearSpec *s, const Target *t) {
  int L = lanes_of(t);
  *c = (WCore){.fmt = s->fmt, .lanes = L, .mr = 4, .N = s->N, .K = s->K, .groups = s->groups,
               .block = s->block > 0 ? s->block : s->K, .has_zp = s->zp != NULL, .has_bias = s->bias != NULL};
  c->kblocks = (c->K + c->block - 1) / c->block;
  c->nblocks = (c->N + L - 1) / L;
  int64_t gblocks = c->groups * c->nblocks, cols = gblocks * L;
  const char *wname = s->src->name;
  if (c->fmt == WFMT_SPARSE) {
    int64_t cap = gblocks * c->K, nnz = 0;
    float *vals = pool_alloc(&cc->pool, sizeof(float) * (size_t)(cap * L + 1));
    int32_t *ks = pool_alloc(&cc->pool, sizeof(int32_t) * (size_t)(cap + 1));
    int32_t *starts = pool_alloc(&cc->pool, sizeof(int32_t) * (size_t)(gblocks + 1));
    for (int64_t gb = 0; gb < gblocks; gb++) {
      int64_t g = gb / c->nblocks, b = gb % c->nblocks;
      starts[gb] = (int32_t)nnz;
      for (int64_t k = 0; k < c->K; k++) {
        bool any = false;
        for (int64_t l = 0; l < L && b * L + l < c->N; l++)
          any |= (vals[nnz * L + l] = (float)weight(s, k, g * c->N + b * L + l)) != 0;
        if (any)
          ks[nnz++] = (int32_t)k;
        else
          memset(&vals[nnz * L], 0, sizeof(float) * (size_t)L);
      }
    }
    starts[gblocks] = (int32_t)nnz;
    c->nonzero_blocks = nnz;
    int64_t nv = nnz * L, nk = nnz > 0 ? nnz : 1;
    n->in[1] = graph_const(with, pool_printf(&cc->pool, "%s.sparse", wname), DT_F32, shape_of(1, &nv), vals);
    n->in[2] = graph_const(with, pool_printf(&cc->pool, "%s.rows", wname), DT_I32, shape_of(1, &nk), ks);
    int64_t ns = gblocks + 1;
    n->in[3] = graph_const(with, pool_printf(&cc->pool, "%s.starts", wname), DT_I32, shape_of(1, &ns), starts);
  } else {
    int64_t rb = row_bytes(c->fmt, L), bytes = gblocks * c->K * rb;
    uint8_t *codes = pool_alloc(&cc->pool, (size_t)bytes);
    for (int64_t gb = 0; gb < gblocks; gb++)
      for (int64_t k = 0; k < c->K; k++)
        for (int64_t l = 0; l < L; l++) {
          int64_t j = gb % c->nblocks * L + l, ch = gb / c->nblocks * c->N + j;
          double v = j < c->N ? weight(s, k, ch) : 0;
          uint8_t *row = codes + (gb * c->K + k) * rb;
          if (c->fmt == WFMT_F16 || c->fmt == WFMT_BF16) {
            uint16_t h = c->fmt == WFMT_F16 ? float_to_half((float)v) : float_to_bf16((float)v);
            memcpy(row + 2 * l, &h, 2);
          } else if (four_bit(c->fmt)) {
            int q = (int)v & 15;
            row[l % (L / 2)] |= (uint8_t)(l < L / 2 ? q : q << 4);
          } else {
            row[l] = (uint8_t)(int)v;
          }
        }
    n->in[1] = graph_const(with, pool_printf(&cc->pool, "%s.codes", wname), DT_U8, shape_of(1, &bytes), codes);
    if (integer(c->fmt)) { // [group block][k block][lanes]
      int64_t np = gblocks * c->kblocks * L;
      float *scale = pool_alloc(&cc->pool, sizeof(float) * (size_t)np);
      uint8_t *zp = pool_alloc(&cc->pool, (size_t)np);
      for (int64_t gb = 0; gb < gblocks; gb++)
        for (int64_t kb_ = 0; kb_ < c->kblocks; kb_++)
          for (int64_t l = 0; l < L; l++) {
            int64_t j = gb % c->nblocks * L + l, ch = gb / c->nblocks * c->N + j;
            if (j >= c->N)
              continue;
            int64_t at = (gb * c->kblocks + kb_) * L + l, src = kb_ * c->groups * c->N + ch;
            scale[at] = s->scale[src];
            if (s->zp)
              zp[at] = (uint8_t)s->zp[src];
          }
      n->in[2] = graph_const(with, pool_printf(&cc->pool, "%s.scales", wname), DT_F32, shape_of(1, &np), scale);
      if (s->zp)
        n->in[3] = graph_const(with, pool_printf(&cc->pool, "%s.zero_points", wname), DT_U8, shape_of(1, &np), zp);
    }
  }
  if (s->bias) {
    float *bias = pool_alloc(&cc->pool, sizeof(float) * (size_t)cols);
    for (int64_t col = 0; col < cols; col++) {
      int64_t j = col % (c->nblocks * L);
      bias[col] = j < c->N ? s->bias[col / (c->nblocks * L) * c->N + j] : 0;
    }
    n->in[4] = graph_const(with, pool_printf(&cc->pool, "%s.bias", wname), DT_F32, shape_of(1, &cols), bias);
  }
  return true;
}

static const char *kernel_name(Compiler *cc, const WCore *c, const char *op) {
  return pool_printf(&cc->pool, "%s.%s", op, wformat_name(c->fmt));
}

//
// WGemm: Y[M, N] = X[M, K] x W + bias
//
typedef struct {
  KernelStats stats;
  WCore core;
  int64_t M;
  Shape y_shape;
} WGemmPlan;

static KernelStats wstats(const WCore *c, int64_t rows) {
  int64_t N = c->groups * c->N;
  return (KernelStats){.macs = rows * N * c->K, .weights = N * c->K, .nonzero = c->nonzero_blocks,
                       .blocks = c->fmt == WFMT_SPARSE ? c->groups * c->nblocks * c->K : 0};
}

void infer_WGemm(Compiler *cc, Node *n) {
  const WGemmPlan *p = n->priv;
  if (!p)
    fatal_at(cc, n, "internal op WGemm without a plan");
  set_output(n, 0, n->out[0]->dtype, p->y_shape);
}

void lower_WGemm(KB *kb, Node *n) {
  const WGemmPlan *p = n->priv;
  wcore_emit(kb, n, &p->core, kb_idx(kb, 0), kb->in[0], n->in[0]->dtype, p->core.K, p->M, kb_idx(kb, 0), p->core.N, 1);
}

static Node *new_node(Compiler *cc, Graph *with, const char *op, const WLinearSpec *s, void *plan) {
  Node *n = graph_new_node(with, op, "edgecc", pool_printf(&cc->pool, "%s.%s", s->src->name, op), 5, 1);
  n->in[0] = s->x;
  Value *y = n->out[0] = graph_new_value(with, pool_printf(&cc->pool, "%s.y", n->name));
  y->producer = n;
  y->dtype = s->x->dtype;
  n->priv = plan;
  return n;
}

Node *wgemm_build(Compiler *cc, Graph *with, const WLinearSpec *s, const Target *t, int64_t M, Shape y_shape) {
  WGemmPlan *p = pool_alloc(&cc->pool, sizeof *p);
  p->M = M;
  p->y_shape = y_shape;
  Node *n = new_node(cc, with, "WGemm", s, p);
  if (!wcore_build(cc, with, n, &p->core, s, t))
    return NULL;
  n->kernel = kernel_name(cc, &p->core, "wgemm");
  p->stats = wstats(&p->core, M);
  infer_WGemm(cc, n);
  n->inferred = true;
  return n;
}

//
// WConv: a float convolution over compressed weights, on patch rows like QConv
//
#define WPANEL_BYTES (64 * 1024)

typedef struct {
  KernelStats stats;
  WCore core;
  PatchGeom pg;
  int64_t panel;
  Shape y_shape;
} WConvPlan;

static int64_t nhwc_bytes(const WConvPlan *p) { return (p->pg.in_pixels * p->pg.cin * 4 + 63) / 64 * 64; }

void infer_WConv(Compiler *cc, Node *n) {
  const WConvPlan *p = n->priv;
  if (!p)
    fatal_at(cc, n, "internal op WConv without a plan");
  set_output(n, 0, n->out[0]->dtype, p->y_shape);
  n->scratch = nhwc_bytes(p) + (p->pg.unit ? 0 : p->panel * p->core.K * 4);
}

static void emit_wpanel(KB *kb, Node *n, LLVMValueRef img, LLVMValueRef grp, LLVMValueRef p0, int64_t count) {
  const WConvPlan *p = n->priv;
  const PatchGeom *pg = &p->pg;
  LLVMValueRef at = kb_idx(kb, nhwc_bytes(p));
  LLVMValueRef panel = LLVMBuildInBoundsGEP2(kb->b, LLVMInt8TypeInContext(kb->ctx), kb->scratch, &at, 1, "");
  patch_rows(kb, pg, kb->scratch, 4, grp, p0, count, panel, p->core.K, 0);
  LLVMValueRef y = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, img, kb_idx(kb, pg->cout), ""),
                                                                      LLVMBuildMul(kb->b, grp, kb_idx(kb, pg->mpg), ""), ""),
                                                  kb_idx(kb, pg->pixels), ""), p0, "");
  wcore_emit(kb, n, &p->core, grp, panel, DT_F32, p->core.K, count, y, 1, pg->pixels);
}

void lower_WConv(KB *kb, Node *n) {
  const WConvPlan *p = n->priv;
  const PatchGeom *pg = &p->pg;
  Loop li, lg, lp;
  LLVMValueRef img = kb_for(kb, &li, pg->batch);
  patch_nhwc(kb, pg, kb->in[0], n->in[0]->dtype, img, kb->scratch, DT_F32, false);
  LLVMValueRef grp = kb_for(kb, &lg, pg->g.group);
  if (pg->unit) { // the NHWC copy is the patch rows
    LLVMValueRef off = LLVMBuildMul(kb->b, grp, kb_idx(kb, pg->cpg * 4), "");
    LLVMValueRef x = LLVMBuildInBoundsGEP2(kb->b, LLVMInt8TypeInContext(kb->ctx), kb->scratch, &off, 1, "");
    LLVMValueRef y = LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, img, kb_idx(kb, pg->cout), ""),
                                                      LLVMBuildMul(kb->b, grp, kb_idx(kb, pg->mpg), ""), ""),
                                  kb_idx(kb, pg->pixels), "");
    wcore_emit(kb, n, &p->core, grp, x, DT_F32, pg->cin, pg->pixels, y, 1, pg->pixels);
  } else {
    int64_t full = pg->pixels / p->panel * p->panel;
    if (full > 0) {
      LLVMValueRef p0 = kb_for_v(kb, &lp, kb_idx(kb, 0), kb_idx(kb, full), p->panel);
      emit_wpanel(kb, n, img, grp, p0, p->panel);
      kb_end_for(kb, &lp);
    }
    if (pg->pixels > full)
      emit_wpanel(kb, n, img, grp, kb_idx(kb, full), pg->pixels - full);
  }
  kb_end_for(kb, &lg);
  kb_end_for(kb, &li);
}

Node *wconv_build(Compiler *cc, Graph *with, const WLinearSpec *s, const Target *t, const Shape *ws) {
  WConvPlan *p = pool_alloc(&cc->pool, sizeof *p);
  p->pg = patch_geometry(cc, s->src, &s->x->shape, ws, &p->y_shape);
  Node *n = new_node(cc, with, "WConv", s, p);
  if (!wcore_build(cc, with, n, &p->core, s, t))
    return NULL;
  p->panel = WPANEL_BYTES / (p->core.K * 4);
  p->panel = p->panel < 4 ? 4 : p->panel > p->pg.pixels ? p->pg.pixels : p->panel;
  n->kernel = kernel_name(cc, &p->core, "wconv");
  p->stats = wstats(&p->core, p->pg.batch * p->pg.pixels);
  infer_WConv(cc, n);
  n->inferred = true;
  return n;
}

//
// MatMulNBits (com.microsoft): Y = A x dequantize(B)^T + bias, B [N][K blocks][blob] with
// BITS-bit codes packed low bits first along K, scales [N * K blocks], zero points packed like
// B ([N][ceil(K blocks * bits / 8)]) or one per block in A's type (default 2^(bits-1)).
// Inference checks it; passes/qdq.c turns it into a WGemm keeping 4-bit (or 8-bit) codes.
//
typedef struct {
  int64_t K, N, bits, block, kblocks;
  const Node *n;
} NBits;

static NBits nbits_of(Compiler *cc, Node *n) {
  NBits b = {.K = attr_int(n, "K", 0), .N = attr_int(n, "N", 0), .bits = attr_int(n, "bits", 4),
             .block = attr_int(n, "block_size", 0), .n = n};
  if (b.K <= 0 || b.N <= 0 || b.block < 1 || b.bits < 2 || b.bits > 8)
    fatal_at(cc, n, "K %lld, N %lld, bits %lld, block_size %lld: not supported", (long long)b.K, (long long)b.N,
             (long long)b.bits, (long long)b.block);
  b.kblocks = (b.K + b.block - 1) / b.block;
  return b;
}

void infer_MatMulNBits(Compiler *cc, Node *n) {
  NBits b = nbits_of(cc, n);
  Value *a = n->in[0], *w = n->in[1], *s = n->in[2];
  if (!dtype_is_float(a->dtype) || a->shape.rank < 1 || a->shape.dim[a->shape.rank - 1] != b.K)
    fatal_at(cc, n, "A must be float with a last dim of K = %lld", (long long)b.K);
  for (int i = 1; i < n->nin; i++)
    if (n->in[i] && !n->in[i]->data)
      fatal_at(cc, n, "input %d ('%s'): run-time weights and parameters are not supported", i, n->in[i]->name);
  int64_t blob = b.block * b.bits / 8;
  if (w->dtype != DT_U8 || shape_numel(&w->shape) != b.N * b.kblocks * blob)
    fatal_at(cc, n, "B must be uint8 [N, K blocks, %lld]", (long long)blob);
  if (shape_numel(&s->shape) != b.N * b.kblocks)
    fatal_at(cc, n, "scales must hold N x K blocks = %lld values", (long long)(b.N * b.kblocks));
  if (node_input(n, 4))
    fatal_at(cc, n, "g_idx is not supported");
  Shape y = a->shape;
  y.dim[y.rank - 1] = b.N;
  set_output(n, 0, a->dtype, y);
}

// Code (k, n) of B.
static double nbits_code(const void *ctx, int64_t k, int64_t ch) {
  const NBits *b = ctx;
  const uint8_t *w = b->n->in[1]->data;
  int64_t blob = b->block * b->bits / 8, bit = (k % b->block) * b->bits;
  const uint8_t *p = w + (ch * b->kblocks + k / b->block) * blob + bit / 8;
  unsigned v = p[0] | (bit % 8 + b->bits > 8 ? (unsigned)p[1] << 8 : 0);
  return (double)((v >> (bit % 8)) & ((1u << b->bits) - 1));
}

Node *matmulnbits_expand(Compiler *cc, Node *n, const Target *t) {
  NBits *b = pool_alloc(&cc->pool, sizeof *b);
  *b = nbits_of(cc, n);
  Value *s = n->in[2], *z = node_input(n, 3), *bias = node_input(n, 5);
  int64_t nb = b->kblocks, N = b->N;
  float *scale = pool_alloc(&cc->pool, sizeof(float) * (size_t)(nb * N));
  int32_t *zp = pool_alloc(&cc->pool, sizeof(int32_t) * (size_t)(nb * N));
  for (int64_t ch = 0; ch < N; ch++)
    for (int64_t k = 0; k < nb; k++) {
      scale[k * N + ch] = (float)dtype_get(s->dtype, s->data, ch * nb + k);
      int32_t zv = 1 << (b->bits - 1);
      if (z && z->dtype == DT_U8) { // packed like B
        int64_t per_row = (nb * b->bits + 7) / 8, bit = k * b->bits;
        const uint8_t *p = (const uint8_t *)z->data + ch * per_row + bit / 8;
        unsigned v = p[0] | (bit % 8 + b->bits > 8 ? (unsigned)p[1] << 8 : 0);
        zv = (int32_t)((v >> (bit % 8)) & ((1u << b->bits) - 1));
      } else if (z) { // one per block in A's float type
        double f = dtype_get(z->dtype, z->data, ch * nb + k);
        if (f != nearbyint(f))
          fatal_at(cc, n, "zero point %g is not an integer: not supported", f);
        zv = (int32_t)f;
      }
      zp[k * N + ch] = zv;
    }
  float *bv = NULL;
  if (bias) {
    bv = pool_alloc(&cc->pool, sizeof(float) * (size_t)N);
    for (int64_t ch = 0; ch < N; ch++)
      bv[ch] = (float)dtype_get(bias->dtype, bias->data, ch);
  }
  WLinearSpec spec = {.src = n, .x = n->in[0], .K = b->K, .N = N, .groups = 1, .fmt = b->bits <= 4 ? WFMT_U4 : WFMT_U8,
                      .block = b->block, .scale = scale, .zp = zp, .bias = bv, .weight = nbits_code, .ctx = b};
  Graph *with = graph_new(cc, n->graph, "nbits");
  Node *w = wgemm_build(cc, with, &spec, t, shape_numel(&n->in[0]->shape) / b->K, n->out[0]->shape);
  if (w)
    replace_node(cc, n, with, w->out);
  return w;
}
