// widen.c — float16 and bfloat16 products in float32.
//
// A half-precision Conv, ConvTranspose, Gemm, MatMul or recurrent layer would otherwise run
// the scalar reference loops, one to two orders of magnitude slower than the GEMM engine.
// Inference replaces it by Casts of its half inputs to float32 (constant weights fold to
// float32 at compile time), the same node in float32, and Casts of its half results back: the
// result is rounded to the half type once, as ONNX defines the op, after float32 accumulation
// (what ONNX Runtime's CPU kernels do too).
#include "../compiler.h"
#include "ops.h"

#include <string.h>

static bool is_half(const Value *v) { return v && v->type == VAL_TENSOR && (v->dtype == DT_F16 || v->dtype == DT_BF16); }

// A Cast of V to type TO in WITH, named after NAME.
static Value *cast(Compiler *cc, Graph *with, Value *v, DType to, const char *name) {
  Node *c = graph_new_node(with, "Cast", "", name, 1, 1);
  c->opset = 19;
  c->in[0] = v;
  c->attrs = pool_alloc(&cc->pool, sizeof(Attr));
  *c->attrs = (Attr){.name = "to", .type = ATTR_INT, .i = to};
  c->nattrs = 1;
  c->out[0] = graph_new_value(with, pool_printf(&cc->pool, "%s.y", name));
  c->out[0]->producer = c;
  return c->out[0];
}

bool widen_half(Compiler *cc, Node *n) {
  if (!is_half(n->in[0]))
    return false;
  Graph *with = graph_new(cc, n->graph, n->name);
  Value **ins = pool_alloc(&cc->pool, sizeof(Value *) * (size_t)(n->nin + 1));
  for (int i = 0; i < n->nin; i++) // the Casts first: nodes run in list order
    ins[i] = is_half(n->in[i]) ? cast(cc, with, n->in[i], DT_F32, pool_printf(&cc->pool, "%s.in%d", n->name, i)) : n->in[i];
  Node *m = graph_new_node(with, n->op_type, n->domain, pool_printf(&cc->pool, "%s.f32", n->name), n->nin, n->nout);
  m->opset = n->opset;
  m->attrs = n->attrs;
  m->nattrs = n->nattrs;
  memcpy(m->in, ins, sizeof(Value *) * (size_t)n->nin);
  Value **outs = pool_alloc(&cc->pool, sizeof(Value *) * (size_t)(n->nout + 1));
  for (int i = 0; i < n->nout; i++) {
    if (!n->out[i])
      continue;
    m->out[i] = graph_new_value(with, pool_printf(&cc->pool, "%s.f32.y%d", n->name, i));
    m->out[i]->producer = m;
    outs[i] = cast(cc, with, m->out[i], n->in[0]->dtype, pool_printf(&cc->pool, "%s.out%d", n->name, i));
  }
  replace_node(cc, n, with, outs);
  return true;
}
