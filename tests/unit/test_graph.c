// test_graph.c — IR construction, shapes, broadcasting, the op table.
#include "unit.h"

START_TEST(broadcasting) {
  Shape a = {3, {2, 1, 4}}, b = {2, {3, 1}}, r;
  ck_assert(broadcast_shapes(&a, &b, &r));
  ck_assert_int_eq(r.rank, 3);
  ck_assert(r.dim[0] == 2 && r.dim[1] == 3 && r.dim[2] == 4);
  Shape c = {1, {3}};
  ck_assert(!broadcast_shapes(&a, &c, &r));
  Shape scalar = {0};
  ck_assert(broadcast_shapes(&scalar, &a, &r) && shape_eq(&r, &a));
}
END_TEST

START_TEST(shape_text) {
  Pool p = {0};
  Shape s = {4, {1, 3, 224, 224}}, z = {0};
  ck_assert_str_eq(shape_str(&p, &s), "1x3x224x224");
  ck_assert_str_eq(shape_str(&p, &z), "scalar");
  ck_assert_int_eq(shape_numel(&s), 150528);
  pool_free(&p);
}
END_TEST

START_TEST(values_and_uses) {
  Compiler *cc = compiler_new();
  Graph *g = graph_new(cc, NULL, "g");
  int64_t d[] = {2, 3};
  Value *x = test_input(g, "x", DT_F32, 2, d);
  Node *n = test_node(g, "Relu", 1, (Value *[]){x}, 1);
  Node *m = test_node(g, "Add", 2, (Value *[]){n->out[0], x}, 1);
  ck_assert_int_eq(value_uses(g, x), 2);
  ck_assert_ptr_eq(graph_find_value(g, "x"), x);
  ck_assert_ptr_eq(n->op, op_find("", "Relu"));
  graph_replace_uses(g, x, n->out[0]);
  ck_assert_ptr_eq(m->in[1], n->out[0]);
  ck_assert(x->id != n->out[0]->id);
  compiler_free(cc);
}
END_TEST

START_TEST(op_table_rows) {
  // The table is indexed by its own kind, and lookups find every row.
  for (int i = 0; i < OP_COUNT_; i++) {
    ck_assert_int_eq(op_table[i].kind, i);
    ck_assert_ptr_eq(op_find(op_table[i].domain, op_table[i].name), &op_table[i]);
    ck_assert(op_table[i].infer != NULL);
    ck_assert(op_table[i].first_opset <= op_table[i].last_opset);
  }
  ck_assert_ptr_null(op_find("", "NoSuchOp"));
  ck_assert_ptr_eq(op_find("ai.onnx", "Conv"), op_find("", "Conv"));
}
END_TEST

START_TEST(string_map) {
  Pool p = {0};
  StrMap m = {0};
  char names[300][8];
  for (int i = 0; i < 300; i++) {
    snprintf(names[i], sizeof names[i], "v%d", i);
    map_put(&p, &m, names[i], (void *)(intptr_t)(i + 1));
  }
  for (int i = 0; i < 300; i++)
    ck_assert_int_eq((intptr_t)map_get(&m, names[i]), i + 1);
  ck_assert_ptr_null(map_get(&m, "missing"));
  pool_free(&p);
}
END_TEST

Suite *graph_suite(void) {
  Suite *s = suite_create("graph");
  TCase *tc = tcase_create("ir");
  tcase_add_test(tc, broadcasting);
  tcase_add_test(tc, shape_text);
  tcase_add_test(tc, values_and_uses);
  tcase_add_test(tc, op_table_rows);
  tcase_add_test(tc, string_map);
  suite_add_tcase(s, tc);
  return s;
}
