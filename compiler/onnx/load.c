// load.c — ONNX model (protobuf) → IR graph: initializers, inputs with symbolic dims, nodes,
// attributes, subgraphs (with outer-scope references) and model-local functions (inlined).
#include "../compiler.h"
#include "onnx.pb-c.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct Scope Scope;
struct Scope {
  StrMap names; // value name -> Value*
  Scope *parent;
};

typedef struct {
  Compiler *cc;
  const char *dir; // model folder: external data is relative to it
  Onnx__ModelProto *model;
} Loader;

static Graph *load_graph(Loader *ld, const Onnx__GraphProto *gp, Graph *parent, Scope *outer);

static Value *scope_find(Scope *s, const char *name) {
  for (; s; s = s->parent) {
    Value *v = map_get(&s->names, name);
    if (v)
      return v;
  }
  return NULL;
}

static void define(Loader *ld, Scope *s, Value *v) { map_put(&ld->cc->pool, &s->names, v->name, v); }

// Reads a ValueInfo's type into V: element type and (possibly symbolic) dims.
static void read_type(Loader *ld, Value *v, const Onnx__TypeProto *tp, const char *what) {
  Compiler *cc = ld->cc;
  if (!tp)
    return;
  if (tp->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE ||
      tp->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE) {
    // The members are bound later (bind.c); what matters here is their element type.
    v->type = tp->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE ? VAL_SEQUENCE : VAL_OPTIONAL;
    const Onnx__TypeProto *elem = tp;
    while (elem && (elem->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE ||
                    elem->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE))
      elem = elem->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE ? elem->sequence_type->elem_type
                                                                       : elem->optional_type->elem_type;
    if (elem && elem->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
      v->dtype = (DType)elem->tensor_type->elem_type;
    return;
  }
  if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
    error_at(cc, NULL, "%s '%s': only tensor, sequence and optional types are supported", what,
             v->name);
    return;
  }
  const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
  v->dtype = tt->has_elem_type ? (DType)tt->elem_type : DT_UNDEF;
  if (!tt->shape) // rank unknown: left to inference, or an error when bound
    return;
  if (tt->shape->n_dim > MAX_RANK) {
    error_at(cc, NULL, "%s '%s': rank %zu exceeds the supported %d", what, v->name,
             tt->shape->n_dim, MAX_RANK);
    return;
  }
  v->shape.rank = (int)tt->shape->n_dim;
  v->dim_param = pool_alloc(&cc->pool, sizeof(char *) * (size_t)(v->shape.rank + 1));
  bool known = true;
  for (int i = 0; i < v->shape.rank; i++) {
    const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
    if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value >= 0) {
      v->shape.dim[i] = d->dim_value;
    } else {
      v->shape.dim[i] = -1;
      known = false;
      if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && *d->dim_param)
        v->dim_param[i] = pool_strdup(&cc->pool, d->dim_param);
    }
  }
  v->typed = known && v->dtype != DT_UNDEF;
}

static void read_attr(Loader *ld, Graph *g, Scope *scope, Node *n, Attr *a,
                      const Onnx__AttributeProto *ap) {
  Compiler *cc = ld->cc;
  Pool *p = &cc->pool;
  a->name = pool_strdup(p, ap->name ? ap->name : "");
  a->type = ap->has_type ? (AttrType)ap->type : ATTR_UNDEF;
  if (a->type == ATTR_UNDEF) { // IR version 1 models omit the type: deduce it from the field
    a->type = ap->has_f ? ATTR_FLOAT : ap->has_i ? ATTR_INT : ap->has_s ? ATTR_STRING
              : ap->t ? ATTR_TENSOR : ap->g ? ATTR_GRAPH : ap->n_floats ? ATTR_FLOATS
              : ap->n_ints ? ATTR_INTS : ap->n_strings ? ATTR_STRINGS : ATTR_UNDEF;
  }
  char *what = pool_printf(p, "node '%s' attribute '%s'", n->name, a->name);
  switch (a->type) {
  case ATTR_FLOAT: a->f = ap->f; break;
  case ATTR_INT: a->i = ap->i; break;
  case ATTR_STRING:
    a->s = pool_alloc(p, ap->s.len + 1); // zeroed: the copy is NUL-terminated
    if (ap->s.len)
      memcpy((char *)a->s, ap->s.data, ap->s.len);
    a->slen = ap->s.len;
    break;
  case ATTR_TENSOR:
    if (!ap->t)
      fatal_at(cc, n, "attribute '%s' has no tensor", a->name);
    a->t = tensor_from_proto(cc, g, ap->t, ld->dir, what);
    break;
  case ATTR_GRAPH:
    if (!ap->g)
      fatal_at(cc, n, "attribute '%s' has no graph", a->name);
    a->g = load_graph(ld, ap->g, g, scope);
    break;
  case ATTR_FLOATS:
    a->n = (int)ap->n_floats;
    a->floats = pool_dup(p, ap->floats, sizeof(float) * ap->n_floats);
    break;
  case ATTR_INTS:
    a->n = (int)ap->n_ints;
    a->ints = pool_dup(p, ap->ints, sizeof(int64_t) * ap->n_ints);
    break;
  case ATTR_STRINGS:
    a->n = (int)ap->n_strings;
    a->strings = pool_alloc(p, sizeof(char *) * (ap->n_strings + 1));
    for (size_t i = 0; i < ap->n_strings; i++) {
      char *s = pool_alloc(p, ap->strings[i].len + 1);
      if (ap->strings[i].len) // empty strings may have no data
        memcpy(s, ap->strings[i].data, ap->strings[i].len);
      a->strings[i] = s;
    }
    break;
  case ATTR_TENSORS:
    a->n = (int)ap->n_tensors;
    a->tensors = pool_alloc(p, sizeof(Value *) * (ap->n_tensors + 1));
    for (size_t i = 0; i < ap->n_tensors; i++)
      a->tensors[i] = tensor_from_proto(cc, g, ap->tensors[i], ld->dir, what);
    break;
  case ATTR_GRAPHS:
    a->n = (int)ap->n_graphs;
    a->graphs = pool_alloc(p, sizeof(Graph *) * (ap->n_graphs + 1));
    for (size_t i = 0; i < ap->n_graphs; i++)
      a->graphs[i] = load_graph(ld, ap->graphs[i], g, scope);
    break;
  case ATTR_TYPE_PROTO: {
    Value probe = {.name = a->name};
    read_type(ld, &probe, ap->tp, "attribute");
    a->type_dtype = probe.dtype;
    break;
  }
  default:
    error_at(cc, n, "attribute '%s' has an unsupported type %d", a->name, (int)a->type);
  }
}

static const Onnx__FunctionProto *find_function(Loader *ld, const char *domain, const char *name) {
  for (size_t i = 0; i < ld->model->n_functions; i++) {
    const Onnx__FunctionProto *f = ld->model->functions[i];
    if (f->name && !strcmp(f->name, name) && !strcmp(f->domain ? f->domain : "", domain))
      return f;
  }
  return NULL;
}

static void load_node(Loader *ld, Graph *g, Scope *scope, const Onnx__NodeProto *np);

// A call of a model-local function is replaced by the function's body: its formal inputs and
// outputs are bound to the call's values, attribute references to the call's attributes.
static void inline_function(Loader *ld, Graph *g, Scope *scope, const Onnx__NodeProto *call,
                            const Onnx__FunctionProto *fn, int depth) {
  Compiler *cc = ld->cc;
  Pool *p = &cc->pool;
  if (depth > 32)
    fatal_at(cc, NULL, "function '%s' recurses too deeply", fn->name);
  Scope inner = {.parent = NULL};
  const char *prefix = pool_printf(p, "%s/", call->name && *call->name ? call->name : fn->name);
  for (size_t i = 0; i < fn->n_input; i++) {
    Value *v = i < call->n_input && *call->input[i] ? scope_find(scope, call->input[i]) : NULL;
    if (v)
      map_put(p, &inner.names, fn->input[i], v);
  }
  for (size_t k = 0; k < fn->n_node; k++) {
    Onnx__NodeProto np = *fn->node[k];
    // Rename: formal names are local to the call.
    np.name = pool_printf(p, "%s%s", prefix, np.name && *np.name ? np.name : np.op_type);
    np.input = pool_alloc(p, sizeof(char *) * (np.n_input + 1));
    for (size_t i = 0; i < np.n_input; i++) {
      const char *in = fn->node[k]->input[i];
      Value *v = *in ? map_get(&inner.names, in) : NULL;
      np.input[i] = v ? (char *)v->name : *in ? pool_printf(p, "%s%s", prefix, in) : "";
    }
    np.output = pool_alloc(p, sizeof(char *) * (np.n_output + 1));
    for (size_t i = 0; i < np.n_output; i++) {
      const char *o = fn->node[k]->output[i];
      np.output[i] = *o ? pool_printf(p, "%s%s", prefix, o) : "";
      for (size_t j = 0; j < fn->n_output; j++)
        if (!strcmp(fn->output[j], o) && j < call->n_output)
          np.output[i] = call->output[j];
    }
    np.attribute = pool_alloc(p, sizeof(void *) * (np.n_attribute + 1));
    size_t na = 0;
    for (size_t i = 0; i < fn->node[k]->n_attribute; i++) {
      Onnx__AttributeProto *ap = fn->node[k]->attribute[i];
      if (ap->ref_attr_name && *ap->ref_attr_name) {
        for (size_t j = 0; j < call->n_attribute; j++)
          if (!strcmp(call->attribute[j]->name, ap->ref_attr_name)) {
            Onnx__AttributeProto *copy = pool_dup(p, call->attribute[j], sizeof *copy);
            copy->name = ap->name;
            np.attribute[na++] = copy;
          }
        continue; // an unset reference means the attribute is absent
      }
      np.attribute[na++] = ap;
    }
    np.n_attribute = na;
    // Intermediate values of the body are renamed through the scope: record them as we go.
    const Onnx__FunctionProto *nested = find_function(ld, np.domain ? np.domain : "", np.op_type);
    if (nested)
      inline_function(ld, g, scope, &np, nested, depth + 1);
    else
      load_node(ld, g, scope, &np);
    for (size_t i = 0; i < np.n_output; i++)
      if (*fn->node[k]->output[i] && *np.output[i])
        map_put(p, &inner.names, fn->node[k]->output[i], scope_find(scope, np.output[i]));
  }
}

static void load_node(Loader *ld, Graph *g, Scope *scope, const Onnx__NodeProto *np) {
  Compiler *cc = ld->cc;
  const char *domain = np->domain ? np->domain : "";
  if (!strcmp(domain, "ai.onnx"))
    domain = "";
  const Onnx__FunctionProto *fn = find_function(ld, domain, np->op_type ? np->op_type : "");
  if (fn && !op_find(domain, np->op_type)) {
    inline_function(ld, g, scope, np, fn, 0);
    return;
  }
  Node *n = graph_new_node(g, np->op_type ? np->op_type : "", domain, np->name, (int)np->n_input,
                           (int)np->n_output);
  for (size_t i = 0; i < np->n_input; i++) {
    if (!*np->input[i])
      continue;
    n->in[i] = scope_find(scope, np->input[i]);
    if (!n->in[i])
      error_at(cc, n, "input '%s' is not produced by any node, initializer or graph input",
               np->input[i]);
  }
  n->nattrs = (int)np->n_attribute;
  n->attrs = pool_alloc(&cc->pool, sizeof(Attr) * (np->n_attribute + 1));
  for (size_t i = 0; i < np->n_attribute; i++)
    read_attr(ld, g, scope, n, &n->attrs[i], np->attribute[i]);
  for (size_t i = 0; i < np->n_output; i++) {
    if (!*np->output[i])
      continue;
    Value *v = graph_new_value(g, np->output[i]);
    v->producer = n;
    n->out[i] = v;
    define(ld, scope, v);
  }
}

static Graph *load_graph(Loader *ld, const Onnx__GraphProto *gp, Graph *parent, Scope *outer) {
  Compiler *cc = ld->cc;
  Graph *g = graph_new(cc, parent, gp->name);
  if (!parent) {
    for (size_t i = 0; i < ld->model->n_opset_import; i++) {
      const Onnx__OperatorSetIdProto *o = ld->model->opset_import[i];
      const char *d = o->domain ? o->domain : "";
      int ver = (int)o->version;
      if (!*d || !strcmp(d, "ai.onnx"))
        g->opset_onnx = ver;
      else if (!strcmp(d, "ai.onnx.ml"))
        g->opset_ml = ver;
      else if (!strcmp(d, "com.microsoft"))
        g->opset_ms = ver;
      else if (!strcmp(d, "ai.onnx.preview.training"))
        g->opset_training = ver;
    }
  }
  Scope scope = {.parent = outer};
  for (size_t i = 0; i < gp->n_initializer; i++) {
    const Onnx__TensorProto *tp = gp->initializer[i];
    char *what = pool_printf(&cc->pool, "initializer '%s'", tp->name ? tp->name : "");
    Value *v = tensor_from_proto(cc, g, tp, ld->dir, what);
    v->initializer = true;
    define(ld, &scope, v);
  }
  if (gp->n_sparse_initializer)
    error_at(cc, NULL, "sparse initializers are not supported");
  for (size_t i = 0; i < gp->n_input; i++) {
    const Onnx__ValueInfoProto *vi = gp->input[i];
    if (map_get(&scope.names, vi->name)) // IR < 4 lists initializers as inputs too
      continue;
    Value *v = graph_new_value(g, vi->name);
    read_type(ld, v, vi->type, "input");
    v->input_index = g->inputs.len;
    vec_push(&cc->pool, &g->inputs, v);
    define(ld, &scope, v);
  }
  for (size_t i = 0; i < gp->n_node; i++)
    load_node(ld, g, &scope, gp->node[i]);
  g->output_kinds = pool_alloc(&cc->pool, sizeof(ValueType) * (gp->n_output + 1));
  for (size_t i = 0; i < gp->n_output; i++) {
    const Onnx__TypeProto *tp = gp->output[i]->type;
    g->output_kinds[i] = !tp ? VAL_TENSOR
                         : tp->value_case == ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE ? VAL_SEQUENCE
                         : tp->value_case == ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE ? VAL_OPTIONAL
                                                                                    : VAL_TENSOR;
    Value *v = scope_find(&scope, gp->output[i]->name);
    if (!v) {
      error_at(cc, NULL, "graph output '%s' is not produced by the graph", gp->output[i]->name);
      continue;
    }
    if (v->output_index < 0)
      v->output_index = g->outputs.len;
    vec_push(&cc->pool, &g->outputs, v);
    vec_push(&cc->pool, &g->output_names, pool_strdup(&cc->pool, gp->output[i]->name));
  }
  // Declared output types of the main graph help only as a cross-check; inference decides.
  return g;
}

Graph *load_model(Compiler *cc, const char *path) {
  uint8_t *buf;
  size_t len;
  cc->model_path = pool_strdup(&cc->pool, path);
  vec_push(&cc->pool, &cc->deps, (void *)cc->model_path);
  if (!read_file(path, &buf, &len))
    fatal_at(cc, NULL, "cannot read model: %s", strerror(errno));
  Onnx__ModelProto *model = onnx__model_proto__unpack(NULL, len, buf);
  free(buf);
  if (!model)
    fatal_at(cc, NULL, "not an ONNX model (the protobuf does not parse; truncated or another format?)");
  Loader ld = {cc, path_dirname(&cc->pool, path), model};
  jmp_buf here, *outer = cc->bail;
  cc->bail = &here;
  Graph *g = NULL;
  if (!setjmp(here)) {
    if (!model->graph)
      fatal_at(cc, NULL, "not an ONNX model (no graph)");
    g = load_graph(&ld, model->graph, NULL, NULL);
  }
  cc->bail = outer;
  onnx__model_proto__free_unpacked(model, NULL);
  if (!g)
    longjmp(*outer, 1);
  bail_if_errors(cc);
  return g;
}
