// qdq.c — quantized models in integer arithmetic. Runs after inference and folding, when every
// value has a type and every constant its data.
//
// QDQ models say "compute in float": DequantizeLinear -> op -> QuantizeLinear. Where the
// quantization parameters are compile-time constants, such a group is replaced by an integer
// kernel that gives the same result (up to one quantization step where the float reference
// would round a near-tie the other way):
//   Conv, MatMul, Gemm (+ Relu/Clip fused into the output clamp)  -> QConv, QMatMul
//   ConvTranspose                                                  -> QConvTranspose
//   Add, Mul of two quantized inputs                               -> QLinearAdd, QLinearMul
//   any elementwise function of one quantized input (Relu, Clip, LeakyRelu, Sigmoid, Tanh,
//   HardSwish, Mul by a constant...), and requantization          -> QTable (256 entries)
//   data movement (Reshape, Transpose, Slice, Gather, Resize nearest, MaxPool...) -> the same
//   op on the quantized data (and a QTable if the output is quantized differently)
//   Concat                                                         -> Concat (+ QTables)
//   AveragePool, GlobalAveragePool                -> QLinearAveragePool, QLinearGlobalAveragePool
// QOperator ops with constant weights (QLinearConv, QLinearMatMul, ConvInteger,
// MatMulInteger) get the same fast kernels. Whatever no pattern covers keeps its
// DequantizeLinear and QuantizeLinear nodes and runs correctly in float.
#include "../compiler.h"
#include "../ops/ops.h"

#include <math.h>
#include <string.h>

// The quantization parameters of a DequantizeLinear or QuantizeLinear node.
typedef struct {
  Node *node;
  Value *q;          // the quantized tensor: DQ's input, Q's output
  DType dt;
  int64_t n;         // number of scales: 1 (per tensor) or one per index of AXIS
  int axis;
  int64_t block;     // > 0: blocked scales (opset 21)
  float *scale;
  int32_t *zp;
} QParams;

static bool is_q8(DType t) { return t == DT_U8 || t == DT_I8; }

// Constant scale and zero point of QN (a DequantizeLinear or QuantizeLinear node).
static bool read_qparams(Compiler *cc, Node *qn, QParams *qp) {
  Value *s = node_input(qn, 1), *z = node_input(qn, 2);
  if (!s || !s->data || (z && !z->data) || !qn->out[0])
    return false;
  *qp = (QParams){.node = qn, .q = qn->op->kind == OP_DequantizeLinear ? qn->in[0] : qn->out[0]};
  qp->dt = qp->q->dtype;
  qp->n = qparam_per_tensor(s) ? 1 : shape_numel(&s->shape);
  qp->block = attr_int(qn, "block_size", 0);
  int rank = qp->q->shape.rank;
  int64_t axis = attr_int(qn, "axis", 1);
  qp->axis = (int)(axis < 0 ? axis + rank : axis);
  qp->scale = pool_alloc(&cc->pool, sizeof(float) * (size_t)qp->n);
  qp->zp = pool_alloc(&cc->pool, sizeof(int32_t) * (size_t)qp->n);
  for (int64_t i = 0; i < qp->n; i++) {
    qp->scale[i] = (float)dtype_get(s->dtype, s->data, i);
    qp->zp[i] = z ? (int32_t)dtype_get_int(z->dtype, z->data, i) : 0;
  }
  return true;
}

// V is the output of a DequantizeLinear node with constant parameters.
static bool dq_source(Compiler *cc, Value *v, QParams *qp) {
  return v && v->producer && v->producer->op && v->producer->op->kind == OP_DequantizeLinear &&
         read_qparams(cc, v->producer, qp);
}

static bool is_output(Graph *g, Value *v) {
  for (int i = 0; i < g->outputs.len; i++)
    if (g->outputs.items[i] == v)
      return true;
  return false;
}

// The one node reading V (V not a graph output), else NULL.
static Node *sole_consumer(Graph *g, Value *v) {
  if (is_output(g, v) || value_uses(g, v) != 1)
    return NULL;
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    for (int j = 0; j < n->nin; j++)
      if (n->in[j] == v)
        return n;
  }
  return NULL;
}

// Y (a float result) flows, each step its value's only use, through optional Relu / Clip
// into a per-tensor QuantizeLinear to 8 bits: fills YQ, the clamp [LO, HI] those activations
// amount to in the quantized domain (monotonic maps commute with quantization), and the Q node.
static bool q_sink(Compiler *cc, Graph *g, Value *y, QParams *yq, int32_t *lo, int32_t *hi, Node **last) {
  float fmin = -INFINITY, fmax = INFINITY;
  for (;;) {
    Node *c = sole_consumer(g, y);
    if (!c || !c->op || c->in[0] != y)
      return false;
    if (c->op->kind == OP_Relu) {
      fmin = fmaxf(fmin, 0);
    } else if (c->op->kind == OP_Clip) {
      Value *mn = node_input(c, 1), *mx = node_input(c, 2);
      if ((mn && !mn->data) || (mx && !mx->data))
        return false;
      float a = c->opset < 11 ? attr_float(c, "min", -INFINITY) : mn ? (float)dtype_get(mn->dtype, mn->data, 0) : -INFINITY;
      float b = c->opset < 11 ? attr_float(c, "max", INFINITY) : mx ? (float)dtype_get(mx->dtype, mx->data, 0) : INFINITY;
      fmin = fmaxf(fmin, a), fmax = fminf(fmax, b);
    } else if (c->op->kind == OP_QuantizeLinear) {
      if (!read_qparams(cc, c, yq) || yq->n != 1 || !is_q8(yq->dt))
        return false;
      qrange(yq->dt, lo, hi); // quantize_value saturates into the same range
      if (fmin > -INFINITY)
        *lo = quantize_value(fmin, yq->scale[0], yq->zp[0], yq->dt);
      if (fmax < INFINITY)
        *hi = quantize_value(fmax, yq->scale[0], yq->zp[0], yq->dt);
      *last = c;
      return *lo <= *hi;
    } else {
      return false;
    }
    if (!c->out[0])
      return false;
    y = c->out[0];
  }
}

// Replaces node LAST (its first output) by the single node N built in WITH.
static void replace_by(Compiler *cc, Node *last, Graph *with, Node *n) {
  Value *outs[1] = {n->out[0]};
  replace_node(cc, last, with, outs);
}

// The bias of a linear layer as the spec wants it: int32 in accumulator units when it is the
// DequantizeLinear of int32 data with scale x_scale * w_scale (how quantizers write it), else
// float values. N output channels; a scalar bias is broadcast.
// B broadcasts along the rows of an [M, N] result: a scalar, [N] or [1, N] (Gemm's C may also
// vary along the rows; that form is not a bias).
static bool column_bias(const Value *b, int64_t N) {
  const Shape *s = &b->shape;
  int64_t nb = shape_numel(s);
  return nb == 1 || (nb == N && (s->rank == 1 || (s->rank == 2 && s->dim[0] == 1)));
}

static bool read_bias(Compiler *cc, Value *b, int64_t N, float beta, QLinearSpec *s) {
  if (!b)
    return true;
  int64_t nb = shape_numel(&b->shape);
  if (!column_bias(b, N))
    return false;
  QParams bq;
  if (beta == 1 && dq_source(cc, b, &bq) && bq.dt == DT_I32 && bq.q->data && !bq.block) {
    bool exact = true;
    for (int64_t c = 0; c < N && exact; c++) {
      float want = s->x_scale * s->w_scale[s->nw > 1 ? c : 0];
      exact = bq.scale[bq.n > 1 ? c : 0] == want && bq.zp[bq.n > 1 ? c : 0] == 0;
    }
    if (exact) {
      int32_t *v = pool_alloc(&cc->pool, sizeof(int32_t) * (size_t)N);
      for (int64_t c = 0; c < N; c++)
        v[c] = (int32_t)dtype_get_int(DT_I32, bq.q->data, nb > 1 ? c : 0);
      s->bias_i32 = v;
      return true;
    }
  }
  if (!b->data || !dtype_is_float(b->dtype))
    return false;
  float *v = pool_alloc(&cc->pool, sizeof(float) * (size_t)N);
  for (int64_t c = 0; c < N; c++)
    v[c] = beta * (float)dtype_get(b->dtype, b->data, nb > 1 ? c : 0);
  s->bias_f = v;
  return true;
}

// The output side of a linear layer: requantized when a QuantizeLinear follows, else the
// float result. Returns the node the new kernel replaces.
static Node *linear_output(Compiler *cc, Graph *g, Node *n, QLinearSpec *s) {
  QParams yq;
  Node *last;
  if (q_sink(cc, g, n->out[0], &yq, &s->lo, &s->hi, &last)) {
    s->out = QOUT_QUANT;
    s->y_dt = yq.dt;
    s->y_scale = yq.scale[0];
    s->y_zp = yq.zp[0];
    return last;
  }
  s->out = QOUT_FLOAT;
  s->y_dt = n->out[0]->dtype;
  return n;
}

// Fills the spec's weights from QW, the constant weights' parameters: per tensor, or per
// output channel along axis AXIS (N channels).
static bool weight_params(const QParams *wq, int axis, int64_t N, QLinearSpec *s) {
  if (!wq->q->data || wq->block || !is_q8(wq->dt) || (wq->n != 1 && (wq->n != N || wq->axis != axis)))
    return false;
  s->w = wq->q;
  s->nw = wq->n;
  s->w_scale = wq->scale;
  s->w_zp = wq->zp;
  return true;
}

// A BatchNormalization in inference mode that alone reads N's float result (QDQ models
// quantized before BatchNorm was folded): its per-channel scale joins the weights' scales and
// its shift the bias, so it costs nothing and a Relu/Clip and QuantizeLinear after it still
// fuse. Returns the node whose output the layer now computes.
static Node *absorb_batchnorm(Compiler *cc, Graph *g, Node *n, int64_t N, QLinearSpec *s) {
  Node *bn = sole_consumer(g, n->out[0]);
  double *a, *b;
  if (!bn || bn->in[0] != n->out[0] || !batchnorm_affine(g, bn, N, &a, &b))
    return n;
  for (int64_t c = 0; c < N; c++)
    if (a[c] == 0 || !isfinite(a[c]) || !isfinite(b[c]))
      return n; // a zero scale leaves no accumulator unit for the bias
  float *scale = pool_alloc(&cc->pool, sizeof(float) * (size_t)N), *bias = pool_alloc(&cc->pool, sizeof(float) * (size_t)N);
  int32_t *zp = pool_alloc(&cc->pool, sizeof(int32_t) * (size_t)N);
  for (int64_t c = 0; c < N; c++) {
    double ws = s->w_scale[s->nw > 1 ? c : 0];
    double old = s->bias_i32 ? s->bias_i32[c] * (double)s->x_scale * ws : s->bias_f ? s->bias_f[c] : 0;
    scale[c] = (float)(ws * a[c]);
    bias[c] = (float)(old * a[c] + b[c]);
    zp[c] = s->w_zp[s->nw > 1 ? c : 0];
  }
  *s = (QLinearSpec){.src = s->src, .x = s->x, .x_scale = s->x_scale, .x_zp = s->x_zp, .w = s->w, .nw = N,
                     .w_scale = scale, .w_zp = zp, .bias_f = bias, .alpha = s->alpha};
  return bn;
}

static bool rewrite_conv(Compiler *cc, Graph *g, Node *n) {
  QParams xq, wq;
  Value *w = n->in[1];
  if (!dq_source(cc, n->in[0], &xq) || xq.n != 1 || !is_q8(xq.dt) || !dq_source(cc, w, &wq))
    return false;
  int64_t M = w->shape.dim[0];
  QLinearSpec s = {.src = n, .x = xq.q, .x_scale = xq.scale[0], .x_zp = xq.zp[0], .alpha = 1};
  if (!weight_params(&wq, 0, M, &s) || !read_bias(cc, node_input(n, 2), M, 1, &s))
    return false;
  Node *last = linear_output(cc, g, absorb_batchnorm(cc, g, n, M, &s), &s);
  Graph *with = graph_new(cc, g, "qdq");
  Node *k = qconv_build(cc, with, &s, cc->target);
  if (!k)
    return false;
  replace_by(cc, last, with, k);
  return true;
}

// ConvTranspose: weights [Cin, Cout/group, k...], per channel along axis 1 with one group.
static bool rewrite_convtranspose(Compiler *cc, Graph *g, Node *n) {
  QParams xq, wq;
  Value *w = n->in[1];
  int64_t group = attr_int(n, "group", 1), M = w->shape.dim[1] * group;
  if (!dq_source(cc, n->in[0], &xq) || xq.n != 1 || !is_q8(xq.dt) || !dq_source(cc, w, &wq) ||
      (wq.n > 1 && group != 1))
    return false;
  QLinearSpec s = {.src = n, .x = xq.q, .x_scale = xq.scale[0], .x_zp = xq.zp[0], .alpha = 1};
  if (!weight_params(&wq, 1, M, &s) || !read_bias(cc, node_input(n, 2), M, 1, &s))
    return false;
  Node *last = linear_output(cc, g, n, &s);
  Graph *with = graph_new(cc, g, "qdq");
  replace_by(cc, last, with, qconvtranspose_build(cc, with, &s));
  return true;
}

// MatMul (A [..., M, K] x B [K, N]) and Gemm (transA = 0; B [K, N] or transposed; C a bias).
static bool rewrite_matmul(Compiler *cc, Graph *g, Node *n) {
  bool gemm = n->op->kind == OP_Gemm;
  QParams xq, wq;
  Value *a = n->in[0], *w = n->in[1];
  if (w->shape.rank != 2 || a->shape.rank < 1 || (gemm && attr_int(n, "transA", 0)))
    return false;
  if (!dq_source(cc, a, &xq) || xq.n != 1 || !is_q8(xq.dt) || !dq_source(cc, w, &wq))
    return false;
  bool trans = gemm && attr_int(n, "transB", 0);
  int64_t K = w->shape.dim[trans], N = w->shape.dim[!trans];
  QLinearSpec s = {.src = n, .x = xq.q, .x_scale = xq.scale[0], .x_zp = xq.zp[0], .w_trans = trans, .alpha = 1};
  if (gemm)
    s.alpha = attr_float(n, "alpha", 1);
  if (!weight_params(&wq, trans ? 0 : 1, N, &s) || !read_bias(cc, gemm ? node_input(n, 2) : NULL, N, attr_float(n, "beta", 1), &s))
    return false;
  Node *last = linear_output(cc, g, n, &s);
  Graph *with = graph_new(cc, g, "qdq");
  Node *k = qgemm_build(cc, with, &s, cc->target, shape_numel(&a->shape) / K, K, N, n->out[0]->shape);
  if (!k)
    return false;
  replace_by(cc, last, with, k);
  return true;
}

//
// QOperator ops with constant weights and parameters: the same kernels.
//
// Scalar parameter I of N as float / int (absent zero points are 0); false if not constant.
static bool const_scalar(Node *n, int i, bool optional, double *v) {
  Value *p = node_input(n, i);
  if (!p)
    return optional ? (*v = 0, true) : false;
  if (!p->data || !qparam_per_tensor(p))
    return false;
  *v = dtype_get(p->dtype, p->data, 0);
  return true;
}

// Per-channel parameter I of N (N values or one) as floats or int32s.
static bool const_channels(Compiler *cc, Node *n, int i, int64_t N, float **f, int32_t **z, int64_t *count) {
  Value *p = node_input(n, i);
  int64_t c = qparam_per_tensor(p) ? 1 : shape_numel(&p->shape);
  if ((p && !p->data) || (c != 1 && c != N) || (*count > 1 && c > 1 && c != *count))
    return false;
  if (c > *count)
    *count = c;
  if (f) {
    *f = pool_alloc(&cc->pool, sizeof(float) * (size_t)N);
    for (int64_t k = 0; k < N; k++)
      (*f)[k] = p ? (float)dtype_get(p->dtype, p->data, c > 1 ? k : 0) : 1;
  }
  if (z) {
    *z = pool_alloc(&cc->pool, sizeof(int32_t) * (size_t)N);
    for (int64_t k = 0; k < N; k++)
      (*z)[k] = p ? (int32_t)dtype_get_int(p->dtype, p->data, c > 1 ? k : 0) : 0;
  }
  return true;
}

// Roles of the inputs of QLinearConv / ConvInteger / QLinearMatMul / MatMulInteger.
typedef struct {
  int x, xs, xzp, w, ws, wzp, ys, yzp, bias;
} QOpRoles;

static bool rewrite_qoperator(Compiler *cc, Graph *g, Node *n) {
  static const QOpRoles qlinear = {0, 1, 2, 3, 4, 5, 6, 7, 8}, integer = {0, -1, 2, 1, -1, 3, -1, -1, -1};
  OpKind kind = n->op->kind;
  bool conv = kind == OP_QLinearConv || kind == OP_ConvInteger;
  const QOpRoles *r = kind == OP_QLinearConv || kind == OP_QLinearMatMul ? &qlinear : &integer;
  Value *x = n->in[r->x], *w = n->in[r->w];
  if (!is_q8(x->dtype) || !is_q8(w->dtype) || !w->data || (!conv && (w->shape.rank != 2 || x->shape.rank < 1)))
    return false;
  bool requant = r->ys >= 0;
  double xs = 1, xzp, ys = 1, yzp = 0;
  if ((requant && !const_scalar(n, r->xs, false, &xs)) || !const_scalar(n, r->xzp, true, &xzp))
    return false;
  if (requant && (!const_scalar(n, r->ys, false, &ys) || !const_scalar(n, r->yzp, true, &yzp)))
    return false;
  int64_t N = conv ? w->shape.dim[0] : w->shape.dim[1], K = conv ? 0 : w->shape.dim[0];
  QLinearSpec s = {.src = n, .x = x, .x_scale = (float)xs, .x_zp = (int32_t)xzp, .w = w, .alpha = 1,
                   .out = requant ? QOUT_QUANT : QOUT_INT32, .y_dt = n->out[0]->dtype, .y_scale = (float)ys,
                   .y_zp = (int32_t)yzp};
  float *wscale = NULL;
  int32_t *wzp;
  s.nw = 1;
  if ((requant && !const_channels(cc, n, r->ws, N, &wscale, NULL, &s.nw)) || !const_channels(cc, n, r->wzp, N, NULL, &wzp, &s.nw))
    return false;
  if (!wscale) { // ConvInteger / MatMulInteger: no scales; the kernel's int32 output
    wscale = pool_alloc(&cc->pool, sizeof(float) * (size_t)N);
    for (int64_t k = 0; k < N; k++)
      wscale[k] = 1;
  }
  s.w_scale = wscale, s.w_zp = wzp;
  s.nw = N; // const_channels expanded both arrays to one value per channel
  qrange(s.y_dt, &s.lo, &s.hi);
  Value *b = r->bias >= 0 ? node_input(n, r->bias) : NULL;
  if (b) {
    if (!b->data || b->dtype != DT_I32 || shape_numel(&b->shape) != N)
      return false;
    s.bias_i32 = b->data;
  }
  Graph *with = graph_new(cc, g, "qop");
  Node *k = conv ? qconv_build(cc, with, &s, cc->target)
                 : qgemm_build(cc, with, &s, cc->target, shape_numel(&x->shape) / K, K, N, n->out[0]->shape);
  if (!k)
    return false;
  replace_by(cc, n, with, k);
  return true;
}

//
// Elementwise functions of one quantized input, data movement, binary ops, Concat, pooling
//
// DQ(x) per tensor, 8 bits.
static bool dq8(Compiler *cc, Value *v, QParams *qp) {
  return dq_source(cc, v, qp) && qp->n == 1 && !qp->block && is_q8(qp->dt);
}

static bool same_params(const QParams *a, const QParams *b) {
  return a->dt == b->dt && a->scale[0] == b->scale[0] && a->zp[0] == b->zp[0];
}

// A QTable applying F (NULL: requantization only) to X (parameters XQ) and quantizing like
// YQ, its entries clamped to [LO, HI].
static Node *table(Compiler *cc, Graph *with, const char *name, Value *x, const QParams *xq, const QTableOp *f,
                   const QParams *yq, int32_t lo, int32_t hi) {
  Value *t = qtable_values(cc, with, f, xq->dt, xq->scale[0], xq->zp[0], yq->dt, yq->scale[0], yq->zp[0]);
  if (!t)
    return NULL;
  for (int i = 0; i < 256; i++) {
    int64_t v = dtype_get_int(t->dtype, t->data, i);
    dtype_set(t->dtype, t->data, i, (double)(v < lo ? lo : v > hi ? hi : v));
  }
  return qtable_node(cc, with, name, x, t);
}

// DQ(x) -> f -> [Relu/Clip] -> Q, f elementwise in x alone (its other inputs constant scalars).
static bool rewrite_unary(Compiler *cc, Graph *g, Node *n) {
  int xi = -1;
  for (int i = 0; i < n->nin; i++) {
    Value *v = n->in[i];
    if (!v)
      continue;
    if (!v->data) {
      if (xi >= 0)
        return false;
      xi = i;
    } else if (shape_numel(&v->shape) != 1) {
      return false; // a tensor operand would make the function depend on the position
    }
  }
  QParams xq, yq;
  int32_t lo, hi;
  Node *last;
  if (xi < 0 || !dq8(cc, n->in[xi], &xq) || !shape_eq(&n->in[xi]->shape, &n->out[0]->shape) ||
      !q_sink(cc, g, n->out[0], &yq, &lo, &hi, &last))
    return false;
  QTableOp f = {.op_type = n->op_type, .opset = n->opset, .attrs = n->attrs, .nattrs = n->nattrs, .in = n->in,
                .nin = n->nin, .x_index = xi};
  Graph *with = graph_new(cc, g, "qdq");
  Node *t = table(cc, with, n->name, xq.q, &xq, &f, &yq, lo, hi);
  if (!t)
    return false;
  replace_by(cc, last, with, t);
  return true;
}

// Ops that only move elements (and MaxPool, which picks them): they commute with
// per-tensor quantization and run on the quantized data.
static bool moves_elements(const Node *n) {
  switch (n->op->kind) {
  case OP_Reshape:
  case OP_Flatten:
  case OP_Squeeze:
  case OP_Unsqueeze:
  case OP_Identity:
  case OP_Transpose:
  case OP_Slice:
  case OP_Gather:
  case OP_DepthToSpace:
  case OP_SpaceToDepth:
  case OP_Expand:
  case OP_Tile: return true;
  case OP_MaxPool: return n->nout == 1 || !n->out[1] || !value_uses(n->graph, n->out[1]);
  case OP_Resize:
  case OP_Upsample: return !strcmp(attr_string(n, "mode", "nearest"), "nearest");
  default: return false;
  }
}

// DQ(x) -> data movement -> [Relu/Clip] -> Q: the op on x itself, then a QTable when the
// output is quantized differently (or clamped).
static bool rewrite_move(Compiler *cc, Graph *g, Node *n) {
  QParams xq, yq;
  int32_t lo, hi, tlo, thi;
  Node *last;
  if (!dq8(cc, n->in[0], &xq) || !q_sink(cc, g, n->out[0], &yq, &lo, &hi, &last))
    return false;
  for (int i = 1; i < n->nin; i++)
    if (n->in[i] && n->in[i]->producer && n->in[i]->producer->op && n->in[i]->producer->op->kind == OP_DequantizeLinear)
      return false;
  Graph *with = graph_new(cc, g, "qdq");
  Node *m = graph_new_node(with, n->op_type, n->domain, pool_printf(&cc->pool, "%s.q", n->name), n->nin, 1);
  m->opset = n->opset;
  m->attrs = n->attrs;
  m->nattrs = n->nattrs;
  for (int i = 0; i < n->nin; i++)
    m->in[i] = n->in[i];
  m->in[0] = xq.q;
  m->out[0] = graph_new_value(with, pool_printf(&cc->pool, "%s.y", m->name));
  m->out[0]->producer = m;
  m->op->infer(cc, m);
  m->inferred = true;
  Node *res = m;
  qrange(yq.dt, &tlo, &thi);
  if (!same_params(&xq, &yq) || lo > tlo || hi < thi)
    res = table(cc, with, pool_printf(&cc->pool, "%s.requant", n->name), m->out[0], &xq, NULL, &yq, lo, hi);
  if (!res)
    return false;
  replace_by(cc, last, with, res);
  return true;
}

// DQ(a) + DQ(b), DQ(a) * DQ(b) -> [Relu/Clip] -> Q: QLinearAdd / QLinearMul.
static bool rewrite_binary(Compiler *cc, Graph *g, Node *n) {
  QParams aq, bq, yq;
  int32_t lo, hi;
  Node *last;
  if (n->nin != 2 || !dq8(cc, n->in[0], &aq) || !dq8(cc, n->in[1], &bq) || !q_sink(cc, g, n->out[0], &yq, &lo, &hi, &last))
    return false;
  Graph *with = graph_new(cc, g, "qdq");
  Node *b = qbinary_node(cc, with, n->op->kind == OP_Mul ? OP_QLinearMul : OP_QLinearAdd, pool_printf(&cc->pool, "%s.q", n->name),
                         aq.q, aq.scale[0], aq.zp[0], bq.q, bq.scale[0], bq.zp[0], yq.dt, yq.scale[0], yq.zp[0], lo, hi);
  replace_by(cc, last, with, b);
  return true;
}

// Concat of DQ inputs -> Q: the quantized inputs, requantized by tables where they differ.
static bool rewrite_concat(Compiler *cc, Graph *g, Node *n) {
  QParams yq, *xq = pool_alloc(&cc->pool, sizeof(QParams) * (size_t)n->nin);
  int32_t lo, hi, tlo, thi;
  Node *last;
  for (int i = 0; i < n->nin; i++)
    if (!n->in[i] || !dq8(cc, n->in[i], &xq[i]))
      return false;
  if (!q_sink(cc, g, n->out[0], &yq, &lo, &hi, &last))
    return false;
  qrange(yq.dt, &tlo, &thi);
  Graph *with = graph_new(cc, g, "qdq");
  Value **ins = pool_alloc(&cc->pool, sizeof(Value *) * (size_t)n->nin);
  for (int i = 0; i < n->nin; i++) { // the tables first: nodes run in creation order
    ins[i] = xq[i].q;
    if (same_params(&xq[i], &yq) && lo == tlo && hi == thi)
      continue;
    Node *t = table(cc, with, pool_printf(&cc->pool, "%s.requant%d", n->name, i), xq[i].q, &xq[i], NULL, &yq, lo, hi);
    if (!t)
      return false;
    ins[i] = t->out[0];
  }
  Node *cat = graph_new_node(with, "Concat", "", pool_printf(&cc->pool, "%s.q", n->name), n->nin, 1);
  cat->opset = n->opset;
  cat->attrs = n->attrs;
  cat->nattrs = n->nattrs;
  memcpy(cat->in, ins, sizeof(Value *) * (size_t)n->nin);
  cat->out[0] = graph_new_value(with, pool_printf(&cc->pool, "%s.y", cat->name));
  cat->out[0]->producer = cat;
  cat->op->infer(cc, cat);
  cat->inferred = true;
  replace_by(cc, last, with, cat);
  return true;
}

// DQ(x) -> AveragePool / GlobalAveragePool -> Q: QLinearAveragePool / QLinearGlobalAveragePool.
static bool rewrite_avgpool(Compiler *cc, Graph *g, Node *n) {
  QParams xq, yq;
  int32_t lo, hi, tlo, thi;
  Node *last;
  if (!dq8(cc, n->in[0], &xq) || !q_sink(cc, g, n->out[0], &yq, &lo, &hi, &last))
    return false;
  qrange(yq.dt, &tlo, &thi);
  if (lo != tlo || hi != thi)
    return false;
  bool global = n->op->kind == OP_GlobalAveragePool;
  Graph *with = graph_new(cc, g, "qdq");
  Node *p = graph_new_node(with, global ? "QLinearGlobalAveragePool" : "QLinearAveragePool", "com.microsoft",
                           pool_printf(&cc->pool, "%s.q", n->name), 5, 1);
  p->opset = 1;
  if (!global)
    p->attrs = n->attrs, p->nattrs = n->nattrs;
  p->in[0] = xq.q;
  p->in[1] = xq.node->in[1];
  p->in[2] = node_input(xq.node, 2) ? xq.node->in[2] : graph_const(with, "zero", xq.dt, (Shape){0}, NULL);
  p->in[3] = yq.node->in[1];
  p->in[4] = node_input(yq.node, 2) ? yq.node->in[2] : graph_const(with, "zero", yq.dt, (Shape){0}, NULL);
  p->out[0] = graph_new_value(with, pool_printf(&cc->pool, "%s.y", p->name));
  p->out[0]->producer = p;
  p->op->infer(cc, p);
  p->inferred = true;
  replace_by(cc, last, with, p);
  return true;
}

// DQ(x) -> [Relu/Clip] -> Q: requantization by a table, or x itself when nothing changes.
static bool rewrite_requant(Compiler *cc, Graph *g, Node *n) {
  QParams xq, yq;
  int32_t lo, hi, tlo, thi;
  Node *last;
  if (!dq8(cc, n->out[0], &xq) || xq.q->data || !q_sink(cc, g, n->out[0], &yq, &lo, &hi, &last))
    return false;
  Graph *with = graph_new(cc, g, "qdq");
  qrange(yq.dt, &tlo, &thi);
  if (same_params(&xq, &yq) && lo == tlo && hi == thi) {
    replace_node(cc, last, with, &xq.q);
    return true;
  }
  Node *t = table(cc, with, pool_printf(&cc->pool, "%s.requant", n->name), xq.q, &xq, NULL, &yq, lo, hi);
  if (!t)
    return false;
  replace_by(cc, last, with, t);
  return true;
}

//
// Weight-only: float activations times constant weights that are the DequantizeLinear of
// 8- or 4-bit codes (per tensor, per output channel, or in blocks along K) or the Cast of
// float16/bfloat16 values: WGemm/WConv keep the weights compressed. Float weights that are
// mostly zeros (pruned) go to the same kernels' sparse form when the target says it pays.
//
typedef enum { W_KN, W_NK, W_CONV } WLayout; // MatMul [K, N], Gemm transB [N, K], Conv [M, C/g, k...]

typedef struct {
  Value *w;
  WLayout layout;
  int64_t K, N, cpg, ksp;
} WAccess;

static double weight_at(const void *ctx, int64_t k, int64_t ch) {
  const WAccess *a = ctx;
  int64_t i = a->layout == W_KN ? k * a->N + ch : a->layout == W_NK ? ch * a->K + k : ch * a->K + (k % a->cpg) * a->ksp + k / a->cpg;
  return dtype_get(a->w->dtype, a->w->data, i);
}

static WFormat code_format(DType t) {
  switch (t) {
  case DT_I8: return WFMT_I8;
  case DT_U8: return WFMT_U8;
  case DT_I4: return WFMT_I4;
  default: return WFMT_U4;
  }
}

// Fills S's format, block, scales and zero points from how the float weights WF come to be
// (A describes their layout; the output-channel axis and the K axis of that layout).
static bool weight_source(Compiler *cc, Value *wf, WAccess *a, WLinearSpec *s) {
  int64_t K = a->K, N = s->groups * s->N;
  int ch_axis = a->layout == W_KN ? 1 : 0, k_axis = a->layout == W_KN ? 0 : 1;
  Node *p = wf->producer;
  if (p && p->op && p->op->kind == OP_Cast && p->in[0]->data && (p->in[0]->dtype == DT_F16 || p->in[0]->dtype == DT_BF16)) {
    a->w = p->in[0];
    s->fmt = p->in[0]->dtype == DT_F16 ? WFMT_F16 : WFMT_BF16;
    return true;
  }
  QParams wq;
  if (!dq_source(cc, wf, &wq) || !wq.q->data ||
      (wq.dt != DT_I8 && wq.dt != DT_U8 && wq.dt != DT_I4 && wq.dt != DT_U4))
    return false;
  a->w = wq.q;
  s->fmt = code_format(wq.dt);
  s->block = K;
  int64_t kb = 1;
  if (wq.block) {
    if (a->layout == W_CONV || wq.axis != k_axis)
      return false;
    s->block = wq.block;
    kb = (K + wq.block - 1) / wq.block;
  } else if (wq.n > 1 && (wq.axis != ch_axis || wq.n != N)) {
    return false;
  }
  float *scale = pool_alloc(&cc->pool, sizeof(float) * (size_t)(kb * N));
  int32_t *zp = pool_alloc(&cc->pool, sizeof(int32_t) * (size_t)(kb * N));
  bool any_zp = false;
  for (int64_t b = 0; b < kb; b++)
    for (int64_t ch = 0; ch < N; ch++) {
      // blocked scales have the weights' layout with K counted in blocks
      int64_t i = !wq.block ? (wq.n > 1 ? ch : 0) : a->layout == W_KN ? b * N + ch : ch * kb + b;
      scale[b * N + ch] = wq.scale[i];
      zp[b * N + ch] = wq.zp[i];
      any_zp |= wq.zp[i] != 0;
    }
  s->scale = scale;
  s->zp = any_zp ? zp : NULL;
  return true;
}

// Plain float weights: sparse when few enough of their blocks hold nonzeros for the target.
static bool sparse_source(Value *wf, WAccess *a, WLinearSpec *s, const Target *t) {
  if (!wf->data || wf->dtype != DT_F32 || !t || t->sparse_density <= 0)
    return false;
  a->w = wf;
  s->fmt = WFMT_SPARSE;
  int lanes = (t->vector_bits >= 128 ? t->vector_bits : 128) / 32;
  return wsparse_density(s, lanes) < t->sparse_density;
}

static const float *const_bias(Compiler *cc, Value *b, int64_t N, float beta) {
  if (!b)
    return NULL;
  int64_t nb = shape_numel(&b->shape);
  float *v = pool_alloc(&cc->pool, sizeof(float) * (size_t)N);
  for (int64_t c = 0; c < N; c++)
    v[c] = beta * (float)dtype_get(b->dtype, b->data, nb > 1 ? c : 0);
  return v;
}

static bool rewrite_weights(Compiler *cc, Graph *g, Node *n) {
  OpKind kind = n->op->kind;
  Value *x = n->in[0], *wf = n->in[1], *b = kind == OP_MatMul ? NULL : node_input(n, 2);
  // (WF itself may be unfolded: the DequantizeLinear of large weights stays a node)
  if (!dtype_is_float(x->dtype) || (b && (!b->data || !dtype_is_float(b->dtype))))
    return false;
  WAccess *a = pool_alloc(&cc->pool, sizeof *a);
  WLinearSpec s = {.src = n, .x = x, .groups = 1, .weight = weight_at, .ctx = a};
  if (kind == OP_Conv) {
    const Shape *ws = &wf->shape;
    s.groups = attr_int(n, "group", 1);
    a->layout = W_CONV;
    a->cpg = ws->dim[1];
    a->ksp = shape_numel(ws) / (ws->dim[0] * ws->dim[1]);
    a->K = s.K = a->cpg * a->ksp;
    s.N = ws->dim[0] / s.groups;
  } else {
    bool trans = kind == OP_Gemm && attr_int(n, "transB", 0);
    if (wf->shape.rank != 2 || (kind == OP_Gemm && (attr_int(n, "transA", 0) || attr_float(n, "alpha", 1) != 1)))
      return false;
    a->layout = trans ? W_NK : W_KN;
    a->K = s.K = wf->shape.dim[trans];
    a->N = s.N = wf->shape.dim[!trans];
    if (b && !column_bias(b, s.N))
      return false;
  }
  if (!weight_source(cc, wf, a, &s) && !sparse_source(wf, a, &s, cc->target))
    return false;
  s.bias = const_bias(cc, b, s.groups * s.N, kind == OP_Gemm ? attr_float(n, "beta", 1) : 1);
  Graph *with = graph_new(cc, g, "weights");
  Node *k = kind == OP_Conv ? wconv_build(cc, with, &s, cc->target, &wf->shape)
                            : wgemm_build(cc, with, &s, cc->target, shape_numel(&x->shape) / s.K, n->out[0]->shape);
  if (!k)
    return false;
  replace_by(cc, n, with, k);
  return true;
}

static bool rewrite_node(Compiler *cc, Graph *g, Node *n) {
  if (!n->op || !n->out[0] || n->out[0]->data)
    return false;
  switch (n->op->kind) {
  case OP_Conv: return rewrite_conv(cc, g, n) || rewrite_weights(cc, g, n);
  case OP_ConvTranspose: return rewrite_convtranspose(cc, g, n);
  case OP_MatMul:
  case OP_Gemm: return rewrite_matmul(cc, g, n) || rewrite_weights(cc, g, n);
  case OP_MatMulNBits: return matmulnbits_expand(cc, n, cc->target) != NULL;
  case OP_QLinearConv:
  case OP_ConvInteger:
  case OP_QLinearMatMul:
  case OP_MatMulInteger: return rewrite_qoperator(cc, g, n);
  case OP_QLinearSigmoid:
  case OP_QLinearLeakyRelu:
  case OP_QLinearConcat: return qlinear_expand(cc, n);
  case OP_Add:
  case OP_Mul: return rewrite_binary(cc, g, n) || rewrite_unary(cc, g, n);
  case OP_Concat: return rewrite_concat(cc, g, n);
  case OP_DequantizeLinear: return rewrite_requant(cc, g, n);
  case OP_AveragePool:
  case OP_GlobalAveragePool: return rewrite_avgpool(cc, g, n);
  default:
    if (moves_elements(n))
      return rewrite_move(cc, g, n);
    return n->op->scalar && rewrite_unary(cc, g, n);
  }
}

void rewrite_quantized(Compiler *cc, Graph *g) {
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    if (n->inferred)
      rewrite_node(cc, g, n);
  }
}
