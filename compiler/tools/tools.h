// tools.h — the subcommands of the edgecc binary that run compiled models: run, check, bench.
#ifndef EDGECC_TOOLS_H
#define EDGECC_TOOLS_H

#include "../compiler.h"
#include "../include/edgecc.h"

// Options shared by every subcommand (main.c fills them).
typedef struct {
  edgecc_compiler_ref compiler; // target, dims, shapes, binds
  const char *target_name;      // for toolchain lookup
  const char *target_file;
  PtrVec inputs;                // run: -i files
  PtrVec paths;                 // positional arguments
  const char *outdir;           // run: -d
  int jobs;                     // check: -j
  int iterations;               // bench: --iters
  bool verbose;
} ToolArgs;

// toolchain.c — building and running the generic harness for a target
typedef struct {
  char *dir;              // scratch folder holding the prebuilt harness objects
  const char *cc;         // C compiler (cross compiler for other targets)
  char **emulator;        // argv prefix running target programs; NULL when native
  int emulator_argc;
} Toolchain;

bool toolchain_open(Toolchain *tc, const ToolArgs *args, StrBuf *err);
void toolchain_close(Toolchain *tc);
// Links OBJECT with the harness into WORKDIR/model; false with the linker output in ERR.
bool toolchain_link(Toolchain *tc, const char *workdir, const char *object, StrBuf *err);
// Runs WORKDIR/model WORKDIR [ITERATIONS]; returns the exit status, output in OUT.
int toolchain_exec(Toolchain *tc, const char *workdir, int iterations, StrBuf *out, int timeout);

// model_io.c — inputs and outputs of a model run through the harness
typedef struct {
  int ninputs, noutputs;
  const char **input_names;
  DType *input_types;
  const char **output_names;
  bool *shape_only;     // input i is used only as a shape-like operand
} ModelSignature;

bool read_signature(const char *model_path, ModelSignature *sig, Pool *pool, StrBuf *err);
typedef struct {
  DType dtype;
  Shape shape;
  void *data;
  const char *name;
} Tensor;
bool read_tensor(const char *path, Tensor *t, Pool *pool, StrBuf *err);
bool write_raw(const char *path, const Tensor *t);
// Reads the outputs the harness wrote to WORKDIR (outputs.txt and output_<i>.raw).
bool read_outputs(const char *workdir, int noutputs, Tensor *outs, Pool *pool, StrBuf *err);

// The options set on a compiler handle (api.c), for tools that run the front end themselves.
const Options *edgecc_options(edgecc_compiler_ref c);

// run.c, check.c, bench.c
int tool_run(ToolArgs *args);
int tool_check(ToolArgs *args);
int tool_bench(ToolArgs *args);

#endif
