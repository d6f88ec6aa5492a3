// test_text.c — the runtime's text helpers (runtime/src/text.c), shared by generated code and
// constant folding: numbers printed as numpy prints them and read back exactly, integers by
// Cast's rules, and case mapping as glibc maps the characters it covers.
#include <locale.h>
#include <math.h>
#include <wctype.h>

#include "edgecc_rt.h"
#include "unit.h"

static const char *text_of(double v, int32_t dtype) {
  static char buf[EDGECC_NUMBER_TEXT_MAX + 1];
  edgecc_format_float(buf, v, dtype);
  return buf;
}

START_TEST(numpy_formats) {
  ck_assert_str_eq(text_of(0.9767611026763916, EDGECC_FLOAT), "0.9767611");
  ck_assert_str_eq(text_of((float)1e-4, EDGECC_FLOAT), "1e-04"); // just below 1e-4: scientific
  ck_assert_str_eq(text_of(1e-4, EDGECC_DOUBLE), "0.0001");
  ck_assert_str_eq(text_of(123456792.0, EDGECC_FLOAT), "123456790.0");
  ck_assert_str_eq(text_of((float)1e16, EDGECC_FLOAT), "1e+16");
  ck_assert_str_eq(text_of(1.5e16, EDGECC_DOUBLE), "1.5e+16");
  ck_assert_str_eq(text_of(100.0, EDGECC_DOUBLE), "100.0");
  ck_assert_str_eq(text_of(-0.0, EDGECC_FLOAT), "-0.0");
  ck_assert_str_eq(text_of(NAN, EDGECC_FLOAT), "nan");
  ck_assert_str_eq(text_of(-INFINITY, EDGECC_DOUBLE), "-inf");
  ck_assert_str_eq(text_of(5e-324, EDGECC_DOUBLE), "5e-324");
  ck_assert_str_eq(text_of(1.7976931348623157e308, EDGECC_DOUBLE), "1.7976931348623157e+308");
  ck_assert_str_eq(text_of(0.1 + 0.2, EDGECC_DOUBLE), "0.30000000000000004");
  ck_assert_str_eq(text_of(half_to_float(float_to_half(0.00012345f)), EDGECC_FLOAT16), "0.0001235");
  ck_assert_str_eq(text_of(65504.0, EDGECC_FLOAT16), "65500.0"); // reads back as 65504 in half
  char buf[32];
  edgecc_format_int(buf, INT64_MIN, EDGECC_INT64);
  ck_assert_str_eq(buf, "-9223372036854775808");
  edgecc_format_int(buf, -1, EDGECC_UINT64);
  ck_assert_str_eq(buf, "18446744073709551615");
  edgecc_format_int(buf, -128, EDGECC_INT8);
  ck_assert_str_eq(buf, "-128");
}
END_TEST

// Printed text reads back as the same value, within the lengths ops/text.c reserves.
static void round_trip(double v, int32_t dtype, size_t max_len) {
  char buf[64];
  ck_assert_uint_le(edgecc_format_float(buf, v, dtype), max_len);
  double back = edgecc_parse_float(buf, dtype);
  if (isnan(v))
    ck_assert(isnan(back));
  else
    ck_assert_msg(back == v && signbit(back) == signbit(v), "%a printed as %s reads %a", v, buf, back);
}

START_TEST(shortest_round_trips) {
  for (uint32_t h = 0; h < 0x10000; h++) {
    round_trip(half_to_float((uint16_t)h), EDGECC_FLOAT16, 11);
    round_trip(bf16_to_float((uint16_t)h), EDGECC_BFLOAT16, 20);
  }
  uint64_t state = 88172645463325252ull; // xorshift: random bit patterns
  for (int i = 0; i < 100000; i++) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    float f;
    uint32_t b = (uint32_t)state;
    memcpy(&f, &b, sizeof f);
    double d;
    memcpy(&d, &state, sizeof d);
    round_trip(f, EDGECC_FLOAT, 19);
    round_trip(d, EDGECC_DOUBLE, EDGECC_NUMBER_TEXT_MAX);
  }
}
END_TEST

START_TEST(reading_numbers) {
  ck_assert(isnan(edgecc_parse_float("NaN", EDGECC_FLOAT)));
  ck_assert(edgecc_parse_float("+INF", EDGECC_FLOAT) == INFINITY);
  ck_assert(edgecc_parse_float("-Infinity", EDGECC_DOUBLE) == -INFINITY);
  ck_assert(edgecc_parse_float("0.47892547", EDGECC_FLOAT) == (double)0.47892547f);
  ck_assert(edgecc_parse_float(" 2.5 ", EDGECC_DOUBLE) == 2.5);
  ck_assert(isnan(edgecc_parse_float("2.5x", EDGECC_DOUBLE)));
  ck_assert(isnan(edgecc_parse_float("", EDGECC_DOUBLE)));
  ck_assert(edgecc_parse_float("1e400", EDGECC_DOUBLE) == INFINITY);
  ck_assert(edgecc_parse_float("2.4703282292062328e-324", EDGECC_DOUBLE) == 5e-324); // above half
  ck_assert(edgecc_parse_float("2.4703282292062327e-324", EDGECC_DOUBLE) == 0);      // below half
  ck_assert(edgecc_parse_float("65520", EDGECC_FLOAT16) == INFINITY);
  ck_assert(edgecc_parse_float("65519", EDGECC_FLOAT16) == 65504);
  // Through double, as numpy reads: just above 1 + 2^-24, a tie for float once it is a double.
  ck_assert(edgecc_parse_float("1.00000005960464477539066", EDGECC_FLOAT) == 1.0);
  ck_assert_int_eq(edgecc_parse_int("300", EDGECC_UINT8) & 0xff, 44);
  ck_assert_int_eq(edgecc_parse_int("-2.9", EDGECC_INT32), -2);
  ck_assert_int_eq(edgecc_parse_int("1e30", EDGECC_INT32), INT32_MAX);
  ck_assert_int_eq(edgecc_parse_int("-1e30", EDGECC_UINT64), 0);
  ck_assert_int_eq(edgecc_parse_int("nan", EDGECC_INT64), 0);
  ck_assert_int_eq(edgecc_parse_int("18446744073709551615", EDGECC_UINT64), -1);
  ck_assert_int_eq(edgecc_parse_int("True", EDGECC_BOOL), 1);
  ck_assert_int_eq(edgecc_parse_int(" false", EDGECC_BOOL), 0);
  ck_assert_int_eq(edgecc_parse_int("0.0", EDGECC_BOOL), 0);
  ck_assert_int_eq(edgecc_parse_int("2", EDGECC_BOOL), 1);
}
END_TEST

START_TEST(case_mapping) {
  char out[128];
  edgecc_utf8_case(out, "Straße ärger ÿ ſ ı İ Σίσυφος жук €\xff", 1);
  ck_assert_str_eq(out, "STRAßE ÄRGER Ÿ S I İ ΣΊΣΥΦΟΣ ЖУК €\xff");
  edgecc_utf8_case(out, "ÄRGER İ ΣΊΣΥΦΟΣ ЖУК Ÿ Ĳ", 0);
  ck_assert_str_eq(out, "ärger i σίσυφοσ жук ÿ ĳ");
  ck_assert(edgecc_utf8_equal_folded("ÉCOLE", "école", 0));
  ck_assert(!edgecc_utf8_equal_folded("ÉCOLEs", "école", 0));
  ck_assert(!edgecc_utf8_equal_folded("ÉCOL", "école", 0));
  const char *ok[2] = {"abc", ""}, *bad[2] = {"abcd", NULL};
  ck_assert(edgecc_strings_fit(ok, 2, 3));
  ck_assert(!edgecc_strings_fit(bad, 1, 3));
  ck_assert(!edgecc_strings_fit(bad + 1, 1, 3));
}
END_TEST

static int put_utf8(uint32_t c, char *b) {
  if (c < 0x80) {
    b[0] = (char)c, b[1] = 0;
    return 1;
  }
  b[0] = (char)(0xc0 | c >> 6), b[1] = (char)(0x80 | (c & 0x3f)), b[2] = 0;
  return 2;
}

// In the ranges text.c covers, each character maps as towupper/towlower map it in glibc's
// C.UTF-8, except where that would take more bytes (none there do).
START_TEST(case_mapping_matches_glibc) {
  if (!setlocale(LC_CTYPE, "C.UTF-8"))
    return; // no such locale here: nothing to compare with
  for (uint32_t c = 1; c < 0x460; c++) {
    if (!(c < 0x180 || (c >= 0x386 && c <= 0x3ce) || c >= 0x400))
      continue;
    for (int upper = 0; upper < 2; upper++) {
      char in[4], got[8], want[4];
      int len = put_utf8(c, in);
      uint32_t w = upper ? (uint32_t)towupper(c) : (uint32_t)towlower(c);
      if (w >= 0x800 || (w >= 0x80 ? 2 : 1) > len)
        w = c;
      put_utf8(w, want);
      edgecc_utf8_case(got, in, upper);
      ck_assert_msg(!strcmp(got, want), "U+%04X %s", c, upper ? "upper" : "lower");
    }
  }
  setlocale(LC_CTYPE, "C");
}
END_TEST

Suite *text_suite(void) {
  Suite *s = suite_create("text");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, numpy_formats);
  tcase_add_test(tc, shortest_round_trips);
  tcase_add_test(tc, reading_numbers);
  tcase_add_test(tc, case_mapping);
  tcase_add_test(tc, case_mapping_matches_glibc);
  suite_add_tcase(s, tc);
  return s;
}
