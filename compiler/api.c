// api.c — the compilation pipeline behind the public edgecc_* API.
#include "compiler.h"
#include "include/edgecc.h"

#include <llvm-c/ErrorHandling.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct edgecc_compiler {
  Pool pool;         // options live here, across compiles
  Options opt;
  StrBuf diag;
  MemoryPlan plan;
  bool unsupported;
};

Compiler *compiler_new(void) { return calloc(1, sizeof(Compiler)); }

void compiler_free(Compiler *cc) {
  if (!cc)
    return;
  dispose_module(&cc->module);
  pool_free(&cc->pool);
  sb_free(&cc->diag);
  free(cc);
}

edgecc_compiler_ref edgecc_compiler_create(void) {
  edgecc_compiler_ref c = calloc(1, sizeof(struct edgecc_compiler));
  c->opt.opt_level = 3;
  return c;
}

void edgecc_compiler_dispose(edgecc_compiler_ref c) {
  if (!c)
    return;
  pool_free(&c->pool);
  sb_free(&c->diag);
  free(c);
}

static const char *dup(edgecc_compiler_ref c, const char *s) { return s ? pool_strdup(&c->pool, s) : NULL; }

void edgecc_set_target(edgecc_compiler_ref c, const char *name) { c->opt.target_name = dup(c, name); }
void edgecc_set_target_file(edgecc_compiler_ref c, const char *path) { c->opt.target_file = dup(c, path); }
void edgecc_set_cpu(edgecc_compiler_ref c, const char *cpu) { c->opt.mcpu = dup(c, cpu); }
void edgecc_set_features(edgecc_compiler_ref c, const char *f) { c->opt.mattr = dup(c, f); }
void edgecc_set_name(edgecc_compiler_ref c, const char *prefix) { c->opt.prefix = dup(c, prefix); }
void edgecc_set_verbose(edgecc_compiler_ref c, int on) { c->opt.verbose = on; }
void edgecc_set_optimization(edgecc_compiler_ref c, int level) { c->opt.opt_level = level < 0 ? 0 : level > 3 ? 3 : level; }
void edgecc_set_time_passes(edgecc_compiler_ref c, int on) { c->opt.time_passes = on; }
void edgecc_set_warnings_as_errors(edgecc_compiler_ref c, int on) { c->opt.werror = on; }

void edgecc_set_report(edgecc_compiler_ref c, edgecc_report_format format, const char *path) {
  c->opt.report = format;
  c->opt.report_path = dup(c, path);
}
void edgecc_set_max_string_length(edgecc_compiler_ref c, int64_t bytes) { c->opt.max_string_length = bytes; }

void edgecc_set_weights(edgecc_compiler_ref c, edgecc_weights format, int block) {
  c->opt.weights = (WeightFormat)format;
  c->opt.weights_block = block;
}

void edgecc_set_quantize(edgecc_compiler_ref c, const char *calibration_dir) {
  c->opt.quantize = true;
  c->opt.calibrate = dup(c, calibration_dir);
}

void edgecc_set_quantize_scheme(edgecc_compiler_ref c, int symmetric, int per_channel) {
  c->opt.quant_symmetric = symmetric;
  c->opt.quant_per_tensor = !per_channel;
}

void edgecc_keep_float(edgecc_compiler_ref c, const char *node) { vec_push(&c->pool, &c->opt.keep_float, (void *)dup(c, node)); }
void edgecc_set_threads(edgecc_compiler_ref c, int threads) { c->opt.threads = threads; }
void edgecc_set_conv_algo(edgecc_compiler_ref c, edgecc_conv_algo algo) { c->opt.conv_algo = (ConvAlgo)algo; }
const Options *edgecc_options(edgecc_compiler_ref c) { return &c->opt; }

void edgecc_set_depfile(edgecc_compiler_ref c, const char *path, const char *target) {
  c->opt.depfile = dup(c, path);
  c->opt.dep_target = dup(c, target);
}

// Make syntax: spaces and '#' escaped with a backslash, '$' doubled.
static void dep_name(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == ' ' || *s == '#' || *s == '\\')
      fputc('\\', f);
    if (*s == '$')
      fputc('$', f);
    fputc(*s, f);
  }
}

static void write_depfile(Compiler *cc, const char *output) {
  AtomicFile af;
  if (!atomic_open(&af, cc->opt.depfile))
    fatal_at(cc, NULL, "cannot write '%s'", cc->opt.depfile);
  dep_name(af.f, cc->opt.dep_target ? cc->opt.dep_target : output);
  fputc(':', af.f);
  for (int i = 0; i < cc->deps.len; i++) {
    fputs(" \\\n  ", af.f);
    dep_name(af.f, cc->deps.items[i]);
  }
  fputc('\n', af.f);
  if (!atomic_commit(&af))
    fatal_at(cc, NULL, "cannot write '%s'", cc->opt.depfile);
}

void edgecc_bind_dim(edgecc_compiler_ref c, const char *name, int64_t value) {
  DimBinding *b = pool_alloc(&c->pool, sizeof *b);
  b->name = dup(c, name);
  b->value = value;
  vec_push(&c->pool, &c->opt.dims, b);
}

void edgecc_bind_shape(edgecc_compiler_ref c, const char *input, int rank, const int64_t *dims) {
  ShapeBinding *b = pool_alloc(&c->pool, sizeof *b);
  b->input = dup(c, input);
  b->shape = shape_of(rank > MAX_RANK ? MAX_RANK : rank, dims);
  vec_push(&c->pool, &c->opt.shapes, b);
}

void edgecc_bind_value(edgecc_compiler_ref c, const char *input, const char *tensor_file) {
  ValueBinding *b = pool_alloc(&c->pool, sizeof *b);
  b->input = dup(c, input);
  b->path = dup(c, tensor_file);
  vec_push(&c->pool, &c->opt.binds, b);
}

void edgecc_bind_values(edgecc_compiler_ref c, const char *input, const char *values) {
  ValueBinding *b = pool_alloc(&c->pool, sizeof *b);
  b->input = dup(c, input);
  b->values = dup(c, values);
  vec_push(&c->pool, &c->opt.binds, b);
}

void edgecc_bind_structure(edgecc_compiler_ref c, const char *input, const char *structure) {
  StructureBinding *b = pool_alloc(&c->pool, sizeof *b);
  b->input = dup(c, input);
  b->structure = dup(c, structure);
  vec_push(&c->pool, &c->opt.structures, b);
}

// A C identifier from the output file name: "out/my-model.o" -> "my_model".
static char *default_prefix(Pool *p, const char *output) {
  char *s = path_stem(p, output);
  for (char *c = s; *c; c++)
    if (!isalnum((unsigned char)*c))
      *c = '_';
  if (!*s || isdigit((unsigned char)s[0]))
    s = pool_printf(p, "model_%s", s);
  return s;
}

static const Target *select_target(Compiler *cc) {
  const Target *t = cc->opt.target_file ? target_load_file(cc, cc->opt.target_file)
                                        : target_lookup(cc, cc->opt.target_name ? cc->opt.target_name : "host");
  if (cc->opt.mcpu || cc->opt.mattr)
    t = target_override(cc, t, cc->opt.mcpu, cc->opt.mattr);
  return t;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Marks the end of a pipeline stage: -v prints it as it happens, --time-passes at the end.
static void stage_done(Compiler *cc, const char *name, double *t0) {
  double t = now_ms();
  if (cc->nstages < countof(cc->stage_ms)) {
    cc->stage_name[cc->nstages] = name;
    cc->stage_ms[cc->nstages++] = t - *t0;
  }
  if (cc->opt.verbose)
    fprintf(stderr, "edgecc: %-14s %8.2f ms\n", name, t - *t0);
  *t0 = t;
}

static void print_times(Compiler *cc) {
  double total = 0;
  for (int i = 0; i < cc->nstages; i++)
    total += cc->stage_ms[i];
  fprintf(stderr, "edgecc: time per stage for %s\n", cc->model_path);
  for (int i = 0; i < cc->nstages; i++)
    fprintf(stderr, "  %-14s %8.2f ms %5.1f%%\n", cc->stage_name[i], cc->stage_ms[i],
            total > 0 ? 100 * cc->stage_ms[i] / total : 0);
  fprintf(stderr, "  %-14s %8.2f ms\n", "total", total);
}

Graph *compile_front(Compiler *cc, const char *model_path) {
  double t = now_ms();
  cc->target = select_target(cc);
  Graph *g = load_model(cc, model_path);
  stage_done(cc, "load", &t);
  check_supported(cc, g);
  lint_initializers(cc, g);
  bind_inputs(cc, g);
  infer_graph(cc, g);
  stage_done(cc, "infer+fold", &t);
  lint_model(cc, g);
  compress_model(cc, g);
  rewrite_quantized(cc, g);
  eliminate_dead(cc, g);
  fold_batchnorm(cc, g);
  fuse_epilogues(cc, g);
  materialize_outputs(cc, g);
  verify_graph(cc, g);
  stage_done(cc, "simplify", &t);
  return g;
}

static void write_ir(Compiler *cc, Graph *g, const MemoryPlan *plan, const char *path) {
  AtomicFile af;
  if (!atomic_open(&af, path))
    fatal_at(cc, NULL, "cannot write '%s'", path);
  fprintf(af.f, "; edgecc IR of %s for %s\n; arena %lld bytes (lower bound %lld), weights %lld bytes\n",
          cc->model_path, cc->target->name, (long long)plan->arena_size, (long long)plan->lower_bound,
          (long long)plan->const_bytes);
  print_graph(af.f, g);
  if (!atomic_commit(&af))
    fatal_at(cc, NULL, "cannot write '%s'", path);
}

// LLVM reports some internal failures (a backend unable to select an instruction) by calling
// this and exiting: make that one line in our format rather than a dump and an abort.
static const char *compiling_model;

static void llvm_fatal(const char *reason) {
  fprintf(stderr, "edgecc: error: %s: internal error in LLVM code generation: %s\n",
          compiling_model ? compiling_model : "edgecc", reason);
  exit(1); // LLVM would abort() next
}

int edgecc_compile(edgecc_compiler_ref c, const char *model_path, edgecc_emit_kind kind,
                   const char *output_path, const char *header_path) {
  compiling_model = model_path;
  LLVMInstallFatalErrorHandler(llvm_fatal);
  Compiler *cc = compiler_new();
  cc->opt = c->opt;
  cc->model_path = model_path;
  jmp_buf here;
  cc->bail = &here;
  volatile int status = 1;
  volatile bool wrote_output = false; // modified after setjmp: must be volatile
  if (!setjmp(here)) {
    const char *prefix = cc->opt.prefix ? cc->opt.prefix : default_prefix(&cc->pool, output_path);
    Graph *g = compile_front(cc, model_path);
    double t = now_ms();
    c->plan = plan_memory(cc, g);
    stage_done(cc, "plan", &t);
    if (kind == EDGECC_EMIT_IR) {
      write_ir(cc, g, &c->plan, output_path);
    } else {
      // Bare-metal targets have no threads; constant folding (above) ran on one.
      cc->codegen_threads = strcmp(cc->target->os, "none") ? cc->opt.threads : 1;
      cc->module = build_module(cc, g, &c->plan, prefix);
      stage_done(cc, "lower", &t);
      optimize_module(cc, &cc->module);
      stage_done(cc, "optimize", &t);
      static const EmitKind kinds[] = {EMIT_OBJ, EMIT_ASM, EMIT_LLVM, EMIT_BC};
      emit_module(cc, &cc->module, kinds[kind], output_path);
      stage_done(cc, "emit", &t);
    }
    wrote_output = true;
    if (header_path)
      emit_header(cc, g, &c->plan, prefix, header_path);
    if (cc->opt.depfile)
      write_depfile(cc, output_path);
    if (cc->opt.report)
      write_report(cc, g, &c->plan, kind == EDGECC_EMIT_IR ? NULL : &cc->module);
    status = 0;
  }
  if (cc->opt.time_passes)
    print_times(cc);
  if (status && wrote_output) // all outputs or none
    remove(output_path);
  sb_free(&c->diag);
  c->diag = cc->diag;
  cc->diag = (StrBuf){0};
  c->unsupported = status && c->diag.buf && (strstr(c->diag.buf, "unsupported") || strstr(c->diag.buf, "not supported"));
  compiler_free(cc);
  return status;
}

int64_t edgecc_arena_size(edgecc_compiler_ref c) { return c->plan.arena_size; }
int64_t edgecc_arena_lower_bound(edgecc_compiler_ref c) { return c->plan.lower_bound; }
const char *edgecc_diagnostics(edgecc_compiler_ref c) { return c->diag.buf ? c->diag.buf : ""; }
int edgecc_last_failure_unsupported(edgecc_compiler_ref c) { return c->unsupported; }
