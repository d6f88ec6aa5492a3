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
} edgecc_status;

/* Element types: the numbering of ONNX TensorProto.DataType. */
typedef enum {
  EDGECC_FLOAT = 1, EDGECC_UINT8 = 2, EDGECC_INT8 = 3, EDGECC_UINT16 = 4, EDGECC_INT16 = 5,
  EDGECC_INT32 = 6, EDGECC_INT64 = 7, EDGECC_STRING = 8, EDGECC_BOOL = 9, EDGECC_FLOAT16 = 10,
  EDGECC_DOUBLE = 11, EDGECC_UINT32 = 12, EDGECC_UINT64 = 13, EDGECC_BFLOAT16 = 16,
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
} edgecc_model_info;

/* Bytes of one element of DTYPE (0 if unknown). */
size_t edgecc_dtype_size(int32_t dtype);
/* Name of DTYPE ("float", "int64", ...). */
const char *edgecc_dtype_name(int32_t dtype);
/* Number of elements of a tensor with static dims. */
int64_t edgecc_tensor_numel(const edgecc_tensor_info *t);
/* Byte size of a tensor buffer (the upper bound for dynamic ones). */
size_t edgecc_tensor_bytes(const edgecc_tensor_info *t);

/* Models compiled with --threads N for Linux targets split loops over N threads through this
 * (runtime/src/parallel.c, link with -lpthread): BODY runs the iterations [begin, end) of
 * [0, N) on thread WORKER (0 is the caller), for every part. Returns when all are done. */
typedef void (*edgecc_loop_body)(void *ctx, int64_t begin, int64_t end, int64_t worker);
void edgecc_parallel_for(edgecc_loop_body body, void *ctx, int64_t n, int32_t threads);

#ifdef __cplusplus
}
#endif

#endif
