// norm.c — normalization: BatchNormalization (inference and training mode),
// LayerNormalization, InstanceNormalization, GroupNormalization, MeanVarianceNormalization
// (one moments-then-normalize lowering for all of them) and LRN.
#include "../compiler.h"
#include "ops.h"

#include <math.h>
#include <string.h>

//
// The shared plan: X split into kept dims (one mean and variance per kept index) and reduced
// dims (the elements of one set of statistics), each with its strides in X (Y has X's layout).
// Scale and bias are read through their own strides over the same two nests, which expresses
// per-channel (InstanceNorm, BatchNorm), per-group and per-element (LayerNorm) parameters alike.
//
typedef struct {
  int nkept, nred;
  int64_t kept_dim[MAX_RANK], kept_st[MAX_RANK];
  int64_t red_dim[MAX_RANK], red_st[MAX_RANK];
  int param_in[2];                                    // inputs of scale and bias, -1 when absent
  int64_t param_kept_st[2][MAX_RANK], param_red_st[2][MAX_RANK];
  double epsilon;
  DType stat_type;        // compute type of the statistics (stash_type)
  bool eps_after_sqrt;    // MVN: (x - mean) / (sqrt(var) + eps)
} NormPlan;

static void contiguous_strides(const Shape *s, int64_t *st) {
  int64_t acc = 1;
  for (int d = s->rank - 1; d >= 0; d--) {
    st[d] = acc;
    acc *= s->dim[d];
  }
}

// Elements per (n, c) plane of an [N, C, ...] tensor.
static int64_t plane_size(const Shape *x) {
  int64_t size = 1;
  for (int d = 2; d < x->rank; d++)
    size *= x->dim[d];
  return size;
}

static void add_kept(NormPlan *p, int64_t dim, int64_t st) {
  p->kept_dim[p->nkept] = dim;
  p->kept_st[p->nkept++] = st;
}

static void add_reduced(NormPlan *p, int64_t dim, int64_t st) {
  p->red_dim[p->nred] = dim;
  p->red_st[p->nred++] = st;
}

static NormPlan *new_plan(Compiler *cc, Node *n, double epsilon, DType stat_type) {
  NormPlan *p = pool_alloc(&cc->pool, sizeof(NormPlan));
  p->param_in[0] = p->param_in[1] = -1;
  p->epsilon = epsilon;
  if (!dtype_is_float(stat_type))
    fatal_at(cc, n, "statistics in %s are not supported", dtype_onnx_name(stat_type));
  p->stat_type = dtype_compute(stat_type);
  n->priv = p;
  return p;
}

static void need_float(Compiler *cc, Node *n) {
  if (!dtype_is_float(n->in[0]->dtype))
    fatal_at(cc, n, "input type %s is not supported", dtype_onnx_name(n->in[0]->dtype));
}

// Scale/bias input I holds one value per channel along X dim 1 (kept index KEPT_POS).
static void per_channel_param(Compiler *cc, Node *n, NormPlan *p, int slot, int i, int kept_pos) {
  Value *v = node_input(n, i);
  if (!v)
    return;
  if (shape_numel(&v->shape) != n->in[0]->shape.dim[1])
    fatal_at(cc, n, "input %d must hold %lld per-channel values", i, (long long)n->in[0]->shape.dim[1]);
  p->param_in[slot] = i;
  p->param_kept_st[slot][kept_pos] = 1;
}

static int64_t plan_count(const NormPlan *p) {
  int64_t count = 1;
  for (int i = 0; i < p->nred; i++)
    count *= p->red_dim[i];
  return count;
}

//
// Inference per op
//

// Y = (X - mean) / sqrt(var + eps) * Scale + B over dims [axis, rank); optional outputs
// Mean and InvStdDev of shape X.shape[:axis] + [1] * (rank - axis), in the stash type.
void infer_LayerNormalization(Compiler *cc, Node *n) {
  need_float(cc, n);
  const Shape *x = &n->in[0]->shape;
  int axis = norm_axis(cc, n, attr_int(n, "axis", -1), x->rank);
  NormPlan *p = new_plan(cc, n, attr_float(n, "epsilon", 1e-5f), (DType)attr_int(n, "stash_type", DT_F32));
  int64_t st[MAX_RANK];
  contiguous_strides(x, st);
  for (int d = 0; d < x->rank; d++) {
    if (d < axis)
      add_kept(p, x->dim[d], st[d]);
    else
      add_reduced(p, x->dim[d], st[d]);
  }
  // Scale and B broadcast (numpy rules, towards X) to the normalized shape X.shape[axis:].
  Shape norm_shape = shape_of(x->rank - axis, x->dim + axis);
  for (int slot = 0; slot < 2; slot++) {
    Value *v = node_input(n, 1 + slot);
    if (!v)
      continue;
    Shape b;
    if (v->shape.rank > norm_shape.rank || !broadcast_shapes(&v->shape, &norm_shape, &b) || !shape_eq(&b, &norm_shape))
      fatal_at(cc, n, "input %d of shape %s does not broadcast to the normalized shape %s", 1 + slot,
               shape_str(&cc->pool, &v->shape), shape_str(&cc->pool, &norm_shape));
    int64_t acc = 1;
    for (int d = norm_shape.rank - 1; d >= 0; d--) {
      int vd = v->shape.rank - norm_shape.rank + d;
      int64_t dim = vd >= 0 ? v->shape.dim[vd] : 1;
      p->param_red_st[slot][d] = dim == 1 ? 0 : acc;
      acc *= dim;
    }
    p->param_in[slot] = 1 + slot;
  }
  set_output(n, 0, n->in[0]->dtype, *x);
  Shape stats = *x;
  for (int d = axis; d < x->rank; d++)
    stats.dim[d] = 1;
  DType stash = (DType)attr_int(n, "stash_type", DT_F32);
  set_output(n, 1, stash, stats);
  set_output(n, 2, stash, stats);
}

// Statistics per (n, c) over the spatial dims.
void infer_InstanceNormalization(Compiler *cc, Node *n) {
  need_float(cc, n);
  const Shape *x = &n->in[0]->shape;
  if (x->rank < 3)
    fatal_at(cc, n, "input must have rank >= 3");
  NormPlan *p = new_plan(cc, n, attr_float(n, "epsilon", 1e-5f), n->in[0]->dtype);
  int64_t spatial = plane_size(x);
  add_kept(p, x->dim[0], x->dim[1] * spatial);
  add_kept(p, x->dim[1], spatial);
  add_reduced(p, spatial, 1);
  per_channel_param(cc, n, p, 0, 1, 1);
  per_channel_param(cc, n, p, 1, 2, 1);
  set_output(n, 0, n->in[0]->dtype, *x);
}

// Statistics per (n, group) over the group's channels and the spatial dims. Scale and bias
// hold one value per group in opset 18, one per channel since opset 21.
void infer_GroupNormalization(Compiler *cc, Node *n) {
  need_float(cc, n);
  const Shape *x = &n->in[0]->shape;
  int64_t groups = attr_int(n, "num_groups", 0);
  if (x->rank < 2 || groups <= 0 || x->dim[1] % groups)
    fatal_at(cc, n, "num_groups %lld does not divide the %lld channels of input %s", (long long)groups,
             (long long)(x->rank >= 2 ? x->dim[1] : 0), shape_str(&cc->pool, x));
  DType stash = n->opset >= 21 ? (DType)attr_int(n, "stash_type", DT_F32) : n->in[0]->dtype;
  NormPlan *p = new_plan(cc, n, attr_float(n, "epsilon", 1e-5f), stash);
  int64_t C = x->dim[1], cpg = C / groups, spatial = plane_size(x);
  add_kept(p, x->dim[0], C * spatial);
  add_kept(p, groups, cpg * spatial);
  add_reduced(p, cpg, spatial);
  add_reduced(p, spatial, 1);
  int64_t per = n->opset >= 21 ? C : groups;
  for (int slot = 0; slot < 2; slot++) {
    Value *v = node_input(n, 1 + slot);
    if (!v || shape_numel(&v->shape) != per)
      fatal_at(cc, n, "input %d must hold %lld values (one per %s)", 1 + slot, (long long)per,
               n->opset >= 21 ? "channel" : "group");
    p->param_in[slot] = 1 + slot;
    p->param_kept_st[slot][1] = n->opset >= 21 ? cpg : 1;
    p->param_red_st[slot][0] = n->opset >= 21 ? 1 : 0;
  }
  set_output(n, 0, n->in[0]->dtype, *x);
}

// (X - mean) / (sqrt(var) + 1e-9) over AXES (default: all but the channel dim of NCHW).
void infer_MeanVarianceNormalization(Compiler *cc, Node *n) {
  need_float(cc, n);
  const Shape *x = &n->in[0]->shape;
  static const int64_t dflt[] = {0, 2, 3};
  const int64_t *axes;
  int count = attr_ints(n, "axes", &axes);
  if (count < 0) {
    axes = dflt;
    count = 3;
  }
  bool reduced[MAX_RANK] = {0};
  for (int i = 0; i < count; i++)
    reduced[norm_axis(cc, n, axes[i], x->rank)] = true;
  NormPlan *p = new_plan(cc, n, 1e-9, n->in[0]->dtype);
  p->eps_after_sqrt = true;
  int64_t st[MAX_RANK];
  contiguous_strides(x, st);
  for (int d = 0; d < x->rank; d++) {
    if (reduced[d])
      add_reduced(p, x->dim[d], st[d]);
    else
      add_kept(p, x->dim[d], st[d]);
  }
  set_output(n, 0, n->in[0]->dtype, *x);
}

// Inference mode normalizes with the given mean and variance (lower_BatchNormalization);
// training mode (opset >= 14) with the batch statistics per channel, and also outputs the
// running statistics blended with MOMENTUM.
void infer_BatchNormalization(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape;
  if (x->rank < 2)
    fatal_at(cc, n, "input must have rank >= 2");
  for (int i = 1; i < 5; i++)
    if (!node_input(n, i) || shape_numel(&n->in[i]->shape) != x->dim[1])
      fatal_at(cc, n, "input %d must hold %lld per-channel values", i, (long long)x->dim[1]);
  set_output(n, 0, n->in[0]->dtype, *x);
  bool training = n->opset >= 14 && attr_int(n, "training_mode", 0);
  bool extra_outputs = false;
  for (int i = 1; i < n->nout; i++)
    extra_outputs |= n->out[i] != NULL;
  if (!training) {
    // Before opset 14 the optional outputs mean training; their saved mean and saved variance
    // have no agreed meaning.
    if (extra_outputs)
      fatal_at(cc, n, "training mode is not supported before opset 14");
    return;
  }
  need_float(cc, n);
  NormPlan *p = new_plan(cc, n, attr_float(n, "epsilon", 1e-5f), n->in[0]->dtype);
  int64_t C = x->dim[1], spatial = plane_size(x);
  add_kept(p, C, spatial);
  add_reduced(p, x->dim[0], C * spatial);
  add_reduced(p, spatial, 1);
  per_channel_param(cc, n, p, 0, 1, 0);
  per_channel_param(cc, n, p, 1, 2, 0);
  Shape c = shape_of(1, &C);
  set_output(n, 1, n->in[3]->dtype, c);
  set_output(n, 2, n->in[4]->dtype, c);
}

//
// Lowering
//
typedef struct {
  Loop loops[MAX_RANK];
  LLVMValueRef idx[MAX_RANK];
  int n;
} Nest;

static void begin_nest(KB *kb, Nest *nest, int n, const int64_t *dims) {
  nest->n = n;
  for (int i = 0; i < n; i++)
    nest->idx[i] = kb_for(kb, &nest->loops[i], dims[i]);
}

static void end_nest(KB *kb, Nest *nest) {
  for (int i = nest->n - 1; i >= 0; i--)
    kb_end_for(kb, &nest->loops[i]);
}

static LLVMValueRef add_idx(KB *kb, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWAdd(kb->b, a, b, ""); }

static LLVMValueRef load_as(KB *kb, Value *v, LLVMValueRef base, LLVMValueRef idx, DType ct) {
  return kb_convert(kb, kb_load(kb, v->dtype, base, idx), v->dtype, ct);
}

typedef struct {
  Node *n;
  const NormPlan *p;
  LLVMValueRef base, center;
} StatTerm;

static void stat_term(KB *kb, LLVMValueRef *idx, LLVMValueRef *terms, void *ctx) {
  const StatTerm *s = ctx;
  DType st = s->p->stat_type;
  LLVMValueRef off = add_idx(kb, s->base, kb_flat_strided(kb, s->p->nred, s->p->red_st, idx));
  LLVMValueRef v = load_as(kb, s->n->in[0], kb->in[0], off, st);
  if (s->center) {
    LLVMValueRef d = kb_sub(kb, st, v, s->center);
    v = kb_mul(kb, st, d, d);
  }
  terms[0] = v;
}

// Sum over the reduced nest of F(x) where F is identity (CENTER NULL) or (x - center)^2.
static LLVMValueRef reduce_sum(KB *kb, Node *n, const NormPlan *p, LLVMValueRef base, LLVMValueRef center) {
  LLVMTypeRef t = kb_ctype(kb, p->stat_type);
  StatTerm term = {n, p, base, center};
  LLVMValueRef sum;
  kb_sum(kb, 1, &t, p->nred, p->red_dim, NULL, stat_term, &term, &sum);
  return sum;
}

static LLVMValueRef sqrt_(KB *kb, LLVMValueRef v) {
  return kb_call_intrinsic(kb, "llvm.sqrt", LLVMTypeOf(v), &v, 1);
}

// Outputs besides Y: LayerNorm's Mean and InvStdDev, BatchNorm's running statistics.
static void store_statistics(KB *kb, Node *n, const NormPlan *p, LLVMValueRef at, LLVMValueRef mean,
                             LLVMValueRef var, LLVMValueRef inv) {
  DType st = p->stat_type;
  if (n->op->kind == OP_LayerNormalization) {
    for (int i = 1; i < 3 && i < n->nout; i++)
      if (n->out[i])
        kb_store(kb, n->out[i]->dtype, kb->out[i], at, kb_convert(kb, i == 1 ? mean : inv, st, n->out[i]->dtype));
    return;
  }
  if (n->op->kind != OP_BatchNormalization)
    return;
  LLVMValueRef momentum = kb_const(kb, st, attr_float(n, "momentum", 0.9f));
  LLVMValueRef keep = kb_const(kb, st, 1.0 - attr_float(n, "momentum", 0.9f));
  for (int i = 1; i < 3 && i < n->nout; i++) {
    if (!n->out[i])
      continue;
    LLVMValueRef running = load_as(kb, n->in[2 + i], kb->in[2 + i], at, st);
    LLVMValueRef r = kb_fma(kb, st, running, momentum, kb_mul(kb, st, i == 1 ? mean : var, keep));
    kb_store(kb, n->out[i]->dtype, kb->out[i], at, kb_convert(kb, r, st, n->out[i]->dtype));
  }
}

void lower_norm(KB *kb, Node *n) {
  const NormPlan *p = n->priv;
  DType dt = n->out[0]->dtype, ct = dtype_compute(dt), st = p->stat_type;
  LLVMValueRef count = kb_const(kb, st, (double)plan_count(p));
  Nest kept, red;
  begin_nest(kb, &kept, p->nkept, p->kept_dim);
  LLVMValueRef base = kb_flat_strided(kb, p->nkept, p->kept_st, kept.idx);
  // Two passes (mean, then the mean of squared deviations): no cancellation.
  LLVMValueRef mean = kb_div(kb, st, reduce_sum(kb, n, p, base, NULL), count);
  LLVMValueRef var = kb_div(kb, st, reduce_sum(kb, n, p, base, mean), count);
  LLVMValueRef eps = kb_const(kb, st, p->epsilon);
  LLVMValueRef sd = p->eps_after_sqrt ? kb_add(kb, st, sqrt_(kb, var), eps) : sqrt_(kb, kb_add(kb, st, var, eps));
  LLVMValueRef inv = kb_div(kb, st, kb_const(kb, st, 1.0), sd);
  Shape kshape = shape_of(p->nkept, p->kept_dim);
  store_statistics(kb, n, p, kb_flat(kb, &kshape, kept.idx), mean, var, inv);
  LLVMValueRef pbase[2];
  for (int s = 0; s < 2; s++)
    pbase[s] = kb_flat_strided(kb, p->nkept, p->param_kept_st[s], kept.idx);
  begin_nest(kb, &red, p->nred, p->red_dim);
  LLVMValueRef off = add_idx(kb, base, kb_flat_strided(kb, p->nred, p->red_st, red.idx));
  LLVMValueRef v = load_as(kb, n->in[0], kb->in[0], off, st);
  LLVMValueRef y = kb_convert(kb, kb_mul(kb, st, kb_sub(kb, st, v, mean), inv), st, ct);
  for (int s = 0; s < 2; s++) {
    if (p->param_in[s] < 0)
      continue;
    Value *pv = n->in[p->param_in[s]];
    LLVMValueRef at = add_idx(kb, pbase[s], kb_flat_strided(kb, p->nred, p->param_red_st[s], red.idx));
    LLVMValueRef w = load_as(kb, pv, kb->in[p->param_in[s]], at, ct);
    y = s == 0 ? kb_mul(kb, ct, y, w) : kb_add(kb, ct, y, w);
  }
  kb_store(kb, dt, kb->out[0], off, y);
  end_nest(kb, &red);
  end_nest(kb, &kept);
}

void lower_BatchNormalization(KB *kb, Node *n) {
  if (n->priv) { // training mode
    lower_norm(kb, n);
    return;
  }
  const Shape *x = &n->in[0]->shape;
  DType dt = n->out[0]->dtype, ct = dtype_compute(dt);
  int64_t C = x->dim[1], inner = plane_size(x);
  double eps = attr_float(n, "epsilon", 1e-5f);
  Loop ln, lc, li;
  LLVMValueRef nn = kb_for(kb, &ln, x->dim[0]);
  LLVMValueRef c = kb_for(kb, &lc, C);
  LLVMValueRef scale = load_as(kb, n->in[1], kb->in[1], c, ct);
  LLVMValueRef bias = load_as(kb, n->in[2], kb->in[2], c, ct);
  LLVMValueRef mean = load_as(kb, n->in[3], kb->in[3], c, ct);
  LLVMValueRef var = load_as(kb, n->in[4], kb->in[4], c, ct);
  LLVMValueRef a = kb_div(kb, ct, scale, sqrt_(kb, kb_add(kb, ct, var, kb_const(kb, ct, eps))));
  LLVMValueRef b = kb_sub(kb, ct, bias, kb_mul(kb, ct, mean, a));
  LLVMValueRef base = LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, nn, kb_idx(kb, C), ""), c, ""), kb_idx(kb, inner), "");
  LLVMValueRef i = kb_for(kb, &li, inner);
  LLVMValueRef off = LLVMBuildAdd(kb->b, base, i, "");
  kb_store(kb, dt, kb->out[0], off, kb_fma(kb, ct, kb_load(kb, dt, kb->in[0], off), a, b));
  kb_end_for(kb, &li);
  kb_end_for(kb, &lc);
  kb_end_for(kb, &ln);
}

//
// LRN: y = x / (bias + alpha / size * sum of x^2 over the channel window) ^ beta, the window
// being [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)] clipped to the channels.
//
void infer_LRN(Compiler *cc, Node *n) {
  need_float(cc, n);
  const Shape *x = &n->in[0]->shape;
  if (x->rank < 3)
    fatal_at(cc, n, "input must have rank >= 3");
  if (attr_int(n, "size", 0) <= 0)
    fatal_at(cc, n, "attribute 'size' must be positive");
  set_output(n, 0, n->in[0]->dtype, *x);
  // one plane of window sums in the compute type
  n->scratch = plane_size(x) * dtype_size(dtype_compute(n->in[0]->dtype));
}

void lower_LRN(KB *kb, Node *n) {
  const Shape *x = &n->in[0]->shape;
  DType dt = n->out[0]->dtype, ct = dtype_compute(dt);
  int64_t size = attr_int(n, "size", 1), C = x->dim[1], S = plane_size(x);
  double alpha = attr_float(n, "alpha", 1e-4f), beta = attr_float(n, "beta", 0.75f), bias = attr_float(n, "bias", 1.0f);
  int64_t before = (size - 1) / 2, after = size - 1 - before;
  Loop ln, lc, lw, ls;
  LLVMValueRef nn = kb_for(kb, &ln, x->dim[0]);
  LLVMValueRef c = kb_for(kb, &lc, C);
  LLVMValueRef plane = LLVMBuildMul(kb->b, add_idx(kb, LLVMBuildMul(kb->b, nn, kb_idx(kb, C), ""), c), kb_idx(kb, S), "");
  // The window sums of one plane accumulate in scratch, so every loop runs over contiguous data.
  kb_memset(kb, kb->scratch, 0, S * dtype_size(ct));
  LLVMValueRef lo = kb_max(kb, DT_I64, LLVMBuildSub(kb->b, c, kb_idx(kb, before), ""), kb_idx(kb, 0));
  LLVMValueRef hi = kb_min(kb, DT_I64, add_idx(kb, c, kb_idx(kb, after + 1)), kb_idx(kb, C));
  LLVMValueRef w = kb_for_v(kb, &lw, lo, hi, 1);
  LLVMValueRef src = LLVMBuildMul(kb->b, add_idx(kb, LLVMBuildMul(kb->b, nn, kb_idx(kb, C), ""), w), kb_idx(kb, S), "");
  LLVMValueRef s = kb_for(kb, &ls, S);
  LLVMValueRef v = kb_load(kb, dt, kb->in[0], add_idx(kb, src, s));
  kb_store(kb, ct, kb->scratch, s, kb_fma(kb, ct, v, v, kb_load(kb, ct, kb->scratch, s)));
  kb_end_for(kb, &ls);
  kb_end_for(kb, &lw);
  s = kb_for(kb, &ls, S);
  LLVMValueRef at = add_idx(kb, plane, s);
  LLVMValueRef base = kb_fma(kb, ct, kb_load(kb, ct, kb->scratch, s), kb_const(kb, ct, alpha / (double)size), kb_const(kb, ct, bias));
  // base^-beta as exp(-beta * log(base)): inline polynomials, no libm call
  LLVMValueRef scale = math_exp(kb, ct, kb_mul(kb, ct, kb_const(kb, ct, -beta), math_log(kb, ct, base)));
  kb_store(kb, dt, kb->out[0], at, kb_mul(kb, ct, kb_load(kb, dt, kb->in[0], at), scale));
  kb_end_for(kb, &ls);
  kb_end_for(kb, &lc);
  kb_end_for(kb, &ln);
}
