/* text.c — what generated code calls for string tensors: numbers to text and back, case
 * mapping of UTF-8 text, and the length check of string inputs. Freestanding like the rest of
 * the runtime: no allocation, no C library, no locale. The compiler links the same file, so
 * constant folding and compile-time stopword folding give the bytes the target gives.
 *
 * Numbers print the way numpy prints them (ONNX's reference casts with numpy's astype(str)):
 * the shortest digits that read back as the same value of the source type (Dragon4 in its
 * "unique" mode, ties to even), positional between 1e-4 and 1e16 ("0.25", "100.0"),
 * scientific outside ("1e-05", "1.5e+16"), and "nan", "inf", "-inf". Text reads as Python's
 * float() reads it, correctly rounded to double, then rounded once to the target type. */
#include "edgecc_rt.h"

/*
 * Unsigned big integers (little-endian 32-bit blocks), sized for the exact conversions of
 * doubles: 10^(324+40) / 2^-1074 scales need ~1250 bits.
 */
#define BIG_BLOCKS 48
typedef struct {
  int n; /* blocks in use; no leading zero blocks */
  uint32_t b[BIG_BLOCKS];
} Big;

static void big_set(Big *a, uint64_t v) {
  a->b[0] = (uint32_t)v;
  a->b[1] = (uint32_t)(v >> 32);
  a->n = v >> 32 ? 2 : v ? 1 : 0;
}

static void big_copy(Big *dst, const Big *src) {
  dst->n = src->n;
  for (int i = 0; i < src->n; i++)
    dst->b[i] = src->b[i];
}

static void big_mul_small(Big *a, uint32_t m) {
  uint64_t carry = 0;
  for (int i = 0; i < a->n; i++) {
    uint64_t p = (uint64_t)a->b[i] * m + carry;
    a->b[i] = (uint32_t)p;
    carry = p >> 32;
  }
  if (carry && a->n < BIG_BLOCKS)
    a->b[a->n++] = (uint32_t)carry;
}

static void big_add_small(Big *a, uint32_t v) {
  uint64_t carry = v;
  for (int i = 0; carry && i < a->n; i++) {
    uint64_t s = (uint64_t)a->b[i] + carry;
    a->b[i] = (uint32_t)s;
    carry = s >> 32;
  }
  if (carry && a->n < BIG_BLOCKS)
    a->b[a->n++] = (uint32_t)carry;
}

static void big_mul_pow10(Big *a, int k) {
  for (; k >= 9; k -= 9)
    big_mul_small(a, 1000000000u);
  static const uint32_t small[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};
  if (k > 0)
    big_mul_small(a, small[k]);
}

static void big_shl(Big *a, int bits) {
  if (!a->n || bits <= 0)
    return;
  int blocks = bits / 32, sh = bits % 32;
  int n = a->n + blocks + 1;
  if (n > BIG_BLOCKS)
    n = BIG_BLOCKS;
  for (int i = n - 1; i >= 0; i--) {
    int src = i - blocks;
    uint32_t hi = src >= 0 && src < a->n ? a->b[src] : 0;
    uint32_t lo = src - 1 >= 0 && src - 1 < a->n ? a->b[src - 1] : 0;
    a->b[i] = sh ? hi << sh | lo >> (32 - sh) : hi;
  }
  a->n = n;
  while (a->n && !a->b[a->n - 1])
    a->n--;
}

static void big_shr1(Big *a) {
  for (int i = 0; i < a->n; i++)
    a->b[i] = a->b[i] >> 1 | (i + 1 < a->n ? a->b[i + 1] << 31 : 0);
  while (a->n && !a->b[a->n - 1])
    a->n--;
}

static void big_pow2(Big *a, int k) {
  big_set(a, 1);
  big_shl(a, k);
}

static int big_cmp(const Big *a, const Big *b) {
  if (a->n != b->n)
    return a->n < b->n ? -1 : 1;
  for (int i = a->n - 1; i >= 0; i--)
    if (a->b[i] != b->b[i])
      return a->b[i] < b->b[i] ? -1 : 1;
  return 0;
}

static void big_add(Big *r, const Big *a, const Big *b) {
  const Big *l = a->n >= b->n ? a : b, *s = a->n >= b->n ? b : a;
  uint64_t carry = 0;
  for (int i = 0; i < l->n; i++) {
    uint64_t t = (uint64_t)l->b[i] + (i < s->n ? s->b[i] : 0) + carry;
    r->b[i] = (uint32_t)t;
    carry = t >> 32;
  }
  r->n = l->n;
  if (carry && r->n < BIG_BLOCKS)
    r->b[r->n++] = (uint32_t)carry;
}

static void big_sub(Big *a, const Big *b) { /* a -= b, a >= b */
  uint64_t borrow = 0;
  for (int i = 0; i < a->n; i++) {
    uint64_t t = (uint64_t)a->b[i] - (i < b->n ? b->b[i] : 0) - borrow;
    a->b[i] = (uint32_t)t;
    borrow = (t >> 32) & 1;
  }
  while (a->n && !a->b[a->n - 1])
    a->n--;
}

static int big_bits(const Big *a) {
  if (!a->n)
    return 0;
  int bits = 32 * (a->n - 1);
  for (uint32_t top = a->b[a->n - 1]; top; top >>= 1)
    bits++;
  return bits;
}

static int bits64(uint64_t v) {
  int n = 0;
  for (; v; v >>= 1)
    n++;
  return n;
}

/*
 * Element types as IEEE binary formats: significand bits (with the implicit one) and the
 * exponent range of normal numbers.
 */
typedef struct {
  int precision, emin, emax;
} FloatFormat;

static FloatFormat float_format(int32_t dtype) {
  switch (dtype) {
  case EDGECC_FLOAT16: return (FloatFormat){11, -14, 15};
  case EDGECC_BFLOAT16: return (FloatFormat){8, -126, 127};
  case EDGECC_FLOAT: return (FloatFormat){24, -126, 127};
  default: return (FloatFormat){53, -1022, 1023};
  }
}

static uint64_t double_bits(double d) {
  union { double d; uint64_t u; } x = {d};
  return x.u;
}

static double bits_double(uint64_t u) {
  union { uint64_t u; double d; } x = {u};
  return x.d;
}

#define DOUBLE_INF 0x7ff0000000000000ull
#define DOUBLE_NAN 0x7ff8000000000000ull

/* The double sign * q * 2^e (a value doubles represent, up to a rounding carry in q). */
static double make_double(int negative, uint64_t q, int e) {
  uint64_t sign = (uint64_t)(negative != 0) << 63;
  if (!q)
    return bits_double(sign);
  for (; q >> 53; q >>= 1) /* only zeros leave: q was rounded to fewer bits */
    e++;
  int top = bits64(q) - 1 + e; /* exponent of the leading bit */
  if (top > 1023)
    return bits_double(sign | DOUBLE_INF);
  if (top < -1022) /* subnormal: the unit is 2^-1074 */
    return bits_double(sign | q << (e + 1074));
  uint64_t frac = (q << (52 - (bits64(q) - 1))) & ((1ull << 52) - 1);
  return bits_double(sign | (uint64_t)(top + 1023) << 52 | frac);
}

/* Rounds sign * (q + sticky fraction) * 2^e to the format, ties to even; overflow gives
 * infinity, underflow the subnormals and zero. */
static double round_to_format(int negative, uint64_t q, int e, int sticky, FloatFormat f) {
  if (!q)
    return make_double(negative, 0, 0);
  int top = bits64(q) - 1 + e;
  int unit = (top < f.emin ? f.emin : top) - (f.precision - 1); /* exponent of the last kept bit */
  int drop = unit - e;
  if (drop > 64) { /* below half the unit: rounds to zero */
    q = 0;
    e = unit;
  } else if (drop > 0) {
    uint64_t kept = drop == 64 ? 0 : q >> drop;
    uint64_t rest = drop == 64 ? q : q & ((1ull << drop) - 1), half = 1ull << (drop - 1);
    int up = rest > half || (rest == half && (sticky || (kept & 1)));
    q = kept + (uint64_t)up;
    e = unit;
  } else if (drop < 0) {
    q <<= -drop;
    e = unit;
  }
  if (bits64(q) - 1 + e > f.emax)
    return bits_double((uint64_t)(negative != 0) << 63 | DOUBLE_INF);
  return make_double(negative, q, e);
}

/* A double that the format represents exactly, as significand * 2^exponent on the format's
 * grid (significand < 2^precision). */
static void decompose(double v, FloatFormat f, uint64_t *m, int *e) {
  uint64_t u = double_bits(v) & ~(1ull << 63);
  int bexp = (int)(u >> 52);
  uint64_t q = u & ((1ull << 52) - 1);
  int qe = -1074;
  if (bexp) {
    q |= 1ull << 52;
    qe = bexp - 1075;
  }
  int top = bits64(q) - 1 + qe;
  int unit = (top < f.emin ? f.emin : top) - (f.precision - 1);
  *m = unit >= qe ? q >> (unit - qe) : q << (qe - unit);
  *e = unit;
}

/*
 * Shortest digits: the free-format algorithm of Steele & White / Burger & Dybvig in the
 * arrangement of numpy's Dragon4 (so the output matches numpy's digit for digit): generate
 * digits of v = m * 2^e until the rest lies within the rounding margins, then round the last
 * digit to nearest (ties to even). Returns the digit count; *exp10 is the exponent of the
 * first digit.
 */
static int shortest_digits(uint64_t m, int e, int unequal_margins, char *digits, int *exp10) {
  Big r, s, mlo, mhi, hi;
  int even = !(m & 1);
  big_set(&r, m);
  if (e > 0) {
    big_shl(&r, e + (unequal_margins ? 2 : 1));
    big_set(&s, unequal_margins ? 4 : 2);
    big_pow2(&mlo, e);
  } else {
    big_shl(&r, unequal_margins ? 2 : 1);
    big_pow2(&s, -e + (unequal_margins ? 2 : 1));
    big_set(&mlo, 1);
  }
  /* Estimate of floor(log10 v) + 1, exact or one too small (Burger & Dybvig). */
  double est = (double)(bits64(m) - 1 + e) * 0.30102999566398119521 - 0.69;
  int k = (int)est;
  if (k < est)
    k++;
  if (k > 0)
    big_mul_pow10(&s, k);
  else if (k < 0) {
    big_mul_pow10(&r, -k);
    big_mul_pow10(&mlo, -k);
  }
  if (big_cmp(&r, &s) >= 0) {
    *exp10 = k;
  } else {
    *exp10 = k - 1;
    big_mul_small(&r, 10);
    big_mul_small(&mlo, 10);
  }
  big_copy(&mhi, &mlo);
  if (unequal_margins)
    big_shl(&mhi, 1);
  int n = 0, low, high;
  uint32_t digit;
  for (;;) {
    for (digit = 0; big_cmp(&r, &s) >= 0; digit++)
      big_sub(&r, &s);
    big_add(&hi, &r, &mhi);
    int c = big_cmp(&r, &mlo);
    low = even ? c <= 0 : c < 0;
    c = big_cmp(&hi, &s);
    high = even ? c >= 0 : c > 0;
    if (low || high || n == 31)
      break;
    digits[n++] = (char)('0' + digit);
    big_mul_small(&r, 10);
    big_mul_small(&mlo, 10);
    big_copy(&mhi, &mlo);
    if (unequal_margins)
      big_shl(&mhi, 1);
  }
  int round_down = low;
  if (low == high) { /* both neighbours are possible: the nearer one, ties to even */
    big_shl(&r, 1);
    int c = big_cmp(&r, &s);
    round_down = c < 0 || (c == 0 && !(digit & 1));
  }
  if (round_down || digit < 9) {
    digits[n++] = (char)('0' + digit + !round_down);
    return n;
  }
  while (n > 0 && digits[n - 1] == '9') /* 9 rounds up: carry into the digits before */
    n--;
  if (n == 0) {
    digits[n++] = '1';
    (*exp10)++;
  } else {
    digits[n - 1]++;
  }
  return n;
}

static size_t copy_text(char *dst, const char *src) {
  size_t n = 0;
  for (; src[n]; n++)
    dst[n] = src[n];
  dst[n] = 0;
  return n;
}

size_t edgecc_format_float(char *dst, double v, int32_t dtype) {
  uint64_t u = double_bits(v);
  int negative = (int)(u >> 63);
  if ((u & ~(1ull << 63)) > DOUBLE_INF)
    return copy_text(dst, "nan");
  if ((u & ~(1ull << 63)) == DOUBLE_INF)
    return copy_text(dst, negative ? "-inf" : "inf");
  char *w = dst, digits[32];
  if (negative)
    *w++ = '-';
  double a = negative ? -v : v;
  FloatFormat f = float_format(dtype);
  int nd = 1, exp10 = 0;
  digits[0] = '0';
  if (a != 0) {
    uint64_t m;
    int e;
    decompose(a, f, &m, &e);
    int unequal = m == 1ull << (f.precision - 1) && e > f.emin - (f.precision - 1);
    nd = shortest_digits(m, e, unequal, digits, &exp10);
  }
  if (a == 0 || (a >= 1e-4 && a < 1e16)) { /* positional, at least one fraction digit */
    if (exp10 < 0) {
      *w++ = '0';
      *w++ = '.';
      for (int i = 0; i < -exp10 - 1; i++)
        *w++ = '0';
      for (int i = 0; i < nd; i++)
        *w++ = digits[i];
    } else {
      for (int i = 0; i <= exp10; i++)
        *w++ = i < nd ? digits[i] : '0';
      *w++ = '.';
      if (nd <= exp10 + 1)
        *w++ = '0';
      for (int i = exp10 + 1; i < nd; i++)
        *w++ = digits[i];
    }
  } else { /* scientific: d[.ddd]e±XX */
    *w++ = digits[0];
    if (nd > 1) {
      *w++ = '.';
      for (int i = 1; i < nd; i++)
        *w++ = digits[i];
    }
    *w++ = 'e';
    *w++ = exp10 < 0 ? '-' : '+';
    int x = exp10 < 0 ? -exp10 : exp10;
    if (x >= 100)
      *w++ = (char)('0' + x / 100);
    *w++ = (char)('0' + x / 10 % 10);
    *w++ = (char)('0' + x % 10);
  }
  *w = 0;
  return (size_t)(w - dst);
}

size_t edgecc_format_int(char *dst, int64_t v, int32_t dtype) {
  int is_signed = dtype == EDGECC_INT8 || dtype == EDGECC_INT16 || dtype == EDGECC_INT32 || dtype == EDGECC_INT64;
  uint64_t mag = (uint64_t)v;
  char tmp[24], *w = dst;
  if (is_signed && v < 0) {
    *w++ = '-';
    mag = 0 - mag;
  }
  int n = 0;
  do {
    tmp[n++] = (char)('0' + mag % 10);
    mag /= 10;
  } while (mag);
  while (n)
    *w++ = tmp[--n];
  *w = 0;
  return (size_t)(w - dst);
}

/*
 * Reading numbers
 */
static int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static int lower_ascii(char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* S starts with WORD, ignoring ASCII case; returns the length matched or 0. */
static int starts_with_word(const char *s, const char *word) {
  int n = 0;
  for (; word[n]; n++)
    if (lower_ascii(s[n]) != word[n])
      return 0;
  return n;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* An underscore between two digits ("1_000"), which Python's float() accepts. */
static int digit_separator(const char *s, int after_digit) { return *s == '_' && after_digit && is_digit(s[1]); }

/* Only whitespace left. */
static int at_end(const char *s) {
  while (is_space(*s))
    s++;
  return !*s;
}

#define MAX_DIGITS 40 /* significant digits kept exactly; later ones only break ties */

typedef struct {
  int negative;
  int special;      /* 1: infinity, 2: NaN */
  Big digits;       /* the significant digits as an integer */
  int sticky;       /* nonzero digits were dropped after MAX_DIGITS */
  int ndigits;      /* decimal digits in `digits` */
  int exp10;        /* value = digits * 10^exp10 */
  int integer;      /* an integer literal: digits and sign only */
  uint64_t int_mag; /* its magnitude, saturated to 2^64-1 */
} Decimal;

/* Python's float() syntax: whitespace, sign, digits with an optional point and exponent, or
 * inf / infinity / nan in any case. Returns 0 when S is not a number. */
static int read_decimal(const char *s, Decimal *d) {
  *d = (Decimal){0};
  while (is_space(*s))
    s++;
  if (*s == '+' || *s == '-')
    d->negative = *s++ == '-';
  int n;
  if ((n = starts_with_word(s, "infinity")) || (n = starts_with_word(s, "inf"))) {
    d->special = 1;
    return at_end(s + n);
  }
  if ((n = starts_with_word(s, "nan"))) {
    d->special = 2;
    return at_end(s + n);
  }
  int kept = 0, seen = 0, point = 0, dropped_int = 0;
  uint64_t mag = 0;
  for (int after_digit = 0;; s++) {
    if (*s == '.' && !point) {
      point = 1;
      after_digit = 0;
      continue;
    }
    if (digit_separator(s, after_digit)) {
      after_digit = 0;
      continue;
    }
    if (!is_digit(*s))
      break;
    seen = after_digit = 1;
    int digit = *s - '0';
    if (!point)
      mag = mag > (UINT64_MAX - (uint64_t)digit) / 10 ? UINT64_MAX : mag * 10 + (uint64_t)digit;
    if (kept == 0 && digit == 0) { /* leading zeros */
      if (point)
        d->exp10--;
      continue;
    }
    if (kept < MAX_DIGITS) {
      big_mul_small(&d->digits, 10);
      big_add_small(&d->digits, (uint32_t)digit);
      kept++;
      if (point)
        d->exp10--;
    } else {
      d->sticky |= digit != 0;
      dropped_int += !point;
    }
  }
  if (!seen)
    return 0;
  d->exp10 += dropped_int;
  d->ndigits = kept;
  d->integer = !point;
  d->int_mag = mag;
  if (*s == 'e' || *s == 'E') {
    s++;
    int eneg = *s == '-';
    if (*s == '+' || *s == '-')
      s++;
    if (!is_digit(*s))
      return 0;
    int x = 0;
    for (; is_digit(*s) || digit_separator(s, is_digit(s[-1])); s++)
      if (*s != '_')
        x = x > 100000 ? x : x * 10 + (*s - '0');
    d->exp10 += eneg ? -x : x;
    d->integer = 0;
  }
  return at_end(s);
}

/* The decimal correctly rounded to the format: q = floor(digits * 10^exp10 * 2^k) with 55 or
 * 56 bits by exact long division, the remainder and dropped digits as the sticky bit. */
static double decimal_to_format(const Decimal *d, FloatFormat f) {
  if (d->special)
    return bits_double((uint64_t)d->negative << 63 | (d->special == 1 ? DOUBLE_INF : DOUBLE_NAN));
  if (!d->digits.n)
    return make_double(d->negative, 0, 0);
  int nd = d->ndigits;
  if (nd + d->exp10 > 310) /* >= 10^310: beyond every format */
    return bits_double((uint64_t)d->negative << 63 | DOUBLE_INF);
  if (nd + d->exp10 < -330) /* < 10^-330: below half the smallest subnormal */
    return make_double(d->negative, 0, 0);
  Big num, den;
  big_copy(&num, &d->digits);
  big_set(&den, 1);
  if (d->exp10 >= 0)
    big_mul_pow10(&num, d->exp10);
  else
    big_mul_pow10(&den, -d->exp10);
  int k = 55 - (big_bits(&num) - big_bits(&den)); /* num * 2^k / den in [2^54, 2^56) */
  if (k > 0)
    big_shl(&num, k);
  else
    big_shl(&den, -k);
  big_shl(&den, 56);
  uint64_t q = 0;
  for (int bit = 56; bit >= 0; bit--) {
    if (big_cmp(&num, &den) >= 0) {
      big_sub(&num, &den);
      q |= 1ull << bit;
    }
    big_shr1(&den);
  }
  return round_to_format(d->negative, q, -k, num.n != 0 || d->sticky, f);
}

double edgecc_parse_float(const char *s, int32_t dtype) {
  Decimal d;
  if (!read_decimal(s, &d))
    return bits_double(DOUBLE_NAN);
  double v = decimal_to_format(&d, float_format(EDGECC_DOUBLE));
  if (dtype == EDGECC_DOUBLE || d.special)
    return v;
  /* numpy reads text into a double and casts that: round once more, from the double */
  uint64_t u = double_bits(v);
  uint64_t m;
  int e;
  if ((u & ~(1ull << 63)) == 0)
    return v;
  decompose(v < 0 ? -v : v, float_format(EDGECC_DOUBLE), &m, &e);
  return round_to_format((int)(u >> 63), m, e, 0, float_format(dtype));
}

/* Cast's rules for a number read from text into an integer type: integers wrap modulo the
 * type's width, other numbers truncate toward zero and saturate (NaN is 0). */
int64_t edgecc_parse_int(const char *s, int32_t dtype) {
  Decimal d;
  if (dtype == EDGECC_BOOL) {
    int n;
    const char *t = s;
    while (is_space(*t))
      t++;
    if ((n = starts_with_word(t, "true")) && at_end(t + n))
      return 1;
    if ((n = starts_with_word(t, "false")) && at_end(t + n))
      return 0;
    if (!read_decimal(s, &d))
      return 0;
    return d.special || d.digits.n != 0; /* nonzero, NaN included, is true */
  }
  if (!read_decimal(s, &d))
    return 0;
  if (d.integer) {
    uint64_t bits = d.negative ? 0 - d.int_mag : d.int_mag;
    return (int64_t)bits; /* the generated code keeps the type's low bits */
  }
  double v = decimal_to_format(&d, float_format(EDGECC_DOUBLE));
  if (v != v)
    return 0;
  if (dtype == EDGECC_UINT64) {
    if (!(v > 0))
      return 0;
    return v >= 18446744073709551616.0 ? -1 : (int64_t)(uint64_t)v;
  }
  double lo, hi;
  switch (dtype) {
  case EDGECC_INT8: lo = -128.0, hi = 127.0; break;
  case EDGECC_UINT8: lo = 0, hi = 255.0; break;
  case EDGECC_INT16: lo = -32768.0, hi = 32767.0; break;
  case EDGECC_UINT16: lo = 0, hi = 65535.0; break;
  case EDGECC_INT32: lo = -2147483648.0, hi = 2147483647.0; break;
  case EDGECC_UINT32: lo = 0, hi = 4294967295.0; break;
  default: /* int64: the bounds are not doubles */
    if (v >= 9223372036854775808.0)
      return INT64_MAX;
    return v < -9223372036854775808.0 ? INT64_MIN : (int64_t)v;
  }
  return (int64_t)(v < lo ? lo : v > hi ? hi : v);
}

/*
 * Case mapping of UTF-8 text, one character at a time with Unicode's simple mappings, for the
 * scripts a locale-free device can know without tables: ASCII, Latin-1, Latin Extended-A,
 * Greek and Cyrillic (U+0400-U+045F). Every mapped character is at most as long in UTF-8 as
 * the original, so a mapped string never needs more bytes. Other characters, invalid bytes
 * and ß (whose uppercase is two letters) pass through unchanged.
 */
static uint32_t latin_ext_a(uint32_t c, int upper) {
  if (c == 0x130) /* İ */
    return upper ? c : 'i';
  if (c == 0x131) /* dotless ı */
    return upper ? 'I' : c;
  if (c == 0x178) /* Ÿ */
    return upper ? c : 0xff;
  if (c == 0x17f) /* long s */
    return upper ? 'S' : c;
  if (c == 0x138 || c == 0x149) /* no case partner */
    return c;
  /* pairs start on even code points, except in U+0139-U+0148 and U+0179-U+017E */
  int odd_first = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e);
  int is_upper = (int)(c & 1) == odd_first;
  if (upper == is_upper)
    return c;
  return upper ? c - 1 : c + 1;
}

static uint32_t map_case(uint32_t c, int upper) {
  if (c < 0x80) {
    if (upper)
      return c >= 'a' && c <= 'z' ? c - 32 : c;
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
  }
  if (c >= 0x100 && c <= 0x17f)
    return latin_ext_a(c, upper);
  if (upper) {
    if ((c >= 0xe0 && c <= 0xfe && c != 0xf7) || (c >= 0x3b1 && c <= 0x3cb && c != 0x3c2) ||
        (c >= 0x430 && c <= 0x44f))
      return c - 32;
    if (c >= 0x450 && c <= 0x45f)
      return c - 80;
    switch (c) {
    case 0xb5: return 0x39c;  /* micro sign -> Greek capital mu */
    case 0xff: return 0x178;
    case 0x3c2: return 0x3a3; /* final sigma */
    case 0x3ac: return 0x386;
    case 0x3ad: case 0x3ae: case 0x3af: return c - 37;
    case 0x3cc: return 0x38c;
    case 0x3cd: case 0x3ce: return c - 63;
    default: return c;
    }
  }
  if ((c >= 0xc0 && c <= 0xde && c != 0xd7) || (c >= 0x391 && c <= 0x3ab && c != 0x3a2) ||
      (c >= 0x410 && c <= 0x42f))
    return c + 32;
  if (c >= 0x400 && c <= 0x40f)
    return c + 80;
  switch (c) {
  case 0x386: return 0x3ac;
  case 0x388: case 0x389: case 0x38a: return c + 37;
  case 0x38c: return 0x3cc;
  case 0x38e: case 0x38f: return c + 63;
  default: return c;
  }
}

/* The next character of S: a code point for ASCII and two-byte sequences (all the mapped
 * ones are), else 0xffffffff with *len bytes to pass through. */
static uint32_t next_char(const unsigned char *s, int *len) {
  if (s[0] < 0x80) {
    *len = 1;
    return s[0];
  }
  if (s[0] >= 0xc2 && s[0] <= 0xdf && (s[1] & 0xc0) == 0x80) {
    *len = 2;
    return (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
  }
  *len = 1;
  return 0xffffffffu;
}

static int put_char(unsigned char *d, uint32_t c) {
  if (c < 0x80) {
    d[0] = (unsigned char)c;
    return 1;
  }
  d[0] = (unsigned char)(0xc0 | c >> 6);
  d[1] = (unsigned char)(0x80 | (c & 0x3f));
  return 2;
}

size_t edgecc_utf8_case(char *dst, const char *src, int32_t upper) {
  const unsigned char *s = (const unsigned char *)src;
  unsigned char *d = (unsigned char *)dst;
  while (*s) {
    int len;
    uint32_t c = next_char(s, &len);
    if (c == 0xffffffffu)
      *d++ = *s;
    else
      d += put_char(d, map_case(c, upper));
    s += len;
  }
  *d = 0;
  return (size_t)(d - (unsigned char *)dst);
}

int32_t edgecc_utf8_equal_folded(const char *text, const char *folded, int32_t upper) {
  const unsigned char *s = (const unsigned char *)text, *f = (const unsigned char *)folded;
  while (*s) {
    int len;
    uint32_t c = next_char(s, &len);
    unsigned char buf[2];
    int n = c == 0xffffffffu ? (buf[0] = *s, 1) : put_char(buf, map_case(c, upper));
    for (int i = 0; i < n; i++)
      if (*f++ != buf[i])
        return 0;
    s += len;
  }
  return *f == 0;
}

int32_t edgecc_strings_fit(const char *const *strings, size_t count, size_t max_length) {
  for (size_t i = 0; i < count; i++) {
    if (!strings[i])
      return 0;
    size_t n = 0;
    while (strings[i][n] && n <= max_length)
      n++;
    if (n > max_length)
      return 0;
  }
  return 1;
}
