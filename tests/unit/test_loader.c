// test_loader.c — the ONNX loader on models written here with protobuf-c: storage forms,
// external data and its sandboxing, and the errors of malformed files.
#define _GNU_SOURCE
#include <stdlib.h>
#include <unistd.h>

#include "onnx.pb-c.h"
#include "unit.h"

static char dir[64];

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/edgecc-unit-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) { remove_tree(dir); }

static void write_model(const char *path, Onnx__ModelProto *m, size_t truncate_to) {
  size_t n = onnx__model_proto__get_packed_size(m);
  uint8_t *buf = malloc(n);
  onnx__model_proto__pack(m, buf);
  FILE *f = fopen(path, "wb");
  fwrite(buf, 1, truncate_to && truncate_to < n ? truncate_to : n, f);
  fclose(f);
  free(buf);
}

// Relu(x) + w, with w stored as TENSOR (raw or external per the caller).
typedef struct {
  Onnx__ModelProto model;
  Onnx__GraphProto graph;
  Onnx__NodeProto relu, add;
  Onnx__TensorProto w;
  Onnx__ValueInfoProto x, y;
  Onnx__TypeProto xt;
  Onnx__TypeProto__Tensor xtt;
  Onnx__TensorShapeProto xs;
  Onnx__TensorShapeProto__Dimension d0;
  Onnx__OperatorSetIdProto opset;
  Onnx__StringStringEntryProto ext[2];
  Onnx__StringStringEntryProto *ext_ptrs[2];
  Onnx__NodeProto *nodes[2];
  Onnx__TensorProto *inits[1];
  Onnx__ValueInfoProto *ins[1], *outs[1];
  Onnx__TensorShapeProto__Dimension *dims[1];
  Onnx__OperatorSetIdProto *opsets[1];
  char *relu_in[1], *relu_out[1], *add_in[2], *add_out[1];
  int64_t wdims[1];
  float wdata[4];
} TinyModel;

static void tiny_model(TinyModel *t) {
  *t = (TinyModel){.model = ONNX__MODEL_PROTO__INIT, .graph = ONNX__GRAPH_PROTO__INIT,
                   .relu = ONNX__NODE_PROTO__INIT, .add = ONNX__NODE_PROTO__INIT,
                   .w = ONNX__TENSOR_PROTO__INIT, .x = ONNX__VALUE_INFO_PROTO__INIT,
                   .y = ONNX__VALUE_INFO_PROTO__INIT, .xt = ONNX__TYPE_PROTO__INIT,
                   .xtt = ONNX__TYPE_PROTO__TENSOR__INIT, .xs = ONNX__TENSOR_SHAPE_PROTO__INIT,
                   .d0 = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT,
                   .opset = ONNX__OPERATOR_SET_ID_PROTO__INIT};
  t->relu_in[0] = "x", t->relu_out[0] = "r", t->add_in[0] = "r", t->add_in[1] = "w", t->add_out[0] = "y";
  t->relu.op_type = "Relu", t->relu.name = "relu", t->relu.n_input = 1, t->relu.input = t->relu_in;
  t->relu.n_output = 1, t->relu.output = t->relu_out;
  t->add.op_type = "Add", t->add.name = "add", t->add.n_input = 2, t->add.input = t->add_in;
  t->add.n_output = 1, t->add.output = t->add_out;
  t->wdims[0] = 4;
  for (int i = 0; i < 4; i++)
    t->wdata[i] = (float)i;
  t->w.name = "w", t->w.n_dims = 1, t->w.dims = t->wdims, t->w.has_data_type = 1, t->w.data_type = DT_F32;
  t->w.n_float_data = 4, t->w.float_data = t->wdata;
  t->d0.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM, t->d0.dim_param = "n";
  t->dims[0] = &t->d0;
  t->xs.n_dim = 1, t->xs.dim = t->dims;
  t->xtt.has_elem_type = 1, t->xtt.elem_type = DT_F32, t->xtt.shape = &t->xs;
  t->xt.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE, t->xt.tensor_type = &t->xtt;
  t->x.name = "x", t->x.type = &t->xt;
  t->y.name = "y";
  t->nodes[0] = &t->relu, t->nodes[1] = &t->add;
  t->inits[0] = &t->w, t->ins[0] = &t->x, t->outs[0] = &t->y;
  t->graph.n_node = 2, t->graph.node = t->nodes;
  t->graph.n_initializer = 1, t->graph.initializer = t->inits;
  t->graph.n_input = 1, t->graph.input = t->ins;
  t->graph.n_output = 1, t->graph.output = t->outs;
  t->opset.has_version = 1, t->opset.version = 13;
  t->opsets[0] = &t->opset;
  t->model.n_opset_import = 1, t->model.opset_import = t->opsets;
  t->model.graph = &t->graph;
}

static Compiler *load(const char *path, Graph **g, bool *failed) {
  Compiler *cc = compiler_new();
  WITH_COMPILER(cc, failed, *g = load_model(cc, path));
  return cc;
}

START_TEST(loads_typed_and_symbolic) {
  TinyModel t;
  tiny_model(&t);
  char *path = pool_printf(&(Pool){0}, "%s/m.onnx", dir);
  write_model(path, &t.model, 0);
  Graph *g;
  bool failed;
  Compiler *cc = load(path, &g, &failed);
  ck_assert_msg(!failed, "%s", cc->diag.buf);
  ck_assert_int_eq(g->inputs.len, 1);
  Value *x = g->inputs.items[0];
  ck_assert_str_eq(x->dim_param[0], "n");
  ck_assert_int_eq(g->nodes.len, 2);
  Value *w = graph_find_value(g, "w");
  ck_assert_float_eq(((float *)w->data)[3], 3.0f);
  compiler_free(cc);
}
END_TEST

START_TEST(truncated_file) {
  TinyModel t;
  tiny_model(&t);
  char *path = pool_printf(&(Pool){0}, "%s/m.onnx", dir);
  write_model(path, &t.model, 37);
  Graph *g;
  bool failed;
  Compiler *cc = load(path, &g, &failed);
  ck_assert(failed);
  ck_assert_ptr_nonnull(strstr(cc->diag.buf, "not an ONNX model"));
  compiler_free(cc);
}
END_TEST

START_TEST(external_data_inside_folder) {
  TinyModel t;
  tiny_model(&t);
  char *bin = pool_printf(&(Pool){0}, "%s/w.bin", dir);
  FILE *f = fopen(bin, "wb");
  float data[6] = {9, 0, 1, 2, 3, 9}; // offset 4 bytes, length 16
  fwrite(data, sizeof data, 1, f);
  fclose(f);
  t.w.n_float_data = 0;
  t.w.has_data_location = 1, t.w.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
  t.ext[0] = (Onnx__StringStringEntryProto)ONNX__STRING_STRING_ENTRY_PROTO__INIT;
  t.ext[1] = (Onnx__StringStringEntryProto)ONNX__STRING_STRING_ENTRY_PROTO__INIT;
  t.ext[0].key = "location", t.ext[0].value = "w.bin";
  t.ext[1].key = "offset", t.ext[1].value = "4";
  t.ext_ptrs[0] = &t.ext[0], t.ext_ptrs[1] = &t.ext[1];
  t.w.n_external_data = 2, t.w.external_data = t.ext_ptrs;
  char *path = pool_printf(&(Pool){0}, "%s/m.onnx", dir);
  write_model(path, &t.model, 0);
  Graph *g;
  bool failed;
  Compiler *cc = load(path, &g, &failed);
  ck_assert_msg(!failed, "%s", cc->diag.buf);
  const float *w = graph_find_value(g, "w")->data;
  ck_assert(w[0] == 0 && w[3] == 3);
  ck_assert_int_eq(cc->deps.len, 2); // the model and its data file
  compiler_free(cc);

  t.ext[0].value = "../w.bin";
  write_model(path, &t.model, 0);
  cc = load(path, &g, &failed);
  ck_assert(failed);
  ck_assert_ptr_nonnull(strstr(cc->diag.buf, "leaves the model's folder"));
  compiler_free(cc);

  t.ext[0].value = "/etc/passwd";
  write_model(path, &t.model, 0);
  cc = load(path, &g, &failed);
  ck_assert(failed);
  ck_assert_ptr_nonnull(strstr(cc->diag.buf, "leaves the model's folder"));
  compiler_free(cc);
}
END_TEST

START_TEST(raw_data_size_mismatch) {
  TinyModel t;
  tiny_model(&t);
  t.w.n_float_data = 0;
  t.w.has_raw_data = 1, t.w.raw_data.len = 12, t.w.raw_data.data = (uint8_t *)t.wdata;
  char *path = pool_printf(&(Pool){0}, "%s/m.onnx", dir);
  write_model(path, &t.model, 0);
  Graph *g;
  bool failed;
  Compiler *cc = load(path, &g, &failed);
  ck_assert(failed);
  ck_assert_ptr_nonnull(strstr(cc->diag.buf, "initializer 'w': raw data holds 12 bytes"));
  compiler_free(cc);
}
END_TEST

START_TEST(dangling_input) {
  TinyModel t;
  tiny_model(&t);
  t.add_in[1] = "nowhere";
  char *path = pool_printf(&(Pool){0}, "%s/m.onnx", dir);
  write_model(path, &t.model, 0);
  Graph *g;
  bool failed;
  Compiler *cc = load(path, &g, &failed);
  ck_assert(failed);
  ck_assert_ptr_nonnull(strstr(cc->diag.buf, "node 'add' (Add): input 'nowhere' is not produced"));
  compiler_free(cc);
}
END_TEST

Suite *loader_suite(void) {
  Suite *s = suite_create("loader");
  TCase *tc = tcase_create("onnx");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, loads_typed_and_symbolic);
  tcase_add_test(tc, truncated_file);
  tcase_add_test(tc, external_data_inside_folder);
  tcase_add_test(tc, raw_data_size_mismatch);
  tcase_add_test(tc, dangling_input);
  suite_add_tcase(s, tc);
  return s;
}
