// test_quant.c — the compile-time side of quantized kernels: fixed-point multipliers, 4-bit
// element types and their packed files.
#define _GNU_SOURCE // mkstemp
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "ops/ops.h"
#include "unit.h"

START_TEST(multiplier_is_exact) {
  // mult * 2^-shift is the float32 multiplier exactly, mult in [2^30, 2^31), shift > 0.
  srand(7);
  for (int i = 0; i < 10000; i++) {
    float m = ldexpf((float)rand() / (float)RAND_MAX + 0.5f, rand() % 40 - 30);
    int32_t mult, shift;
    qmultiplier(m, &mult, &shift);
    ck_assert_int_ge(mult, 1 << 30);
    ck_assert_int_gt(shift, 0);
    ck_assert(ldexp((double)mult, -shift) == (double)m);
  }
  int32_t mult, shift;
  qmultiplier(0.0f, &mult, &shift);
  ck_assert_int_eq(mult, 0);
  qmultiplier(0x1p-40f, &mult, &shift); // below any int32 accumulator's reach: kept within int64
  ck_assert_int_le(shift, 62);
}
END_TEST

START_TEST(int4_values) {
  int8_t s[4];
  uint8_t u[2];
  dtype_set(DT_I4, s, 0, 7);
  dtype_set(DT_I4, s, 1, -8);
  dtype_set(DT_I4, s, 2, 9); // wraps like a 4-bit integer
  dtype_set(DT_U4, u, 0, 17);
  ck_assert_int_eq(dtype_get_int(DT_I4, s, 0), 7);
  ck_assert_int_eq(dtype_get_int(DT_I4, s, 1), -8);
  ck_assert_int_eq(dtype_get_int(DT_I4, s, 2), -7);
  ck_assert_int_eq(dtype_get_int(DT_U4, u, 0), 1);
  ck_assert(dtype_supported(DT_I4) && dtype_supported(DT_U4));
}
END_TEST

START_TEST(int4_file_round_trip) {
  // Written two per byte, low nibble first, and read back one per byte.
  Compiler *cc = compiler_new();
  bool failed;
  char path[] = "/tmp/edgecc_int4_XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  close(fd);
  int8_t v[5] = {-8, 7, 0, -1, 3};
  Shape s = shape_of(1, (int64_t[]){5});
  ck_assert(tensor_write_file(path, "t", DT_I4, &s, v));
  WITH_COMPILER(cc, &failed, {
    Graph *g = graph_new(cc, NULL, "g");
    Value *t = load_tensor_file(cc, g, path, NULL);
    ck_assert_int_eq(t->dtype, DT_I4);
    for (int i = 0; i < 5; i++)
      ck_assert_int_eq(((int8_t *)t->data)[i], v[i]);
  });
  ck_assert(!failed);
  unlink(path);
  compiler_free(cc);
}
END_TEST

Suite *quant_suite(void) {
  Suite *s = suite_create("quant");
  TCase *t = tcase_create("core");
  tcase_add_test(t, multiplier_is_exact);
  tcase_add_test(t, int4_values);
  tcase_add_test(t, int4_file_round_trip);
  suite_add_tcase(s, t);
  return s;
}
