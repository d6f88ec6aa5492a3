// epilogue.c — applying a host node's fused elementwise ops (passes/fuse_epilogue.c) in its
// lowering. The ops' scalar functions are evaluated in order on each output element; operands
// computed elsewhere are read with their broadcast strides against the output's shape.
#include "gemm_kernel.h"

#define MAX_VALUES 32

// Element strides of a value broadcast to shape OUT (0 along broadcast dims).
static void broadcast_strides(const Shape *in, const Shape *out, int64_t *st) {
  int64_t acc = 1;
  for (int d = out->rank - 1; d >= 0; d--) {
    int id = in->rank - out->rank + d;
    int64_t dim = id >= 0 ? in->dim[id] : 1;
    st[d] = dim == 1 ? 0 : acc;
    acc *= dim;
  }
}

LLVMValueRef epilogue_apply(KB *kb, const Node *host, LLVMValueRef v, const LLVMValueRef *idx) {
  const Epilogue *e = host->epilogue;
  const Shape *os = &host->out[0]->shape;
  const Value *keys[MAX_VALUES];
  LLVMValueRef vals[MAX_VALUES];
  int nvals = 0;
  keys[nvals] = e->raw;
  vals[nvals++] = v;
  for (int j = 0; j < e->ops.len && nvals < MAX_VALUES; j++) {
    const Node *m = e->ops.items[j];
    LLVMValueRef x[16] = {0};
    for (int i = 0; i < m->nin && i < countof(x); i++) {
      const Value *in = m->in[i];
      if (!in)
        continue;
      for (int k = 0; k < nvals && !x[i]; k++)
        if (keys[k] == in)
          x[i] = vals[k];
      for (int h = e->first_input; h < host->nin && !x[i]; h++)
        if (host->in[h] == in) {
          int64_t st[MAX_RANK];
          broadcast_strides(&in->shape, os, st);
          x[i] = kb_load(kb, DT_F32, kb->in[h], kb_flat_strided(kb, os->rank, st, (LLVMValueRef *)idx));
        }
    }
    keys[nvals] = m->out[0];
    vals[nvals++] = m->op->scalar(kb, m, x, DT_F32);
  }
  return vals[nvals - 1];
}

void epilogue_apply_all(KB *kb, const Node *host) {
  if (!host->epilogue)
    return;
  const Shape *os = &host->out[0]->shape;
  Loop loops[MAX_RANK];
  LLVMValueRef idx[MAX_RANK];
  kb_for_shape(kb, loops, os, idx);
  LLVMValueRef at = kb_flat(kb, os, idx);
  LLVMValueRef v = kb_load(kb, DT_F32, kb->out[0], at);
  kb_store(kb, DT_F32, kb->out[0], at, epilogue_apply(kb, host, v, idx));
  kb_end_for_shape(kb, loops, os);
}

// Output index of element (row, col) of a GEMM call: fixed dims, then ROW decomposed over
// dims [row_first, row_first + row_n) and COL over [col_first, col_first + col_n).
static void tile_index(KB *kb, const EpilogueMap *m, LLVMValueRef row, LLVMValueRef col, LLVMValueRef *idx) {
  const Shape *os = &m->host->out[0]->shape;
  for (int d = 0; d < os->rank; d++)
    idx[d] = m->fixed[d] ? m->fixed[d] : kb_idx(kb, 0);
  if (m->row_base)
    row = LLVMBuildAdd(kb->b, row, m->row_base, "");
  const int first[2] = {m->row_first, m->col_first}, count[2] = {m->row_n, m->col_n};
  LLVMValueRef rest[2] = {row, col};
  for (int s = 0; s < 2; s++)
    for (int d = first[s] + count[s] - 1; d >= first[s]; d--) {
      LLVMValueRef dim = kb_idx(kb, os->dim[d]);
      idx[d] = d == first[s] ? rest[s] : LLVMBuildURem(kb->b, rest[s], dim, "");
      rest[s] = LLVMBuildUDiv(kb->b, rest[s], dim, "");
    }
}

static void epilogue_tile(KB *kb, const GemmArgs *g, LLVMValueRef r0, int64_t h, LLVMValueRef c0, int64_t w) {
  const EpilogueMap *m = g->ctx;
  Loop lr, lc;
  LLVMValueRef r = LLVMBuildAdd(kb->b, r0, kb_for(kb, &lr, h), "");
  LLVMValueRef c = LLVMBuildAdd(kb->b, c0, kb_for(kb, &lc, w), "");
  LLVMValueRef at = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, r, kb_idx(kb, g->c_rs), ""), c, "");
  LLVMValueRef idx[MAX_RANK];
  tile_index(kb, m, r, c, idx);
  kb_store(kb, DT_F32, g->c, at, epilogue_apply(kb, m->host, kb_load(kb, DT_F32, g->c, at), idx));
  kb_end_for(kb, &lc);
  kb_end_for(kb, &lr);
}

// Ops whose scalar function computes on vectors as well (no libm calls, constants from
// kb_const): those an epilogue applies to result vectors in registers.
static bool vector_safe(OpKind k) {
  switch (k) {
  case OP_Add: case OP_Sub: case OP_Mul: case OP_Div: case OP_Neg: case OP_Abs: case OP_Relu:
  case OP_LeakyRelu: case OP_PRelu: case OP_Sigmoid: case OP_Tanh: case OP_Exp: case OP_Log: case OP_Erf:
  case OP_Sqrt: case OP_Reciprocal: case OP_Clip: case OP_HardSigmoid: case OP_HardSwish: case OP_Elu:
  case OP_Selu: case OP_Celu: case OP_Gelu: case OP_Softplus: case OP_Softsign: case OP_Mish: case OP_Max:
  case OP_Min: case OP_Sum: case OP_Mean: case OP_Identity: case OP_ThresholdedRelu: return true;
  default: return false;
  }
}

// The element stride S of operand V along the columns of M (the flattened column dims: the
// operand's offset moves by S per column) when it is 1 (contiguous) or 0 (broadcast); else -1.
static int64_t column_stride(const EpilogueMap *m, const Value *v) {
  const Shape *os = &m->host->out[0]->shape;
  int64_t st[MAX_RANK], s = -2, span = 1;
  broadcast_strides(&v->shape, os, st);
  for (int d = m->col_first + m->col_n - 1; d >= m->col_first; d--) {
    if (os->dim[d] == 1)
      continue;
    if (s == -2)
      s = st[d];
    if (st[d] != s * span)
      return -1;
    span *= os->dim[d];
  }
  return s == -2 ? 0 : s == 0 || s == 1 ? s : -1;
}

bool epilogue_vectorizable(const EpilogueMap *m) {
  const Epilogue *e = m->host->epilogue;
  for (int j = 0; j < e->ops.len; j++)
    if (!vector_safe(((Node *)e->ops.items[j])->op->kind))
      return false;
  for (int h = e->first_input; h < m->host->nin; h++)
    if (column_stride(m, m->host->in[h]) < 0)
      return false;
  return true;
}

static LLVMValueRef apply_vector(KB *kb, const GemmArgs *g, LLVMValueRef v, LLVMValueRef row, LLVMValueRef col, int valid) {
  return epilogue_vector(kb, g->ctx, g->tile.vl, v, row, col, valid);
}

LLVMValueRef epilogue_vector(KB *kb, const EpilogueMap *m, int vl, LLVMValueRef v, LLVMValueRef row, LLVMValueRef col,
                             int valid) {
  const Node *host = m->host;
  const Epilogue *e = host->epilogue;
  const Shape *os = &host->out[0]->shape;
  LLVMValueRef idx[MAX_RANK];
  tile_index(kb, m, row, col, idx);
  const Value *keys[MAX_VALUES];
  LLVMValueRef vals[MAX_VALUES];
  int nvals = 0;
  keys[nvals] = e->raw;
  vals[nvals++] = v;
  for (int j = 0; j < e->ops.len && nvals < MAX_VALUES; j++) {
    const Node *op = e->ops.items[j];
    LLVMValueRef x[16] = {0};
    for (int i = 0; i < op->nin && i < countof(x); i++) {
      const Value *in = op->in[i];
      for (int k = 0; in && k < nvals && !x[i]; k++)
        if (keys[k] == in)
          x[i] = vals[k];
      for (int h = e->first_input; in && h < host->nin && !x[i]; h++)
        if (host->in[h] == in) {
          int64_t st[MAX_RANK];
          broadcast_strides(&in->shape, os, st);
          LLVMValueRef at = kb_flat_strided(kb, os->rank, st, idx);
          x[i] = column_stride(m, in) ? vec_load(kb, kb->in[h], at, vl, valid)
                                      : vec_splat(kb, kb_load(kb, DT_F32, kb->in[h], at), vl);
        }
    }
    kb->lanes = vl;
    keys[nvals] = op->out[0];
    vals[nvals++] = op->op->scalar(kb, op, x, DT_F32);
    kb->lanes = 0;
  }
  return vals[nvals - 1];
}

void epilogue_attach(GemmArgs *g, EpilogueMap *m) {
  if (!m->host->epilogue)
    return;
  g->ctx = m;
  g->capture[g->ncapture++] = &m->row_base;
  for (int d = 0; d < MAX_RANK; d++)
    if (m->fixed[d])
      g->capture[g->ncapture++] = &m->fixed[d];
  if (epilogue_vectorizable(m))
    g->vector_done = apply_vector;
  else
    g->tile_done = epilogue_tile;
}
