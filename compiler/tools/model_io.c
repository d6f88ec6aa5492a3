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
      if ((n->attrs[j].type == ATTR_GRAPH || n->attrs[j].type == ATTR_GRAPHS) && value_uses(g, v) > uses)
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

bool read_signature(const char *model_path, ModelSignature *sig, Pool *pool, StrBuf *err) {
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
    sig->shape_only = pool_alloc(pool, sizeof(bool) * (size_t)(g->inputs.len + 1));
    sig->output_names = pool_alloc(pool, sizeof(char *) * (size_t)(g->outputs.len + 1));
    for (int i = 0; i < g->inputs.len; i++) {
      Value *v = g->inputs.items[i];
      sig->input_names[i] = pool_strdup(pool, v->name);
      sig->input_types[i] = v->type == VAL_TENSOR ? v->dtype : DT_UNDEF;
      sig->shape_only[i] = shape_only(g, v, 0);
    }
    for (int i = 0; i < g->outputs.len; i++)
      sig->output_names[i] = pool_strdup(pool, ((Value *)g->outputs.items[i])->name);
    ok = true;
  }
  if (!ok)
    sb_printf(err, "%s", cc->diag.buf ? cc->diag.buf : "");
  compiler_free(cc);
  return ok;
}

bool read_tensor(const char *path, Tensor *t, Pool *pool, StrBuf *err) {
  Compiler *cc = compiler_new();
  jmp_buf here;
  cc->bail = &here;
  bool ok = false;
  if (!setjmp(here)) {
    Graph *g = graph_new(cc, NULL, "io");
    Value *v = load_tensor_file(cc, g, path, NULL);
    t->dtype = v->dtype;
    t->shape = v->shape;
    t->name = pool_strdup(pool, v->name);
    int64_t bytes = value_bytes(v);
    t->data = pool_dup(pool, v->data, (size_t)(bytes > 0 ? bytes : 1));
    if (v->dtype == DT_STRING)
      for (int64_t i = 0; i < shape_numel(&v->shape); i++)
        ((char **)t->data)[i] = pool_strdup(pool, ((char **)v->data)[i]);
    ok = true;
  }
  if (!ok)
    sb_printf(err, "%s", cc->diag.buf ? cc->diag.buf : "");
  compiler_free(cc);
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

bool read_outputs(const char *workdir, int noutputs, Tensor *outs, Pool *pool, StrBuf *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/outputs.txt", workdir);
  FILE *list = fopen(path, "r");
  if (!list) {
    sb_printf(err, "the harness wrote no outputs");
    return false;
  }
  bool ok = true;
  for (int i = 0; i < noutputs && ok; i++) {
    int dt, rank;
    ok = fscanf(list, "%d %d", &dt, &rank) == 2 && rank >= 0 && rank <= MAX_RANK;
    outs[i].dtype = (DType)dt;
    outs[i].shape.rank = rank;
    for (int d = 0; ok && d < rank; d++) {
      long long v;
      ok = fscanf(list, "%lld", &v) == 1;
      outs[i].shape.dim[d] = v;
    }
    if (!ok)
      break;
    uint8_t *data;
    size_t len;
    snprintf(path, sizeof path, "%s/output_%d.raw", workdir, i);
    size_t want = (size_t)(shape_numel(&outs[i].shape) * dtype_size(outs[i].dtype));
    bool strings = outs[i].dtype == DT_STRING;
    if (!read_file(path, &data, &len) || (!strings && len != want)) {
      sb_printf(err, "output %d: the harness wrote a wrong size", i);
      ok = false;
      break;
    }
    outs[i].data = strings ? (void *)split_strings(data, len, shape_numel(&outs[i].shape), pool)
                           : pool_dup(pool, data, len ? len : 1);
    free(data);
    if (!outs[i].data) {
      sb_printf(err, "output %d: the harness wrote %lld strings wrongly", i, (long long)shape_numel(&outs[i].shape));
      ok = false;
      break;
    }
  }
  fclose(list);
  if (!ok && !err->len)
    sb_printf(err, "cannot read the harness's outputs");
  return ok;
}
