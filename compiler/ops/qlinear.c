// qlinear.c — the com.microsoft QOperator ops that exporters and ONNX Runtime's quantizer
// emit (QLinearAdd, QLinearMul, QLinearSigmoid, QLinearLeakyRelu, QLinearConcat,
// QLinearGlobalAveragePool, QLinearAveragePool) and the internal QTable.
//
// An 8-bit input has 256 possible values, so any elementwise function of one quantized input
// is a table computed at compile time: QTable. The contrib ops' tables follow ONNX Runtime's
// definitions (below); those of QDQ groups (passes/qdq.c) are Q(f(DQ(x))) evaluated by the
// compiler's own DequantizeLinear, f and QuantizeLinear (folded through the JIT), the very
// arithmetic the unfused float path would run. Pooling sums exactly in int32.
#include "../compiler.h"
#include "ops.h"

#include <math.h>
#include <string.h>

//
// QTable: y = table[x's byte]
//
void infer_QTable(Compiler *cc, Node *n) {
  Value *t = n->in[1];
  if (!t->data || shape_numel(&t->shape) != 256 || (n->in[0]->dtype != DT_U8 && n->in[0]->dtype != DT_I8))
    fatal_at(cc, n, "internal op QTable needs an 8-bit input and a constant table of 256 entries");
  set_output(n, 0, t->dtype, n->in[0]->shape);
}

void lower_QTable(KB *kb, Node *n) {
  DType yt = n->out[0]->dtype;
  Loop l;
  LLVMValueRef i = kb_for(kb, &l, shape_numel(&n->in[0]->shape));
  LLVMValueRef b = LLVMBuildZExt(kb->b, kb_load(kb, DT_U8, kb->in[0], i), kb->t_idx, "");
  copy_element(kb, yt, kb->out[0], i, kb->in[1], b);
  kb_end_for(kb, &l);
}

static Value *scalar_const(Graph *g, const char *name, DType dt, double v) {
  Value *c = graph_const(g, name, dt, (Shape){0}, NULL);
  dtype_set(dt, c->data, 0, v);
  return c;
}

Value *qtable_values(Compiler *cc, Graph *with, const QTableOp *f, DType xt, float xs, int32_t xz, DType yt, float ys,
                     int32_t yz) {
  Graph *tmp = graph_new(cc, NULL, "qtable");
  tmp->opset_onnx = 13;
  uint8_t bytes[256];
  for (int i = 0; i < 256; i++)
    bytes[i] = (uint8_t)i; // entry i: the input whose byte is i
  Value *q = graph_const(tmp, "q", xt, (Shape){.rank = 1, .dim = {256}}, bytes);
  Node *dq = graph_new_node(tmp, "DequantizeLinear", "", "dq", 3, 1);
  dq->in[0] = q;
  dq->in[1] = scalar_const(tmp, "xs", DT_F32, xs);
  dq->in[2] = scalar_const(tmp, "xz", xt, xz);
  Value *v = dq->out[0] = graph_new_value(tmp, "x");
  v->producer = dq;
  if (f && f->op_type) {
    Node *op = graph_new_node(tmp, f->op_type, "", "f", f->nin ? f->nin : 1, 1);
    op->opset = f->opset;
    op->attrs = f->attrs;
    op->nattrs = f->nattrs;
    for (int i = 0; i < f->nin; i++)
      op->in[i] = f->in[i];
    op->in[f->x_index] = v;
    v = op->out[0] = graph_new_value(tmp, "fx");
    v->producer = op;
  }
  Node *qn = graph_new_node(tmp, "QuantizeLinear", "", "q", 3, 1);
  qn->in[0] = v;
  qn->in[1] = scalar_const(tmp, "ys", DT_F32, ys);
  qn->in[2] = scalar_const(tmp, "yz", yt, yz);
  Value *y = qn->out[0] = graph_new_value(tmp, "y");
  y->producer = qn;
  infer_graph(cc, tmp);
  if (!y->data)
    return NULL;
  return graph_const(with, "table", yt, (Shape){.rank = 1, .dim = {256}}, y->data);
}

Node *qtable_node(Compiler *cc, Graph *with, const char *name, Value *x, Value *table) {
  Node *n = graph_new_node(with, "QTable", "edgecc", name, 2, 1);
  n->in[0] = x;
  n->in[1] = table;
  Value *y = n->out[0] = graph_new_value(with, pool_printf(&cc->pool, "%s.y", name));
  y->producer = n;
  infer_QTable(cc, n);
  n->inferred = true;
  return n;
}

// Constant scalar input I of N as a double (absent: DFLT); a clear error when not constant.
static double param(Compiler *cc, Node *n, int i, double dflt) {
  Value *v = node_input(n, i);
  if (!v)
    return dflt;
  if (!v->data)
    fatal_at(cc, n, "input %d ('%s'): run-time quantization parameters are not supported", i, v->name);
  if (!qparam_per_tensor(v))
    fatal_at(cc, n, "input %d ('%s'): per-tensor (one-element) parameters are required", i, v->name);
  return dtype_get(v->dtype, v->data, 0);
}

static void need_q8(Compiler *cc, Node *n, Value *v) {
  if (v->dtype != DT_U8 && v->dtype != DT_I8)
    fatal_at(cc, n, "'%s' of type %s is not supported (uint8 or int8)", v->name, dtype_onnx_name(v->dtype));
}

//
// ONNX Runtime's definitions. The contrib ops have no specification but ONNX Runtime's CPU
// kernels, which models quantized by its tool are validated against; these follow them to
// the integer.
//
// Unary ops and QLinearConcat's requantization are 256-entry tables: entry i is the 8-bit
// input whose byte is i, dequantized in float32 (x_scale * (x - x_zp)), through f in float32,
// quantized (quantize_value).
typedef float (*QLinearFn)(float v, float param);

static float identity_fn(float v, float unused) {
  (void)unused;
  return v;
}

static float leaky_relu_fn(float v, float alpha) { return v >= 0 ? v : alpha * v; }

// The logistic function of ONNX Runtime's MLAS: an odd rational polynomial of x clamped to
// [-18, 18], evaluated with fused multiply-adds, clamped below at 0 (its x86-64 FMA3 kernel;
// near 18 the result may exceed 1 by an ulp, as there).
static float logistic_fn(float x, float unused) {
  static const float alpha[] = {4.37031012579801e-11f, 1.15627324459942e-07f, 6.08574864600143e-05f,
                                8.51377133304701e-03f, 2.48287947061529e-01f};
  static const float beta[] = {6.10247389755681e-13f, 5.76102136993427e-09f, 6.29106785017040e-06f,
                               1.70198817374094e-03f, 1.16817656904453e-01f, 9.93151921023180e-01f};
  (void)unused;
  x = x < -18.0f ? -18.0f : x > 18.0f ? 18.0f : x;
  float x2 = x * x, p = fmaf(x2, alpha[0], alpha[1]), q = fmaf(x2, beta[0], beta[1]);
  for (int i = 2; i < 5; i++)
    p = fmaf(p, x2, alpha[i]);
  for (int i = 2; i < 6; i++)
    q = fmaf(q, x2, beta[i]);
  float y = x * p / q + 0.5f;
  return y < 0 ? 0 : y;
}

static Value *ort_table(Graph *with, QLinearFn f, float param, DType xt, float xs, int32_t xz, DType yt,
                        float ys, int32_t yz) {
  Value *t = graph_const(with, "table", yt, (Shape){.rank = 1, .dim = {256}}, NULL);
  for (int i = 0; i < 256; i++) {
    int32_t x = xt == DT_I8 ? (int8_t)i : i;
    float dq = xs * (float)(x - xz);
    dtype_set(yt, t->data, i, quantize_value(f(dq, param), ys, yz, yt));
  }
  return t;
}

//
// QLinearSigmoid, QLinearLeakyRelu (X, X_scale, X_zero_point, Y_scale, Y_zero_point) and
// QLinearConcat (Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per input): inference
// checks them; passes/qdq.c expands them into a QTable, and a Concat of the inputs, each
// through its requantization table unless it is quantized like the output.
//
void infer_qlinear_unary(Compiler *cc, Node *n) {
  Value *x = n->in[0];
  need_q8(cc, n, x);
  for (int i = 1; i < 5; i++)
    param(cc, n, i, 0);
  set_output(n, 0, x->dtype, x->shape);
}

void infer_QLinearConcat(Compiler *cc, Node *n) {
  if (n->nin < 5 || (n->nin - 2) % 3)
    fatal_at(cc, n, "expects Y_scale, Y_zero_point and (X, X_scale, X_zero_point) triples");
  param(cc, n, 0, 1);
  param(cc, n, 1, 0);
  need_q8(cc, n, n->in[1]);
  Shape y = n->in[2]->shape;
  int axis = norm_axis(cc, n, attr_int(n, "axis", 0), y.rank);
  for (int i = 2; i < n->nin; i += 3) {
    const Shape *s = &n->in[i]->shape;
    if (n->in[i]->dtype != n->in[1]->dtype)
      fatal_at(cc, n, "input %d is %s, the output %s", i, dtype_onnx_name(n->in[i]->dtype),
               dtype_onnx_name(n->in[1]->dtype));
    param(cc, n, i + 1, 1);
    param(cc, n, i + 2, 0);
    bool fits = s->rank == y.rank;
    for (int d = 0; fits && d < y.rank; d++)
      fits = d == axis || s->dim[d] == y.dim[d];
    if (!fits)
      fatal_at(cc, n, "input %s does not concatenate with %s along axis %d", shape_str(&cc->pool, s),
               shape_str(&cc->pool, &y), axis);
    if (i > 2)
      y.dim[axis] += s->dim[axis];
  }
  set_output(n, 0, n->in[1]->dtype, y);
}

static void expand_unary(Compiler *cc, Node *n) {
  Value *x = n->in[0];
  bool sigmoid = n->op->kind == OP_QLinearSigmoid;
  Graph *with = graph_new(cc, n->graph, "qlinear");
  Value *table = ort_table(with, sigmoid ? logistic_fn : leaky_relu_fn, attr_float(n, "alpha", 0.01f), x->dtype,
                           (float)param(cc, n, 1, 1), (int32_t)param(cc, n, 2, 0), x->dtype, (float)param(cc, n, 3, 1),
                           (int32_t)param(cc, n, 4, 0));
  Node *t = qtable_node(cc, with, n->name, x, table);
  replace_node(cc, n, with, t->out);
}

static void expand_concat(Compiler *cc, Node *n) {
  float ys = (float)param(cc, n, 0, 1);
  int32_t yz = (int32_t)param(cc, n, 1, 0);
  DType yt = n->in[1]->dtype;
  Graph *with = graph_new(cc, n->graph, "qlinear");
  int count = (n->nin - 2) / 3;
  Value **ins = pool_alloc(&cc->pool, sizeof(Value *) * (size_t)count);
  for (int i = 0; i < count; i++) { // the tables first: nodes run in creation order
    Value *x = ins[i] = n->in[2 + 3 * i];
    float xs = (float)param(cc, n, 3 + 3 * i, 1);
    int32_t xz = (int32_t)param(cc, n, 4 + 3 * i, 0);
    if (xs == ys && xz == yz) // copied, as ONNX Runtime does
      continue;
    Value *table = ort_table(with, identity_fn, 0, x->dtype, xs, xz, yt, ys, yz);
    ins[i] = qtable_node(cc, with, pool_printf(&cc->pool, "%s.requant%d", n->name, i), x, table)->out[0];
  }
  Node *cat = graph_new_node(with, "Concat", "", n->name, count, 1);
  cat->attrs = n->attrs;
  cat->nattrs = n->nattrs;
  cat->opset = 13;
  memcpy(cat->in, ins, sizeof(Value *) * (size_t)count);
  cat->out[0] = graph_new_value(with, pool_printf(&cc->pool, "%s.y", n->name));
  cat->out[0]->producer = cat;
  cat->op->infer(cc, cat);
  cat->inferred = true;
  replace_node(cc, n, with, cat->out);
}

bool qlinear_expand(Compiler *cc, Node *n) {
  switch (n->op->kind) {
  case OP_QLinearSigmoid:
  case OP_QLinearLeakyRelu: expand_unary(cc, n); return true;
  case OP_QLinearConcat: expand_concat(cc, n); return true;
  default: return false;
  }
}

//
// QLinearAdd, QLinearMul: A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp (broadcast), in
// float32 as ONNX Runtime's kernels compute them (its x86-64 ones, verified against it):
//   Add: with ratios rp = p_scale / c_scale, rq = q_scale / c_scale and the constant
//        k = c_zp - fma(rp, p_zp, rq * q_zp), C = roundeven(fma(p, rp, fma(q, rq, k))),
//        saturated, where p is the operand that varies along the innermost dim of the
//        broadcast larger than 1 (A unless A is constant along it) and q the other;
//   Mul: C = roundeven((a - a_zp) * (b - b_zp) * m + c_zp), m = a_scale * b_scale / c_scale
//        (the product in int32; each float32 operation rounded), saturated.
// (Its ARM kernels compute Add in fixed point and differ from these by a step at times.)
//
typedef struct {
  bool swap;        // Add: p is B, q is A
  float rp, rq, k;  // Add
  float m;          // Mul
  int32_t za, zb, zc, lo, hi;
} QBinary;

Node *qbinary_node(Compiler *cc, Graph *with, OpKind kind, const char *name, Value *a, float sa, int32_t za, Value *b,
                   float sb, int32_t zb, DType yt, float sy, int32_t zy, int32_t lo, int32_t hi) {
  Node *n = graph_new_node(with, kind == OP_QLinearMul ? "QLinearMul" : "QLinearAdd", "com.microsoft", name, 8, 1);
  n->opset = 1;
  n->in[0] = a, n->in[3] = b;
  n->in[1] = scalar_const(with, "sa", DT_F32, sa);
  n->in[2] = scalar_const(with, "za", a->dtype, za);
  n->in[4] = scalar_const(with, "sb", DT_F32, sb);
  n->in[5] = scalar_const(with, "zb", b->dtype, zb);
  n->in[6] = scalar_const(with, "sy", DT_F32, sy);
  n->in[7] = scalar_const(with, "zy", yt, zy);
  n->out[0] = graph_new_value(with, pool_printf(&cc->pool, "%s.y", name));
  n->out[0]->producer = n;
  infer_qlinear_binary(cc, n);
  QBinary *p = n->priv;
  p->lo = lo > p->lo ? lo : p->lo;
  p->hi = hi < p->hi ? hi : p->hi;
  n->inferred = true;
  return n;
}

// Whether IN is constant along the innermost dim of OUT larger than 1 (ONNX Runtime's
// broadcast spans run along it, with such an operand as a scalar).
static bool constant_along_span(const Shape *in, const Shape *out) {
  for (int d = out->rank - 1; d >= 0; d--) {
    if (out->dim[d] == 1)
      continue;
    int k = d - (out->rank - in->rank);
    return k < 0 || in->dim[k] == 1;
  }
  return false;
}

void infer_qlinear_binary(Compiler *cc, Node *n) {
  Value *a = n->in[0], *b = n->in[3];
  need_q8(cc, n, a);
  need_q8(cc, n, b);
  Value *zc = node_input(n, 7);
  DType ct = zc ? zc->dtype : a->dtype;
  Shape y;
  if (!broadcast_shapes(&a->shape, &b->shape, &y))
    fatal_at(cc, n, "shapes %s and %s do not broadcast", shape_str(&cc->pool, &a->shape), shape_str(&cc->pool, &b->shape));
  QBinary *p = pool_alloc(&cc->pool, sizeof *p);
  float sa = (float)param(cc, n, 1, 1), sb = (float)param(cc, n, 4, 1), sc = (float)param(cc, n, 6, 1);
  p->za = (int32_t)param(cc, n, 2, 0), p->zb = (int32_t)param(cc, n, 5, 0), p->zc = (int32_t)param(cc, n, 7, 0);
  qrange(ct, &p->lo, &p->hi);
  if (n->op->kind == OP_QLinearMul) {
    p->m = sa * sb / sc;
  } else {
    p->swap = constant_along_span(&a->shape, &y);
    float ra = sa / sc, rb = sb / sc;
    int32_t zp = p->swap ? p->zb : p->za, zq = p->swap ? p->za : p->zb;
    p->rp = p->swap ? rb : ra, p->rq = p->swap ? ra : rb;
    p->k = (float)p->zc - fmaf(p->rp, (float)zp, p->rq * (float)zq);
  }
  n->priv = p;
  set_output(n, 0, ct, y);
}

LLVMValueRef scalar_qlinear_binary(KB *kb, const Node *n, LLVMValueRef *x, DType ct) {
  (void)ct;
  const QBinary *p = n->priv;
  DType at = n->in[0]->dtype, bt = n->in[3]->dtype;
  LLVMValueRef v;
  if (n->op->kind == OP_QLinearMul) {
    LLVMValueRef a = kb_sub(kb, DT_I32, kb_convert(kb, x[0], at, DT_I32), kb_const(kb, DT_I32, p->za));
    LLVMValueRef b = kb_sub(kb, DT_I32, kb_convert(kb, x[3], bt, DT_I32), kb_const(kb, DT_I32, p->zb));
    v = kb_mul(kb, DT_F32, kb_convert(kb, kb_mul(kb, DT_I32, a, b), DT_I32, DT_F32), kb_const(kb, DT_F32, p->m));
    v = kb_add(kb, DT_F32, v, kb_const(kb, DT_F32, p->zc));
  } else {
    LLVMValueRef a = kb_convert(kb, x[0], at, DT_F32), b = kb_convert(kb, x[3], bt, DT_F32);
    LLVMValueRef q = kb_fma_exact(kb, p->swap ? a : b, kb_const(kb, DT_F32, p->rq), kb_const(kb, DT_F32, p->k));
    v = kb_fma_exact(kb, p->swap ? b : a, kb_const(kb, DT_F32, p->rp), q);
  }
  v = kb_round(kb, DT_F32, v, ROUND_EVEN);
  v = kb_min(kb, DT_F32, kb_max(kb, DT_F32, v, kb_const(kb, DT_F32, p->lo)), kb_const(kb, DT_F32, p->hi));
  return kb_integral_to_narrow(kb, v, n->out[0]->dtype);
}
//
// QLinearGlobalAveragePool (X, x_scale, x_zp, y_scale, y_zp; channels_last) and
// QLinearAveragePool (the same inputs, AveragePool's attributes): sums of (x - x_zp) in
// int32, requantized by x_scale / (y_scale * count) with round half to even.
//
typedef struct {
  ConvGeom g;              // QLinearAveragePool's windows
  bool channels_last;
  int32_t xz, yz, lo, hi;
  float ratio;             // x_scale / y_scale
  int32_t mult, shift;     // global pooling: ratio / count as a fixed-point multiplier
} QPool;

void infer_qlinear_pool(Compiler *cc, Node *n) {
  Value *x = n->in[0];
  need_q8(cc, n, x);
  QPool *p = pool_alloc(&cc->pool, sizeof *p);
  p->channels_last = attr_int(n, "channels_last", 0);
  p->xz = (int32_t)param(cc, n, 2, 0), p->yz = (int32_t)param(cc, n, 4, 0);
  DType yt = node_input(n, 4) ? n->in[4]->dtype : x->dtype;
  p->lo = yt == DT_U8 ? 0 : -128, p->hi = yt == DT_U8 ? 255 : 127;
  p->ratio = (float)param(cc, n, 1, 1) / (float)param(cc, n, 3, 1);
  const Shape *xs = &x->shape;
  if (xs->rank < 3)
    fatal_at(cc, n, "input of shape %s: rank 3 or more expected", shape_str(&cc->pool, xs));
  Shape sp = {.rank = xs->rank}; // the input as N, C, spatial...
  sp.dim[0] = xs->dim[0], sp.dim[1] = xs->dim[p->channels_last ? xs->rank - 1 : 1];
  for (int i = 2; i < xs->rank; i++)
    sp.dim[i] = xs->dim[p->channels_last ? i - 1 : i];
  Shape y = sp;
  if (n->op->kind == OP_QLinearGlobalAveragePool) {
    int64_t count = 1;
    for (int i = 2; i < sp.rank; i++)
      count *= sp.dim[i], y.dim[i] = 1;
    qmultiplier(p->ratio / (float)count, &p->mult, &p->shift);
  } else {
    const int64_t *ks;
    if (attr_ints(n, "kernel_shape", &ks) != sp.rank - 2)
      fatal_at(cc, n, "kernel_shape must have one value per spatial dim");
    p->g = conv_geometry(cc, n, &sp, ks, attr_int(n, "ceil_mode", 0));
    for (int i = 0; i < p->g.nsp; i++)
      y.dim[2 + i] = p->g.out[i];
  }
  if (p->channels_last) { // back to N, spatial..., C
    Shape t = y;
    for (int i = 2; i < y.rank; i++)
      t.dim[i - 1] = y.dim[i];
    t.dim[y.rank - 1] = y.dim[1];
    y = t;
  }
  n->priv = p;
  set_output(n, 0, yt, y);
}

// Element offset of (n, c, spatial position POS) in a tensor of dims N, C, SP (channels first
// or last).
static LLVMValueRef pool_at(KB *kb, const QPool *p, int nsp, const int64_t *sp, int64_t C, LLVMValueRef img,
                            LLVMValueRef c, LLVMValueRef pos) {
  int64_t plane = 1;
  for (int i = 0; i < nsp; i++)
    plane *= sp[i];
  LLVMValueRef base = LLVMBuildMul(kb->b, img, kb_idx(kb, C * plane), "");
  if (p->channels_last)
    return LLVMBuildAdd(kb->b, base, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, pos, kb_idx(kb, C), ""), c, ""), "");
  return LLVMBuildAdd(kb->b, base, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, c, kb_idx(kb, plane), ""), pos, ""), "");
}

void lower_qlinear_pool(KB *kb, Node *n) {
  const QPool *p = n->priv;
  const Shape *xs = &n->in[0]->shape;
  DType xt = n->in[0]->dtype, yt = n->out[0]->dtype;
  int rank = xs->rank, nsp = rank - 2;
  int64_t N = xs->dim[0], C = xs->dim[p->channels_last ? rank - 1 : 1], in_sp[3] = {1, 1, 1}, out_sp[3] = {1, 1, 1};
  for (int i = 0; i < nsp && i < 3; i++)
    in_sp[i] = xs->dim[p->channels_last ? 1 + i : 2 + i];
  bool global = n->op->kind == OP_QLinearGlobalAveragePool;
  if (nsp > 3 && !global)
    fatal_at(kb->cc, n, "more than 3 spatial dims are not supported");
  for (int i = 0; i < nsp && !global; i++)
    out_sp[i] = p->g.out[i];
  LLVMTypeRef i32 = LLVMInt32TypeInContext(kb->ctx);
  Loop ln, lc, lo[3], lk[3];
  LLVMValueRef img = kb_for(kb, &ln, N), c = kb_for(kb, &lc, C);
  LLVMValueRef zx = LLVMConstInt(i32, (unsigned long long)p->xz, 1);
  LLVMValueRef sum = kb_var(kb, i32, LLVMConstInt(i32, 0, 0)), count = kb_var(kb, i32, LLVMConstInt(i32, 0, 0));
  LLVMValueRef v;
  if (global) {
    int64_t plane = shape_numel(xs) / (N * C);
    Loop li;
    LLVMValueRef i = kb_for(kb, &li, plane);
    v = kb_convert(kb, kb_load(kb, xt, kb->in[0], pool_at(kb, p, 1, &plane, C, img, c, i)), xt, DT_I32);
    kb_set(kb, sum, LLVMBuildAdd(kb->b, kb_get(kb, i32, sum), LLVMBuildSub(kb->b, v, zx, ""), ""));
    kb_end_for(kb, &li);
    LLVMValueRef s = qsplat(kb, kb_get(kb, i32, sum), 1);
    LLVMValueRef r = qrequantize(kb, s, qsplat(kb, LLVMConstInt(i32, (unsigned)p->mult, 0), 1),
                                 qsplat(kb, LLVMConstInt(i32, (unsigned)p->shift, 0), 1), NULL, p->yz, p->lo, p->hi);
    r = LLVMBuildExtractElement(kb->b, r, LLVMConstInt(i32, 0, 0), "");
    int64_t one = 1;
    kb_store(kb, yt, kb->out[0], pool_at(kb, p, 1, &one, C, img, c, kb_idx(kb, 0)), kb_convert(kb, r, DT_I32, yt));
    kb_end_for(kb, &lc);
    kb_end_for(kb, &ln);
    return;
  }
  LLVMValueRef o[3], opos = kb_idx(kb, 0), ipos = kb_idx(kb, 0), inside = NULL;
  for (int i = 0; i < nsp; i++) {
    o[i] = kb_for(kb, &lo[i], out_sp[i]);
    opos = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, opos, kb_idx(kb, out_sp[i]), ""), o[i], "");
  }
  kb_set(kb, sum, LLVMConstInt(i32, 0, 0));
  kb_set(kb, count, LLVMConstInt(i32, 0, 0));
  bool count_pad = attr_int(n, "count_include_pad", 0);
  for (int i = 0; i < nsp; i++) {
    LLVMValueRef k = kb_for(kb, &lk[i], p->g.kernel[i]);
    ipos = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, ipos, kb_idx(kb, in_sp[i]), ""),
                        window_index(kb, &p->g, i, o[i], k, in_sp[i], &inside), "");
  }
  v = kb_convert(kb, kb_load(kb, xt, kb->in[0], pool_at(kb, p, nsp, in_sp, C, img, c, ipos)), xt, DT_I32);
  v = kb_select(kb, inside, LLVMBuildSub(kb->b, v, zx, ""), LLVMConstInt(i32, 0, 0));
  kb_set(kb, sum, LLVMBuildAdd(kb->b, kb_get(kb, i32, sum), v, ""));
  kb_set(kb, count, LLVMBuildAdd(kb->b, kb_get(kb, i32, count), LLVMBuildZExt(kb->b, inside, i32, ""), ""));
  for (int i = nsp - 1; i >= 0; i--)
    kb_end_for(kb, &lk[i]);
  // The window's count varies at the borders (unless padding counts): scale in float32.
  LLVMValueRef cnt = count_pad ? LLVMConstInt(i32, 0, 0) : kb_get(kb, i32, count);
  if (count_pad) {
    int64_t k = 1;
    for (int i = 0; i < nsp; i++)
      k *= p->g.kernel[i];
    cnt = LLVMConstInt(i32, (unsigned long long)k, 0);
  }
  LLVMValueRef f = kb_div(kb, DT_F32, kb_mul(kb, DT_F32, kb_convert(kb, kb_get(kb, i32, sum), DT_I32, DT_F32), kb_const(kb, DT_F32, p->ratio)),
                          kb_convert(kb, cnt, DT_I32, DT_F32));
  f = kb_add(kb, DT_F32, kb_round(kb, DT_F32, f, ROUND_EVEN), kb_const(kb, DT_F32, p->yz));
  f = kb_min(kb, DT_F32, kb_max(kb, DT_F32, f, kb_const(kb, DT_F32, p->lo)), kb_const(kb, DT_F32, p->hi));
  kb_store(kb, yt, kb->out[0], pool_at(kb, p, nsp, out_sp, C, img, c, opos), kb_convert(kb, f, DT_F32, yt));
  for (int i = nsp - 1; i >= 0; i--)
    kb_end_for(kb, &lo[i]);
  kb_end_for(kb, &lc);
  kb_end_for(kb, &ln);
}
