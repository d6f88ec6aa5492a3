// conv_depthwise.c — f32 depthwise convolution (one input and one output channel per group)
// straight from the input, in explicit vectors along the output row: no planes, no scratch.
// A row of output is split at compile time into vectors of the target's width; for each
// vector and kernel tap the input lanes are one load (stride s: s vectors' worth, the lanes
// 0, s, 2s, ... kept by a shuffle) masked where they fall into the left or right padding.
// Taps on rows in the top or bottom padding contribute with a zero weight. The bias and the
// fused epilogue apply to the vector before it is stored.
#include "gemm_kernel.h"

#include <string.h>

bool conv_depthwise_applies(const ConvGemm *p, const Compiler *cc) {
  return p->cpg == 1 && p->mpg == 1 && vec_lanes(cc) > 1 && p->sw <= 4 && p->OW > 0 && p->KH * p->KW <= 64;
}

static LLVMValueRef mul(KB *kb, LLVMValueRef a, int64_t b) { return LLVMBuildMul(kb->b, a, kb_idx(kb, b), ""); }
static LLVMValueRef add(KB *kb, LLVMValueRef a, int64_t b) { return LLVMBuildAdd(kb->b, a, kb_idx(kb, b), ""); }

// Lanes 0, s, 2s, ... of the s*vl input floats from column IW0 of ROW, zero outside [0, W).
static LLVMValueRef load_taps(KB *kb, const ConvGemm *p, LLVMValueRef row, int64_t iw0, int vl) {
  int64_t s = p->sw, span = s * vl;
  LLVMTypeRef f32 = LLVMFloatTypeInContext(kb->ctx), wide = LLVMVectorType(f32, (unsigned)span);
  LLVMValueRef bits[256];
  for (int64_t i = 0; i < span; i++)
    bits[i] = LLVMConstInt(LLVMInt1TypeInContext(kb->ctx), iw0 + i >= 0 && iw0 + i < p->W && i % s == 0, 0);
  // Not inbounds: in the padding the address is left of the row (those lanes are masked).
  LLVMValueRef off = kb_idx(kb, iw0);
  LLVMValueRef ptr = LLVMBuildGEP2(kb->b, f32, row, &off, 1, "");
  LLVMValueRef v;
  if (iw0 >= 0 && iw0 + span <= p->W) {
    v = LLVMBuildLoad2(kb->b, wide, ptr, "");
    LLVMSetAlignment(v, 4);
  } else {
    LLVMTypeRef tys[2] = {wide, kb->t_ptr};
    unsigned id = LLVMLookupIntrinsicID("llvm.masked.load", 16);
    LLVMValueRef args[4] = {ptr, LLVMConstInt(LLVMInt32TypeInContext(kb->ctx), 4, 0),
                            LLVMConstVector(bits, (unsigned)span), LLVMConstNull(wide)};
    v = LLVMBuildCall2(kb->b, LLVMIntrinsicGetType(kb->ctx, id, tys, 2), LLVMGetIntrinsicDeclaration(kb->mod, id, tys, 2),
                       args, 4, "");
  }
  if (s == 1)
    return v;
  LLVMValueRef pick[64];
  for (int i = 0; i < vl; i++)
    pick[i] = LLVMConstInt(LLVMInt32TypeInContext(kb->ctx), (unsigned long long)(i * s), 0);
  return LLVMBuildShuffleVector(kb->b, v, LLVMGetUndef(wide), LLVMConstVector(pick, (unsigned)vl), "");
}

// Output row OH of channel C of image IMG.
static void emit_row(KB *kb, Node *n, const ConvGemm *p, LLVMValueRef img, LLVMValueRef c, LLVMValueRef oh,
                     LLVMValueRef x, LLVMValueRef y) {
  int vl = vec_lanes(kb->cc);
  LLVMTypeRef f32 = LLVMFloatTypeInContext(kb->ctx);
  LLVMValueRef wbase = mul(kb, c, p->KH * p->KW);
  // Per tap row: the input row (clamped into the image) and whether it is inside.
  LLVMValueRef rows[64], inside[64];
  for (int64_t kh = 0; kh < p->KH; kh++) {
    LLVMValueRef ih = add(kb, mul(kb, oh, p->sh), kh * p->dh - p->pt);
    inside[kh] = LLVMBuildICmp(kb->b, LLVMIntULT, ih, kb_idx(kb, p->H), "");
    ih = kb_select(kb, inside[kh], ih, kb_idx(kb, 0));
    rows[kh] = kb_gep(kb, DT_F32, x, mul(kb, LLVMBuildAdd(kb->b, mul(kb, c, p->H), ih, ""), p->W));
  }
  LLVMValueRef weights[64 * 64];
  for (int64_t t = 0; t < p->KH * p->KW; t++) {
    LLVMValueRef w = kb_load(kb, DT_F32, kb->in[1], add(kb, wbase, t));
    weights[t] = vec_splat(kb, kb_select(kb, inside[t / p->KW], w, LLVMConstReal(f32, 0.0)), vl);
  }
  LLVMValueRef bias = own_input(n, 2) ? vec_splat(kb, kb_load(kb, DT_F32, kb->in[2], c), vl) : NULL;
  int rank = n->out[0]->shape.rank;
  EpilogueMap map = {.host = n, .fixed = {img, c, rank == 4 ? oh : NULL}, .col_first = rank - 1, .col_n = 1};
  LLVMValueRef out_row = kb_gep(kb, DT_F32, y, mul(kb, LLVMBuildAdd(kb->b, mul(kb, c, p->OH), oh, ""), p->OW));
  for (int64_t ow0 = 0; ow0 < p->OW; ow0 += vl) {
    int valid = p->OW - ow0 < vl ? (int)(p->OW - ow0) : vl;
    LLVMValueRef acc = bias ? bias : LLVMConstNull(LLVMVectorType(f32, (unsigned)vl));
    for (int64_t kh = 0; kh < p->KH; kh++)
      for (int64_t kw = 0; kw < p->KW; kw++) {
        LLVMValueRef v = load_taps(kb, p, rows[kh], ow0 * p->sw + kw * p->dw - p->pl, vl);
        acc = kb_fma(kb, DT_F32, weights[kh * p->KW + kw], v, acc);
      }
    if (n->epilogue)
      acc = epilogue_vector(kb, &map, vl, acc, kb_idx(kb, 0), kb_idx(kb, ow0), valid);
    vec_store(kb, out_row, kb_idx(kb, ow0), acc, vl, valid);
  }
}

void conv_depthwise_lower(KB *kb, Node *n, const ConvGemm *p) {
  int64_t batch = n->in[0]->shape.dim[0], C = p->group;
  Loop lb, lc, lh;
  LLVMValueRef img = kb_for(kb, &lb, batch);
  LLVMValueRef x = kb_gep(kb, DT_F32, kb->in[0], mul(kb, img, C * p->H * p->W));
  LLVMValueRef y = kb_gep(kb, DT_F32, kb->out[0], mul(kb, img, C * p->OH * p->OW));
  ParallelLoop par;
  LLVMValueRef worker, c;
  bool parallel = kb->threads > 1 && C > 1 && 2 * C * p->OH * p->OW * p->KH * p->KW >= 1000000;
  if (parallel) {
    LLVMValueRef *capture[] = {&x, &y, &img};
    c = kb_parallel_begin(kb, &par, C, capture, countof(capture), &worker);
  } else {
    c = kb_for(kb, &lc, C);
  }
  LLVMValueRef oh = kb_for(kb, &lh, p->OH);
  emit_row(kb, n, p, img, c, oh, x, y);
  kb_end_for(kb, &lh);
  if (parallel)
    kb_parallel_end(kb, &par);
  else
    kb_end_for(kb, &lc);
  kb_end_for(kb, &lb);
}
