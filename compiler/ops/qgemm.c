// qgemm.c — integer matrix products of quantized models: 8-bit operands, exact int32
// accumulation, and an epilogue that adds the bias and requantizes as ONNX Runtime does (the
// int32 sum as float32 times the float32 multiplier, rounded half to even), or with a
// fixed-point multiplier when a float bias has a fraction of an accumulator unit (or writes
// int32, or dequantized floats).
//
// The microkernel multiplies a broadcast operand A (rows of bytes) by a vector operand B
// packed at compile time (or by im2col, for convolutions) as [blocks][K/G][lanes][G]: each
// step broadcasts G bytes of a row of A and multiplies them with G bytes per lane of B.
//   x86 with VNNI (AVX-512 or AVX-VNNI): vpdpbusd, G = 4, A unsigned, B signed;
//   AArch64 with the dot product extension: sdot/udot, G = 4, both signed or both unsigned;
//   elsewhere (ARMv7 NEON, RVV, SSE/AVX2, scalar): widening multiply-accumulate, G = 1.
// Operands whose type differs from what the instruction multiplies are shifted by 128 (a
// flipped top bit); the shift is an offset of the zero point, which the algebra below absorbs:
//   sum_k (a - za)(b - zb) = sum a'b' - zb' sum a' - za' sum b' + K za' zb'
// with a' = a + da, za' = za + da (likewise for b). The constant operand's sums fold into the
// bias at compile time; the run-time operand's sums are computed only when the constant
// operand's zero point is not zero (symmetric int8 weights on x86 and ARM need none).
#include "../compiler.h"
#include "ops.h"

#include <math.h>
#include <string.h>

//
// Target selection
//
QDot qdot_select(const Target *t, DType a, DType b, bool b_const) {
  QDot d = {.dot = QDOT_WIDEN, .group = 1, .a_type = a, .b_type = b};
  int bits = t && t->vector_bits >= 128 ? t->vector_bits : 128;
  int regs = t && t->vector_registers ? t->vector_registers : 16;
  bool x86 = t && !strncmp(t->triple, "x86_64", 6), arm64 = t && !strncmp(t->triple, "aarch64", 7);
  if (t && t->int8_dot && x86 && bits >= 256) {
    d.dot = QDOT_VNNI;
    d.group = 4;
    d.a_type = DT_U8;
    d.b_type = DT_I8;
    // AVX-VNNI alone has 256-bit forms only
    bits = bits >= 512 && !strstr(t->features, "-avx512vnni") ? 512 : 256;
  } else if (t && t->int8_dot && arm64) {
    d.dot = a == DT_U8 && b == DT_U8 ? QDOT_UDOT : QDOT_SDOT;
    d.group = 4;
    d.a_type = d.b_type = d.dot == QDOT_UDOT ? DT_U8 : DT_I8;
    bits = 128;
  } else if (a == DT_U8 && b == DT_U8) { // u8 x u8 products overflow int16: make one signed
    *(b_const ? &d.b_type : &d.a_type) = DT_I8;
  }
  d.lanes = bits / 32;
  d.nr = 2;
  d.mr = (regs - 4) / d.nr;
  d.mr = d.mr < 1 ? 1 : d.mr > 8 ? 8 : d.mr;
  return d;
}

const char *qdot_name(const QDot *d) {
  switch (d->dot) {
  case QDOT_VNNI: return d->lanes == 16 ? "vpdpbusd.512" : "vpdpbusd.256";
  case QDOT_SDOT: return "sdot";
  case QDOT_UDOT: return "udot";
  default: return "widening-mac";
  }
}

// The offset a value of type FROM gets when read as TO (the top bit flipped): +128, -128 or 0.
int qdot_shift(DType from, DType to) { return from == to ? 0 : from == DT_I8 ? 128 : -128; }

//
// Fixed-point requantization (layers whose float bias is not whole accumulator units, and
// QLinearGlobalAveragePool): a float multiplier m becomes mult * 2^-shift with |mult| in
// [2^30, 2^31). The product with an int32 accumulator is exact in int64 and rounds half to
// even, as QuantizeLinear does: the result is roundeven(acc * m) computed without error.
//
void qmultiplier(float m, int32_t *mult, int32_t *shift) {
  if (m < 0) { // a negative channel scale (a folded BatchNormalization's)
    qmultiplier(-m, mult, shift);
    *mult = -*mult;
    return;
  }
  if (!(m > 0) || !isfinite(m)) {
    *mult = 0;
    *shift = 1;
    return;
  }
  int e;
  double mant = frexp(m, &e);        // m = mant * 2^e, mant in [0.5, 1)
  int64_t q = (int64_t)ldexp(mant, 31); // exact: a float has 24 significant bits
  int s = 31 - e;
  while (s > 62) { // multipliers below 2^-31: precision beyond any int32 accumulator
    q >>= 1;
    s--;
  }
  while (s < 1) { // above 2^30: no real model scales like this; keep the shift positive
    q = q >= ((int64_t)1 << 30) ? q : q << 1;
    s++;
  }
  *mult = (int32_t)q;
  *shift = s;
}

static LLVMTypeRef vec(LLVMTypeRef elem, int n) { return LLVMVectorType(elem, (unsigned)n); }

LLVMValueRef qsplat(KB *kb, LLVMValueRef s, int lanes) {
  LLVMTypeRef vt = vec(LLVMTypeOf(s), lanes);
  LLVMValueRef v = LLVMBuildInsertElement(kb->b, LLVMGetPoison(vt), s, LLVMConstInt(LLVMInt32TypeInContext(kb->ctx), 0, 0), "");
  return LLVMBuildShuffleVector(kb->b, v, LLVMGetPoison(vt), LLVMConstNull(vec(LLVMInt32TypeInContext(kb->ctx), lanes)), "");
}

// roundeven((v * mult + bias64) * 2^-shift) for <L x i32> V (MULT and SHIFT: <L x i32> too,
// BIAS64 <L x i64> or NULL), then + zp and clamped into [lo, hi]; the result is <L x i32>.
// |v * mult| and |bias64| are below 2^62, so their sum cannot overflow.
LLVMValueRef qrequantize(KB *kb, LLVMValueRef v, LLVMValueRef mult, LLVMValueRef shift, LLVMValueRef bias64, int32_t zp,
                         int32_t lo, int32_t hi) {
  LLVMBuilderRef b = kb->b;
  int lanes = (int)LLVMGetVectorSize(LLVMTypeOf(v));
  LLVMTypeRef i64 = LLVMInt64TypeInContext(kb->ctx), v64 = vec(i64, lanes);
  LLVMValueRef p = LLVMBuildNSWMul(b, LLVMBuildSExt(b, v, v64, ""), LLVMBuildSExt(b, mult, v64, ""), "");
  if (bias64)
    p = LLVMBuildNSWAdd(b, p, bias64, "");
  LLVMValueRef s = LLVMBuildZExt(b, shift, v64, "");
  LLVMValueRef one = qsplat(kb, LLVMConstInt(i64, 1, 0), lanes);
  LLVMValueRef half_less = LLVMBuildSub(b, LLVMBuildShl(b, one, LLVMBuildSub(b, s, one, ""), ""), one, "");
  LLVMValueRef odd = LLVMBuildAnd(b, LLVMBuildAShr(b, p, s, ""), one, "");
  LLVMValueRef r = LLVMBuildAShr(b, LLVMBuildAdd(b, p, LLVMBuildAdd(b, half_less, odd, ""), ""), s, "");
  LLVMValueRef args[2] = {r, qsplat(kb, LLVMConstInt(i64, (unsigned long long)((int64_t)lo - zp), 1), lanes)};
  r = kb_call_intrinsic(kb, "llvm.smax", v64, args, 2);
  args[0] = r;
  args[1] = qsplat(kb, LLVMConstInt(i64, (unsigned long long)((int64_t)hi - zp), 1), lanes);
  r = kb_call_intrinsic(kb, "llvm.smin", v64, args, 2);
  r = LLVMBuildTrunc(b, r, vec(LLVMInt32TypeInContext(kb->ctx), lanes), "");
  return LLVMBuildAdd(b, r, qsplat(kb, LLVMConstInt(LLVMInt32TypeInContext(kb->ctx), (unsigned long long)zp, 1), lanes), "");
}

// roundeven(float32(v) * m) + zp clamped into [lo, hi] (8-bit outputs), for <L x i32> V and
// <L x float> M: ONNX Runtime's requantization (the product rounded to float32 first).
LLVMValueRef qrequantize_f32(KB *kb, LLVMValueRef v, LLVMValueRef m, int32_t zp, int32_t lo, int32_t hi) {
  LLVMBuilderRef b = kb->b;
  int lanes = (int)LLVMGetVectorSize(LLVMTypeOf(v));
  LLVMTypeRef vf = vec(LLVMFloatTypeInContext(kb->ctx), lanes), vi = vec(LLVMInt32TypeInContext(kb->ctx), lanes);
  LLVMValueRef r = kb_round(kb, DT_F32, LLVMBuildFMul(b, LLVMBuildSIToFP(b, v, vf, ""), m, ""), ROUND_EVEN);
  r = kb_add(kb, DT_F32, r, LLVMConstReal(vf, zp));
  r = kb_min(kb, DT_F32, kb_max(kb, DT_F32, r, LLVMConstReal(vf, lo)), LLVMConstReal(vf, hi));
  // a whole number within 16 bits read from its float bits (qemu's RVV aborts on some vector
  // float-to-integer conversions)
  return LLVMBuildSExt(b, kb_integral_to_narrow(kb, r, DT_I16), vi, "");
}

// Stores the first VALID lanes of vector V (elements of type DT in their compute form) at
// BASE[idx + lane * stride]: one vector store when the lanes are all valid and contiguous.
void qstore_lanes(KB *kb, DType dt, LLVMValueRef base, LLVMValueRef idx, int64_t stride, LLVMValueRef v, int valid) {
  int lanes = (int)LLVMGetVectorSize(LLVMTypeOf(v));
  if (valid == lanes && stride == 1 && (dt == DT_F32 || (dtype_is_int(dt) && dtype_compute(dt) == dt))) {
    LLVMValueRef st = LLVMBuildStore(kb->b, v, kb_gep(kb, dt, base, idx));
    LLVMSetAlignment(st, 1);
    return;
  }
  for (int l = 0; l < valid; l++) {
    LLVMValueRef e = LLVMBuildExtractElement(kb->b, v, LLVMConstInt(LLVMInt32TypeInContext(kb->ctx), (unsigned)l, 0), "");
    kb_store(kb, dt, base, LLVMBuildAdd(kb->b, idx, kb_idx(kb, l * stride), ""), e);
  }
}

LLVMValueRef qload_vec(KB *kb, LLVMTypeRef elem, int lanes, LLVMValueRef base, LLVMValueRef idx) {
  LLVMValueRef p = LLVMBuildInBoundsGEP2(kb->b, elem, base, &idx, 1, "");
  LLVMValueRef v = LLVMBuildLoad2(kb->b, vec(elem, lanes), p, "");
  LLVMSetAlignment(v, 1);
  return v;
}

//
// The microkernel
//
static LLVMValueRef call_intrinsic(KB *kb, const char *name, LLVMTypeRef *tys, int ntys, LLVMValueRef *args, int nargs) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(kb->mod, id, tys, (size_t)ntys);
  return LLVMBuildCall2(kb->b, LLVMIntrinsicGetType(kb->ctx, id, tys, (size_t)ntys), fn, args, (unsigned)nargs, "");
}

// acc + the products of broadcast A (G bytes, as an iG integer) and vector B (<L*G x i8>).
static LLVMValueRef dot_step(KB *kb, const QDot *d, LLVMValueRef acc, LLVMValueRef a, LLVMValueRef bv) {
  LLVMTypeRef i32 = LLVMInt32TypeInContext(kb->ctx), i8 = LLVMInt8TypeInContext(kb->ctx);
  int L = d->lanes;
  switch (d->dot) {
  case QDOT_VNNI: {
    LLVMValueRef args[3] = {acc, qsplat(kb, a, L), LLVMBuildBitCast(kb->b, bv, vec(i32, L), "")};
    return call_intrinsic(kb, L == 16 ? "llvm.x86.avx512.vpdpbusd.512" : "llvm.x86.avx512.vpdpbusd.256", NULL, 0, args, 3);
  }
  case QDOT_SDOT:
  case QDOT_UDOT: {
    LLVMTypeRef tys[2] = {vec(i32, 4), vec(i8, 16)};
    LLVMValueRef args[3] = {acc, bv, LLVMBuildBitCast(kb->b, qsplat(kb, a, 4), tys[1], "")};
    return call_intrinsic(kb, d->dot == QDOT_SDOT ? "llvm.aarch64.neon.sdot" : "llvm.aarch64.neon.udot", tys, 2, args, 3);
  }
  default: { // 8-bit values widened to int16 (the products fit: one operand is signed), their
    // products accumulated in int32: LLVM selects widening multiply-accumulates (smlal, vmlal,
    // vwmacc, pmaddwd)
    LLVMTypeRef i16 = LLVMInt16TypeInContext(kb->ctx), v16 = vec(i16, L), v32 = vec(i32, L);
    LLVMValueRef as = d->a_type == DT_I8 ? LLVMBuildSExt(kb->b, a, i16, "") : LLVMBuildZExt(kb->b, a, i16, "");
    LLVMValueRef bs = d->b_type == DT_I8 ? LLVMBuildSExt(kb->b, bv, v16, "") : LLVMBuildZExt(kb->b, bv, v16, "");
    LLVMValueRef p = LLVMBuildNSWMul(kb->b, LLVMBuildSExt(kb->b, qsplat(kb, as, L), v32, ""), LLVMBuildSExt(kb->b, bs, v32, ""), "");
    return LLVMBuildAdd(kb->b, acc, p, "");
  }
  }
}

// One register tile: MR rows from ROW x NR blocks from BLK, over every k group.
static void emit_tile(KB *kb, const QMicro *mk, LLVMValueRef row, LLVMValueRef blk, int mr, int nr, int valid) {
  const QDot *d = mk->dot;
  int L = d->lanes, G = d->group;
  LLVMTypeRef i32 = LLVMInt32TypeInContext(kb->ctx), i8 = LLVMInt8TypeInContext(kb->ctx);
  LLVMTypeRef v32 = vec(i32, L), ag = LLVMIntTypeInContext(kb->ctx, (unsigned)(8 * G));
  LLVMValueRef acc[8][4];
  for (int r = 0; r < mr; r++)
    for (int c = 0; c < nr; c++)
      acc[r][c] = kb_var(kb, v32, LLVMConstNull(v32));
  Loop lk;
  LLVMValueRef kg = kb_for(kb, &lk, mk->kgroups);
  LLVMValueRef bv[4], flip = LLVMConstInt(ag, 0x80808080u & (G == 4 ? 0xffffffffu : 0xffu), 0);
  for (int c = 0; c < nr; c++) {
    LLVMValueRef at = LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, blk, kb_idx(kb, c), ""),
                                                                            kb_idx(kb, mk->kgroups), ""), kg, ""),
                                   kb_idx(kb, L * G), "");
    bv[c] = qload_vec(kb, i8, L * G, mk->b, at);
  }
  for (int r = 0; r < mr; r++) {
    LLVMValueRef at = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, row, kb_idx(kb, r), ""), kb_idx(kb, mk->lda), ""),
                                   LLVMBuildMul(kb->b, kg, kb_idx(kb, G), ""), "");
    LLVMValueRef a = LLVMBuildLoad2(kb->b, ag, LLVMBuildInBoundsGEP2(kb->b, i8, mk->a, &at, 1, ""), "");
    LLVMSetAlignment(a, 1);
    if (mk->a_flip)
      a = LLVMBuildXor(kb->b, a, flip, "");
    for (int c = 0; c < nr; c++)
      kb_set(kb, acc[r][c], dot_step(kb, d, kb_get(kb, v32, acc[r][c]), a, bv[c]));
  }
  kb_end_for(kb, &lk);
  for (int r = 0; r < mr; r++)
    for (int c = 0; c < nr; c++)
      mk->store(kb, mk->ctx, LLVMBuildAdd(kb->b, row, kb_idx(kb, r), ""), LLVMBuildAdd(kb->b, blk, kb_idx(kb, c), ""),
                kb_get(kb, v32, acc[r][c]), c == nr - 1 ? valid : L);
}

// Rows [0, M) in tiles of MR (the remainder in one smaller tile) against blocks BLK..BLK+NR.
static void emit_rows(KB *kb, const QMicro *mk, LLVMValueRef blk, int nr, int valid) {
  int mr = mk->dot->mr;
  int64_t full = mk->rows / mr * mr;
  if (full > 0) {
    Loop lm;
    LLVMValueRef row = kb_for_v(kb, &lm, kb_idx(kb, 0), kb_idx(kb, full), mr);
    emit_tile(kb, mk, row, blk, mr, nr, valid);
    kb_end_for(kb, &lm);
  }
  if (mk->rows > full)
    emit_tile(kb, mk, kb_idx(kb, full), blk, (int)(mk->rows - full), nr, valid);
}

void qmicro_emit(KB *kb, const QMicro *mk) {
  const QDot *d = mk->dot;
  int nr = d->nr, L = d->lanes;
  int64_t full_blocks = mk->cols / L, tail = mk->cols % L;
  int64_t paired = full_blocks / nr * nr;
  if (paired > 0) {
    Loop lb;
    LLVMValueRef blk = kb_for_v(kb, &lb, kb_idx(kb, 0), kb_idx(kb, paired), nr);
    emit_rows(kb, mk, blk, nr, L);
    kb_end_for(kb, &lb);
  }
  for (int64_t b = paired; b < full_blocks; b++)
    emit_rows(kb, mk, kb_idx(kb, b), 1, L);
  if (tail)
    emit_rows(kb, mk, kb_idx(kb, full_blocks), 1, (int)tail);
}

// Byte I of the vector-operand layout [blocks][K/G][lanes][G] holding (k, column).
int64_t qpacked_index(const QDot *d, int64_t kgroups, int64_t k, int64_t col) {
  int64_t L = d->lanes, G = d->group;
  return ((col / L * kgroups + k / G) * L + col % L) * G + k % G;
}

//
// The core shared by QMatMul and QConv: rows of A (activations, or convolution patches) times
// weights packed at compile time as the vector operand; input 1 of the node holds them,
// input 2 the int32 epilogue parameters [4][columns padded to lanes] (bias and offsets,
// shifted zero point, multiplier, shift), input 3 the float ones [2][...] (scale, bias).
//
static int32_t weight_at(const QLinearSpec *s, int64_t k, int64_t n, int64_t K, int64_t N) {
  return (int32_t)dtype_get_int(s->w->dtype, s->w->data, s->w_trans ? n * K + k : k * N + n);
}

// Accumulator-unit bias of channel C: int32 given, or a float bias divided by x_scale * w_scale.

// The float multiplier of channel C, computed like ONNX Runtime's QLinearConv, QLinearMatMul
// and QGemm: alpha * x_scale * w_scale / y_scale in float32, in that order.
float qchannel_multiplier(const QLinearSpec *s, int64_t c) {
  float m = s->alpha * s->x_scale * s->w_scale[s->nw > 1 ? c : 0];
  return s->out == QOUT_FLOAT ? m : m / s->y_scale;
}

// The bias of channel CH in accumulator units, exactly (a float bias may have a fraction).
static double acc_bias(const QLinearSpec *s, int64_t ch) {
  double unit = (double)s->x_scale * s->w_scale[s->nw > 1 ? ch : 0] * s->alpha;
  return s->bias_i32 ? s->bias_i32[ch] : s->bias_f && unit != 0 ? s->bias_f[ch] / unit : 0;
}

bool qbias_fractional(const QLinearSpec *s, int64_t channels) {
  for (int64_t ch = 0; s->out == QOUT_QUANT && ch < channels; ch++)
    if (acc_bias(s, ch) != nearbyint(acc_bias(s, ch)))
      return true;
  return false;
}

bool qchannel_params(const QLinearSpec *s, const QCore *c, int64_t ch, int32_t *prm, int64_t stride, float *fprm,
                     int64_t fstride) {
  float m = qchannel_multiplier(s, ch);
  fprm[0] = m;
  fprm[fstride] = s->bias_f && c->out == QOUT_FLOAT ? s->bias_f[ch] : 0;
  if (c->out == QOUT_QUANT && c->bias64)
    qmultiplier(m, &prm[stride], &prm[2 * stride]);
  if (!c->bias64) { // int32 sums, a float bias added after scaling, or whole accumulator units
    int64_t bias = c->out == QOUT_FLOAT && s->bias_f ? 0 : (int64_t)nearbyint(acc_bias(s, ch));
    prm[0] = (int32_t)bias;
    return bias == prm[0];
  }
  // The bias joins the fixed-point product at full precision.
  double fixed = nearbyint(acc_bias(s, ch) * prm[stride]);
  if (!(fabs(fixed) < 0x1p62))
    return false;
  int64_t b64 = (int64_t)fixed;
  prm[0] = 0;
  prm[3 * stride] = (int32_t)(uint32_t)b64;
  prm[4 * stride] = (int32_t)(b64 >> 32);
  return true;
}

bool qcore_build(Compiler *cc, Graph *with, Node *n, QCore *c, const QLinearSpec *s, const Target *t, int64_t K,
                 int64_t N, int64_t groups, QWeightFn *w_at) {
  c->dot = qdot_select(t, s->x->dtype, s->w->dtype, true);
  c->N = N, c->K = K, c->groups = groups;
  c->kgroups = (K + c->dot.group - 1) / c->dot.group;
  c->a_stored = s->x->dtype;
  c->out = s->out;
  c->bias64 = qbias_fractional(s, groups * N);
  c->y_zp = s->y_zp, c->lo = s->lo, c->hi = s->hi;
  int L = c->dot.lanes;
  int64_t npad = (N + L - 1) / L * L, cols = groups * npad; // each group's columns padded to lanes
  int db = qdot_shift(s->w->dtype, c->dot.b_type), da = qdot_shift(s->x->dtype, c->dot.a_type);
  int64_t bytes = cols * c->kgroups * c->dot.group;
  uint8_t *packed = pool_alloc(&cc->pool, (size_t)bytes);
  for (int64_t j = 0; j < groups * N; j++)
    c->need_rowsum |= (int64_t)s->w_zp[s->nw > 1 ? j : 0] + db != 0;
  int rows = qparam_rows(c);
  int32_t *prm = pool_alloc(&cc->pool, sizeof(int32_t) * (size_t)(rows * cols));
  float *fprm = pool_alloc(&cc->pool, sizeof(float) * (size_t)(2 * cols));
  int64_t za = (int64_t)s->x_zp + da;
  for (int64_t col = 0; col < cols; col++) {
    int64_t j = col / npad * N + col % npad; // the output channel
    if (col % npad >= N)
      continue;
    int64_t colsum = 0, zb = (int64_t)s->w_zp[s->nw > 1 ? j : 0] + db;
    for (int64_t k = 0; k < K; k++) {
      int32_t v = w_at(s, k, j, K, groups * N) + db;
      packed[qpacked_index(&c->dot, c->kgroups, k, col)] = (uint8_t)v;
      colsum += v;
    }
    if (!qchannel_params(s, c, j, &prm[col], cols, &fprm[col], cols))
      return false;
    int64_t off = prm[col] - za * colsum + K * za * zb;
    if (off != (int32_t)off)
      return false; // the int32 accumulator cannot hold this layer's offsets
    prm[col] = (int32_t)off;
    if (c->need_rowsum)
      prm[qparam_zb_row(c) * cols + col] = (int32_t)zb;
  }
  n->in[1] = graph_const(with, pool_printf(&cc->pool, "%s.packed", s->w->name), c->dot.b_type, shape_of(1, &bytes), packed);
  n->in[2] = graph_const(with, pool_printf(&cc->pool, "%s.requant", s->src->name), DT_I32,
                         (Shape){.rank = 2, .dim = {rows, cols}}, prm);
  if (s->out != QOUT_INT32)
    n->in[3] = graph_const(with, pool_printf(&cc->pool, "%s.scale", s->src->name), DT_F32,
                           (Shape){.rank = 2, .dim = {2, cols}}, fprm);
  return true;
}

// The epilogue: the column's bias and offsets, the row-sum correction, then the output form,
// stored at Y + row * row_stride + column * col_stride.
typedef struct {
  const QCore *c;
  Node *n;
  LLVMValueRef rowsum;       // i32[rows], or NULL
  LLVMValueRef ybase;        // where results go: output 0, or a buffer of the caller
  LLVMValueRef y;            // element offset of row 0, column 0
  int64_t row_stride, col_stride;
  LLVMValueRef pcol;         // first parameter column of the group
} CoreStore;

void qcore_store(KB *kb, void *ctx, LLVMValueRef row, LLVMValueRef blk, LLVMValueRef acc, int valid) {
  CoreStore *cs = ctx;
  const QCore *c = cs->c;
  int L = c->dot.lanes;
  int64_t npad = (c->N + L - 1) / L * L * c->groups;
  LLVMTypeRef i32 = LLVMInt32TypeInContext(kb->ctx), f32 = LLVMFloatTypeInContext(kb->ctx);
  LLVMValueRef out_col = LLVMBuildMul(kb->b, blk, kb_idx(kb, L), "");
  LLVMValueRef yat = LLVMBuildAdd(kb->b, cs->y, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, row, kb_idx(kb, cs->row_stride), ""),
                                                            LLVMBuildMul(kb->b, out_col, kb_idx(kb, cs->col_stride), ""), ""), "");
  LLVMValueRef col = LLVMBuildAdd(kb->b, cs->pcol, out_col, "");
  DType yt = cs->n->out[0]->dtype;
  LLVMValueRef v = LLVMBuildAdd(kb->b, acc, qload_vec(kb, i32, L, kb->in[2], col), "");
  if (cs->rowsum) {
    LLVMValueRef zb = qload_vec(kb, i32, L, kb->in[2], LLVMBuildAdd(kb->b, col, kb_idx(kb, qparam_zb_row(c) * npad), ""));
    LLVMValueRef rs = qsplat(kb, kb_load(kb, DT_I32, cs->rowsum, row), L);
    v = LLVMBuildSub(kb->b, v, LLVMBuildMul(kb->b, zb, rs, ""), "");
  }
  if (c->out == QOUT_INT32) {
    qstore_lanes(kb, DT_I32, cs->ybase, yat, cs->col_stride, v, valid);
    return;
  }
  if (c->out == QOUT_FLOAT) {
    LLVMValueRef scale = qload_vec(kb, f32, L, kb->in[3], col);
    LLVMValueRef bias = qload_vec(kb, f32, L, kb->in[3], LLVMBuildAdd(kb->b, col, kb_idx(kb, npad), ""));
    LLVMValueRef y = LLVMBuildFAdd(kb->b, LLVMBuildFMul(kb->b, LLVMBuildSIToFP(kb->b, v, vec(f32, L), ""), scale, ""), bias, "");
    qstore_lanes(kb, yt, cs->ybase, yat, cs->col_stride, y, valid);
    return;
  }
  LLVMValueRef y;
  if (c->bias64) {
    LLVMValueRef prow[5];
    for (int r = 1; r < 5; r++)
      prow[r] = qload_vec(kb, i32, L, kb->in[2], LLVMBuildAdd(kb->b, col, kb_idx(kb, r * npad), ""));
    LLVMTypeRef i64 = LLVMInt64TypeInContext(kb->ctx), v64 = vec(i64, L);
    LLVMValueRef high = LLVMBuildShl(kb->b, LLVMBuildSExt(kb->b, prow[4], v64, ""), qsplat(kb, LLVMConstInt(i64, 32, 0), L), "");
    LLVMValueRef bias64 = LLVMBuildOr(kb->b, LLVMBuildZExt(kb->b, prow[3], v64, ""), high, "");
    y = qrequantize(kb, v, prow[1], prow[2], bias64, c->y_zp, c->lo, c->hi);
  } else {
    y = qrequantize_f32(kb, v, qload_vec(kb, f32, L, kb->in[3], col), c->y_zp, c->lo, c->hi);
  }
  qstore_lanes(kb, yt, cs->ybase, yat, cs->col_stride, LLVMBuildTrunc(kb->b, y, vec(kb_type(kb, yt), L), ""), valid);
}

void qcore_emit(KB *kb, Node *n, const QCore *c, LLVMValueRef group, LLVMValueRef a, int64_t lda, bool a_flip,
                LLVMValueRef rowsum, int64_t rows, LLVMValueRef ybase, LLVMValueRef y, int64_t row_stride,
                int64_t col_stride) {
  int L = c->dot.lanes;
  int64_t npad = (c->N + L - 1) / L * L;
  LLVMValueRef pcol = LLVMBuildMul(kb->b, group, kb_idx(kb, npad), "");
  CoreStore cs = {c, n, rowsum, ybase, y, row_stride, col_stride, pcol};
  LLVMValueRef boff = LLVMBuildMul(kb->b, pcol, kb_idx(kb, c->kgroups * c->dot.group), "");
  QMicro mk = {.dot = &c->dot, .a = a, .lda = lda, .a_flip = a_flip,
               .b = LLVMBuildInBoundsGEP2(kb->b, LLVMInt8TypeInContext(kb->ctx), kb->in[1], &boff, 1, ""),
               .kgroups = c->kgroups, .rows = rows, .cols = c->N, .store = qcore_store, .ctx = &cs};
  qmicro_emit(kb, &mk);
}

void *qcore_store_ctx(KB *kb, Node *n, const QCore *c, LLVMValueRef pcol, LLVMValueRef y, int64_t row_stride,
                      int64_t col_stride) {
  CoreStore *cs = pool_alloc(&kb->cc->pool, sizeof *cs);
  *cs = (CoreStore){c, n, NULL, kb->out[0], y, row_stride, col_stride, pcol};
  return cs;
}

// Sums of COUNT bytes at ROW, flipped if FLIP, read as the kernel's A type: an i32.
LLVMValueRef qrow_sum(KB *kb, const QCore *c, LLVMValueRef row, int64_t count, bool flip) {
  LLVMTypeRef i32 = LLVMInt32TypeInContext(kb->ctx);
  LLVMValueRef sum = kb_var(kb, i32, LLVMConstInt(i32, 0, 0));
  Loop lk;
  LLVMValueRef k = kb_for(kb, &lk, count);
  LLVMValueRef v = kb_load(kb, DT_U8, row, k);
  if (flip)
    v = LLVMBuildXor(kb->b, v, LLVMConstInt(LLVMInt8TypeInContext(kb->ctx), 0x80, 0), "");
  v = c->dot.a_type == DT_I8 ? LLVMBuildSExt(kb->b, v, i32, "") : LLVMBuildZExt(kb->b, v, i32, "");
  kb_set(kb, sum, LLVMBuildAdd(kb->b, kb_get(kb, i32, sum), v, ""));
  kb_end_for(kb, &lk);
  return kb_get(kb, i32, sum);
}

//
// QMatMul: Y[M, N] = requantize(A[M, K] x B[K, N] + bias), B constant.
//
typedef struct {
  KernelStats stats;
  QCore core;
  int64_t M;
  Shape y_shape;
} QMatMulPlan;

const KernelStats *kernel_stats(const Node *n) {
  switch (n->op ? n->op->kind : OP_COUNT_) {
  case OP_QMatMul:
  case OP_QConv:
  case OP_QConvTranspose:
  case OP_WGemm:
  case OP_WConv: return n->priv; // (their plans begin with the stats)
  default: return NULL;
  }
}

void infer_QMatMul(Compiler *cc, Node *n) {
  const QMatMulPlan *p = n->priv;
  if (!p)
    fatal_at(cc, n, "internal op QMatMul without a plan");
  set_output(n, 0, n->out[0]->dtype, p->y_shape);
}

void lower_QMatMul(KB *kb, Node *n) {
  const QMatMulPlan *p = n->priv;
  const QCore *c = &p->core;
  int64_t K4 = c->kgroups * c->dot.group;
  bool flip = c->a_stored != c->dot.a_type;
  LLVMValueRef a = kb->in[0], scratch = kb->scratch;
  int64_t lda = c->K;
  LLVMTypeRef i8 = LLVMInt8TypeInContext(kb->ctx);
  if (K4 != c->K) { // rows padded to whole groups (and flipped on the way) in scratch
    kb_memset(kb, scratch, 0, p->M * K4);
    Loop lm, lk;
    LLVMValueRef m = kb_for(kb, &lm, p->M), k = kb_for(kb, &lk, c->K);
    LLVMValueRef v = kb_load(kb, DT_U8, a, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, m, kb_idx(kb, c->K), ""), k, ""));
    if (flip)
      v = LLVMBuildXor(kb->b, v, LLVMConstInt(i8, 0x80, 0), "");
    kb_store(kb, DT_U8, scratch, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, m, kb_idx(kb, K4), ""), k, ""), v);
    kb_end_for(kb, &lk);
    kb_end_for(kb, &lm);
    a = scratch;
    lda = K4;
    flip = false;
    LLVMValueRef at = kb_idx(kb, (p->M * K4 + 15) / 16 * 16);
    scratch = LLVMBuildInBoundsGEP2(kb->b, i8, scratch, &at, 1, "");
  }
  LLVMValueRef rowsum = NULL;
  if (c->need_rowsum) {
    rowsum = scratch;
    Loop lm;
    LLVMValueRef m = kb_for(kb, &lm, p->M);
    LLVMValueRef row = LLVMBuildInBoundsGEP2(kb->b, i8, a, (LLVMValueRef[]){LLVMBuildMul(kb->b, m, kb_idx(kb, lda), "")}, 1, "");
    kb_store(kb, DT_I32, rowsum, m, qrow_sum(kb, c, row, c->K, flip));
    kb_end_for(kb, &lm);
  }
  qcore_emit(kb, n, c, kb_idx(kb, 0), a, lda, flip, rowsum, p->M, kb->out[0], kb_idx(kb, 0), c->N, 1);
}

Node *qgemm_build(Compiler *cc, Graph *with, const QLinearSpec *s, const Target *t, int64_t M, int64_t K, int64_t N,
                  Shape y_shape) {
  QMatMulPlan *p = pool_alloc(&cc->pool, sizeof *p);
  p->M = M;
  p->y_shape = y_shape;
  p->stats = (KernelStats){.macs = M * N * K, .weights = K * N};
  Node *n = graph_new_node(with, "QMatMul", "edgecc", pool_printf(&cc->pool, "%s.qgemm", s->src->name), 4, 1);
  n->in[0] = s->x;
  if (!qcore_build(cc, with, n, &p->core, s, t, K, N, 1, weight_at))
    return NULL;
  Value *y = graph_new_value(with, pool_printf(&cc->pool, "%s.y", s->src->name));
  y->producer = n;
  y->dtype = s->y_dt;
  n->out[0] = y;
  n->priv = p;
  n->kernel = pool_printf(&cc->pool, "qgemm.%s", qdot_name(&p->core.dot));
  const QCore *c = &p->core;
  int64_t K4 = c->kgroups * c->dot.group;
  if (K4 != K)
    n->scratch = (M * K4 + 15) / 16 * 16;
  if (c->need_rowsum)
    n->scratch += 4 * M;
  infer_QMatMul(cc, n);
  n->inferred = true;
  return n;
}
