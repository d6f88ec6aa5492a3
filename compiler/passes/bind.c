// bind.c — every graph input gets a static shape: from the model, --dim NAME=N, --shape
// INPUT=AxB, or is turned into a constant by --bind INPUT=FILE.pb. What stays unbound is one
// error naming every unbound dimension.
#include "../compiler.h"

#include <string.h>

static const ShapeBinding *find_shape(Compiler *cc, const char *input) {
  for (int i = 0; i < cc->opt.shapes.len; i++) {
    const ShapeBinding *sb = cc->opt.shapes.items[i];
    if (!strcmp(sb->input, input))
      return sb;
  }
  return NULL;
}

static const DimBinding *find_dim(Compiler *cc, const char *name) {
  for (int i = 0; i < cc->opt.dims.len; i++) {
    const DimBinding *db = cc->opt.dims.items[i];
    if (!strcmp(db->name, name))
      return db;
  }
  return NULL;
}

// --bind: the input becomes a constant (only for shape-like operands; see docs).
static bool bind_value(Compiler *cc, Graph *g, Value *v) {
  for (int i = 0; i < cc->opt.binds.len; i++) {
    const ValueBinding *vb = cc->opt.binds.items[i];
    if (strcmp(vb->input, v->name))
      continue;
    Value *c = load_tensor_file(cc, g, vb->path, v->name);
    vec_push(&cc->pool, &cc->deps, (void *)vb->path);
    if (v->dtype != DT_UNDEF && c->dtype != v->dtype)
      fatal_at(cc, NULL, "--bind %s: the file holds %s, the input is %s", v->name,
               dtype_onnx_name(c->dtype), dtype_onnx_name(v->dtype));
    v->dtype = c->dtype;
    v->shape = c->shape;
    v->data = c->data;
    v->typed = true;
    return true;
  }
  return false;
}

void bind_inputs(Compiler *cc, Graph *g) {
  StrBuf unbound = {0};
  int w = 0;
  for (int i = 0; i < g->inputs.len; i++) {
    Value *v = g->inputs.items[i];
    if (bind_value(cc, g, v)) {
      v->input_index = -1;
      continue;
    }
    v->input_index = w;
    g->inputs.items[w++] = v;
    const ShapeBinding *sb = find_shape(cc, v->name);
    if (sb) {
      bool has_rank = v->dim_param != NULL;
      if (has_rank && sb->shape.rank != v->shape.rank)
        fatal_at(cc, NULL, "--shape %s: rank %d given, the model says %d", v->name, sb->shape.rank, v->shape.rank);
      for (int d = 0; has_rank && d < v->shape.rank; d++)
        if (v->shape.dim[d] >= 0 && v->shape.dim[d] != sb->shape.dim[d])
          fatal_at(cc, NULL, "--shape %s: dim %d is %lld in the model, %lld given", v->name, d,
                   (long long)v->shape.dim[d], (long long)sb->shape.dim[d]);
      v->shape = sb->shape;
    } else if (!v->dim_param && v->type == VAL_TENSOR) {
      sb_printf(&unbound, "%s input '%s' (rank unknown; use --shape %s=...)", unbound.len ? "," : "", v->name, v->name);
      continue;
    }
    for (int d = 0; d < v->shape.rank; d++) {
      if (v->shape.dim[d] >= 0)
        continue;
      const char *param = v->dim_param ? v->dim_param[d] : NULL;
      const DimBinding *db = param ? find_dim(cc, param) : NULL;
      if (db)
        v->shape.dim[d] = db->value;
      else if (param)
        sb_printf(&unbound, "%s '%s' (input '%s' dim %d)", unbound.len ? "," : "", param, v->name, d);
      else
        sb_printf(&unbound, "%s input '%s' dim %d (unnamed)", unbound.len ? "," : "", v->name, d);
    }
    if (v->dtype == DT_UNDEF)
      error_at(cc, NULL, "input '%s' has no element type", v->name);
    if (v->dtype == DT_STRING)
      v->max_strlen = cc->opt.max_string_length > 0 ? cc->opt.max_string_length : DEFAULT_MAX_STRING_LENGTH;
    v->typed = v->type == VAL_TENSOR;
  }
  g->inputs.len = w;
  for (int i = 0; i < cc->opt.shapes.len; i++) {
    const ShapeBinding *sb = cc->opt.shapes.items[i];
    Value *v = graph_find_value(g, sb->input);
    if (!v || v->input_index < 0)
      error_at(cc, NULL, "--shape %s: the model has no input of that name", sb->input);
  }
  if (unbound.len) {
    error_at(cc, NULL, "unbound dimensions:%s; bind them with --dim NAME=N or --shape INPUT=AxBxC", unbound.buf);
    sb_free(&unbound);
  }
  bail_if_errors(cc);
}
