// model_io.c — what the tools need to know about a model before compiling it (its inputs,
// which of them are shape-like), and tensors moving between .pb files and the harness.
#include "tools.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

// A value is shape-like when every use is an operand the op table marks as shape-like, or an
// input of a node whose outputs are all shape-like in turn: the window size of HannWindow's
// expansion reaches Range's limit through Cast and Sub. Shape and Size read only the shape of
// their input, never its values, so they do not make it shape-like.
static bool shape_only(const Graph *g, const Value *v, int depth) {
  if (depth > 32)
    return false;
  for (int i = 0; i < g->outputs.len; i++)
    if (g->outputs.items[i] == v)
      return false;
  int uses = 0;
  for (int i = 0; i < g->nodes.len; i++) {
    const Node *n = g->nodes.items[i];
    for (int j = 0; j < n->nattrs; j++)
      if (n->attrs[j].type == ATTR_GRAPH && value_uses(n->attrs[j].g, v) > 0)
        return false; // read inside a subgraph: stay conservative
    for (int j = 0; j < n->nin; j++) {
      if (n->in[j] != v)
        continue;
      uses++;
      if (!n->op || n->op->kind == OP_Shape || n->op->kind == OP_Size)
        return false;
      if (n->op->shape_inputs & (1u << j))
        continue;
      for (int k = 0; k < n->nout; k++)
        if (n->out[k] && !shape_only(g, n->out[k], depth + 1))
          return false;
    }
  }
  return uses > 0;
}

static void to_tensor(const Value *v, Tensor *t, Pool *pool);

// The value --bind gives input V, if it does.
static Tensor *bound_value(Compiler *cc, Graph *g, const Value *v, const PtrVec *binds, Pool *pool) {
  for (int i = 0; i < binds->len; i++) {
    const ValueBinding *vb = binds->items[i];
    if (strcmp(vb->input, v->name))
      continue;
    Tensor *t = pool_alloc(pool, sizeof(Tensor));
    to_tensor(binding_value(cc, g, v, vb), t, pool);
    return t;
  }
  return NULL;
}

bool read_signature(const char *model_path, const PtrVec *binds, ModelSignature *sig, Pool *pool, StrBuf *err) {
  Compiler *cc = compiler_new();
  jmp_buf here;
  cc->bail = &here;
  bool ok = false;
  if (!setjmp(here)) {
    Graph *g = load_model(cc, model_path);
    sig->ninputs = g->inputs.len;
    sig->noutputs = g->outputs.len;
    sig->input_names = pool_alloc(pool, sizeof(char *) * (size_t)(g->inputs.len + 1));
    sig->input_types = pool_alloc(pool, sizeof(DType) * (size_t)(g->inputs.len + 1));
    sig->input_kinds = pool_alloc(pool, sizeof(ValueType) * (size_t)(g->inputs.len + 1));
    sig->shape_only = pool_alloc(pool, sizeof(bool) * (size_t)(g->inputs.len + 1));
    sig->bound = pool_alloc(pool, sizeof(Tensor *) * (size_t)(g->inputs.len + 1));
    sig->output_names = pool_alloc(pool, sizeof(char *) * (size_t)(g->outputs.len + 1));
    sig->output_kinds = pool_alloc(pool, sizeof(ValueType) * (size_t)(g->outputs.len + 1));
    for (int i = 0; i < g->inputs.len; i++) {
      Value *v = g->inputs.items[i];
      sig->input_names[i] = pool_strdup(pool, v->name);
      sig->input_types[i] = v->dtype;
      sig->input_kinds[i] = v->type;
      sig->shape_only[i] = v->type == VAL_TENSOR && shape_only(g, v, 0);
      sig->bound[i] = v->type == VAL_TENSOR ? bound_value(cc, g, v, binds, pool) : NULL;
    }
    for (int i = 0; i < g->outputs.len; i++) {
      sig->output_names[i] = pool_strdup(pool, g->output_names.items[i]);
      sig->output_kinds[i] = g->output_kinds[i];
    }
    ok = true;
  }
  if (!ok)
    sb_printf(err, "%s", cc->diag.buf ? cc->diag.buf : "");
  compiler_free(cc);
  return ok;
}

static void to_tensor(const Value *v, Tensor *t, Pool *pool) {
  t->dtype = v->dtype;
  t->shape = v->shape;
  t->name = pool_strdup(pool, v->name);
  int64_t bytes = value_bytes(v);
  t->data = pool_dup(pool, v->data, (size_t)(bytes > 0 ? bytes : 1));
  if (v->dtype == DT_STRING)
    for (int64_t i = 0; i < shape_numel(&v->shape); i++)
      ((char **)t->data)[i] = pool_strdup(pool, ((char **)v->data)[i]);
}

bool read_tensor(const char *path, Tensor *t, Pool *pool, StrBuf *err) {
  Datum d;
  if (!read_datum(path, VAL_TENSOR, &d, pool, err))
    return false;
  *t = d.tensors[0];
  return true;
}

static const char *shape_text(Pool *pool, const Shape *s) {
  return shape_str(pool, s); // "2x3", "scalar": the syntax edgecc_bind_structure reads
}

bool read_datum(const char *path, ValueType kind, Datum *d, Pool *pool, StrBuf *err) {
  Compiler *cc = compiler_new();
  jmp_buf here;
  cc->bail = &here;
  bool ok = false;
  *d = (Datum){.kind = kind};
  if (!setjmp(here)) {
    Graph *g = graph_new(cc, NULL, "io");
    Value *v = load_value_file(cc, g, path, kind, NULL);
    Value *list = v;
    if (kind == VAL_OPTIONAL && v->nelems && v->elems[0]->type == VAL_SEQUENCE) {
      d->holds_sequence = true;
      list = v->elems[0];
    }
    int count;
    Value **ts = tensors_of(&cc->pool, v, &count);
    d->count = count;
    d->tensors = pool_alloc(pool, sizeof(Tensor) * (size_t)(count + 1));
    StrBuf text = {0};
    for (int i = 0; i < count; i++) {
      to_tensor(ts[i], &d->tensors[i], pool);
      sb_printf(&text, "%s%s", i ? ";" : "", shape_text(pool, &ts[i]->shape));
    }
    if (kind == VAL_OPTIONAL && !v->nelems)
      d->structure = "none";
    else if (list->type == VAL_SEQUENCE)
      d->structure = pool_printf(pool, "[%s]", text.buf ? text.buf : "");
    else if (kind == VAL_OPTIONAL)
      d->structure = pool_strdup(pool, text.buf);
    sb_free(&text);
    ok = true;
  }
  if (!ok)
    sb_printf(err, "%s", cc->diag.buf ? cc->diag.buf : "");
  compiler_free(cc);
  return ok;
}

static bool same_tensor(const Tensor *a, const Tensor *b) {
  if (a->dtype != b->dtype || shape_numel(&a->shape) != shape_numel(&b->shape) || a->dtype == DT_STRING)
    return false;
  return !memcmp(a->data, b->data, (size_t)(shape_numel(&a->shape) * dtype_size(a->dtype)));
}

int bind_inputs_from_data(edgecc_compiler_ref c, const ModelSignature *sig, const char **paths, const Datum *ins,
                          const char *workdir, StrBuf *err) {
  int runtime = 0;
  for (int i = 0; i < sig->ninputs; i++) {
    const Datum *d = &ins[i];
    if (sig->bound[i]) {
      if (d->kind != VAL_TENSOR || !same_tensor(&d->tensors[0], sig->bound[i])) {
        sb_printf(err, "edgecc: error: %s: input '%s' differs from the value --bind gives it\n", paths[i],
                  sig->input_names[i]);
        return -1;
      }
      continue;
    }
    if (sig->shape_only[i]) {
      edgecc_bind_value(c, sig->input_names[i], paths[i]);
      continue;
    }
    if (d->kind == VAL_TENSOR)
      edgecc_bind_shape(c, sig->input_names[i], d->tensors[0].shape.rank, d->tensors[0].shape.dim);
    else
      edgecc_bind_structure(c, sig->input_names[i], d->structure);
    for (int k = 0; k < d->count; k++) {
      char raw[4096];
      snprintf(raw, sizeof raw, "%s/input_%d.raw", workdir, runtime++);
      if (!write_raw(raw, &d->tensors[k])) {
        sb_printf(err, "edgecc: error: cannot write to %s\n", workdir);
        return -1;
      }
    }
  }
  return runtime;
}

bool write_datum(const char *path, const char *name, const Datum *d) {
  if (d->kind == VAL_TENSOR)
    return tensor_write_file(path, name, d->tensors[0].dtype, &d->tensors[0].shape, d->tensors[0].data);
  DType *dts = calloc((size_t)d->count + 1, sizeof(DType));
  Shape *shapes = calloc((size_t)d->count + 1, sizeof(Shape));
  void **data = calloc((size_t)d->count + 1, sizeof(void *));
  for (int i = 0; i < d->count; i++) {
    dts[i] = d->tensors[i].dtype;
    shapes[i] = d->tensors[i].shape;
    data[i] = d->tensors[i].data;
  }
  bool ok = container_write_file(path, name, d->kind, d->holds_sequence, d->count, dts, shapes, data);
  free(dts);
  free(shapes);
  free(data);
  return ok;
}

// Strings in the harness's raw files: each element's bytes and a NUL, row-major.
bool write_raw(const char *path, const Tensor *t) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return false;
  bool ok = true;
  if (t->dtype == DT_STRING) {
    for (int64_t i = 0; ok && i < shape_numel(&t->shape); i++) {
      const char *s = ((char **)t->data)[i];
      ok = fwrite(s, 1, strlen(s) + 1, f) == strlen(s) + 1;
    }
  } else {
    size_t n = (size_t)(shape_numel(&t->shape) * dtype_size(t->dtype));
    ok = fwrite(t->data, 1, n, f) == n;
  }
  return fclose(f) == 0 && ok;
}

// COUNT NUL-terminated strings filling DATA[0..LEN) as an array of C strings in POOL.
static char **split_strings(const uint8_t *data, size_t len, int64_t count, Pool *pool) {
  char **strings = pool_alloc(pool, sizeof(char *) * (size_t)(count + 1));
  size_t at = 0;
  for (int64_t i = 0; i < count; i++) {
    const uint8_t *end = at < len ? memchr(data + at, 0, len - at) : NULL;
    if (!end)
      return NULL;
    strings[i] = pool_strdup(pool, (const char *)data + at);
    at = (size_t)(end - data) + 1;
  }
  return at == len ? strings : NULL;
}

int read_outputs(const char *workdir, Tensor **outs, Pool *pool, StrBuf *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/outputs.txt", workdir);
  FILE *list = fopen(path, "r");
  if (!list) {
    sb_printf(err, "the harness wrote no outputs");
    return -1;
  }
  PtrVec got = {0};
  bool ok = true;
  for (;;) {
    int dt, rank;
    if (fscanf(list, "%d %d", &dt, &rank) != 2)
      break;
    Tensor *t = pool_alloc(pool, sizeof(Tensor));
    ok = rank >= 0 && rank <= MAX_RANK;
    t->dtype = (DType)dt;
    t->shape.rank = rank;
    for (int d = 0; ok && d < rank; d++) {
      long long v;
      ok = fscanf(list, "%lld", &v) == 1;
      t->shape.dim[d] = v;
    }
    char name[1024] = "";
    if (!ok || !fgets(name, sizeof name, list))
      break;
    name[strcspn(name, "\n")] = 0;
    t->name = pool_strdup(pool, name[0] == ' ' ? name + 1 : name);
    uint8_t *data;
    size_t len;
    snprintf(path, sizeof path, "%s/output_%d.raw", workdir, got.len);
    size_t want = (size_t)(shape_numel(&t->shape) * dtype_size(t->dtype));
    bool strings = t->dtype == DT_STRING;
    if (!read_file(path, &data, &len) || (!strings && len != want)) {
      sb_printf(err, "output %d: the harness wrote a wrong size", got.len);
      ok = false;
      break;
    }
    t->data = strings ? (void *)split_strings(data, len, shape_numel(&t->shape), pool) : pool_dup(pool, data, len ? len : 1);
    free(data);
    if (!t->data) {
      sb_printf(err, "output %d: the harness wrote %lld strings wrongly", got.len, (long long)shape_numel(&t->shape));
      ok = false;
      break;
    }
    vec_push(pool, &got, t);
  }
  fclose(list);
  if (!ok) {
    if (!err->len)
      sb_printf(err, "cannot read the harness's outputs");
    return -1;
  }
  *outs = pool_alloc(pool, sizeof(Tensor) * (size_t)(got.len + 1));
  for (int i = 0; i < got.len; i++)
    (*outs)[i] = *(Tensor *)got.items[i];
  return got.len;
}

static bool is_member(const char *name, const char *base) {
  size_t n = strlen(base);
  return !strncmp(name, base, n) && name[n] == '[';
}

bool group_outputs(const ModelSignature *sig, const Tensor *outs, int count, Datum *data, StrBuf *err) {
  int c = 0;
  for (int i = 0; i < sig->noutputs; i++) {
    const char *name = sig->output_names[i];
    Datum *d = &data[i];
    *d = (Datum){.kind = sig->output_kinds[i], .tensors = (Tensor *)outs + c};
    if (d->kind == VAL_TENSOR || (d->kind == VAL_OPTIONAL && c < count && !strcmp(outs[c].name, name))) {
      d->count = c < count ? 1 : 0;
    } else {
      while (c + d->count < count && is_member(outs[c + d->count].name, name))
        d->count++;
      d->holds_sequence = d->kind == VAL_OPTIONAL && d->count > 0;
    }
    if (d->kind == VAL_TENSOR && !d->count) {
      sb_printf(err, "the compiled model has no tensor for output %d ('%s')", i, name);
      return false;
    }
    c += d->count;
  }
  if (c != count)
    sb_printf(err, "the compiled model has %d output tensors, the model's outputs account for %d", count, c);
  return c == count;
}
