// qexpand.c — com.microsoft quantized ops that are float ops between DequantizeLinear and
// QuantizeLinear, as ONNX Runtime's quantizer writes them: QGemm, QLinearSoftmax,
// QLinearWhere, QLinearReduceMean, and DynamicQuantizeLSTM (an LSTM over 8-bit weights).
//
// Inference replaces each by the nodes it stands for and infers those next. passes/qdq.c then
// turns the patterns it knows (DequantizeLinear -> Gemm -> QuantizeLinear) into integer
// kernels; the rest runs in float with the ONNX semantics of every piece, which is what the
// contrib kernels compute up to rounding of the intermediate values.
#include "../compiler.h"
#include "ops.h"

#include <string.h>

typedef struct {
  Compiler *cc;
  Node *src;   // the node replaced
  Graph *with; // the nodes replacing it
  int count;   // nodes made so far (their names)
} Expansion;

static Expansion expansion(Compiler *cc, Node *n) {
  return (Expansion){.cc = cc, .src = n, .with = graph_new(cc, n->graph, n->name)};
}

static Attr int_attr(const char *name, int64_t v) { return (Attr){.name = name, .type = ATTR_INT, .i = v}; }

// A node OP_TYPE of ai.onnx OPSET on INS with ATTRS and the outputs LIKE has (NULL: one).
static Node *emit_node(Expansion *e, const char *op_type, int opset, Value **ins, int nin, const Attr *attrs, int nattrs,
                       const Node *like) {
  Pool *p = &e->cc->pool;
  int nout = like ? like->nout : 1;
  Node *m = graph_new_node(e->with, op_type, "", pool_printf(p, "%s.%d.%s", e->src->name, e->count++, op_type), nin, nout);
  m->opset = opset;
  memcpy(m->in, ins, sizeof(Value *) * (size_t)nin);
  m->attrs = pool_alloc(p, sizeof(Attr) * (size_t)(nattrs + 1));
  if (nattrs)
    memcpy(m->attrs, attrs, sizeof(Attr) * (size_t)nattrs);
  m->nattrs = nattrs;
  for (int i = 0; i < nout; i++) {
    if (like && !like->out[i])
      continue;
    m->out[i] = graph_new_value(e->with, pool_printf(p, "%s.y%d", m->name, i));
    m->out[i]->producer = m;
  }
  return m;
}

static Value *emit(Expansion *e, const char *op_type, int opset, Value **ins, int nin, const Attr *attrs, int nattrs) {
  return emit_node(e, op_type, opset, ins, nin, attrs, nattrs, NULL)->out[0];
}

// DequantizeLinear(X, SCALE, ZP) along AXIS when the scale is a vector.
static Value *dequantize(Expansion *e, Value *x, Value *scale, Value *zp, int axis) {
  Attr a = int_attr("axis", axis);
  return emit(e, "DequantizeLinear", 13, (Value *[]){x, scale, zp}, zp ? 3 : 2, &a, !qparam_per_tensor(scale));
}

static Value *quantize(Expansion *e, Value *x, Value *scale, Value *zp) {
  return emit(e, "QuantizeLinear", 13, (Value *[]){x, scale, zp}, zp ? 3 : 2, NULL, 0);
}

static void finish(Expansion *e, Value *y) { replace_node(e->cc, e->src, e->with, &y); }

// Constant float input I (scale); a clear error otherwise.
static const Value *const_input(Compiler *cc, Node *n, int i, const char *what) {
  Value *v = n->in[i];
  if (!v->data)
    fatal_at(cc, n, "%s '%s' computed at run time is not supported", what, v->name);
  return v;
}

//
// QGemm: Y = alpha * a_scale * b_scale * ((A - a_zp)(B - b_zp) + C), C int32 in units of
// a_scale * b_scale; requantized to y_scale / y_zp when given, else float.
//
// The scale of C: a_scale times b's scale (one per column of the result, or one).
static Value *bias_scale(Expansion *e, Node *n) {
  Compiler *cc = e->cc;
  const Value *as = const_input(cc, n, 1, "a_scale"), *bs = const_input(cc, n, 4, "b_scale");
  int64_t count = qparam_per_tensor(bs) ? 1 : shape_numel(&bs->shape);
  float *s = pool_alloc(&cc->pool, sizeof(float) * (size_t)count);
  for (int64_t j = 0; j < count; j++)
    s[j] = (float)dtype_get(as->dtype, as->data, 0) * (float)dtype_get(bs->dtype, bs->data, j);
  return graph_const(e->with, pool_printf(&cc->pool, "%s.c_scale", n->name), DT_F32, count > 1 ? shape_of(1, &count) : (Shape){0}, s);
}

void infer_QGemm(Compiler *cc, Node *n) {
  Value *a = n->in[0], *b = n->in[3], *c = node_input(n, 6), *bs = n->in[4];
  bool tb = attr_int(n, "transB", 0);
  if (a->shape.rank != 2 || b->shape.rank != 2)
    fatal_at(cc, n, "A %s and B %s must be matrices", shape_str(&cc->pool, &a->shape), shape_str(&cc->pool, &b->shape));
  int64_t N = b->shape.dim[!tb], nbs = qparam_per_tensor(bs) ? 1 : shape_numel(&bs->shape);
  if ((nbs != 1 && nbs != N) || !qparam_per_tensor(n->in[1]))
    fatal_at(cc, n, "a_scale must be a scalar and b_scale a scalar or one per column (%lld)", (long long)N);
  // a per-column C scale needs C's columns along its last axis
  if (c && nbs > 1 && (c->shape.rank == 0 || c->shape.dim[c->shape.rank - 1] != N))
    fatal_at(cc, n, "bias C %s with per-column scales is not supported", shape_str(&cc->pool, &c->shape));
  Expansion e = expansion(cc, n);
  Value *ins[3] = {dequantize(&e, a, n->in[1], node_input(n, 2), 0),
                   dequantize(&e, b, bs, node_input(n, 5), tb ? 0 : 1), NULL};
  if (c)
    ins[2] = dequantize(&e, c, bias_scale(&e, n), NULL, c->shape.rank - 1);
  float alpha = attr_float(n, "alpha", 1);
  Attr attrs[4] = {{.name = "alpha", .type = ATTR_FLOAT, .f = alpha}, {.name = "beta", .type = ATTR_FLOAT, .f = alpha},
                   int_attr("transA", attr_int(n, "transA", 0)), int_attr("transB", tb)};
  Value *y = emit(&e, "Gemm", 13, ins, c ? 3 : 2, attrs, 4);
  if (node_input(n, 7))
    y = quantize(&e, y, n->in[7], node_input(n, 8));
  finish(&e, y);
}

//
// QLinearSoftmax (X, X_scale, x_zp, y_scale, y_zp; axis, and the ai.onnx opset whose Softmax
// it follows: before 13 the input is flattened to 2-D at the axis), QLinearWhere (condition,
// X, x_scale, x_zp, Y, y_scale, y_zp, z_scale, z_zp), QLinearReduceMean (data, data_scale,
// data_zp, reduced_scale, reduced_zp; axes, keepdims).
//
void infer_QLinearSoftmax(Compiler *cc, Node *n) {
  Expansion e = expansion(cc, n);
  Attr axis = int_attr("axis", attr_int(n, "axis", -1));
  Value *x = dequantize(&e, n->in[0], n->in[1], node_input(n, 2), 0);
  Value *y = emit(&e, "Softmax", attr_int(n, "opset", 13) < 13 ? 11 : 13, &x, 1, &axis, 1);
  finish(&e, quantize(&e, y, n->in[3], node_input(n, 4)));
}

void infer_QLinearWhere(Compiler *cc, Node *n) {
  Expansion e = expansion(cc, n);
  Value *ins[3] = {n->in[0], dequantize(&e, n->in[1], n->in[2], n->in[3], 0), dequantize(&e, n->in[4], n->in[5], n->in[6], 0)};
  Value *z = emit(&e, "Where", 16, ins, 3, NULL, 0);
  finish(&e, quantize(&e, z, n->in[7], n->in[8]));
}

void infer_QLinearReduceMean(Compiler *cc, Node *n) {
  const Attr *axes = node_attr(n, "axes");
  if (!axes || axes->type != ATTR_INTS)
    fatal_at(cc, n, "attribute 'axes' is required");
  Expansion e = expansion(cc, n);
  Attr attrs[2] = {*axes, int_attr("keepdims", attr_int(n, "keepdims", 1))};
  Value *x = dequantize(&e, n->in[0], n->in[1], node_input(n, 2), 0);
  Value *y = emit(&e, "ReduceMean", 13, &x, 1, attrs, 2);
  finish(&e, quantize(&e, y, n->in[3], node_input(n, 4)));
}

//
// DynamicQuantizeLSTM: an LSTM whose W [dirs, input, 4 hidden] and R [dirs, hidden,
// 4 hidden] are 8-bit codes with a scale and zero point per direction or per gate row
// (inputs 8-11). Their float values, transposed to the LSTM's [dirs, 4 hidden, len], become
// the constant weights of an ordinary LSTM (which runs its products on the GEMM engine).
//
static Value *lstm_weights(Expansion *e, Node *n, int wi, int si, int zi) {
  Compiler *cc = e->cc;
  const Value *w = const_input(cc, n, wi, "weight"), *s = const_input(cc, n, si, "scale");
  const Value *z = const_input(cc, n, zi, "zero point");
  if (w->shape.rank != 3 || (w->dtype != DT_U8 && w->dtype != DT_I8))
    fatal_at(cc, n, "input %d: 8-bit weights [directions, size, 4 x hidden] expected, got %s %s", wi,
             dtype_onnx_name(w->dtype), shape_str(&cc->pool, &w->shape));
  int64_t D = w->shape.dim[0], L = w->shape.dim[1], G = w->shape.dim[2], per = shape_numel(&s->shape);
  if ((per != D && per != D * G) || shape_numel(&z->shape) != per)
    fatal_at(cc, n, "input %d: scales and zero points per direction or per direction and gate row expected", si);
  float *f = pool_alloc(&cc->pool, sizeof(float) * (size_t)(D * G * L));
  for (int64_t d = 0; d < D; d++)
    for (int64_t l = 0; l < L; l++)
      for (int64_t g = 0; g < G; g++) {
        int64_t q = per == D ? d : d * G + g;
        double code = dtype_get(w->dtype, w->data, (d * L + l) * G + g) - dtype_get(z->dtype, z->data, q);
        f[(d * G + g) * L + l] = (float)(code * dtype_get(s->dtype, s->data, q));
      }
  return graph_const(e->with, pool_printf(&cc->pool, "%s.w%d", n->name, wi), DT_F32, shape_of(3, (int64_t[]){D, G, L}), f);
}

void infer_DynamicQuantizeLSTM(Compiler *cc, Node *n) {
  Expansion e = expansion(cc, n);
  Value *ins[8];
  for (int i = 0; i < 8; i++)
    ins[i] = node_input(n, i);
  ins[1] = lstm_weights(&e, n, 1, 8, 9);
  ins[2] = lstm_weights(&e, n, 2, 10, 11);
  Node *lstm = emit_node(&e, "LSTM", 14, ins, 8, n->attrs, n->nattrs, n);
  replace_node(cc, n, e.with, lstm->out);
}
