// rnn.c — the recurrent ops RNN, GRU and LSTM. One loop structure serves the three cells:
// directions (forward, reverse, bidirectional), both layouts, per-batch sequence lengths,
// initial states, peepholes, clip, input_forget, linear_before_reset and the configurable
// activation functions with their alpha/beta.
//
// With constant float32 W and R (exported models) the products run on the GEMM engine, their
// weights packed at compile time: the input projection of every time step at once, before
// the recurrence (X [steps x batch, input] times W^T), then at each step the whole batch's
// hidden state times R^T. The gate math reads both results. Otherwise (weights computed at
// run time, other float types) each gate row is a dot product per step.
#include "../compiler.h"
#include "gemm_kernel.h"
#include "ops.h"

#include <ctype.h>
#include <string.h>

typedef enum {
  ACT_RELU,
  ACT_TANH,
  ACT_SIGMOID,
  ACT_AFFINE,
  ACT_LEAKY_RELU,
  ACT_THRESHOLDED_RELU,
  ACT_SCALED_TANH,
  ACT_HARD_SIGMOID,
  ACT_ELU,
  ACT_SOFTSIGN,
  ACT_SOFTPLUS,
} ActKind;

typedef struct {
  ActKind kind;
  float alpha, beta;
} Activation;

// Names are matched case-insensitively; alpha/beta default to the ONNX op of the same name.
static const struct {
  const char *name;
  ActKind kind;
  bool uses_alpha, uses_beta;
  float alpha, beta;
} activation_table[] = {
    {"relu", ACT_RELU, 0, 0, 0, 0},
    {"tanh", ACT_TANH, 0, 0, 0, 0},
    {"sigmoid", ACT_SIGMOID, 0, 0, 0, 0},
    {"affine", ACT_AFFINE, 1, 1, 1.0f, 0.0f},
    {"leakyrelu", ACT_LEAKY_RELU, 1, 0, 0.01f, 0},
    {"thresholdedrelu", ACT_THRESHOLDED_RELU, 1, 0, 1.0f, 0},
    {"scaledtanh", ACT_SCALED_TANH, 1, 1, 1.0f, 1.0f},
    {"hardsigmoid", ACT_HARD_SIGMOID, 1, 1, 0.2f, 0.5f},
    {"elu", ACT_ELU, 1, 0, 1.0f, 0},
    {"softsign", ACT_SOFTSIGN, 0, 0, 0, 0},
    {"softplus", ACT_SOFTPLUS, 0, 0, 0, 0},
};

enum { IN_X, IN_W, IN_R, IN_B, IN_SEQ_LENS, IN_INITIAL_H, IN_INITIAL_C, IN_P };
enum { OUT_Y, OUT_Y_H, OUT_Y_C };

typedef struct {
  int gates;               // 1 RNN, 3 GRU (z r h), 4 LSTM (i o f c)
  int nact;                // activations per direction: RNN f; GRU f g; LSTM f g h
  int ndir;
  bool reverse;            // the single direction runs backwards
  bool batch_major;        // layout 1: X [batch, seq, input], Y [batch, seq, dir, hidden]
  int64_t seq, batch, input, hidden;
  Activation act[2][3];    // [direction][f, g, h]
  float clip;              // 0: no clipping
  bool input_forget;       // LSTM: forget gate = 1 - input gate
  bool linear_before_reset; // GRU: apply R_h before multiplying by the reset gate
  bool engine;             // W and R constant f32: products on the GEMM engine
} RnnParams;

//
// Inference
//
static void parse_activations(Compiler *cc, Node *n, RnnParams *p) {
  static const ActKind defaults[3][3] = {
      {ACT_TANH}, {ACT_SIGMOID, ACT_TANH}, {ACT_SIGMOID, ACT_TANH, ACT_TANH}};
  const ActKind *dflt = defaults[p->gates == 1 ? 0 : p->gates == 3 ? 1 : 2];
  const Attr *names = node_attr(n, "activations");
  const float *alphas = NULL, *betas = NULL;
  int nalpha = attr_floats(n, "activation_alpha", &alphas), nbeta = attr_floats(n, "activation_beta", &betas);
  int ia = 0, ib = 0;
  if (names && (names->type != ATTR_STRINGS || names->n != p->nact * p->ndir))
    fatal_at(cc, n, "activations must list %d functions", p->nact * p->ndir);
  for (int d = 0; d < p->ndir; d++)
    for (int i = 0; i < p->nact; i++) {
      Activation *a = &p->act[d][i];
      if (!names) {
        *a = (Activation){dflt[i], 0, 0};
        continue;
      }
      const char *name = names->strings[d * p->nact + i];
      char lower[32] = "";
      for (int c = 0; name[c] && c < 31; c++)
        lower[c] = (char)tolower((unsigned char)name[c]);
      int k = 0;
      while (k < countof(activation_table) && strcmp(activation_table[k].name, lower))
        k++;
      if (k == countof(activation_table))
        fatal_at(cc, n, "activation function '%s' is not supported", name);
      // alpha and beta are consumed in order, only by the functions that take them.
      a->kind = activation_table[k].kind;
      a->alpha = activation_table[k].alpha;
      a->beta = activation_table[k].beta;
      if (activation_table[k].uses_alpha && ia < nalpha)
        a->alpha = alphas[ia++];
      if (activation_table[k].uses_beta && ib < nbeta)
        a->beta = betas[ib++];
    }
}

static void expect_shape(Compiler *cc, Node *n, int i, const char *what, int rank, const int64_t *dims) {
  Value *v = node_input(n, i);
  if (!v)
    return;
  Shape want = shape_of(rank, dims);
  if (!shape_eq(&v->shape, &want))
    fatal_at(cc, n, "%s has shape %s, expected %s", what, shape_str(&cc->pool, &v->shape),
             shape_str(&cc->pool, &want));
  if (i != IN_SEQ_LENS && v->dtype != n->in[IN_X]->dtype)
    fatal_at(cc, n, "%s is %s, X is %s", what, dtype_onnx_name(v->dtype), dtype_onnx_name(n->in[IN_X]->dtype));
}

static void infer_recurrent(Compiler *cc, Node *n, int gates) {
  if (widen_half(cc, n))
    return;
  RnnParams *p = pool_alloc(&cc->pool, sizeof(RnnParams));
  p->gates = gates;
  p->nact = gates == 1 ? 1 : gates == 3 ? 2 : 3;
  const char *dir = attr_string(n, "direction", "forward");
  if (strcmp(dir, "forward") && strcmp(dir, "reverse") && strcmp(dir, "bidirectional"))
    fatal_at(cc, n, "direction '%s' is not supported", dir);
  p->ndir = !strcmp(dir, "bidirectional") ? 2 : 1;
  p->reverse = !strcmp(dir, "reverse");
  p->batch_major = attr_int(n, "layout", 0) != 0;
  p->clip = attr_float(n, "clip", 0.0f);
  if (node_attr(n, "clip") && p->clip <= 0.0f)
    fatal_at(cc, n, "clip must be positive");
  p->input_forget = attr_int(n, "input_forget", 0) != 0;
  p->linear_before_reset = attr_int(n, "linear_before_reset", 0) != 0;
  for (int i = 0; i <= IN_R; i++)
    if (!node_input(n, i))
      fatal_at(cc, n, "input %d (%s) is required", i, i == IN_X ? "X" : i == IN_W ? "W" : "R");
  const Shape *x = &n->in[IN_X]->shape, *r = &n->in[IN_R]->shape;
  DType dt = n->in[IN_X]->dtype;
  if (!dtype_is_float(dt))
    fatal_at(cc, n, "X of type %s is not supported", dtype_onnx_name(dt));
  if (x->rank != 3 || r->rank != 3)
    fatal_at(cc, n, "X and R must have rank 3");
  p->seq = x->dim[p->batch_major ? 1 : 0];
  p->batch = x->dim[p->batch_major ? 0 : 1];
  p->input = x->dim[2];
  p->hidden = attr_int(n, "hidden_size", r->dim[2]);
  int64_t G = gates, H = p->hidden, D = p->ndir, B = p->batch;
  expect_shape(cc, n, IN_W, "W", 3, (int64_t[]){D, G * H, p->input});
  expect_shape(cc, n, IN_R, "R", 3, (int64_t[]){D, G * H, H});
  expect_shape(cc, n, IN_B, "B", 2, (int64_t[]){D, 2 * G * H});
  expect_shape(cc, n, IN_SEQ_LENS, "sequence_lens", 1, (int64_t[]){B});
  Value *lens = node_input(n, IN_SEQ_LENS);
  if (lens && lens->dtype != DT_I32)
    fatal_at(cc, n, "sequence_lens must be int32");
  int64_t state[3] = {D, B, H};
  if (p->batch_major)
    state[0] = B, state[1] = D;
  expect_shape(cc, n, IN_INITIAL_H, "initial_h", 3, state);
  if (gates == 4) {
    expect_shape(cc, n, IN_INITIAL_C, "initial_c", 3, state);
    expect_shape(cc, n, IN_P, "P", 2, (int64_t[]){D, 3 * H});
  }
  parse_activations(cc, n, p);
  Shape y = p->batch_major ? shape_of(4, (int64_t[]){B, p->seq, D, H}) : shape_of(4, (int64_t[]){p->seq, D, B, H});
  set_output(n, OUT_Y, dt, y);
  set_output(n, OUT_Y_H, dt, shape_of(3, state));
  if (gates == 4)
    set_output(n, OUT_Y_C, dt, shape_of(3, state));
  // Scratch, in the compute type: hidden and cell state of every batch entry, the gate
  // pre-activations from X and from H, and GRU's reset-gated hidden state; on the engine,
  // those of the whole batch, and the X part of every time step.
  p->engine = dt == DT_F32 && n->in[IN_W]->data && n->in[IN_R]->data;
  int64_t elems = p->engine ? 2 * B * H + B * G * H + B * H + p->seq * B * G * H : 2 * B * H + 2 * G * H + H;
  n->scratch = elems * dtype_size(dtype_compute(dt));
  n->priv = p;
}

void infer_RNN(Compiler *cc, Node *n) { infer_recurrent(cc, n, 1); }
void infer_GRU(Compiler *cc, Node *n) { infer_recurrent(cc, n, 3); }
void infer_LSTM(Compiler *cc, Node *n) { infer_recurrent(cc, n, 4); }

//
// Lowering
//
static LLVMValueRef apply_activation(KB *kb, DType ct, const Activation *a, LLVMValueRef x) {
  LLVMValueRef zero = kb_const(kb, ct, 0.0), one = kb_const(kb, ct, 1.0);
  LLVMValueRef alpha = kb_const(kb, ct, a->alpha), beta = kb_const(kb, ct, a->beta);
  switch (a->kind) {
  case ACT_RELU: return kb_select(kb, kb_lt(kb, ct, x, zero), zero, x);
  case ACT_TANH: return math_tanh(kb, ct, x);
  case ACT_SIGMOID: return math_sigmoid(kb, ct, x);
  case ACT_AFFINE: return kb_fma(kb, ct, alpha, x, beta);
  case ACT_LEAKY_RELU: return kb_select(kb, kb_lt(kb, ct, x, zero), kb_mul(kb, ct, alpha, x), x);
  case ACT_THRESHOLDED_RELU: return kb_select(kb, kb_gt(kb, ct, x, alpha), x, zero);
  case ACT_SCALED_TANH: return kb_mul(kb, ct, alpha, math_tanh(kb, ct, kb_mul(kb, ct, beta, x)));
  case ACT_HARD_SIGMOID: return kb_max(kb, ct, zero, kb_min(kb, ct, one, kb_fma(kb, ct, alpha, x, beta)));
  case ACT_ELU: {
    LLVMValueRef neg = kb_mul(kb, ct, alpha, kb_sub(kb, ct, math_exp(kb, ct, x), one));
    return kb_select(kb, kb_lt(kb, ct, x, zero), neg, x);
  }
  case ACT_SOFTSIGN: {
    LLVMValueRef ax = kb_call_intrinsic(kb, "llvm.fabs", LLVMTypeOf(x), &x, 1);
    return kb_div(kb, ct, x, kb_add(kb, ct, one, ax));
  }
  case ACT_SOFTPLUS: return math_log(kb, ct, kb_add(kb, ct, one, math_exp(kb, ct, x)));
  }
  return x;
}

// The state of one lowering: buffers and the index maps of the chosen layout.
typedef struct {
  const RnnParams *p;
  DType dt, ct;
  LLVMValueRef h, c, gx, gh, rh; // scratch buffers (compute type)
  int d;                         // direction being lowered
  bool backwards;
} Cell;

static LLVMValueRef ix(KB *kb, LLVMValueRef a, int64_t m, LLVMValueRef b) {
  return LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, a, kb_idx(kb, m), ""), b, "");
}

// Offset of element 0 of the state (initial_h, Y_h...) of batch entry B.
static LLVMValueRef state_offset(KB *kb, const Cell *c, LLVMValueRef b) {
  const RnnParams *p = c->p;
  LLVMValueRef row = p->batch_major ? ix(kb, b, p->ndir, kb_idx(kb, c->d)) : ix(kb, kb_idx(kb, c->d), p->batch, b);
  return ix(kb, row, p->hidden, kb_idx(kb, 0));
}

static LLVMValueRef x_offset(KB *kb, const Cell *c, LLVMValueRef t, LLVMValueRef b) {
  const RnnParams *p = c->p;
  LLVMValueRef row = p->batch_major ? ix(kb, b, p->seq, t) : ix(kb, t, p->batch, b);
  return ix(kb, row, p->input, kb_idx(kb, 0));
}

static LLVMValueRef y_offset(KB *kb, const Cell *c, LLVMValueRef t, LLVMValueRef b) {
  const RnnParams *p = c->p;
  LLVMValueRef d = kb_idx(kb, c->d);
  LLVMValueRef row = p->batch_major ? ix(kb, ix(kb, b, p->seq, t), p->ndir, d) : ix(kb, ix(kb, t, p->ndir, d), p->batch, b);
  return ix(kb, row, p->hidden, kb_idx(kb, 0));
}

// init + sum over k < len of a[a0 + k] * w[w0 + k]. The sum may be reassociated, so the
// vectorizer keeps several partial sums: the gates are dot products, most of the work.
static LLVMValueRef dot(KB *kb, DType ct, DType adt, LLVMValueRef a, LLVMValueRef a0, DType wdt, LLVMValueRef w,
                        LLVMValueRef w0, int64_t len, LLVMValueRef init) {
  LLVMTypeRef t = kb_ctype(kb, ct);
  LLVMValueRef acc = kb_var(kb, t, kb_const(kb, ct, 0.0));
  Loop lk;
  LLVMValueRef k = kb_for(kb, &lk, len);
  LLVMValueRef av = kb_load(kb, adt, a, LLVMBuildNSWAdd(kb->b, a0, k, ""));
  LLVMValueRef wv = kb_load(kb, wdt, w, LLVMBuildNSWAdd(kb->b, w0, k, ""));
  LLVMValueRef sum = kb_fma(kb, ct, av, wv, kb_get(kb, t, acc));
  if (LLVMCanValueUseFastMathFlags(sum))
    LLVMSetFastMathFlags(sum, LLVMFastMathAllowReassoc | LLVMFastMathAllowContract);
  kb_set(kb, acc, sum);
  kb_end_for(kb, &lk);
  return kb_add(kb, ct, init, kb_get(kb, t, acc));
}

static LLVMValueRef bias(KB *kb, const Cell *c, int which, LLVMValueRef row) {
  const RnnParams *p = c->p;
  if (!node_input(kb->node, IN_B))
    return kb_const(kb, c->ct, 0.0);
  int64_t G = p->gates * p->hidden;
  LLVMValueRef off = LLVMBuildNSWAdd(kb->b, kb_idx(kb, (2 * c->d + which) * G), row, "");
  return kb_load(kb, c->dt, kb->in[IN_B], off);
}

// Gate pre-activations of rows [first, last): DST[row] = bias + SRC . M[dir, row, :].
static void gate_rows(KB *kb, const Cell *c, int m_input, LLVMValueRef dst, DType src_dt, LLVMValueRef src,
                      LLVMValueRef src0, int64_t first, int64_t last) {
  const RnnParams *p = c->p;
  int64_t len = m_input == IN_W ? p->input : p->hidden;
  Loop lr;
  LLVMValueRef r = kb_for_v(kb, &lr, kb_idx(kb, first), kb_idx(kb, last), 1);
  LLVMValueRef w0 = ix(kb, ix(kb, kb_idx(kb, c->d), p->gates * p->hidden, r), len, kb_idx(kb, 0));
  LLVMValueRef init = bias(kb, c, m_input == IN_W ? 0 : 1, r);
  LLVMValueRef v = dot(kb, c->ct, src_dt, src, src0, c->dt, kb->in[m_input], w0, len, init);
  kb_store(kb, c->ct, dst, r, v);
  kb_end_for(kb, &lr);
}

static LLVMValueRef clip(KB *kb, const Cell *c, LLVMValueRef x) {
  if (c->p->clip <= 0.0f)
    return x;
  LLVMValueRef lim = kb_const(kb, c->ct, c->p->clip);
  return kb_min(kb, c->ct, kb_max(kb, c->ct, x, kb_neg(kb, c->ct, lim)), lim);
}

// Pre-activation of gate G at hidden index J: X part + H part (+ peephole), clipped, activated.
static LLVMValueRef gate(KB *kb, const Cell *c, int g, LLVMValueRef j, LLVMValueRef extra, int act) {
  LLVMValueRef row = ix(kb, kb_idx(kb, g), c->p->hidden, j);
  LLVMValueRef v = kb_add(kb, c->ct, kb_load(kb, c->ct, c->gx, row), kb_load(kb, c->ct, c->gh, row));
  if (extra)
    v = kb_add(kb, c->ct, v, extra);
  return apply_activation(kb, c->ct, &c->p->act[c->d][act], clip(kb, c, v));
}

static LLVMValueRef peephole(KB *kb, const Cell *c, int which, LLVMValueRef j, LLVMValueRef cell) {
  if (!node_input(kb->node, IN_P))
    return NULL;
  LLVMValueRef off = ix(kb, kb_idx(kb, 3 * c->d + which), c->p->hidden, j);
  return kb_mul(kb, c->ct, kb_load(kb, c->dt, kb->in[IN_P], off), cell);
}

// GRU: z and r overwrite their X parts; the candidate needs r at every index first.
static void gru_gates(KB *kb, const Cell *c, LLVMValueRef h0) {
  DType ct = c->ct;
  int64_t H = c->p->hidden;
  Loop lj;
  LLVMValueRef j = kb_for(kb, &lj, H);
  LLVMValueRef z = gate(kb, c, 0, j, NULL, 0), r = gate(kb, c, 1, j, NULL, 0);
  kb_store(kb, ct, c->gx, j, z);
  kb_store(kb, ct, c->gx, LLVMBuildNSWAdd(kb->b, j, kb_idx(kb, H), ""), r);
  LLVMValueRef hv = kb_load(kb, ct, c->h, LLVMBuildNSWAdd(kb->b, h0, j, ""));
  kb_store(kb, ct, c->rh, j, kb_mul(kb, ct, r, hv));
  kb_end_for(kb, &lj);
}

// The candidate and the new state, once the H part of the candidate's row is in gh.
static void gru_candidate(KB *kb, const Cell *c, LLVMValueRef h0) {
  const RnnParams *p = c->p;
  DType ct = c->ct;
  int64_t H = p->hidden;
  Loop lj;
  LLVMValueRef z, r, j = kb_for(kb, &lj, H);
  z = kb_load(kb, ct, c->gx, j);
  r = kb_load(kb, ct, c->gx, LLVMBuildNSWAdd(kb->b, j, kb_idx(kb, H), ""));
  LLVMValueRef row = LLVMBuildNSWAdd(kb->b, j, kb_idx(kb, 2 * H), "");
  LLVMValueRef hpart = kb_load(kb, ct, c->gh, row);
  if (p->linear_before_reset)
    hpart = kb_mul(kb, ct, r, hpart);
  LLVMValueRef pre = clip(kb, c, kb_add(kb, ct, kb_load(kb, ct, c->gx, row), hpart));
  LLVMValueRef cand = apply_activation(kb, ct, &p->act[c->d][1], pre);
  LLVMValueRef hi = LLVMBuildNSWAdd(kb->b, h0, j, "");
  LLVMValueRef keep = kb_mul(kb, ct, z, kb_load(kb, ct, c->h, hi));
  kb_store(kb, ct, c->h, hi, kb_fma(kb, ct, kb_sub(kb, ct, kb_const(kb, ct, 1.0), z), cand, keep));
  kb_end_for(kb, &lj);
}

static void gru_update(KB *kb, const Cell *c, LLVMValueRef h0) {
  int64_t H = c->p->hidden;
  gru_gates(kb, c, h0);
  if (!c->p->linear_before_reset) // R_h multiplies the reset-gated state
    gate_rows(kb, c, IN_R, c->gh, c->ct, c->rh, kb_idx(kb, 0), 2 * H, 3 * H);
  gru_candidate(kb, c, h0);
}

// LSTM, gates i o f c; the output gate's peephole sees the new cell state.
static void lstm_update(KB *kb, const Cell *c, LLVMValueRef h0) {
  const RnnParams *p = c->p;
  DType ct = c->ct;
  Loop lj;
  LLVMValueRef j = kb_for(kb, &lj, p->hidden);
  LLVMValueRef si = LLVMBuildNSWAdd(kb->b, h0, j, "");
  LLVMValueRef cprev = kb_load(kb, ct, c->c, si);
  LLVMValueRef ig = gate(kb, c, 0, j, peephole(kb, c, 0, j, cprev), 0);
  LLVMValueRef fg = p->input_forget ? kb_sub(kb, ct, kb_const(kb, ct, 1.0), ig)
                                    : gate(kb, c, 2, j, peephole(kb, c, 2, j, cprev), 0);
  LLVMValueRef cand = gate(kb, c, 3, j, NULL, 1);
  LLVMValueRef cell = kb_fma(kb, ct, fg, cprev, kb_mul(kb, ct, ig, cand));
  LLVMValueRef og = gate(kb, c, 1, j, peephole(kb, c, 1, j, cell), 0);
  kb_store(kb, ct, c->c, si, cell);
  kb_store(kb, ct, c->h, si, kb_mul(kb, ct, og, apply_activation(kb, ct, &p->act[c->d][2], cell)));
  kb_end_for(kb, &lj);
}

static void rnn_update(KB *kb, const Cell *c, LLVMValueRef h0) {
  Loop lj;
  LLVMValueRef j = kb_for(kb, &lj, c->p->hidden);
  kb_store(kb, c->ct, c->h, LLVMBuildNSWAdd(kb->b, h0, j, ""), gate(kb, c, 0, j, NULL, 0));
  kb_end_for(kb, &lj);
}

// GRU with the reset gate applied before R_h: the product of R_h waits for r.
static bool gru_reset_first(const RnnParams *p) { return p->gates == 3 && !p->linear_before_reset; }

// One time step of the batch entry whose state starts at H0 in the scratch; its input row
// starts at X0.
static void step(KB *kb, const Cell *c, LLVMValueRef x0, LLVMValueRef h0) {
  const RnnParams *p = c->p;
  int64_t H = p->hidden, G = p->gates;
  gate_rows(kb, c, IN_W, c->gx, c->dt, kb->in[IN_X], x0, 0, G * H);
  gate_rows(kb, c, IN_R, c->gh, c->ct, c->h, h0, 0, gru_reset_first(p) ? 2 * H : G * H);
  if (G == 3)
    gru_update(kb, c, h0);
  else if (G == 4)
    lstm_update(kb, c, h0);
  else
    rnn_update(kb, c, h0);
}

// state[b] = initial (or 0) for every batch entry.
static void init_state(KB *kb, const Cell *c, LLVMValueRef state, int input) {
  const RnnParams *p = c->p;
  Loop lb, lj;
  LLVMValueRef b = kb_for(kb, &lb, p->batch), j = kb_for(kb, &lj, p->hidden);
  LLVMValueRef v = kb_const(kb, c->ct, 0.0);
  if (node_input(kb->node, input))
    v = kb_load(kb, c->dt, kb->in[input], LLVMBuildNSWAdd(kb->b, state_offset(kb, c, b), j, ""));
  kb_store(kb, c->ct, state, ix(kb, b, p->hidden, j), v);
  kb_end_for(kb, &lj);
  kb_end_for(kb, &lb);
}

// out[off + j] = src[s0 + j] for the hidden size, or zeros when SRC is NULL.
static void store_row(KB *kb, const Cell *c, LLVMValueRef out, LLVMValueRef off, LLVMValueRef src, LLVMValueRef s0) {
  Loop lj;
  LLVMValueRef j = kb_for(kb, &lj, c->p->hidden);
  LLVMValueRef v = src ? kb_load(kb, c->ct, src, LLVMBuildNSWAdd(kb->b, s0, j, "")) : kb_const(kb, c->ct, 0.0);
  kb_store(kb, c->dt, out, LLVMBuildNSWAdd(kb->b, off, j, ""), v);
  kb_end_for(kb, &lj);
}

// The valid length of batch entry B's sequence, clamped into [0, seq].
static LLVMValueRef seq_len(KB *kb, const Cell *c, LLVMValueRef b) {
  if (!node_input(kb->node, IN_SEQ_LENS))
    return kb_idx(kb, c->p->seq);
  LLVMValueRef len = LLVMBuildSExt(kb->b, kb_load(kb, DT_I32, kb->in[IN_SEQ_LENS], b), kb->t_idx, "");
  return kb_min(kb, DT_I64, kb_max(kb, DT_I64, len, kb_idx(kb, 0)), kb_idx(kb, c->p->seq));
}

// The final states into Y_h and Y_c.
static void store_states(KB *kb, Node *n, const Cell *c) {
  for (int o = OUT_Y_H; o <= OUT_Y_C && o < n->nout; o++) {
    if (!n->out[o])
      continue;
    Loop lb;
    LLVMValueRef b = kb_for(kb, &lb, c->p->batch);
    store_row(kb, c, kb->out[o], state_offset(kb, c, b), o == OUT_Y_H ? c->h : c->c, ix(kb, b, c->p->hidden, kb_idx(kb, 0)));
    kb_end_for(kb, &lb);
  }
}

static void lower_direction(KB *kb, Node *n, Cell *c) {
  const RnnParams *p = c->p;
  init_state(kb, c, c->h, IN_INITIAL_H);
  if (p->gates == 4)
    init_state(kb, c, c->c, IN_INITIAL_C);
  Loop lt, lb;
  LLVMValueRef t = kb_for(kb, &lt, p->seq), b = kb_for(kb, &lb, p->batch);
  LLVMValueRef len = seq_len(kb, c, b);
  LLVMValueRef h0 = ix(kb, b, p->hidden, kb_idx(kb, 0));
  IfBlock valid;
  kb_if(kb, &valid, LLVMBuildICmp(kb->b, LLVMIntSLT, t, len, ""));
  // Backwards, entry b reads its own valid steps from the last one down.
  LLVMValueRef tt = c->backwards ? LLVMBuildNSWSub(kb->b, LLVMBuildNSWSub(kb->b, len, kb_idx(kb, 1), ""), t, "") : t;
  step(kb, c, x_offset(kb, c, tt, b), h0);
  if (n->out[OUT_Y])
    store_row(kb, c, kb->out[OUT_Y], y_offset(kb, c, tt, b), c->h, h0);
  kb_else(kb, &valid); // steps past the sequence's end output zeros
  if (n->out[OUT_Y])
    store_row(kb, c, kb->out[OUT_Y], y_offset(kb, c, t, b), NULL, NULL);
  kb_end_if(kb, &valid);
  kb_end_for(kb, &lb);
  kb_end_for(kb, &lt);
  store_states(kb, n, c);
}

//
// On the GEMM engine (p->engine)
//
// The bias of direction D's X part (WHICH 0) or H part (1), columns from COL0, if B is given.
static void engine_bias(KB *kb, const Cell *c, int which, int64_t col0, GemmArgs *g) {
  if (!node_input(kb->node, IN_B))
    return;
  g->bias_kind = GEMM_BIAS_COL;
  g->bias = kb_gep(kb, DT_F32, kb->in[IN_B], kb_idx(kb, (2 * c->d + which) * c->p->gates * c->p->hidden + col0));
}

// Rows of direction D's weight matrix M (IN_W or IN_R: [gates * hidden, len]) from ROW0 on,
// NCOLS of them, as the packed right operand (M^T: len x ncols) of a product.
static void engine_weights(KB *kb, const Cell *c, int m, int64_t row0, int64_t ncols, GemmArgs *g) {
  const RnnParams *p = c->p;
  int64_t len = m == IN_W ? p->input : p->hidden, count;
  const float *w = (const float *)kb->node->in[m]->data + (c->d * p->gates * p->hidden + row0) * len;
  float *packed = gemm_pack_b(&kb->cc->pool, w, 1, len, len, ncols, g->tile, &count);
  g->b = gemm_constant(kb, packed, count);
  g->b_packed = true;
}

// X's row of time step T, batch entry B (also the row of its X part in gx).
static LLVMValueRef x_row(KB *kb, const Cell *c, LLVMValueRef t, LLVMValueRef b) {
  const RnnParams *p = c->p;
  return p->batch_major ? ix(kb, b, p->seq, t) : ix(kb, t, p->batch, b);
}

// gx[row] = X[row] . W^T + Wb for every time step and batch entry: one product.
static void engine_inputs(KB *kb, const Cell *c, LLVMValueRef gx) {
  const RnnParams *p = c->p;
  int64_t GH = p->gates * p->hidden;
  GemmArgs g = {.M = p->seq * p->batch, .N = GH, .K = p->input, .a = kb->in[IN_X], .a_rs = p->input, .a_cs = 1,
                .c = gx, .c_rs = GH, .alpha = 1};
  g.tile = gemm_choose_tile(kb->cc, g.M, g.N);
  engine_weights(kb, c, IN_W, 0, GH, &g);
  engine_bias(kb, c, 0, 0, &g);
  gemm_emit(kb, &g);
}

// gh[b, col0 + j] = STATE[b] . R[col0 + j]^T + Rb for the whole batch, NCOLS columns.
static void engine_recurrent(KB *kb, const Cell *c, LLVMValueRef state, LLVMValueRef gh, int64_t col0, int64_t ncols) {
  const RnnParams *p = c->p;
  int64_t GH = p->gates * p->hidden;
  GemmArgs g = {.M = p->batch, .N = ncols, .K = p->hidden, .a = state, .a_rs = p->hidden, .a_cs = 1,
                .c = kb_gep(kb, DT_F32, gh, kb_idx(kb, col0)), .c_rs = GH, .alpha = 1};
  g.tile = gemm_choose_tile(kb->cc, g.M, g.N);
  engine_weights(kb, c, IN_R, col0, ncols, &g);
  engine_bias(kb, c, 1, col0, &g);
  gemm_emit(kb, &g);
}

typedef void CellFn(KB *kb, const Cell *c, LLVMValueRef h0);

// For each batch entry whose sequence covers loop step T: CELL on its rows (its X part in GX
// at its time step, its H part in GH); with Y, its new state into Y or, past its sequence's
// end, zeros.
static void engine_entries(KB *kb, Node *n, const Cell *c, LLVMValueRef t, LLVMValueRef gx, LLVMValueRef gh,
                           LLVMValueRef rh, CellFn *cell, bool store_y) {
  const RnnParams *p = c->p;
  int64_t GH = p->gates * p->hidden;
  Loop lb;
  LLVMValueRef b = kb_for(kb, &lb, p->batch);
  LLVMValueRef len = seq_len(kb, c, b), h0 = ix(kb, b, p->hidden, kb_idx(kb, 0));
  IfBlock valid;
  kb_if(kb, &valid, LLVMBuildICmp(kb->b, LLVMIntSLT, t, len, ""));
  LLVMValueRef tt = c->backwards ? LLVMBuildNSWSub(kb->b, LLVMBuildNSWSub(kb->b, len, kb_idx(kb, 1), ""), t, "") : t;
  Cell e = *c;
  e.gx = kb_gep(kb, DT_F32, gx, ix(kb, x_row(kb, c, tt, b), GH, kb_idx(kb, 0)));
  e.gh = kb_gep(kb, DT_F32, gh, ix(kb, b, GH, kb_idx(kb, 0)));
  e.rh = kb_gep(kb, DT_F32, rh, h0);
  cell(kb, &e, h0);
  if (store_y && n->out[OUT_Y])
    store_row(kb, c, kb->out[OUT_Y], y_offset(kb, c, tt, b), c->h, h0);
  if (store_y && n->out[OUT_Y]) {
    kb_else(kb, &valid);
    store_row(kb, c, kb->out[OUT_Y], y_offset(kb, c, t, b), NULL, NULL);
  }
  kb_end_if(kb, &valid);
  kb_end_for(kb, &lb);
}

static void lower_direction_engine(KB *kb, Node *n, Cell *c, LLVMValueRef gh, LLVMValueRef gx) {
  const RnnParams *p = c->p;
  int64_t H = p->hidden, G = p->gates;
  init_state(kb, c, c->h, IN_INITIAL_H);
  if (G == 4)
    init_state(kb, c, c->c, IN_INITIAL_C);
  engine_inputs(kb, c, gx);
  Loop lt;
  LLVMValueRef t = kb_for(kb, &lt, p->seq);
  engine_recurrent(kb, c, c->h, gh, 0, gru_reset_first(p) ? 2 * H : G * H);
  if (gru_reset_first(p)) { // r first, then R_h times the reset-gated state
    engine_entries(kb, n, c, t, gx, gh, c->rh, gru_gates, false);
    engine_recurrent(kb, c, c->rh, gh, 2 * H, H);
  }
  CellFn *cell = G == 4 ? lstm_update : G == 1 ? rnn_update : gru_reset_first(p) ? gru_candidate : gru_update;
  engine_entries(kb, n, c, t, gx, gh, c->rh, cell, true);
  kb_end_for(kb, &lt);
  store_states(kb, n, c);
}

void lower_recurrent(KB *kb, Node *n) {
  const RnnParams *p = n->priv;
  Cell c = {.p = p, .dt = n->in[IN_X]->dtype, .ct = dtype_compute(n->in[IN_X]->dtype)};
  int64_t BH = p->batch * p->hidden, GH = p->gates * p->hidden;
  // h, c, then per step: [gx, gh, rh] of one batch entry, or on the engine [gh, rh] of the
  // whole batch and gx of every step
  c.h = kb->scratch;
  c.c = kb_gep(kb, c.ct, kb->scratch, kb_idx(kb, BH));
  LLVMValueRef gh = kb_gep(kb, c.ct, kb->scratch, kb_idx(kb, 2 * BH));
  LLVMValueRef gx = kb_gep(kb, c.ct, kb->scratch, kb_idx(kb, 3 * BH + p->batch * GH));
  c.gx = kb_gep(kb, c.ct, kb->scratch, kb_idx(kb, 2 * BH));
  c.gh = kb_gep(kb, c.ct, kb->scratch, kb_idx(kb, 2 * BH + GH));
  c.rh = kb_gep(kb, c.ct, kb->scratch, kb_idx(kb, p->engine ? 2 * BH + p->batch * GH : 2 * BH + 2 * GH));
  for (c.d = 0; c.d < p->ndir; c.d++) {
    c.backwards = p->reverse || c.d == 1;
    if (p->engine)
      lower_direction_engine(kb, n, &c, gh, gx);
    else
      lower_direction(kb, n, &c);
  }
}
