// main.c — the unit test runner.
#include <stdlib.h>

#include "unit.h"

Value *test_input(Graph *g, const char *name, DType dt, int rank, const int64_t *dims) {
  Value *v = graph_new_value(g, name);
  v->dtype = dt;
  v->shape = shape_of(rank, dims);
  v->typed = true;
  v->input_index = g->inputs.len;
  vec_push(&g->cc->pool, &g->inputs, v);
  return v;
}

Node *test_node(Graph *g, const char *op, int nin, Value **in, int nout) {
  Node *n = graph_new_node(g, op, "", NULL, nin, nout);
  for (int i = 0; i < nin; i++)
    n->in[i] = in[i];
  for (int i = 0; i < nout; i++) {
    n->out[i] = graph_new_value(g, pool_printf(&g->cc->pool, "%s_out%d", op, i));
    n->out[i]->producer = n;
  }
  return n;
}

void test_int_attr(Compiler *cc, Node *n, const char *name, int64_t v) {
  Attr *a = pool_alloc(&cc->pool, sizeof(Attr) * (size_t)(n->nattrs + 1));
  memcpy(a, n->attrs, sizeof(Attr) * (size_t)n->nattrs);
  a[n->nattrs] = (Attr){.name = name, .type = ATTR_INT, .i = v};
  n->attrs = a;
  n->nattrs++;
}

int main(void) {
  SRunner *sr = srunner_create(dtype_suite());
  srunner_add_suite(sr, graph_suite());
  srunner_add_suite(sr, infer_suite());
  srunner_add_suite(sr, plan_suite());
  srunner_add_suite(sr, loader_suite());
  srunner_add_suite(sr, text_suite());
  srunner_add_suite(sr, quant_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  jit_shutdown();
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
