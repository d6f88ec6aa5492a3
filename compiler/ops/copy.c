// copy.c — data movement that is an affine map from output to input indices: Transpose,
// Slice, Concat, Split, Expand, Tile, DepthToSpace/SpaceToDepth. All of them lower to
// copy_strided, one loop nest whose contiguous dims are merged; plus Pad, Gather and
// ReverseSequence, whose source indices depend on data.
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

//
// Transpose
//
static void get_perm(Compiler *cc, Node *n, int rank, int *perm) {
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

// A data-dependent input shape: the same map with run-time dims.
static void transpose_dynamic(KB *kb, Node *n, const int *perm) {
  RtShape in = kb_in_shape(kb, 0), out = {.rank = in.rank};
  LLVMValueRef ist[MAX_RANK], ost[MAX_RANK], sst[MAX_RANK], idx[MAX_RANK];
  for (int i = 0; i < in.rank; i++)
    out.dim[i] = in.dim[perm[i]];
  kb_set_out_shape(kb, 0, &out);
  kb_strides(kb, &in, ist);
  kb_strides(kb, &out, ost);
  for (int i = 0; i < in.rank; i++)
    sst[i] = ist[perm[i]];
  Loop loops[MAX_RANK];
  kb_for_rt(kb, loops, &out, idx);
  copy_element(kb, n->in[0]->dtype, kb->out[0], kb_dot(kb, out.rank, idx, ost), kb->in[0], kb_dot(kb, out.rank, idx, sst));
  kb_end_for_rt(kb, loops, &out);
}

void lower_Transpose(KB *kb, Node *n) {
  const Shape *in = &n->in[0]->shape, *out = &n->out[0]->shape;
  int perm[MAX_RANK];
  get_perm(kb->cc, n, in->rank, perm);
  if (n->in[0]->dynamic) {
    transpose_dynamic(kb, n, perm);
    return;
  }
  int64_t ist[MAX_RANK], ost[MAX_RANK], sst[MAX_RANK];
  contiguous_strides(in, ist);
  contiguous_strides(out, ost);
  for (int i = 0; i < in->rank; i++)
    sst[i] = ist[perm[i]];
  copy_strided(kb, n->in[0]->dtype, kb->out[0], 0, kb->in[0], 0, out->rank, out->dim, ost, sst);
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
    for (int d = 0; d < s.rank; d++)
      if (d != axis && si->dim[d] != first->dim[d])
        fatal_at(cc, n, "input %d has shape %s, input 0 %s", i, shape_str(&cc->pool, si),
                 shape_str(&cc->pool, first));
    s.dim[axis] += si->dim[axis];
  }
  set_output(n, 0, n->in[0]->dtype, s);
}

void lower_Concat(KB *kb, Node *n) {
  const Shape *out = &n->out[0]->shape;
  int axis = (int)attr_int(n, "axis", 0);
  if (axis < 0)
    axis += out->rank;
  int64_t ost[MAX_RANK], ist[MAX_RANK], offset = 0;
  contiguous_strides(out, ost);
  for (int i = 0; i < n->nin; i++) {
    const Shape *in = &n->in[i]->shape;
    contiguous_strides(in, ist);
    copy_strided(kb, n->out[0]->dtype, kb->out[0], offset * ost[axis], kb->in[i], 0, in->rank, in->dim,
                 ost, ist);
    offset += in->dim[axis];
  }
}

// Split sizes: the 'split' attribute (< 13) or input (>= 13), else equal parts
// (num_outputs since 18, the last part smaller).
static void split_sizes(Compiler *cc, Node *n, int axis, int64_t *sizes) {
  const Shape *in = &n->in[0]->shape;
  const int64_t *a;
  int count = -1;
  Value *sv = n->opset >= 13 ? node_input(n, 1) : NULL;
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
    for (int i = 0; i < n->nout; i++) {
      int64_t left = total - chunk * i;
      sizes[i] = left < 0 ? 0 : left < chunk ? left : chunk;
    }
    return;
  }
  int64_t sum = 0;
  for (int i = 0; i < n->nout; i++)
    sum += sizes[i];
  if (sum != in->dim[axis])
    fatal_at(cc, n, "split sizes add up to %lld, the axis has %lld", (long long)sum, (long long)in->dim[axis]);
}

void infer_Split(Compiler *cc, Node *n) {
  const Shape *in = &n->in[0]->shape;
  int axis = norm_axis(cc, n, attr_int(n, "axis", 0), in->rank);
  int64_t *sizes = pool_alloc(&cc->pool, sizeof(int64_t) * (size_t)n->nout);
  split_sizes(cc, n, axis, sizes);
  n->priv = sizes;
  for (int i = 0; i < n->nout; i++) {
    Shape s = *in;
    s.dim[axis] = sizes[i];
    set_output(n, i, n->in[0]->dtype, s);
  }
}

void lower_Split(KB *kb, Node *n) {
  const Shape *in = &n->in[0]->shape;
  const int64_t *sizes = n->priv;
  int axis = (int)attr_int(n, "axis", 0);
  if (axis < 0)
    axis += in->rank;
  int64_t ist[MAX_RANK], ost[MAX_RANK], offset = 0;
  contiguous_strides(in, ist);
  for (int i = 0; i < n->nout; offset += sizes[i++]) {
    if (!n->out[i])
      continue;
    const Shape *out = &n->out[i]->shape;
    contiguous_strides(out, ost);
    copy_strided(kb, n->in[0]->dtype, kb->out[i], 0, kb->in[0], offset * ist[axis], out->rank,
                 out->dim, ost, ist);
  }
}

//
// Slice: starts/ends/axes/steps as attributes (< 10) or inputs (>= 10).
//
typedef struct {
  int64_t start[MAX_RANK], step[MAX_RANK];
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
  for (int d = 0; d < in->rank; d++)
    p->step[d] = 1;
  bool seen[MAX_RANK] = {0};
  for (int i = 0; i < count; i++) {
    int ax = norm_axis(cc, n, axes[i], in->rank);
    if (seen[ax])
      fatal_at(cc, n, "axis %d repeated", ax);
    seen[ax] = true;
    int64_t dim = in->dim[ax], step = steps[i], st = starts[i], en = ends[i];
    if (step == 0)
      fatal_at(cc, n, "step 0 on axis %d", ax);
    if (st < 0)
      st += dim;
    if (en < 0)
      en += dim;
    int64_t len;
    if (step > 0) {
      st = clamp64(st, 0, dim);
      en = clamp64(en, 0, dim);
      len = en > st ? (en - st + step - 1) / step : 0;
    } else {
      st = clamp64(st, 0, dim - 1);
      en = clamp64(en, -1, dim - 1);
      len = st > en ? (st - en - step - 1) / -step : 0;
    }
    out.dim[ax] = len;
    p->start[ax] = st;
    p->step[ax] = step;
  }
  n->priv = p;
  set_output(n, 0, n->in[0]->dtype, out);
}

void lower_Slice(KB *kb, Node *n) {
  const SliceParams *p = n->priv;
  const Shape *in = &n->in[0]->shape, *out = &n->out[0]->shape;
  int64_t ist[MAX_RANK], ost[MAX_RANK], sst[MAX_RANK], off = 0;
  contiguous_strides(in, ist);
  contiguous_strides(out, ost);
  for (int d = 0; d < in->rank; d++) {
    sst[d] = ist[d] * p->step[d];
    off += p->start[d] * ist[d];
  }
  copy_strided(kb, n->in[0]->dtype, kb->out[0], 0, kb->in[0], off, out->rank, out->dim, ost, sst);
}

//
// Expand / Tile
//
void infer_Expand(Compiler *cc, Node *n) {
  Value *sv = need_const(cc, n, 1);
  Shape target = {.rank = (int)shape_numel(&sv->shape)};
  if (target.rank > MAX_RANK)
    fatal_at(cc, n, "rank %d exceeds the supported %d", target.rank, MAX_RANK);
  for (int i = 0; i < target.rank; i++)
    target.dim[i] = value_int(sv, i);
  Shape s;
  if (!broadcast_shapes(&n->in[0]->shape, &target, &s))
    fatal_at(cc, n, "cannot expand %s to %s", shape_str(&cc->pool, &n->in[0]->shape),
             shape_str(&cc->pool, &target));
  set_output(n, 0, n->in[0]->dtype, s);
}

void lower_Expand(KB *kb, Node *n) {
  const Shape *in = &n->in[0]->shape, *out = &n->out[0]->shape;
  int64_t ost[MAX_RANK], sst[MAX_RANK], acc = 1;
  contiguous_strides(out, ost);
  for (int d = out->rank - 1; d >= 0; d--) {
    int id = d - (out->rank - in->rank);
    int64_t dim = id >= 0 ? in->dim[id] : 1;
    sst[d] = dim == 1 ? 0 : acc;
    acc *= dim;
  }
  copy_strided(kb, n->in[0]->dtype, kb->out[0], 0, kb->in[0], 0, out->rank, out->dim, ost, sst);
}

void infer_Tile(Compiler *cc, Node *n) {
  const Shape *in = &n->in[0]->shape;
  Value *rv = need_const(cc, n, 1);
  if (shape_numel(&rv->shape) != in->rank)
    fatal_at(cc, n, "repeats has %lld entries for rank %d", (long long)shape_numel(&rv->shape), in->rank);
  Shape s = *in;
  for (int d = 0; d < in->rank; d++) {
    int64_t r = value_int(rv, d);
    if (r < 0)
      fatal_at(cc, n, "negative repeat %lld", (long long)r);
    s.dim[d] *= r;
  }
  set_output(n, 0, n->in[0]->dtype, s);
}

// Output dim d splits into (repeat, in_dim): the repeat index has source stride 0.
void lower_Tile(KB *kb, Node *n) {
  const Shape *in = &n->in[0]->shape, *out = &n->out[0]->shape;
  int64_t ist[MAX_RANK], ost[MAX_RANK], dims[MAX_NEST], ds[MAX_NEST], ss[MAX_NEST];
  contiguous_strides(in, ist);
  contiguous_strides(out, ost);
  for (int d = 0; d < in->rank; d++) {
    int64_t reps = in->dim[d] ? out->dim[d] / in->dim[d] : 0;
    dims[2 * d] = reps, ds[2 * d] = in->dim[d] * ost[d], ss[2 * d] = 0;
    dims[2 * d + 1] = in->dim[d], ds[2 * d + 1] = ost[d], ss[2 * d + 1] = ist[d];
  }
  copy_strided(kb, n->in[0]->dtype, kb->out[0], 0, kb->in[0], 0, 2 * in->rank, dims, ds, ss);
}

//
// Pad: constant, reflect, edge (and wrap, opset 19). Pads as attribute (< 11) or input.
//
typedef struct {
  int64_t begin[MAX_RANK];
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
    p->begin[d] = pads[d];
    if (s.dim[d] < 0)
      fatal_at(cc, n, "pads make axis %d negative", d);
    if (p->mode && in->dim[d] == 0 && s.dim[d] > 0)
      fatal_at(cc, n, "cannot %s-pad an empty axis", mode);
  }
  n->priv = p;
  set_output(n, 0, n->in[0]->dtype, s);
}

// Maps output index i (shifted by the begin pad) into [0, dim) for the non-constant modes.
static LLVMValueRef pad_source(KB *kb, int mode, LLVMValueRef i, int64_t dim) {
  LLVMBuilderRef b = kb->b;
  LLVMValueRef zero = kb_idx(kb, 0), last = kb_idx(kb, dim - 1);
  if (mode == 2)
    return kb_min(kb, DT_I64, kb_max(kb, DT_I64, i, zero), last);
  if (mode == 3) { // wrap: ((i % dim) + dim) % dim
    LLVMValueRef d = kb_idx(kb, dim);
    return LLVMBuildSRem(b, LLVMBuildAdd(b, LLVMBuildSRem(b, i, d, ""), d, ""), d, "");
  }
  if (dim == 1)
    return zero;
  // reflect: period 2*(dim-1), fold the second half back
  LLVMValueRef period = kb_idx(kb, 2 * (dim - 1));
  LLVMValueRef m = LLVMBuildSRem(b, LLVMBuildAdd(b, LLVMBuildSRem(b, i, period, ""), period, ""), period, "");
  return kb_select(kb, LLVMBuildICmp(b, LLVMIntSGT, m, last, ""), LLVMBuildSub(b, period, m, ""), m);
}

void lower_Pad(KB *kb, Node *n) {
  const PadParams *p = n->priv;
  const Shape *in = &n->in[0]->shape, *out = &n->out[0]->shape;
  DType dt = n->in[0]->dtype;
  int64_t ist[MAX_RANK];
  contiguous_strides(in, ist);
  LLVMValueRef cval = kb_const(kb, dtype_compute(dt), 0.0);
  if (dt == DT_BOOL)
    cval = LLVMConstInt(kb_ctype(kb, dt), 0, 0);
  if (p->mode == 0 && n->opset < 11)
    cval = kb_const(kb, dtype_compute(dt), attr_float(n, "value", 0.0f));
  else if (p->mode == 0 && node_input(n, 2))
    cval = kb_load(kb, dt, kb->in[2], kb_idx(kb, 0));
  Loop loops[MAX_RANK];
  LLVMValueRef idx[MAX_RANK];
  kb_for_shape(kb, loops, out, idx);
  LLVMValueRef inside = LLVMConstInt(LLVMInt1TypeInContext(kb->ctx), 1, 0);
  LLVMValueRef src = kb_idx(kb, 0);
  for (int d = 0; d < out->rank; d++) {
    LLVMValueRef i = LLVMBuildSub(kb->b, idx[d], kb_idx(kb, p->begin[d]), "");
    if (p->mode == 0) {
      LLVMValueRef ok = LLVMBuildAnd(kb->b, LLVMBuildICmp(kb->b, LLVMIntSGE, i, kb_idx(kb, 0), ""),
                                     LLVMBuildICmp(kb->b, LLVMIntSLT, i, kb_idx(kb, in->dim[d]), ""), "");
      inside = LLVMBuildAnd(kb->b, inside, ok, "");
      i = kb_select(kb, ok, i, kb_idx(kb, 0));
    } else {
      i = pad_source(kb, p->mode, i, in->dim[d]);
    }
    src = LLVMBuildAdd(kb->b, src, LLVMBuildMul(kb->b, i, kb_idx(kb, ist[d]), ""), "");
  }
  LLVMValueRef v = kb_load(kb, dt, kb->in[0], src);
  if (p->mode == 0)
    v = kb_select(kb, inside, v, cval);
  kb_store(kb, dt, kb->out[0], kb_flat(kb, out, idx), v);
  kb_end_for_shape(kb, loops, out);
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

void lower_Gather(KB *kb, Node *n) {
  RtShape data = kb_in_shape(kb, 0), ind = kb_in_shape(kb, 1), out = {0};
  int axis = (int)attr_int(n, "axis", 0);
  if (axis < 0)
    axis += data.rank;
  LLVMValueRef outer = kb_idx(kb, 1), inner = kb_idx(kb, 1);
  for (int d = 0; d < data.rank; d++) {
    if (d < axis)
      outer = LLVMBuildNSWMul(kb->b, outer, data.dim[d], "");
    if (d > axis)
      inner = LLVMBuildNSWMul(kb->b, inner, data.dim[d], "");
    if (d == axis)
      for (int j = 0; j < ind.rank; j++)
        out.dim[out.rank++] = ind.dim[j];
    else
      out.dim[out.rank++] = data.dim[d];
  }
  kb_set_out_shape(kb, 0, &out);
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
