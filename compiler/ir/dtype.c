// dtype.c — element types. One table describes each type; everything else reads it.
#include "../compiler.h"

#include <math.h>
#include <string.h>

typedef struct {
  const char *name;      // short name in the IR dump
  const char *onnx_name; // name in ONNX docs and error messages
  const char *c_type;    // type in generated C headers
  int size;
  bool is_float, is_int, is_signed, supported;
} DTypeInfo;

static const DTypeInfo dtypes[DT_COUNT_] = {
    [DT_UNDEF] = {"undef", "undefined", "void", 0, 0, 0, 0, 0},
    [DT_F32] = {"f32", "float", "float", 4, 1, 0, 1, 1},
    [DT_U8] = {"u8", "uint8", "uint8_t", 1, 0, 1, 0, 1},
    [DT_I8] = {"i8", "int8", "int8_t", 1, 0, 1, 1, 1},
    [DT_U16] = {"u16", "uint16", "uint16_t", 2, 0, 1, 0, 1},
    [DT_I16] = {"i16", "int16", "int16_t", 2, 0, 1, 1, 1},
    [DT_I32] = {"i32", "int32", "int32_t", 4, 0, 1, 1, 1},
    [DT_I64] = {"i64", "int64", "int64_t", 8, 0, 1, 1, 1},
    [DT_STRING] = {"str", "string", "const char *", (int)sizeof(char *), 0, 0, 0, 1},
    [DT_BOOL] = {"bool", "bool", "bool", 1, 0, 0, 0, 1},
    [DT_F16] = {"f16", "float16", "uint16_t", 2, 1, 0, 1, 1},
    [DT_F64] = {"f64", "double", "double", 8, 1, 0, 1, 1},
    [DT_U32] = {"u32", "uint32", "uint32_t", 4, 0, 1, 0, 1},
    [DT_U64] = {"u64", "uint64", "uint64_t", 8, 0, 1, 0, 1},
    [DT_C64] = {"c64", "complex64", "float", 8, 0, 0, 1, 0},
    [DT_C128] = {"c128", "complex128", "double", 16, 0, 0, 1, 0},
    [DT_BF16] = {"bf16", "bfloat16", "uint16_t", 2, 1, 0, 1, 1},
    [17] = {"f8e4m3fn", "float8e4m3fn", "uint8_t", 1, 0, 0, 0, 0},
    [18] = {"f8e4m3fnuz", "float8e4m3fnuz", "uint8_t", 1, 0, 0, 0, 0},
    [19] = {"f8e5m2", "float8e5m2", "uint8_t", 1, 0, 0, 0, 0},
    [20] = {"f8e5m2fnuz", "float8e5m2fnuz", "uint8_t", 1, 0, 0, 0, 0},
    [DT_U4] = {"u4", "uint4", "uint8_t", 1, 0, 1, 0, 1}, // one element per byte in memory
    [DT_I4] = {"i4", "int4", "int8_t", 1, 0, 1, 1, 1}, // (the loader unpacks the nibbles)
};

static const DTypeInfo *info(DType t) {
  static const DTypeInfo bad = {"?", "unknown", "void", 0, 0, 0, 0, 0};
  return (unsigned)t < DT_COUNT_ && dtypes[t].name ? &dtypes[t] : &bad;
}

int dtype_size(DType t) { return info(t)->size; }
const char *dtype_name(DType t) { return info(t)->name; }
const char *dtype_onnx_name(DType t) { return info(t)->onnx_name; }
const char *dtype_c_type(DType t) { return info(t)->c_type; }
bool dtype_is_float(DType t) { return info(t)->is_float; }
bool dtype_is_int(DType t) { return info(t)->is_int; }
bool dtype_is_signed(DType t) { return info(t)->is_signed; }
bool dtype_supported(DType t) { return info(t)->supported; }
DType dtype_compute(DType t) { return t == DT_F16 || t == DT_BF16 ? DT_F32 : t; }

float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023;
  uint32_t bits;
  if (exp == 31)
    bits = sign | 0x7f800000u | (man << 13);
  else if (exp)
    bits = sign | ((exp + 112) << 23) | (man << 13);
  else if (man) { // subnormal: normalize
    int e = -1;
    do {
      man <<= 1;
      e++;
    } while (!(man & 1024));
    bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 1023) << 13);
  } else
    bits = sign;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t absx = x & 0x7fffffff;
  if (absx > 0x7f800000) // NaN
    return (uint16_t)(sign | 0x7e00);
  if (absx >= 0x477ff000) // overflow after rounding (>= 65520)
    return (uint16_t)(sign | 0x7c00);
  if (absx < 0x38800000) { // subnormal or zero: scale into range, round to nearest even
    float a;
    memcpy(&a, &absx, 4);
    float scaled = a * 16777216.0f; // 2^24
    uint32_t m = (uint32_t)scaled;
    float rem = scaled - (float)m;
    if (rem > 0.5f || (rem == 0.5f && (m & 1)))
      m++;
    return (uint16_t)(sign | m);
  }
  uint32_t r = absx + 0xfff + ((absx >> 13) & 1); // round to nearest even
  return (uint16_t)(sign | ((r - 0x38000000) >> 13));
}

float bf16_to_float(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) > 0x7f800000)
    return (uint16_t)((x >> 16) | 0x40);
  x += 0x7fff + ((x >> 16) & 1);
  return (uint16_t)(x >> 16);
}

double dtype_get(DType t, const void *data, int64_t i) {
  switch (t) {
  case DT_F32: return ((const float *)data)[i];
  case DT_F64: return ((const double *)data)[i];
  case DT_F16: return half_to_float(((const uint16_t *)data)[i]);
  case DT_BF16: return bf16_to_float(((const uint16_t *)data)[i]);
  case DT_U64: return (double)((const uint64_t *)data)[i];
  default: return (double)dtype_get_int(t, data, i);
  }
}

int64_t dtype_get_int(DType t, const void *data, int64_t i) {
  switch (t) {
  case DT_U8:
  case DT_U4:
  case DT_BOOL: return ((const uint8_t *)data)[i];
  case DT_I8:
  case DT_I4: return ((const int8_t *)data)[i];
  case DT_U16: return ((const uint16_t *)data)[i];
  case DT_I16: return ((const int16_t *)data)[i];
  case DT_I32: return ((const int32_t *)data)[i];
  case DT_U32: return ((const uint32_t *)data)[i];
  case DT_I64: return ((const int64_t *)data)[i];
  case DT_U64: return (int64_t)((const uint64_t *)data)[i];
  case DT_F32:
  case DT_F64:
  case DT_F16:
  case DT_BF16: {
    double d = dtype_get(t, data, i);
    return isfinite(d) ? (int64_t)d : 0;
  }
  default: return 0;
  }
}

void dtype_set(DType t, void *data, int64_t i, double v) {
  switch (t) {
  case DT_F32: ((float *)data)[i] = (float)v; break;
  case DT_F64: ((double *)data)[i] = v; break;
  case DT_F16: ((uint16_t *)data)[i] = float_to_half((float)v); break;
  case DT_BF16: ((uint16_t *)data)[i] = float_to_bf16((float)v); break;
  case DT_U8: ((uint8_t *)data)[i] = (uint8_t)(int64_t)v; break;
  case DT_BOOL: ((uint8_t *)data)[i] = v != 0; break;
  case DT_I8: ((int8_t *)data)[i] = (int8_t)(int64_t)v; break;
  case DT_I4: ((int8_t *)data)[i] = (int8_t)((((int64_t)v & 15) ^ 8) - 8); break; // low 4 bits, signed
  case DT_U4: ((uint8_t *)data)[i] = (uint8_t)((int64_t)v & 15); break;
  case DT_U16: ((uint16_t *)data)[i] = (uint16_t)(int64_t)v; break;
  case DT_I16: ((int16_t *)data)[i] = (int16_t)(int64_t)v; break;
  case DT_I32: ((int32_t *)data)[i] = (int32_t)(int64_t)v; break;
  case DT_U32: ((uint32_t *)data)[i] = (uint32_t)(int64_t)v; break;
  case DT_I64: ((int64_t *)data)[i] = (int64_t)v; break;
  case DT_U64: ((uint64_t *)data)[i] = (uint64_t)v; break;
  default: break;
  }
}
