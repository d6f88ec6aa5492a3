// test_plan.c — the memory planner: reuse, views, outputs, the lower bound.
#include "unit.h"

static Graph *chain(Compiler *cc, int length, Node **nodes) {
  Graph *g = graph_new(cc, NULL, "g");
  g->opset_onnx = 13;
  Value *v = test_input(g, "x", DT_F32, 2, (int64_t[]){1, 1000});
  for (int i = 0; i < length; i++) {
    nodes[i] = test_node(g, "Relu", 1, (Value *[]){v}, 1);
    v = nodes[i]->out[0];
  }
  vec_push(&cc->pool, &g->outputs, v);
  v->output_index = 0;
  return g;
}

START_TEST(chain_ping_pongs) {
  Compiler *cc = compiler_new();
  bool failed;
  Node *n[6];
  Graph *g = chain(cc, 6, n);
  MemoryPlan plan;
  WITH_COMPILER(cc, &failed, { infer_graph(cc, g); plan = plan_memory(cc, g); });
  ck_assert(!failed);
  // 4000 bytes aligned to 64 = 4032; two buffers alternate.
  ck_assert_int_eq(plan.arena_size, 2 * 4032);
  ck_assert_int_eq(plan.lower_bound, 2 * 4032);
  ck_assert_int_eq(n[0]->out[0]->offset, n[2]->out[0]->offset);
  ck_assert(n[0]->out[0]->offset != n[1]->out[0]->offset);
  ck_assert_int_eq(n[5]->out[0]->offset, -1); // the output lives in the caller's buffer
  compiler_free(cc);
}
END_TEST

START_TEST(live_values_never_overlap) {
  // x -> a, b, c (all live until the sum) : three distinct buffers.
  Compiler *cc = compiler_new();
  bool failed;
  Graph *g = graph_new(cc, NULL, "g");
  g->opset_onnx = 13;
  Value *x = test_input(g, "x", DT_F32, 1, (int64_t[]){100});
  Node *a = test_node(g, "Relu", 1, (Value *[]){x}, 1);
  Node *b = test_node(g, "Neg", 1, (Value *[]){x}, 1);
  Node *c = test_node(g, "Abs", 1, (Value *[]){x}, 1);
  Node *s = test_node(g, "Sum", 3, (Value *[]){a->out[0], b->out[0], c->out[0]}, 1);
  vec_push(&cc->pool, &g->outputs, s->out[0]);
  s->out[0]->output_index = 0;
  MemoryPlan plan;
  WITH_COMPILER(cc, &failed, { infer_graph(cc, g); plan = plan_memory(cc, g); });
  ck_assert(!failed);
  int64_t offs[3] = {a->out[0]->offset, b->out[0]->offset, c->out[0]->offset};
  ck_assert(offs[0] != offs[1] && offs[1] != offs[2] && offs[0] != offs[2]);
  ck_assert_int_eq(plan.arena_size, 3 * 448);
  ck_assert_int_eq(plan.lower_bound, plan.arena_size);
  compiler_free(cc);
}
END_TEST

START_TEST(views_share_storage) {
  Compiler *cc = compiler_new();
  bool failed;
  Graph *g = graph_new(cc, NULL, "g");
  g->opset_onnx = 13;
  Value *x = test_input(g, "x", DT_F32, 2, (int64_t[]){4, 8});
  Node *r = test_node(g, "Relu", 1, (Value *[]){x}, 1);
  Node *f = test_node(g, "Flatten", 1, (Value *[]){r->out[0]}, 1);
  test_int_attr(cc, f, "axis", 0);
  Node *e = test_node(g, "Exp", 1, (Value *[]){f->out[0]}, 1);
  vec_push(&cc->pool, &g->outputs, e->out[0]);
  e->out[0]->output_index = 0;
  WITH_COMPILER(cc, &failed, { infer_graph(cc, g); plan_memory(cc, g); });
  ck_assert(!failed);
  ck_assert_ptr_eq(f->out[0]->alias_of, r->out[0]);
  ck_assert_int_eq(r->out[0]->offset, 0);
  compiler_free(cc);
}
END_TEST

Suite *plan_suite(void) {
  Suite *s = suite_create("plan");
  TCase *tc = tcase_create("arena");
  tcase_add_test(tc, chain_ping_pongs);
  tcase_add_test(tc, live_values_never_overlap);
  tcase_add_test(tc, views_share_storage);
  suite_add_tcase(s, tc);
  return s;
}
