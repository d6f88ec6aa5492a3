// test_dtype.c — element types and the f16/bf16 conversions the compiler and the generated
// code must agree on.
#include <math.h>

#include "unit.h"

START_TEST(half_round_trip) {
  // Every non-NaN half converts to float and back to the same bits.
  for (uint32_t h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
      continue;
    ck_assert_uint_eq(float_to_half(half_to_float((uint16_t)h)), h);
  }
}
END_TEST

START_TEST(half_rounding) {
  ck_assert_uint_eq(float_to_half(1.0f), 0x3c00);
  ck_assert_uint_eq(float_to_half(65504.0f), 0x7bff);
  ck_assert_uint_eq(float_to_half(65520.0f), 0x7c00);     // rounds to infinity
  ck_assert_uint_eq(float_to_half(1.0f + 0x1p-11f), 0x3c00); // tie to even
  ck_assert_uint_eq(float_to_half(1.0f + 0x1p-10f + 0x1p-11f), 0x3c02);
  ck_assert_uint_eq(float_to_half(0x1p-24f), 0x0001);     // smallest subnormal
  ck_assert_uint_eq(float_to_half(-0.0f), 0x8000);
  ck_assert(isnan(half_to_float(float_to_half(NAN))));
}
END_TEST

START_TEST(bf16_rounding) {
  ck_assert_uint_eq(float_to_bf16(1.0f), 0x3f80);
  ck_assert_uint_eq(float_to_bf16(1.0f + 0x1p-8f), 0x3f80); // tie to even
  ck_assert_uint_eq(float_to_bf16(1.0f + 0x1p-7f + 0x1p-8f), 0x3f82);
  ck_assert_float_eq(bf16_to_float(0x4049), 3.140625f);
  ck_assert(isnan(bf16_to_float(float_to_bf16(NAN))));
}
END_TEST

START_TEST(type_table) {
  ck_assert_int_eq(dtype_size(DT_F32), 4);
  ck_assert_int_eq(dtype_size(DT_BF16), 2);
  ck_assert_int_eq(dtype_size(DT_BOOL), 1);
  ck_assert_int_eq(dtype_compute(DT_F16), DT_F32);
  ck_assert(dtype_is_signed(DT_I8) && !dtype_is_signed(DT_U64));
  ck_assert(!dtype_supported(DT_C64));
  ck_assert_str_eq(dtype_onnx_name(DT_I64), "int64");
}
END_TEST

START_TEST(element_access) {
  uint16_t h[2] = {float_to_half(2.5f), float_to_half(-1.0f)};
  ck_assert_double_eq(dtype_get(DT_F16, h, 0), 2.5);
  int8_t b[1];
  dtype_set(DT_I8, b, 0, -7);
  ck_assert_int_eq(dtype_get_int(DT_I8, b, 0), -7);
}
END_TEST

Suite *dtype_suite(void) {
  Suite *s = suite_create("dtype");
  TCase *tc = tcase_create("conversions");
  tcase_add_test(tc, half_round_trip);
  tcase_add_test(tc, half_rounding);
  tcase_add_test(tc, bf16_rounding);
  tcase_add_test(tc, type_table);
  tcase_add_test(tc, element_access);
  suite_add_tcase(s, tc);
  return s;
}
