// kb.c — the kernel builder: typed loads/stores, arithmetic that picks float, signed or unsigned
// instructions from the element type, and structured loops. Op lowerings are written with these.
#include "../compiler.h"

#include <llvm-c/DebugInfo.h> // temporary metadata nodes (self-referential loop ids)
#include <llvm-c/Target.h>
#include <stdlib.h>
#include <string.h>

LLVMTypeRef kb_type(KB *kb, DType t) {
  switch (t) {
  case DT_F32: return LLVMFloatTypeInContext(kb->ctx);
  case DT_F64: return LLVMDoubleTypeInContext(kb->ctx);
  case DT_F16:  // f16 and bf16 are converted by hand: no libcalls, the same bits on every
  case DT_BF16: // target and in the constant-folding JIT
  case DT_I16:
  case DT_U16: return LLVMInt16TypeInContext(kb->ctx);
  case DT_I32:
  case DT_U32: return LLVMInt32TypeInContext(kb->ctx);
  case DT_I64:
  case DT_U64: return LLVMInt64TypeInContext(kb->ctx);
  case DT_STRING: return kb->t_ptr;
  default: return LLVMInt8TypeInContext(kb->ctx); // i8, u8, bool, i4/u4 unpacked
  }
}

LLVMTypeRef kb_ctype(KB *kb, DType t) {
  if (t == DT_BOOL)
    return LLVMInt1TypeInContext(kb->ctx);
  return kb_type(kb, dtype_compute(t));
}

LLVMValueRef kb_idx(KB *kb, int64_t v) { return LLVMConstInt(kb->t_idx, (unsigned long long)v, 1); }

// A constant of the compute type, as a vector of kb->lanes copies when scalar functions are
// being applied to vectors (fused epilogues of the GEMM engine).
static LLVMValueRef splat_const(KB *kb, LLVMValueRef c) {
  if (kb->lanes <= 1)
    return c;
  LLVMValueRef elems[64];
  for (int i = 0; i < kb->lanes && i < 64; i++)
    elems[i] = c;
  return LLVMConstVector(elems, (unsigned)kb->lanes);
}

LLVMValueRef kb_const(KB *kb, DType ct, double v) {
  if (dtype_is_float(ct))
    return splat_const(kb, LLVMConstReal(kb_ctype(kb, ct), v));
  if (ct == DT_U64 && v >= 9223372036854775808.0)
    return splat_const(kb, LLVMConstInt(kb_ctype(kb, ct), (unsigned long long)v, 0));
  return splat_const(kb, LLVMConstInt(kb_ctype(kb, ct), (unsigned long long)(int64_t)v, dtype_is_signed(ct)));
}

LLVMValueRef kb_const_int(KB *kb, DType ct, int64_t v) {
  if (dtype_is_float(ct))
    return splat_const(kb, LLVMConstReal(kb_ctype(kb, ct), (double)v));
  return splat_const(kb, LLVMConstInt(kb_ctype(kb, ct), (unsigned long long)v, dtype_is_signed(ct)));
}

LLVMValueRef kb_gep(KB *kb, DType t, LLVMValueRef base, LLVMValueRef idx) {
  return LLVMBuildInBoundsGEP2(kb->b, kb_type(kb, t), base, &idx, 1, "");
}

static LLVMValueRef f16_to_f32(KB *kb, LLVMValueRef h);
static LLVMValueRef f32_to_f16(KB *kb, LLVMValueRef v);
static LLVMValueRef f32_to_bf16(KB *kb, LLVMValueRef v);

// The target converts float16 in hardware (F16C, AArch64, VFPv4): LLVM's half type, whose
// conversions are those instructions and whose arithmetic LLVM narrows to native float16
// where the target has it and the result is the same (+fullfp16, AVX512-FP16).
static bool hw_half(KB *kb) { return kb->cc && kb->cc->target && kb->cc->target->float16 != HALF_NONE; }

LLVMValueRef kb_load(KB *kb, DType t, LLVMValueRef base, LLVMValueRef idx) {
  LLVMValueRef v = LLVMBuildLoad2(kb->b, kb_type(kb, t), kb_gep(kb, t, base, idx), "");
  LLVMTypeRef f32 = LLVMFloatTypeInContext(kb->ctx);
  switch (t) {
  case DT_F16:
    if (hw_half(kb))
      return LLVMBuildFPExt(kb->b, LLVMBuildBitCast(kb->b, v, LLVMHalfTypeInContext(kb->ctx), ""), f32, "");
    return f16_to_f32(kb, v);
  case DT_BF16: {
    LLVMValueRef w = LLVMBuildZExt(kb->b, v, LLVMInt32TypeInContext(kb->ctx), "");
    w = LLVMBuildShl(kb->b, w, LLVMConstInt(LLVMInt32TypeInContext(kb->ctx), 16, 0), "");
    return LLVMBuildBitCast(kb->b, w, f32, "");
  }
  case DT_BOOL: return LLVMBuildICmp(kb->b, LLVMIntNE, v, LLVMConstInt(LLVMTypeOf(v), 0, 0), "");
  default: return v;
  }
}

static LLVMValueRef i32c(KB *kb, uint32_t v) { return LLVMConstInt(LLVMInt32TypeInContext(kb->ctx), v, 0); }

// f16 bits -> f32: shift the exponent and mantissa into place and rescale by 2^112, which also
// normalizes subnormals; infinities and NaNs get the f32 all-ones exponent.
static LLVMValueRef f16_to_f32(KB *kb, LLVMValueRef h) {
  LLVMBuilderRef b = kb->b;
  LLVMTypeRef i32 = LLVMInt32TypeInContext(kb->ctx), f32 = LLVMFloatTypeInContext(kb->ctx);
  LLVMValueRef x = LLVMBuildZExt(b, h, i32, "");
  LLVMValueRef sign = LLVMBuildShl(b, LLVMBuildAnd(b, x, i32c(kb, 0x8000), ""), i32c(kb, 16), "");
  LLVMValueRef em = LLVMBuildAnd(b, x, i32c(kb, 0x7fff), "");
  LLVMValueRef shifted = LLVMBuildShl(b, em, i32c(kb, 13), "");
  LLVMValueRef scaled = LLVMBuildFMul(b, LLVMBuildBitCast(b, shifted, f32, ""), LLVMConstReal(f32, 0x1p112), "");
  LLVMValueRef special = LLVMBuildOr(b, shifted, i32c(kb, 0x7f800000), "");
  LLVMValueRef is_special = LLVMBuildICmp(b, LLVMIntUGE, em, i32c(kb, 0x7c00), "");
  LLVMValueRef bits = LLVMBuildSelect(b, is_special, special, LLVMBuildBitCast(b, scaled, i32, ""), "");
  return LLVMBuildBitCast(b, LLVMBuildOr(b, bits, sign, ""), f32, "");
}

// f32 -> f16 bits, round to nearest even, branch-free so loops vectorize: overflow goes to
// infinity, NaN to a quiet NaN, tiny values through a magic-number add that rounds subnormals.
static LLVMValueRef f32_to_f16(KB *kb, LLVMValueRef v) {
  LLVMBuilderRef b = kb->b;
  LLVMTypeRef i32 = LLVMInt32TypeInContext(kb->ctx), f32 = LLVMFloatTypeInContext(kb->ctx);
  LLVMValueRef f = LLVMBuildBitCast(b, v, i32, "");
  LLVMValueRef sign = LLVMBuildAnd(b, f, i32c(kb, 0x80000000u), "");
  LLVMValueRef a = LLVMBuildXor(b, f, sign, "");
  LLVMValueRef big = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntUGT, a, i32c(kb, 0x7f800000), ""),
                                     i32c(kb, 0x7e00), i32c(kb, 0x7c00), "");
  uint32_t magic = (uint32_t)((127 - 15) + (23 - 10) + 1) << 23;
  LLVMValueRef sum = LLVMBuildFAdd(b, LLVMBuildBitCast(b, a, f32, ""), LLVMBuildBitCast(b, i32c(kb, magic), f32, ""), "");
  LLVMValueRef tiny = LLVMBuildSub(b, LLVMBuildBitCast(b, sum, i32, ""), i32c(kb, magic), "");
  LLVMValueRef odd = LLVMBuildAnd(b, LLVMBuildLShr(b, a, i32c(kb, 13), ""), i32c(kb, 1), "");
  LLVMValueRef n = LLVMBuildAdd(b, a, i32c(kb, (uint32_t)(-(112 << 23)) + 0xfff), "");
  n = LLVMBuildLShr(b, LLVMBuildAdd(b, n, odd, ""), i32c(kb, 13), "");
  LLVMValueRef r = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntULT, a, i32c(kb, 113u << 23), ""), tiny, n, "");
  r = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntUGE, a, i32c(kb, (127u + 16) << 23), ""), big, r, "");
  r = LLVMBuildOr(b, r, LLVMBuildLShr(b, sign, i32c(kb, 16), ""), "");
  return LLVMBuildTrunc(b, r, LLVMInt16TypeInContext(kb->ctx), "");
}

// f32 -> bf16 with round-to-nearest-even; NaN stays NaN.
static LLVMValueRef f32_to_bf16(KB *kb, LLVMValueRef v) {
  LLVMTypeRef i32 = LLVMInt32TypeInContext(kb->ctx);
  LLVMValueRef bits = LLVMBuildBitCast(kb->b, v, i32, "");
  LLVMValueRef lsb = LLVMBuildAnd(kb->b, LLVMBuildLShr(kb->b, bits, LLVMConstInt(i32, 16, 0), ""),
                                  LLVMConstInt(i32, 1, 0), "");
  LLVMValueRef rounded =
      LLVMBuildAdd(kb->b, bits, LLVMBuildAdd(kb->b, lsb, LLVMConstInt(i32, 0x7fff, 0), ""), "");
  LLVMValueRef isnan = LLVMBuildFCmp(kb->b, LLVMRealUNO, v, v, "");
  LLVMValueRef quiet = LLVMBuildOr(kb->b, bits, LLVMConstInt(i32, 0x400000, 0), "");
  LLVMValueRef r = LLVMBuildSelect(kb->b, isnan, quiet, rounded, "");
  r = LLVMBuildLShr(kb->b, r, LLVMConstInt(i32, 16, 0), "");
  return LLVMBuildTrunc(kb->b, r, LLVMInt16TypeInContext(kb->ctx), "");
}

void kb_store(KB *kb, DType t, LLVMValueRef base, LLVMValueRef idx, LLVMValueRef v) {
  switch (t) {
  case DT_F16:
    v = hw_half(kb) ? LLVMBuildBitCast(kb->b, LLVMBuildFPTrunc(kb->b, v, LLVMHalfTypeInContext(kb->ctx), ""), kb_type(kb, t), "")
                    : f32_to_f16(kb, v);
    break;
  case DT_BF16: v = f32_to_bf16(kb, v); break;
  case DT_BOOL: v = LLVMBuildZExt(kb->b, v, kb_type(kb, t), ""); break;
  default: break;
  }
  LLVMBuildStore(kb->b, v, kb_gep(kb, t, base, idx));
}

// 4-bit integers live one per byte: V (an i8 holding a converted value) brought into the 4-bit
// range, saturated (from floats, like the 8-bit types) or wrapped (from integers, like C casts).
static LLVMValueRef narrow_int4(KB *kb, LLVMValueRef v, DType to, bool saturate) {
  if (to != DT_I4 && to != DT_U4)
    return v;
  LLVMTypeRef i8 = LLVMInt8TypeInContext(kb->ctx);
  if (saturate)
    return to == DT_I4 ? kb_min(kb, DT_I8, kb_max(kb, DT_I8, v, LLVMConstInt(i8, (unsigned long long)-8, 1)), LLVMConstInt(i8, 7, 0))
                       : kb_min(kb, DT_U8, v, LLVMConstInt(i8, 15, 0));
  if (to == DT_U4)
    return LLVMBuildAnd(kb->b, v, LLVMConstInt(i8, 15, 0), "");
  LLVMValueRef four = LLVMConstInt(i8, 4, 0);
  return LLVMBuildAShr(kb->b, LLVMBuildShl(kb->b, v, four, ""), four, "");
}

// A constant like V's type (a vector of copies when V is a vector) of floating value X.
static LLVMValueRef real_like(KB *kb, LLVMValueRef v, double x) {
  LLVMTypeRef vt = LLVMTypeOf(v);
  if (LLVMGetTypeKind(vt) != LLVMVectorTypeKind)
    return LLVMConstReal(vt, x);
  unsigned lanes = LLVMGetVectorSize(vt);
  LLVMValueRef *elems = pool_alloc(&kb->cc->pool, sizeof(LLVMValueRef) * lanes);
  for (unsigned l = 0; l < lanes; l++)
    elems[l] = LLVMConstReal(LLVMGetElementType(vt), x);
  return LLVMConstVector(elems, lanes);
}

// Floats V saturated into the range of TO, an integer type narrower than 32 bits (its bounds
// are exact floats); NaN gives 0.
static LLVMValueRef clamp_to_range(KB *kb, LLVMValueRef v, DType to) {
  int64_t lo = to == DT_I4 ? -8 : dtype_is_signed(to) ? -(1LL << (8 * dtype_size(to) - 1)) : 0;
  int64_t hi = to == DT_I4 ? 7 : to == DT_U4 ? 15 : dtype_is_signed(to) ? (1LL << (8 * dtype_size(to) - 1)) - 1 : (1LL << (8 * dtype_size(to))) - 1;
  LLVMValueRef l = real_like(kb, v, (double)lo), h = real_like(kb, v, (double)hi);
  LLVMBuilderRef b = kb->b;
  v = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUNO, v, v, ""), real_like(kb, v, 0), v, "");
  v = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, v, l, ""), l, v, "");
  return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, v, h, ""), h, v, "");
}

// V's lanes as TY's element type (a vector when V is one).
static LLVMTypeRef int_like(LLVMValueRef v, LLVMTypeRef ty) {
  LLVMTypeRef vt = LLVMTypeOf(v);
  return LLVMGetTypeKind(vt) == LLVMVectorTypeKind ? LLVMVectorType(ty, LLVMGetVectorSize(vt)) : ty;
}

// Float V to an integer type narrower than 32 bits, saturated (NaN -> 0): clamped into TO's
// range while still a float, then converted. Same result as llvm.fpto[su]i.sat, which the x86
// backend scalarizes for vectors.
static LLVMValueRef float_to_narrow(KB *kb, LLVMValueRef v, DType to) {
  v = clamp_to_range(kb, v, to);
  v = LLVMBuildFPToSI(kb->b, v, int_like(v, LLVMInt32TypeInContext(kb->ctx)), "");
  return LLVMBuildTrunc(kb->b, v, int_like(v, kb_ctype(kb, to)), "");
}

LLVMValueRef kb_integral_to_narrow(KB *kb, LLVMValueRef v, DType to) {
  LLVMTypeRef vt = LLVMTypeOf(v);
  LLVMTypeRef et = LLVMGetTypeKind(vt) == LLVMVectorTypeKind ? LLVMGetElementType(vt) : vt;
  if (LLVMGetTypeKind(et) != LLVMFloatTypeKind || dtype_is_float(to) || to == DT_BOOL || dtype_size(to) > 2)
    return kb_convert(kb, v, DT_F32, to);
  // Within +-2^22, x + 1.5 * 2^23 is exact and its low mantissa bits are x + 2^22.
  v = LLVMBuildFAdd(kb->b, clamp_to_range(kb, v, to), real_like(kb, v, 12582912.0), "");
  LLVMTypeRef i32 = int_like(v, LLVMInt32TypeInContext(kb->ctx));
  LLVMValueRef bits = LLVMBuildBitCast(kb->b, v, i32, "");
  LLVMValueRef magic = LLVMConstBitCast(real_like(kb, v, 12582912.0), i32);
  return LLVMBuildTrunc(kb->b, LLVMBuildSub(kb->b, bits, magic, ""), int_like(v, kb_ctype(kb, to)), "");
}

// Conversion between compute types with ONNX Cast semantics (float -> int truncates toward
// zero; out-of-range results are unspecified by ONNX, we saturate like the hardware would not,
// so use the plain instructions; bool is != 0).
LLVMValueRef kb_convert(KB *kb, LLVMValueRef v, DType from, DType to) {
  from = dtype_compute(from);
  to = dtype_compute(to);
  if (from == to)
    return v;
  LLVMTypeRef tt = kb_ctype(kb, to);
  bool ff = dtype_is_float(from), tf = dtype_is_float(to);
  if (to == DT_BOOL)
    return ff ? LLVMBuildFCmp(kb->b, LLVMRealUNE, v, LLVMConstNull(LLVMTypeOf(v)), "")
              : LLVMBuildICmp(kb->b, LLVMIntNE, v, LLVMConstNull(LLVMTypeOf(v)), "");
  if (from == DT_BOOL)
    return tf ? LLVMBuildUIToFP(kb->b, v, tt, "") : LLVMBuildZExt(kb->b, v, tt, "");
  if (ff && tf)
    return LLVMBuildFPCast(kb->b, v, tt, "");
  if (ff && dtype_size(to) < 4)
    return float_to_narrow(kb, v, to);
  if (ff) {
    // Saturating conversion: defined for every input (NaN -> 0), so folding and hardware agree.
    const char *name = dtype_is_signed(to) ? "llvm.fptosi.sat" : "llvm.fptoui.sat";
    LLVMTypeRef tys[2] = {tt, LLVMTypeOf(v)};
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(kb->mod, id, tys, 2);
    return narrow_int4(kb, LLVMBuildCall2(kb->b, LLVMIntrinsicGetType(kb->ctx, id, tys, 2), fn, &v, 1, ""), to, true);
  }
  if (tf)
    return dtype_is_signed(from) ? LLVMBuildSIToFP(kb->b, v, tt, "") : LLVMBuildUIToFP(kb->b, v, tt, "");
  return narrow_int4(kb, LLVMBuildIntCast2(kb->b, v, tt, dtype_is_signed(from), ""), to, false);
}

LLVMValueRef kb_var(KB *kb, LLVMTypeRef t, LLVMValueRef init) {
  LLVMBuilderRef tmp = LLVMCreateBuilderInContext(kb->ctx);
  LLVMValueRef first = LLVMGetFirstInstruction(kb->entry);
  if (first)
    LLVMPositionBuilderBefore(tmp, first);
  else
    LLVMPositionBuilderAtEnd(tmp, kb->entry);
  LLVMValueRef slot = LLVMBuildAlloca(tmp, t, "");
  LLVMDisposeBuilder(tmp);
  if (init)
    LLVMBuildStore(kb->b, init, slot);
  return slot;
}

LLVMValueRef kb_get(KB *kb, LLVMTypeRef t, LLVMValueRef var) { return LLVMBuildLoad2(kb->b, t, var, ""); }
void kb_set(KB *kb, LLVMValueRef var, LLVMValueRef v) { LLVMBuildStore(kb->b, v, var); }

LLVMValueRef kb_for_v(KB *kb, Loop *l, LLVMValueRef lo, LLVMValueRef hi, int64_t step) {
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(kb->b);
  l->head = LLVMAppendBasicBlockInContext(kb->ctx, kb->fn, "loop");
  l->body = LLVMAppendBasicBlockInContext(kb->ctx, kb->fn, "body");
  l->exit = LLVMAppendBasicBlockInContext(kb->ctx, kb->fn, "done");
  l->step = kb_idx(kb, step);
  l->has_inner = false;
  if (kb->nopen > 0)
    kb->open_loops[kb->nopen - 1]->has_inner = true;
  if (kb->nopen < countof(kb->open_loops))
    kb->open_loops[kb->nopen++] = l;
  LLVMBuildBr(kb->b, l->head);
  LLVMPositionBuilderAtEnd(kb->b, l->head);
  l->iv = LLVMBuildPhi(kb->b, kb->t_idx, "i");
  LLVMAddIncoming(l->iv, &lo, &pre, 1);
  LLVMValueRef cond = LLVMBuildICmp(kb->b, LLVMIntSLT, l->iv, hi, "");
  LLVMBuildCondBr(kb->b, cond, l->body, l->exit);
  LLVMPositionBuilderAtEnd(kb->b, l->body);
  return l->iv;
}

LLVMValueRef kb_for(KB *kb, Loop *l, int64_t n) { return kb_for_v(kb, l, kb_idx(kb, 0), kb_idx(kb, n), 1); }

// !llvm.loop !{self, !{"llvm.loop.vectorize.enable", true}}: LLVM will not vectorize float
// loops on targets whose vector unit flushes denormals (ARMv7 NEON) unless asked to.
static void request_vectorization(KB *kb, LLVMValueRef branch) {
  LLVMMetadataRef self = LLVMTemporaryMDNode(kb->ctx, NULL, 0);
  const char *key = "llvm.loop.vectorize.enable";
  LLVMMetadataRef prop[2] = {LLVMMDStringInContext2(kb->ctx, key, strlen(key)),
                             LLVMValueAsMetadata(LLVMConstInt(LLVMInt1TypeInContext(kb->ctx), 1, 0))};
  LLVMMetadataRef ops[2] = {self, LLVMMDNodeInContext2(kb->ctx, prop, 2)};
  LLVMMetadataRef loop = LLVMMDNodeInContext2(kb->ctx, ops, 2);
  LLVMMetadataReplaceAllUsesWith(self, loop);
  unsigned kind = LLVMGetMDKindIDInContext(kb->ctx, "llvm.loop", 9);
  LLVMSetMetadata(branch, kind, LLVMMetadataAsValue(kb->ctx, loop));
}

void kb_end_for(KB *kb, Loop *l) {
  LLVMValueRef next = LLVMBuildNSWAdd(kb->b, l->iv, l->step, "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(kb->b);
  LLVMAddIncoming(l->iv, &next, &latch, 1);
  LLVMValueRef br = LLVMBuildBr(kb->b, l->head);
  if (kb->nopen > 0 && kb->open_loops[kb->nopen - 1] == l)
    kb->nopen--;
  if (kb->force_vectorize && !l->has_inner) // the vectorizer handles innermost loops
    request_vectorization(kb, br);
  LLVMPositionBuilderAtEnd(kb->b, l->exit);
}

void kb_for_shape(KB *kb, Loop *loops, const Shape *s, LLVMValueRef *idx) {
  for (int i = 0; i < s->rank; i++)
    idx[i] = kb_for(kb, &loops[i], s->dim[i]);
}

void kb_end_for_shape(KB *kb, Loop *loops, const Shape *s) {
  for (int i = s->rank - 1; i >= 0; i--)
    kb_end_for(kb, &loops[i]);
}

LLVMValueRef kb_flat_strided(KB *kb, int rank, const int64_t *strides, LLVMValueRef *idx) {
  LLVMValueRef off = kb_idx(kb, 0);
  for (int i = 0; i < rank; i++)
    if (strides[i])
      off = LLVMBuildNSWAdd(kb->b, off, LLVMBuildNSWMul(kb->b, idx[i], kb_idx(kb, strides[i]), ""), "");
  return off;
}

LLVMValueRef kb_flat(KB *kb, const Shape *s, LLVMValueRef *idx) {
  int64_t strides[MAX_RANK], st = 1;
  for (int i = s->rank - 1; i >= 0; i--) {
    strides[i] = s->dim[i] == 1 ? 0 : st;
    st *= s->dim[i];
  }
  return kb_flat_strided(kb, s->rank, strides, idx);
}

void kb_if(KB *kb, IfBlock *ib, LLVMValueRef cond) {
  ib->then_bb = LLVMAppendBasicBlockInContext(kb->ctx, kb->fn, "then");
  ib->else_bb = LLVMAppendBasicBlockInContext(kb->ctx, kb->fn, "else");
  ib->end_bb = LLVMAppendBasicBlockInContext(kb->ctx, kb->fn, "endif");
  LLVMBuildCondBr(kb->b, cond, ib->then_bb, ib->else_bb);
  LLVMPositionBuilderAtEnd(kb->b, ib->then_bb);
}

void kb_else(KB *kb, IfBlock *ib) {
  LLVMBuildBr(kb->b, ib->end_bb);
  LLVMPositionBuilderAtEnd(kb->b, ib->else_bb);
}

void kb_end_if(KB *kb, IfBlock *ib) {
  LLVMBuildBr(kb->b, ib->end_bb);
  if (!LLVMGetFirstInstruction(ib->else_bb)) { // no else branch was opened
    LLVMPositionBuilderAtEnd(kb->b, ib->else_bb);
    LLVMBuildBr(kb->b, ib->end_bb);
  }
  LLVMPositionBuilderAtEnd(kb->b, ib->end_bb);
}

// A private constant global holding INIT.
static LLVMValueRef const_global(LLVMModuleRef mod, LLVMValueRef init, const char *name) {
  LLVMValueRef g = LLVMAddGlobal(mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
  return g;
}

LLVMValueRef const_string_table(LLVMModuleRef mod, const char *const *strings, int64_t n) {
  LLVMContextRef ctx = LLVMGetModuleContext(mod);
  LLVMTypeRef ptr = LLVMPointerTypeInContext(ctx, 0);
  LLVMValueRef *elems = malloc(sizeof(LLVMValueRef) * (size_t)(n + 1));
  for (int64_t i = 0; i < n; i++) {
    LLVMValueRef text = LLVMConstStringInContext(ctx, strings[i], (unsigned)strlen(strings[i]), 0);
    elems[i] = const_global(mod, text, "str");
  }
  LLVMValueRef g = const_global(mod, LLVMConstArray2(ptr, elems, (uint64_t)n), "strings");
  free(elems);
  return g;
}

int64_t kb_sizeof(KB *kb, DType t) {
  LLVMTargetDataRef td = LLVMGetModuleDataLayout(kb->mod);
  return (int64_t)LLVMABISizeOfType(td, kb_type(kb, t));
}

LLVMValueRef kb_table(KB *kb, DType t, const void *data, int64_t n) {
  if (t == DT_STRING)
    return const_string_table(kb->mod, data, n);
  LLVMValueRef init = LLVMConstStringInContext(kb->ctx, data, (unsigned)(n * dtype_size(t)), 1);
  LLVMValueRef g = const_global(kb->mod, init, "table");
  LLVMSetAlignment(g, (unsigned)dtype_size(t));
  return g;
}

void kb_memcpy(KB *kb, LLVMValueRef dst, LLVMValueRef src, int64_t bytes) {
  if (bytes > 0)
    LLVMBuildMemCpy(kb->b, dst, 1, src, 1, kb_idx(kb, bytes));
}

void kb_memset(KB *kb, LLVMValueRef dst, int val, int64_t bytes) {
  if (bytes > 0)
    LLVMBuildMemSet(kb->b, dst, LLVMConstInt(LLVMInt8TypeInContext(kb->ctx), (unsigned)val, 0),
                    kb_idx(kb, bytes), 1);
}

LLVMValueRef kb_call_intrinsic(KB *kb, const char *name, LLVMTypeRef t, LLVMValueRef *args, int n) {
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(kb->mod, id, &t, 1);
  return LLVMBuildCall2(kb->b, LLVMIntrinsicGetType(kb->ctx, id, &t, 1), fn, args, (unsigned)n, "");
}

void kb_return_status(KB *kb, int status) {
  LLVMBuildRet(kb->b, LLVMConstInt(LLVMInt32TypeInContext(kb->ctx), (unsigned)status, 0));
  LLVMPositionBuilderAtEnd(kb->b, LLVMAppendBasicBlockInContext(kb->ctx, kb->fn, "unreachable"));
}

LLVMValueRef kb_add(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b) {
  return dtype_is_float(ct) ? LLVMBuildFAdd(kb->b, a, b, "") : LLVMBuildAdd(kb->b, a, b, "");
}

LLVMValueRef kb_sub(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b) {
  return dtype_is_float(ct) ? LLVMBuildFSub(kb->b, a, b, "") : LLVMBuildSub(kb->b, a, b, "");
}

LLVMValueRef kb_mul(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b) {
  return dtype_is_float(ct) ? LLVMBuildFMul(kb->b, a, b, "") : LLVMBuildMul(kb->b, a, b, "");
}

// Integer division by zero is undefined in LLVM (a trap on x86); ONNX leaves it unspecified,
// so divide by 1 instead of crashing the device.
LLVMValueRef kb_div(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b) {
  if (dtype_is_float(ct))
    return LLVMBuildFDiv(kb->b, a, b, "");
  LLVMValueRef zero = LLVMConstNull(LLVMTypeOf(b));
  b = LLVMBuildSelect(kb->b, LLVMBuildICmp(kb->b, LLVMIntEQ, b, zero, ""),
                      LLVMConstInt(LLVMTypeOf(b), 1, 0), b, "");
  return dtype_is_signed(ct) ? LLVMBuildSDiv(kb->b, a, b, "") : LLVMBuildUDiv(kb->b, a, b, "");
}

static LLVMValueRef minmax(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b, bool is_max) {
  // NaN propagates, as in ONNX Min/Max. Written with compares and selects rather than
  // llvm.maximum, which the ARM backend cannot select for f64.
  if (dtype_is_float(ct)) {
    LLVMValueRef pick_a = LLVMBuildFCmp(kb->b, is_max ? LLVMRealOGT : LLVMRealOLT, a, b, "");
    LLVMValueRef r = LLVMBuildSelect(kb->b, pick_a, a, b, "");
    r = LLVMBuildSelect(kb->b, LLVMBuildFCmp(kb->b, LLVMRealUNO, a, a, ""), a, r, "");
    return LLVMBuildSelect(kb->b, LLVMBuildFCmp(kb->b, LLVMRealUNO, b, b, ""), b, r, "");
  }
  if (LLVMIsAConstantInt(a) && LLVMIsAConstantInt(b)) // shape arithmetic: fold to a constant
    return LLVMBuildSelect(kb->b, LLVMBuildICmp(kb->b, dtype_is_signed(ct) ? (is_max ? LLVMIntSGT : LLVMIntSLT)
                                                                            : (is_max ? LLVMIntUGT : LLVMIntULT), a, b, ""),
                           a, b, "");
  LLVMValueRef args[2] = {a, b};
  const char *name = dtype_is_signed(ct) ? (is_max ? "llvm.smax" : "llvm.smin")
                                         : (is_max ? "llvm.umax" : "llvm.umin");
  return kb_call_intrinsic(kb, name, LLVMTypeOf(a), args, 2);
}

LLVMValueRef kb_min(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b) { return minmax(kb, ct, a, b, false); }
LLVMValueRef kb_max(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b) { return minmax(kb, ct, a, b, true); }

LLVMValueRef kb_neg(KB *kb, DType ct, LLVMValueRef a) {
  return dtype_is_float(ct) ? LLVMBuildFNeg(kb->b, a, "") : LLVMBuildNeg(kb->b, a, "");
}

static LLVMValueRef cmp(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b, LLVMRealPredicate fp,
                        LLVMIntPredicate sp, LLVMIntPredicate up) {
  if (dtype_is_float(ct))
    return LLVMBuildFCmp(kb->b, fp, a, b, "");
  return LLVMBuildICmp(kb->b, dtype_is_signed(ct) ? sp : up, a, b, "");
}

LLVMValueRef kb_lt(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b) { return cmp(kb, ct, a, b, LLVMRealOLT, LLVMIntSLT, LLVMIntULT); }
LLVMValueRef kb_gt(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b) { return cmp(kb, ct, a, b, LLVMRealOGT, LLVMIntSGT, LLVMIntUGT); }
LLVMValueRef kb_le(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b) { return cmp(kb, ct, a, b, LLVMRealOLE, LLVMIntSLE, LLVMIntULE); }
LLVMValueRef kb_ge(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b) { return cmp(kb, ct, a, b, LLVMRealOGE, LLVMIntSGE, LLVMIntUGE); }
LLVMValueRef kb_eq(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b) { return cmp(kb, ct, a, b, LLVMRealOEQ, LLVMIntEQ, LLVMIntEQ); }

LLVMValueRef kb_select(KB *kb, LLVMValueRef c, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(kb->b, c, a, b, "");
}

// Rounding to integral values with compares and one add/sub of 2^23 (2^52 for f64), which the
// FPU rounds to nearest even: no libcall on targets without rounding instructions (ARMv7,
// Cortex-M, x86-64 without SSE4.1) and loops over it still vectorize. NaN and values too large
// to have a fraction pass through.
LLVMValueRef kb_round(KB *kb, DType ct, LLVMValueRef x, RoundMode mode) {
  LLVMBuilderRef b = kb->b;
  LLVMTypeRef t = LLVMTypeOf(x);
  LLVMValueRef big = LLVMConstReal(t, ct == DT_F64 ? 0x1p52 : 0x1p23), one = LLVMConstReal(t, 1.0);
  LLVMValueRef ax = kb_call_intrinsic(kb, "llvm.fabs", t, &x, 1);
  LLVMValueRef r = LLVMBuildFSub(b, LLVMBuildFAdd(b, ax, big, ""), big, "");
  LLVMValueRef args[2] = {r, x};
  r = kb_call_intrinsic(kb, "llvm.copysign", t, args, 2); // nearest, ties to even
  switch (mode) {
  case ROUND_EVEN: break;
  case ROUND_FLOOR: r = kb_select(kb, LLVMBuildFCmp(b, LLVMRealOGT, r, x, ""), LLVMBuildFSub(b, r, one, ""), r); break;
  case ROUND_CEIL: r = kb_select(kb, LLVMBuildFCmp(b, LLVMRealOLT, r, x, ""), LLVMBuildFAdd(b, r, one, ""), r); break;
  case ROUND_TRUNC:
  case ROUND_HALF_AWAY: {
    LLVMValueRef ar = kb_call_intrinsic(kb, "llvm.fabs", t, &r, 1);
    LLVMValueRef tr = kb_select(kb, LLVMBuildFCmp(b, LLVMRealOGT, ar, ax, ""), LLVMBuildFSub(b, ar, one, ""), ar);
    if (mode == ROUND_HALF_AWAY) // x - trunc(x) is exact here
      tr = kb_select(kb, LLVMBuildFCmp(b, LLVMRealOGE, LLVMBuildFSub(b, ax, tr, ""), LLVMConstReal(t, 0.5), ""),
                     LLVMBuildFAdd(b, tr, one, ""), tr);
    LLVMValueRef a2[2] = {tr, x};
    r = kb_call_intrinsic(kb, "llvm.copysign", t, a2, 2);
    break;
  }
  }
  return kb_select(kb, LLVMBuildFCmp(b, LLVMRealOLT, ax, big, ""), r, x);
}

LLVMValueRef kb_fma(KB *kb, DType ct, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  if (!dtype_is_float(ct))
    return kb_add(kb, ct, kb_mul(kb, ct, a, b), c);
  LLVMValueRef args[3] = {a, b, c};
  return kb_call_intrinsic(kb, "llvm.fmuladd", LLVMTypeOf(a), args, 3);
}

LLVMValueRef kb_fma_exact(KB *kb, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  LLVMValueRef args[3] = {a, b, c};
  return kb_call_intrinsic(kb, "llvm.fma", LLVMTypeOf(a), args, 3);
}

//
// Run-time shapes: ops that accept inputs of data-dependent shape read their dims here. For
// static tensors the dims are constants, so the same lowering folds to fixed loops.
//
RtShape kb_shape_const(KB *kb, const Shape *s) {
  RtShape r = {.rank = s->rank};
  for (int d = 0; d < s->rank; d++)
    r.dim[d] = kb_idx(kb, s->dim[d]);
  return r;
}

// The dims of tensor V whose run-time dims are at DIMS: loaded where data-dependent.
static RtShape value_shape(KB *kb, const Value *v, LLVMValueRef dims) {
  RtShape r = kb_shape_const(kb, &v->shape);
  LLVMTypeRef i64 = LLVMInt64TypeInContext(kb->ctx);
  for (int d = 0; d < r.rank; d++)
    if (v->dynamic & DYN_DIM(d)) {
      LLVMValueRef at = kb_idx(kb, d);
      LLVMValueRef dim = LLVMBuildLoad2(kb->b, i64, LLVMBuildInBoundsGEP2(kb->b, i64, dims, &at, 1, ""), "");
      r.dim[d] = LLVMBuildIntCast2(kb->b, dim, kb->t_idx, 1, "");
    }
  return r;
}

RtShape kb_in_shape(KB *kb, int i) { return value_shape(kb, kb->node->in[i], kb->in_dims[i]); }

RtShape kb_elem_shape(KB *kb, int i, int k) {
  int count;
  Value **ts = tensors_of(&kb->cc->pool, kb->node->in[i], &count);
  return value_shape(kb, ts[k], kb->in_elem_dims[i][k]);
}

RtShape kb_out_shape(KB *kb, int i) {
  const Value *v = kb->node->out[i];
  if (!v->dynamic)
    return kb_shape_const(kb, &v->shape);
  if (!kb->out_shape[i].rank && v->shape.rank)
    fatal_at(kb->cc, kb->node, "internal error: output %d has data-dependent dims and no dims function", i);
  return kb->out_shape[i];
}

static void store_dims(KB *kb, LLVMValueRef dims, const RtShape *s) {
  LLVMTypeRef i64 = LLVMInt64TypeInContext(kb->ctx);
  for (int d = 0; d < s->rank; d++) {
    LLVMValueRef at = kb_idx(kb, d);
    LLVMBuildStore(kb->b, LLVMBuildIntCast2(kb->b, s->dim[d], i64, 1, ""), LLVMBuildInBoundsGEP2(kb->b, i64, dims, &at, 1, ""));
  }
}

void kb_set_out_shape(KB *kb, int i, const RtShape *s) {
  const Value *v = kb->node->out[i];
  if (v && v->dynamic)
    store_dims(kb, kb->out_dims[i], s);
}

void kb_set_elem_shape(KB *kb, int i, int k, const RtShape *s) {
  if (kb->out_elem_dims[i][k])
    store_dims(kb, kb->out_elem_dims[i][k], s);
}

LLVMValueRef kb_numel_range(KB *kb, const RtShape *s, int from, int to) {
  LLVMValueRef n = kb_idx(kb, 1);
  for (int d = from; d < to; d++)
    n = LLVMBuildNSWMul(kb->b, n, s->dim[d], "");
  return n;
}

RtShape kb_broadcast_shape(KB *kb, const RtShape *a, const RtShape *b) {
  RtShape r = {.rank = a->rank > b->rank ? a->rank : b->rank};
  LLVMValueRef one = kb_idx(kb, 1);
  for (int d = 0; d < r.rank; d++) {
    int ia = a->rank - r.rank + d, ib = b->rank - r.rank + d;
    LLVMValueRef da = ia >= 0 ? a->dim[ia] : one, db = ib >= 0 ? b->dim[ib] : one;
    LLVMValueRef a1 = LLVMBuildICmp(kb->b, LLVMIntEQ, da, one, ""), b1 = LLVMBuildICmp(kb->b, LLVMIntEQ, db, one, "");
    LLVMValueRef ok = LLVMBuildOr(kb->b, LLVMBuildOr(kb->b, a1, b1, ""), LLVMBuildICmp(kb->b, LLVMIntEQ, da, db, ""), "");
    r.dim[d] = kb_select(kb, ok, kb_select(kb, a1, db, da), kb_idx(kb, 0));
  }
  return r;
}

LLVMValueRef kb_numel(KB *kb, const RtShape *s) { return kb_numel_range(kb, s, 0, s->rank); }

void kb_strides(KB *kb, const RtShape *s, LLVMValueRef *st) {
  LLVMValueRef acc = kb_idx(kb, 1);
  for (int d = s->rank - 1; d >= 0; d--) {
    st[d] = acc;
    acc = LLVMBuildNSWMul(kb->b, acc, s->dim[d], "");
  }
}

void kb_for_rt(KB *kb, Loop *loops, const RtShape *s, LLVMValueRef *idx) {
  for (int d = 0; d < s->rank; d++)
    idx[d] = kb_for_v(kb, &loops[d], kb_idx(kb, 0), s->dim[d], 1);
}

void kb_end_for_rt(KB *kb, Loop *loops, const RtShape *s) {
  for (int d = s->rank - 1; d >= 0; d--)
    kb_end_for(kb, &loops[d]);
}

LLVMValueRef kb_dot(KB *kb, int rank, const LLVMValueRef *idx, const LLVMValueRef *st) {
  LLVMValueRef off = kb_idx(kb, 0);
  for (int d = 0; d < rank; d++)
    off = LLVMBuildNSWAdd(kb->b, off, LLVMBuildNSWMul(kb->b, idx[d], st[d], ""), "");
  return off;
}

//
// Parallel loops: the body becomes `void body(ptr ctx, i64 begin, i64 end, i64 worker)`,
// called by edgecc_parallel_for(body, ctx, n, threads) for each part of [0, n). CTX is a
// struct on the caller's stack holding every captured value.
//
static void capture(ParallelLoop *p, LLVMValueRef *slot) {
  if (slot && *slot && p->nslots < countof(p->slots))
    p->slots[p->nslots++] = slot;
}

LLVMValueRef kb_parallel_begin(KB *kb, ParallelLoop *p, int64_t n, LLVMValueRef **extra, int nextra,
                               LLVMValueRef *worker) {
  *p = (ParallelLoop){.outer_fn = kb->fn, .outer_entry = kb->entry};
  const Node *node = kb->node;
  for (int i = 0; i < node->nin; i++) {
    capture(p, &kb->in[i]);
    capture(p, &kb->in_dims[i]);
  }
  for (int i = 0; i < node->nout; i++) {
    capture(p, &kb->out[i]);
    capture(p, &kb->out_dims[i]);
  }
  capture(p, &kb->scratch);
  for (int i = 0; i < nextra; i++)
    capture(p, extra[i]);
  LLVMTypeRef fields[64], i64 = LLVMInt64TypeInContext(kb->ctx);
  for (int i = 0; i < p->nslots; i++)
    fields[i] = LLVMTypeOf(*p->slots[i]);
  LLVMTypeRef ctx_ty = LLVMStructTypeInContext(kb->ctx, fields, (unsigned)p->nslots, 0);
  // The caller: fill the context, run the loop.
  LLVMValueRef ctx = kb_var(kb, ctx_ty, NULL);
  for (int i = 0; i < p->nslots; i++)
    LLVMBuildStore(kb->b, *p->slots[i], LLVMBuildStructGEP2(kb->b, ctx_ty, ctx, (unsigned)i, ""));
  LLVMTypeRef body_params[4] = {kb->t_ptr, i64, i64, i64};
  LLVMTypeRef body_ty = LLVMFunctionType(LLVMVoidTypeInContext(kb->ctx), body_params, 4, 0);
  LLVMValueRef body = LLVMAddFunction(kb->mod, "parallel_body", body_ty);
  LLVMSetLinkage(body, LLVMInternalLinkage);
  LLVMTypeRef pf_params[4] = {kb->t_ptr, kb->t_ptr, i64, LLVMInt32TypeInContext(kb->ctx)};
  LLVMTypeRef pf_ty = LLVMFunctionType(LLVMVoidTypeInContext(kb->ctx), pf_params, 4, 0);
  LLVMValueRef pf = LLVMGetNamedFunction(kb->mod, "edgecc_parallel_for");
  if (!pf)
    pf = LLVMAddFunction(kb->mod, "edgecc_parallel_for", pf_ty);
  LLVMValueRef args[4] = {body, ctx, LLVMConstInt(i64, (unsigned long long)n, 0),
                          LLVMConstInt(LLVMInt32TypeInContext(kb->ctx), (unsigned)kb->threads, 0)};
  LLVMBuildCall2(kb->b, pf_ty, pf, args, 4, "");
  p->outer_block = LLVMGetInsertBlock(kb->b);
  // The body: its own entry block for allocas, the captured values reloaded.
  memcpy(p->open_loops, kb->open_loops, sizeof p->open_loops);
  p->nopen = kb->nopen;
  kb->nopen = 0;
  kb->fn = body;
  kb->entry = LLVMAppendBasicBlockInContext(kb->ctx, body, "entry");
  LLVMPositionBuilderAtEnd(kb->b, LLVMAppendBasicBlockInContext(kb->ctx, body, "start"));
  LLVMValueRef bctx = LLVMGetParam(body, 0);
  for (int i = 0; i < p->nslots; i++) {
    p->saved[i] = *p->slots[i];
    *p->slots[i] = LLVMBuildLoad2(kb->b, fields[i], LLVMBuildStructGEP2(kb->b, ctx_ty, bctx, (unsigned)i, ""), "");
  }
  *worker = LLVMBuildIntCast2(kb->b, LLVMGetParam(body, 3), kb->t_idx, 0, "");
  LLVMValueRef lo = LLVMBuildIntCast2(kb->b, LLVMGetParam(body, 1), kb->t_idx, 1, "");
  LLVMValueRef hi = LLVMBuildIntCast2(kb->b, LLVMGetParam(body, 2), kb->t_idx, 1, "");
  return kb_for_v(kb, &p->loop, lo, hi, 1);
}

void kb_parallel_end(KB *kb, ParallelLoop *p) {
  kb_end_for(kb, &p->loop);
  LLVMBuildRetVoid(kb->b);
  LLVMBasicBlockRef start = LLVMGetNextBasicBlock(kb->entry);
  LLVMPositionBuilderAtEnd(kb->b, kb->entry);
  LLVMBuildBr(kb->b, start);
  for (int i = 0; i < p->nslots; i++)
    *p->slots[i] = p->saved[i];
  kb->fn = p->outer_fn;
  kb->entry = p->outer_entry;
  memcpy(kb->open_loops, p->open_loops, sizeof p->open_loops);
  kb->nopen = p->nopen;
  LLVMPositionBuilderAtEnd(kb->b, p->outer_block);
}
