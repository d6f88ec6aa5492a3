/* tensor.c — element types and tensor sizes. */
#include "edgecc_rt.h"

size_t edgecc_dtype_size(int32_t dtype) {
  switch (dtype) {
  case EDGECC_UINT8: case EDGECC_INT8: case EDGECC_BOOL: case EDGECC_UINT4: case EDGECC_INT4: return 1;
  case EDGECC_UINT16: case EDGECC_INT16: case EDGECC_FLOAT16: case EDGECC_BFLOAT16: return 2;
  case EDGECC_FLOAT: case EDGECC_INT32: case EDGECC_UINT32: return 4;
  case EDGECC_INT64: case EDGECC_UINT64: case EDGECC_DOUBLE: return 8;
  case EDGECC_STRING: return sizeof(char *);
  default: return 0;
  }
}

const char *edgecc_dtype_name(int32_t dtype) {
  switch (dtype) {
  case EDGECC_FLOAT: return "float";
  case EDGECC_UINT8: return "uint8";
  case EDGECC_INT8: return "int8";
  case EDGECC_UINT16: return "uint16";
  case EDGECC_INT16: return "int16";
  case EDGECC_INT32: return "int32";
  case EDGECC_INT64: return "int64";
  case EDGECC_STRING: return "string";
  case EDGECC_BOOL: return "bool";
  case EDGECC_FLOAT16: return "float16";
  case EDGECC_DOUBLE: return "double";
  case EDGECC_UINT32: return "uint32";
  case EDGECC_UINT64: return "uint64";
  case EDGECC_BFLOAT16: return "bfloat16";
  case EDGECC_UINT4: return "uint4";
  case EDGECC_INT4: return "int4";
  default: return "unknown";
  }
}

int64_t edgecc_tensor_numel(const edgecc_tensor_info *t) {
  int64_t n = 1;
  for (int32_t i = 0; i < t->rank; i++)
    n *= t->shape[i];
  return n;
}

size_t edgecc_tensor_bytes(const edgecc_tensor_info *t) {
  return (size_t)edgecc_tensor_numel(t) * edgecc_dtype_size(t->dtype);
}
