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
// sums the tensor product of the per-axis taps, read from constant tables.
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
  }
  n->priv = p;
  set_output(n, 0, n->in[0]->dtype, y);
}

void lower_Resize(KB *kb, Node *n) {
  const ResizePlan *p = n->priv;
  const Shape *x = &n->in[0]->shape, *y = &n->out[0]->shape;
  DType dt = n->out[0]->dtype;
  // Weighted sums in the data's float compute type; integers in double, then truncated.
  DType wt = dtype_is_float(dt) ? dtype_compute(dt) : DT_F64;
  LLVMTypeRef wty = kb_ctype(kb, wt);
  int64_t st[MAX_RANK], acc_st = 1;
  for (int d = x->rank - 1; d >= 0; d--)
    st[d] = acc_st, acc_st *= x->dim[d];
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
  kb_for_shape(kb, lo, y, oi);
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
    off = LLVMBuildNSWAdd(kb->b, off, LLVMBuildNSWMul(kb->b, pos, kb_idx(kb, st[d]), ""), "");
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
      off = LLVMBuildNSWAdd(kb->b, off, LLVMBuildNSWMul(kb->b, pos, kb_idx(kb, st[d]), ""), "");
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
  kb_store(kb, dt, kb->out[0], kb_flat(kb, y, oi), v);
  kb_end_for_shape(kb, lo, y);
}
