// bench.c — `edgecc bench MODEL.onnx`: compiles a model for a target (the host by default),
// links it with the harness, feeds it deterministic inputs (or the -i files, for models whose
// work depends on input values) and times it: the harness runs it
// once to warm up, then ITERATIONS times, and reports the median and the fastest run. The
// FLOP count (2 per multiply-add of Conv, ConvTranspose, Gemm and MatMul) gives GFLOP/s. With
// -d DIR the linked program and its inputs are kept, so a benchmark driver can run it again
// (`DIR/model DIR ITERATIONS` prints median_ns and min_ns).
#include "tools.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
  int ninputs;
  Tensor *inputs;
  double flops;
} BenchModel;

// Deterministic inputs: floats uniform in [-1, 1) from a fixed LCG (the ONNX Runtime runner
// uses the same one), integers small and non-negative, booleans alternating.
static void fill_input(Tensor *t) {
  uint32_t s = 12345;
  int64_t n = shape_numel(&t->shape);
  for (int64_t i = 0; i < n; i++) {
    s = s * 1103515245u + 12345u;
    double u = (double)(s >> 8) / (1 << 24);
    if (dtype_is_float(t->dtype))
      dtype_set(t->dtype, t->data, i, 2 * u - 1);
    else
      dtype_set(t->dtype, t->data, i, t->dtype == DT_BOOL ? (double)(i & 1) : (double)(int)(u * 10));
  }
}

// Runs the front end to learn the input shapes (after --dim/--shape) and the FLOP count;
// makes deterministic inputs if FILL.
static bool describe(edgecc_compiler_ref c, const char *model, bool fill, BenchModel *bm, Pool *pool, StrBuf *err) {
  Compiler *cc = compiler_new();
  cc->opt = *edgecc_options(c);
  cc->model_path = model;
  jmp_buf here;
  cc->bail = &here;
  bool ok = false;
  if (!setjmp(here)) {
    Graph *g = compile_front(cc, model);
    bm->ninputs = fill ? g->inputs.len : 0;
    bm->inputs = pool_alloc(pool, sizeof(Tensor) * (size_t)(g->inputs.len + 1));
    for (int i = 0; i < bm->ninputs; i++) {
      Value *v = g->inputs.items[i];
      Tensor *t = &bm->inputs[i];
      *t = (Tensor){.dtype = v->dtype, .shape = v->shape, .name = pool_strdup(pool, v->name)};
      if (v->type != VAL_TENSOR || v->dtype == DT_STRING)
        fatal_at(cc, NULL, "input '%s': only tensors of numbers can be benchmarked", v->name);
      t->data = pool_alloc(pool, (size_t)(value_bytes(v) + 1));
      fill_input(t);
    }
    for (int i = 0; i < g->nodes.len; i++)
      bm->flops += 2.0 * (double)node_macs(g->nodes.items[i]);
    ok = true;
  }
  if (!ok)
    sb_printf(err, "%s", cc->diag.buf ? cc->diag.buf : "edgecc: error: cannot load the model\n");
  compiler_free(cc);
  return ok;
}

// -i files into WORKDIR, binding the shapes they give.
static bool use_input_files(ToolArgs *a, const char *model, const char *workdir, Pool *pool, StrBuf *err) {
  ModelSignature sig;
  if (!read_signature(model, &a->binds, &sig, pool, err))
    return false;
  if (a->inputs.len != sig.ninputs) {
    sb_printf(err, "edgecc: error: %s: the model has %d inputs, %d given with -i\n", model, sig.ninputs, a->inputs.len);
    return false;
  }
  Datum *ins = pool_alloc(pool, sizeof(Datum) * (size_t)(sig.ninputs + 1));
  for (int i = 0; i < sig.ninputs; i++)
    if (!read_datum(a->inputs.items[i], sig.input_kinds[i], &ins[i], pool, err))
      return false;
  return bind_inputs_from_data(a->compiler, &sig, (const char **)a->inputs.items, ins, workdir, err) >= 0;
}

static long long harness_value(const char *text, const char *key) {
  const char *p = text ? strstr(text, key) : NULL;
  return p ? atoll(p + strlen(key)) : -1;
}

int tool_bench(ToolArgs *a) {
  if (a->paths.len != 1) {
    fprintf(stderr, "edgecc: error: usage: edgecc bench MODEL.onnx [-target T] [--dim/--shape ...] "
                    "[--threads N] [--iters N] [-i IN.pb...]\n");
    return 1;
  }
  const char *model = a->paths.items[0];
  int iterations = a->iterations > 0 ? a->iterations : 100;
  Pool pool = {0};
  StrBuf err = {0}, out = {0};
  Toolchain tc = {0};
  char *workdir = NULL;
  int rc = 1;
  BenchModel bm = {0};
  if (!toolchain_open(&tc, a, &err))
    goto done;
  if (a->outdir) // -d DIR: the program and its inputs stay there (`DIR/model DIR ITERATIONS`)
    mkdir(a->outdir, 0755);
  if (!(workdir = a->outdir ? strdup(a->outdir) : make_temp_dir("bench")))
    goto done;
  if ((a->inputs.len && !use_input_files(a, model, workdir, &pool, &err)) ||
      !describe(a->compiler, model, !a->inputs.len, &bm, &pool, &err))
    goto done;
  for (int i = 0; i < bm.ninputs; i++) {
    char raw[4096];
    snprintf(raw, sizeof raw, "%s/input_%d.raw", workdir, i);
    if (!write_raw(raw, &bm.inputs[i])) {
      sb_printf(&err, "edgecc: error: cannot write to %s\n", workdir);
      goto done;
    }
  }
  char obj[4096];
  snprintf(obj, sizeof obj, "%s/model.o", workdir);
  edgecc_set_name(a->compiler, "model");
  if (edgecc_compile(a->compiler, model, EDGECC_EMIT_OBJECT, obj, NULL)) {
    sb_printf(&err, "%s", edgecc_diagnostics(a->compiler));
    goto done;
  }
  if (!toolchain_link(&tc, workdir, obj, &err)) {
    sb_printf(&err, "edgecc: error: linking the harness failed\n");
    goto done;
  }
  int status = toolchain_exec(&tc, workdir, iterations, &out, 3600);
  long long median = harness_value(out.buf, "median_ns "), fastest = harness_value(out.buf, "min_ns ");
  if (status || median < 0 || fastest < 0) {
    sb_printf(&err, "edgecc: error: the model program failed (status %d)%s%s", status, out.len ? ": " : "\n",
              out.len ? out.buf : "");
    goto done;
  }
  printf("model: %s\niterations: %d\nthreads: %d\n", model, iterations, edgecc_options(a->compiler)->threads > 1
                                                                           ? edgecc_options(a->compiler)->threads : 1);
  printf("median: %.1f us\nmin: %.1f us\n", median / 1e3, fastest / 1e3);
  printf("MFLOP: %.2f\nGFLOP/s: %.2f\n", bm.flops / 1e6, median > 0 ? bm.flops / (double)median : 0.0);
  rc = 0;
done:
  if (err.len)
    fputs(err.buf, stderr);
  if (workdir && !a->outdir)
    remove_tree(workdir);
  free(workdir);
  toolchain_close(&tc);
  sb_free(&err);
  sb_free(&out);
  pool_free(&pool);
  return rc;
}
