/* edgecc.h — the public C API of the edgecc compiler library (libedgecc).
 *
 * Handles are opaque; every *_create has a matching *_dispose. Strings passed in are copied.
 * Functions returning int return 0 on success and nonzero on failure, with the messages in
 * edgecc_diagnostics(). The edgecc command-line tool is built on this API.
 *
 *   edgecc_compiler_ref c = edgecc_compiler_create();
 *   edgecc_set_target(c, "armv8");
 *   edgecc_bind_dim(c, "batch", 1);
 *   if (edgecc_compile(c, "model.onnx", EDGECC_EMIT_OBJECT, "model.o", "model.h"))
 *     fputs(edgecc_diagnostics(c), stderr);
 *   edgecc_compiler_dispose(c);
 */
#ifndef EDGECC_H
#define EDGECC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct edgecc_compiler *edgecc_compiler_ref;

typedef enum {
  EDGECC_EMIT_OBJECT,   /* relocatable object file (.o) */
  EDGECC_EMIT_ASSEMBLY, /* target assembly (.s) */
  EDGECC_EMIT_LLVM_IR,  /* LLVM IR text (.ll) */
  EDGECC_EMIT_BITCODE,  /* LLVM bitcode (.bc) */
  EDGECC_EMIT_IR,       /* edgecc's tensor IR as text, after planning */
} edgecc_emit_kind;

/* A compiler with default options: target "host", symbol prefix from the output name. */
edgecc_compiler_ref edgecc_compiler_create(void);
/* Frees the compiler and everything it owns, including the diagnostics string. */
void edgecc_compiler_dispose(edgecc_compiler_ref c);

/* Built-in target by name (see edgecc --list-targets). */
void edgecc_set_target(edgecc_compiler_ref c, const char *name);
/* A target description file (XML); takes precedence over edgecc_set_target. */
void edgecc_set_target_file(edgecc_compiler_ref c, const char *path);
/* Overrides of the target's CPU and its feature string (appended, LLVM syntax: +neon,-sve). */
void edgecc_set_cpu(edgecc_compiler_ref c, const char *cpu);
void edgecc_set_features(edgecc_compiler_ref c, const char *features);
/* Symbol prefix of the generated entry point and metadata (PREFIX_run, PREFIX_info). */
void edgecc_set_name(edgecc_compiler_ref c, const char *prefix);
/* Binds a symbolic dimension of the model's inputs. */
void edgecc_bind_dim(edgecc_compiler_ref c, const char *name, int64_t value);
/* Gives input INPUT a complete static shape. */
void edgecc_bind_shape(edgecc_compiler_ref c, const char *input, int rank, const int64_t *dims);
/* Makes an input a compile-time constant read from a serialized ONNX TensorProto file: a
 * shape-like input (a shape, axes, sizes...), or a value that selects If branches (a sample
 * rate), whose Ifs are then resolved at compile time. */
void edgecc_bind_value(edgecc_compiler_ref c, const char *input, const char *tensor_file);
/* The same with the value as text: comma-separated numbers of the input's element type. One
 * number takes the input's declared shape (all of whose dims are 1, symbolic ones included) or
 * is a scalar; several make a vector: edgecc_bind_values(c, "sr", "16000"). */
void edgecc_bind_values(edgecc_compiler_ref c, const char *input, const char *values);
/* Gives a sequence or optional input its tensors, which become inputs of the generated code
 * in order: "[2x3;4]" is a sequence of a 2x3 and a 4-element tensor ("[]" an empty one),
 * "none" an empty optional, "2x3" (or a sequence) an optional holding it. */
void edgecc_bind_structure(edgecc_compiler_ref c, const char *input, const char *structure);

/* -O0..-O3: LLVM's optimization pipeline (default 3; 0 for debugging generated code). */
void edgecc_set_optimization(edgecc_compiler_ref c, int level);
/* -v: print each pipeline stage and its time on stderr as it finishes. */
void edgecc_set_verbose(edgecc_compiler_ref c, int on);
/* --time-passes: a table of the time spent in each stage, on stderr. */
void edgecc_set_time_passes(edgecc_compiler_ref c, int on);
/* -Werror: a warning (unused initializer, float64 in a float32 model...) fails the compile. */
void edgecc_set_warnings_as_errors(edgecc_compiler_ref c, int on);

typedef enum { EDGECC_REPORT_NONE, EDGECC_REPORT_TEXT, EDGECC_REPORT_JSON } edgecc_report_format;
/* --report: per layer (name, op, output shape, MACs, weight bytes, kernel) and totals (flash,
 * weights, arena, stack estimate, MACs), written to PATH, or stdout when PATH is NULL. With
 * compressed layers, their weight bytes against float32 and which went sparse; with
 * calibration, each output's error against the float model. */
void edgecc_set_report(edgecc_compiler_ref c, edgecc_report_format format, const char *path);

/* Bound on the bytes (without the NUL) of every element of the model's string inputs
 * (default 255). Ops computing new strings from input text reserve arena space by it, and
 * PREFIX_run returns EDGECC_ERROR_STRING for a longer input element. */
void edgecc_set_max_string_length(edgecc_compiler_ref c, int64_t bytes);
/* Compression of float models (docs/quantization.md). Weight-only: the weights of Conv,
 * MatMul and Gemm stored as symmetric int8 codes (one scale per output channel), int4 codes
 * (one scale per BLOCK weights along the input dimension, 32 when BLOCK is 0; per channel for
 * Conv) or float16; activations stay float. BLOCK > 0 also gives int8 weights block scales. */
typedef enum { EDGECC_WEIGHTS_KEEP, EDGECC_WEIGHTS_INT8, EDGECC_WEIGHTS_INT4, EDGECC_WEIGHTS_FP16 } edgecc_weights;
void edgecc_set_weights(edgecc_compiler_ref c, edgecc_weights format, int block);
/* Static int8 quantization of weights and activations: the activation ranges come from
 * running the float model at compile time on the inputs in CALIBRATION_DIR (one subfolder of
 * input .pb files per sample, or one .pb file per sample for a single-input model). */
void edgecc_set_quantize(edgecc_compiler_ref c, const char *calibration_dir);
/* Quantization scheme: SYMMETRIC activations are int8 with zero point 0 (default: uint8 with a
 * zero point); PER_CHANNEL weights have one scale per output channel (default) or one per
 * tensor. */
void edgecc_set_quantize_scheme(edgecc_compiler_ref c, int symmetric, int per_channel);
/* Leaves node NODE (its ONNX name) in float when compressing. */
void edgecc_keep_float(edgecc_compiler_ref c, const char *node);

/* Let the generated code split its work over THREADS threads (the runtime's parallel-for;
 * bare-metal targets always run on one). Default 1. */
void edgecc_set_threads(edgecc_compiler_ref c, int threads);

/* How float 3x3 stride-1 convolutions with constant weights run (docs/performance.md). AUTO
 * (default): Winograd's F(2x2, 3x3), which rounds no worse than the direct product, where a
 * cost estimate says it is faster, else the direct product. GEMM: always the direct product
 * (im2col-free GEMM, the rounding of a plain dot product). WINOGRAD: F(2x2, 3x3) on every such
 * convolution the target's vectors run (4 lanes or more). WINOGRAD4: F(4x4, 3x3) there: fewer
 * operations, but 7 to 13 times the direct product's rounding error, beyond the conformance
 * tolerance on data of large scale. */
typedef enum { EDGECC_CONV_AUTO, EDGECC_CONV_GEMM, EDGECC_CONV_WINOGRAD, EDGECC_CONV_WINOGRAD4 } edgecc_conv_algo;
void edgecc_set_conv_algo(edgecc_compiler_ref c, edgecc_conv_algo algo);

/* After a successful compile, write a Make-style dependency file to PATH naming every file
 * the output depends on (the model, its external data, bound tensors, the target file).
 * TARGET is the rule's target (default: the output path). */
void edgecc_set_depfile(edgecc_compiler_ref c, const char *path, const char *target);

/* Compiles MODEL_PATH into OUTPUT_PATH in the form KIND. HEADER_PATH, if not NULL, receives
 * the C header of the generated entry point. No output file is left behind on failure. */
int edgecc_compile(edgecc_compiler_ref c, const char *model_path, edgecc_emit_kind kind,
                   const char *output_path, const char *header_path);

/* Arena bytes the last successful compile needs, and the peak of simultaneously live bytes
 * (the lower bound any plan can reach). */
int64_t edgecc_arena_size(edgecc_compiler_ref c);
int64_t edgecc_arena_lower_bound(edgecc_compiler_ref c);

/* Errors and warnings of the last call, one per line, each
 * "edgecc: error: <file>: node '<name>' (<op>): <what>". Owned by C; valid until the next
 * call on C. Empty string when there were none. */
const char *edgecc_diagnostics(edgecc_compiler_ref c);

/* Nonzero when the last failure was an unsupported feature (op, attribute, type) rather than
 * an invalid model or an I/O error. */
int edgecc_last_failure_unsupported(edgecc_compiler_ref c);

#ifdef __cplusplus
}
#endif

#endif
