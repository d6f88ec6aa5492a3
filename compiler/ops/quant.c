// quant.c — quantization: QuantizeLinear, DequantizeLinear (per tensor, per axis, blocked),
// DynamicQuantizeLinear, the integer ops MatMulInteger and ConvInteger, and QLinearMatMul /
// QLinearConv. Integer products accumulate exactly in int32; conversions to a quantized type
// round half to even and saturate. Requantization follows onnxruntime bit for bit: the
// multiplier a_scale * b_scale / y_scale and the scaled accumulator are float32.
// These are the correct, simple kernels; fast int8 paths build on the same semantics.
#include "../compiler.h"
#include "ops.h"

#include <math.h>

static bool quantized_type(DType t) {
  return t == DT_U8 || t == DT_I8 || t == DT_U16 || t == DT_I16 || t == DT_U4 || t == DT_I4;
}

//
// Quantization parameters. A scale or zero point with one element applies to the whole
// tensor whatever its shape ([], [1], [1, 1]...), as ONNX Runtime reads every such form; an
// absent zero point is 0 everywhere. Every op and pass asks here.
//
bool qparam_per_tensor(const Value *v) { return !v || shape_numel(&v->shape) == 1; }

void qparams_agree(Compiler *cc, Node *n, const Value *scale, const Value *zp) {
  if (zp && !(qparam_per_tensor(scale) && qparam_per_tensor(zp)) && !shape_eq(&zp->shape, &scale->shape))
    fatal_at(cc, n, "the zero point has shape %s, the scale %s", shape_str(&cc->pool, &zp->shape),
             shape_str(&cc->pool, &scale->shape));
}

void qrange(DType t, int32_t *lo, int32_t *hi) {
  switch (t) {
  case DT_U8: *lo = 0, *hi = 255; break;
  case DT_I8: *lo = -128, *hi = 127; break;
  case DT_U16: *lo = 0, *hi = 65535; break;
  case DT_I16: *lo = -32768, *hi = 32767; break;
  case DT_U4: *lo = 0, *hi = 15; break;
  case DT_I4: *lo = -8, *hi = 7; break;
  default: *lo = INT32_MIN, *hi = INT32_MAX; break;
  }
}

int32_t quantize_value(float v, float scale, int32_t zp, DType dt) {
  int32_t lo, hi;
  qrange(dt, &lo, &hi);
  double q = nearbyintf(v / scale) + (double)zp; // float32 quotient, rounded half to even
  return isnan(q) ? zp : q < lo ? lo : q > hi ? hi : (int32_t)q;
}

// round_half_even(v) + zp, saturated into TO. V and ZP are float32.
static LLVMValueRef quantize(KB *kb, LLVMValueRef v, LLVMValueRef zp, DType to) {
  LLVMValueRef r = kb_round(kb, DT_F32, v, ROUND_EVEN); // (llvm.roundeven has no vector form on ARMv7)
  if (zp)
    r = kb_add(kb, DT_F32, r, zp);
  return kb_integral_to_narrow(kb, r, to);
}

// Input I (a scale or zero point) as float32 at index IDX.
static LLVMValueRef load_f32(KB *kb, Node *n, int i, LLVMValueRef idx) {
  DType dt = n->in[i]->dtype;
  return kb_convert(kb, kb_load(kb, dt, kb->in[i], idx), dt, DT_F32);
}

//
// QuantizeLinear / DequantizeLinear: x, scale, zero point; the scale is a scalar, a 1-D
// tensor along `axis`, or (opset 21 block_size) x's shape with `axis` divided into blocks.
//
typedef enum { PER_TENSOR, PER_AXIS, BLOCKED } QuantGranularity;

typedef struct {
  QuantGranularity kind;
  int axis;
  int64_t block;             // BLOCKED: elements per scale along the axis
  int64_t outer, len, inner; // x as (dims before the axis, the axis, dims after)
} QuantAxis;

static QuantAxis quant_axis(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape, *s = &n->in[1]->shape;
  QuantAxis q = {.outer = 1, .inner = 1, .len = 1};
  qparams_agree(cc, n, n->in[1], node_input(n, 2));
  q.block = attr_int(n, "block_size", 0);
  if (qparam_per_tensor(n->in[1]) && q.block == 0) {
    q.kind = PER_TENSOR;
    q.len = shape_numel(x);
    return q;
  }
  q.axis = norm_axis(cc, n, attr_int(n, "axis", 1), x->rank);
  for (int d = 0; d < x->rank; d++)
    *(d < q.axis ? &q.outer : d > q.axis ? &q.inner : &q.len) *= x->dim[d];
  if (q.block > 0) {
    Shape want = *x;
    want.dim[q.axis] = (x->dim[q.axis] + q.block - 1) / q.block;
    if (!shape_eq(s, &want))
      fatal_at(cc, n, "with block_size %lld the scale must have shape %s, not %s", (long long)q.block,
               shape_str(&cc->pool, &want), shape_str(&cc->pool, s));
    q.kind = BLOCKED;
  } else if (s->rank != 1 || s->dim[0] != q.len) {
    fatal_at(cc, n, "the scale of shape %s fits neither a scalar nor axis %d of %s", shape_str(&cc->pool, s), q.axis,
             shape_str(&cc->pool, x));
  } else {
    q.kind = PER_AXIS;
  }
  return q;
}

// Loops over x as (outer, axis, inner); the body gets x's flat index and the scale's.
typedef struct {
  Loop lo, la, li;
  LLVMValueRef at, scale_at;
} QuantNest;

static void begin_quant(KB *kb, const QuantAxis *q, QuantNest *qn) {
  LLVMValueRef o = kb_for(kb, &qn->lo, q->outer), a = kb_for(kb, &qn->la, q->len), i = kb_for(kb, &qn->li, q->inner);
  qn->at = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, o, kb_idx(kb, q->len), ""), a, ""),
                                            kb_idx(kb, q->inner), ""), i, "");
  switch (q->kind) {
  case PER_TENSOR: qn->scale_at = kb_idx(kb, 0); break;
  case PER_AXIS: qn->scale_at = a; break;
  case BLOCKED: { // the scale has x's shape with the axis counted in blocks
    int64_t blocks = (q->len + q->block - 1) / q->block;
    LLVMValueRef row = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, o, kb_idx(kb, blocks), ""),
                                    LLVMBuildUDiv(kb->b, a, kb_idx(kb, q->block), ""), "");
    qn->scale_at = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, row, kb_idx(kb, q->inner), ""), i, "");
    break;
  }
  }
}

static void end_quant(KB *kb, QuantNest *qn) {
  kb_end_for(kb, &qn->li);
  kb_end_for(kb, &qn->la);
  kb_end_for(kb, &qn->lo);
}

void infer_QuantizeLinear(Compiler *cc, Node *n) {
  DType xt = n->in[0]->dtype, st = n->in[1]->dtype;
  if (!dtype_is_float(xt) && xt != DT_I32)
    fatal_at(cc, n, "x of type %s is not supported", dtype_onnx_name(xt));
  if (!dtype_is_float(st) || st == DT_F64)
    fatal_at(cc, n, "a scale of type %s is not supported", dtype_onnx_name(st));
  Value *zp = node_input(n, 2);
  DType yt = zp ? zp->dtype : (DType)attr_int(n, "output_dtype", DT_U8);
  if (!zp && yt == DT_UNDEF)
    yt = DT_U8;
  if (!quantized_type(yt))
    fatal_at(cc, n, "quantizing to %s is not supported", dtype_onnx_name(yt));
  QuantAxis *q = pool_alloc(&cc->pool, sizeof(QuantAxis));
  *q = quant_axis(cc, n);
  n->priv = q;
  set_output(n, 0, yt, n->in[0]->shape);
}

void lower_QuantizeLinear(KB *kb, Node *n) {
  const QuantAxis *q = n->priv;
  DType xt = n->in[0]->dtype;
  QuantNest qn;
  begin_quant(kb, q, &qn);
  LLVMValueRef x = kb_convert(kb, kb_load(kb, xt, kb->in[0], qn.at), xt, DT_F32);
  LLVMValueRef v = kb_div(kb, DT_F32, x, load_f32(kb, n, 1, qn.scale_at));
  LLVMValueRef zp = node_input(n, 2) ? load_f32(kb, n, 2, qn.scale_at) : NULL;
  kb_store(kb, n->out[0]->dtype, kb->out[0], qn.at, quantize(kb, v, zp, n->out[0]->dtype));
  end_quant(kb, &qn);
}

void infer_DequantizeLinear(Compiler *cc, Node *n) {
  DType xt = n->in[0]->dtype, st = n->in[1]->dtype;
  if (!quantized_type(xt) && xt != DT_I32)
    fatal_at(cc, n, "x of type %s is not supported", dtype_onnx_name(xt));
  if (!dtype_is_float(st) || st == DT_F64)
    fatal_at(cc, n, "a scale of type %s is not supported", dtype_onnx_name(st));
  Value *zp = node_input(n, 2);
  if (zp && zp->dtype != xt)
    fatal_at(cc, n, "the zero point is %s, x is %s", dtype_onnx_name(zp->dtype), dtype_onnx_name(xt));
  QuantAxis *q = pool_alloc(&cc->pool, sizeof(QuantAxis));
  *q = quant_axis(cc, n);
  n->priv = q;
  set_output(n, 0, st, n->in[0]->shape);
}

void lower_DequantizeLinear(KB *kb, Node *n) {
  const QuantAxis *q = n->priv;
  DType xt = n->in[0]->dtype, yt = n->out[0]->dtype;
  QuantNest qn;
  begin_quant(kb, q, &qn);
  LLVMValueRef x = kb_convert(kb, kb_load(kb, xt, kb->in[0], qn.at), xt, DT_I64);
  if (node_input(n, 2)) // x - zp is exact in int64
    x = kb_sub(kb, DT_I64, x, kb_convert(kb, kb_load(kb, xt, kb->in[2], qn.scale_at), xt, DT_I64));
  LLVMValueRef y = kb_mul(kb, DT_F32, kb_convert(kb, x, DT_I64, DT_F32), load_f32(kb, n, 1, qn.scale_at));
  kb_store(kb, yt, kb->out[0], qn.at, y);
  end_quant(kb, &qn);
}

//
// DynamicQuantizeLinear: uint8 with a scale and zero point that cover [min(x, 0), max(x, 0)]
//
void infer_DynamicQuantizeLinear(Compiler *cc, Node *n) {
  if (n->in[0]->dtype != DT_F32)
    fatal_at(cc, n, "x of type %s is not supported", dtype_onnx_name(n->in[0]->dtype));
  set_output(n, 0, DT_U8, n->in[0]->shape);
  set_output(n, 1, DT_F32, (Shape){0});
  set_output(n, 2, DT_U8, (Shape){0});
}

void lower_DynamicQuantizeLinear(KB *kb, Node *n) {
  int64_t count = shape_numel(&n->in[0]->shape);
  LLVMTypeRef f32 = LLVMFloatTypeInContext(kb->ctx);
  LLVMValueRef zero = kb_const(kb, DT_F32, 0.0);
  LLVMValueRef lo = kb_var(kb, f32, zero), hi = kb_var(kb, f32, zero);
  Loop l;
  LLVMValueRef i = kb_for(kb, &l, count);
  LLVMValueRef x = kb_load(kb, DT_F32, kb->in[0], i);
  kb_set(kb, lo, kb_min(kb, DT_F32, kb_get(kb, f32, lo), x));
  kb_set(kb, hi, kb_max(kb, DT_F32, kb_get(kb, f32, hi), x));
  kb_end_for(kb, &l);
  LLVMValueRef min = kb_get(kb, f32, lo);
  LLVMValueRef scale = kb_div(kb, DT_F32, kb_sub(kb, DT_F32, kb_get(kb, f32, hi), min), kb_const(kb, DT_F32, 255.0));
  LLVMValueRef zpf = kb_div(kb, DT_F32, kb_sub(kb, DT_F32, zero, min), scale);
  zpf = kb_round(kb, DT_F32, zpf, ROUND_EVEN);
  zpf = kb_min(kb, DT_F32, kb_max(kb, DT_F32, zpf, zero), kb_const(kb, DT_F32, 255.0));
  LLVMValueRef zp = kb_convert(kb, zpf, DT_F32, DT_U8);
  if (n->out[1])
    kb_store(kb, DT_F32, kb->out[1], kb_idx(kb, 0), scale);
  if (n->out[2])
    kb_store(kb, DT_U8, kb->out[2], kb_idx(kb, 0), zp);
  i = kb_for(kb, &l, count);
  LLVMValueRef v = kb_div(kb, DT_F32, kb_load(kb, DT_F32, kb->in[0], i), scale);
  kb_store(kb, DT_U8, kb->out[0], i, quantize(kb, v, kb_convert(kb, zp, DT_U8, DT_F32), DT_U8));
  kb_end_for(kb, &l);
}

//
// Integer matrix products: MatMulInteger (int32 out) and QLinearMatMul (requantized)
//
typedef struct {
  int a, b, a_zp, b_zp;          // input positions
  int a_scale, b_scale, y_scale, y_zp; // QLinearMatMul only; -1 otherwise
} MatRoles;

static const MatRoles matmul_integer = {0, 1, 2, 3, -1, -1, -1, -1};
static const MatRoles qlinear_matmul = {0, 3, 2, 5, 1, 4, 6, 7};

// A zero point or scale of an operand: a scalar, or one value per row (A) / column (B).
static void check_per(Compiler *cc, Node *n, int i, int64_t count, const char *what) {
  Value *v = node_input(n, i);
  if (!qparam_per_tensor(v) && (v->shape.rank != 1 || v->shape.dim[0] != count))
    fatal_at(cc, n, "%s of shape %s must be a scalar or have %lld values", what, shape_str(&cc->pool, &v->shape),
             (long long)count);
}

static void infer_int_matmul(Compiler *cc, Node *n, const MatRoles *r, DType out) {
  Value *a = n->in[r->a], *b = n->in[r->b];
  if ((a->dtype != DT_U8 && a->dtype != DT_I8) || (b->dtype != DT_U8 && b->dtype != DT_I8))
    fatal_at(cc, n, "operands of types %s and %s are not supported", dtype_onnx_name(a->dtype), dtype_onnx_name(b->dtype));
  Shape y = matmul_shape(cc, n, &a->shape, &b->shape);
  int64_t M = a->shape.rank == 1 ? 1 : a->shape.dim[a->shape.rank - 2], N = b->shape.rank == 1 ? 1 : b->shape.dim[b->shape.rank - 1];
  check_per(cc, n, r->a_zp, M, "a_zero_point");
  check_per(cc, n, r->b_zp, N, "b_zero_point");
  if (r->a_scale >= 0) {
    check_per(cc, n, r->a_scale, M, "a_scale");
    check_per(cc, n, r->b_scale, N, "b_scale");
    check_per(cc, n, r->y_scale, 1, "y_scale");
    check_per(cc, n, r->y_zp, 1, "y_zero_point");
  }
  set_output(n, 0, out, y);
}

void infer_MatMulInteger(Compiler *cc, Node *n) { infer_int_matmul(cc, n, &matmul_integer, DT_I32); }

void infer_QLinearMatMul(Compiler *cc, Node *n) {
  if (!node_input(n, 7))
    fatal_at(cc, n, "y_zero_point is required");
  infer_int_matmul(cc, n, &qlinear_matmul, n->in[7]->dtype);
}

// Element K of per-row/column operand I (scalar: element 0), in TYPE's compute form.
static LLVMValueRef per_index(KB *kb, Node *n, int i, LLVMValueRef k) {
  return qparam_per_tensor(n->in[i]) ? kb_idx(kb, 0) : k;
}

static LLVMValueRef zero_point(KB *kb, Node *n, int i, LLVMValueRef k) {
  if (i < 0 || !node_input(n, i))
    return LLVMConstInt(LLVMInt32TypeInContext(kb->ctx), 0, 0);
  DType dt = n->in[i]->dtype;
  return kb_convert(kb, kb_load(kb, dt, kb->in[i], per_index(kb, n, i, k)), dt, DT_I32);
}

// Requantizes int32 ACC: roundeven(float(acc) * multiplier) + y_zp, saturated.
static LLVMValueRef requantize(KB *kb, LLVMValueRef acc, LLVMValueRef multiplier, LLVMValueRef y_zp, DType to) {
  return quantize(kb, kb_mul(kb, DT_F32, kb_convert(kb, acc, DT_I32, DT_F32), multiplier), y_zp, to);
}

static void lower_int_matmul(KB *kb, Node *n, const MatRoles *r) {
  DType at = n->in[r->a]->dtype, bt = n->in[r->b]->dtype, yt = n->out[0]->dtype;
  MatMulGeom g = matmul_geometry(&n->in[r->a]->shape, &n->in[r->b]->shape);
  int64_t M = g.M, N = g.N, K = g.K;
  LLVMValueRef ys = NULL, yzp = NULL;
  if (r->y_scale >= 0) {
    ys = load_f32(kb, n, r->y_scale, kb_idx(kb, 0));
    yzp = kb_convert(kb, zero_point(kb, n, r->y_zp, kb_idx(kb, 0)), DT_I32, DT_F32);
  }
  Loop lb[MAX_RANK], li, lj, lk;
  LLVMValueRef bi[MAX_RANK];
  kb_for_shape(kb, lb, &g.batch, bi);
  LLVMValueRef a0 = kb_flat_strided(kb, g.batch.rank, g.a_st, bi), b0 = kb_flat_strided(kb, g.batch.rank, g.b_st, bi);
  LLVMValueRef y0 = kb_flat_strided(kb, g.batch.rank, g.y_st, bi);
  LLVMValueRef i = kb_for(kb, &li, M), j = kb_for(kb, &lj, N);
  LLVMValueRef azp = zero_point(kb, n, r->a_zp, i), bzp = zero_point(kb, n, r->b_zp, j);
  LLVMTypeRef i32 = LLVMInt32TypeInContext(kb->ctx);
  LLVMValueRef acc = kb_var(kb, i32, LLVMConstInt(i32, 0, 0));
  LLVMValueRef k = kb_for(kb, &lk, K);
  LLVMValueRef av = kb_convert(kb, kb_load(kb, at, kb->in[r->a], LLVMBuildAdd(kb->b, a0, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, i, kb_idx(kb, K), ""), k, ""), "")), at, DT_I32);
  LLVMValueRef bv = kb_convert(kb, kb_load(kb, bt, kb->in[r->b], LLVMBuildAdd(kb->b, b0, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, k, kb_idx(kb, N), ""), j, ""), "")), bt, DT_I32);
  LLVMValueRef p = kb_mul(kb, DT_I32, kb_sub(kb, DT_I32, av, azp), kb_sub(kb, DT_I32, bv, bzp));
  kb_set(kb, acc, kb_add(kb, DT_I32, kb_get(kb, i32, acc), p));
  kb_end_for(kb, &lk);
  LLVMValueRef y = kb_get(kb, i32, acc);
  if (ys) {
    LLVMValueRef scale = kb_mul(kb, DT_F32, load_f32(kb, n, r->a_scale, per_index(kb, n, r->a_scale, i)),
                                load_f32(kb, n, r->b_scale, per_index(kb, n, r->b_scale, j)));
    y = requantize(kb, y, kb_div(kb, DT_F32, scale, ys), yzp, yt);
  }
  kb_store(kb, yt, kb->out[0], LLVMBuildAdd(kb->b, y0, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, i, kb_idx(kb, N), ""), j, ""), ""), y);
  kb_end_for(kb, &lj);
  kb_end_for(kb, &li);
  kb_end_for_shape(kb, lb, &g.batch);
}

void lower_MatMulInteger(KB *kb, Node *n) { lower_int_matmul(kb, n, &matmul_integer); }
void lower_QLinearMatMul(KB *kb, Node *n) { lower_int_matmul(kb, n, &qlinear_matmul); }

//
// Integer convolutions: ConvInteger (int32 out) and QLinearConv (requantized, int32 bias).
// Padding reads as the zero point: it contributes nothing.
//
typedef struct {
  int x, w, x_zp, w_zp;
  int x_scale, w_scale, y_scale, y_zp, bias; // QLinearConv only; -1 otherwise
} ConvRoles;

static const ConvRoles conv_integer = {0, 1, 2, 3, -1, -1, -1, -1, -1};
static const ConvRoles qlinear_conv = {0, 3, 2, 5, 1, 4, 6, 7, 8};

static void infer_int_conv(Compiler *cc, Node *n, const ConvRoles *r, DType out) {
  Value *x = n->in[r->x], *w = n->in[r->w];
  if ((x->dtype != DT_U8 && x->dtype != DT_I8) || (w->dtype != DT_U8 && w->dtype != DT_I8))
    fatal_at(cc, n, "operands of types %s and %s are not supported", dtype_onnx_name(x->dtype), dtype_onnx_name(w->dtype));
  const Shape *xs = &x->shape, *ws = &w->shape;
  if (xs->rank < 3 || ws->rank != xs->rank)
    fatal_at(cc, n, "X %s and W %s must have the same rank >= 3", shape_str(&cc->pool, xs), shape_str(&cc->pool, ws));
  int64_t group = attr_int(n, "group", 1);
  if (group <= 0 || xs->dim[1] % group || ws->dim[0] % group || ws->dim[1] * group != xs->dim[1])
    fatal_at(cc, n, "%lld input channels, W %s and group %lld do not agree", (long long)xs->dim[1],
             shape_str(&cc->pool, ws), (long long)group);
  ConvGeom *g = pool_alloc(&cc->pool, sizeof(ConvGeom));
  *g = conv_geometry(cc, n, xs, ws->dim + 2, false);
  g->group = group;
  check_per(cc, n, r->x_zp, 1, "x_zero_point");
  check_per(cc, n, r->w_zp, ws->dim[0], "w_zero_point");
  if (r->y_scale >= 0) {
    check_per(cc, n, r->x_scale, 1, "x_scale");
    check_per(cc, n, r->w_scale, ws->dim[0], "w_scale");
    check_per(cc, n, r->y_scale, 1, "y_scale");
    check_per(cc, n, r->y_zp, 1, "y_zero_point");
    Value *b = node_input(n, r->bias);
    if (b && (b->dtype != DT_I32 || shape_numel(&b->shape) != ws->dim[0]))
      fatal_at(cc, n, "the bias must be int32 with one value per output channel");
  }
  n->priv = g;
  Shape y = {.rank = xs->rank, .dim = {xs->dim[0], ws->dim[0]}};
  for (int i = 0; i < g->nsp; i++)
    y.dim[i + 2] = g->out[i];
  set_output(n, 0, out, y);
}

void infer_ConvInteger(Compiler *cc, Node *n) { infer_int_conv(cc, n, &conv_integer, DT_I32); }

void infer_QLinearConv(Compiler *cc, Node *n) {
  if (!node_input(n, 7))
    fatal_at(cc, n, "y_zero_point is required");
  infer_int_conv(cc, n, &qlinear_conv, n->in[7]->dtype);
}

static void lower_int_conv(KB *kb, Node *n, const ConvRoles *r) {
  const ConvGeom *g = n->priv;
  const Shape *x = &n->in[r->x]->shape, *w = &n->in[r->w]->shape, *y = &n->out[0]->shape;
  DType xt = n->in[r->x]->dtype, wt = n->in[r->w]->dtype, yt = n->out[0]->dtype;
  int64_t cpg = w->dim[1], mpg = w->dim[0] / g->group;
  LLVMTypeRef i32 = LLVMInt32TypeInContext(kb->ctx);
  LLVMValueRef xzp = zero_point(kb, n, r->x_zp, kb_idx(kb, 0));
  LLVMValueRef ys = NULL, yzp = NULL, xs = NULL;
  if (r->y_scale >= 0) {
    xs = load_f32(kb, n, r->x_scale, kb_idx(kb, 0));
    ys = load_f32(kb, n, r->y_scale, kb_idx(kb, 0));
    yzp = kb_convert(kb, zero_point(kb, n, r->y_zp, kb_idx(kb, 0)), DT_I32, DT_F32);
  }
  Shape outer = {.rank = 2 + g->nsp};
  for (int i = 0; i < outer.rank; i++)
    outer.dim[i] = y->dim[i];
  Loop lo[MAX_RANK], lc, lk[3];
  LLVMValueRef oi[MAX_RANK];
  kb_for_shape(kb, lo, &outer, oi);
  LLVMValueRef nn = oi[0], m = oi[1];
  LLVMValueRef wzp = zero_point(kb, n, r->w_zp, m);
  LLVMValueRef grp = LLVMBuildSDiv(kb->b, m, kb_idx(kb, mpg), "");
  LLVMValueRef acc = kb_var(kb, i32, LLVMConstInt(i32, 0, 0));
  LLVMValueRef c = kb_for(kb, &lc, cpg);
  LLVMValueRef cin = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, grp, kb_idx(kb, cpg), ""), c, "");
  LLVMValueRef xoff = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, nn, kb_idx(kb, x->dim[1]), ""), cin, "");
  LLVMValueRef woff = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, m, kb_idx(kb, cpg), ""), c, "");
  LLVMValueRef inside = NULL;
  for (int i = 0; i < g->nsp; i++) {
    LLVMValueRef k = kb_for(kb, &lk[i], g->kernel[i]);
    LLVMValueRef pos = window_index(kb, g, i, oi[2 + i], k, x->dim[2 + i], &inside);
    xoff = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, xoff, kb_idx(kb, x->dim[2 + i]), ""), pos, "");
    woff = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, woff, kb_idx(kb, w->dim[2 + i]), ""), k, "");
  }
  LLVMValueRef xv = kb_sub(kb, DT_I32, kb_convert(kb, kb_load(kb, xt, kb->in[r->x], xoff), xt, DT_I32), xzp);
  xv = kb_select(kb, inside, xv, LLVMConstInt(i32, 0, 0));
  LLVMValueRef wv = kb_sub(kb, DT_I32, kb_convert(kb, kb_load(kb, wt, kb->in[r->w], woff), wt, DT_I32), wzp);
  kb_set(kb, acc, kb_add(kb, DT_I32, kb_get(kb, i32, acc), kb_mul(kb, DT_I32, xv, wv)));
  for (int i = g->nsp - 1; i >= 0; i--)
    kb_end_for(kb, &lk[i]);
  kb_end_for(kb, &lc);
  LLVMValueRef v = kb_get(kb, i32, acc);
  if (ys) {
    if (node_input(n, r->bias))
      v = kb_add(kb, DT_I32, v, kb_load(kb, DT_I32, kb->in[r->bias], m));
    LLVMValueRef ws = load_f32(kb, n, r->w_scale, per_index(kb, n, r->w_scale, m));
    v = requantize(kb, v, kb_div(kb, DT_F32, kb_mul(kb, DT_F32, xs, ws), ys), yzp, yt);
  }
  kb_store(kb, yt, kb->out[0], kb_flat(kb, &outer, oi), v);
  kb_end_for_shape(kb, lo, &outer);
}

void lower_ConvInteger(KB *kb, Node *n) { lower_int_conv(kb, n, &conv_integer); }
void lower_QLinearConv(KB *kb, Node *n) { lower_int_conv(kb, n, &qlinear_conv); }
