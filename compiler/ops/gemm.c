// gemm.c — Gemm and MatMul (batched, broadcast). f32 products run on the GEMM engine
// (gemm_kernel.c) with constant operands packed at compile time; other types and layouts the
// engine does not take lower to emit_matmul, one loop nest parameterized by operand strides.
#include "../compiler.h"
#include "gemm_kernel.h"
#include "ops.h"

typedef struct {
  LLVMValueRef ptr;
  LLVMValueRef off;   // element offset of the matrix
  int64_t rs, cs;     // row and column strides in elements
  DType dt;
} MatRef;

static LLVMValueRef at(KB *kb, const MatRef *m, LLVMValueRef r, LLVMValueRef c) {
  LLVMValueRef i = LLVMBuildAdd(kb->b, m->off, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, r, kb_idx(kb, m->rs), ""),
                                                            LLVMBuildMul(kb->b, c, kb_idx(kb, m->cs), ""), ""), "");
  return i;
}

// Y[MxN] = alpha * A[MxK] B[KxN] + (Y's initial value when accumulate, else 0), M rows at run
// time. The i-k-j order streams rows of B and Y, so the inner loop vectorizes; types whose
// storage is narrower than their arithmetic (f16, bf16) accumulate in a register with i-j-k.
static void emit_matmul(KB *kb, MatRef a, MatRef b, MatRef y, LLVMValueRef M, int64_t N, int64_t K,
                        double alpha, bool accumulate) {
  DType ct = dtype_compute(y.dt);
  Loop li, lj, lk;
  if (ct != y.dt) {
    LLVMValueRef i = kb_for_v(kb, &li, kb_idx(kb, 0), M, 1), j = kb_for(kb, &lj, N);
    LLVMValueRef acc = kb_var(kb, kb_ctype(kb, ct), kb_const(kb, ct, 0.0));
    LLVMValueRef k = kb_for(kb, &lk, K);
    LLVMValueRef p = kb_mul(kb, ct, kb_load(kb, a.dt, a.ptr, at(kb, &a, i, k)), kb_load(kb, b.dt, b.ptr, at(kb, &b, k, j)));
    kb_set(kb, acc, kb_add(kb, ct, kb_get(kb, kb_ctype(kb, ct), acc), p));
    kb_end_for(kb, &lk);
    LLVMValueRef r = kb_mul(kb, ct, kb_get(kb, kb_ctype(kb, ct), acc), kb_const(kb, ct, alpha));
    if (accumulate)
      r = kb_add(kb, ct, r, kb_load(kb, y.dt, y.ptr, at(kb, &y, i, j)));
    kb_store(kb, y.dt, y.ptr, at(kb, &y, i, j), r);
    kb_end_for(kb, &lj);
    kb_end_for(kb, &li);
    return;
  }
  LLVMValueRef i = kb_for_v(kb, &li, kb_idx(kb, 0), M, 1);
  if (!accumulate) {
    LLVMValueRef j = kb_for(kb, &lj, N);
    kb_store(kb, y.dt, y.ptr, at(kb, &y, i, j), kb_const(kb, ct, 0.0));
    kb_end_for(kb, &lj);
  }
  LLVMValueRef k = kb_for(kb, &lk, K);
  LLVMValueRef av = kb_load(kb, a.dt, a.ptr, at(kb, &a, i, k));
  if (alpha != 1.0)
    av = kb_mul(kb, ct, av, kb_const(kb, ct, alpha));
  LLVMValueRef j = kb_for(kb, &lj, N);
  LLVMValueRef yi = at(kb, &y, i, j);
  LLVMValueRef r = kb_fma(kb, ct, av, kb_load(kb, b.dt, b.ptr, at(kb, &b, k, j)), kb_load(kb, y.dt, y.ptr, yi));
  kb_store(kb, y.dt, y.ptr, yi, r);
  kb_end_for(kb, &lj);
  kb_end_for(kb, &lk);
  kb_end_for(kb, &li);
}

void infer_Gemm(Compiler *cc, Node *n) {
  if (widen_half(cc, n))
    return;
  const Shape *a = &n->in[0]->shape, *b = &n->in[1]->shape;
  if (n->in[1]->dynamic || (node_input(n, 2) && n->in[2]->dynamic))
    reject_dynamic(cc, n, n->in[1]->dynamic ? 1 : 2, "Gemm takes data-dependent rows of A only");
  if (n->in[0]->dynamic && attr_int(n, "transA", 0))
    reject_dynamic(cc, n, 0, "Gemm takes data-dependent rows of A only without transA");
  if (a->rank != 2 || b->rank != 2)
    fatal_at(cc, n, "A and B must be matrices, got %s and %s", shape_str(&cc->pool, a), shape_str(&cc->pool, b));
  bool ta = attr_int(n, "transA", 0), tb = attr_int(n, "transB", 0);
  int64_t M = a->dim[ta], K = a->dim[!ta], K2 = b->dim[tb], N = b->dim[!tb];
  if (K != K2)
    fatal_at(cc, n, "inner dimensions differ: %lld and %lld", (long long)K, (long long)K2);
  Shape y = {.rank = 2, .dim = {M, N}}, bc;
  Value *c = node_input(n, 2);
  if (c && (!broadcast_shapes(&c->shape, &y, &bc) || !shape_eq(&bc, &y)))
    fatal_at(cc, n, "C of shape %s does not broadcast to %s", shape_str(&cc->pool, &c->shape),
             shape_str(&cc->pool, &y));
  if (c && n->in[0]->dynamic && c->shape.rank == 2 && c->shape.dim[0] != 1)
    reject_dynamic(cc, n, 0, "with data-dependent rows of A, C must broadcast over the rows");
  set_output(n, 0, n->in[0]->dtype, y);
}

void dims_Gemm(KB *kb, const Node *n, RtShape *out) {
  out[0] = (RtShape){.rank = 2, .dim = {kb_in_shape(kb, 0).dim[0], kb_idx(kb, n->out[0]->shape.dim[1])}};
}

//
// The engine's operands: A (element (r, k) at rs/cs strides) and B (element (k, j)), each
// either constant data, packed now, or a run-time buffer. The engine needs B's columns
// contiguous when B is not constant.
//
typedef struct {
  Value *v;            // the operand
  LLVMValueRef ptr;    // its buffer at run time
  int64_t rs, cs;      // element strides of rows and columns
} Operand;

static bool all_f32(const Node *n) {
  for (int i = 0; i < n->nin; i++)
    if (n->in[i] && n->in[i]->dtype != DT_F32)
      return false;
  return n->out[0]->dtype == DT_F32;
}

static bool engine_takes(const Operand *b) { return b->v->data || b->cs == 1; }

// G's A, B and tile for the product of A [M x K] and B [K x N].
static void engine_operands(KB *kb, GemmArgs *g, const Operand *a, const Operand *b) {
  g->tile = gemm_choose_tile(kb->cc, g->M, g->N);
  if (a->v->data && !b->v->data) {
    g->a = gemm_constant(kb, gemm_pack_a(&kb->cc->pool, a->v->data, a->rs, a->cs, g->M, g->K, g->tile), g->M * g->K);
    g->a_packed = true;
  } else {
    g->a = a->ptr;
    g->a_rs = a->rs;
    g->a_cs = a->cs;
  }
  if (b->v->data) {
    int64_t count;
    float *packed = gemm_pack_b(&kb->cc->pool, b->v->data, b->rs, b->cs, g->K, g->N, g->tile, &count);
    g->b = gemm_constant(kb, packed, count);
    g->b_packed = true;
  } else {
    g->b = b->ptr;
    g->b_rs = b->rs;
  }
}

// Gemm's C as the engine's bias: a vector over N or over M (beta folded in when C is
// constant). Other shapes are first copied into Y (scaled by beta) and accumulated onto.
static GemmBias gemm_bias(KB *kb, Node *n, int64_t M, int64_t N, float beta, LLVMValueRef *bias) {
  Value *c = own_input(n, 2);
  const Shape *cs = &c->shape;
  int64_t numel = shape_numel(cs);
  bool per_col = numel == N && N > 1 && (cs->rank == 1 || cs->dim[0] == 1);
  bool per_row = numel == M && M > 1 && cs->rank == 2 && cs->dim[1] == 1;
  if (!per_col && !per_row)
    return GEMM_BIAS_NONE;
  if (c->data && beta != 1.0f) {
    float *scaled = pool_alloc(&kb->cc->pool, sizeof(float) * (size_t)numel);
    for (int64_t i = 0; i < numel; i++)
      scaled[i] = ((const float *)c->data)[i] * beta;
    *bias = gemm_constant(kb, scaled, numel);
  } else if (beta == 1.0f) {
    *bias = kb->in[2];
  } else {
    return GEMM_BIAS_NONE;
  }
  return per_col ? GEMM_BIAS_COL : GEMM_BIAS_ROW;
}

void lower_Gemm(KB *kb, Node *n) {
  const Shape *as = &n->in[0]->shape, *ys = &n->out[0]->shape;
  bool ta = attr_int(n, "transA", 0), tb = attr_int(n, "transB", 0);
  int64_t M = ys->dim[0], N = ys->dim[1], K = as->dim[!ta];
  LLVMValueRef rows = n->in[0]->dynamic ? kb_out_shape(kb, 0).dim[0] : NULL; // data-dependent rows of A
  DType dt = n->out[0]->dtype, ct = dtype_compute(dt);
  Operand oa = {n->in[0], kb->in[0], ta ? 1 : K, ta ? M : 1}, ob = {n->in[1], kb->in[1], tb ? 1 : N, tb ? K : 1};
  float beta0 = attr_float(n, "beta", 1.0f);
  bool has_c = own_input(n, 2) && beta0 != 0.0f;
  if (all_f32(n) && engine_takes(&ob) && M * N > 0 && K > 0) {
    GemmArgs g = {.M = M, .N = N, .K = K, .rows = rows, .c = kb->out[0], .c_rs = N, .alpha = attr_float(n, "alpha", 1.0f)};
    engine_operands(kb, &g, &oa, &ob);
    if (has_c)
      g.bias_kind = gemm_bias(kb, n, M, N, beta0, &g.bias);
    EpilogueMap map = {.host = n, .row_first = 0, .row_n = 1, .col_first = 1, .col_n = 1};
    epilogue_attach(&g, &map);
    if (!has_c || g.bias_kind != GEMM_BIAS_NONE) {
      gemm_emit(kb, &g);
      return;
    }
  }
  LLVMValueRef zero = kb_idx(kb, 0), Mv = rows ? rows : kb_idx(kb, M);
  MatRef a = {kb->in[0], zero, ta ? 1 : K, ta ? M : 1, dt};
  MatRef b = {kb->in[1], zero, tb ? 1 : N, tb ? K : 1, dt};
  MatRef y = {kb->out[0], zero, N, 1, dt};
  Value *c = own_input(n, 2);
  float beta = attr_float(n, "beta", 1.0f);
  if (c && beta != 0.0f) { // Y = beta * C, broadcast
    const Shape *cs = &c->shape;
    int64_t crs = cs->rank == 2 && cs->dim[0] != 1 ? cs->dim[1] : 0;
    int64_t ccs = cs->rank >= 1 && cs->dim[cs->rank - 1] != 1 ? 1 : 0;
    Loop li, lj;
    LLVMValueRef i = kb_for_v(kb, &li, zero, Mv, 1), j = kb_for(kb, &lj, N);
    LLVMValueRef ci = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, i, kb_idx(kb, crs), ""), LLVMBuildMul(kb->b, j, kb_idx(kb, ccs), ""), "");
    LLVMValueRef v = kb_mul(kb, ct, kb_load(kb, c->dtype, kb->in[2], ci), kb_const(kb, ct, beta));
    kb_store(kb, dt, y.ptr, at(kb, &y, i, j), v);
    kb_end_for(kb, &lj);
    kb_end_for(kb, &li);
  }
  emit_matmul(kb, a, b, y, Mv, N, K, attr_float(n, "alpha", 1.0f), c && beta != 0.0f);
  epilogue_apply_all(kb, n);
}

Shape matmul_shape(Compiler *cc, Node *n, const Shape *as, const Shape *bs) {
  Shape a = *as, b = *bs;
  if (a.rank == 0 || b.rank == 0)
    fatal_at(cc, n, "operands must have rank >= 1");
  bool a1 = a.rank == 1, b1 = b.rank == 1;
  if (a1)
    a = (Shape){.rank = 2, .dim = {1, a.dim[0]}};
  if (b1)
    b = (Shape){.rank = 2, .dim = {b.dim[0], 1}};
  if (a.dim[a.rank - 1] != b.dim[b.rank - 2])
    fatal_at(cc, n, "inner dimensions differ: %s and %s", shape_str(&cc->pool, as), shape_str(&cc->pool, bs));
  Shape ba = {.rank = a.rank - 2}, bb = {.rank = b.rank - 2}, y;
  for (int i = 0; i < ba.rank; i++)
    ba.dim[i] = a.dim[i];
  for (int i = 0; i < bb.rank; i++)
    bb.dim[i] = b.dim[i];
  if (!broadcast_shapes(&ba, &bb, &y))
    fatal_at(cc, n, "batch dimensions do not broadcast");
  if (!a1)
    y.dim[y.rank++] = a.dim[a.rank - 2];
  if (!b1)
    y.dim[y.rank++] = b.dim[b.rank - 1];
  return y;
}

void infer_MatMul(Compiler *cc, Node *n) {
  if (widen_half(cc, n))
    return;
  if (n->in[0]->dtype != n->in[1]->dtype)
    fatal_at(cc, n, "operand types differ");
  Shape a = n->in[0]->shape;
  const Shape *b = &n->in[1]->shape;
  if (n->in[1]->dynamic)
    reject_dynamic(cc, n, 1, "MatMul takes data-dependent dims of A only (B must be static)");
  if (n->in[0]->dynamic && b->rank > 2)
    reject_dynamic(cc, n, 0, "MatMul takes data-dependent dims of A only with a B of rank 1 or 2");
  if (a.rank > 0 && b->rank > 0 && (n->in[0]->dynamic & DYN_DIM(a.rank - 1)) && a.dim[a.rank - 1] >= b->dim[0])
    a.dim[a.rank - 1] = b->dim[0]; // K is B's: the model is valid only if A agrees at run time
  set_output(n, 0, n->in[0]->dtype, matmul_shape(cc, n, &a, b));
}

// A's batch and row dims (B is static, of rank 1 or 2), then B's columns.
void dims_MatMul(KB *kb, const Node *n, RtShape *out) {
  RtShape a = kb_in_shape(kb, 0);
  const Shape *b = &n->in[1]->shape;
  out[0].rank = 0;
  for (int d = 0; d + 1 < a.rank; d++)
    out[0].dim[out[0].rank++] = a.dim[d];
  if (b->rank == 2)
    out[0].dim[out[0].rank++] = kb_idx(kb, b->dim[1]);
}

// A of data-dependent shape times a static B ([K, N] or [K]): A's batch and row dims flatten
// into rows (compact, row-major), as many as there are at run time.
static void lower_matmul_rows(KB *kb, Node *n) {
  const Shape *bs = &n->in[1]->shape;
  int64_t K = bs->dim[0], N = bs->rank == 2 ? bs->dim[1] : 1, M = K ? shape_numel(&n->in[0]->shape) / K : 0;
  RtShape as = kb_in_shape(kb, 0);
  LLVMValueRef rows = K ? kb_min(kb, DT_I64, LLVMBuildUDiv(kb->b, kb_numel(kb, &as), kb_idx(kb, K), ""), kb_idx(kb, M))
                        : kb_idx(kb, 0);
  if (all_f32(n) && M * N > 0 && K > 0) {
    GemmArgs g = {.M = M, .N = N, .K = K, .rows = rows, .c = kb->out[0], .c_rs = N, .alpha = 1.0};
    Operand oa = {n->in[0], kb->in[0], K, 1}, ob = {n->in[1], kb->in[1], N, 1};
    engine_operands(kb, &g, &oa, &ob);
    gemm_emit(kb, &g);
    return;
  }
  DType dt = n->out[0]->dtype;
  LLVMValueRef zero = kb_idx(kb, 0);
  MatRef a = {kb->in[0], zero, K, 1, dt}, b = {kb->in[1], zero, N, 1, dt}, y = {kb->out[0], zero, N, 1, dt};
  emit_matmul(kb, a, b, y, rows, N, K, 1.0, false);
}

// Element strides of each batch dim of an operand broadcast to the output batch shape.
static void batch_strides(const Shape *op, int op_batch_rank, int64_t matrix, const Shape *batch, int64_t *st) {
  int64_t acc = matrix;
  for (int d = batch->rank - 1; d >= 0; d--) {
    int od = d - (batch->rank - op_batch_rank);
    int64_t dim = od >= 0 ? op->dim[od] : 1;
    st[d] = dim == 1 ? 0 : acc;
    acc *= dim;
  }
}

MatMulGeom matmul_geometry(const Shape *as, const Shape *bs) {
  MatMulGeom m = {.M = as->rank == 1 ? 1 : as->dim[as->rank - 2], .K = as->dim[as->rank - 1],
                  .N = bs->rank == 1 ? 1 : bs->dim[bs->rank - 1]};
  int abr = as->rank > 2 ? as->rank - 2 : 0, bbr = bs->rank > 2 ? bs->rank - 2 : 0;
  Shape ab = {.rank = abr}, bb = {.rank = bbr};
  for (int i = 0; i < abr; i++)
    ab.dim[i] = as->dim[i];
  for (int i = 0; i < bbr; i++)
    bb.dim[i] = bs->dim[i];
  broadcast_shapes(&ab, &bb, &m.batch);
  batch_strides(&ab, abr, m.M * m.K, &m.batch, m.a_st);
  batch_strides(&bb, bbr, m.K * m.N, &m.batch, m.b_st);
  batch_strides(&m.batch, m.batch.rank, m.M * m.N, &m.batch, m.y_st);
  return m;
}

// f32 MatMul on the engine. A constant B shared by every batch is packed once; when A's
// batches are contiguous too, they are one product with batch*M rows.
static void lower_matmul_engine(KB *kb, Node *n, const MatMulGeom *mg) {
  const Shape *batch = &mg->batch;
  const int64_t *ast = mg->a_st, *bst = mg->b_st, *yst = mg->y_st;
  int64_t M = mg->M, N = mg->N, K = mg->K, nb = shape_numel(batch);
  bool b_shared = true, a_flat = true;
  for (int d = 0; d < batch->rank; d++) {
    b_shared &= bst[d] == 0 || batch->dim[d] == 1;
    a_flat &= ast[d] == yst[d] / N * K || batch->dim[d] == 1;
  }
  if (n->in[1]->data && b_shared && a_flat) { // one product of nb*M rows
    M *= nb;
    nb = 1;
  }
  Operand oa = {n->in[0], kb->in[0], K, 1}, ob = {n->in[1], kb->in[1], N, 1};
  GemmArgs g = {.M = M, .N = N, .K = K, .c = kb->out[0], .c_rs = N, .alpha = 1.0};
  // Output dims: the batch, then M unless A is a vector, then N unless B is.
  bool a_vec = n->in[0]->shape.rank == 1, b_vec = n->in[1]->shape.rank == 1;
  EpilogueMap map = {.host = n, .row_first = nb > 1 ? batch->rank : 0, .row_n = (nb > 1 ? 0 : batch->rank) + !a_vec,
                     .col_first = batch->rank + !a_vec, .col_n = !b_vec};
  epilogue_attach(&g, &map);
  Value a_now = *n->in[0], b_now = *n->in[1]; // data pointers are per batch below
  if (nb > 1 && !b_shared)
    b_now.data = NULL; // a constant B that differs per batch is read in place
  if (nb > 1)
    a_now.data = NULL;
  oa.v = &a_now;
  ob.v = &b_now;
  if (nb == 1) {
    engine_operands(kb, &g, &oa, &ob);
    gemm_emit(kb, &g);
    return;
  }
  Loop loops[MAX_RANK];
  LLVMValueRef idx[MAX_RANK];
  kb_for_shape(kb, loops, batch, idx);
  oa.ptr = kb_gep(kb, DT_F32, kb->in[0], kb_flat_strided(kb, batch->rank, ast, idx));
  ob.ptr = kb_gep(kb, DT_F32, kb->in[1], kb_flat_strided(kb, batch->rank, bst, idx));
  g.c = kb_gep(kb, DT_F32, kb->out[0], kb_flat_strided(kb, batch->rank, yst, idx));
  for (int d = 0; d < batch->rank; d++)
    map.fixed[d] = idx[d];
  engine_operands(kb, &g, &oa, &ob);
  gemm_emit(kb, &g);
  kb_end_for_shape(kb, loops, batch);
}

void lower_MatMul(KB *kb, Node *n) {
  if (n->in[0]->dynamic) {
    lower_matmul_rows(kb, n);
    return;
  }
  DType dt = n->out[0]->dtype;
  MatMulGeom g = matmul_geometry(&n->in[0]->shape, &n->in[1]->shape);
  if (all_f32(n) && g.M * g.N > 0 && g.K > 0) {
    lower_matmul_engine(kb, n, &g);
    return;
  }
  Loop loops[MAX_RANK];
  LLVMValueRef idx[MAX_RANK];
  kb_for_shape(kb, loops, &g.batch, idx);
  MatRef a = {kb->in[0], kb_flat_strided(kb, g.batch.rank, g.a_st, idx), g.K, 1, dt};
  MatRef b = {kb->in[1], kb_flat_strided(kb, g.batch.rank, g.b_st, idx), g.N, 1, dt};
  MatRef y = {kb->out[0], kb_flat_strided(kb, g.batch.rank, g.y_st, idx), g.N, 1, dt};
  emit_matmul(kb, a, b, y, kb_idx(kb, g.M), g.N, g.K, 1.0, false);
  kb_end_for_shape(kb, loops, &g.batch);
  epilogue_apply_all(kb, n);
}
