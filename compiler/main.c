// main.c — the edgecc command line: compile (the default), run, check, and listings.
#include "compiler.h"
#include "include/edgecc.h"
#include "tools/tools.h"

#include <stdlib.h>
#include <string.h>

#define EDGECC_VERSION "0.1.0"

static const char usage[] =
    "usage: edgecc [options] MODEL.onnx            compile a model to an object file and header\n"
    "       edgecc run [options] MODEL.onnx -i IN.pb... -d OUTDIR\n"
    "                                              compile, run on the target, write outputs\n"
    "       edgecc check [options] [-j N] DIR...   run ONNX backend-test folders and compare\n"
    "       edgecc bench [options] [--iters N] [-d DIR] [-i IN.pb...] MODEL.onnx\n"
    "                                              time a model on deterministic inputs\n"
    "       edgecc --list-ops | --list-ops=markdown | --list-targets | --version | --help\n"
    "       edgecc --target-info NAME               a target's fields, one 'key value' per line\n"
    "\n"
    "Compile options:\n"
    "  -o FILE                 output file (default: MODEL's name with .o/.s/.ll/.bc/.ir)\n"
    "  -H FILE                 header file (default: the output with .h, for objects and assembly)\n"
    "  --name PREFIX           symbol prefix: PREFIX_run, PREFIX_info (default: from the output name)\n"
    "  --emit=obj|asm|llvm|bc|ir  what to write (default obj)\n"
    "  -target NAME            target (default host; see --list-targets)\n"
    "  -target-file FILE.xml   a target description of your own\n"
    "  -mcpu CPU, -mattr FEATURES  override the target's CPU or add LLVM features (+neon,-avx512f)\n"
    "  --dim NAME=N            bind a symbolic input dimension\n"
    "  --shape INPUT=AxBxC     give an input a static shape ('scalar' for rank 0)\n"
    "  --shape INPUT='[AxB;C]' the tensors of a sequence input ('[]' empty); an optional\n"
    "                          input takes a shape, a sequence or 'none'\n"
    "  --bind INPUT=VALUE      make an input a compile-time constant: numbers (16000, 0.5,2) or\n"
    "                          a FILE.pb; for shape-like inputs and values that choose If branches\n"
    "  --max-string-length N   bytes each string input element may have (default 255)\n"
    "  --threads N             let the generated code use N threads (default 1)\n"
    "  --conv-algo=auto|gemm|winograd|winograd4  3x3 stride-1 convolutions: cost decides\n"
    "                          (default), the direct product, Winograd F(2x2) or F(4x4)\n"
    "  -MD                     write a Make dependency file (default name: the output + .d)\n"
    "  -MF FILE, -MT TARGET    the dependency file's name and its rule's target\n"
    "  --report[=text|json]    per layer and total cost: flash, weights, arena, stack, MACs\n"
    "  --report-file FILE      write the report to FILE instead of standard output\n"
    "  -Werror                 treat warnings (unused initializers, float64 math...) as errors\n"
    "Compression (docs/quantization.md):\n"
    "  --weights int8|int4|fp16  store Conv/MatMul/Gemm weights compressed; activations stay float\n"
    "  --weights-block N       int8/int4 weights: one scale per N weights along K (int4 default 32)\n"
    "  --quantize int8         quantize weights and activations (needs --calibrate)\n"
    "  --calibrate DIR         calibration inputs: a subfolder of input .pb files per sample\n"
    "  --quant-symmetric       int8 activations with zero point 0 (default: uint8 asymmetric)\n"
    "  --quant-per-tensor      one weight scale per tensor (default: per output channel)\n"
    "  --keep-float NODE,...   leave these nodes in float\n"
    "  --time-passes           time spent in each compiler stage\n"
    "  -O0, -O1, -O2, -O3      LLVM optimization level (default -O3; -O0 to debug generated code)\n"
    "  -v                      print the stages as they run, with times\n"
    "Run options:\n"
    "  -i FILE.pb              an input tensor, in the model's input order (repeat; also for\n"
    "                          bench); an input given --bind is checked against its file\n"
    "  -d OUTDIR               where output_N.pb files are written\n"
    "Check options:\n"
    "  -j N                    tests run in parallel (default: the number of CPUs)\n"
    "Bench options:\n"
    "  --iters N               timed runs after one warm-up (default 100); prints the median\n"
    "                          and fastest run, MFLOP and GFLOP/s\n"
    "  -d DIR                  keep the linked program and its inputs in DIR\n";

static int fail(const char *fmt, const char *arg) {
  fprintf(stderr, "edgecc: error: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n");
  return 1;
}

static bool parse_int64(const char *s, int64_t *v) {
  char *end;
  long long x = strtoll(s, &end, 10);
  if (end == s || *end || x < 0)
    return false;
  *v = x;
  return true;
}

// "1x3x224x224" or "scalar"
static bool parse_shape(const char *s, Shape *shape) {
  *shape = (Shape){0};
  if (!strcmp(s, "scalar"))
    return true;
  char *copy = strdup(s), *save = NULL;
  bool ok = true;
  for (char *tok = strtok_r(copy, "x,", &save); tok && ok; tok = strtok_r(NULL, "x,", &save)) {
    ok = shape->rank < MAX_RANK && parse_int64(tok, &shape->dim[shape->rank]);
    shape->rank++;
  }
  free(copy);
  return ok && shape->rank > 0;
}

// "16000", "0.5,-2": comma-separated numbers (--bind takes them as a value, anything else as a
// file name; write ./16000 for a file of that name).
static bool reads_as_numbers(const char *s) {
  for (;;) {
    char *end;
    strtod(s, &end);
    if (end == s || (*end && *end != ','))
      return false;
    if (!*end)
      return true;
    s = end + 1;
  }
}

// Splits "NAME=VALUE"; returns the VALUE part or NULL.
static char *split_eq(char *arg) {
  char *eq = strchr(arg, '=');
  if (!eq || eq == arg)
    return NULL;
  *eq = 0;
  return eq + 1;
}

typedef struct {
  ToolArgs tool;
  const char *output, *header;
  edgecc_emit_kind emit;
  const char *depfile, *dep_target; // -MF, -MT
  bool want_deps;                   // -MD
  edgecc_report_format report;      // --report[=json]
  const char *report_file;          // --report-file
  bool quantize;                    // --quantize int8
  const char *calibrate;            // --calibrate
  edgecc_weights weights;           // --weights
  int weights_block;                // --weights-block
  bool symmetric, per_tensor;       // --quant-symmetric, --quant-per-tensor
} Cli;

static bool is(const char *a, const char *s1, const char *s2) { return !strcmp(a, s1) || (s2 && !strcmp(a, s2)); }

// Matches option NAME (or its ALIAS) at argv[*i], given as "NAME VALUE" or "NAME=VALUE".
// Returns 1 with *v set, 0 when it is another option, -1 when the value is missing.
static int take(int argc, char **argv, int *i, const char *name, const char *alias, const char **v) {
  const char *a = argv[*i];
  for (const char *n = name; n; n = n == name ? alias : NULL) {
    size_t len = strlen(n);
    if (strncmp(a, n, len))
      continue;
    if (a[len] == '=') {
      *v = a + len + 1;
      return 1;
    }
    if (!a[len]) {
      if (*i + 1 >= argc)
        return -1;
      *v = argv[++*i];
      return 1;
    }
  }
  return 0;
}

static int parse_args(Cli *cli, int argc, char **argv, Pool *pool) {
  edgecc_compiler_ref c = cli->tool.compiler;
  for (int i = 0; i < argc; i++) {
    char *a = argv[i];
    const char *v = NULL, *missing = NULL;
    int m;
#define OPTION(name, alias) ((m = take(argc, argv, &i, name, alias, &v)) < 0 ? (missing = name, 0) : m)
    if (OPTION("-o", NULL)) {
      cli->output = v;
    } else if (OPTION("-H", NULL)) {
      cli->header = v;
    } else if (OPTION("--name", NULL)) {
      edgecc_set_name(c, v);
    } else if (OPTION("--emit", NULL)) {
      static const char *kinds[] = {"obj", "asm", "llvm", "bc", "ir"};
      int k = 0;
      while (k < 5 && strcmp(v, kinds[k]))
        k++;
      if (k == 5)
        return fail("--emit takes obj, asm, llvm, bc or ir, not '%s'", v);
      cli->emit = (edgecc_emit_kind)k;
    } else if (OPTION("-target-file", "--target-file")) {
      edgecc_set_target_file(c, v);
      cli->tool.target_file = v;
    } else if (OPTION("-target", "--target")) {
      edgecc_set_target(c, v);
      cli->tool.target_name = v;
    } else if (OPTION("-mcpu", NULL)) {
      edgecc_set_cpu(c, v);
    } else if (OPTION("-mattr", NULL)) {
      edgecc_set_features(c, v);
    } else if (OPTION("--dim", NULL)) {
      char *name = pool_strdup(pool, v), *val = split_eq(name);
      int64_t n;
      if (!val || !parse_int64(val, &n))
        return fail("--dim takes NAME=N, not '%s'", v);
      edgecc_bind_dim(c, name, n);
    } else if (OPTION("--shape", NULL)) {
      char *name = pool_strdup(pool, v), *val = split_eq(name);
      Shape s;
      if (val && (val[0] == '[' || !strcmp(val, "none")))
        edgecc_bind_structure(c, name, val); // a sequence or optional input
      else if (!val || !parse_shape(val, &s))
        return fail("--shape takes INPUT=AxBxC, not '%s'", v);
      else
        edgecc_bind_shape(c, name, s.rank, s.dim);
    } else if (OPTION("--bind", NULL)) {
      char *name = pool_strdup(pool, v), *val = split_eq(name);
      if (!val || !*val)
        return fail("--bind takes INPUT=VALUE or INPUT=FILE.pb, not '%s'", v);
      ValueBinding *vb = pool_alloc(pool, sizeof *vb);
      *vb = (ValueBinding){.input = name, .path = reads_as_numbers(val) ? NULL : val,
                           .values = reads_as_numbers(val) ? val : NULL};
      vec_push(pool, &cli->tool.binds, vb);
      if (vb->values)
        edgecc_bind_values(c, name, val);
      else
        edgecc_bind_value(c, name, val);
    } else if (OPTION("--max-string-length", NULL)) {
      int64_t n;
      if (!parse_int64(v, &n))
        return fail("--max-string-length takes a byte count, not '%s'", v);
      edgecc_set_max_string_length(c, n);
    } else if (OPTION("--weights", NULL)) {
      static const char *formats[] = {"int8", "int4", "fp16"};
      int k = 0;
      while (k < 3 && strcmp(v, formats[k]))
        k++;
      if (k == 3)
        return fail("--weights takes int8, int4 or fp16, not '%s'", v);
      edgecc_set_weights(c, (edgecc_weights)(k + 1), cli->weights_block);
      cli->weights = (edgecc_weights)(k + 1);
    } else if (OPTION("--weights-block", NULL)) {
      int64_t n;
      if (!parse_int64(v, &n) || n > 1 << 20)
        return fail("--weights-block takes a count of weights, not '%s'", v);
      cli->weights_block = (int)n;
      edgecc_set_weights(c, cli->weights, cli->weights_block);
    } else if (OPTION("--quantize", NULL)) {
      if (strcmp(v, "int8"))
        return fail("--quantize takes int8, not '%s'", v);
      cli->quantize = true;
    } else if (OPTION("--calibrate", NULL)) {
      cli->calibrate = v;
    } else if (OPTION("--keep-float", NULL)) {
      char *names = pool_strdup(pool, v), *save = NULL;
      for (char *tok = strtok_r(names, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        edgecc_keep_float(c, tok);
    } else if (is(a, "--quant-symmetric", NULL)) {
      cli->symmetric = true;
      edgecc_set_quantize_scheme(c, cli->symmetric, !cli->per_tensor);
    } else if (is(a, "--quant-per-tensor", NULL)) {
      cli->per_tensor = true;
      edgecc_set_quantize_scheme(c, cli->symmetric, !cli->per_tensor);
    } else if (OPTION("-MF", NULL)) {
      cli->depfile = v;
    } else if (OPTION("-MT", NULL)) {
      cli->dep_target = v;
    } else if (is(a, "-MD", NULL)) {
      cli->want_deps = true;
    } else if (OPTION("-i", NULL)) {
      vec_push(pool, &cli->tool.inputs, (void *)v);
    } else if (OPTION("-d", NULL)) {
      cli->tool.outdir = v;
    } else if (OPTION("-j", NULL)) {
      cli->tool.jobs = atoi(v);
    } else if (OPTION("--iters", NULL)) {
      int64_t n;
      if (!parse_int64(v, &n) || n < 1 || n > 1000000)
        return fail("--iters takes a count from 1 to 1000000, not '%s'", v);
      cli->tool.iterations = (int)n;
    } else if (OPTION("--conv-algo", NULL)) {
      static const char *algos[] = {"auto", "gemm", "winograd", "winograd4"};
      int k = 0;
      while (k < 4 && strcmp(v, algos[k]))
        k++;
      if (k == 4)
        return fail("--conv-algo takes auto, gemm, winograd or winograd4, not '%s'", v);
      edgecc_set_conv_algo(c, (edgecc_conv_algo)k);
    } else if (OPTION("--threads", NULL)) {
      int64_t n;
      if (!parse_int64(v, &n) || n < 1 || n > 64)
        return fail("--threads takes a count from 1 to 64, not '%s'", v);
      edgecc_set_threads(c, (int)n);
    } else if (missing) {
      return fail("option %s needs a value", missing);
    } else if (is(a, "-v", "--verbose")) {
      cli->tool.verbose = true;
      edgecc_set_verbose(c, 1);
    } else if (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' && !a[3]) {
      edgecc_set_optimization(c, a[2] - '0');
    } else if (is(a, "--time-passes", NULL)) {
      edgecc_set_time_passes(c, 1);
    } else if (is(a, "-Werror", NULL)) {
      edgecc_set_warnings_as_errors(c, 1);
    } else if (is(a, "--report", "--report=text") || is(a, "--report=json", NULL)) {
      edgecc_set_report(c, strstr(a, "json") ? EDGECC_REPORT_JSON : EDGECC_REPORT_TEXT, cli->report_file);
      cli->report = strstr(a, "json") ? EDGECC_REPORT_JSON : EDGECC_REPORT_TEXT;
    } else if (OPTION("--report-file", NULL)) {
      cli->report_file = v;
      edgecc_set_report(c, cli->report ? cli->report : EDGECC_REPORT_TEXT, v);
    } else if (a[0] == '-' && a[1]) {
      return fail("unknown option '%s' (see edgecc --help)", a);
    } else {
      vec_push(pool, &cli->tool.paths, a);
    }
#undef OPTION
  }
  if (cli->calibrate && !cli->quantize)
    return fail("%s", "--calibrate goes with --quantize int8");
  if (cli->quantize)
    edgecc_set_quantize(c, cli->calibrate);
  return 0;
}

static const char *default_ext(edgecc_emit_kind k) {
  static const char *ext[] = {".o", ".s", ".ll", ".bc", ".ir"};
  return ext[k];
}

static int compile_cmd(Cli *cli, Pool *pool) {
  if (cli->tool.paths.len != 1)
    return fail("%s", cli->tool.paths.len ? "give exactly one model" : "no model given (see edgecc --help)");
  const char *model = cli->tool.paths.items[0];
  const char *out = cli->output ? cli->output : pool_printf(pool, "%s%s", path_stem(pool, model), default_ext(cli->emit));
  const char *header = cli->header;
  if (!header && (cli->emit == EDGECC_EMIT_OBJECT || cli->emit == EDGECC_EMIT_ASSEMBLY))
    header = path_replace_ext(pool, out, ".h");
  edgecc_compiler_ref c = cli->tool.compiler;
  if (cli->want_deps || cli->depfile)
    edgecc_set_depfile(c, cli->depfile ? cli->depfile : pool_printf(pool, "%s.d", out), cli->dep_target);
  int rc = edgecc_compile(c, model, cli->emit, out, header);
  fputs(edgecc_diagnostics(c), stderr);
  if (!rc && cli->tool.verbose)
    fprintf(stderr, "edgecc: arena %lld bytes (lower bound %lld)\n", (long long)edgecc_arena_size(c),
            (long long)edgecc_arena_lower_bound(c));
  return rc ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return 1;
  }
  const char *cmd = argv[1];
  if (is(cmd, "--help", "-h")) {
    fputs(usage, stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version")) {
    printf("edgecc %s (LLVM %d)\n", EDGECC_VERSION, LLVM_VERSION_MAJOR);
    return 0;
  }
  if (is(cmd, "--list-ops", "--list-ops=markdown")) {
    list_ops(stdout, strchr(cmd, '=') != NULL);
    return 0;
  }
  if (!strcmp(cmd, "--list-targets")) {
    list_targets(stdout);
    return 0;
  }
  if (!strcmp(cmd, "--target-info")) {
    if (argc < 3)
      return fail("%s", "--target-info needs a target name");
    return print_target_info(stdout, argv[2]) ? 0 : 1;
  }
  Pool pool = {0};
  Cli cli = {.tool.compiler = edgecc_compiler_create()};
  bool sub = is(cmd, "run", "check") || !strcmp(cmd, "bench");
  int rc = parse_args(&cli, argc - 1 - sub, argv + 1 + sub, &pool);
  if (!rc)
    rc = !strcmp(cmd, "run")     ? tool_run(&cli.tool)
         : !strcmp(cmd, "check") ? tool_check(&cli.tool)
         : !strcmp(cmd, "bench") ? tool_bench(&cli.tool)
                                 : compile_cmd(&cli, &pool);
  edgecc_compiler_dispose(cli.tool.compiler);
  pool_free(&pool);
  jit_shutdown();
  return rc;
}
