// test_infer.c — shape inference and constant folding on graphs built by hand.
#include "unit.h"

static Value *const_i64(Graph *g, int n, const int64_t *v) {
  return graph_const(g, "c", DT_I64, (Shape){1, {n}}, v);
}

START_TEST(reshape_copy_and_infer_dims) {
  Compiler *cc = compiler_new();
  bool failed;
  Graph *g = graph_new(cc, NULL, "g");
  g->opset_onnx = 13;
  Value *x = test_input(g, "x", DT_F32, 3, (int64_t[]){2, 3, 4});
  Node *n = test_node(g, "Reshape", 2, (Value *[]){x, const_i64(g, 2, (int64_t[]){0, -1})}, 1);
  WITH_COMPILER(cc, &failed, infer_graph(cc, g));
  ck_assert(!failed);
  ck_assert_int_eq(n->out[0]->shape.rank, 2);
  ck_assert_int_eq(n->out[0]->shape.dim[0], 2);
  ck_assert_int_eq(n->out[0]->shape.dim[1], 12);
  compiler_free(cc);
}
END_TEST

START_TEST(conv_same_upper) {
  Compiler *cc = compiler_new();
  bool failed;
  Graph *g = graph_new(cc, NULL, "g");
  g->opset_onnx = 13;
  Value *x = test_input(g, "x", DT_F32, 4, (int64_t[]){1, 2, 5, 5});
  Value *w = graph_const(g, "w", DT_F32, (Shape){4, {6, 2, 3, 3}}, NULL);
  Node *n = test_node(g, "Conv", 2, (Value *[]){x, w}, 1);
  Attr *a = pool_alloc(&cc->pool, sizeof(Attr) * 2);
  a[0] = (Attr){.name = "auto_pad", .type = ATTR_STRING, .s = "SAME_UPPER"};
  a[1] = (Attr){.name = "strides", .type = ATTR_INTS, .n = 2, .ints = (int64_t[]){2, 2}};
  n->attrs = a;
  n->nattrs = 2;
  WITH_COMPILER(cc, &failed, infer_graph(cc, g));
  ck_assert(!failed);
  const Shape *y = &n->out[0]->shape;
  ck_assert(y->rank == 4 && y->dim[1] == 6 && y->dim[2] == 3 && y->dim[3] == 3);
  compiler_free(cc);
}
END_TEST

// Shape -> Gather -> Unsqueeze -> Concat -> Reshape: the exporter pattern for "flatten but
// keep the batch", folded at compile time through the JIT.
START_TEST(shape_subgraph_folds) {
  Compiler *cc = compiler_new();
  bool failed;
  Graph *g = graph_new(cc, NULL, "g");
  g->opset_onnx = 13;
  Value *x = test_input(g, "x", DT_F32, 4, (int64_t[]){3, 2, 4, 5});
  Node *shape = test_node(g, "Shape", 1, (Value *[]){x}, 1);
  Value *zero = graph_const(g, "zero", DT_I64, (Shape){0}, (int64_t[]){0});
  Node *gather = test_node(g, "Gather", 2, (Value *[]){shape->out[0], zero}, 1);
  Node *unsq = test_node(g, "Unsqueeze", 2, (Value *[]){gather->out[0], const_i64(g, 1, (int64_t[]){0})}, 1);
  Node *cat = test_node(g, "Concat", 2, (Value *[]){unsq->out[0], const_i64(g, 1, (int64_t[]){-1})}, 1);
  test_int_attr(cc, cat, "axis", 0);
  Node *reshape = test_node(g, "Reshape", 2, (Value *[]){x, cat->out[0]}, 1);
  WITH_COMPILER(cc, &failed, infer_graph(cc, g));
  ck_assert(!failed);
  ck_assert_ptr_nonnull(gather->out[0]->data);
  ck_assert_int_eq(((int64_t *)cat->out[0]->data)[0], 3);
  ck_assert_int_eq(((int64_t *)cat->out[0]->data)[1], -1);
  ck_assert_int_eq(reshape->out[0]->shape.dim[0], 3);
  ck_assert_int_eq(reshape->out[0]->shape.dim[1], 40);
  compiler_free(cc);
}
END_TEST

START_TEST(folded_arithmetic_is_exact) {
  Compiler *cc = compiler_new();
  bool failed;
  Graph *g = graph_new(cc, NULL, "g");
  g->opset_onnx = 13;
  float a[4] = {1.5f, -2.0f, 3.25f, 0.0f}, b[4] = {2.0f, 0.5f, -1.0f, 7.0f};
  Value *va = graph_const(g, "a", DT_F32, (Shape){1, {4}}, a);
  Value *vb = graph_const(g, "b", DT_F32, (Shape){1, {4}}, b);
  Node *mul = test_node(g, "Mul", 2, (Value *[]){va, vb}, 1);
  WITH_COMPILER(cc, &failed, infer_graph(cc, g));
  ck_assert(!failed);
  const float *r = mul->out[0]->data;
  for (int i = 0; i < 4; i++)
    ck_assert_float_eq(r[i], a[i] * b[i]);
  compiler_free(cc);
}
END_TEST

START_TEST(broadcast_error_names_node) {
  Compiler *cc = compiler_new();
  bool failed;
  Graph *g = graph_new(cc, NULL, "g");
  g->opset_onnx = 13;
  cc->model_path = "m.onnx";
  Value *x = test_input(g, "x", DT_F32, 1, (int64_t[]){3});
  Value *y = test_input(g, "y", DT_F32, 1, (int64_t[]){4});
  Node *n = test_node(g, "Add", 2, (Value *[]){x, y}, 1);
  n->name = "my_add";
  WITH_COMPILER(cc, &failed, infer_graph(cc, g));
  ck_assert(failed);
  ck_assert_str_eq(cc->diag.buf, "edgecc: error: m.onnx: node 'my_add' (Add): shapes 3 and 4 do not broadcast\n");
  compiler_free(cc);
}
END_TEST

START_TEST(unsupported_ops_reported_together) {
  Compiler *cc = compiler_new();
  bool failed;
  Graph *g = graph_new(cc, NULL, "g");
  g->opset_onnx = 13;
  cc->model_path = "m.onnx";
  Value *x = test_input(g, "x", DT_F32, 1, (int64_t[]){3});
  Node *a = test_node(g, "FancyOp", 1, (Value *[]){x}, 1);
  Node *b = test_node(g, "OtherOp", 1, (Value *[]){a->out[0]}, 1);
  Node *c = test_node(g, "Relu", 1, (Value *[]){b->out[0]}, 1);
  test_int_attr(cc, c, "bogus", 1);
  WITH_COMPILER(cc, &failed, check_supported(cc, g));
  ck_assert(failed);
  ck_assert_int_eq(cc->nerrors, 3);
  ck_assert_ptr_nonnull(strstr(cc->diag.buf, "(FancyOp): unsupported op 'FancyOp'"));
  ck_assert_ptr_nonnull(strstr(cc->diag.buf, "(OtherOp): unsupported op 'OtherOp'"));
  ck_assert_ptr_nonnull(strstr(cc->diag.buf, "(Relu): unsupported attribute 'bogus'"));
  compiler_free(cc);
}
END_TEST

START_TEST(operand_counts_checked) {
  Compiler *cc = compiler_new();
  bool failed;
  Graph *g = graph_new(cc, NULL, "g");
  g->opset_onnx = 13;
  cc->model_path = "m.onnx";
  Value *x = test_input(g, "x", DT_F32, 4, (int64_t[]){1, 1, 3, 3});
  Node *conv = test_node(g, "Conv", 2, (Value *[]){x, NULL}, 1); // W left empty
  conv->name = "conv";
  Node *relu = test_node(g, "Relu", 2, (Value *[]){x, x}, 1);
  relu->name = "relu";
  WITH_COMPILER(cc, &failed, check_supported(cc, g));
  ck_assert(failed);
  ck_assert_ptr_nonnull(strstr(cc->diag.buf, "node 'conv' (Conv): input 1 is required"));
  ck_assert_ptr_nonnull(strstr(cc->diag.buf, "node 'relu' (Relu): has 2 inputs, the op takes at most 1"));
  compiler_free(cc);
}
END_TEST

// Which dims of a value are data-dependent follows from each op's dims function: they flow
// through Transpose and MatMul's rows, Concat across them keeps its axis static, and a
// reduction over them gives a static shape again.
START_TEST(dynamic_dims_follow_dims_functions) {
  Compiler *cc = compiler_new();
  bool failed;
  Graph *g = graph_new(cc, NULL, "g");
  g->opset_onnx = 13;
  Value *x = test_input(g, "x", DT_F32, 2, (int64_t[]){4, 3});
  Value *keep = test_input(g, "keep", DT_BOOL, 1, (int64_t[]){4});
  Node *rows = test_node(g, "Compress", 2, (Value *[]){x, keep}, 1);
  test_int_attr(cc, rows, "axis", 0);
  Node *tr = test_node(g, "Transpose", 1, (Value *[]){rows->out[0]}, 1);
  Node *cat = test_node(g, "Concat", 2, (Value *[]){tr->out[0], tr->out[0]}, 1);
  test_int_attr(cc, cat, "axis", 0);
  Node *sum = test_node(g, "ReduceSum", 2, (Value *[]){tr->out[0], const_i64(g, 1, (int64_t[]){1})}, 1);
  test_int_attr(cc, sum, "keepdims", 0);
  Value *w = graph_const(g, "w", DT_F32, (Shape){2, {3, 5}}, NULL);
  Node *mm = test_node(g, "MatMul", 2, (Value *[]){rows->out[0], w}, 1);
  WITH_COMPILER(cc, &failed, infer_graph(cc, g));
  ck_assert(!failed);
  ck_assert_int_eq(rows->out[0]->dynamic, DYN_DIM(0));
  ck_assert_int_eq(tr->out[0]->dynamic, DYN_DIM(1));
  ck_assert_int_eq(cat->out[0]->dynamic, DYN_DIM(1));
  ck_assert_int_eq(cat->out[0]->shape.dim[0], 6);
  ck_assert_int_eq(sum->out[0]->dynamic, 0);
  ck_assert_int_eq(sum->out[0]->shape.dim[0], 3);
  ck_assert_int_eq(mm->out[0]->dynamic, DYN_DIM(0));
  ck_assert_int_eq(mm->out[0]->shape.dim[1], 5);
  compiler_free(cc);
}
END_TEST

// An op that cannot follow a data-dependent shape says so, naming the node and the producer.
START_TEST(dynamic_input_rejected_clearly) {
  Compiler *cc = compiler_new();
  bool failed;
  Graph *g = graph_new(cc, NULL, "g");
  g->opset_onnx = 13;
  cc->model_path = "m.onnx";
  Value *x = test_input(g, "x", DT_F32, 2, (int64_t[]){4, 3});
  Node *nz = test_node(g, "NonZero", 1, (Value *[]){x}, 1);
  Node *flat = test_node(g, "Reshape", 2, (Value *[]){nz->out[0], const_i64(g, 1, (int64_t[]){24})}, 1);
  flat->name = "flat";
  nz->out[0]->name = "nz";
  WITH_COMPILER(cc, &failed, infer_graph(cc, g));
  ck_assert(failed);
  ck_assert_str_eq(cc->diag.buf, "edgecc: error: m.onnx: node 'flat' (Reshape): input 0 ('nz') has a data-dependent "
                                 "shape (produced by NonZero): a target shape without 0 or -1 for its data-dependent "
                                 "dims is not supported\n");
  compiler_free(cc);
}
END_TEST

Suite *infer_suite(void) {
  Suite *s = suite_create("infer");
  TCase *tc = tcase_create("shapes");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, reshape_copy_and_infer_dims);
  tcase_add_test(tc, conv_same_upper);
  tcase_add_test(tc, shape_subgraph_folds);
  tcase_add_test(tc, folded_arithmetic_is_exact);
  tcase_add_test(tc, broadcast_error_names_node);
  tcase_add_test(tc, unsupported_ops_reported_together);
  tcase_add_test(tc, operand_counts_checked);
  tcase_add_test(tc, dynamic_dims_follow_dims_functions);
  tcase_add_test(tc, dynamic_input_rejected_clearly);
  suite_add_tcase(s, tc);
  return s;
}
