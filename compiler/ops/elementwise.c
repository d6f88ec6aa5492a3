// elementwise.c — unary, binary and variadic elementwise ops with numpy broadcasting.
// Each op is a scalar function; lower_eltwise builds the loop nest around it, so fusion can
// chain scalar functions inside one loop later.
#include "../compiler.h"
#include "ops.h"

#include <math.h>
#include <string.h>

//
// Inference
//
static Shape broadcast_inputs(Compiler *cc, Node *n, int first) {
  Shape s = {0};
  bool started = false;
  unsigned dyn = 0; // data-dependent dims of s
  for (int i = first; i < n->nin; i++) {
    if (!n->in[i])
      continue;
    if (!started) {
      s = n->in[i]->shape;
      dyn = n->in[i]->dynamic;
      started = true;
    } else if (dyn || n->in[i]->dynamic)
      s = broadcast_bounds(&s, dyn, &n->in[i]->shape, n->in[i]->dynamic, &dyn);
    else if (!broadcast_shapes(&s, &n->in[i]->shape, &s))
      fatal_at(cc, n, "shapes %s and %s do not broadcast", shape_str(&cc->pool, &s),
               shape_str(&cc->pool, &n->in[i]->shape));
  }
  return s;
}

static void same_types(Compiler *cc, Node *n, int first, int last) {
  for (int i = first + 1; i <= last && i < n->nin; i++)
    if (n->in[i] && n->in[first] && n->in[i]->dtype != n->in[first]->dtype)
      fatal_at(cc, n, "input %d is %s but input %d is %s", first, dtype_onnx_name(n->in[first]->dtype),
               i, dtype_onnx_name(n->in[i]->dtype));
}

void infer_unary(Compiler *cc, Node *n) {
  (void)cc;
  set_output(n, 0, n->in[0]->dtype, n->in[0]->shape);
}

// Opsets before 7 broadcast only with broadcast=1, B's dims matching A's from `axis` on
// (default: A's last dims). Numpy broadcasting, used since, aligns B's last dim with A's, so a
// B that stops short of A's last dim (a per-channel bias: A [N, C, H, W], B [C], axis 1) is
// given trailing 1s.
static void legacy_broadcast(Compiler *cc, Node *n) {
  if (n->opset >= 7 || n->nin != 2 || !attr_int(n, "broadcast", 0) || !node_attr(n, "axis"))
    return;
  Value *a = n->in[0], *b = n->in[1];
  int64_t axis = attr_int(n, "axis", 0);
  axis += axis < 0 ? a->shape.rank : 0;
  int64_t trailing = a->shape.rank - axis - b->shape.rank;
  if (axis < 0 || trailing < 0)
    fatal_at(cc, n, "B %s does not fit A %s from axis %lld", shape_str(&cc->pool, &b->shape),
             shape_str(&cc->pool, &a->shape), (long long)attr_int(n, "axis", 0));
  if (trailing == 0)
    return;
  if (!b->data)
    fatal_at(cc, n, "broadcasting a run-time B from axis %lld (opset %d) is not supported", (long long)axis, n->opset);
  Shape s = b->shape;
  while (trailing--)
    s.dim[s.rank++] = 1;
  n->in[1] = graph_const(n->graph, pool_printf(&cc->pool, "%s.aligned", b->name), b->dtype, s, b->data);
}

void infer_binary(Compiler *cc, Node *n) {
  legacy_broadcast(cc, n);
  same_types(cc, n, 0, n->nin - 1);
  set_output(n, 0, n->in[0]->dtype, broadcast_inputs(cc, n, 0));
}

// Pow and BitShift-like ops whose operands may differ in type (Pow: exponent of any type).
void infer_binary_mixed(Compiler *cc, Node *n) {
  legacy_broadcast(cc, n);
  set_output(n, 0, n->in[0]->dtype, broadcast_inputs(cc, n, 0));
}

void infer_predicate(Compiler *cc, Node *n) {
  legacy_broadcast(cc, n);
  if (n->nin > 1)
    same_types(cc, n, 0, n->nin - 1);
  set_output(n, 0, DT_BOOL, broadcast_inputs(cc, n, 0));
}

void infer_where(Compiler *cc, Node *n) {
  same_types(cc, n, 1, 2);
  set_output(n, 0, n->in[1]->dtype, broadcast_inputs(cc, n, 0));
}

void infer_cast(Compiler *cc, Node *n) {
  DType to = n->op->kind == OP_CastLike ? n->in[1]->dtype : (DType)attr_int(n, "to", 0);
  if (!dtype_supported(n->in[0]->dtype))
    fatal_at(cc, n, "casting from %s is not supported", dtype_onnx_name(n->in[0]->dtype));
  if (!dtype_supported(to))
    fatal_at(cc, n, "casting to %s is not supported", dtype_onnx_name(to));
  set_output(n, 0, to, n->in[0]->shape);
  if (to == DT_STRING || n->in[0]->dtype == DT_STRING)
    infer_cast_text(cc, n);
}

// Casts between numbers are elementwise; text is printed and read by text.c. (A string
// Cast has no scalar form: fusion must leave it alone.)
void lower_cast(KB *kb, Node *n) {
  if (n->out[0]->dtype == DT_STRING || n->in[0]->dtype == DT_STRING)
    lower_cast_text(kb, n);
  else
    lower_eltwise(kb, n);
}

void infer_clip(Compiler *cc, Node *n) {
  same_types(cc, n, 0, 2);
  for (int i = 1; i < n->nin; i++)
    if (n->in[i] && shape_numel(&n->in[i]->shape) != 1)
      fatal_at(cc, n, "min and max must be scalars");
  set_output(n, 0, n->in[0]->dtype, n->in[0]->shape);
}

//
// Scalar functions: x[i] is input i in its compute type; the result is in the output's.
//
static LLVMValueRef zero(LLVMValueRef like) { return LLVMConstNull(LLVMTypeOf(like)); }
static LLVMValueRef fabs_(KB *kb, LLVMValueRef x) { return kb_call_intrinsic(kb, "llvm.fabs", LLVMTypeOf(x), &x, 1); }
static LLVMValueRef intrin1(KB *kb, const char *name, LLVMValueRef x) { return kb_call_intrinsic(kb, name, LLVMTypeOf(x), &x, 1); }

#define SCALAR(name) LLVMValueRef name(KB *kb, const Node *n, LLVMValueRef *x, DType ct)
#define UNUSED (void)n, (void)ct

SCALAR(scalar_add) { (void)n; return kb_add(kb, ct, x[0], x[1]); }
SCALAR(scalar_sub) { (void)n; return kb_sub(kb, ct, x[0], x[1]); }
SCALAR(scalar_mul) { (void)n; return kb_mul(kb, ct, x[0], x[1]); }
SCALAR(scalar_div) { (void)n; return kb_div(kb, ct, x[0], x[1]); }
SCALAR(scalar_neg) { (void)n; return kb_neg(kb, ct, x[0]); }

SCALAR(scalar_abs) {
  (void)n;
  if (dtype_is_float(ct))
    return fabs_(kb, x[0]);
  if (!dtype_is_signed(ct))
    return x[0];
  LLVMValueRef args[2] = {x[0], LLVMConstInt(LLVMInt1TypeInContext(kb->ctx), 0, 0)};
  return kb_call_intrinsic(kb, "llvm.abs", LLVMTypeOf(x[0]), args, 2);
}

SCALAR(scalar_relu) { (void)n; return kb_select(kb, kb_lt(kb, ct, x[0], zero(x[0])), zero(x[0]), x[0]); }

SCALAR(scalar_leaky_relu) {
  LLVMValueRef a = kb_const(kb, ct, attr_float(n, "alpha", 0.01f));
  return kb_select(kb, kb_lt(kb, ct, x[0], zero(x[0])), kb_mul(kb, ct, x[0], a), x[0]);
}

SCALAR(scalar_prelu) {
  (void)n;
  return kb_select(kb, kb_lt(kb, ct, x[0], zero(x[0])), kb_mul(kb, ct, x[0], x[1]), x[0]);
}

SCALAR(scalar_thresholded_relu) {
  LLVMValueRef a = kb_const(kb, ct, attr_float(n, "alpha", 1.0f));
  return kb_select(kb, kb_gt(kb, ct, x[0], a), x[0], zero(x[0]));
}

SCALAR(scalar_sigmoid) { (void)n; return math_sigmoid(kb, ct, x[0]); }
SCALAR(scalar_tanh) { (void)n; return math_tanh(kb, ct, x[0]); }
SCALAR(scalar_exp) { (void)n; return math_exp(kb, ct, x[0]); }
SCALAR(scalar_log) { (void)n; return math_log(kb, ct, x[0]); }
SCALAR(scalar_erf) { (void)n; return math_erf(kb, ct, x[0]); }
SCALAR(scalar_sqrt) { (void)n, (void)ct; return intrin1(kb, "llvm.sqrt", x[0]); }
SCALAR(scalar_ceil) { (void)n; return kb_round(kb, ct, x[0], ROUND_CEIL); }
SCALAR(scalar_floor) { (void)n; return kb_round(kb, ct, x[0], ROUND_FLOOR); }
SCALAR(scalar_round) { (void)n; return kb_round(kb, ct, x[0], ROUND_EVEN); }
SCALAR(scalar_reciprocal) { (void)n; return LLVMBuildFDiv(kb->b, kb_const(kb, ct, 1.0), x[0], ""); }

#define LIBM_SCALAR(op, fn) \
  SCALAR(scalar_##op) { (void)n; return math_libm(kb, fn, ct, x[0]); }
LIBM_SCALAR(sin, "sin")
LIBM_SCALAR(cos, "cos")
LIBM_SCALAR(tan, "tan")
LIBM_SCALAR(asin, "asin")
LIBM_SCALAR(acos, "acos")
LIBM_SCALAR(atan, "atan")
LIBM_SCALAR(sinh, "sinh")
LIBM_SCALAR(cosh, "cosh")
LIBM_SCALAR(asinh, "asinh")
LIBM_SCALAR(acosh, "acosh")
LIBM_SCALAR(atanh, "atanh")

SCALAR(scalar_sign) {
  (void)n;
  LLVMValueRef one = kb_const(kb, ct, 1.0), mone = kb_const(kb, ct, -1.0), z = zero(x[0]);
  LLVMValueRef r = kb_select(kb, kb_gt(kb, ct, x[0], z), one, z);
  if (dtype_is_signed(ct))
    r = kb_select(kb, kb_lt(kb, ct, x[0], z), mone, r);
  return dtype_is_float(ct) ? kb_select(kb, LLVMBuildFCmp(kb->b, LLVMRealUNO, x[0], x[0], ""), x[0], r) : r;
}

SCALAR(scalar_pow) {
  DType et = dtype_compute(n->in[1]->dtype);
  if (dtype_is_float(ct))
    return math_pow(kb, ct, x[0], kb_convert(kb, x[1], et, ct));
  // Integer base: compute in double and convert back (exact for the ranges ONNX tests use).
  LLVMValueRef b = kb_convert(kb, x[0], ct, DT_F64), e = kb_convert(kb, x[1], et, DT_F64);
  return kb_convert(kb, math_pow(kb, DT_F64, b, e), DT_F64, ct);
}

SCALAR(scalar_hard_sigmoid) {
  LLVMValueRef a = kb_const(kb, ct, attr_float(n, "alpha", 0.2f)), b = kb_const(kb, ct, attr_float(n, "beta", 0.5f));
  LLVMValueRef y = kb_fma(kb, ct, x[0], a, b);
  return kb_max(kb, ct, kb_const(kb, ct, 0.0), kb_min(kb, ct, kb_const(kb, ct, 1.0), y));
}

SCALAR(scalar_hard_swish) {
  (void)n;
  LLVMValueRef y = kb_fma(kb, ct, x[0], kb_const(kb, ct, 1.0 / 6), kb_const(kb, ct, 0.5));
  y = kb_max(kb, ct, kb_const(kb, ct, 0.0), kb_min(kb, ct, kb_const(kb, ct, 1.0), y));
  return kb_mul(kb, ct, x[0], y);
}

SCALAR(scalar_softplus) {
  (void)n; // log(1 + e^x) = max(x, 0) + log(1 + e^-|x|): no overflow for large x
  LLVMValueRef e = math_exp(kb, ct, kb_neg(kb, ct, fabs_(kb, x[0])));
  return kb_add(kb, ct, kb_max(kb, ct, x[0], kb_const(kb, ct, 0.0)),
                math_log(kb, ct, kb_add(kb, ct, kb_const(kb, ct, 1.0), e)));
}

SCALAR(scalar_softsign) {
  (void)n;
  return LLVMBuildFDiv(kb->b, x[0], kb_add(kb, ct, kb_const(kb, ct, 1.0), fabs_(kb, x[0])), "");
}

static LLVMValueRef expm1_scaled(KB *kb, DType ct, LLVMValueRef x, double alpha) {
  return kb_mul(kb, ct, kb_const(kb, ct, alpha), kb_sub(kb, ct, math_exp(kb, ct, x), kb_const(kb, ct, 1.0)));
}

SCALAR(scalar_elu) {
  double a = attr_float(n, "alpha", 1.0f);
  return kb_select(kb, kb_lt(kb, ct, x[0], kb_const(kb, ct, 0.0)), expm1_scaled(kb, ct, x[0], a), x[0]);
}

SCALAR(scalar_selu) {
  double a = attr_float(n, "alpha", 1.67326319217681884765625f);
  LLVMValueRef g = kb_const(kb, ct, attr_float(n, "gamma", 1.05070102214813232421875f));
  LLVMValueRef y = kb_select(kb, kb_le(kb, ct, x[0], kb_const(kb, ct, 0.0)), expm1_scaled(kb, ct, x[0], a), x[0]);
  return kb_mul(kb, ct, g, y);
}

SCALAR(scalar_celu) {
  double a = attr_float(n, "alpha", 1.0f);
  LLVMValueRef neg = expm1_scaled(kb, ct, kb_div(kb, ct, x[0], kb_const(kb, ct, a)), a);
  LLVMValueRef z = kb_const(kb, ct, 0.0);
  return kb_add(kb, ct, kb_max(kb, ct, z, x[0]), kb_min(kb, ct, z, neg));
}

SCALAR(scalar_shrink) {
  LLVMValueRef l = kb_const(kb, ct, attr_float(n, "lambd", 0.5f)), b = kb_const(kb, ct, attr_float(n, "bias", 0.0f));
  LLVMValueRef r = kb_select(kb, kb_gt(kb, ct, x[0], l), kb_sub(kb, ct, x[0], b), kb_const(kb, ct, 0.0));
  return kb_select(kb, kb_lt(kb, ct, x[0], kb_neg(kb, ct, l)), kb_add(kb, ct, x[0], b), r);
}

SCALAR(scalar_mish) {
  LLVMValueRef sp = scalar_softplus(kb, n, x, ct);
  return kb_mul(kb, ct, x[0], math_tanh(kb, ct, sp));
}

SCALAR(scalar_gelu) {
  (void)n;
  LLVMValueRef half = kb_const(kb, ct, 0.5), one = kb_const(kb, ct, 1.0);
  if (!strcmp(attr_string(n, "approximate", "none"), "tanh")) {
    LLVMValueRef x3 = kb_mul(kb, ct, kb_mul(kb, ct, x[0], x[0]), x[0]);
    LLVMValueRef in = kb_mul(kb, ct, kb_const(kb, ct, 0.7978845608028654),
                             kb_fma(kb, ct, x3, kb_const(kb, ct, 0.044715), x[0]));
    return kb_mul(kb, ct, kb_mul(kb, ct, half, x[0]), kb_add(kb, ct, one, math_tanh(kb, ct, in)));
  }
  LLVMValueRef e = math_erf(kb, ct, kb_mul(kb, ct, x[0], kb_const(kb, ct, 0.7071067811865476)));
  return kb_mul(kb, ct, kb_mul(kb, ct, half, x[0]), kb_add(kb, ct, one, e));
}

SCALAR(scalar_clip) {
  // Before opset 11, min and max are attributes; after, optional scalar inputs.
  LLVMValueRef y = x[0];
  if (n->opset < 11) {
    y = kb_max(kb, ct, y, kb_const(kb, ct, attr_float(n, "min", -INFINITY)));
    return kb_min(kb, ct, y, kb_const(kb, ct, attr_float(n, "max", INFINITY)));
  }
  if (node_input(n, 1))
    y = kb_max(kb, ct, y, x[1]);
  if (node_input(n, 2))
    y = kb_min(kb, ct, y, x[2]);
  return y;
}

SCALAR(scalar_cast) {
  (void)ct;
  return kb_convert(kb, x[0], n->in[0]->dtype, n->out[0]->dtype);
}

SCALAR(scalar_identity) { UNUSED; (void)kb; return x[0]; }

SCALAR(scalar_not) { UNUSED; return LLVMBuildNot(kb->b, x[0], ""); }
SCALAR(scalar_and) { UNUSED; return LLVMBuildAnd(kb->b, x[0], x[1], ""); }
SCALAR(scalar_or) { UNUSED; return LLVMBuildOr(kb->b, x[0], x[1], ""); }
SCALAR(scalar_xor) { UNUSED; return LLVMBuildXor(kb->b, x[0], x[1], ""); }
SCALAR(scalar_equal) { (void)n; return ct == DT_STRING ? text_equal(kb, x[0], x[1]) : kb_eq(kb, ct, x[0], x[1]); }
SCALAR(scalar_less) { (void)n; return kb_lt(kb, ct, x[0], x[1]); }
SCALAR(scalar_greater) { (void)n; return kb_gt(kb, ct, x[0], x[1]); }
SCALAR(scalar_less_equal) { (void)n; return kb_le(kb, ct, x[0], x[1]); }
SCALAR(scalar_greater_equal) { (void)n; return kb_ge(kb, ct, x[0], x[1]); }
SCALAR(scalar_where) { UNUSED; return kb_select(kb, x[0], x[1], x[2]); }

SCALAR(scalar_is_nan) { UNUSED; return LLVMBuildFCmp(kb->b, LLVMRealUNO, x[0], x[0], ""); }

SCALAR(scalar_is_inf) {
  (void)ct;
  bool pos = attr_int(n, "detect_positive", 1), neg = attr_int(n, "detect_negative", 1);
  LLVMValueRef inf = LLVMConstReal(LLVMTypeOf(x[0]), INFINITY), f = LLVMConstInt(LLVMInt1TypeInContext(kb->ctx), 0, 0);
  LLVMValueRef r = f;
  if (pos)
    r = LLVMBuildOr(kb->b, r, LLVMBuildFCmp(kb->b, LLVMRealOEQ, x[0], inf, ""), "");
  if (neg)
    r = LLVMBuildOr(kb->b, r, LLVMBuildFCmp(kb->b, LLVMRealOEQ, x[0], LLVMConstReal(LLVMTypeOf(x[0]), -INFINITY), ""), "");
  return r;
}

SCALAR(scalar_mod) {
  if (dtype_is_float(ct)) // fmod=1 is required for floats: C fmod semantics
    return LLVMBuildFRem(kb->b, x[0], x[1], "");
  LLVMValueRef zero_ = zero(x[1]);
  LLVMValueRef d = kb_select(kb, LLVMBuildICmp(kb->b, LLVMIntEQ, x[1], zero_, ""), LLVMConstInt(LLVMTypeOf(x[1]), 1, 0), x[1]);
  if (!dtype_is_signed(ct))
    return LLVMBuildURem(kb->b, x[0], d, "");
  LLVMValueRef r = LLVMBuildSRem(kb->b, x[0], d, "");
  if (attr_int(n, "fmod", 0))
    return r;
  // Python semantics: the result takes the divisor's sign.
  LLVMValueRef fix = LLVMBuildAnd(kb->b, LLVMBuildICmp(kb->b, LLVMIntNE, r, zero_, ""),
                                  LLVMBuildICmp(kb->b, LLVMIntNE, LLVMBuildICmp(kb->b, LLVMIntSLT, r, zero_, ""),
                                                LLVMBuildICmp(kb->b, LLVMIntSLT, d, zero_, ""), ""), "");
  return kb_select(kb, fix, LLVMBuildAdd(kb->b, r, d, ""), r);
}

SCALAR(scalar_bit_shift) {
  (void)ct;
  // Shifting by the width or more is poison in LLVM; ONNX expects zero.
  unsigned bits = LLVMGetIntTypeWidth(LLVMTypeOf(x[0]));
  LLVMValueRef big = LLVMBuildICmp(kb->b, LLVMIntUGE, x[1], LLVMConstInt(LLVMTypeOf(x[1]), bits, 0), "");
  LLVMValueRef sh = kb_select(kb, big, zero(x[1]), x[1]);
  LLVMValueRef r = !strcmp(attr_string(n, "direction", ""), "LEFT") ? LLVMBuildShl(kb->b, x[0], sh, "")
                                                                    : LLVMBuildLShr(kb->b, x[0], sh, "");
  return kb_select(kb, big, zero(x[0]), r);
}

SCALAR(scalar_bitwise_and) { UNUSED; return LLVMBuildAnd(kb->b, x[0], x[1], ""); }
SCALAR(scalar_bitwise_or) { UNUSED; return LLVMBuildOr(kb->b, x[0], x[1], ""); }
SCALAR(scalar_bitwise_xor) { UNUSED; return LLVMBuildXor(kb->b, x[0], x[1], ""); }
SCALAR(scalar_bitwise_not) { UNUSED; return LLVMBuildNot(kb->b, x[0], ""); }

static LLVMValueRef fold_inputs(KB *kb, const Node *n, LLVMValueRef *x, DType ct,
                                LLVMValueRef (*op)(KB *, DType, LLVMValueRef, LLVMValueRef)) {
  LLVMValueRef acc = x[0];
  for (int i = 1; i < n->nin; i++)
    acc = op(kb, ct, acc, x[i]);
  return acc;
}

SCALAR(scalar_sum) { return fold_inputs(kb, n, x, ct, kb_add); }
SCALAR(scalar_max) { return fold_inputs(kb, n, x, ct, kb_max); }
SCALAR(scalar_min) { return fold_inputs(kb, n, x, ct, kb_min); }
SCALAR(scalar_mean) {
  return kb_div(kb, ct, fold_inputs(kb, n, x, ct, kb_add), kb_const(kb, ct, n->nin));
}

//
// Lowering: one loop nest over the output. Each input is read through broadcast strides
// (0 along broadcast dims); adjacent dims that are contiguous for every operand are merged,
// so the innermost loop is as long as possible and vectorizes.
//
typedef struct {
  int rank;
  int64_t dim[MAX_RANK];
  int64_t stride[MAX_RANK + 1][MAX_RANK]; // [operand][dim]; operand nin is the output
} BroadcastNest;

static void broadcast_strides(const Shape *in, const Shape *out, int64_t *stride) {
  int64_t st = 1;
  for (int d = out->rank - 1; d >= 0; d--) {
    int id = in->rank - out->rank + d;
    int64_t dim = id >= 0 ? in->dim[id] : 1;
    stride[d] = dim == 1 ? 0 : st;
    st *= dim;
  }
}

static BroadcastNest plan_nest(const Node *n) {
  const Shape *os = &n->out[0]->shape;
  int64_t st[MAX_RANK + 1][MAX_RANK];
  for (int i = 0; i < n->nin; i++)
    if (n->in[i])
      broadcast_strides(&n->in[i]->shape, os, st[i]);
  broadcast_strides(os, os, st[n->nin]);
  BroadcastNest bn = {0};
  for (int d = 0; d < os->rank; d++) {
    if (os->dim[d] == 1)
      continue; // size-1 dims contribute nothing
    bool merge = bn.rank > 0;
    for (int i = 0; merge && i <= n->nin; i++) {
      if (i < n->nin && !n->in[i])
        continue;
      int64_t inner = st[i][d], outer = bn.stride[i][bn.rank - 1];
      merge = outer == inner * os->dim[d];
    }
    if (merge) {
      bn.dim[bn.rank - 1] *= os->dim[d];
      for (int i = 0; i <= n->nin; i++)
        bn.stride[i][bn.rank - 1] = i < n->nin && !n->in[i] ? 0 : st[i][d];
    } else {
      bn.dim[bn.rank] = os->dim[d];
      for (int i = 0; i <= n->nin; i++)
        bn.stride[i][bn.rank] = i < n->nin && !n->in[i] ? 0 : st[i][d];
      bn.rank++;
    }
  }
  return bn;
}

// The output's run-time dims: the inputs' broadcast (empty where they do not broadcast).
void dims_broadcast(KB *kb, const Node *n, RtShape *out) {
  bool first = true;
  for (int i = 0; i < n->nin; i++)
    if (n->in[i]) {
      RtShape s = kb_in_shape(kb, i);
      out[0] = first ? s : kb_broadcast_shape(kb, &out[0], &s);
      first = false;
    }
}

// Inputs of data-dependent shape: the broadcast strides and the loop bounds are computed at
// run time, over the output's dims (dims_broadcast).
static void lower_eltwise_dynamic(KB *kb, Node *n) {
  RtShape out = kb_out_shape(kb, 0);
  int rank = out.rank;
  LLVMValueRef st[16][MAX_RANK], ost[MAX_RANK], idx[MAX_RANK], x[16];
  LLVMValueRef one = kb_idx(kb, 1);
  if (n->nin > countof(x))
    fatal_at(kb->cc, n, "more than %d inputs", countof(x));
  kb_strides(kb, &out, ost);
  for (int i = 0; i < n->nin; i++) // aligned to the output rank with leading 1s
    if (n->in[i]) {
      RtShape s = kb_in_shape(kb, i), in = {.rank = rank};
      for (int d = 0; d < rank; d++)
        in.dim[d] = d < rank - s.rank ? one : s.dim[d - (rank - s.rank)];
      kb_strides(kb, &in, st[i]);
      for (int d = 0; d < rank; d++)
        st[i][d] = kb_select(kb, LLVMBuildICmp(kb->b, LLVMIntEQ, in.dim[d], one, ""), kb_idx(kb, 0), st[i][d]);
    }
  Loop loops[MAX_RANK];
  kb_for_rt(kb, loops, &out, idx);
  for (int i = 0; i < n->nin; i++)
    if (n->in[i])
      x[i] = kb_load(kb, n->in[i]->dtype, kb->in[i], kb_dot(kb, rank, idx, st[i]));
  DType ct = dtype_compute(n->in[n->op->kind == OP_Where ? 1 : 0]->dtype);
  kb_store(kb, n->out[0]->dtype, kb->out[0], kb_dot(kb, rank, idx, ost), n->op->scalar(kb, n, x, ct));
  kb_end_for_rt(kb, loops, &out);
}

void lower_eltwise(KB *kb, Node *n) {
  if (has_dynamic_input(n)) {
    lower_eltwise_dynamic(kb, n);
    return;
  }
  BroadcastNest bn = plan_nest(n);
  Shape nest = shape_of(bn.rank, bn.dim);
  Loop loops[MAX_RANK];
  LLVMValueRef idx[MAX_RANK];
  kb_for_shape(kb, loops, &nest, idx);
  LLVMValueRef x[16];
  if (n->nin > countof(x))
    fatal_at(kb->cc, n, "more than %d inputs", countof(x));
  for (int i = 0; i < n->nin; i++)
    if (n->in[i])
      x[i] = kb_load(kb, n->in[i]->dtype, kb->in[i], kb_flat_strided(kb, bn.rank, bn.stride[i], idx));
  DType ct = dtype_compute(n->in[0]->dtype);
  if (n->op->kind == OP_Where)
    ct = dtype_compute(n->in[1]->dtype);
  LLVMValueRef y = n->op->scalar(kb, n, x, ct);
  kb_store(kb, n->out[0]->dtype, kb->out[0], kb_flat_strided(kb, bn.rank, bn.stride[n->nin], idx), y);
  kb_end_for_shape(kb, loops, &nest);
}
