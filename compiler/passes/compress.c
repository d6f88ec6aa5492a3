// compress.c — compression the compile does on request, by rewriting a float model into the
// forms quantized models take, which passes/qdq.c then compiles into compressed kernels:
//   --weights int8|int4|fp16: the float weights of Conv, MatMul and Gemm become the
//     DequantizeLinear of symmetric int8 codes (per output channel, or per block along K with
//     --weights-block), of int4 codes (blocks of 32 along K by default; per channel for Conv),
//     or the Cast of float16 values. Activations stay float: weight-only.
//   --quantize int8 --calibrate DIR: static quantization. The float model runs on the
//     calibration inputs at compile time (each node compiled once by the JIT, the very code
//     constant folding uses) to find the range of every activation; weights get symmetric
//     int8 codes per channel (or per tensor), biases int32, and activations
//     QuantizeLinear -> DequantizeLinear pairs with uint8 asymmetric (or int8 symmetric)
//     parameters from those ranges. With --report, the quantized model (its QDQ form, which
//     the integer kernels follow to within one step) runs on the same inputs and each
//     output's error against the float model is recorded.
// Nodes named in --keep-float are left alone.
#include "../compiler.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool kept_float(Compiler *cc, const Node *n) {
  for (int i = 0; i < cc->opt.keep_float.len; i++)
    if (!strcmp(cc->opt.keep_float.items[i], n->name))
      return true;
  return false;
}

// Moves node M (just created, last in G) to just before node ANCHOR (NULL: first).
static void move_before(Graph *g, Node *m, Node *anchor) {
  int at = 0;
  while (anchor && at < g->nodes.len && g->nodes.items[at] != anchor)
    at++;
  g->nodes.len--; // M is the last node
  memmove(&g->nodes.items[at + 1], &g->nodes.items[at], sizeof(void *) * (size_t)(g->nodes.len - at));
  g->nodes.items[at] = m;
  g->nodes.len++;
}

static Node *new_node(Compiler *cc, Graph *g, const char *op, const char *name, int nin, int opset) {
  Node *n = graph_new_node(g, op, "", pool_printf(&cc->pool, "%s", name), nin, 1);
  n->opset = opset;
  n->out[0] = graph_new_value(g, n->name);
  n->out[0]->producer = n;
  return n;
}

// Infers node N and, its inputs being constants, computes its output now.
static void fold(Compiler *cc, Node *n) {
  n->op->infer(cc, n);
  n->inferred = true;
  if (!fold_node(cc, n))
    bail_if_errors(cc);
}

static Value *scalar(Compiler *cc, Graph *g, const char *name, DType dt, double v) {
  Value *c = graph_const(g, pool_printf(&cc->pool, "%s", name), dt, (Shape){0}, NULL);
  dtype_set(dt, c->data, 0, v);
  return c;
}

//
// Weights: which input is the weight, how it is laid out
//
typedef struct {
  int64_t K, N;       // depth and output channels
  int ch_axis, k_axis; // axes of the weight tensor (k_axis -1: K spans several axes (Conv))
} WeightDims;

static bool weight_dims(const Node *n, WeightDims *d) {
  Value *w = n->nin > 1 ? n->in[1] : NULL;
  if (!w || !w->data || w->dtype != DT_F32 || w->producer)
    return false;
  switch (n->op->kind) {
  case OP_Conv:
    *d = (WeightDims){shape_numel(&w->shape) / w->shape.dim[0], w->shape.dim[0], 0, -1};
    return true;
  case OP_Gemm:
    if (attr_int(n, "transA", 0) || w->shape.rank != 2)
      return false;
    {
      int t = (int)attr_int(n, "transB", 0);
      *d = (WeightDims){w->shape.dim[t], w->shape.dim[!t], !t, t};
    }
    return true;
  case OP_MatMul:
    if (w->shape.rank != 2)
      return false;
    *d = (WeightDims){w->shape.dim[0], w->shape.dim[1], 1, 0};
    return true;
  default: return false;
  }
}

// Index in the weight tensor of (k, channel).
static int64_t weight_index(const WeightDims *d, int64_t k, int64_t ch) {
  if (d->k_axis < 0 || d->ch_axis == 0)
    return ch * d->K + k;
  return k * d->N + ch;
}

// Symmetric codes of the weights of N: QMAX (127 or 7) over the largest magnitude of each
// group: a channel (BLOCK 0) or BLOCK consecutive k of a channel; per tensor if PER_TENSOR.
// Input 1 becomes DequantizeLinear(codes) (folded: its value is known).
static float *quantize_weights(Compiler *cc, Graph *g, Node *n, const WeightDims *d, DType ct, int64_t block,
                               bool per_tensor) {
  Value *w = n->in[1];
  int qmax = ct == DT_I4 ? 7 : 127;
  int64_t kb = block > 0 ? (d->K + block - 1) / block : 1, blk = block > 0 ? block : d->K;
  int64_t ns = per_tensor ? 1 : kb * d->N;
  float *scale = pool_alloc(&cc->pool, sizeof(float) * (size_t)(kb * d->N)); // [k block][channel]
  float *stored = pool_alloc(&cc->pool, sizeof(float) * (size_t)ns);         // the DQ's layout
  int8_t *codes = pool_alloc(&cc->pool, (size_t)shape_numel(&w->shape));
  float tmax = 0;
  for (int64_t i = 0; i < shape_numel(&w->shape); i++)
    tmax = fmaxf(tmax, fabsf(((float *)w->data)[i]));
  for (int64_t ch = 0; ch < d->N; ch++)
    for (int64_t b = 0; b < kb; b++) {
      float m = per_tensor ? tmax : 0;
      for (int64_t k = b * blk; k < (b + 1) * blk && k < d->K && !per_tensor; k++)
        m = fmaxf(m, fabsf(((float *)w->data)[weight_index(d, k, ch)]));
      float s = m > 0 ? m / (float)qmax : 1;
      scale[b * d->N + ch] = s;
      if (!per_tensor) // DQ scales: per axis [N], or blocked with the weights' layout
        stored[block > 0 && d->ch_axis == 0 ? ch * kb + b : b * d->N + ch] = s;
      else
        stored[0] = s;
      for (int64_t k = b * blk; k < (b + 1) * blk && k < d->K; k++) {
        int64_t i = weight_index(d, k, ch);
        float q = nearbyintf(((float *)w->data)[i] / s);
        codes[i] = (int8_t)(q < -qmax - (ct == DT_I4) ? -qmax - (ct == DT_I4) : q > qmax ? qmax : q);
      }
    }
  Node *dq = new_node(cc, g, "DequantizeLinear", pool_printf(&cc->pool, "%s.weights", n->name), 2, 21);
  dq->in[0] = graph_const(g, pool_printf(&cc->pool, "%s.codes", w->name), ct, w->shape, codes);
  Shape ss = {0};
  if (!per_tensor && block > 0) { // the weights' shape with K counted in blocks
    ss = (Shape){.rank = 2, .dim = {w->shape.dim[0], w->shape.dim[1]}};
    ss.dim[d->k_axis] = kb;
  } else if (!per_tensor) {
    ss = shape_of(1, &d->N);
  }
  dq->in[1] = graph_const(g, pool_printf(&cc->pool, "%s.scale", w->name), DT_F32, ss, stored);
  Attr *attrs = pool_alloc(&cc->pool, sizeof(Attr) * 2);
  attrs[0] = (Attr){.name = "axis", .type = ATTR_INT, .i = block > 0 ? d->k_axis : d->ch_axis};
  attrs[1] = (Attr){.name = "block_size", .type = ATTR_INT, .i = block};
  dq->attrs = attrs;
  dq->nattrs = per_tensor ? 0 : block > 0 ? 2 : 1;
  move_before(g, dq, n);
  fold(cc, dq);
  n->in[1] = dq->out[0];
  return scale;
}

// float16 weights behind a Cast.
static void half_weights(Compiler *cc, Graph *g, Node *n) {
  Value *w = n->in[1];
  int64_t count = shape_numel(&w->shape);
  uint16_t *h = pool_alloc(&cc->pool, sizeof(uint16_t) * (size_t)count);
  for (int64_t i = 0; i < count; i++)
    h[i] = float_to_half(((float *)w->data)[i]);
  Node *cast = new_node(cc, g, "Cast", pool_printf(&cc->pool, "%s.weights", n->name), 1, 13);
  cast->in[0] = graph_const(g, pool_printf(&cc->pool, "%s.f16", w->name), DT_F16, w->shape, h);
  Attr *to = pool_alloc(&cc->pool, sizeof(Attr));
  *to = (Attr){.name = "to", .type = ATTR_INT, .i = DT_F32};
  cast->attrs = to;
  cast->nattrs = 1;
  move_before(g, cast, n);
  fold(cc, cast);
  n->in[1] = cast->out[0];
}

static void compress_weights(Compiler *cc, Graph *g) {
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    WeightDims d;
    if (!n->op || kept_float(cc, n) || !weight_dims(n, &d) || !dtype_is_float(n->in[0]->dtype))
      continue;
    if (cc->opt.weights == WEIGHTS_FP16) {
      half_weights(cc, g, n);
    } else {
      bool int4 = cc->opt.weights == WEIGHTS_INT4;
      int64_t block = d.k_axis < 0 ? 0 : cc->opt.weights_block > 0 ? cc->opt.weights_block : int4 ? 32 : 0;
      quantize_weights(cc, g, n, &d, int4 ? DT_I4 : DT_I8, block, false);
    }
    i++; // the new node went before N
  }
}

//
// Running the float model at compile time
//
typedef struct {
  int count;
  Value ***inputs;   // [sample][graph input]: constant tensors
} Samples;

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// The entries of DIR ending in ".pb" (files) or the subfolders (DIRS), sorted.
static int list_dir(Compiler *cc, const char *dir, bool dirs, char ***out) {
  DIR *d = opendir(dir);
  if (!d)
    fatal_at(cc, NULL, "--calibrate: cannot read folder '%s'", dir);
  PtrVec v = {0};
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.')
      continue;
    char *path = pool_printf(&cc->pool, "%s/%s", dir, e->d_name);
    struct stat st;
    size_t len = strlen(e->d_name);
    if (stat(path, &st))
      continue;
    if (dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode) && len > 3 && !strcmp(e->d_name + len - 3, ".pb"))
      vec_push(&cc->pool, &v, path);
  }
  closedir(d);
  if (v.len > 1)
    qsort(v.items, (size_t)v.len, sizeof(void *), by_name);
  *out = (char **)v.items;
  return v.len;
}

static Value *sample_tensor(Compiler *cc, Graph *scratch, const char *path, Value *input) {
  Value *t = load_tensor_file(cc, scratch, path, NULL);
  vec_push(&cc->pool, &cc->deps, pool_strdup(&cc->pool, path));
  if (t->dtype != input->dtype || !shape_eq(&t->shape, &input->shape))
    fatal_at(cc, NULL, "--calibrate: '%s' is %s %s, input '%s' is %s %s", path, dtype_onnx_name(t->dtype),
             shape_str(&cc->pool, &t->shape), input->name, dtype_onnx_name(input->dtype),
             shape_str(&cc->pool, &input->shape));
  return t;
}

// Samples: each subfolder of DIR (its .pb files, sorted, are the inputs in order); without
// subfolders, each .pb file for a model with one input, else all of them as one sample.
static Samples read_samples(Compiler *cc, Graph *g, const char *dir) {
  Samples s = {0};
  Graph *scratch = graph_new(cc, NULL, "calibration");
  char **subs, **files;
  int nsub = list_dir(cc, dir, true, &subs), ninputs = g->inputs.len;
  int nfiles = nsub ? 0 : list_dir(cc, dir, false, &files);
  s.count = nsub ? nsub : ninputs == 1 ? nfiles : nfiles > 0;
  if (!s.count)
    fatal_at(cc, NULL, "--calibrate: no input .pb files in '%s'", dir);
  s.inputs = pool_alloc(&cc->pool, sizeof(Value **) * (size_t)s.count);
  for (int k = 0; k < s.count; k++) {
    char **paths = files;
    int n = nfiles;
    if (nsub)
      n = list_dir(cc, subs[k], false, &paths);
    else if (ninputs == 1)
      paths = &files[k], n = 1;
    if (n != ninputs)
      fatal_at(cc, NULL, "--calibrate: %s holds %d input files, the model has %d inputs", nsub ? subs[k] : dir, n, ninputs);
    s.inputs[k] = pool_alloc(&cc->pool, sizeof(Value *) * (size_t)(ninputs + 1));
    for (int i = 0; i < ninputs; i++)
      s.inputs[k][i] = sample_tensor(cc, scratch, paths[i], g->inputs.items[i]);
  }
  return s;
}

// Runs G on one sample: every value's data in BUF (by value id; views share their source's).
// Buffers other than the sample and constants are malloc'd into OWNED.
typedef struct {
  JitFn **fns;     // by node position, compiled on first use
  int nfns;
} Runner;

static void run_graph(Compiler *cc, Graph *g, Runner *r, Value **inputs, void **buf, PtrVec *owned) {
  if (r->nfns < g->nodes.len) {
    JitFn **fns = pool_alloc(&cc->pool, sizeof(JitFn *) * (size_t)(g->nodes.len + 1));
    if (r->nfns)
      memcpy(fns, r->fns, sizeof(JitFn *) * (size_t)r->nfns);
    r->fns = fns, r->nfns = g->nodes.len;
  }
  for (int i = 0; i < g->inputs.len; i++)
    buf[((Value *)g->inputs.items[i])->id] = inputs[i]->data;
  for (int s = 0; s < g->nodes.len; s++) {
    Node *n = g->nodes.items[s];
    bool known = true;
    for (int j = 0; j < n->nout; j++)
      known &= !n->out[j] || n->out[j]->data;
    if (known)
      continue;
    for (int j = 0; j < n->nin; j++)
      if (n->in[j] && (n->in[j]->type != VAL_TENSOR || n->in[j]->dynamic))
        fatal_at(cc, n, "--calibrate: sequences and data-dependent shapes are not supported");
    if (is_view_op(n)) {
      buf[n->out[0]->id] = buf[n->in[0]->id];
      continue;
    }
    if (!n->op->lower)
      fatal_at(cc, n, "--calibrate: this node cannot run at compile time: not supported");
    if (!r->fns[s] && !(r->fns[s] = jit_compile_node(cc, n)))
      bail_if_errors(cc);
    void *args[64];
    int na = 0;
    for (int j = 0; j < n->nin && na < 60; j++)
      if (n->in[j])
        args[na++] = n->in[j]->data ? n->in[j]->data : buf[n->in[j]->id];
    for (int j = 0; j < n->nout && na < 62; j++)
      if (n->out[j]) {
        if (n->out[j]->type != VAL_TENSOR || n->out[j]->dynamic)
          fatal_at(cc, n, "--calibrate: sequences and data-dependent shapes are not supported");
        void *b = calloc(1, (size_t)(value_bytes(n->out[j]) + 1));
        vec_push(&cc->pool, owned, b);
        args[na++] = buf[n->out[j]->id] = b;
      }
    void *scratch = NULL;
    if (n->scratch > 0) {
      vec_push(&cc->pool, owned, scratch = calloc(1, (size_t)n->scratch));
      args[na++] = scratch;
    }
    r->fns[s](args);
  }
}

static void free_owned(PtrVec *owned) {
  for (int i = 0; i < owned->len; i++)
    free(owned->items[i]);
  owned->len = 0;
}

static void *value_data(Value *v, void **buf) { return v->data ? v->data : buf[v->id]; }

//
// Static quantization
//
typedef struct {
  float lo, hi;       // range over the calibration inputs
  bool seen;
} Range;

// Nodes whose float inputs and output are quantized; data movement keeps its input's
// parameters.
static bool moves_data(const Node *n) {
  switch (n->op->kind) {
  case OP_Reshape:
  case OP_Flatten:
  case OP_Squeeze:
  case OP_Unsqueeze:
  case OP_Transpose:
  case OP_Identity:
  case OP_MaxPool: return true;
  default: return false;
  }
}

static bool quantizable(Compiler *cc, const Node *n) {
  WeightDims d;
  if (!n->op || kept_float(cc, n) || !n->out[0] || n->out[0]->dtype != DT_F32 || n->out[0]->data)
    return false;
  switch (n->op->kind) {
  case OP_Conv:
  case OP_MatMul:
  case OP_Gemm: return weight_dims(n, &d);
  case OP_Add:
  case OP_Mul: return n->in[0] && n->in[1] && !n->in[0]->data && !n->in[1]->data;
  case OP_Concat:
  case OP_AveragePool:
  case OP_GlobalAveragePool:
  case OP_Relu:
  case OP_Clip:
  case OP_LeakyRelu:
  case OP_Sigmoid: return true;
  default: return moves_data(n) && (n->nout == 1 || !n->out[1]);
  }
}

static Node *sole_consumer(Graph *g, Value *v) {
  Node *found = NULL;
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    for (int j = 0; j < n->nin; j++)
      if (n->in[j] == v) {
        if (found)
          return NULL;
        found = n;
      }
  }
  for (int i = 0; i < g->outputs.len; i++)
    if (g->outputs.items[i] == v)
      return NULL;
  return found;
}

// V, the output of a quantizable node, feeds only a Relu or Clip that will be fused into the
// producer's requantization: V itself needs no quantization parameters.
static bool fuses(Compiler *cc, Graph *g, Value *v) {
  Node *c = sole_consumer(g, v);
  return v->producer && quantizable(cc, v->producer) && c && (c->op->kind == OP_Relu || c->op->kind == OP_Clip) &&
         !kept_float(cc, c);
}

// uint8 asymmetric (or int8 symmetric) parameters covering [lo, hi] and 0.
static void act_params(const Range *r, bool symmetric, float *scale, int32_t *zp) {
  float lo = fminf(r->lo, 0), hi = fmaxf(r->hi, 0);
  if (symmetric) {
    float m = fmaxf(-lo, hi);
    *scale = m > 0 ? m / 127 : 1;
    *zp = 0;
    return;
  }
  *scale = hi > lo ? (hi - lo) / 255 : 1;
  float z = nearbyintf(-lo / *scale);
  *zp = (int32_t)(z < 0 ? 0 : z > 255 ? 255 : z);
}

// V becomes Q -> DQ with SCALE and ZP: every use of V (graph outputs too) reads the DQ.
static void insert_qdq(Compiler *cc, Graph *g, Value *v, float scale, int32_t zp, DType qt) {
  Node *q = new_node(cc, g, "QuantizeLinear", pool_printf(&cc->pool, "%s.quantize", v->name), 3, 13);
  Node *dq = new_node(cc, g, "DequantizeLinear", pool_printf(&cc->pool, "%s.dequantize", v->name), 3, 13);
  q->in[1] = dq->in[1] = scalar(cc, g, "scale", DT_F32, scale);
  q->in[2] = dq->in[2] = scalar(cc, g, "zero_point", qt, zp);
  dq->in[0] = q->out[0];
  graph_replace_uses(g, v, dq->out[0]);
  q->in[0] = v;
  // right after the producer (graph inputs: first), the DQ after the Q; both are the last
  // two nodes now
  g->nodes.len -= 2;
  int pos = 0;
  if (v->producer) {
    while (pos < g->nodes.len && g->nodes.items[pos] != v->producer)
      pos++;
    pos++;
  }
  memmove(&g->nodes.items[pos + 2], &g->nodes.items[pos], sizeof(void *) * (size_t)(g->nodes.len - pos));
  g->nodes.items[pos] = q;
  g->nodes.items[pos + 1] = dq;
  g->nodes.len += 2;
  q->op->infer(cc, q);
  dq->op->infer(cc, dq);
  q->inferred = dq->inferred = true;
}

// The biases of a quantized Conv/Gemm: int32 with scale x_scale * w_scale (one per channel).
static void quantize_bias(Compiler *cc, Graph *g, Node *n, float x_scale, const float *w_scale, int64_t N) {
  Value *b = node_input(n, 2);
  int64_t nb = b ? shape_numel(&b->shape) : 0;
  if (!b || !b->data || b->dtype != DT_F32 || (nb != 1 && (nb != N || b->shape.rank > 2 || (b->shape.rank == 2 && b->shape.dim[0] != 1))))
    return; // (a Gemm's C varying along the rows stays float)
  float beta = n->op->kind == OP_Gemm ? attr_float(n, "beta", 1) : 1;
  int32_t *q = pool_alloc(&cc->pool, sizeof(int32_t) * (size_t)N);
  float *s = pool_alloc(&cc->pool, sizeof(float) * (size_t)N);
  for (int64_t c = 0; c < N; c++) {
    s[c] = x_scale * w_scale[c];
    double v = beta * ((float *)b->data)[shape_numel(&b->shape) > 1 ? c : 0] / s[c];
    q[c] = (int32_t)(v > 2e9 ? 2e9 : v < -2e9 ? -2e9 : nearbyint(v));
  }
  Node *dq = new_node(cc, g, "DequantizeLinear", pool_printf(&cc->pool, "%s.bias", n->name), 3, 13);
  dq->in[0] = graph_const(g, pool_printf(&cc->pool, "%s.int32", b->name), DT_I32, shape_of(1, &N), q);
  dq->in[1] = graph_const(g, pool_printf(&cc->pool, "%s.scale", b->name), DT_F32, shape_of(1, &N), s);
  dq->in[2] = graph_const(g, "zero", DT_I32, shape_of(1, &N), NULL);
  Attr *axis = pool_alloc(&cc->pool, sizeof(Attr));
  *axis = (Attr){.name = "axis", .type = ATTR_INT, .i = 0};
  dq->attrs = axis;
  dq->nattrs = 1;
  move_before(g, dq, n);
  fold(cc, dq);
  n->in[2] = dq->out[0];
  if (beta != 1) { // the bias now holds beta
    Attr *attrs = pool_alloc(&cc->pool, sizeof(Attr) * (size_t)(n->nattrs + 1));
    memcpy(attrs, n->attrs, sizeof(Attr) * (size_t)n->nattrs);
    int k = 0;
    while (k < n->nattrs && strcmp(attrs[k].name, "beta"))
      k++;
    attrs[k] = (Attr){.name = "beta", .type = ATTR_FLOAT, .f = 1};
    n->attrs = attrs;
    n->nattrs += k == n->nattrs;
  }
}

static void record_ranges(Graph *g, void **buf, Range *ranges) {
  for (int i = 0; i < g->values.len; i++) {
    Value *v = g->values.items[i];
    if (v->type != VAL_TENSOR || v->dtype != DT_F32 || v->data || !buf[v->id])
      continue;
    const float *x = buf[v->id];
    Range *r = &ranges[v->id];
    for (int64_t k = 0; k < shape_numel(&v->shape); k++) {
      if (!isfinite(x[k]))
        continue;
      r->lo = r->seen ? fminf(r->lo, x[k]) : x[k];
      r->hi = r->seen ? fmaxf(r->hi, x[k]) : x[k];
      r->seen = true;
    }
  }
}

// The outputs of G on every sample, as copies.
static float **float_outputs(Graph *g, void **buf) {
  float **out = calloc((size_t)g->outputs.len + 1, sizeof(float *));
  for (int i = 0; i < g->outputs.len; i++) {
    Value *v = g->outputs.items[i];
    if (v->type != VAL_TENSOR || v->dtype != DT_F32)
      continue;
    out[i] = malloc((size_t)value_bytes(v) + 1);
    memcpy(out[i], value_data(v, buf), (size_t)value_bytes(v));
  }
  return out;
}

static void quantize_static(Compiler *cc, Graph *g) {
  if (!cc->opt.calibrate)
    fatal_at(cc, NULL, "--quantize int8 needs --calibrate DIR (inputs the activation ranges come from)");
  Samples smp = read_samples(cc, g, cc->opt.calibrate);
  int nvalues = cc->next_value_id + 1;
  Range *ranges = pool_alloc(&cc->pool, sizeof(Range) * (size_t)nvalues);
  void **buf = pool_alloc(&cc->pool, sizeof(void *) * (size_t)nvalues);
  PtrVec owned = {0};
  Runner runner = {0};
  float ***reference = pool_alloc(&cc->pool, sizeof(float **) * (size_t)smp.count);
  for (int k = 0; k < smp.count; k++) {
    run_graph(cc, g, &runner, smp.inputs[k], buf, &owned);
    record_ranges(g, buf, ranges);
    if (cc->opt.report) // the float outputs, to measure the quantized model against
      reference[k] = float_outputs(g, buf);
    free_owned(&owned);
  }
  // The values to quantize: float inputs and outputs of quantizable nodes, except outputs that
  // feed only a Relu/Clip (fused into the producer's requantization).
  bool sym = cc->opt.quant_symmetric;
  DType qt = sym ? DT_I8 : DT_U8;
  bool *want = pool_alloc(&cc->pool, (size_t)nvalues);
  Value **same_as = pool_alloc(&cc->pool, sizeof(Value *) * (size_t)nvalues);
  int nnodes = g->nodes.len;
  Node **nodes = pool_dup(&cc->pool, g->nodes.items, sizeof(Node *) * (size_t)nnodes);
  for (int i = 0; i < nnodes; i++) {
    Node *n = nodes[i];
    if (!quantizable(cc, n))
      continue;
    int nin = n->op->kind == OP_Conv || n->op->kind == OP_MatMul || n->op->kind == OP_Gemm || n->op->kind == OP_Clip ||
                      n->op->kind == OP_Reshape || n->op->kind == OP_Squeeze || n->op->kind == OP_Unsqueeze
                  ? 1
                  : n->nin;
    bool activation = n->op->kind == OP_Relu || n->op->kind == OP_Clip;
    for (int j = 0; j < nin; j++)
      if (n->in[j] && !n->in[j]->data && n->in[j]->dtype == DT_F32 && !(activation && fuses(cc, g, n->in[j])))
        want[n->in[j]->id] = true;
    if (!fuses(cc, g, n->out[0]))
      want[n->out[0]->id] = true;
    if (moves_data(n))
      same_as[n->out[0]->id] = n->in[0];
  }
  // weights and biases of the linear layers, with their input's activation scale
  for (int i = 0; i < nnodes; i++) {
    Node *n = nodes[i];
    WeightDims d;
    if (!quantizable(cc, n) || !weight_dims(n, &d))
      continue;
    Range *r = &ranges[n->in[0]->id];
    float xs;
    int32_t xz;
    act_params(r, sym, &xs, &xz);
    float *ws = quantize_weights(cc, g, n, &d, DT_I8, 0, cc->opt.quant_per_tensor);
    float *wch = pool_alloc(&cc->pool, sizeof(float) * (size_t)d.N);
    for (int64_t c = 0; c < d.N; c++)
      wch[c] = ws[cc->opt.quant_per_tensor ? 0 : c];
    if (n->op->kind != OP_MatMul)
      quantize_bias(cc, g, n, xs, wch, d.N);
  }
  Value **by_id = pool_alloc(&cc->pool, sizeof(Value *) * (size_t)nvalues);
  for (int i = 0; i < g->values.len; i++) {
    Value *v = g->values.items[i];
    if (v->id < nvalues)
      by_id[v->id] = v;
  }
  for (int id = 0; id < nvalues; id++) {
    Value *v = by_id[id];
    if (!want[id] || !v)
      continue;
    Value *src = v;
    while (same_as[src->id] && ranges[same_as[src->id]->id].seen)
      src = same_as[src->id];
    float scale;
    int32_t zp;
    act_params(&ranges[src->id], sym, &scale, &zp);
    insert_qdq(cc, g, v, scale, zp, qt);
  }
  if (!cc->opt.report)
    return;
  // The quantized model against the float one, on the calibration inputs.
  runner = (Runner){0}; // the nodes moved: compile them again
  buf = pool_alloc(&cc->pool, sizeof(void *) * (size_t)(cc->next_value_id + 1)); // new values too
  Calibration *cal = pool_alloc(&cc->pool, sizeof *cal);
  cal->samples = smp.count;
  cal->count = g->outputs.len;
  cal->errors = pool_alloc(&cc->pool, sizeof(OutputError) * (size_t)(cal->count + 1));
  int64_t *counts = pool_alloc(&cc->pool, sizeof(int64_t) * (size_t)(cal->count + 1));
  for (int k = 0; k < smp.count; k++) {
    run_graph(cc, g, &runner, smp.inputs[k], buf, &owned);
    for (int i = 0; i < cal->count; i++) {
      Value *v = g->outputs.items[i];
      OutputError *e = &cal->errors[i];
      e->output = i < g->output_names.len ? g->output_names.items[i] : v->name;
      if (!reference[k][i])
        continue;
      const float *got = value_data(v, buf);
      for (int64_t j = 0; j < shape_numel(&v->shape); j++) {
        double err = fabs((double)got[j] - reference[k][i][j]);
        e->max_error = fmax(e->max_error, err);
        e->mean_error += err;
        counts[i]++;
      }
    }
    free_owned(&owned);
  }
  for (int i = 0; i < cal->count; i++)
    cal->errors[i].mean_error /= counts[i] ? (double)counts[i] : 1;
  for (int k = 0; k < smp.count; k++) {
    for (int i = 0; i < g->outputs.len; i++)
      free(reference[k][i]);
    free(reference[k]);
  }
  cc->calibration = cal;
}

void compress_model(Compiler *cc, Graph *g) {
  if (cc->opt.quantize && cc->opt.weights != WEIGHTS_KEEP)
    fatal_at(cc, NULL, "--quantize and --weights exclude each other (--quantize compresses the weights too)");
  if (cc->opt.quantize)
    quantize_static(cc, g);
  else if (cc->opt.weights != WEIGHTS_KEEP)
    compress_weights(cc, g);
}
