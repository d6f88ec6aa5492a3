// reduce.c — Reduce* over any set of axes, ArgMax/ArgMin, and the running sums of CumSum.
#include "../compiler.h"
#include "ops.h"

#include <math.h>

typedef struct {
  bool reduced[MAX_RANK];
  bool noop; // empty axes with noop_with_empty_axes: identity
} ReduceAxes;

// Axes: an attribute, or (ReduceSum since 13, the others since 18) an optional input.
void infer_reduce(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape;
  bool axes_input = n->op->kind == OP_ReduceSum ? n->opset >= 13 : n->opset >= 18;
  ReduceAxes *ra = pool_alloc(&cc->pool, sizeof(ReduceAxes));
  int count = 0;
  int64_t axes[MAX_RANK];
  if (axes_input) {
    Value *av = node_input(n, 1) ? need_const(cc, n, 1) : NULL;
    count = av ? (int)shape_numel(&av->shape) : 0;
    for (int i = 0; i < count && i < MAX_RANK; i++)
      axes[i] = value_int(av, i);
  } else {
    const int64_t *a;
    count = attr_ints(n, "axes", &a);
    for (int i = 0; i < count && i < MAX_RANK; i++)
      axes[i] = a[i];
    if (count < 0)
      count = 0;
  }
  if (count > MAX_RANK)
    fatal_at(cc, n, "too many axes");
  if (count == 0 && attr_int(n, "noop_with_empty_axes", 0))
    ra->noop = true;
  for (int i = 0; i < x->rank; i++)
    ra->reduced[i] = count == 0 && !ra->noop;
  for (int i = 0; i < count; i++)
    ra->reduced[norm_axis(cc, n, axes[i], x->rank)] = true;
  bool keep = attr_int(n, "keepdims", 1);
  Shape y = {0};
  for (int i = 0; i < x->rank; i++) {
    if (!ra->reduced[i])
      y.dim[y.rank++] = x->dim[i];
    else if (keep)
      y.dim[y.rank++] = 1;
  }
  n->priv = ra;
  set_output(n, 0, n->in[0]->dtype, y);
}

void dims_reduce(KB *kb, const Node *n, RtShape *out) {
  const ReduceAxes *ra = n->priv;
  RtShape x = kb_in_shape(kb, 0);
  bool keep = attr_int(n, "keepdims", 1);
  out[0].rank = 0;
  for (int d = 0; d < x.rank; d++)
    if (!ra->reduced[d] || keep)
      out[0].dim[out[0].rank++] = ra->reduced[d] ? kb_idx(kb, 1) : x.dim[d];
}

static LLVMValueRef lowest(KB *kb, DType ct, bool max_end) {
  if (dtype_is_float(ct))
    return kb_const(kb, ct, max_end ? INFINITY : -INFINITY);
  LLVMTypeRef t = kb_ctype(kb, ct);
  unsigned w = LLVMGetIntTypeWidth(t);
  if (dtype_is_signed(ct))
    return LLVMConstInt(t, max_end ? (~0ull >> (65 - w)) : (1ull << (w - 1)), 0);
  return max_end ? LLVMConstAllOnes(t) : LLVMConstNull(t);
}

// Loops over the reduced dims of one output element, calling BODY with the input offset.
typedef struct {
  Loop loops[MAX_RANK];
  int n;
} ReduceNest;

static LLVMValueRef begin_reduce(KB *kb, ReduceNest *rn, const RtShape *x, const bool *reduced, LLVMValueRef base) {
  LLVMValueRef st[MAX_RANK];
  kb_strides(kb, x, st);
  rn->n = 0;
  LLVMValueRef off = base;
  for (int d = 0; d < x->rank; d++)
    if (reduced[d]) {
      LLVMValueRef i = kb_for_v(kb, &rn->loops[rn->n++], kb_idx(kb, 0), x->dim[d], 1);
      off = LLVMBuildAdd(kb->b, off, LLVMBuildMul(kb->b, i, st[d], ""), "");
    }
  return off;
}

static void end_reduce(KB *kb, ReduceNest *rn) {
  for (int i = rn->n - 1; i >= 0; i--)
    kb_end_for(kb, &rn->loops[i]);
}

// Offset of the first input element of the output element at KEPT indices.
static LLVMValueRef outer_offset(KB *kb, const RtShape *x, const bool *reduced, Loop *loops, RtShape *kept, LLVMValueRef *kidx) {
  LLVMValueRef st[MAX_RANK], kst[MAX_RANK];
  kb_strides(kb, x, st);
  *kept = (RtShape){0};
  for (int d = 0; d < x->rank; d++)
    if (!reduced[d]) {
      kst[kept->rank] = st[d];
      kept->dim[kept->rank++] = x->dim[d];
    }
  kb_for_rt(kb, loops, kept, kidx);
  return kb_dot(kb, kept->rank, kidx, kst);
}

// The reduced dims of one output element as a sum nest: dims reduced side by side merged
// (their elements are contiguous), each with its stride in X and its bound.
typedef struct {
  int rank;
  int64_t bound[MAX_RANK];
  LLVMValueRef dim[MAX_RANK], stride[MAX_RANK];
} SumNest;

static SumNest sum_nest(KB *kb, const RtShape *x, const Shape *bounds, const bool *reduced) {
  SumNest s = {0};
  LLVMValueRef strides[MAX_RANK];
  kb_strides(kb, x, strides);
  for (int d = 0; d < x->rank; d++) {
    if (!reduced[d])
      continue;
    if (d > 0 && reduced[d - 1]) {
      s.dim[s.rank - 1] = LLVMBuildNSWMul(kb->b, s.dim[s.rank - 1], x->dim[d], "");
      s.bound[s.rank - 1] *= bounds->dim[d];
      s.stride[s.rank - 1] = strides[d];
    } else {
      s.dim[s.rank] = x->dim[d];
      s.bound[s.rank] = bounds->dim[d];
      s.stride[s.rank++] = strides[d];
    }
  }
  return s;
}

typedef struct {
  const Node *n;
  const SumNest *nest;
  LLVMValueRef base, shift;
} ReduceTerm;

// The term of the sum-like reductions: x, |x|, x^2 or exp(x - max).
static void reduce_term(KB *kb, LLVMValueRef *idx, LLVMValueRef *terms, void *ctx) {
  const ReduceTerm *r = ctx;
  DType dt = r->n->in[0]->dtype, ct = dtype_compute(dt);
  LLVMValueRef off = LLVMBuildNSWAdd(kb->b, r->base, kb_dot(kb, r->nest->rank, idx, r->nest->stride), "");
  LLVMValueRef v = kb_load(kb, dt, kb->in[0], off);
  switch (r->n->op->kind) {
  case OP_ReduceL1:
    v = dtype_is_float(ct) ? kb_call_intrinsic(kb, "llvm.fabs", LLVMTypeOf(v), &v, 1)
                           : kb_select(kb, kb_lt(kb, ct, v, kb_const(kb, ct, 0)), kb_neg(kb, ct, v), v);
    break;
  case OP_ReduceL2:
  case OP_ReduceSumSquare: v = kb_mul(kb, ct, v, v); break;
  case OP_ReduceLogSumExp: v = math_exp(kb, ct, kb_sub(kb, ct, v, r->shift)); break;
  default: break;
  }
  terms[0] = v;
}

void lower_reduce(KB *kb, Node *n) {
  const ReduceAxes *ra = n->priv;
  RtShape xs = kb_in_shape(kb, 0), *x = &xs;
  DType dt = n->in[0]->dtype, ct = dtype_compute(dt);
  LLVMTypeRef t = kb_ctype(kb, ct);
  OpKind k = n->op->kind;
  Loop outer[MAX_RANK];
  LLVMValueRef kidx[MAX_RANK], kst[MAX_RANK];
  RtShape kept;
  bool none[MAX_RANK] = {0};
  LLVMValueRef base = outer_offset(kb, x, ra->noop ? none : ra->reduced, outer, &kept, kidx);
  const bool *red = ra->noop ? none : ra->reduced;
  LLVMValueRef count = kb_idx(kb, 1);
  for (int d = 0; d < x->rank; d++)
    if (red[d])
      count = LLVMBuildNSWMul(kb->b, count, x->dim[d], "");
  ReduceNest rn;
  LLVMValueRef shift = NULL, r;
  if (k == OP_ReduceLogSumExp) { // subtract the max first: no overflow
    LLVMValueRef m = kb_var(kb, t, lowest(kb, ct, false));
    LLVMValueRef off = begin_reduce(kb, &rn, x, red, base);
    kb_set(kb, m, kb_max(kb, ct, kb_get(kb, t, m), kb_load(kb, dt, kb->in[0], off)));
    end_reduce(kb, &rn);
    shift = kb_get(kb, t, m);
    shift = kb_select(kb, LLVMBuildFCmp(kb->b, LLVMRealOEQ, shift, kb_const(kb, ct, -INFINITY), ""), kb_const(kb, ct, 0.0), shift);
  }
  if (k == OP_ReduceMax || k == OP_ReduceMin || k == OP_ReduceProd) {
    LLVMValueRef init = k == OP_ReduceMax ? lowest(kb, ct, false) : k == OP_ReduceMin ? lowest(kb, ct, true) : kb_const(kb, ct, 1.0);
    LLVMValueRef acc = kb_var(kb, t, init);
    LLVMValueRef off = begin_reduce(kb, &rn, x, red, base);
    LLVMValueRef v = kb_load(kb, dt, kb->in[0], off), cur = kb_get(kb, t, acc);
    kb_set(kb, acc, k == OP_ReduceMax ? kb_max(kb, ct, cur, v) : k == OP_ReduceMin ? kb_min(kb, ct, cur, v) : kb_mul(kb, ct, cur, v));
    end_reduce(kb, &rn);
    r = kb_get(kb, t, acc);
  } else {
    SumNest nest = sum_nest(kb, x, &n->in[0]->shape, red);
    ReduceTerm term = {n, &nest, base, shift};
    kb_sum(kb, 1, &t, nest.rank, nest.bound, n->in[0]->dynamic ? nest.dim : NULL, reduce_term, &term, &r);
  }
  switch (k) {
  case OP_ReduceMean:
    r = kb_div(kb, ct, r, dtype_is_float(ct) ? LLVMBuildSIToFP(kb->b, count, t, "") : LLVMBuildIntCast2(kb->b, count, t, 1, ""));
    break;
  case OP_ReduceL2:
    r = dtype_is_float(ct) ? kb_call_intrinsic(kb, "llvm.sqrt", t, &r, 1)
                           : kb_convert(kb, kb_call_intrinsic(kb, "llvm.sqrt", kb_ctype(kb, DT_F64), (LLVMValueRef[]){kb_convert(kb, r, ct, DT_F64)}, 1), DT_F64, ct);
    break;
  case OP_ReduceLogSum: r = math_log(kb, ct, r); break;
  case OP_ReduceLogSumExp: r = kb_add(kb, ct, math_log(kb, ct, r), shift); break;
  default: break;
  }
  kb_strides(kb, &kept, kst);
  kb_store(kb, dt, kb->out[0], kb_dot(kb, kept.rank, kidx, kst), r);
  kb_end_for_rt(kb, outer, &kept);
}

void infer_arg(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape;
  int axis = norm_axis(cc, n, attr_int(n, "axis", 0), x->rank);
  Shape y = *x;
  if (attr_int(n, "keepdims", 1))
    y.dim[axis] = 1;
  else {
    for (int d = axis; d + 1 < x->rank; d++)
      y.dim[d] = x->dim[d + 1];
    y.rank--;
  }
  set_output(n, 0, DT_I64, y);
}

void dims_arg(KB *kb, const Node *n, RtShape *out) {
  RtShape x = kb_in_shape(kb, 0);
  int axis = norm_axis(kb->cc, n, attr_int(n, "axis", 0), x.rank);
  out[0] = x;
  out[0].dim[axis] = kb_idx(kb, 1);
  if (!attr_int(n, "keepdims", 1))
    for (int d = axis; d + 1 < x.rank; d++)
      out[0].dim[d] = x.dim[d + 1];
  out[0].rank -= !attr_int(n, "keepdims", 1);
}

// The input viewed as [outer, len, inner] around AXIS, in run-time dims.
static void axis_split(KB *kb, const RtShape *x, int axis, LLVMValueRef *outer, LLVMValueRef *len, LLVMValueRef *inner) {
  *outer = kb_numel_range(kb, x, 0, axis);
  *len = x->dim[axis];
  *inner = kb_numel_range(kb, x, axis + 1, x->rank);
}

void lower_arg(KB *kb, Node *n) {
  RtShape x = kb_in_shape(kb, 0);
  int axis = norm_axis(kb->cc, n, attr_int(n, "axis", 0), x.rank);
  bool last = attr_int(n, "select_last_index", 0), is_max = n->op->kind == OP_ArgMax;
  DType dt = n->in[0]->dtype, ct = dtype_compute(dt);
  LLVMValueRef outer, len, inner, zero = kb_idx(kb, 0);
  axis_split(kb, &x, axis, &outer, &len, &inner);
  Loop lo, li, lk;
  LLVMValueRef o = kb_for_v(kb, &lo, zero, outer, 1), in = kb_for_v(kb, &li, zero, inner, 1);
  LLVMValueRef base = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, o, LLVMBuildMul(kb->b, len, inner, ""), ""), in, "");
  LLVMValueRef best = kb_var(kb, kb_ctype(kb, ct), kb_load(kb, dt, kb->in[0], base));
  LLVMValueRef where = kb_var(kb, kb->t_idx, kb_idx(kb, 0));
  LLVMValueRef k = kb_for_v(kb, &lk, zero, len, 1);
  LLVMValueRef v = kb_load(kb, dt, kb->in[0], LLVMBuildAdd(kb->b, base, LLVMBuildMul(kb->b, k, inner, ""), ""));
  LLVMValueRef cur = kb_get(kb, kb_ctype(kb, ct), best);
  LLVMValueRef better = is_max ? (last ? kb_ge(kb, ct, v, cur) : kb_gt(kb, ct, v, cur))
                               : (last ? kb_le(kb, ct, v, cur) : kb_lt(kb, ct, v, cur));
  kb_set(kb, best, kb_select(kb, better, v, cur));
  kb_set(kb, where, kb_select(kb, better, k, kb_get(kb, kb->t_idx, where)));
  kb_end_for(kb, &lk);
  LLVMValueRef r = LLVMBuildSExtOrBitCast(kb->b, kb_get(kb, kb->t_idx, where), LLVMInt64TypeInContext(kb->ctx), "");
  kb_store(kb, DT_I64, kb->out[0], LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, o, inner, ""), in, ""), r);
  kb_end_for(kb, &li);
  kb_end_for(kb, &lo);
}

//
// CumSum: running sums along one axis (shape-like input 1), inclusive or exclusive, forward
// or reverse. A running sum is serial, so it is blocked: each block of CUMSUM_BLOCK elements
// sums from zero, and the total of the blocks before it is carried as an unevaluated pair
// hi + lo to which each block's total is added exactly (Knuth's TwoSum). An output is then
// off by the rounding of at most a block's running sum plus one, instead of one rounding per
// element before it (1e-5 relative after a million floats).
//
#define CUMSUM_BLOCK 128

void infer_CumSum(Compiler *cc, Node *n) {
  Value *av = need_const(cc, n, 1);
  if (shape_numel(&av->shape) != 1)
    fatal_at(cc, n, "axis must be a scalar");
  norm_axis(cc, n, value_int(av, 0), n->in[0]->shape.rank);
  set_output(n, 0, n->in[0]->dtype, n->in[0]->shape);
}

// (hi, lo) += v: hi + v rounded, its rounding error added to lo (exact for integers too).
static void carry_add(KB *kb, DType ct, LLVMValueRef hi, LLVMValueRef lo, LLVMValueRef v) {
  LLVMTypeRef t = kb_ctype(kb, ct);
  LLVMValueRef h = kb_get(kb, t, hi), s = kb_add(kb, ct, h, v);
  LLVMValueRef vb = kb_sub(kb, ct, s, h), hb = kb_sub(kb, ct, s, vb);
  LLVMValueRef err = kb_add(kb, ct, kb_sub(kb, ct, h, hb), kb_sub(kb, ct, v, vb));
  kb_set(kb, lo, kb_add(kb, ct, kb_get(kb, t, lo), err));
  kb_set(kb, hi, s);
}

void lower_CumSum(KB *kb, Node *n) {
  RtShape x = kb_in_shape(kb, 0);
  int axis = norm_axis(kb->cc, n, value_int(n->in[1], 0), x.rank);
  bool exclusive = attr_int(n, "exclusive", 0), reverse = attr_int(n, "reverse", 0);
  DType dt = n->in[0]->dtype, ct = dtype_compute(dt);
  LLVMTypeRef t = kb_ctype(kb, ct);
  LLVMValueRef outer, len, inner, zero = kb_idx(kb, 0), block = kb_idx(kb, CUMSUM_BLOCK);
  axis_split(kb, &x, axis, &outer, &len, &inner);
  Loop lo, li, lb, lk;
  LLVMValueRef o = kb_for_v(kb, &lo, zero, outer, 1), in = kb_for_v(kb, &li, zero, inner, 1);
  LLVMValueRef base = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, o, LLVMBuildMul(kb->b, len, inner, ""), ""), in, "");
  LLVMValueRef hi = kb_var(kb, t, kb_const(kb, ct, 0.0)), low = kb_var(kb, t, kb_const(kb, ct, 0.0));
  LLVMValueRef blocks = LLVMBuildUDiv(kb->b, LLVMBuildAdd(kb->b, len, kb_idx(kb, CUMSUM_BLOCK - 1), ""), block, "");
  LLVMValueRef first = LLVMBuildMul(kb->b, kb_for_v(kb, &lb, zero, blocks, 1), block, "");
  LLVMValueRef end = kb_min(kb, DT_I64, LLVMBuildAdd(kb->b, first, block, ""), len);
  LLVMValueRef run = kb_var(kb, t, kb_const(kb, ct, 0.0));
  LLVMValueRef k = kb_for_v(kb, &lk, first, end, 1);
  if (reverse)
    k = LLVMBuildSub(kb->b, LLVMBuildSub(kb->b, len, kb_idx(kb, 1), ""), k, "");
  LLVMValueRef at = LLVMBuildAdd(kb->b, base, LLVMBuildMul(kb->b, k, inner, ""), "");
  LLVMValueRef before = kb_get(kb, t, run);
  LLVMValueRef after = kb_add(kb, ct, before, kb_load(kb, dt, kb->in[0], at));
  kb_set(kb, run, after);
  LLVMValueRef carried = kb_add(kb, ct, kb_get(kb, t, low), exclusive ? before : after);
  kb_store(kb, dt, kb->out[0], at, kb_add(kb, ct, kb_get(kb, t, hi), carried));
  kb_end_for(kb, &lk);
  carry_add(kb, ct, hi, low, kb_get(kb, t, run));
  kb_end_for(kb, &lb);
  kb_end_for(kb, &li);
  kb_end_for(kb, &lo);
}
