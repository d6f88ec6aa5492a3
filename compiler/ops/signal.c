// signal.c — DFT, STFT, the window functions (Hann, Hamming, Blackman) and MelWeightMatrix.
// Complex tensors have a trailing dim of 2 (real, imaginary); real ones a trailing 1. The
// transforms are direct DFTs whose twiddle factors are a table computed at compile time;
// they accumulate in double, so near-zero bins come out as exact as the reference's FFT.
#include "../compiler.h"
#include "ops.h"

#include <math.h>

static const double PI = 3.14159265358979323846;

// A constant global of N doubles.
static LLVMValueRef const_doubles(KB *kb, const double *v, int64_t n) {
  LLVMTypeRef f64 = LLVMDoubleTypeInContext(kb->ctx);
  LLVMValueRef *elems = pool_alloc(&kb->cc->pool, sizeof(LLVMValueRef) * (size_t)(n + 1));
  for (int64_t i = 0; i < n; i++)
    elems[i] = LLVMConstReal(f64, v[i]);
  LLVMValueRef init = LLVMConstArray2(f64, elems, (uint64_t)n);
  LLVMValueRef g = LLVMAddGlobal(kb->mod, LLVMTypeOf(init), "twiddles");
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
  return g;
}

// One bin of a DFT of size N over samples x[base + n * stride] (and x[... + 1], the imaginary
// part, when complex), zero beyond LEN samples, optionally times window[n].
typedef struct {
  DType dt;
  LLVMValueRef x;
  bool complex;
  int64_t len, n, stride;
  LLVMValueRef window;
  DType window_dt;
  bool inverse;
  LLVMValueRef cos_t, sin_t; // cos and sin of 2 pi m / n
} Dft;

static Dft dft_setup(KB *kb, int64_t n, bool inverse) {
  double *c = pool_alloc(&kb->cc->pool, sizeof(double) * (size_t)(n + 1));
  double *s = pool_alloc(&kb->cc->pool, sizeof(double) * (size_t)(n + 1));
  for (int64_t m = 0; m < n; m++) {
    c[m] = cos(2 * PI * (double)m / (double)n);
    s[m] = sin(2 * PI * (double)m / (double)n);
  }
  return (Dft){.n = n, .inverse = inverse, .cos_t = const_doubles(kb, c, n), .sin_t = const_doubles(kb, s, n)};
}

static void dft_bin(KB *kb, const Dft *d, LLVMValueRef base, LLVMValueRef k, LLVMValueRef *re, LLVMValueRef *im) {
  LLVMTypeRef f64 = LLVMDoubleTypeInContext(kb->ctx);
  LLVMValueRef acc_re = kb_var(kb, f64, LLVMConstReal(f64, 0)), acc_im = kb_var(kb, f64, LLVMConstReal(f64, 0));
  // The twiddle index k*n mod N, kept as a running sum (k < N): no multiply or remainder per
  // element. (With `k*n urem N`, LLVM 19's AArch64 loop vectorizer miscompiled STFT.)
  LLVMValueRef kn = kb_var(kb, kb->t_idx, kb_idx(kb, 0));
  Loop ln;
  int64_t count = d->len < d->n ? d->len : d->n; // zero padding adds nothing
  LLVMValueRef n = kb_for(kb, &ln, count);
  LLVMValueRef at = LLVMBuildAdd(kb->b, base, LLVMBuildMul(kb->b, n, kb_idx(kb, d->stride), ""), "");
  LLVMValueRef xr = kb_convert(kb, kb_load(kb, d->dt, d->x, at), d->dt, DT_F64);
  LLVMValueRef xi = LLVMConstReal(f64, 0);
  if (d->complex)
    xi = kb_convert(kb, kb_load(kb, d->dt, d->x, LLVMBuildAdd(kb->b, at, kb_idx(kb, 1), "")), d->dt, DT_F64);
  if (d->window) {
    LLVMValueRef w = kb_convert(kb, kb_load(kb, d->window_dt, d->window, n), d->window_dt, DT_F64);
    xr = kb_mul(kb, DT_F64, xr, w);
    xi = kb_mul(kb, DT_F64, xi, w);
  }
  LLVMValueRef m = kb_get(kb, kb->t_idx, kn);
  LLVMValueRef next = LLVMBuildAdd(kb->b, m, k, "");
  kb_set(kb, kn, kb_select(kb, LLVMBuildICmp(kb->b, LLVMIntUGE, next, kb_idx(kb, d->n), ""),
                           LLVMBuildSub(kb->b, next, kb_idx(kb, d->n), ""), next));
  LLVMValueRef c = kb_load(kb, DT_F64, d->cos_t, m), s = kb_load(kb, DT_F64, d->sin_t, m);
  if (!d->inverse) // e^{-i theta}
    s = kb_neg(kb, DT_F64, s);
  // (xr + i xi)(c + i s)
  LLVMValueRef r = kb_sub(kb, DT_F64, kb_mul(kb, DT_F64, xr, c), kb_mul(kb, DT_F64, xi, s));
  LLVMValueRef i = kb_add(kb, DT_F64, kb_mul(kb, DT_F64, xr, s), kb_mul(kb, DT_F64, xi, c));
  kb_set(kb, acc_re, kb_add(kb, DT_F64, kb_get(kb, f64, acc_re), r));
  kb_set(kb, acc_im, kb_add(kb, DT_F64, kb_get(kb, f64, acc_im), i));
  kb_end_for(kb, &ln);
  *re = kb_get(kb, f64, acc_re);
  *im = kb_get(kb, f64, acc_im);
  if (d->inverse) {
    LLVMValueRef scale = LLVMConstReal(f64, 1.0 / (double)d->n);
    *re = kb_mul(kb, DT_F64, *re, scale);
    *im = kb_mul(kb, DT_F64, *im, scale);
  }
}

static void store_complex(KB *kb, DType dt, LLVMValueRef y, LLVMValueRef at, LLVMValueRef re, LLVMValueRef im) {
  DType ct = dtype_compute(dt);
  kb_store(kb, dt, y, at, kb_convert(kb, re, DT_F64, ct));
  kb_store(kb, dt, y, LLVMBuildAdd(kb->b, at, kb_idx(kb, 1), ""), kb_convert(kb, im, DT_F64, ct));
}

static int64_t scalar_input(Compiler *cc, Node *n, int i, const char *what) {
  Value *v = need_const(cc, n, i);
  if (shape_numel(&v->shape) != 1)
    fatal_at(cc, n, "%s must be a scalar", what);
  return value_int(v, 0);
}

//
// DFT: axis an attribute (default 1) until opset 20, then an input (default -2)
//
typedef struct {
  int axis;
  int64_t n;    // DFT size
  int64_t bins; // output bins along the axis
} DftPlan;

void infer_DFT(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape;
  DType dt = n->in[0]->dtype;
  if (!dtype_is_float(dt))
    fatal_at(cc, n, "input of type %s is not supported", dtype_onnx_name(dt));
  if (x->rank < 2 || (x->dim[x->rank - 1] != 1 && x->dim[x->rank - 1] != 2))
    fatal_at(cc, n, "the last dim must be 1 (real) or 2 (complex), the input is %s", shape_str(&cc->pool, x));
  DftPlan *p = pool_alloc(&cc->pool, sizeof(DftPlan));
  int64_t axis = n->opset >= 20 ? (node_input(n, 2) ? scalar_input(cc, n, 2, "axis") : -2) : attr_int(n, "axis", 1);
  p->axis = norm_axis(cc, n, axis, x->rank);
  if (p->axis == x->rank - 1)
    fatal_at(cc, n, "the axis cannot be the last (real/imaginary) dim");
  p->n = node_input(n, 1) ? scalar_input(cc, n, 1, "dft_length") : x->dim[p->axis];
  if (p->n < 1)
    fatal_at(cc, n, "dft_length must be positive");
  bool onesided = attr_int(n, "onesided", 0), inverse = attr_int(n, "inverse", 0);
  if (onesided && inverse)
    fatal_at(cc, n, "an inverse onesided DFT is not supported");
  p->bins = onesided ? p->n / 2 + 1 : p->n;
  Shape y = *x;
  y.dim[p->axis] = p->bins;
  y.dim[y.rank - 1] = 2;
  n->priv = p;
  set_output(n, 0, dt, y);
}

void lower_DFT(KB *kb, Node *n) {
  const DftPlan *p = n->priv;
  const Shape *x = &n->in[0]->shape;
  int64_t outer = 1, inner = 1, c = x->dim[x->rank - 1];
  for (int d = 0; d < p->axis; d++)
    outer *= x->dim[d];
  for (int d = p->axis + 1; d < x->rank - 1; d++)
    inner *= x->dim[d];
  Dft d = dft_setup(kb, p->n, attr_int(n, "inverse", 0));
  d.dt = n->in[0]->dtype;
  d.x = kb->in[0];
  d.complex = c == 2;
  d.len = x->dim[p->axis];
  d.stride = inner * c;
  Loop lo, li, lk;
  LLVMValueRef o = kb_for(kb, &lo, outer), i = kb_for(kb, &li, inner), k = kb_for(kb, &lk, p->bins);
  LLVMValueRef base = LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, o, kb_idx(kb, d.len * inner), ""), i, ""),
                                   kb_idx(kb, c), "");
  LLVMValueRef re, im;
  dft_bin(kb, &d, base, k, &re, &im);
  LLVMValueRef row = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, o, kb_idx(kb, p->bins), ""), k, "");
  LLVMValueRef at = LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, row, kb_idx(kb, inner), ""), i, ""),
                                 kb_idx(kb, 2), "");
  store_complex(kb, n->out[0]->dtype, kb->out[0], at, re, im);
  kb_end_for(kb, &lk);
  kb_end_for(kb, &li);
  kb_end_for(kb, &lo);
}

//
// STFT: signal [batch, length, 1|2], frame_step, window [frame_length]?, frame_length?
//
typedef struct {
  int64_t step, length, frames, bins;
} StftPlan;

void infer_STFT(Compiler *cc, Node *n) {
  const Shape *s = &n->in[0]->shape;
  DType dt = n->in[0]->dtype;
  if (!dtype_is_float(dt))
    fatal_at(cc, n, "signal of type %s is not supported", dtype_onnx_name(dt));
  if (s->rank != 3 || (s->dim[2] != 1 && s->dim[2] != 2))
    fatal_at(cc, n, "the signal must be [batch, length, 1 or 2], not %s", shape_str(&cc->pool, s));
  StftPlan *p = pool_alloc(&cc->pool, sizeof(StftPlan));
  p->step = scalar_input(cc, n, 1, "frame_step");
  Value *window = node_input(n, 2);
  if (window && window->shape.rank != 1)
    fatal_at(cc, n, "the window must be 1-D");
  p->length = node_input(n, 3) ? scalar_input(cc, n, 3, "frame_length") : window ? window->shape.dim[0] : -1;
  if (p->length < 1)
    fatal_at(cc, n, "the frame length is unknown: give frame_length or a window");
  if (window && window->shape.dim[0] != p->length)
    fatal_at(cc, n, "the window has %lld values, the frame length is %lld", (long long)window->shape.dim[0],
             (long long)p->length);
  if (p->step < 1 || p->length > s->dim[1])
    fatal_at(cc, n, "frame_step must be positive and the frame no longer than the signal");
  p->frames = (s->dim[1] - p->length) / p->step + 1;
  bool onesided = attr_int(n, "onesided", 1);
  if (onesided && s->dim[2] == 2)
    fatal_at(cc, n, "a onesided transform of a complex signal is not supported");
  p->bins = onesided ? p->length / 2 + 1 : p->length;
  n->priv = p;
  set_output(n, 0, dt, shape_of(4, (int64_t[]){s->dim[0], p->frames, p->bins, 2}));
}

void lower_STFT(KB *kb, Node *n) {
  const StftPlan *p = n->priv;
  const Shape *s = &n->in[0]->shape;
  int64_t c = s->dim[2];
  Dft d = dft_setup(kb, p->length, false);
  d.dt = n->in[0]->dtype;
  d.x = kb->in[0];
  d.complex = c == 2;
  d.len = p->length;
  d.stride = c;
  if (node_input(n, 2)) {
    d.window = kb->in[2];
    d.window_dt = n->in[2]->dtype;
  }
  Loop lb, lf, lk;
  LLVMValueRef b = kb_for(kb, &lb, s->dim[0]), f = kb_for(kb, &lf, p->frames), k = kb_for(kb, &lk, p->bins);
  LLVMValueRef start = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, b, kb_idx(kb, s->dim[1]), ""),
                                    LLVMBuildMul(kb->b, f, kb_idx(kb, p->step), ""), "");
  LLVMValueRef re, im;
  dft_bin(kb, &d, LLVMBuildMul(kb->b, start, kb_idx(kb, c), ""), k, &re, &im);
  LLVMValueRef row = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, b, kb_idx(kb, p->frames), ""), f, ""),
                                                      kb_idx(kb, p->bins), ""), k, "");
  store_complex(kb, n->out[0]->dtype, kb->out[0], LLVMBuildMul(kb->b, row, kb_idx(kb, 2), ""), re, im);
  kb_end_for(kb, &lk);
  kb_end_for(kb, &lf);
  kb_end_for(kb, &lb);
}

//
// Windows: a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N), N = size (periodic) or size - 1
//
static DType output_datatype(Compiler *cc, Node *n) {
  DType dt = (DType)attr_int(n, "output_datatype", DT_F32);
  if (!dtype_supported(dt) || dt == DT_BOOL)
    fatal_at(cc, n, "output_datatype %s is not supported", dtype_onnx_name(dt));
  return dt;
}

void infer_window(Compiler *cc, Node *n) {
  int64_t size = scalar_input(cc, n, 0, "size");
  if (size < 0)
    fatal_at(cc, n, "negative window size");
  set_output(n, 0, output_datatype(cc, n), shape_of(1, &size));
}

void lower_window(KB *kb, Node *n) {
  double a0 = 0.5, a1 = 0.5, a2 = 0.0; // Hann
  if (n->op->kind == OP_HammingWindow)
    a0 = 25.0 / 46, a1 = 21.0 / 46;
  if (n->op->kind == OP_BlackmanWindow)
    a0 = 0.42, a1 = 0.5, a2 = 0.08;
  int64_t size = n->out[0]->shape.dim[0];
  int64_t period = attr_int(n, "periodic", 1) ? size : size - 1;
  double step = 2 * PI / (double)(period > 0 ? period : 1);
  DType dt = n->out[0]->dtype;
  Loop l;
  LLVMValueRef i = kb_for(kb, &l, size);
  LLVMValueRef t = kb_mul(kb, DT_F64, kb_convert(kb, i, DT_I64, DT_F64), kb_const(kb, DT_F64, step));
  LLVMValueRef y = kb_sub(kb, DT_F64, kb_const(kb, DT_F64, a0), kb_mul(kb, DT_F64, kb_const(kb, DT_F64, a1), math_libm(kb, "cos", DT_F64, t)));
  if (a2 != 0.0) {
    LLVMValueRef t2 = kb_mul(kb, DT_F64, t, kb_const(kb, DT_F64, 2.0));
    y = kb_fma(kb, DT_F64, kb_const(kb, DT_F64, a2), math_libm(kb, "cos", DT_F64, t2), y);
  }
  kb_store(kb, dt, kb->out[0], i, kb_convert(kb, y, DT_F64, dtype_compute(dt)));
  kb_end_for(kb, &l);
}

//
// MelWeightMatrix [dft_length / 2 + 1, num_mel_bins]: triangular filters between mel-spaced
// frequency bins, computed as the ONNX reference does (mel steps over num_mel_bins + 2 points,
// bins floored at (dft_length + 1) * hz / sample_rate).
//
void infer_MelWeightMatrix(Compiler *cc, Node *n) {
  int64_t mels = scalar_input(cc, n, 0, "num_mel_bins"), dft = scalar_input(cc, n, 1, "dft_length");
  if (mels < 1 || dft < 1)
    fatal_at(cc, n, "num_mel_bins and dft_length must be positive");
  n->scratch = 8 * (mels + 2);
  n->priv = pool_dup(&cc->pool, &dft, sizeof dft);
  set_output(n, 0, output_datatype(cc, n), shape_of(2, (int64_t[]){dft / 2 + 1, mels}));
}

static LLVMValueRef hz_to_mel(KB *kb, LLVMValueRef hz) {
  LLVMValueRef r = kb_add(kb, DT_F64, kb_const(kb, DT_F64, 1.0), kb_div(kb, DT_F64, hz, kb_const(kb, DT_F64, 700.0)));
  return kb_mul(kb, DT_F64, kb_const(kb, DT_F64, 2595.0), math_libm(kb, "log10", DT_F64, r));
}

static LLVMValueRef load_f64(KB *kb, Node *n, int i) {
  return kb_convert(kb, kb_load(kb, n->in[i]->dtype, kb->in[i], kb_idx(kb, 0)), n->in[i]->dtype, DT_F64);
}

// out[j, mel] = value for j in [from, to), clamped into the matrix.
static void fill_rows(KB *kb, Node *n, LLVMValueRef mel, LLVMValueRef from, LLVMValueRef to, LLVMValueRef lo,
                      LLVMValueRef span, bool rising) {
  int64_t rows = n->out[0]->shape.dim[0], mels = n->out[0]->shape.dim[1];
  DType dt = n->out[0]->dtype;
  from = kb_max(kb, DT_I64, from, kb_idx(kb, 0));
  to = kb_min(kb, DT_I64, to, kb_idx(kb, rows));
  Loop l;
  LLVMValueRef j = kb_for_v(kb, &l, from, to, 1);
  LLVMValueRef dist = rising ? LLVMBuildSub(kb->b, j, lo, "") : LLVMBuildSub(kb->b, lo, j, "");
  LLVMValueRef v = kb_div(kb, DT_F64, kb_convert(kb, dist, DT_I64, DT_F64), kb_convert(kb, span, DT_I64, DT_F64));
  kb_store(kb, dt, kb->out[0], LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, j, kb_idx(kb, mels), ""), mel, ""),
           kb_convert(kb, v, DT_F64, dtype_compute(dt)));
  kb_end_for(kb, &l);
}

// Frequency bin M + K of the scratch, as an index.
static LLVMValueRef load_bin(KB *kb, LLVMValueRef m, int k) {
  LLVMValueRef v = kb_load(kb, DT_I64, kb->scratch, LLVMBuildAdd(kb->b, m, kb_idx(kb, k), ""));
  return LLVMBuildIntCast2(kb->b, v, kb->t_idx, 1, "");
}

void lower_MelWeightMatrix(KB *kb, Node *n) {
  int64_t rows = n->out[0]->shape.dim[0], mels = n->out[0]->shape.dim[1], dft = *(const int64_t *)n->priv;
  DType dt = n->out[0]->dtype;
  kb_memset(kb, kb->out[0], 0, value_bytes(n->out[0]));
  LLVMValueRef rate = load_f64(kb, n, 2), low = hz_to_mel(kb, load_f64(kb, n, 3)), high = hz_to_mel(kb, load_f64(kb, n, 4));
  LLVMValueRef step = kb_div(kb, DT_F64, kb_sub(kb, DT_F64, high, low), kb_const(kb, DT_F64, (double)(mels + 2)));
  Loop l;
  LLVMValueRef i = kb_for(kb, &l, mels + 2);
  LLVMValueRef mel = kb_fma(kb, DT_F64, kb_convert(kb, i, DT_I64, DT_F64), step, low);
  LLVMValueRef hz = kb_mul(kb, DT_F64, kb_const(kb, DT_F64, 700.0),
                           kb_sub(kb, DT_F64, math_pow(kb, DT_F64, kb_const(kb, DT_F64, 10.0), kb_div(kb, DT_F64, mel, kb_const(kb, DT_F64, 2595.0))),
                                  kb_const(kb, DT_F64, 1.0)));
  LLVMValueRef bin = kb_call_intrinsic(kb, "llvm.floor", LLVMDoubleTypeInContext(kb->ctx),
                                       (LLVMValueRef[]){kb_div(kb, DT_F64, kb_mul(kb, DT_F64, kb_const(kb, DT_F64, (double)(dft + 1)), hz), rate)}, 1);
  kb_store(kb, DT_I64, kb->scratch, i, kb_convert(kb, bin, DT_F64, DT_I64));
  kb_end_for(kb, &l);
  LLVMValueRef m = kb_for(kb, &l, mels);
  LLVMValueRef lo = load_bin(kb, m, 0), center = load_bin(kb, m, 1), hi = load_bin(kb, m, 2);
  LLVMValueRef rise = LLVMBuildSub(kb->b, center, lo, ""), fall = LLVMBuildSub(kb->b, hi, center, "");
  IfBlock flat;
  kb_if(kb, &flat, LLVMBuildICmp(kb->b, LLVMIntEQ, rise, kb_idx(kb, 0), ""));
  IfBlock inside; // a one-point filter at the center
  kb_if(kb, &inside, LLVMBuildAnd(kb->b, LLVMBuildICmp(kb->b, LLVMIntSGE, center, kb_idx(kb, 0), ""),
                                   LLVMBuildICmp(kb->b, LLVMIntSLT, center, kb_idx(kb, rows), ""), ""));
  kb_store(kb, dt, kb->out[0], LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, center, kb_idx(kb, mels), ""), m, ""),
           kb_const(kb, dtype_compute(dt), 1.0));
  kb_end_if(kb, &inside);
  kb_else(kb, &flat);
  fill_rows(kb, n, m, lo, LLVMBuildAdd(kb->b, center, kb_idx(kb, 1), ""), lo, rise, true);
  kb_end_if(kb, &flat);
  IfBlock falling;
  kb_if(kb, &falling, LLVMBuildICmp(kb->b, LLVMIntSGT, fall, kb_idx(kb, 0), ""));
  fill_rows(kb, n, m, center, hi, hi, fall, false);
  kb_end_if(kb, &falling);
  kb_end_for(kb, &l);
}
