// bind.c — every graph input gets a static shape: from the model, --dim NAME=N, --shape
// INPUT=AxB, or is turned into a constant by --bind INPUT=FILE.pb. What stays unbound is one
// error naming every unbound dimension. A sequence or optional input is given its tensors
// (--shape INPUT='[AxB;C]', 'none'): they become inputs of the generated code in its place.
#include "../compiler.h"

#include <stdlib.h>
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

const ValueBinding *find_binding(const Options *opt, const char *input) {
  for (int i = 0; i < opt->binds.len; i++) {
    const ValueBinding *vb = opt->binds.items[i];
    if (!strcmp(vb->input, input))
      return vb;
  }
  return NULL;
}

// One element of TEXT (a number) into element I of C; false if it does not read as one of
// C's type.
static bool parse_element(Value *c, int64_t i, const char *text) {
  char *end;
  if (dtype_is_float(c->dtype)) {
    dtype_set(c->dtype, c->data, i, strtod(text, &end));
  } else if (c->dtype == DT_I64) {
    ((int64_t *)c->data)[i] = strtoll(text, &end, 10);
  } else {
    long long x = strtoll(text, &end, 10);
    dtype_set(c->dtype, c->data, i, (double)x);
    if (dtype_get_int(c->dtype, c->data, i) != x)
      return false; // out of the type's range
  }
  return end != text && !*end;
}

// VALUES as a constant of input V's element type: one number takes V's declared shape, all of
// whose dims must be 1 (symbolic ones become 1), or is a scalar; several make a vector.
static Value *parse_values(Compiler *cc, Graph *g, const Value *v, const char *values) {
  if (v->dtype == DT_UNDEF || v->dtype == DT_STRING || !dtype_supported(v->dtype))
    fatal_at(cc, NULL, "--bind %s=%s: the input's element type does not take numbers (bind a FILE.pb)", v->name,
             values);
  int64_t count = 1;
  for (const char *p = values; *p; p++)
    count += *p == ',';
  Shape s = {.rank = count > 1, .dim = {count}};
  if (v->dim_param && count == 1) { // the declared shape, with only ones
    s.rank = v->shape.rank;
    for (int d = 0; d < s.rank; d++)
      s.dim[d] = 1;
  }
  bool fits = !v->dim_param || s.rank == v->shape.rank;
  for (int d = 0; fits && d < s.rank; d++)
    fits = v->shape.dim[d] < 0 || v->shape.dim[d] == s.dim[d];
  if (!fits)
    fatal_at(cc, NULL, "--bind %s=%s: %lld value(s) given, the input has shape %s", v->name, values,
             (long long)count, shape_str(&cc->pool, &v->shape));
  Value *c = graph_const(g, v->name, v->dtype, s, NULL);
  char *copy = pool_strdup(&cc->pool, values), *save = NULL;
  int64_t i = 0;
  for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save), i++)
    if (!parse_element(c, i, tok))
      fatal_at(cc, NULL, "--bind %s=%s: '%s' is not a value of type %s", v->name, values, tok,
               dtype_onnx_name(v->dtype));
  if (i != count)
    fatal_at(cc, NULL, "--bind %s=%s: an empty value", v->name, values);
  return c;
}

Value *binding_value(Compiler *cc, Graph *g, const Value *v, const ValueBinding *vb) {
  if (vb->values)
    return parse_values(cc, g, v, vb->values);
  Value *c = load_tensor_file(cc, g, vb->path, v->name);
  if (v->dtype != DT_UNDEF && c->dtype != v->dtype)
    fatal_at(cc, NULL, "--bind %s: the file holds %s, the input is %s", v->name, dtype_onnx_name(c->dtype),
             dtype_onnx_name(v->dtype));
  return c;
}

// --bind: the input becomes a constant (shape-like operands, values that choose an If branch).
static bool bind_value(Compiler *cc, Graph *g, Value *v) {
  const ValueBinding *vb = find_binding(&cc->opt, v->name);
  if (!vb)
    return false;
  Value *c = binding_value(cc, g, v, vb);
  if (vb->path)
    vec_push(&cc->pool, &cc->deps, (void *)vb->path);
  v->dtype = c->dtype;
  v->shape = c->shape;
  v->data = c->data;
  v->typed = true;
  return true;
}

static const StructureBinding *find_structure(Compiler *cc, const char *input) {
  for (int i = 0; i < cc->opt.structures.len; i++) {
    const StructureBinding *sb = cc->opt.structures.items[i];
    if (!strcmp(sb->input, input))
      return sb;
  }
  return NULL;
}

// "AxBxC" or "scalar" at *P; advances *P past it.
static bool parse_dims(const char **p, Shape *s) {
  *s = (Shape){0};
  if (!strncmp(*p, "scalar", 6)) {
    *p += 6;
    return true;
  }
  for (;;) {
    char *end;
    long long d = strtoll(*p, &end, 10);
    if (end == *p || d < 0 || s->rank == MAX_RANK)
      return false;
    s->dim[s->rank++] = d;
    *p = end;
    if (**p != 'x')
      return true;
    (*p)++;
  }
}

// A new graph input: a member tensor of a sequence or optional input.
static Value *member_input(Graph *g, Value *v, const char *name, Shape s, PtrVec *inputs) {
  Value *t = graph_new_value(g, name);
  t->dtype = v->dtype;
  t->shape = s;
  t->typed = true;
  t->input_index = inputs->len;
  vec_push(&g->cc->pool, inputs, t);
  return t;
}

// Builds V's members from TEXT (see StructureBinding); false when it does not parse or does
// not fit V's type.
static bool bind_structure(Graph *g, Value *v, const char *text, PtrVec *inputs) {
  Pool *p = &g->cc->pool;
  v->typed = true;
  v->input_index = -1;
  if (v->type == VAL_OPTIONAL && !strcmp(text, "none"))
    return true;
  Value *seq = v;
  if (v->type == VAL_OPTIONAL) {
    v->nelems = 1;
    v->elems = pool_alloc(p, sizeof(Value *));
    if (text[0] != '[') {
      Shape s;
      const char *at = text;
      if (!parse_dims(&at, &s) || *at)
        return false;
      v->elems[0] = member_input(g, v, v->name, s, inputs);
      return true;
    }
    seq = v->elems[0] = graph_new_value(g, v->name);
    seq->type = VAL_SEQUENCE;
    seq->dtype = v->dtype;
    seq->typed = true;
  }
  if (text[0] != '[')
    return false;
  PtrVec elems = {0};
  const char *at = text + 1;
  while (*at != ']') {
    Shape s;
    if (!parse_dims(&at, &s) || (*at != ';' && *at != ']'))
      return false;
    vec_push(p, &elems, member_input(g, v, pool_printf(p, "%s[%d]", v->name, elems.len), s, inputs));
    at += *at == ';';
  }
  seq->elems = (Value **)elems.items;
  seq->nelems = elems.len;
  return !at[1];
}

static bool is_input(Graph *g, const char *name) {
  for (int i = 0; i < g->inputs.len; i++)
    if (!strcmp(((Value *)g->inputs.items[i])->name, name))
      return true;
  return false;
}

void bind_inputs(Compiler *cc, Graph *g) {
  StrBuf unbound = {0};
  PtrVec inputs = {0};
  for (int i = 0; i < cc->opt.binds.len; i++) {
    const ValueBinding *vb = cc->opt.binds.items[i];
    if (!is_input(g, vb->input))
      error_at(cc, NULL, "--bind %s: the model has no input of that name", vb->input);
  }
  for (int i = 0; i < g->inputs.len; i++) {
    Value *v = g->inputs.items[i];
    if (bind_value(cc, g, v)) {
      v->input_index = -1;
      continue;
    }
    if (v->type != VAL_TENSOR) {
      const StructureBinding *sb = find_structure(cc, v->name);
      if (!sb)
        sb_printf(&unbound, "%s input '%s' (a %s; give its tensors with --shape %s='[AxB;C]'%s)", unbound.len ? "," : "",
                  v->name, v->type == VAL_SEQUENCE ? "sequence" : "optional", v->name, v->type == VAL_SEQUENCE ? "" : " or 'none'");
      else if (!bind_structure(g, v, sb->structure, &inputs))
        error_at(cc, NULL, "--shape %s='%s' does not describe the tensors of a %s", v->name, sb->structure,
                 v->type == VAL_SEQUENCE ? "sequence" : "optional");
      continue;
    }
    v->input_index = inputs.len;
    vec_push(&cc->pool, &inputs, v);
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
    } else if (!v->dim_param) {
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
    else if (!unbound.len && !shape_fits(&v->shape, v->dtype))
      error_at(cc, NULL, "input '%s' of shape %s is too large", v->name, shape_str(&cc->pool, &v->shape));
    if (v->dtype == DT_STRING)
      v->max_strlen = cc->opt.max_string_length > 0 ? cc->opt.max_string_length : DEFAULT_MAX_STRING_LENGTH;
    v->typed = true;
  }
  g->inputs = inputs;
  for (int i = 0; i < cc->opt.shapes.len; i++) {
    const ShapeBinding *sb = cc->opt.shapes.items[i];
    Value *v = graph_find_value(g, sb->input);
    if (!v || v->input_index < 0)
      error_at(cc, NULL, "--shape %s: the model has no input of that name", sb->input);
  }
  for (int i = 0; i < cc->opt.structures.len; i++) {
    const StructureBinding *sb = cc->opt.structures.items[i];
    bool found = false;
    for (int k = 0; k < g->values.len && !found; k++) {
      Value *v = g->values.items[k];
      found = v->type != VAL_TENSOR && !v->producer && !strcmp(v->name, sb->input);
    }
    if (!found)
      error_at(cc, NULL, "--shape %s='%s': the model has no sequence or optional input of that name", sb->input,
               sb->structure);
  }
  if (unbound.len) {
    error_at(cc, NULL, "unbound dimensions:%s; bind them with --dim NAME=N or --shape INPUT=AxBxC", unbound.buf);
    sb_free(&unbound);
  }
  bail_if_errors(cc);
}
