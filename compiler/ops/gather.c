// gather.c — element- and slice-wise indexing with run-time indices: GatherElements,
// GatherND, Scatter/ScatterElements and ScatterND (with their reductions). Indices are
// wrapped when negative and clamped into range, so a bad index cannot touch memory outside
// the tensors. Every lowering reads its shapes at run time (kb_in_shape), so data and indices
// may have data-dependent shapes (NonZero -> Transpose -> GatherND).
#include "../compiler.h"
#include "ops.h"

#include <string.h>

static int get_axis(Compiler *cc, const Node *n) {
  return norm_axis(cc, n, attr_int(n, "axis", 0), n->in[0]->shape.rank);
}

static void check_index_type(Compiler *cc, Node *n, int i) {
  DType t = n->in[i]->dtype;
  if (t != DT_I32 && t != DT_I64)
    fatal_at(cc, n, "indices of type %s are not supported (int32 or int64)", dtype_onnx_name(t));
}

//
// GatherElements: out[i] = data[i with i[axis] replaced by indices[i]]; out has the indices' shape.
//
void infer_GatherElements(Compiler *cc, Node *n) {
  const Shape *data = &n->in[0]->shape, *ind = &n->in[1]->shape;
  int axis = get_axis(cc, n);
  check_index_type(cc, n, 1);
  if (ind->rank != data->rank)
    fatal_at(cc, n, "indices have rank %d, the data %d", ind->rank, data->rank);
  bool bounds = n->in[0]->dynamic || n->in[1]->dynamic; // only known at run time
  for (int d = 0; d < data->rank; d++)
    if (d != axis && ind->dim[d] > data->dim[d] && !bounds)
      fatal_at(cc, n, "indices dim %d (%lld) exceeds the data's (%lld)", d, (long long)ind->dim[d],
               (long long)data->dim[d]);
  set_output(n, 0, n->in[0]->dtype, *ind);
}

void dims_GatherElements(KB *kb, const Node *n, RtShape *out) {
  (void)n;
  out[0] = kb_in_shape(kb, 1);
}

void lower_GatherElements(KB *kb, Node *n) {
  int axis = get_axis(kb->cc, n);
  RtShape data = kb_in_shape(kb, 0), ind = kb_in_shape(kb, 1);
  LLVMValueRef dst[MAX_RANK], sst[MAX_RANK], idx[MAX_RANK];
  kb_strides(kb, &ind, dst);
  kb_strides(kb, &data, sst);
  Loop loops[MAX_RANK];
  kb_for_rt(kb, loops, &ind, idx);
  LLVMValueRef pos = kb_dot(kb, ind.rank, idx, dst);
  LLVMValueRef src_idx[MAX_RANK];
  memcpy(src_idx, idx, sizeof idx);
  src_idx[axis] = index_at(kb, n->in[1]->dtype, kb->in[1], pos, data.dim[axis]);
  copy_element(kb, n->in[0]->dtype, kb->out[0], pos, kb->in[0], kb_dot(kb, data.rank, src_idx, sst));
  kb_end_for_rt(kb, loops, &ind);
}

//
// GatherND: the last dim of the indices (k) addresses data dims batch_dims..batch_dims+k-1;
// each index tuple selects a slice of the remaining data dims.
//
typedef struct {
  int batch;  // batch_dims
  int k;      // index tuple length
} NDParams;

static NDParams nd_params(Compiler *cc, Node *n, int batch) {
  const Shape *data = &n->in[0]->shape, *ind = &n->in[1]->shape;
  NDParams p = {.batch = batch};
  if (ind->rank < 1)
    fatal_at(cc, n, "indices must have rank >= 1");
  p.k = (int)ind->dim[ind->rank - 1];
  if (batch < 0 || batch >= ind->rank || batch >= data->rank)
    fatal_at(cc, n, "batch_dims %d is out of range", batch);
  if (p.k < 1 || batch + p.k > data->rank)
    fatal_at(cc, n, "index tuples of length %d do not fit data of rank %d after %d batch dims", p.k,
             data->rank, batch);
  for (int d = 0; d < batch && !n->in[0]->dynamic && !n->in[1]->dynamic; d++)
    if (ind->dim[d] != data->dim[d])
      fatal_at(cc, n, "batch dim %d differs between data (%lld) and indices (%lld)", d,
               (long long)data->dim[d], (long long)ind->dim[d]);
  return p;
}

void infer_GatherND(Compiler *cc, Node *n) {
  const Shape *data = &n->in[0]->shape, *ind = &n->in[1]->shape;
  check_index_type(cc, n, 1);
  NDParams *p = pool_alloc(&cc->pool, sizeof(NDParams));
  *p = nd_params(cc, n, (int)attr_int(n, "batch_dims", 0));
  Shape s = {.rank = ind->rank - 1 + data->rank - p->batch - p->k};
  if (s.rank > MAX_RANK)
    fatal_at(cc, n, "result rank %d exceeds the supported %d", s.rank, MAX_RANK);
  int r = 0;
  for (int d = 0; d < ind->rank - 1; d++)
    s.dim[r++] = ind->dim[d];
  for (int d = p->batch + p->k; d < data->rank; d++)
    s.dim[r++] = data->dim[d];
  n->priv = p;
  set_output(n, 0, n->in[0]->dtype, s);
}

// The data offset an index tuple addresses: batch indices, then the k clamped indices read
// from row POS of the indices (viewed as [positions, k]).
static LLVMValueRef tuple_offset(KB *kb, const NDParams *p, DType it, LLVMValueRef ind, LLVMValueRef pos,
                                 const RtShape *data, const LLVMValueRef *dst, const LLVMValueRef *batch_idx) {
  LLVMValueRef off = kb_dot(kb, p->batch, batch_idx, dst);
  for (int j = 0; j < p->k; j++) {
    LLVMValueRef at = LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, pos, kb_idx(kb, p->k), ""), kb_idx(kb, j), "");
    LLVMValueRef i = index_at(kb, it, ind, at, data->dim[p->batch + j]);
    off = LLVMBuildNSWAdd(kb->b, off, LLVMBuildNSWMul(kb->b, i, dst[p->batch + j], ""), "");
  }
  return off;
}

// Elements of one addressed slice: the data dims after the indexed ones.
static LLVMValueRef slice_size(KB *kb, const NDParams *p, const RtShape *data) {
  LLVMValueRef inner = kb_idx(kb, 1);
  for (int d = p->batch + p->k; d < data->rank; d++)
    inner = LLVMBuildNSWMul(kb->b, inner, data->dim[d], "");
  return inner;
}

// Loops over the index tuples (all index dims but the last); returns the tuple's position.
static LLVMValueRef for_tuples(KB *kb, Loop *loops, const RtShape *ind, LLVMValueRef *idx) {
  RtShape outer = *ind;
  outer.rank--;
  kb_for_rt(kb, loops, &outer, idx);
  LLVMValueRef st[MAX_RANK];
  kb_strides(kb, &outer, st);
  return kb_dot(kb, outer.rank, idx, st);
}

static void end_tuples(KB *kb, Loop *loops, const RtShape *ind) {
  RtShape outer = *ind;
  outer.rank--;
  kb_end_for_rt(kb, loops, &outer);
}

void dims_GatherND(KB *kb, const Node *n, RtShape *out) {
  const NDParams *p = n->priv;
  RtShape data = kb_in_shape(kb, 0), ind = kb_in_shape(kb, 1);
  out[0].rank = 0;
  for (int d = 0; d < ind.rank - 1; d++)
    out[0].dim[out[0].rank++] = ind.dim[d];
  for (int d = p->batch + p->k; d < data.rank; d++)
    out[0].dim[out[0].rank++] = data.dim[d];
}

void lower_GatherND(KB *kb, Node *n) {
  const NDParams *p = n->priv;
  RtShape data = kb_in_shape(kb, 0), ind = kb_in_shape(kb, 1);
  LLVMValueRef dst[MAX_RANK], idx[MAX_RANK];
  kb_strides(kb, &data, dst);
  LLVMValueRef inner = slice_size(kb, p, &data);
  Loop loops[MAX_RANK], li;
  LLVMValueRef pos = for_tuples(kb, loops, &ind, idx);
  LLVMValueRef src = tuple_offset(kb, p, n->in[1]->dtype, kb->in[1], pos, &data, dst, idx);
  LLVMValueRef base = LLVMBuildNSWMul(kb->b, pos, inner, "");
  LLVMValueRef i = kb_for_v(kb, &li, kb_idx(kb, 0), inner, 1);
  copy_element(kb, n->in[0]->dtype, kb->out[0], LLVMBuildNSWAdd(kb->b, base, i, ""), kb->in[0],
               LLVMBuildNSWAdd(kb->b, src, i, ""));
  kb_end_for(kb, &li);
  end_tuples(kb, loops, &ind);
}

//
// Scatter (opset 9-10), ScatterElements, ScatterND: the output starts as a copy of the data,
// then each update is combined into the addressed element in order (reduction: none, add,
// mul since opset 16, max and min since 18).
//
typedef enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN } Reduction;

static Reduction get_reduction(Compiler *cc, Node *n) {
  static const char *names[] = {"none", "add", "mul", "max", "min"};
  const char *r = attr_string(n, "reduction", "none");
  for (int i = 0; i < countof(names); i++)
    if (!strcmp(r, names[i]))
      return (Reduction)i;
  fatal_at(cc, n, "reduction '%s' is not supported", r);
}

static void scatter_common(Compiler *cc, Node *n) {
  check_index_type(cc, n, 1);
  if (n->in[2]->dtype != n->in[0]->dtype)
    fatal_at(cc, n, "updates are %s, the data %s", dtype_onnx_name(n->in[2]->dtype), dtype_onnx_name(n->in[0]->dtype));
  Reduction r = get_reduction(cc, n);
  if (r != RED_NONE && n->in[0]->dtype == DT_STRING) // strings are copied, never combined
    fatal_at(cc, n, "input 0 ('%s') is a string tensor: not supported with reduction '%s'", n->in[0]->name,
             attr_string(n, "reduction", "none"));
  set_output(n, 0, n->in[0]->dtype, n->in[0]->shape);
}

static void combine(KB *kb, Reduction r, DType dt, LLVMValueRef out, LLVMValueRef at, LLVMValueRef upd,
                    LLVMValueRef upd_at) {
  if (r == RED_NONE) {
    copy_element(kb, dt, out, at, upd, upd_at);
    return;
  }
  DType ct = dtype_compute(dt);
  LLVMValueRef a = kb_load(kb, dt, out, at), b = kb_load(kb, dt, upd, upd_at), v;
  bool boolean = dt == DT_BOOL; // add/mul of booleans: or/and
  switch (r) {
  case RED_ADD: v = boolean ? LLVMBuildOr(kb->b, a, b, "") : kb_add(kb, ct, a, b); break;
  case RED_MUL: v = boolean ? LLVMBuildAnd(kb->b, a, b, "") : kb_mul(kb, ct, a, b); break;
  case RED_MAX: v = boolean ? LLVMBuildOr(kb->b, a, b, "") : kb_max(kb, ct, a, b); break;
  default: v = boolean ? LLVMBuildAnd(kb->b, a, b, "") : kb_min(kb, ct, a, b); break;
  }
  kb_store(kb, dt, out, at, v);
}

// The output starts as the data; its shape is the data's (dims_same).
static RtShape copy_data(KB *kb, Node *n) {
  RtShape data = kb_in_shape(kb, 0);
  LLVMValueRef bytes = LLVMBuildNSWMul(kb->b, kb_numel(kb, &data), kb_idx(kb, kb_sizeof(kb, n->in[0]->dtype)), "");
  LLVMBuildMemCpy(kb->b, kb->out[0], 1, kb->in[0], 1, bytes);
  return data;
}

void infer_ScatterElements(Compiler *cc, Node *n) {
  const Shape *data = &n->in[0]->shape, *ind = &n->in[1]->shape, *upd = &n->in[2]->shape;
  get_axis(cc, n);
  if (ind->rank != data->rank || !shape_eq(ind, upd))
    fatal_at(cc, n, "indices (%s) and updates (%s) must have the same shape and the data's rank (%d)",
             shape_str(&cc->pool, ind), shape_str(&cc->pool, upd), data->rank);
  scatter_common(cc, n);
}

void lower_ScatterElements(KB *kb, Node *n) {
  int axis = get_axis(kb->cc, n);
  Reduction r = get_reduction(kb->cc, n);
  RtShape data = copy_data(kb, n), ind = kb_in_shape(kb, 1);
  LLVMValueRef ist[MAX_RANK], dst[MAX_RANK], idx[MAX_RANK], at[MAX_RANK];
  kb_strides(kb, &ind, ist);
  kb_strides(kb, &data, dst);
  Loop loops[MAX_RANK];
  kb_for_rt(kb, loops, &ind, idx);
  LLVMValueRef pos = kb_dot(kb, ind.rank, idx, ist);
  memcpy(at, idx, sizeof idx);
  at[axis] = index_at(kb, n->in[1]->dtype, kb->in[1], pos, data.dim[axis]);
  combine(kb, r, n->in[0]->dtype, kb->out[0], kb_dot(kb, data.rank, at, dst), kb->in[2], pos);
  kb_end_for_rt(kb, loops, &ind);
}

void infer_ScatterND(Compiler *cc, Node *n) {
  const Shape *data = &n->in[0]->shape, *ind = &n->in[1]->shape, *upd = &n->in[2]->shape;
  NDParams *p = pool_alloc(&cc->pool, sizeof(NDParams));
  *p = nd_params(cc, n, 0);
  Shape want = {.rank = ind->rank - 1 + data->rank - p->k};
  for (int d = 0; d < ind->rank - 1; d++)
    want.dim[d] = ind->dim[d];
  for (int d = p->k; d < data->rank; d++)
    want.dim[ind->rank - 1 + d - p->k] = data->dim[d];
  if (!shape_eq(&want, upd) && !n->in[1]->dynamic)
    fatal_at(cc, n, "updates have shape %s, expected %s", shape_str(&cc->pool, upd), shape_str(&cc->pool, &want));
  n->priv = p;
  scatter_common(cc, n);
}

void lower_ScatterND(KB *kb, Node *n) {
  const NDParams *p = n->priv;
  Reduction r = get_reduction(kb->cc, n);
  RtShape data = copy_data(kb, n), ind = kb_in_shape(kb, 1);
  LLVMValueRef dst[MAX_RANK], idx[MAX_RANK];
  kb_strides(kb, &data, dst);
  LLVMValueRef inner = slice_size(kb, p, &data);
  Loop loops[MAX_RANK], li;
  LLVMValueRef pos = for_tuples(kb, loops, &ind, idx);
  LLVMValueRef at = tuple_offset(kb, p, n->in[1]->dtype, kb->in[1], pos, &data, dst, idx);
  LLVMValueRef base = LLVMBuildNSWMul(kb->b, pos, inner, "");
  LLVMValueRef i = kb_for_v(kb, &li, kb_idx(kb, 0), inner, 1);
  combine(kb, r, n->in[0]->dtype, kb->out[0], LLVMBuildNSWAdd(kb->b, at, i, ""), kb->in[2],
          LLVMBuildNSWAdd(kb->b, base, i, ""));
  kb_end_for(kb, &li);
  end_tuples(kb, loops, &ind);
}
