// math.c — transcendental functions. f32 versions are inline polynomials (Cephes-style range
// reduction) so loops over them vectorize and bare-metal targets need no libm; f64 calls libm.
#include "../compiler.h"

#include <string.h>

static LLVMValueRef fc(KB *kb, LLVMValueRef like, double v) {
  (void)kb;
  return LLVMConstReal(LLVMTypeOf(like), v);
}
// i32 with X's shape (a vector of i32 for a vector X: the functions compute on vectors too),
// and an i32 constant of that type.
static LLVMTypeRef i32_like(KB *kb, LLVMValueRef x) {
  LLVMTypeRef t = LLVMTypeOf(x), i32 = LLVMInt32TypeInContext(kb->ctx);
  return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMVectorType(i32, LLVMGetVectorSize(t)) : i32;
}
static LLVMValueRef ic(LLVMTypeRef t, unsigned v) {
  if (LLVMGetTypeKind(t) != LLVMVectorTypeKind)
    return LLVMConstInt(t, v, 0);
  LLVMValueRef e[64], c = LLVMConstInt(LLVMGetElementType(t), v, 0);
  unsigned n = LLVMGetVectorSize(t);
  for (unsigned i = 0; i < n && i < 64; i++)
    e[i] = c;
  return LLVMConstVector(e, n);
}
static LLVMValueRef fadd(KB *kb, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(kb->b, a, b, ""); }
static LLVMValueRef fmul(KB *kb, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(kb->b, a, b, ""); }

// Horner evaluation of c[0]*x^(n-1) + ... + c[n-1].
static LLVMValueRef poly(KB *kb, LLVMValueRef x, const double *c, int n) {
  LLVMValueRef p = fc(kb, x, c[0]);
  for (int i = 1; i < n; i++)
    p = kb_fma(kb, DT_F32, p, x, fc(kb, x, c[i]));
  return p;
}

LLVMValueRef math_libm(KB *kb, const char *name, DType ct, LLVMValueRef x) {
  char fname[32];
  snprintf(fname, sizeof fname, ct == DT_F32 ? "%sf" : "%s", name);
  LLVMTypeRef t = LLVMTypeOf(x);
  LLVMTypeRef fty = LLVMFunctionType(t, &t, 1, 0);
  LLVMValueRef fn = LLVMGetNamedFunction(kb->mod, fname);
  if (!fn) {
    fn = LLVMAddFunction(kb->mod, fname, fty);
    LLVMSetLinkage(fn, LLVMExternalLinkage);
  }
  return LLVMBuildCall2(kb->b, fty, fn, &x, 1, "");
}

LLVMValueRef math_pow(KB *kb, DType ct, LLVMValueRef x, LLVMValueRef y) {
  char fname[8];
  snprintf(fname, sizeof fname, ct == DT_F32 ? "powf" : "pow");
  LLVMTypeRef t = LLVMTypeOf(x), params[2] = {t, t};
  LLVMTypeRef fty = LLVMFunctionType(t, params, 2, 0);
  LLVMValueRef fn = LLVMGetNamedFunction(kb->mod, fname);
  if (!fn)
    fn = LLVMAddFunction(kb->mod, fname, fty);
  LLVMValueRef args[2] = {x, y};
  return LLVMBuildCall2(kb->b, fty, fn, args, 2, "");
}

static LLVMValueRef is_nan(KB *kb, LLVMValueRef x) { return LLVMBuildFCmp(kb->b, LLVMRealUNO, x, x, ""); }

LLVMValueRef math_exp(KB *kb, DType ct, LLVMValueRef x) {
  if (ct != DT_F32)
    return math_libm(kb, "exp", ct, x);
  static const double p[] = {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3,
                             4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1};
  LLVMBuilderRef b = kb->b;
  LLVMTypeRef i32 = i32_like(kb, x);
  LLVMValueRef xc = kb_min(kb, ct, kb_max(kb, ct, x, fc(kb, x, -87.3)), fc(kb, x, 88.72283935546875));
  // Round to nearest by adding and subtracting 1.5 * 2^23: no rint instruction or libcall
  // needed (Cortex-M has none), exact for |x * log2(e)| < 2^22.
  LLVMValueRef magic = fc(kb, x, 12582912.0);
  LLVMValueRef shifted = fadd(kb, fmul(kb, xc, fc(kb, x, 1.44269504088896341)), magic);
  LLVMValueRef n = LLVMBuildFSub(b, shifted, magic, "");
  LLVMValueRef r = kb_fma(kb, ct, n, fc(kb, x, -0.693359375), xc);
  r = kb_fma(kb, ct, n, fc(kb, x, 2.12194440e-4), r);
  LLVMValueRef r2 = fmul(kb, r, r);
  LLVMValueRef y = fadd(kb, kb_fma(kb, ct, poly(kb, r, p, 6), r2, r), fc(kb, x, 1.0));
  // Scale by 2^n in two halves so n = 128 does not overflow the exponent field. n as an
  // integer is the low mantissa bits of the shifted sum: no float-to-int conversion.
  LLVMValueRef ni = LLVMBuildSub(b, LLVMBuildBitCast(b, shifted, i32, ""), LLVMBuildBitCast(b, magic, i32, ""), "");
  LLVMValueRef n1 = LLVMBuildAShr(b, ni, ic(i32, 1), "");
  LLVMValueRef n2 = LLVMBuildSub(b, ni, n1, "");
  LLVMValueRef s1 = LLVMBuildBitCast(b, LLVMBuildShl(b, LLVMBuildAdd(b, n1, ic(i32, 127), ""), ic(i32, 23), ""), LLVMTypeOf(x), "");
  LLVMValueRef s2 = LLVMBuildBitCast(b, LLVMBuildShl(b, LLVMBuildAdd(b, n2, ic(i32, 127), ""), ic(i32, 23), ""), LLVMTypeOf(x), "");
  y = fmul(kb, fmul(kb, y, s1), s2);
  y = kb_select(kb, LLVMBuildFCmp(b, LLVMRealOGT, x, fc(kb, x, 88.72283935546875), ""), fc(kb, x, __builtin_inf()), y);
  y = kb_select(kb, LLVMBuildFCmp(b, LLVMRealOLT, x, fc(kb, x, -103.97), ""), fc(kb, x, 0.0), y);
  return kb_select(kb, is_nan(kb, x), x, y);
}

LLVMValueRef math_log(KB *kb, DType ct, LLVMValueRef x) {
  if (ct != DT_F32)
    return math_libm(kb, "log", ct, x);
  static const double p[] = {7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1,
                             -1.2420140846E-1, 1.4249322787E-1, -1.6668057665E-1,
                             2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1};
  LLVMBuilderRef b = kb->b;
  LLVMTypeRef i32 = i32_like(kb, x), f = LLVMTypeOf(x);
  // Subnormals: scale into the normal range first.
  LLVMValueRef sub = LLVMBuildFCmp(b, LLVMRealOLT, x, fc(kb, x, 1.17549435e-38), "");
  LLVMValueRef xs = kb_select(kb, sub, fmul(kb, x, fc(kb, x, 8388608.0)), x);
  LLVMValueRef bits = LLVMBuildBitCast(b, xs, i32, "");
  LLVMValueRef e = LLVMBuildSub(b, LLVMBuildLShr(b, bits, ic(i32, 23), ""), ic(i32, 126), "");
  LLVMValueRef m = LLVMBuildBitCast(b, LLVMBuildOr(b, LLVMBuildAnd(b, bits, ic(i32, 0x007fffff), ""), ic(i32, 0x3f000000), ""), f, "");
  LLVMValueRef ef = LLVMBuildSIToFP(b, e, f, "");
  ef = kb_select(kb, sub, LLVMBuildFSub(b, ef, fc(kb, x, 23.0), ""), ef);
  LLVMValueRef small = LLVMBuildFCmp(b, LLVMRealOLT, m, fc(kb, x, 0.707106781186547524), "");
  ef = kb_select(kb, small, LLVMBuildFSub(b, ef, fc(kb, x, 1.0), ""), ef);
  m = kb_select(kb, small, fadd(kb, m, m), m);
  m = LLVMBuildFSub(b, m, fc(kb, x, 1.0), "");
  LLVMValueRef z = fmul(kb, m, m);
  LLVMValueRef y = fmul(kb, fmul(kb, poly(kb, m, p, 9), m), z);
  y = kb_fma(kb, ct, ef, fc(kb, x, -2.12194440e-4), y);
  y = kb_fma(kb, ct, z, fc(kb, x, -0.5), y);
  y = kb_fma(kb, ct, ef, fc(kb, x, 0.693359375), fadd(kb, m, y));
  y = kb_select(kb, LLVMBuildFCmp(b, LLVMRealOEQ, x, fc(kb, x, 0.0), ""), fc(kb, x, -__builtin_inf()), y);
  y = kb_select(kb, LLVMBuildFCmp(b, LLVMRealOEQ, x, fc(kb, x, __builtin_inf()), ""), x, y);
  return kb_select(kb, LLVMBuildFCmp(b, LLVMRealULT, x, fc(kb, x, 0.0), ""), fc(kb, x, __builtin_nan("")), y);
}

LLVMValueRef math_tanh(KB *kb, DType ct, LLVMValueRef x) {
  if (ct != DT_F32)
    return math_libm(kb, "tanh", ct, x);
  static const double p[] = {-5.70498872745E-3, 2.06390887954E-2, -5.37397155531E-2,
                             1.33314422036E-1, -3.33332819422E-1};
  LLVMBuilderRef b = kb->b;
  LLVMValueRef ax = kb_call_intrinsic(kb, "llvm.fabs", LLVMTypeOf(x), &x, 1);
  LLVMValueRef z = fmul(kb, x, x);
  LLVMValueRef small = kb_fma(kb, ct, fmul(kb, poly(kb, z, p, 5), z), x, x);
  LLVMValueRef e = math_exp(kb, ct, fadd(kb, ax, ax));
  LLVMValueRef big = LLVMBuildFSub(b, fc(kb, x, 1.0), LLVMBuildFDiv(b, fc(kb, x, 2.0), fadd(kb, e, fc(kb, x, 1.0)), ""), "");
  LLVMValueRef args[2] = {big, x};
  big = kb_call_intrinsic(kb, "llvm.copysign", LLVMTypeOf(x), args, 2);
  LLVMValueRef r = kb_select(kb, LLVMBuildFCmp(b, LLVMRealOLT, ax, fc(kb, x, 0.625), ""), small, big);
  return kb_select(kb, is_nan(kb, x), x, r);
}

LLVMValueRef math_sigmoid(KB *kb, DType ct, LLVMValueRef x) {
  LLVMValueRef e = math_exp(kb, ct, kb_neg(kb, ct, x));
  return LLVMBuildFDiv(kb->b, fc(kb, x, 1.0), fadd(kb, fc(kb, x, 1.0), e), "");
}

LLVMValueRef math_erf(KB *kb, DType ct, LLVMValueRef x) {
  if (ct != DT_F32)
    return math_libm(kb, "erf", ct, x);
  LLVMBuilderRef b = kb->b;
  // |x| < 0.5: Maclaurin series; else 1 - erfc with the Numerical Recipes erfc fit (1.2e-7).
  static const double taylor[] = {-1.0 / 1320, 1.0 / 216, -1.0 / 42, 1.0 / 10, -1.0 / 3, 1.0};
  static const double q[] = {0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807,
                             -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223};
  LLVMValueRef z = fmul(kb, x, x);
  LLVMValueRef small = fmul(kb, fmul(kb, poly(kb, z, taylor, 6), x), fc(kb, x, 1.12837916709551257));
  LLVMValueRef ax = kb_call_intrinsic(kb, "llvm.fabs", LLVMTypeOf(x), &x, 1);
  LLVMValueRef t = LLVMBuildFDiv(b, fc(kb, x, 1.0), kb_fma(kb, ct, ax, fc(kb, x, 0.5), fc(kb, x, 1.0)), "");
  LLVMValueRef arg = LLVMBuildFSub(b, poly(kb, t, q, 10), z, "");
  LLVMValueRef erfc = fmul(kb, t, math_exp(kb, ct, arg));
  LLVMValueRef big = LLVMBuildFSub(b, fc(kb, x, 1.0), erfc, "");
  LLVMValueRef args[2] = {big, x};
  big = kb_call_intrinsic(kb, "llvm.copysign", LLVMTypeOf(x), args, 2);
  LLVMValueRef r = kb_select(kb, LLVMBuildFCmp(b, LLVMRealOLT, ax, fc(kb, x, 0.5), ""), small, big);
  return kb_select(kb, is_nan(kb, x), x, r);
}
