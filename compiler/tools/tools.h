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
  PtrVec inputs;                // run, bench: -i files, one per model input (bound ones too)
  PtrVec binds;                 // ValueBinding*: --bind (check passes them on to every test)
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
  ValueType *input_kinds;   // tensor, sequence or optional
  const char **output_names;
  ValueType *output_kinds;
  bool *shape_only;         // input i is used only as a shape-like operand
  struct Tensor **bound;    // the value --bind gives input i, or NULL
} ModelSignature;

// BINDS: the ValueBinding*s of --bind.
bool read_signature(const char *model_path, const PtrVec *binds, ModelSignature *sig, Pool *pool, StrBuf *err);
typedef struct Tensor {
  DType dtype;
  Shape shape;
  void *data;
  const char *name;
} Tensor;
bool read_tensor(const char *path, Tensor *t, Pool *pool, StrBuf *err);
bool write_raw(const char *path, const Tensor *t);
// A model input or output: a tensor, or a sequence or optional of them (the compiled code
// takes and gives their tensors one by one).
typedef struct {
  ValueType kind;
  int count;
  Tensor *tensors;
  bool holds_sequence;   // an optional holding a sequence
  const char *structure; // sequences and optionals: for edgecc_bind_structure
} Datum;
bool read_datum(const char *path, ValueType kind, Datum *d, Pool *pool, StrBuf *err);
// Binds each model input from its data (INS, read from PATHS) on C: shape-like inputs by
// value, the rest by shape (sequences and optionals by their structure); an input --bind
// fixed is only checked against its file. Writes the run-time inputs' tensors as raw files
// into WORKDIR; returns how many, or -1 with ERR saying why.
int bind_inputs_from_data(edgecc_compiler_ref c, const ModelSignature *sig, const char **paths, const Datum *ins,
                          const char *workdir, StrBuf *err);
bool write_datum(const char *path, const char *name, const Datum *d);
// Reads the outputs the harness wrote to WORKDIR (outputs.txt and output_<i>.raw): the
// tensors of the compiled code, with their names; returns how many, -1 on error.
int read_outputs(const char *workdir, Tensor **outs, Pool *pool, StrBuf *err);
// Groups the compiled outputs (tensors named NAME, NAME[i]) into the model's outputs.
bool group_outputs(const ModelSignature *sig, const Tensor *outs, int count, Datum *data, StrBuf *err);

// The options set on a compiler handle (api.c), for tools that run the front end themselves.
const Options *edgecc_options(edgecc_compiler_ref c);

// run.c, check.c, bench.c
int tool_run(ToolArgs *args);
int tool_check(ToolArgs *args);
int tool_bench(ToolArgs *args);

#endif
