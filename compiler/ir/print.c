// print.c — the text form of the IR (--emit=ir): every value with its type, shape and where
// it lives, every node with its operands. The first thing to read when something is wrong.
#include "../compiler.h"

static void print_value_ref(FILE *out, const Value *v) {
  if (!v) {
    fprintf(out, "_");
    return;
  }
  fprintf(out, "%%%d", v->id);
}

static void print_storage(FILE *out, const Value *v) {
  if (v->input_index >= 0)
    fprintf(out, "input %d", v->input_index);
  else if (v->output_index >= 0)
    fprintf(out, "output %d", v->output_index);
  else if (v->data)
    fprintf(out, "const %lld B", (long long)value_bytes(v));
  else if (v->alias_of)
    fprintf(out, "view of %%%d", v->alias_of->id);
  else if (v->offset >= 0)
    fprintf(out, "arena @%lld", (long long)v->offset);
  else
    fprintf(out, "unplanned");
}

static void print_type(FILE *out, const Value *v) {
  if (v->type == VAL_SEQUENCE) {
    fprintf(out, "seq<%s>[%d]", dtype_name(v->dtype), v->nelems);
    return;
  }
  if (v->type == VAL_OPTIONAL) {
    fprintf(out, "opt<%s>%s", dtype_name(v->dtype), v->nelems ? "" : " none");
    return;
  }
  fprintf(out, "%s[", dtype_name(v->dtype));
  for (int d = 0; d < v->shape.rank; d++) // a data-dependent dim: "<=bound"
    fprintf(out, "%s%s%lld", d ? "x" : "", v->dynamic & DYN_DIM(d) ? "<=" : "", (long long)v->shape.dim[d]);
  fprintf(out, "]");
}

static void print_graph_at(FILE *out, Graph *g, int indent) {
  for (int i = 0; i < g->values.len; i++) {
    Value *v = g->values.items[i];
    if (v->producer || !v->typed)
      continue;
    fprintf(out, "%*s%%%d = %s ", indent, "", v->id, v->input_index >= 0 ? "input" : "const");
    print_type(out, v);
    fprintf(out, " \"%s\" ; ", v->name);
    print_storage(out, v);
    fprintf(out, "\n");
  }
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    fprintf(out, "%*s", indent, "");
    for (int j = 0; j < n->nout; j++) {
      fprintf(out, j ? ", " : "");
      print_value_ref(out, n->out[j]);
    }
    fprintf(out, " = %s%s%s(", *n->domain ? n->domain : "", *n->domain ? "." : "", n->op_type);
    for (int j = 0; j < n->nin; j++) {
      fprintf(out, j ? ", " : "");
      print_value_ref(out, n->in[j]);
    }
    fprintf(out, ") \"%s\"", n->name);
    for (int j = 0; j < n->nattrs; j++) {
      const Attr *a = &n->attrs[j];
      fprintf(out, " %s=", a->name);
      switch (a->type) {
      case ATTR_INT: fprintf(out, "%lld", (long long)a->i); break;
      case ATTR_FLOAT: fprintf(out, "%g", a->f); break;
      case ATTR_STRING: fprintf(out, "\"%s\"", a->s); break;
      case ATTR_INTS:
        fprintf(out, "[");
        for (int k = 0; k < a->n; k++)
          fprintf(out, k ? ",%lld" : "%lld", (long long)a->ints[k]);
        fprintf(out, "]");
        break;
      case ATTR_FLOATS:
        fprintf(out, "[");
        for (int k = 0; k < a->n; k++)
          fprintf(out, k ? ",%g" : "%g", a->floats[k]);
        fprintf(out, "]");
        break;
      case ATTR_GRAPH: fprintf(out, "{graph %s}", a->g->name); break;
      default: fprintf(out, "<%d>", a->type); break;
      }
    }
    if (n->scratch > 0)
      fprintf(out, " scratch=%lld@%lld", (long long)n->scratch, (long long)n->scratch_offset);
    fprintf(out, "\n");
    for (int j = 0; j < n->nout; j++) {
      if (!n->out[j])
        continue;
      fprintf(out, "%*s  ; %%%d ", indent, "", n->out[j]->id);
      print_type(out, n->out[j]);
      fprintf(out, " \"%s\" ", n->out[j]->name);
      print_storage(out, n->out[j]);
      fprintf(out, "\n");
    }
    for (int j = 0; j < n->nattrs; j++)
      if (n->attrs[j].type == ATTR_GRAPH) {
        fprintf(out, "%*s  %s {\n", indent, "", n->attrs[j].name);
        print_graph_at(out, n->attrs[j].g, indent + 4);
        fprintf(out, "%*s  }\n", indent, "");
      }
  }
  fprintf(out, "%*sreturn", indent, "");
  for (int i = 0; i < g->outputs.len; i++) {
    fprintf(out, i ? ", " : " ");
    print_value_ref(out, g->outputs.items[i]);
  }
  fprintf(out, "\n");
}

void print_graph(FILE *out, Graph *g) { print_graph_at(out, g, 0); }
