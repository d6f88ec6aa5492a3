// copy.c — data movement that is an affine map from output to input indices: Transpose,
// Slice, Concat, Split, Expand, Tile, DepthToSpace/SpaceToDepth. All of them lower to
// copy_strided, one loop nest whose contiguous dims are merged; plus Pad, Gather and
// ReverseSequence, whose source indices depend on data. Transpose, Slice, Concat, Split,
// Expand, Tile, Pad and Gather compute their maps from run-time dims (kb_in_shape), so they
// take inputs of data-dependent shape; with static shapes the same code folds to constants.
#include "../compiler.h"
#include "ops.h"

#include <string.h>

#define MAX_NEST (2 * MAX_RANK)

static void contiguous_strides(const Shape *s, int64_t *st) {
  int64_t acc = 1;
  for (int d = s->rank - 1; d >= 0; d--) {
    st[d] = acc;
    acc *= s->dim[d];
  }
}

void copy_strided(KB *kb, DType dt, LLVMValueRef dst, int64_t dst_off, LLVMValueRef src,
                  int64_t src_off, int rank, const int64_t *dims, const int64_t *dst_st,
                  const int64_t *src_st) {
  int64_t dim[MAX_NEST] = {0}, ds[MAX_NEST] = {0}, ss[MAX_NEST] = {0};
  int r = 0;
  for (int d = 0; d < rank; d++) {
    if (dims[d] == 0)
      return;
    if (dims[d] == 1)
      continue;
    if (r > 0 && ds[r - 1] == dst_st[d] * dims[d] && ss[r - 1] == src_st[d] * dims[d]) {
      dim[r - 1] *= dims[d];
      ds[r - 1] = dst_st[d];
      ss[r - 1] = src_st[d];
      continue;
    }
    dim[r] = dims[d], ds[r] = dst_st[d], ss[r] = src_st[d];
    r++;
  }
  Loop loops[MAX_NEST];
  LLVMValueRef idx[MAX_NEST];
  for (int d = 0; d < r; d++)
    idx[d] = kb_for(kb, &loops[d], dim[d]);
  LLVMValueRef so = LLVMBuildNSWAdd(kb->b, kb_idx(kb, src_off), kb_flat_strided(kb, r, ss, idx), "");
  LLVMValueRef dof = LLVMBuildNSWAdd(kb->b, kb_idx(kb, dst_off), kb_flat_strided(kb, r, ds, idx), "");
  // Copy the storage bits: no conversion, so NaN payloads and f16 bits survive.
  LLVMValueRef v = LLVMBuildLoad2(kb->b, kb_type(kb, dt), kb_gep(kb, dt, src, so), "");
  LLVMBuildStore(kb->b, v, kb_gep(kb, dt, dst, dof));
  for (int d = r - 1; d >= 0; d--)
    kb_end_for(kb, &loops[d]);
}

void copy_strided_rt(KB *kb, DType dt, LLVMValueRef dst, LLVMValueRef dst_off, LLVMValueRef src, LLVMValueRef src_off,
                     int rank, const LLVMValueRef *dims, const LLVMValueRef *dst_st, const LLVMValueRef *src_st) {
  int64_t cd[MAX_NEST], cds[MAX_NEST], css[MAX_NEST];
  bool constant = LLVMIsAConstantInt(dst_off) && LLVMIsAConstantInt(src_off);
  for (int d = 0; d < rank && constant; d++) {
    constant = LLVMIsAConstantInt(dims[d]) && LLVMIsAConstantInt(dst_st[d]) && LLVMIsAConstantInt(src_st[d]);
    if (constant)
      cd[d] = LLVMConstIntGetSExtValue(dims[d]), cds[d] = LLVMConstIntGetSExtValue(dst_st[d]),
      css[d] = LLVMConstIntGetSExtValue(src_st[d]);
  }
  if (constant) {
    copy_strided(kb, dt, dst, LLVMConstIntGetSExtValue(dst_off), src, LLVMConstIntGetSExtValue(src_off), rank, cd, cds, css);
    return;
  }
  Loop loops[MAX_NEST];
  LLVMValueRef idx[MAX_NEST];
  for (int d = 0; d < rank; d++)
    idx[d] = kb_for_v(kb, &loops[d], kb_idx(kb, 0), dims[d], 1);
  copy_element(kb, dt, dst, LLVMBuildNSWAdd(kb->b, dst_off, kb_dot(kb, rank, idx, dst_st), ""), src,
               LLVMBuildNSWAdd(kb->b, src_off, kb_dot(kb, rank, idx, src_st), ""));
  for (int d = rank - 1; d >= 0; d--)
    kb_end_for(kb, &loops[d]);
}

//
// Transpose
//
static void get_perm(Compiler *cc, const Node *n, int rank, int *perm) {
  const int64_t *p;
  int count = attr_ints(n, "perm", &p);
  bool seen[MAX_RANK] = {0};
  for (int i = 0; i < rank; i++) {
    perm[i] = count < 0 ? rank - 1 - i : (int)p[i];
    if (count >= 0 && (count != rank || p[i] < 0 || p[i] >= rank || seen[p[i]]))
      fatal_at(cc, n, "perm is not a permutation of %d axes", rank);
    seen[perm[i]] = true;
  }
}

void infer_Transpose(Compiler *cc, Node *n) {
  const Shape *in = &n->in[0]->shape;
  int perm[MAX_RANK];
  get_perm(cc, n, in->rank, perm);
  Shape s = {.rank = in->rank};
  for (int i = 0; i < in->rank; i++)
    s.dim[i] = in->dim[perm[i]];
  set_output(n, 0, n->in[0]->dtype, s);
}

void dims_Transpose(KB *kb, const Node *n, RtShape *out) {
  RtShape in = kb_in_shape(kb, 0);
  int perm[MAX_RANK];
  get_perm(kb->cc, n, in.rank, perm);
  out[0].rank = in.rank;
  for (int i = 0; i < in.rank; i++)
    out[0].dim[i] = in.dim[perm[i]];
}

void lower_Transpose(KB *kb, Node *n) {
  RtShape in = kb_in_shape(kb, 0), out = kb_out_shape(kb, 0);
  int perm[MAX_RANK];
  get_perm(kb->cc, n, in.rank, perm);
  LLVMValueRef ist[MAX_RANK], ost[MAX_RANK], sst[MAX_RANK];
  kb_strides(kb, &in, ist);
  kb_strides(kb, &out, ost);
  for (int i = 0; i < in.rank; i++)
    sst[i] = ist[perm[i]];
  copy_strided_rt(kb, n->in[0]->dtype, kb->out[0], kb_idx(kb, 0), kb->in[0], kb_idx(kb, 0), out.rank, out.dim, ost, sst);
}

//
// Concat / Split
//
void infer_Concat(Compiler *cc, Node *n) {
  const Shape *first = &n->in[0]->shape;
  int axis = norm_axis(cc, n, attr_int(n, "axis", 0), first->rank);
  Shape s = *first;
  s.dim[axis] = 0;
  for (int i = 0; i < n->nin; i++) {
    const Shape *si = &n->in[i]->shape;
    if (si->rank != first->rank || n->in[i]->dtype != n->in[0]->dtype)
      fatal_at(cc, n, "input %d does not match input 0 in rank or type", i);
    for (int d = 0; d < s.rank; d++) // data-dependent dims must agree at run time
      if (d != axis && si->dim[d] != first->dim[d] && !((n->in[i]->dynamic | n->in[0]->dynamic) & DYN_DIM(d)))
        fatal_at(cc, n, "input %d has shape %s, input 0 %s", i, shape_str(&cc->pool, si),
                 shape_str(&cc->pool, first));
    s.dim[axis] += si->dim[axis];
  }
  set_output(n, 0, n->in[0]->dtype, s);
}

static int concat_axis(Compiler *cc, const Node *n) {
  return norm_axis(cc, n, attr_int(n, "axis", 0), n->in[0]->shape.rank);
}

void dims_Concat(KB *kb, const Node *n, RtShape *out) {
  int axis = concat_axis(kb->cc, n);
  out[0] = kb_in_shape(kb, 0);
  for (int i = 1; i < n->nin; i++)
    out[0].dim[axis] = LLVMBuildNSWAdd(kb->b, out[0].dim[axis], kb_in_shape(kb, i).dim[axis], "");
}

void lower_Concat(KB *kb, Node *n) {
  int axis = concat_axis(kb->cc, n);
  RtShape out = kb_out_shape(kb, 0);
  LLVMValueRef ost[MAX_RANK], ist[MAX_RANK], offset = kb_idx(kb, 0);
  kb_strides(kb, &out, ost);
  for (int i = 0; i < n->nin; i++) {
    RtShape in = kb_in_shape(kb, i), part = in;
    for (int d = 0; d < in.rank; d++) // within the output where the inputs disagree
      if (d != axis)
        part.dim[d] = kb_min(kb, DT_I64, in.dim[d], out.dim[d]);
    kb_strides(kb, &in, ist);
    copy_strided_rt(kb, n->out[0]->dtype, kb->out[0], LLVMBuildNSWMul(kb->b, offset, ost[axis], ""), kb->in[i],
                    kb_idx(kb, 0), in.rank, part.dim, ost, ist);
    offset = LLVMBuildNSWAdd(kb->b, offset, in.dim[axis], "");
  }
}

// Split sizes: the 'split' attribute (< 13) or input (>= 13), else equal parts
// (num_outputs since 18, the last part smaller). Returns whether they were given.
static bool split_sizes(Compiler *cc, Node *n, int axis, int64_t *sizes) {
  const Shape *in = &n->in[0]->shape;
  const int64_t *a;
  int count = -1;
  Value *sv = n->opset >= 13 ? node_input(n, 1) : NULL;
  bool dynamic = n->in[0]->dynamic & DYN_DIM(axis);
  if (sv) {
    need_const(cc, n, 1);
    count = (int)shape_numel(&sv->shape);
    if (count != n->nout)
      fatal_at(cc, n, "split has %d sizes for %d outputs", count, n->nout);
    for (int i = 0; i < count; i++)
      sizes[i] = value_int(sv, i);
  } else if (n->opset < 13 && (count = attr_ints(n, "split", &a)) >= 0) {
    if (count != n->nout)
      fatal_at(cc, n, "split has %d sizes for %d outputs", count, n->nout);
    for (int i = 0; i < count; i++)
      sizes[i] = a[i];
  } else {
    int64_t parts = n->nout, total = in->dim[axis];
    int64_t chunk = (total + parts - 1) / parts;
    for (int i = 0; i < n->nout; i++) { // a data-dependent axis: each part's bound is a chunk
      int64_t left = total - chunk * i;
      sizes[i] = dynamic ? chunk : left < 0 ? 0 : left < chunk ? left : chunk;
    }
    return false;
  }
  int64_t sum = 0;
  for (int i = 0; i < n->nout; i++)
    sum += sizes[i];
  if (sum != in->dim[axis] && !(dynamic && sum <= in->dim[axis])) // the sizes bound a data-dependent axis
    fatal_at(cc, n, "split sizes add up to %lld, the axis has %lld", (long long)sum, (long long)in->dim[axis]);
  return true;
}

typedef struct {
  int axis;
  bool given;     // sizes given: the parts have them; else equal parts of the run-time axis
  int64_t *sizes; // per output
} SplitPlan;

void infer_Split(Compiler *cc, Node *n) {
  const Shape *in = &n->in[0]->shape;
  SplitPlan *p = pool_alloc(&cc->pool, sizeof(SplitPlan));
  p->axis = norm_axis(cc, n, attr_int(n, "axis", 0), in->rank);
  p->sizes = pool_alloc(&cc->pool, sizeof(int64_t) * (size_t)n->nout);
  p->given = split_sizes(cc, n, p->axis, p->sizes);
  n->priv = p;
  for (int i = 0; i < n->nout; i++) {
    Shape s = *in;
    s.dim[p->axis] = p->sizes[i];
    set_output(n, i, n->in[0]->dtype, s);
  }
}

// Part I's offset and length along the axis of run-time length LEN.
static void split_part(KB *kb, const Node *n, LLVMValueRef len, int i, LLVMValueRef *offset, LLVMValueRef *size) {
  const SplitPlan *p = n->priv;
  if (p->given) {
    int64_t off = 0;
    for (int j = 0; j < i; j++)
      off += p->sizes[j];
    *offset = kb_idx(kb, off), *size = kb_idx(kb, p->sizes[i]);
    return;
  }
  LLVMValueRef parts = kb_idx(kb, n->nout);
  LLVMValueRef chunk = LLVMBuildSDiv(kb->b, LLVMBuildNSWAdd(kb->b, len, LLVMBuildNSWSub(kb->b, parts, kb_idx(kb, 1), ""), ""), parts, "");
  *offset = LLVMBuildNSWMul(kb->b, chunk, kb_idx(kb, i), "");
  *size = kb_max(kb, DT_I64, kb_min(kb, DT_I64, LLVMBuildNSWSub(kb->b, len, *offset, ""), chunk), kb_idx(kb, 0));
}

void dims_Split(KB *kb, const Node *n, RtShape *out) {
  const SplitPlan *p = n->priv;
  RtShape in = kb_in_shape(kb, 0);
  for (int i = 0; i < n->nout; i++) {
    LLVMValueRef offset;
    out[i] = in;
    split_part(kb, n, in.dim[p->axis], i, &offset, &out[i].dim[p->axis]);
  }
}

void lower_Split(KB *kb, Node *n) {
  const SplitPlan *p = n->priv;
  RtShape in = kb_in_shape(kb, 0);
  LLVMValueRef ist[MAX_RANK], ost[MAX_RANK];
  kb_strides(kb, &in, ist);
  for (int i = 0; i < n->nout; i++) {
    if (!n->out[i])
      continue;
    RtShape out = kb_out_shape(kb, i);
    LLVMValueRef offset, size;
    split_part(kb, n, in.dim[p->axis], i, &offset, &size);
    kb_strides(kb, &out, ost);
    copy_strided_rt(kb, n->in[0]->dtype, kb->out[i], kb_idx(kb, 0), kb->in[0], LLVMBuildNSWMul(kb->b, offset, ist[p->axis], ""),
                    out.rank, out.dim, ost, ist);
  }
}

//
// Slice: starts/ends/axes/steps as attributes (< 10) or inputs (>= 10).
//
typedef struct {
  bool sliced[MAX_RANK];
  int64_t start[MAX_RANK], end[MAX_RANK], step[MAX_RANK]; // as given
} SliceParams;

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

void infer_Slice(Compiler *cc, Node *n) {
  const Shape *in = &n->in[0]->shape;
  int64_t starts[MAX_RANK], ends[MAX_RANK], axes[MAX_RANK], steps[MAX_RANK];
  int count;
  if (n->opset < 10) {
    const int64_t *s, *e, *a;
    count = attr_ints(n, "starts", &s);
    if (count < 0 || attr_ints(n, "ends", &e) != count)
      fatal_at(cc, n, "starts and ends must have the same length");
    int na = attr_ints(n, "axes", &a);
    for (int i = 0; i < count && i < MAX_RANK; i++) {
      starts[i] = s[i], ends[i] = e[i], steps[i] = 1;
      axes[i] = na >= 0 ? a[i] : i;
    }
  } else {
    Value *s = need_const(cc, n, 1), *e = need_const(cc, n, 2);
    Value *a = node_input(n, 3) ? need_const(cc, n, 3) : NULL;
    Value *st = node_input(n, 4) ? need_const(cc, n, 4) : NULL;
    count = (int)shape_numel(&s->shape);
    if (shape_numel(&e->shape) != count || (a && shape_numel(&a->shape) != count) ||
        (st && shape_numel(&st->shape) != count))
      fatal_at(cc, n, "starts, ends, axes and steps must have the same length");
    for (int i = 0; i < count && i < MAX_RANK; i++) {
      starts[i] = value_int(s, i), ends[i] = value_int(e, i);
      axes[i] = a ? value_int(a, i) : i;
      steps[i] = st ? value_int(st, i) : 1;
    }
  }
  if (count > in->rank)
    fatal_at(cc, n, "%d slice axes for rank %d", count, in->rank);
  SliceParams *p = pool_alloc(&cc->pool, sizeof(SliceParams));
  Shape out = *in;
  for (int i = 0; i < count; i++) {
    int ax = norm_axis(cc, n, axes[i], in->rank);
    if (p->sliced[ax])
      fatal_at(cc, n, "axis %d repeated", ax);
    int64_t dim = in->dim[ax], step = steps[i], st = starts[i], en = ends[i];
    if (step == 0)
      fatal_at(cc, n, "step 0 on axis %d", ax);
    p->sliced[ax] = true;
    p->start[ax] = st, p->end[ax] = en, p->step[ax] = step;
    if (st < 0)
      st += dim;
    if (en < 0)
      en += dim;
    if (step > 0) {
      st = clamp64(st, 0, dim);
      en = clamp64(en, 0, dim);
      out.dim[ax] = en > st ? (en - st + step - 1) / step : 0;
    } else {
      st = clamp64(st, 0, dim - 1);
      en = clamp64(en, -1, dim - 1);
      out.dim[ax] = st > en ? (st - en - step - 1) / -step : 0;
    }
  }
  n->priv = p;
  set_output(n, 0, n->in[0]->dtype, out);
}

// The first index and the length of axis D of run-time length DIM, as inference computes
// them (in 64 bits: the given starts and ends may be near the int64 limits).
static void slice_axis(KB *kb, const SliceParams *p, int d, LLVMValueRef dim, LLVMValueRef *start, LLVMValueRef *len) {
  if (!p->sliced[d]) {
    *start = kb_idx(kb, 0), *len = dim;
    return;
  }
  LLVMTypeRef i64 = LLVMInt64TypeInContext(kb->ctx);
  LLVMValueRef n = LLVMBuildSExt(kb->b, dim, i64, ""), zero = LLVMConstInt(i64, 0, 0), one = LLVMConstInt(i64, 1, 0);
  LLVMValueRef st = LLVMConstInt(i64, (unsigned long long)p->start[d], 1), en = LLVMConstInt(i64, (unsigned long long)p->end[d], 1);
  int64_t step = p->step[d];
  if (p->start[d] < 0)
    st = LLVMBuildAdd(kb->b, st, n, "");
  if (p->end[d] < 0)
    en = LLVMBuildAdd(kb->b, en, n, "");
  LLVMValueRef l;
  if (step > 0) {
    st = kb_min(kb, DT_I64, kb_max(kb, DT_I64, st, zero), n);
    en = kb_min(kb, DT_I64, kb_max(kb, DT_I64, en, zero), n);
    l = LLVMBuildSDiv(kb->b, LLVMBuildAdd(kb->b, LLVMBuildSub(kb->b, en, st, ""), LLVMConstInt(i64, (unsigned long long)(step - 1), 1), ""),
                      LLVMConstInt(i64, (unsigned long long)step, 1), "");
  } else {
    LLVMValueRef last = LLVMBuildSub(kb->b, n, one, "");
    st = kb_min(kb, DT_I64, kb_max(kb, DT_I64, st, zero), last);
    en = kb_min(kb, DT_I64, kb_max(kb, DT_I64, en, LLVMConstInt(i64, (unsigned long long)-1, 1)), last);
    l = LLVMBuildSDiv(kb->b, LLVMBuildSub(kb->b, LLVMBuildSub(kb->b, st, en, ""), LLVMConstInt(i64, (unsigned long long)(step + 1), 1), ""),
                      LLVMConstInt(i64, (unsigned long long)-step, 1), "");
  }
  *start = LLVMBuildIntCast2(kb->b, st, kb->t_idx, 1, "");
  *len = LLVMBuildIntCast2(kb->b, kb_max(kb, DT_I64, l, zero), kb->t_idx, 1, "");
}

void dims_Slice(KB *kb, const Node *n, RtShape *out) {
  out[0] = kb_in_shape(kb, 0);
  for (int d = 0; d < out[0].rank; d++) {
    LLVMValueRef start;
    slice_axis(kb, n->priv, d, out[0].dim[d], &start, &out[0].dim[d]);
  }
}

void lower_Slice(KB *kb, Node *n) {
  const SliceParams *p = n->priv;
  RtShape in = kb_in_shape(kb, 0), out = kb_out_shape(kb, 0);
  LLVMValueRef ist[MAX_RANK], ost[MAX_RANK], sst[MAX_RANK], off = kb_idx(kb, 0);
  kb_strides(kb, &in, ist);
  kb_strides(kb, &out, ost);
  for (int d = 0; d < in.rank; d++) {
    LLVMValueRef start, len;
    slice_axis(kb, p, d, in.dim[d], &start, &len);
    sst[d] = LLVMBuildNSWMul(kb->b, ist[d], kb_idx(kb, p->sliced[d] ? p->step[d] : 1), "");
    off = LLVMBuildNSWAdd(kb->b, off, LLVMBuildNSWMul(kb->b, start, ist[d], ""), "");
  }
  copy_strided_rt(kb, n->in[0]->dtype, kb->out[0], kb_idx(kb, 0), kb->in[0], off, out.rank, out.dim, ost, sst);
}

//
// Expand / Tile
//
static Shape expand_target(Compiler *cc, const Node *n) {
  Value *sv = need_const(cc, (Node *)n, 1);
  Shape target = {.rank = (int)shape_numel(&sv->shape)};
  if (target.rank > MAX_RANK)
    fatal_at(cc, n, "rank %d exceeds the supported %d", target.rank, MAX_RANK);
  for (int i = 0; i < target.rank; i++)
    target.dim[i] = value_int(sv, i);
  return target;
}

void infer_Expand(Compiler *cc, Node *n) {
  Shape target = expand_target(cc, n), s;
  if (n->in[0]->dynamic)
    s = broadcast_bounds(&n->in[0]->shape, n->in[0]->dynamic, &target, 0, NULL);
  else if (!broadcast_shapes(&n->in[0]->shape, &target, &s))
    fatal_at(cc, n, "cannot expand %s to %s", shape_str(&cc->pool, &n->in[0]->shape),
             shape_str(&cc->pool, &target));
  set_output(n, 0, n->in[0]->dtype, s);
}

void dims_Expand(KB *kb, const Node *n, RtShape *out) {
  Shape target = expand_target(kb->cc, n);
  RtShape in = kb_in_shape(kb, 0), t = kb_shape_const(kb, &target);
  out[0] = kb_broadcast_shape(kb, &in, &t);
}

void lower_Expand(KB *kb, Node *n) {
  RtShape in = kb_in_shape(kb, 0), out = kb_out_shape(kb, 0);
  LLVMValueRef ost[MAX_RANK], sst[MAX_RANK], acc = kb_idx(kb, 1), one = kb_idx(kb, 1);
  kb_strides(kb, &out, ost);
  for (int d = out.rank - 1; d >= 0; d--) {
    int id = d - (out.rank - in.rank);
    LLVMValueRef dim = id >= 0 ? in.dim[id] : one;
    sst[d] = kb_select(kb, LLVMBuildICmp(kb->b, LLVMIntEQ, dim, one, ""), kb_idx(kb, 0), acc);
    acc = LLVMBuildNSWMul(kb->b, acc, dim, "");
  }
  copy_strided_rt(kb, n->in[0]->dtype, kb->out[0], kb_idx(kb, 0), kb->in[0], kb_idx(kb, 0), out.rank, out.dim, ost, sst);
}

void infer_Tile(Compiler *cc, Node *n) {
  const Shape *in = &n->in[0]->shape;
  Value *rv = need_const(cc, n, 1);
  if (shape_numel(&rv->shape) != in->rank)
    fatal_at(cc, n, "repeats has %lld entries for rank %d", (long long)shape_numel(&rv->shape), in->rank);
  Shape s = *in;
  int64_t *repeats = pool_alloc(&cc->pool, sizeof(int64_t) * MAX_RANK);
  for (int d = 0; d < in->rank; d++) {
    int64_t r = repeats[d] = value_int(rv, d);
    if (r < 0)
      fatal_at(cc, n, "negative repeat %lld", (long long)r);
    s.dim[d] *= r;
  }
  n->priv = repeats;
  set_output(n, 0, n->in[0]->dtype, s);
}

void dims_Tile(KB *kb, const Node *n, RtShape *out) {
  const int64_t *repeats = n->priv;
  out[0] = kb_in_shape(kb, 0);
  for (int d = 0; d < out[0].rank; d++)
    out[0].dim[d] = LLVMBuildNSWMul(kb->b, out[0].dim[d], kb_idx(kb, repeats[d]), "");
}

// Output dim d splits into (repeat, in_dim): the repeat index has source stride 0.
void lower_Tile(KB *kb, Node *n) {
  const int64_t *repeats = n->priv;
  RtShape in = kb_in_shape(kb, 0), out = kb_out_shape(kb, 0);
  LLVMValueRef ist[MAX_RANK], ost[MAX_RANK], dims[MAX_NEST], ds[MAX_NEST], ss[MAX_NEST];
  kb_strides(kb, &in, ist);
  kb_strides(kb, &out, ost);
  for (int d = 0; d < in.rank; d++) {
    dims[2 * d] = kb_idx(kb, repeats[d]), ds[2 * d] = LLVMBuildNSWMul(kb->b, in.dim[d], ost[d], ""), ss[2 * d] = kb_idx(kb, 0);
    dims[2 * d + 1] = in.dim[d], ds[2 * d + 1] = ost[d], ss[2 * d + 1] = ist[d];
  }
  copy_strided_rt(kb, n->in[0]->dtype, kb->out[0], kb_idx(kb, 0), kb->in[0], kb_idx(kb, 0), 2 * in.rank, dims, ds, ss);
}

//
// Pad: constant, reflect, edge (and wrap, opset 19). Pads as attribute (< 11) or input.
//
typedef struct {
  int64_t begin[MAX_RANK], end[MAX_RANK];
  int mode; // 0 constant, 1 reflect, 2 edge, 3 wrap
} PadParams;

void infer_Pad(Compiler *cc, Node *n) {
  const Shape *in = &n->in[0]->shape;
  int64_t pads[2 * MAX_RANK] = {0};
  int rank = in->rank;
  if (n->opset < 11) {
    const int64_t *p;
    int count = attr_ints(n, n->opset < 2 ? "paddings" : "pads", &p);
    if (count != 2 * rank)
      fatal_at(cc, n, "pads has %d entries for rank %d", count, rank);
    memcpy(pads, p, sizeof(int64_t) * (size_t)count);
  } else {
    Value *pv = need_const(cc, n, 1);
    Value *av = node_input(n, 3) ? need_const(cc, n, 3) : NULL;
    int naxes = av ? (int)shape_numel(&av->shape) : rank;
    if (shape_numel(&pv->shape) != 2 * naxes)
      fatal_at(cc, n, "pads has %lld entries for %d axes", (long long)shape_numel(&pv->shape), naxes);
    for (int i = 0; i < naxes; i++) {
      int ax = av ? norm_axis(cc, n, value_int(av, i), rank) : i;
      pads[ax] = value_int(pv, i);
      pads[ax + rank] = value_int(pv, i + naxes);
    }
  }
  const char *mode = attr_string(n, "mode", "constant");
  PadParams *p = pool_alloc(&cc->pool, sizeof(PadParams));
  p->mode = !strcmp(mode, "constant") ? 0 : !strcmp(mode, "reflect") ? 1 : !strcmp(mode, "edge") ? 2
            : !strcmp(mode, "wrap")                                   ? 3 : -1;
  if (p->mode < 0)
    fatal_at(cc, n, "mode '%s' is not supported", mode);
  Shape s = *in;
  for (int d = 0; d < rank; d++) {
    s.dim[d] = in->dim[d] + pads[d] + pads[d + rank];
    p->begin[d] = pads[d], p->end[d] = pads[d + rank];
    if (s.dim[d] < 0)
      fatal_at(cc, n, "pads make axis %d negative", d);
    if (p->mode && in->dim[d] == 0 && s.dim[d] > 0)
      fatal_at(cc, n, "cannot %s-pad an empty axis", mode);
  }
  n->priv = p;
  set_output(n, 0, n->in[0]->dtype, s);
}

// The output dims; the other modes than constant have nothing to repeat on an empty axis:
// their output is empty then.
void dims_Pad(KB *kb, const Node *n, RtShape *out) {
  const PadParams *p = n->priv;
  RtShape in = kb_in_shape(kb, 0);
  out[0] = in;
  for (int d = 0; d < in.rank; d++) {
    LLVMValueRef dim = LLVMBuildNSWAdd(kb->b, in.dim[d], kb_idx(kb, p->begin[d] + p->end[d]), "");
    if (p->mode)
      dim = kb_select(kb, LLVMBuildICmp(kb->b, LLVMIntEQ, in.dim[d], kb_idx(kb, 0), ""), kb_idx(kb, 0), dim);
    out[0].dim[d] = dim;
  }
}

// Maps output index i (shifted by the begin pad) into [0, dim) for the non-constant modes.
static LLVMValueRef pad_source(KB *kb, int mode, LLVMValueRef i, LLVMValueRef dim) {
  LLVMBuilderRef b = kb->b;
  LLVMValueRef zero = kb_idx(kb, 0), one = kb_idx(kb, 1), last = LLVMBuildSub(b, dim, one, "");
  if (mode == 2)
    return kb_min(kb, DT_I64, kb_max(kb, DT_I64, i, zero), last);
  if (mode == 3) // wrap: ((i % dim) + dim) % dim
    return LLVMBuildSRem(b, LLVMBuildAdd(b, LLVMBuildSRem(b, i, dim, ""), dim, ""), dim, "");
  // reflect: period 2*(dim-1), fold the second half back (a single element repeats)
  LLVMValueRef period = kb_max(kb, DT_I64, LLVMBuildMul(b, kb_idx(kb, 2), last, ""), one);
  LLVMValueRef m = LLVMBuildSRem(b, LLVMBuildAdd(b, LLVMBuildSRem(b, i, period, ""), period, ""), period, "");
  m = kb_select(kb, LLVMBuildICmp(b, LLVMIntSGT, m, last, ""), LLVMBuildSub(b, period, m, ""), m);
  return kb_select(kb, LLVMBuildICmp(b, LLVMIntEQ, dim, one, ""), zero, m);
}

void lower_Pad(KB *kb, Node *n) {
  const PadParams *p = n->priv;
  RtShape in = kb_in_shape(kb, 0), out = kb_out_shape(kb, 0);
  DType dt = n->in[0]->dtype;
  LLVMValueRef ist[MAX_RANK], ost[MAX_RANK];
  kb_strides(kb, &in, ist);
  kb_strides(kb, &out, ost);
  LLVMValueRef cval = kb_const(kb, dtype_compute(dt), 0.0);
  if (dt == DT_BOOL)
    cval = LLVMConstInt(kb_ctype(kb, dt), 0, 0);
  if (p->mode == 0 && n->opset < 11)
    cval = kb_const(kb, dtype_compute(dt), attr_float(n, "value", 0.0f));
  else if (p->mode == 0 && node_input(n, 2))
    cval = kb_load(kb, dt, kb->in[2], kb_idx(kb, 0));
  Loop loops[MAX_RANK];
  LLVMValueRef idx[MAX_RANK];
  kb_for_rt(kb, loops, &out, idx);
  LLVMValueRef inside = LLVMConstInt(LLVMInt1TypeInContext(kb->ctx), 1, 0);
  LLVMValueRef src = kb_idx(kb, 0);
  for (int d = 0; d < out.rank; d++) {
    LLVMValueRef i = LLVMBuildSub(kb->b, idx[d], kb_idx(kb, p->begin[d]), "");
    if (p->mode == 0) {
      LLVMValueRef ok = LLVMBuildAnd(kb->b, LLVMBuildICmp(kb->b, LLVMIntSGE, i, kb_idx(kb, 0), ""),
                                     LLVMBuildICmp(kb->b, LLVMIntSLT, i, in.dim[d], ""), "");
      inside = LLVMBuildAnd(kb->b, inside, ok, "");
      i = kb_select(kb, ok, i, kb_idx(kb, 0));
    } else {
      i = pad_source(kb, p->mode, i, in.dim[d]);
    }
    src = LLVMBuildAdd(kb->b, src, LLVMBuildMul(kb->b, i, ist[d], ""), "");
  }
  LLVMValueRef v = kb_load(kb, dt, kb->in[0], src);
  if (p->mode == 0)
    v = kb_select(kb, inside, v, cval);
  kb_store(kb, dt, kb->out[0], kb_dot(kb, out.rank, idx, ost), v);
  kb_end_for_rt(kb, loops, &out);
}

//
// Gather along an axis with run-time indices (negative indices count from the end;
// out-of-range indices are clamped so a bad input cannot read outside the tensor). Data and
// indices may have data-dependent shapes.
//
void infer_Gather(Compiler *cc, Node *n) {
  const Shape *data = &n->in[0]->shape, *ind = &n->in[1]->shape;
  int axis = norm_axis(cc, n, attr_int(n, "axis", 0), data->rank);
  Shape s = {.rank = data->rank - 1 + ind->rank};
  if (s.rank > MAX_RANK)
    fatal_at(cc, n, "result rank %d exceeds the supported %d", s.rank, MAX_RANK);
  int r = 0;
  for (int d = 0; d < axis; d++)
    s.dim[r++] = data->dim[d];
  for (int d = 0; d < ind->rank; d++)
    s.dim[r++] = ind->dim[d];
  for (int d = axis + 1; d < data->rank; d++)
    s.dim[r++] = data->dim[d];
  set_output(n, 0, n->in[0]->dtype, s);
}

LLVMValueRef index_at(KB *kb, DType dt, LLVMValueRef base, LLVMValueRef pos, LLVMValueRef dim) {
  LLVMValueRef i = kb_convert(kb, kb_load(kb, dt, base, pos), dt, DT_I64);
  i = LLVMBuildIntCast2(kb->b, i, kb->t_idx, 1, "");
  LLVMValueRef neg = LLVMBuildICmp(kb->b, LLVMIntSLT, i, kb_idx(kb, 0), "");
  i = kb_select(kb, neg, LLVMBuildAdd(kb->b, i, dim, ""), i);
  LLVMValueRef last = kb_max(kb, DT_I64, LLVMBuildSub(kb->b, dim, kb_idx(kb, 1), ""), kb_idx(kb, 0));
  return kb_min(kb, DT_I64, kb_max(kb, DT_I64, i, kb_idx(kb, 0)), last);
}

LLVMValueRef load_index(KB *kb, Value *ind, LLVMValueRef pos, int64_t dim) {
  return index_at(kb, ind->dtype, kb->in[1], pos, kb_idx(kb, dim));
}

void copy_element(KB *kb, DType dt, LLVMValueRef dst, LLVMValueRef dst_idx, LLVMValueRef src, LLVMValueRef src_idx) {
  LLVMValueRef v = LLVMBuildLoad2(kb->b, kb_type(kb, dt), kb_gep(kb, dt, src, src_idx), "");
  LLVMBuildStore(kb->b, v, kb_gep(kb, dt, dst, dst_idx));
}

static int gather_axis(Compiler *cc, const Node *n) {
  return norm_axis(cc, n, attr_int(n, "axis", 0), n->in[0]->shape.rank);
}

void dims_Gather(KB *kb, const Node *n, RtShape *out) {
  RtShape data = kb_in_shape(kb, 0), ind = kb_in_shape(kb, 1);
  int axis = gather_axis(kb->cc, n);
  out[0].rank = 0;
  for (int d = 0; d < data.rank; d++)
    if (d == axis)
      for (int j = 0; j < ind.rank; j++)
        out[0].dim[out[0].rank++] = ind.dim[j];
    else
      out[0].dim[out[0].rank++] = data.dim[d];
}

void lower_Gather(KB *kb, Node *n) {
  RtShape data = kb_in_shape(kb, 0), ind = kb_in_shape(kb, 1);
  int axis = gather_axis(kb->cc, n);
  LLVMValueRef outer = kb_numel_range(kb, &data, 0, axis), inner = kb_numel_range(kb, &data, axis + 1, data.rank);
  LLVMValueRef nind = kb_numel(kb, &ind), dim = data.dim[axis];
  DType dt = n->in[0]->dtype;
  Loop lo, lj, li;
  LLVMValueRef o = kb_for_v(kb, &lo, kb_idx(kb, 0), outer, 1);
  LLVMValueRef j = kb_for_v(kb, &lj, kb_idx(kb, 0), nind, 1);
  LLVMValueRef k = index_at(kb, n->in[1]->dtype, kb->in[1], j, dim);
  LLVMValueRef src = LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, o, dim, ""), k, ""), inner, "");
  LLVMValueRef dst = LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, o, nind, ""), j, ""), inner, "");
  LLVMValueRef i = kb_for_v(kb, &li, kb_idx(kb, 0), inner, 1);
  copy_element(kb, dt, kb->out[0], LLVMBuildAdd(kb->b, dst, i, ""), kb->in[0], LLVMBuildAdd(kb->b, src, i, ""));
  kb_end_for(kb, &li);
  kb_end_for(kb, &lj);
  kb_end_for(kb, &lo);
}

//
// DepthToSpace / SpaceToDepth: a reshape to 6-D and a transpose, i.e. one strided copy over
// the output viewed as [N, C', H, b, W, b] (DepthToSpace) or [N, b, b, C, H', W']
// (SpaceToDepth).
//
static int64_t get_blocksize(Compiler *cc, Node *n) {
  int64_t b = attr_int(n, "blocksize", 0);
  if (b < 1)
    fatal_at(cc, n, "blocksize must be positive");
  if (n->in[0]->shape.rank != 4)
    fatal_at(cc, n, "the input must be 4-D (N, C, H, W)");
  return b;
}

static bool crd_mode(Compiler *cc, Node *n) {
  const char *mode = attr_string(n, "mode", "DCR");
  if (strcmp(mode, "DCR") && strcmp(mode, "CRD"))
    fatal_at(cc, n, "mode '%s' is not supported", mode);
  return !strcmp(mode, "CRD");
}

void infer_DepthToSpace(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape;
  int64_t b = get_blocksize(cc, n);
  crd_mode(cc, n);
  if (x->dim[1] % (b * b))
    fatal_at(cc, n, "channels (%lld) are not a multiple of blocksize^2", (long long)x->dim[1]);
  Shape s = {.rank = 4, .dim = {x->dim[0], x->dim[1] / (b * b), x->dim[2] * b, x->dim[3] * b}};
  set_output(n, 0, n->in[0]->dtype, s);
}

void lower_DepthToSpace(KB *kb, Node *n) {
  const Shape *x = &n->in[0]->shape;
  int64_t b = get_blocksize(kb->cc, n), c = x->dim[1] / (b * b), h = x->dim[2], w = x->dim[3];
  int64_t sc = h * w, sn = x->dim[1] * sc;
  // Output index (n, c, h, i, w, j) reads channel (i*b + j)*C' + c (DCR) or c*b*b + i*b + j (CRD).
  bool crd = crd_mode(kb->cc, n);
  int64_t dims[6] = {x->dim[0], c, h, b, w, b}, dst[6];
  int64_t src[6] = {sn, crd ? b * b * sc : sc, w, crd ? b * sc : b * c * sc, 1, crd ? sc : c * sc};
  Shape os = shape_of(6, dims);
  contiguous_strides(&os, dst);
  copy_strided(kb, n->in[0]->dtype, kb->out[0], 0, kb->in[0], 0, 6, dims, dst, src);
}

void infer_SpaceToDepth(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape;
  int64_t b = get_blocksize(cc, n);
  if (x->dim[2] % b || x->dim[3] % b)
    fatal_at(cc, n, "height and width (%lld, %lld) are not multiples of blocksize", (long long)x->dim[2],
             (long long)x->dim[3]);
  Shape s = {.rank = 4, .dim = {x->dim[0], x->dim[1] * b * b, x->dim[2] / b, x->dim[3] / b}};
  set_output(n, 0, n->in[0]->dtype, s);
}

void lower_SpaceToDepth(KB *kb, Node *n) {
  const Shape *x = &n->in[0]->shape;
  int64_t b = get_blocksize(kb->cc, n), c = x->dim[1], h = x->dim[2], w = x->dim[3];
  // Output index (n, i, j, c, h, w) reads input (n, c, h*b + i, w*b + j).
  int64_t dims[6] = {x->dim[0], b, b, c, h / b, w / b}, dst[6];
  int64_t src[6] = {c * h * w, w, 1, h * w, b * w, b};
  Shape os = shape_of(6, dims);
  contiguous_strides(&os, dst);
  copy_strided(kb, n->in[0]->dtype, kb->out[0], 0, kb->in[0], 0, 6, dims, dst, src);
}

//
// ReverseSequence: along the time axis, the first sequence_lens[b] elements of batch b are
// reversed, the rest copied.
//
void infer_ReverseSequence(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape;
  int64_t t = attr_int(n, "time_axis", 0), b = attr_int(n, "batch_axis", 1);
  if (x->rank < 2 || (t != 0 && t != 1) || (b != 0 && b != 1) || t == b)
    fatal_at(cc, n, "time_axis and batch_axis must be 0 and 1 (in some order) of a tensor of rank >= 2");
  const Shape *lens = &n->in[1]->shape;
  if (lens->rank != 1 || lens->dim[0] != x->dim[b])
    fatal_at(cc, n, "sequence_lens must have one entry per batch (%lld)", (long long)x->dim[b]);
  set_output(n, 0, n->in[0]->dtype, *x);
}

void lower_ReverseSequence(KB *kb, Node *n) {
  const Shape *x = &n->in[0]->shape;
  int t = (int)attr_int(n, "time_axis", 0), b = 1 - t;
  int64_t st[MAX_RANK];
  contiguous_strides(x, st);
  Loop loops[MAX_RANK];
  LLVMValueRef idx[MAX_RANK];
  kb_for_shape(kb, loops, x, idx);
  LLVMValueRef len = LLVMBuildIntCast2(kb->b, kb_convert(kb, kb_load(kb, n->in[1]->dtype, kb->in[1], idx[b]), n->in[1]->dtype, DT_I64),
                                       kb->t_idx, 1, "");
  len = kb_min(kb, DT_I64, kb_max(kb, DT_I64, len, kb_idx(kb, 0)), kb_idx(kb, x->dim[t]));
  LLVMValueRef rev = LLVMBuildSub(kb->b, LLVMBuildSub(kb->b, len, kb_idx(kb, 1), ""), idx[t], "");
  LLVMValueRef src_t = kb_select(kb, LLVMBuildICmp(kb->b, LLVMIntSLT, idx[t], len, ""), rev, idx[t]);
  LLVMValueRef dst = kb_flat_strided(kb, x->rank, st, idx);
  idx[t] = src_t;
  copy_element(kb, n->in[0]->dtype, kb->out[0], dst, kb->in[0], kb_flat_strided(kb, x->rank, st, idx));
  kb_end_for_shape(kb, loops, x);
}
