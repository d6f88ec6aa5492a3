/* edgecc_rt.h — the edgecc runtime: types shared by generated models and the code that
 * calls them. Generated code and the runtime never allocate memory.
 *
 * Link line:  cc app.c model.o -ledgecc_rt -lm      (bare metal: no -lm needed for f32 models)
 */
#ifndef EDGECC_RT_H
#define EDGECC_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes returned by generated entry points. */
typedef enum {
  EDGECC_OK = 0,
  EDGECC_ERROR_ARENA = 1,   /* arena NULL or misaligned */
  EDGECC_ERROR_STRING = 2,  /* a string input element is NULL or longer than max_string_length */
  EDGECC_ERROR_BRANCH = 3,  /* an If took a branch that cannot run with the compiled shapes
                               (edgecc warned about it, naming the node and the reason) */
} edgecc_status;

/* Element types: the numbering of ONNX TensorProto.DataType. */
typedef enum {
  EDGECC_FLOAT = 1, EDGECC_UINT8 = 2, EDGECC_INT8 = 3, EDGECC_UINT16 = 4, EDGECC_INT16 = 5,
  EDGECC_INT32 = 6, EDGECC_INT64 = 7, EDGECC_STRING = 8, EDGECC_BOOL = 9, EDGECC_FLOAT16 = 10,
  EDGECC_DOUBLE = 11, EDGECC_UINT32 = 12, EDGECC_UINT64 = 13, EDGECC_BFLOAT16 = 16,
  EDGECC_UINT4 = 21, EDGECC_INT4 = 22, /* one element per byte in buffers (int4: sign-extended) */
} edgecc_dtype;

/* One input or output of a compiled model. */
typedef struct {
  const char *name;      /* the ONNX name */
  int32_t dtype;         /* edgecc_dtype */
  int32_t rank;
  const int64_t *shape;  /* static dims; for dynamic outputs an upper bound */
  int32_t dynamic;       /* nonzero: the actual dims are reported at run time */
} edgecc_tensor_info;

typedef int32_t (*edgecc_run_fn)(const void *const *inputs, void *const *outputs, void *arena,
                                 int64_t *output_dims);

/* What a generated object describes about itself (symbol PREFIX_info). */
typedef struct {
  const char *name;      /* the symbol prefix */
  int32_t num_inputs;
  int32_t num_outputs;
  const edgecc_tensor_info *inputs;
  const edgecc_tensor_info *outputs;
  size_t arena_size;     /* bytes of the caller-provided arena */
  size_t arena_align;    /* its required alignment */
  edgecc_run_fn run;     /* PREFIX_run */
  size_t max_string_length; /* bytes (without the NUL) each string input element may have */
} edgecc_model_info;

/* Bytes of one element of DTYPE (0 if unknown). */
size_t edgecc_dtype_size(int32_t dtype);
/* Name of DTYPE ("float", "int64", ...). */
const char *edgecc_dtype_name(int32_t dtype);
/* Number of elements of a tensor with static dims. */
int64_t edgecc_tensor_numel(const edgecc_tensor_info *t);
/* Byte size of a tensor buffer (the upper bound for dynamic ones). */
size_t edgecc_tensor_bytes(const edgecc_tensor_info *t);

/* String tensors are arrays of `const char *` (NUL-terminated UTF-8). The strings a model
 * computes live in its arena and stay valid until the arena is used again. Generated code
 * calls these helpers (text.c); they never allocate.
 *
 * Writes the shortest text that reads back as V, a value of float type DTYPE, as numpy prints
 * it; DST holds at least EDGECC_NUMBER_TEXT_MAX + 1 bytes. Returns the length. */
#define EDGECC_NUMBER_TEXT_MAX 24
size_t edgecc_format_float(char *dst, double v, int32_t dtype);
/* V in decimal; unsigned DTYPEs print its bits as uint64. */
size_t edgecc_format_int(char *dst, int64_t v, int32_t dtype);
/* Text to float type DTYPE (as a double holding that type's value): correctly rounded to
 * double, then to DTYPE; "nan", "inf", "-inf", "infinity" in any case; other text is NaN. */
double edgecc_parse_float(const char *s, int32_t dtype);
/* Text to integer type DTYPE or bool: integers wrap to the type, other numbers truncate and
 * saturate (Cast's rules); bool also reads "true"/"false". The generated code keeps the low
 * bits of the type's width. */
int64_t edgecc_parse_int(const char *s, int32_t dtype);
/* Upper- (UPPER != 0) or lowercases SRC into DST, which holds strlen(SRC) + 1 bytes: mapped
 * characters are never longer. Returns the length. */
size_t edgecc_utf8_case(char *dst, const char *src, int32_t upper);
/* TEXT, case-mapped like edgecc_utf8_case, equals FOLDED. */
int32_t edgecc_utf8_equal_folded(const char *text, const char *folded, int32_t upper);
/* Every one of COUNT strings is non-NULL and at most MAX_LENGTH bytes long. */
int32_t edgecc_strings_fit(const char *const *strings, size_t count, size_t max_length);
/* Models compiled with --threads N for Linux targets split loops over N threads through this
 * (runtime/src/parallel.c, link with -lpthread): BODY runs the iterations [begin, end) of
 * [0, N) on thread WORKER (0 is the caller), for every part. Returns when all are done. */
typedef void (*edgecc_loop_body)(void *ctx, int64_t begin, int64_t end, int64_t worker);
void edgecc_parallel_for(edgecc_loop_body body, void *ctx, int64_t n, int32_t threads);

#ifdef __cplusplus
}
#endif

#endif
