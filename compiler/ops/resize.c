// resize.c — spatial resampling: Resize (every mode, coordinate transformation, antialias,
// axes, keep_aspect_ratio_policy) and Upsample; GridSample; RoiAlign.
#include "../compiler.h"
#include "ops.h"

#include <math.h>
#include <string.h>

//
// Resize and Upsample. The output size, the scales and the ROI are known at compile time, so
// the source coordinate of every output position along every axis is too: inference computes,
// in double precision like the ONNX reference, which input elements each output position
// reads along each axis and with which weights (its taps). The lowering walks the output and
// sums the tensor product of the per-axis taps, read from constant tables. A dim of
// data-dependent length may only be on an axis that is copied (scale 1): it keeps its length.
//
typedef enum {
  AXIS_COPY,   // output position o reads input position o
  AXIS_GATHER, // one input position per output position, weight 1
  AXIS_TAPS,   // NTAPS weighted input positions per output position
} AxisKind;

typedef struct {
  AxisKind kind;
  int ntaps;
  int32_t *index;  // [out * ntaps] input positions, clamped into the axis (edge padding)
  double *weight;  // [out * ntaps]
  uint8_t *outside; // [out]: tf_crop_and_resize extrapolates there; NULL when nowhere
} AxisTaps;

typedef struct {
  AxisTaps axis[MAX_RANK];
  double extrapolation_value;
} ResizePlan;

typedef struct {
  const char *mode;    // nearest, linear, cubic
  const char *coord;   // coordinate_transformation_mode
  const char *nearest; // nearest_mode; "simple" before opset 11: floor up, ceil down
  double cubic_a;
  bool exclude_outside, antialias;
} Interp;

static bool is(const char *a, const char *b) { return !strcmp(a, b); }

static bool one_of(const char *s, const char *const *set) {
  for (; *set; set++)
    if (is(s, *set))
      return true;
  return false;
}

// Upsample and Resize-10: asymmetric coordinates, nearest or linear.
static bool legacy_resize(const Node *n) { return n->op->kind == OP_Upsample || n->opset < 11; }

static Interp read_interp(Compiler *cc, Node *n) {
  Interp it = {.mode = attr_string(n, "mode", "nearest"), .coord = "asymmetric", .nearest = "simple", .cubic_a = -0.75};
  static const char *const modes[] = {"nearest", "linear", "cubic", NULL};
  if (!one_of(it.mode, modes) || (legacy_resize(n) && is(it.mode, "cubic")))
    fatal_at(cc, n, "mode '%s' is not supported", it.mode);
  if (legacy_resize(n))
    return it;
  it.coord = attr_string(n, "coordinate_transformation_mode", "half_pixel");
  it.nearest = attr_string(n, "nearest_mode", "round_prefer_floor");
  it.cubic_a = attr_float(n, "cubic_coeff_a", -0.75f);
  it.exclude_outside = attr_int(n, "exclude_outside", 0);
  it.antialias = attr_int(n, "antialias", 0) && !is(it.mode, "nearest");
  static const char *const coords[] = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                                       "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize", NULL};
  static const char *const nearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil", NULL};
  if (!one_of(it.coord, coords))
    fatal_at(cc, n, "coordinate_transformation_mode '%s' is not supported", it.coord);
  if (!one_of(it.nearest, nearest))
    fatal_at(cc, n, "nearest_mode '%s' is not supported", it.nearest);
  return it;
}

// Source coordinate of output position O along an axis of IN elements resized to OUT
// (OUT = floor(IN * SCALE), or the requested size). Like the reference, align_corners and
// tf_crop_and_resize divide by the fractional resized length IN * SCALE.
static double source_coord(const Interp *it, int64_t o, int64_t in, int64_t out, double scale, double lo, double hi) {
  double x = (double)o, width = scale * (double)in;
  const char *c = it->coord;
  if (is(c, "half_pixel"))
    return (x + 0.5) / scale - 0.5;
  if (is(c, "half_pixel_symmetric")) {
    double center = (double)in / 2, adjustment = (double)out / width;
    return center * (1 - adjustment) + (x + 0.5) / scale - 0.5;
  }
  if (is(c, "pytorch_half_pixel"))
    return out > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
  if (is(c, "align_corners"))
    return width == 1 ? 0.0 : x * (double)(in - 1) / (width - 1);
  if (is(c, "tf_half_pixel_for_nn"))
    return (x + 0.5) / scale;
  if (is(c, "tf_crop_and_resize"))
    return width == 1 ? (hi - lo) * (double)(in - 1) / 2 + lo * (double)(in - 1)
                      : x * (hi - lo) * (double)(in - 1) / (width - 1) + lo * (double)(in - 1);
  return x / scale; // asymmetric
}

// Taps per output position; they start at offset 1 - ntaps / 2 from the input position just
// left of (or at distance 1 before) the source coordinate. Antialiasing widens the linear and
// cubic kernels by 1 / scale when downscaling.
static int tap_count(const Interp *it, double scale) {
  if (is(it->mode, "nearest"))
    return 1;
  double s = it->antialias && scale < 1 ? scale : 1;
  double support = is(it->mode, "linear") ? 1 : 2;
  return 2 - 2 * (int)(floor(-support / s) + 1);
}

static double cubic_kernel(double x, double a) {
  x = fabs(x);
  if (x <= 1)
    return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2)
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

// Weights of the N taps for a source coordinate at RATIO in (0, 1] past the base position;
// nearest returns the chosen offset (0: the base, 1: the next one) in W[0]'s place.
static void tap_weights(const Interp *it, double ratio, double scale, int ntaps, double *w, int *nearest_pick) {
  if (is(it->mode, "nearest")) {
    const char *m = it->nearest;
    bool next = ratio == 1 || is(m, "ceil") || (is(m, "round_prefer_floor") && ratio > 0.5) ||
                (is(m, "round_prefer_ceil") && ratio >= 0.5) || (is(m, "simple") && scale < 1);
    *nearest_pick = next;
    w[0] = 1;
    return;
  }
  int start = 1 - ntaps / 2;
  double s = it->antialias && scale < 1 ? scale : 1, sum = 0;
  bool linear = is(it->mode, "linear");
  for (int j = 0; j < ntaps; j++) {
    double arg = (start + j - ratio) * s;
    w[j] = linear ? fmax(0.0, 1 - fabs(arg)) : cubic_kernel(arg, it->cubic_a);
    sum += w[j];
  }
  if (it->antialias) // the widened kernels are normalized; the plain ones sum to 1 already
    for (int j = 0; j < ntaps; j++)
      w[j] /= sum;
}

static void build_axis(Compiler *cc, const Interp *it, AxisTaps *ax, int64_t in, int64_t out, double scale,
                       double lo, double hi) {
  int nt = tap_count(it, scale);
  ax->ntaps = nt;
  ax->index = pool_alloc(&cc->pool, sizeof(int32_t) * (size_t)(out * nt));
  ax->weight = pool_alloc(&cc->pool, sizeof(double) * (size_t)(out * nt));
  bool crop = is(it->coord, "tf_crop_and_resize");
  for (int64_t o = 0; o < out; o++) {
    double x = source_coord(it, o, in, out, scale, lo, hi), *w = ax->weight + o * nt;
    int32_t *idx = ax->index + o * nt;
    if (crop && (x < 0 || x > (double)(in - 1))) {
      if (!ax->outside)
        ax->outside = pool_alloc(&cc->pool, (size_t)out);
      ax->outside[o] = 1;
      continue;
    }
    // The base position is the one left of x, or x - 1 when x is a whole number (ratio 1).
    double fl = floor(x), ratio = x == fl ? 1.0 : x - fl;
    int64_t base = (int64_t)fl - (x == fl);
    int pick = 0;
    tap_weights(it, ratio, scale, nt, w, &pick);
    int64_t first = is(it->mode, "nearest") ? base + pick : base + 1 - nt / 2;
    double kept = 0;
    for (int j = 0; j < nt; j++) {
      int64_t p = first + j;
      if (it->exclude_outside && (p < 0 || p >= in))
        w[j] = 0;
      kept += w[j];
      idx[j] = (int32_t)(p < 0 ? 0 : p >= in ? in - 1 : p);
    }
    if (it->exclude_outside && kept != 0)
      for (int j = 0; j < nt; j++)
        w[j] /= kept;
  }
  // Axes where each position reads one input element with weight 1 need no arithmetic.
  int32_t *picked = pool_alloc(&cc->pool, sizeof(int32_t) * (size_t)(out + 1));
  bool single = true, identity = out == in && !ax->outside;
  for (int64_t o = 0; o < out && single; o++) {
    if (ax->outside && ax->outside[o])
      continue;
    int hits = 0;
    for (int j = 0; j < nt; j++)
      if (ax->weight[o * nt + j] != 0) {
        hits++;
        single &= ax->weight[o * nt + j] == 1;
        picked[o] = ax->index[o * nt + j];
      }
    single &= hits == 1;
    identity &= picked[o] == o;
  }
  ax->kind = AXIS_TAPS;
  if (single) {
    ax->kind = identity ? AXIS_COPY : AXIS_GATHER;
    ax->ntaps = 1;
    ax->index = picked;
  }
}

// Scales or sizes of the resized axes, from an Upsample-7 attribute or an input; an empty
// tensor counts as absent (opsets 11 and 12 pass one for the unused operand).
static Value *optional_const(Compiler *cc, Node *n, int i) {
  Value *v = node_input(n, i) ? need_const(cc, n, i) : NULL;
  return v && shape_numel(&v->shape) > 0 ? v : NULL;
}

void infer_Resize(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape;
  int rank = x->rank;
  Interp it = read_interp(cc, n);
  int axes[MAX_RANK], naxes = rank;
  bool seen[MAX_RANK] = {0};
  const int64_t *av;
  int na = attr_ints(n, "axes", &av);
  for (int i = 0; i < (na >= 0 ? na : rank); i++) {
    axes[i] = na >= 0 ? norm_axis(cc, n, av[i], rank) : i;
    if (seen[axes[i]])
      fatal_at(cc, n, "axis %d is repeated", axes[i]);
    seen[axes[i]] = true;
  }
  if (na >= 0)
    naxes = na;
  double scale[MAX_RANK], lo[MAX_RANK], hi[MAX_RANK];
  int64_t out[MAX_RANK];
  for (int d = 0; d < rank; d++) {
    scale[d] = 1, lo[d] = 0, hi[d] = 1, out[d] = x->dim[d];
    if (x->dim[d] <= 0)
      fatal_at(cc, n, "input of shape %s has an empty axis", shape_str(&cc->pool, x));
  }
  const float *attr_scales = NULL;
  Value *scales = NULL, *sizes = NULL, *roi = NULL;
  bool attr_form = n->op->kind == OP_Upsample && n->opset < 9;
  if (attr_form && attr_floats(n, "scales", &attr_scales) != rank)
    fatal_at(cc, n, "attribute 'scales' must have %d values", rank);
  if (!attr_form && legacy_resize(n))
    scales = optional_const(cc, n, 1);
  if (!legacy_resize(n)) {
    roi = is(it.coord, "tf_crop_and_resize") ? optional_const(cc, n, 1) : NULL;
    scales = optional_const(cc, n, 2);
    sizes = optional_const(cc, n, 3);
  }
  if (!attr_form && !scales == !sizes)
    fatal_at(cc, n, "exactly one of scales and sizes must be given");
  Value *given = scales ? scales : sizes;
  bool sized[MAX_RANK] = {0}; // the output length is requested (the sizes form)
  if (given && shape_numel(&given->shape) != naxes)
    fatal_at(cc, n, "%s has %lld values for %d axes", scales ? "scales" : "sizes",
             (long long)shape_numel(&given->shape), naxes);
  if (!sizes) {
    for (int i = 0; i < naxes; i++) {
      double s = attr_form ? attr_scales[i] : value_double(scales, i);
      if (!(s > 0))
        fatal_at(cc, n, "scale %g is not positive", s);
      scale[axes[i]] = s;
      out[axes[i]] = (int64_t)(s * (double)x->dim[axes[i]]);
    }
  } else {
    const char *policy = attr_string(n, "keep_aspect_ratio_policy", "stretch");
    bool smaller = is(policy, "not_larger");
    if (!smaller && !is(policy, "not_smaller") && !is(policy, "stretch"))
      fatal_at(cc, n, "keep_aspect_ratio_policy '%s' is not supported", policy);
    double common = smaller ? INFINITY : 0;
    for (int i = 0; i < naxes; i++) {
      sized[axes[i]] = true;
      out[axes[i]] = value_int(sizes, i);
      scale[axes[i]] = (double)out[axes[i]] / (double)x->dim[axes[i]];
      common = smaller ? fmin(common, scale[axes[i]]) : fmax(common, scale[axes[i]]);
    }
    for (int i = 0; !is(policy, "stretch") && i < naxes; i++) { // one scale, sizes rounded half up
      scale[axes[i]] = common;
      out[axes[i]] = (int64_t)(common * (double)x->dim[axes[i]] + 0.5);
    }
  }
  if (roi) {
    if (shape_numel(&roi->shape) != 2 * naxes)
      fatal_at(cc, n, "roi must have %d values", 2 * naxes);
    for (int i = 0; i < naxes; i++)
      lo[axes[i]] = value_double(roi, i), hi[axes[i]] = value_double(roi, naxes + i);
  }
  ResizePlan *p = pool_alloc(&cc->pool, sizeof(ResizePlan));
  p->extrapolation_value = attr_float(n, "extrapolation_value", 0.0f);
  Shape y = {.rank = rank};
  for (int d = 0; d < rank; d++) {
    if (out[d] <= 0)
      fatal_at(cc, n, "the output would be empty along axis %d", d);
    y.dim[d] = out[d];
    build_axis(cc, &it, &p->axis[d], x->dim[d], out[d], scale[d], lo[d], hi[d]);
    if ((n->in[0]->dynamic & DYN_DIM(d)) && (sized[d] || scale[d] != 1 || p->axis[d].kind != AXIS_COPY))
      reject_dynamic(cc, n, 0, pool_printf(&cc->pool, "axis %d is resized, which needs its length at compile time", d));
  }
  n->priv = p;
  set_output(n, 0, n->in[0]->dtype, y);
}

// Data-dependent dims are on copied axes: the output's are the input's.
void dims_Resize(KB *kb, const Node *n, RtShape *out) {
  RtShape in = kb_in_shape(kb, 0);
  out[0] = kb_shape_const(kb, &n->out[0]->shape);
  for (int d = 0; d < in.rank; d++)
    if (n->in[0]->dynamic & DYN_DIM(d))
      out[0].dim[d] = in.dim[d];
}

void lower_Resize(KB *kb, Node *n) {
  const ResizePlan *p = n->priv;
  const Shape *x = &n->in[0]->shape, *y = &n->out[0]->shape;
  RtShape xs = kb_in_shape(kb, 0), ys = kb_out_shape(kb, 0);
  DType dt = n->out[0]->dtype;
  // Weighted sums in the data's float compute type; integers in double, then truncated.
  DType wt = dtype_is_float(dt) ? dtype_compute(dt) : DT_F64;
  LLVMTypeRef wty = kb_ctype(kb, wt);
  LLVMValueRef st[MAX_RANK], yst[MAX_RANK];
  kb_strides(kb, &xs, st);
  kb_strides(kb, &ys, yst);
  LLVMValueRef index[MAX_RANK] = {0}, weight[MAX_RANK] = {0}, outside[MAX_RANK] = {0};
  bool weighted = false;
  for (int d = 0; d < x->rank; d++) {
    const AxisTaps *ax = &p->axis[d];
    int64_t entries = y->dim[d] * ax->ntaps;
    if (ax->kind != AXIS_COPY)
      index[d] = kb_table(kb, DT_I32, ax->index, entries);
    if (ax->kind == AXIS_TAPS) {
      float *wf = pool_alloc(&kb->cc->pool, sizeof(float) * (size_t)entries);
      for (int64_t i = 0; i < entries; i++)
        wf[i] = (float)ax->weight[i];
      weight[d] = wt == DT_F32 ? kb_table(kb, DT_F32, wf, entries) : kb_table(kb, DT_F64, ax->weight, entries);
      weighted = true;
    }
    if (ax->outside)
      outside[d] = kb_table(kb, DT_U8, ax->outside, y->dim[d]);
  }
  Loop lo[MAX_RANK], lt[MAX_RANK];
  LLVMValueRef oi[MAX_RANK];
  kb_for_rt(kb, lo, &ys, oi);
  LLVMValueRef off = kb_idx(kb, 0), out_of_roi = NULL;
  for (int d = 0; d < x->rank; d++) {
    if (outside[d]) {
      LLVMValueRef o = kb_load(kb, DT_BOOL, outside[d], oi[d]);
      out_of_roi = out_of_roi ? LLVMBuildOr(kb->b, out_of_roi, o, "") : o;
    }
    const AxisTaps *ax = &p->axis[d];
    if (ax->kind == AXIS_TAPS)
      continue;
    LLVMValueRef pos = ax->kind == AXIS_COPY ? oi[d] : LLVMBuildSExt(kb->b, kb_load(kb, DT_I32, index[d], oi[d]), kb->t_idx, "");
    off = LLVMBuildNSWAdd(kb->b, off, LLVMBuildNSWMul(kb->b, pos, st[d], ""), "");
  }
  LLVMValueRef v;
  if (!weighted) {
    v = kb_load(kb, dt, kb->in[0], off);
  } else {
    LLVMValueRef acc = kb_var(kb, wty, kb_const(kb, wt, 0.0)), w = NULL;
    for (int d = 0; d < x->rank; d++) {
      const AxisTaps *ax = &p->axis[d];
      if (ax->kind != AXIS_TAPS)
        continue;
      LLVMValueRef t = kb_for(kb, &lt[d], ax->ntaps);
      LLVMValueRef at = LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, oi[d], kb_idx(kb, ax->ntaps), ""), t, "");
      LLVMValueRef pos = LLVMBuildSExt(kb->b, kb_load(kb, DT_I32, index[d], at), kb->t_idx, "");
      off = LLVMBuildNSWAdd(kb->b, off, LLVMBuildNSWMul(kb->b, pos, st[d], ""), "");
      LLVMValueRef wd = kb_load(kb, wt, weight[d], at);
      w = w ? kb_mul(kb, wt, w, wd) : wd;
    }
    LLVMValueRef xv = kb_convert(kb, kb_load(kb, dt, kb->in[0], off), dt, wt);
    kb_set(kb, acc, kb_fma(kb, wt, w, xv, kb_get(kb, wty, acc)));
    for (int d = x->rank - 1; d >= 0; d--)
      if (p->axis[d].kind == AXIS_TAPS)
        kb_end_for(kb, &lt[d]);
    v = kb_convert(kb, kb_get(kb, wty, acc), wt, dt);
  }
  if (out_of_roi)
    v = kb_select(kb, out_of_roi, kb_convert(kb, kb_const(kb, wt, p->extrapolation_value), wt, dt), v);
  kb_store(kb, dt, kb->out[0], kb_dot(kb, ys.rank, oi, yst), v);
  kb_end_for_rt(kb, lo, &ys);
}

//
// GridSample: Y[n, c, o...] samples X[n, c] at the normalized position grid[n, o...] (the
// last grid component indexes the last spatial dim). Opset 16 names the modes bilinear and
// bicubic, opset 20 (N-D) linear and cubic.
//
typedef enum { SAMPLE_NEAREST, SAMPLE_LINEAR, SAMPLE_CUBIC } SampleMode;
typedef enum { PAD_ZEROS, PAD_BORDER, PAD_REFLECTION } PadMode;

typedef struct {
  SampleMode mode;
  PadMode pad;
  bool align_corners;
} GridPlan;

void infer_GridSample(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape, *g = &n->in[1]->shape;
  int nsp = x->rank - 2;
  if (nsp < 1 || g->rank != x->rank || g->dim[0] != x->dim[0] || g->dim[g->rank - 1] != nsp)
    fatal_at(cc, n, "grid %s does not match X %s", shape_str(&cc->pool, g), shape_str(&cc->pool, x));
  if (!dtype_is_float(n->in[1]->dtype) || !dtype_supported(n->in[0]->dtype) || n->in[0]->dtype == DT_STRING)
    fatal_at(cc, n, "types %s and %s are not supported", dtype_onnx_name(n->in[0]->dtype), dtype_onnx_name(n->in[1]->dtype));
  GridPlan *p = pool_alloc(&cc->pool, sizeof(GridPlan));
  const char *mode = attr_string(n, "mode", n->opset >= 20 ? "linear" : "bilinear");
  const char *pad = attr_string(n, "padding_mode", "zeros");
  if (is(mode, "nearest"))
    p->mode = SAMPLE_NEAREST;
  else if (is(mode, n->opset >= 20 ? "linear" : "bilinear"))
    p->mode = SAMPLE_LINEAR;
  else if (is(mode, n->opset >= 20 ? "cubic" : "bicubic"))
    p->mode = SAMPLE_CUBIC;
  else
    fatal_at(cc, n, "mode '%s' is not supported", mode);
  if (is(pad, "zeros"))
    p->pad = PAD_ZEROS;
  else if (is(pad, "border"))
    p->pad = PAD_BORDER;
  else if (is(pad, "reflection"))
    p->pad = PAD_REFLECTION;
  else
    fatal_at(cc, n, "padding_mode '%s' is not supported", pad);
  p->align_corners = attr_int(n, "align_corners", 0);
  n->priv = p;
  Shape y = *g;
  y.dim[1] = x->dim[1];
  for (int i = 0; i < nsp; i++)
    y.dim[2 + i] = g->dim[1 + i];
  set_output(n, 0, n->in[0]->dtype, y);
}

// Folds V into [lo, hi] by reflecting at the borders as often as needed.
static LLVMValueRef reflect(KB *kb, DType ct, LLVMValueRef v, double lo, double hi) {
  if (hi <= lo)
    return kb_const(kb, ct, lo);
  LLVMValueRef below = kb_lt(kb, ct, v, kb_const(kb, ct, lo)), above = kb_gt(kb, ct, v, kb_const(kb, ct, hi));
  LLVMValueRef dx = kb_select(kb, below, kb_sub(kb, ct, kb_const(kb, ct, lo), v), kb_sub(kb, ct, v, kb_const(kb, ct, hi)));
  LLVMValueRef range = kb_const(kb, ct, hi - lo);
  LLVMValueRef flips = kb_round(kb, ct, kb_div(kb, ct, dx, range), ROUND_TRUNC);
  LLVMValueRef r = kb_sub(kb, ct, dx, kb_mul(kb, ct, flips, range));
  LLVMValueRef odd = LLVMBuildTrunc(kb->b, kb_convert(kb, flips, ct, DT_I64), LLVMInt1TypeInContext(kb->ctx), "");
  LLVMValueRef from_lo = kb_add(kb, ct, kb_const(kb, ct, lo), r), from_hi = kb_sub(kb, ct, kb_const(kb, ct, hi), r);
  LLVMValueRef folded = kb_select(kb, below, kb_select(kb, odd, from_hi, from_lo), kb_select(kb, odd, from_lo, from_hi));
  return kb_select(kb, LLVMBuildOr(kb->b, below, above, ""), folded, v);
}

// One spatial dim of a grid sample: the taps' positions (clamped into the dim), weights and
// (zeros padding) whether they lie inside.
typedef struct {
  int ntaps;
  LLVMValueRef pos[4], weight[4], inside[4];
} DimTaps;

static void cubic_weights(KB *kb, DType ct, LLVMValueRef t, LLVMValueRef *w) {
  const double a = -0.75;
  LLVMValueRef one = kb_const(kb, ct, 1.0);
  LLVMValueRef d[4] = {kb_add(kb, ct, t, one), t, kb_sub(kb, ct, one, t), kb_sub(kb, ct, kb_const(kb, ct, 2.0), t)};
  for (int i = 0; i < 4; i++) {
    LLVMValueRef x = d[i];
    if (i == 1 || i == 2) // |x| <= 1: ((a + 2) x - (a + 3)) x^2 + 1
      w[i] = kb_fma(kb, ct, kb_mul(kb, ct, kb_sub(kb, ct, kb_mul(kb, ct, kb_const(kb, ct, a + 2), x), kb_const(kb, ct, a + 3)), x), x, one);
    else // 1 <= |x| <= 2: ((a x - 5a) x + 8a) x - 4a
      w[i] = kb_sub(kb, ct, kb_mul(kb, ct, kb_fma(kb, ct, kb_sub(kb, ct, kb_mul(kb, ct, kb_const(kb, ct, a), x), kb_const(kb, ct, 5 * a)), x, kb_const(kb, ct, 8 * a)), x), kb_const(kb, ct, 4 * a));
  }
}

static DimTaps grid_dim_taps(KB *kb, const GridPlan *p, DType ct, LLVMValueRef g, int64_t len, int nsp) {
  double lo = p->align_corners ? 0 : -0.5, hi = p->align_corners ? (double)len - 1 : (double)len - 0.5;
  LLVMValueRef one = kb_const(kb, ct, 1.0);
  // normalized [-1, 1] to pixel coordinates
  LLVMValueRef x = p->align_corners ? kb_mul(kb, ct, kb_add(kb, ct, g, one), kb_const(kb, ct, (double)(len - 1) / 2))
                                    : kb_div(kb, ct, kb_sub(kb, ct, kb_mul(kb, ct, kb_add(kb, ct, g, one), kb_const(kb, ct, (double)len)), one), kb_const(kb, ct, 2.0));
  if (p->mode == SAMPLE_NEAREST) // PyTorch rounds half to even in 2-D, away from zero in 3-D
    x = kb_round(kb, ct, x, nsp == 3 ? ROUND_HALF_AWAY : ROUND_EVEN);
  if (p->pad == PAD_BORDER) {
    LLVMValueRef out = LLVMBuildOr(kb->b, kb_lt(kb, ct, x, kb_const(kb, ct, lo)), kb_gt(kb, ct, x, kb_const(kb, ct, hi)), "");
    LLVMValueRef clamped = kb_min(kb, ct, kb_max(kb, ct, x, kb_const(kb, ct, 0.0)), kb_const(kb, ct, (double)(len - 1)));
    x = kb_select(kb, out, clamped, x);
  } else if (p->pad == PAD_REFLECTION) {
    x = reflect(kb, ct, x, lo, hi);
  }
  DimTaps d = {.ntaps = p->mode == SAMPLE_NEAREST ? 1 : p->mode == SAMPLE_LINEAR ? 2 : 4};
  LLVMValueRef base;
  if (p->mode == SAMPLE_NEAREST) {
    base = x;
    d.weight[0] = one;
  } else {
    base = kb_round(kb, ct, x, ROUND_FLOOR);
    LLVMValueRef t = kb_sub(kb, ct, x, base);
    if (p->mode == SAMPLE_LINEAR)
      d.weight[0] = kb_sub(kb, ct, one, t), d.weight[1] = t;
    else
      cubic_weights(kb, ct, t, d.weight);
    if (p->mode == SAMPLE_CUBIC)
      base = kb_sub(kb, ct, base, one);
  }
  LLVMValueRef first = kb_convert(kb, base, ct, DT_I64);
  for (int t = 0; t < d.ntaps; t++) {
    LLVMValueRef pos = LLVMBuildAdd(kb->b, first, kb_const_int(kb, DT_I64, t), "");
    if (p->pad == PAD_REFLECTION) // taps outside fold back in too
      pos = kb_convert(kb, reflect(kb, ct, kb_convert(kb, pos, DT_I64, ct), lo, hi), ct, DT_I64);
    d.inside[t] = LLVMBuildICmp(kb->b, LLVMIntULT, pos, kb_const_int(kb, DT_I64, len), "");
    pos = kb_min(kb, DT_I64, kb_max(kb, DT_I64, pos, kb_const_int(kb, DT_I64, 0)), kb_const_int(kb, DT_I64, len - 1));
    d.pos[t] = LLVMBuildIntCast2(kb->b, pos, kb->t_idx, 1, "");
  }
  return d;
}

// Sum over the tensor product of the taps of dims D.. (compile-time recursion: at most 4^3 terms).
static LLVMValueRef sum_taps(KB *kb, const GridPlan *p, DType wt, Node *n, const DimTaps *taps, int nsp, int d,
                             LLVMValueRef off, LLVMValueRef w, LLVMValueRef inside, const int64_t *st) {
  if (d == nsp) {
    DType dt = n->in[0]->dtype;
    LLVMValueRef v = kb_convert(kb, kb_load(kb, dt, kb->in[0], off), dt, wt);
    if (inside)
      v = kb_select(kb, inside, v, kb_const(kb, wt, 0.0));
    return w ? kb_mul(kb, wt, w, v) : v;
  }
  LLVMValueRef sum = NULL;
  for (int t = 0; t < taps[d].ntaps; t++) {
    LLVMValueRef o = LLVMBuildNSWAdd(kb->b, off, LLVMBuildNSWMul(kb->b, taps[d].pos[t], kb_idx(kb, st[d]), ""), "");
    LLVMValueRef wd = taps[d].ntaps > 1 ? taps[d].weight[t] : NULL;
    LLVMValueRef ww = w && wd ? kb_mul(kb, wt, w, wd) : w ? w : wd;
    LLVMValueRef in = p->pad != PAD_ZEROS ? NULL : inside ? LLVMBuildAnd(kb->b, inside, taps[d].inside[t], "") : taps[d].inside[t];
    LLVMValueRef term = sum_taps(kb, p, wt, n, taps, nsp, d + 1, o, ww, in, st);
    sum = sum ? kb_add(kb, wt, sum, term) : term;
  }
  return sum;
}

void lower_GridSample(KB *kb, Node *n) {
  const GridPlan *p = n->priv;
  const Shape *x = &n->in[0]->shape, *y = &n->out[0]->shape;
  int nsp = x->rank - 2;
  DType dt = n->out[0]->dtype, gt = n->in[1]->dtype;
  DType wt = dtype_is_float(dt) ? dtype_compute(dt) : DT_F64, ct = dtype_compute(gt);
  int64_t C = x->dim[1], plane = 1, st[MAX_RANK], out_plane = 1;
  for (int d = nsp - 1; d >= 0; d--) {
    st[d] = plane;
    plane *= x->dim[2 + d];
    out_plane *= y->dim[2 + d];
  }
  // Positions and weights once per output point, then every channel.
  Shape points = {.rank = nsp + 1, .dim = {y->dim[0]}};
  for (int d = 0; d < nsp; d++)
    points.dim[1 + d] = y->dim[2 + d];
  Loop lp[MAX_RANK], lc;
  LLVMValueRef pi[MAX_RANK];
  kb_for_shape(kb, lp, &points, pi);
  LLVMValueRef gbase = LLVMBuildNSWMul(kb->b, kb_flat(kb, &points, pi), kb_idx(kb, nsp), "");
  DimTaps taps[MAX_RANK];
  for (int d = 0; d < nsp; d++) {
    LLVMValueRef g = kb_load(kb, gt, kb->in[1], LLVMBuildNSWAdd(kb->b, gbase, kb_idx(kb, nsp - 1 - d), ""));
    taps[d] = grid_dim_taps(kb, p, ct, g, x->dim[2 + d], nsp);
    for (int t = 0; t < taps[d].ntaps; t++)
      taps[d].weight[t] = kb_convert(kb, taps[d].weight[t], ct, wt);
  }
  Shape osp = {.rank = nsp};
  for (int d = 0; d < nsp; d++)
    osp.dim[d] = y->dim[2 + d];
  LLVMValueRef opos = kb_flat(kb, &osp, pi + 1); // flat spatial output position
  LLVMValueRef c = kb_for(kb, &lc, C);
  LLVMValueRef nc = LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, pi[0], kb_idx(kb, C), ""), c, "");
  LLVMValueRef xbase = LLVMBuildNSWMul(kb->b, nc, kb_idx(kb, plane), "");
  LLVMValueRef v = sum_taps(kb, p, wt, n, taps, nsp, 0, xbase, NULL, NULL, st);
  LLVMValueRef yoff = LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, nc, kb_idx(kb, out_plane), ""), opos, "");
  kb_store(kb, dt, kb->out[0], yoff, kb_convert(kb, v, wt, dt));
  kb_end_for(kb, &lc);
  kb_end_for_shape(kb, lp, &points);
}

//
// RoiAlign: each ROI (x1, y1, x2, y2 in input coordinates times spatial_scale) is divided into
// output_height x output_width bins; a bin averages (or maxes) bilinear samples on a regular
// grid, sampling_ratio per side or ceil(bin size) when 0 (then known only at run time).
//
void infer_RoiAlign(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape, *rois = &n->in[1]->shape, *bi = &n->in[2]->shape;
  if (x->rank != 4 || rois->rank != 2 || rois->dim[1] != 4 || bi->rank != 1 || bi->dim[0] != rois->dim[0])
    fatal_at(cc, n, "X %s, rois %s and batch_indices %s do not match", shape_str(&cc->pool, x),
             shape_str(&cc->pool, rois), shape_str(&cc->pool, bi));
  if (!dtype_is_float(n->in[0]->dtype) || !dtype_is_float(n->in[1]->dtype))
    fatal_at(cc, n, "input type %s is not supported", dtype_onnx_name(n->in[0]->dtype));
  const char *mode = attr_string(n, "mode", "avg");
  if (!is(mode, "avg") && !is(mode, "max"))
    fatal_at(cc, n, "mode '%s' is not supported", mode);
  const char *ctm = attr_string(n, "coordinate_transformation_mode", n->opset >= 16 ? "half_pixel" : "output_half_pixel");
  if (!is(ctm, "half_pixel") && !is(ctm, "output_half_pixel"))
    fatal_at(cc, n, "coordinate_transformation_mode '%s' is not supported", ctm);
  int64_t oh = attr_int(n, "output_height", 1), ow = attr_int(n, "output_width", 1);
  if (oh <= 0 || ow <= 0 || attr_int(n, "sampling_ratio", 0) < 0)
    fatal_at(cc, n, "output sizes must be positive, sampling_ratio not negative");
  Shape y = {.rank = 4, .dim = {rois->dim[0], x->dim[1], oh, ow}};
  set_output(n, 0, n->in[0]->dtype, y);
  n->scratch = x->dim[1] * dtype_size(dtype_compute(n->in[0]->dtype)); // one bin, every channel
}

typedef struct {
  LLVMValueRef pos[4], weight[4];
} Bilinear;

// The reference's bilinear sample at (y, x): zero weights outside [-1, size], coordinates
// clamped at 0 below and to the last row/column above.
static Bilinear roi_sample(KB *kb, DType ct, LLVMValueRef y, LLVMValueRef x, int64_t h, int64_t w) {
  LLVMValueRef zero = kb_const(kb, ct, 0.0), one = kb_const(kb, ct, 1.0);
  LLVMValueRef out = LLVMBuildOr(kb->b, LLVMBuildOr(kb->b, kb_lt(kb, ct, y, kb_const(kb, ct, -1.0)), kb_gt(kb, ct, y, kb_const(kb, ct, (double)h)), ""),
                                 LLVMBuildOr(kb->b, kb_lt(kb, ct, x, kb_const(kb, ct, -1.0)), kb_gt(kb, ct, x, kb_const(kb, ct, (double)w)), ""), "");
  LLVMValueRef lo[2], hi[2], frac[2], c[2] = {kb_max(kb, ct, y, zero), kb_max(kb, ct, x, zero)};
  int64_t size[2] = {h, w};
  for (int i = 0; i < 2; i++) {
    LLVMValueRef low = kb_convert(kb, c[i], ct, DT_I64); // truncation: c >= 0
    LLVMValueRef last = LLVMBuildICmp(kb->b, LLVMIntSGE, low, kb_const_int(kb, DT_I64, size[i] - 1), "");
    lo[i] = kb_select(kb, last, kb_const_int(kb, DT_I64, size[i] - 1), low);
    hi[i] = kb_select(kb, last, lo[i], LLVMBuildAdd(kb->b, low, kb_const_int(kb, DT_I64, 1), ""));
    frac[i] = kb_select(kb, last, zero, kb_sub(kb, ct, c[i], kb_convert(kb, low, DT_I64, ct)));
  }
  Bilinear s;
  LLVMValueRef wy[2] = {kb_sub(kb, ct, one, frac[0]), frac[0]}, wx[2] = {kb_sub(kb, ct, one, frac[1]), frac[1]};
  for (int k = 0; k < 4; k++) {
    LLVMValueRef row = k < 2 ? lo[0] : hi[0], col = k % 2 ? hi[1] : lo[1];
    LLVMValueRef pos = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, row, kb_const_int(kb, DT_I64, w), ""), col, "");
    s.pos[k] = kb_select(kb, out, kb_idx(kb, 0), LLVMBuildIntCast2(kb->b, pos, kb->t_idx, 1, ""));
    s.weight[k] = kb_select(kb, out, zero, kb_mul(kb, ct, wy[k / 2], wx[k % 2]));
  }
  return s;
}

void lower_RoiAlign(KB *kb, Node *n) {
  const Shape *x = &n->in[0]->shape, *y = &n->out[0]->shape;
  DType dt = n->out[0]->dtype, ct = dtype_compute(dt), rt = n->in[1]->dtype, bt = n->in[2]->dtype;
  int64_t C = x->dim[1], H = x->dim[2], W = x->dim[3], oh = y->dim[2], ow = y->dim[3];
  bool is_max = is(attr_string(n, "mode", "avg"), "max");
  bool half = is(attr_string(n, "coordinate_transformation_mode", n->opset >= 16 ? "half_pixel" : "output_half_pixel"), "half_pixel");
  int64_t ratio = attr_int(n, "sampling_ratio", 0);
  double scale = attr_float(n, "spatial_scale", 1.0f);
  Loop lr, lh, lw, lc, ly, lx;
  LLVMValueRef r = kb_for(kb, &lr, y->dim[0]);
  LLVMValueRef b = LLVMBuildIntCast2(kb->b, kb_load(kb, bt, kb->in[2], r), kb->t_idx, dtype_is_signed(bt), "");
  b = kb_min(kb, DT_I64, kb_max(kb, DT_I64, b, kb_idx(kb, 0)), kb_idx(kb, x->dim[0] - 1));
  LLVMValueRef corner[4]; // x1, y1, x2, y2
  for (int i = 0; i < 4; i++) {
    LLVMValueRef v = kb_convert(kb, kb_load(kb, rt, kb->in[1], LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, r, kb_idx(kb, 4), ""), kb_idx(kb, i), "")), rt, ct);
    corner[i] = kb_sub(kb, ct, kb_mul(kb, ct, v, kb_const(kb, ct, scale)), kb_const(kb, ct, half ? 0.5 : 0.0));
  }
  LLVMValueRef size[2] = {kb_sub(kb, ct, corner[3], corner[1]), kb_sub(kb, ct, corner[2], corner[0])}; // h, w
  LLVMValueRef bin[2], grid[2];
  int64_t bins[2] = {oh, ow};
  for (int i = 0; i < 2; i++) {
    if (!half) // malformed ROIs become 1x1
      size[i] = kb_max(kb, ct, size[i], kb_const(kb, ct, 1.0));
    bin[i] = kb_div(kb, ct, size[i], kb_const(kb, ct, (double)bins[i]));
    LLVMValueRef adaptive = kb_round(kb, ct, bin[i], ROUND_CEIL);
    grid[i] = ratio > 0 ? kb_idx(kb, ratio) : kb_max(kb, DT_I64, LLVMBuildIntCast2(kb->b, kb_convert(kb, adaptive, ct, DT_I64), kb->t_idx, 1, ""), kb_idx(kb, 0));
  }
  LLVMValueRef samples = LLVMBuildMul(kb->b, grid[0], grid[1], "");
  LLVMValueRef count = kb_convert(kb, kb_max(kb, DT_I64, samples, kb_idx(kb, 1)), DT_I64, ct);
  LLVMValueRef step[2] = {kb_div(kb, ct, bin[0], kb_convert(kb, grid[0], DT_I64, ct)), kb_div(kb, ct, bin[1], kb_convert(kb, grid[1], DT_I64, ct))};
  LLVMValueRef ph = kb_for(kb, &lh, oh), pw = kb_for(kb, &lw, ow);
  // The bin accumulates in scratch, one value per channel.
  LLVMValueRef none = LLVMBuildICmp(kb->b, LLVMIntEQ, samples, kb_idx(kb, 0), "");
  LLVMValueRef init = is_max ? kb_select(kb, none, kb_const(kb, ct, 0.0), kb_const(kb, ct, -INFINITY)) : kb_const(kb, ct, 0.0);
  LLVMValueRef c = kb_for(kb, &lc, C);
  kb_store(kb, ct, kb->scratch, c, init);
  kb_end_for(kb, &lc);
  LLVMValueRef start[2] = {kb_fma(kb, ct, kb_convert(kb, ph, DT_I64, ct), bin[0], corner[1]), kb_fma(kb, ct, kb_convert(kb, pw, DT_I64, ct), bin[1], corner[0])};
  LLVMValueRef iy = kb_for_v(kb, &ly, kb_idx(kb, 0), grid[0], 1);
  LLVMValueRef yy = kb_fma(kb, ct, kb_add(kb, ct, kb_convert(kb, iy, DT_I64, ct), kb_const(kb, ct, 0.5)), step[0], start[0]);
  LLVMValueRef ix = kb_for_v(kb, &lx, kb_idx(kb, 0), grid[1], 1);
  LLVMValueRef xx = kb_fma(kb, ct, kb_add(kb, ct, kb_convert(kb, ix, DT_I64, ct), kb_const(kb, ct, 0.5)), step[1], start[1]);
  Bilinear s = roi_sample(kb, ct, yy, xx, H, W);
  c = kb_for(kb, &lc, C);
  LLVMValueRef plane = LLVMBuildNSWMul(kb->b, LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, b, kb_idx(kb, C), ""), c, ""), kb_idx(kb, H * W), "");
  LLVMValueRef val = NULL;
  for (int k = 0; k < 4; k++) {
    LLVMValueRef v = kb_convert(kb, kb_load(kb, dt, kb->in[0], LLVMBuildNSWAdd(kb->b, plane, s.pos[k], "")), dt, ct);
    v = kb_mul(kb, ct, s.weight[k], v);
    val = !val ? v : is_max ? kb_max(kb, ct, val, v) : kb_add(kb, ct, val, v);
  }
  LLVMValueRef cur = kb_load(kb, ct, kb->scratch, c);
  kb_store(kb, ct, kb->scratch, c, is_max ? kb_max(kb, ct, cur, val) : kb_add(kb, ct, cur, val));
  kb_end_for(kb, &lc);
  kb_end_for(kb, &lx);
  kb_end_for(kb, &ly);
  c = kb_for(kb, &lc, C);
  LLVMValueRef acc = kb_load(kb, ct, kb->scratch, c);
  if (!is_max)
    acc = kb_div(kb, ct, acc, count);
  LLVMValueRef at = LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, r, kb_idx(kb, C), ""), c, ""), kb_idx(kb, oh * ow), ""),
                                    LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, ph, kb_idx(kb, ow), ""), pw, ""), "");
  kb_store(kb, dt, kb->out[0], at, acc);
  kb_end_for(kb, &lc);
  kb_end_for(kb, &lw);
  kb_end_for(kb, &lh);
  kb_end_for(kb, &lr);
}
