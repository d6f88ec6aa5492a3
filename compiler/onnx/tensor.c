// tensor.c — TensorProto <-> constant Values: every storage form (raw_data, the typed fields,
// external data files) and every element type.
#include "../compiler.h"
#include "onnx.pb-c.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


static const char *entry(const Onnx__TensorProto *tp, const char *key) {
  for (size_t i = 0; i < tp->n_external_data; i++)
    if (tp->external_data[i]->key && !strcmp(tp->external_data[i]->key, key))
      return tp->external_data[i]->value;
  return NULL;
}

// Lexically: does the relative path climb above its starting folder ("a/../../x")?
static bool climbs_out(const char *path) {
  int depth = 0;
  for (const char *p = path; *p;) {
    size_t n = strcspn(p, "/");
    if (n == 2 && !strncmp(p, "..", 2))
      depth--;
    else if (n && !(n == 1 && *p == '.'))
      depth++;
    if (depth < 0)
      return true;
    p += n;
    while (*p == '/')
      p++;
  }
  return false;
}

// External data must be a relative path that stays inside the model's folder: a model file
// must not be able to make the compiler read /etc/shadow into a binary.
static void *read_external(Compiler *cc, const Onnx__TensorProto *tp, const char *model_dir,
                           const char *what, int64_t want) {
  const char *loc = entry(tp, "location");
  if (!loc || !*loc)
    fatal_at(cc, NULL, "%s: external data without a location", what);
  if (loc[0] == '/' || climbs_out(loc))
    fatal_at(cc, NULL, "%s: external data path '%s' leaves the model's folder", what, loc);
  char *path = pool_printf(&cc->pool, "%s/%s", model_dir, loc);
  char dir_real[PATH_MAX], file_real[PATH_MAX];
  if (!realpath(model_dir, dir_real) || !realpath(path, file_real))
    fatal_at(cc, NULL, "%s: cannot open external data '%s': %s", what, path, strerror(errno));
  size_t dl = strlen(dir_real);
  if (strncmp(file_real, dir_real, dl) || (file_real[dl] != '/' && strcmp(dir_real, "/")))
    fatal_at(cc, NULL, "%s: external data path '%s' leaves the model's folder", what, loc);
  const char *off_s = entry(tp, "offset"), *len_s = entry(tp, "length");
  char *end;
  long long off = off_s ? strtoll(off_s, &end, 10) : 0;
  if (off_s && (*end || off < 0))
    fatal_at(cc, NULL, "%s: bad external data offset '%s'", what, off_s);
  long long len = len_s ? strtoll(len_s, &end, 10) : want;
  if (len_s && (*end || len < 0))
    fatal_at(cc, NULL, "%s: bad external data length '%s'", what, len_s);
  if (len != want)
    fatal_at(cc, NULL, "%s: external data holds %lld bytes, the tensor needs %lld", what, len,
             (long long)want);
  FILE *f = fopen(file_real, "rb");
  struct stat st;
  if (!f || fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
    if (f)
      fclose(f);
    fatal_at(cc, NULL, "%s: cannot read external data '%s'", what, path);
  }
  if (off + len > st.st_size) {
    fclose(f);
    fatal_at(cc, NULL, "%s: external data '%s' is %lld bytes, needs %lld at offset %lld", what,
             path, (long long)st.st_size, len, off);
  }
  vec_push(&cc->pool, &cc->deps, pool_strdup(&cc->pool, path));
  void *buf = pool_alloc(&cc->pool, (size_t)len + 1);
  bool ok = fseek(f, off, SEEK_SET) == 0 && fread(buf, 1, (size_t)len, f) == (size_t)len;
  fclose(f);
  if (!ok)
    fatal_at(cc, NULL, "%s: cannot read external data '%s'", what, path);
  return buf;
}

// Copies the typed repeated field of TP into DST (numel elements of type DT).
static bool decode_typed(const Onnx__TensorProto *tp, DType dt, int64_t numel, void *dst,
                         Pool *pool) {
  switch (dt) {
  case DT_F32:
    if ((int64_t)tp->n_float_data != numel)
      return false;
    memcpy(dst, tp->float_data, (size_t)numel * 4);
    return true;
  case DT_C64:
    if ((int64_t)tp->n_float_data != 2 * numel)
      return false;
    memcpy(dst, tp->float_data, (size_t)numel * 8);
    return true;
  case DT_F64:
  case DT_C128: {
    int64_t k = dt == DT_C128 ? 2 : 1;
    if ((int64_t)tp->n_double_data != k * numel)
      return false;
    memcpy(dst, tp->double_data, (size_t)(numel * k) * 8);
    return true;
  }
  case DT_I64:
    if ((int64_t)tp->n_int64_data != numel)
      return false;
    memcpy(dst, tp->int64_data, (size_t)numel * 8);
    return true;
  case DT_U32:
  case DT_U64:
    if ((int64_t)tp->n_uint64_data != numel)
      return false;
    for (int64_t i = 0; i < numel; i++)
      if (dt == DT_U32)
        ((uint32_t *)dst)[i] = (uint32_t)tp->uint64_data[i];
      else
        ((uint64_t *)dst)[i] = tp->uint64_data[i];
    return true;
  case DT_I4:
  case DT_U4: // two elements per int32, low nibble first
    if ((int64_t)tp->n_int32_data != (numel + 1) / 2)
      return false;
    for (int64_t i = 0; i < numel; i++) {
      int v = (tp->int32_data[i / 2] >> (4 * (i & 1))) & 15;
      ((int8_t *)dst)[i] = (int8_t)(dt == DT_I4 && v >= 8 ? v - 16 : v);
    }
    return true;
  case DT_STRING:
    if ((int64_t)tp->n_string_data != numel)
      return false;
    for (int64_t i = 0; i < numel; i++) {
      char *s = pool_alloc(pool, tp->string_data[i].len + 1);
      if (tp->string_data[i].len)
        memcpy(s, tp->string_data[i].data, tp->string_data[i].len);
      ((char **)dst)[i] = s;
    }
    return true;
  default: // i32 and narrower, bool, f16, bf16, f8: one per int32
    if ((int64_t)tp->n_int32_data != numel)
      return false;
    for (int64_t i = 0; i < numel; i++) {
      int32_t v = tp->int32_data[i];
      switch (dtype_size(dt)) {
      case 1: ((uint8_t *)dst)[i] = (uint8_t)v; break;
      case 2: ((uint16_t *)dst)[i] = (uint16_t)v; break;
      default: ((int32_t *)dst)[i] = v; break;
      }
    }
    return true;
  }
}

static void unpack_int4(DType dt, const uint8_t *packed, int8_t *dst, int64_t numel) {
  for (int64_t i = 0; i < numel; i++) {
    int v = (packed[i / 2] >> (4 * (i & 1))) & 15;
    dst[i] = (int8_t)(dt == DT_I4 && v >= 8 ? v - 16 : v);
  }
}

Value *tensor_from_proto(Compiler *cc, Graph *g, const Onnx__TensorProto *tp,
                         const char *model_dir, const char *what) {
  DType dt = tp->has_data_type ? (DType)tp->data_type : DT_UNDEF;
  if (dt <= DT_UNDEF || dt >= DT_COUNT_ || !dtype_size(dt))
    fatal_at(cc, NULL, "%s: unknown element type %d", what, (int)dt);
  if (tp->n_dims > MAX_RANK)
    fatal_at(cc, NULL, "%s: rank %zu exceeds the supported %d", what, tp->n_dims, MAX_RANK);
  if (tp->segment)
    fatal_at(cc, NULL, "%s: segmented tensors are not supported", what);
  Shape shape = {.rank = (int)tp->n_dims};
  int64_t numel = 1;
  for (size_t i = 0; i < tp->n_dims; i++) {
    if (tp->dims[i] < 0 || (tp->dims[i] && numel > MAX_TENSOR_BYTES / tp->dims[i]))
      fatal_at(cc, NULL, "%s: invalid dimension %lld", what, (long long)tp->dims[i]);
    shape.dim[i] = tp->dims[i];
    numel *= tp->dims[i];
  }
  int64_t bytes = numel * dtype_size(dt);
  if (bytes > MAX_TENSOR_BYTES)
    fatal_at(cc, NULL, "%s: tensor of %lld bytes is too large", what, (long long)bytes);
  Value *v = graph_new_value(g, tp->name && *tp->name ? tp->name : what);
  v->dtype = dt;
  v->shape = shape;
  v->typed = true;
  bool packed4 = dt == DT_I4 || dt == DT_U4;
  int64_t stored = packed4 ? (numel + 1) / 2 : bytes; // bytes in raw/external form
  bool external = tp->has_data_location &&
                  tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
  if (external || tp->has_raw_data) {
    if (dt == DT_STRING)
      fatal_at(cc, NULL, "%s: string tensors cannot use raw or external data", what);
    const uint8_t *src = external ? read_external(cc, tp, model_dir, what, stored) : tp->raw_data.data;
    if (!external && (int64_t)tp->raw_data.len != stored)
      fatal_at(cc, NULL, "%s: raw data holds %zu bytes, shape %s of %s needs %lld", what,
               tp->raw_data.len, shape_str(&cc->pool, &shape), dtype_onnx_name(dt),
               (long long)stored);
    v->data = pool_alloc(&cc->pool, (size_t)bytes + 1);
    if (packed4)
      unpack_int4(dt, src, v->data, numel);
    else if (bytes > 0) // an empty tensor's raw data may be a null pointer
      memcpy(v->data, src, (size_t)bytes);
    return v;
  }
  v->data = pool_alloc(&cc->pool, (size_t)bytes + 1);
  if (numel > 0 && !decode_typed(tp, dt, numel, v->data, &cc->pool)) // (empty fields may be null)
    fatal_at(cc, NULL, "%s: stored element count does not match shape %s", what,
             shape_str(&cc->pool, &shape));
  return v;
}

Value *load_tensor_file(Compiler *cc, Graph *g, const char *path, const char *name) {
  uint8_t *buf;
  size_t len;
  if (!read_file(path, &buf, &len))
    fatal_at(cc, NULL, "cannot read tensor file '%s': %s", path, strerror(errno));
  Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
  free(buf);
  if (!tp)
    fatal_at(cc, NULL, "'%s' is not a serialized ONNX TensorProto", path);
  // Decode errors longjmp out of this function: copy what we need first is not possible
  // without duplicating the decoder, so free the proto on both paths.
  jmp_buf here, *outer = cc->bail;
  cc->bail = &here;
  Value *v = NULL;
  if (!setjmp(here))
    v = tensor_from_proto(cc, g, tp, path_dirname(&cc->pool, path), path);
  cc->bail = outer;
  onnx__tensor_proto__free_unpacked(tp, NULL);
  if (!v)
    longjmp(*outer, 1);
  if (name)
    v->name = pool_strdup(&cc->pool, name);
  return v;
}

// Serializes a TensorProto into a malloc'd buffer.
static uint8_t *pack_tensor(const char *name, DType dt, const Shape *shape, const void *data, size_t *len) {
  Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
  int64_t dims[MAX_RANK];
  for (int i = 0; i < shape->rank; i++)
    dims[i] = shape->dim[i];
  tp.n_dims = (size_t)shape->rank;
  tp.dims = dims;
  tp.has_data_type = 1;
  tp.data_type = dt;
  tp.name = (char *)name; // NULL: no name (members of sequences)
  int64_t numel = shape_numel(shape);
  ProtobufCBinaryData *strs = NULL;
  uint8_t *nibbles = NULL;
  if (dt == DT_STRING) {
    strs = calloc((size_t)numel + 1, sizeof *strs);
    for (int64_t i = 0; i < numel; i++) {
      const char *s = ((char *const *)data)[i];
      strs[i].data = (uint8_t *)s;
      strs[i].len = strlen(s);
    }
    tp.n_string_data = (size_t)numel;
    tp.string_data = strs;
  } else if (dt == DT_I4 || dt == DT_U4) { // two per byte, low nibble first
    nibbles = calloc((size_t)(numel + 1) / 2 + 1, 1);
    for (int64_t i = 0; i < numel; i++)
      nibbles[i / 2] |= (uint8_t)((((const uint8_t *)data)[i] & 15) << (4 * (i & 1)));
    tp.has_raw_data = 1;
    tp.raw_data.data = nibbles;
    tp.raw_data.len = (size_t)(numel + 1) / 2;
  } else {
    tp.has_raw_data = 1;
    tp.raw_data.data = (uint8_t *)data;
    tp.raw_data.len = (size_t)(numel * dtype_size(dt));
  }
  *len = onnx__tensor_proto__get_packed_size(&tp);
  uint8_t *buf = malloc(*len ? *len : 1);
  onnx__tensor_proto__pack(&tp, buf);
  free(strs);
  free(nibbles);
  return buf;
}

static bool write_all(const char *path, const void *buf, size_t n) {
  AtomicFile af;
  bool ok = atomic_open(&af, path);
  if (ok) {
    fwrite(buf, 1, n, af.f);
    ok = atomic_commit(&af);
  }
  return ok;
}

bool tensor_write_file(const char *path, const char *name, DType dt, const Shape *shape,
                       const void *data) {
  size_t n;
  uint8_t *buf = pack_tensor(name ? name : "", dt, shape, data, &n);
  bool ok = write_all(path, buf, n);
  free(buf);
  return ok;
}

//
// SequenceProto and OptionalProto (onnx-data.proto, which the system's headers lack): their
// few fields are read and written by hand around protobuf-c's TensorProto.
//   SequenceProto: 1 name, 2 elem_type, 3 tensor_values, 5 sequence_values, 7 optional_values
//   OptionalProto: 1 name, 2 elem_type, 3 tensor_value, 5 sequence_value, 7 optional_value
//
enum { ELEM_UNDEFINED = 0, ELEM_TENSOR = 1, ELEM_SEQUENCE = 3, ELEM_OPTIONAL = 5 };

typedef struct {
  const uint8_t *p, *end;
} Wire;

static bool wire_varint(Wire *w, uint64_t *v) {
  *v = 0;
  for (int shift = 0; w->p < w->end && shift < 64; shift += 7) {
    uint8_t b = *w->p++;
    *v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80))
      return true;
  }
  return false;
}

// The next field: its number, and its payload (varint NUM or length-delimited DATA/LEN).
static bool wire_field(Wire *w, int *field, uint64_t *num, const uint8_t **data, size_t *len) {
  uint64_t key;
  if (!wire_varint(w, &key))
    return false;
  *field = (int)(key >> 3);
  switch (key & 7) {
  case 0: return wire_varint(w, num);
  case 1: w->p += 8; return w->p <= w->end;
  case 5: w->p += 4; return w->p <= w->end;
  case 2: {
    uint64_t n;
    if (!wire_varint(w, &n) || n > (uint64_t)(w->end - w->p))
      return false;
    *data = w->p;
    *len = (size_t)n;
    w->p += n;
    return true;
  }
  default: return false;
  }
}

static void decode_container(Compiler *cc, Graph *g, Value *v, const uint8_t *buf, size_t len, const char *what,
                             int depth) {
  if (depth > 16)
    fatal_at(cc, NULL, "%s: sequences and optionals nest too deeply", what);
  PtrVec elems = {0};
  Wire w = {buf, buf + len};
  while (w.p < w.end) {
    int field;
    uint64_t num = 0;
    const uint8_t *data = NULL;
    size_t n = 0;
    if (!wire_field(&w, &field, &num, &data, &n))
      fatal_at(cc, NULL, "%s: not a serialized SequenceProto or OptionalProto", what);
    if (!data || (field != 3 && field != 5 && field != 7))
      continue;
    Value *m;
    if (field == 3) {
      Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, n, data);
      if (!tp)
        fatal_at(cc, NULL, "%s: a member is not a TensorProto", what);
      m = tensor_from_proto(cc, g, tp, ".", what);
      onnx__tensor_proto__free_unpacked(tp, NULL);
    } else {
      m = graph_new_value(g, v->name);
      m->type = field == 5 ? VAL_SEQUENCE : VAL_OPTIONAL;
      decode_container(cc, g, m, data, n, what, depth + 1);
    }
    vec_push(&cc->pool, &elems, m);
    if (m->dtype)
      v->dtype = m->dtype;
  }
  if (v->type == VAL_OPTIONAL && elems.len > 1)
    fatal_at(cc, NULL, "%s: an optional holds more than one value", what);
  v->elems = (Value **)elems.items;
  v->nelems = elems.len;
  v->typed = true;
}

Value *load_value_file(Compiler *cc, Graph *g, const char *path, ValueType kind, const char *name) {
  if (kind == VAL_TENSOR)
    return load_tensor_file(cc, g, path, name);
  uint8_t *buf;
  size_t len;
  if (!read_file(path, &buf, &len))
    fatal_at(cc, NULL, "cannot read '%s': %s", path, strerror(errno));
  Value *v = graph_new_value(g, name ? name : path);
  v->type = kind;
  uint8_t *copy = pool_dup(&cc->pool, buf, len);
  free(buf);
  decode_container(cc, g, v, copy, len, path, 0);
  return v;
}

typedef struct {
  uint8_t *buf;
  size_t len, cap;
} Bytes;

static void put(Bytes *b, const void *data, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2 + 64;
    b->buf = realloc(b->buf, b->cap);
  }
  memcpy(b->buf + b->len, data, n);
  b->len += n;
}

static void put_varint(Bytes *b, uint64_t v) {
  do {
    uint8_t byte = (uint8_t)(v & 0x7f) | (v > 0x7f ? 0x80 : 0);
    put(b, &byte, 1);
    v >>= 7;
  } while (v);
}

static void put_bytes(Bytes *b, int field, const void *data, size_t n) {
  put_varint(b, (uint64_t)field << 3 | 2);
  put_varint(b, n);
  put(b, data, n);
}

static void put_int(Bytes *b, int field, uint64_t v) {
  put_varint(b, (uint64_t)field << 3);
  put_varint(b, v);
}

static void put_name(Bytes *b, const char *name) {
  if (name && *name)
    put_bytes(b, 1, name, strlen(name));
}

static void encode_sequence(Bytes *b, const char *name, int count, const DType *dts, const Shape *shapes,
                            void *const *data) {
  put_name(b, name);
  put_int(b, 2, ELEM_TENSOR);
  for (int i = 0; i < count; i++) {
    size_t n;
    uint8_t *t = pack_tensor(NULL, dts[i], &shapes[i], data[i], &n);
    put_bytes(b, 3, t, n);
    free(t);
  }
}

bool container_write_file(const char *path, const char *name, ValueType kind, bool holds_sequence, int count,
                          const DType *dts, const Shape *shapes, void *const *data) {
  Bytes b = {0};
  if (kind == VAL_SEQUENCE) {
    encode_sequence(&b, name, count, dts, shapes, data);
  } else if (holds_sequence) {
    Bytes seq = {0};
    encode_sequence(&seq, NULL, count, dts, shapes, data);
    put_name(&b, name);
    put_int(&b, 2, ELEM_SEQUENCE);
    put_bytes(&b, 5, seq.buf, seq.len);
    free(seq.buf);
  } else {
    put_name(&b, name);
    put_int(&b, 2, count ? ELEM_TENSOR : ELEM_UNDEFINED);
    if (count) {
      size_t n;
      uint8_t *t = pack_tensor(NULL, dts[0], &shapes[0], data[0], &n);
      put_bytes(&b, 3, t, n);
      free(t);
    }
  }
  bool ok = write_all(path, b.buf ? b.buf : (uint8_t *)"", b.len);
  free(b.buf);
  return ok;
}
