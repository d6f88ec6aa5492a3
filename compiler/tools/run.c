// run.c — `edgecc run`: compile a model for a target, run it on input tensors through the
// generic harness (under the target's emulator), and write the outputs as TensorProto files.
#include "tools.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// Compiles MODEL with C into WORKDIR/model.o, links and runs it; *OUTS receives the compiled
// code's output tensors (the count is returned, -1 on failure). On failure ERR says why and
// *unsupported tells whether the compiler found an unsupported feature.
int compile_and_execute(edgecc_compiler_ref c, Toolchain *tc, const char *model, const char *workdir,
                        Tensor **outs, Pool *pool, StrBuf *err, bool *unsupported) {
  char obj[4096];
  snprintf(obj, sizeof obj, "%s/model.o", workdir);
  edgecc_set_name(c, "model");
  *unsupported = false;
  if (edgecc_compile(c, model, EDGECC_EMIT_OBJECT, obj, NULL)) {
    sb_printf(err, "%s", edgecc_diagnostics(c));
    *unsupported = edgecc_last_failure_unsupported(c);
    return -1;
  }
  if (!toolchain_link(tc, workdir, obj, err)) {
    sb_printf(err, "edgecc: error: linking the harness failed\n");
    return -1;
  }
  StrBuf out = {0};
  int status = toolchain_exec(tc, workdir, 0, &out, 600);
  if (status) {
    sb_printf(err, "edgecc: error: the model program failed (status %d)%s%s", status, out.len ? ": " : "",
              out.len ? out.buf : "\n");
    sb_free(&out);
    return -1;
  }
  sb_free(&out);
  return read_outputs(workdir, outs, pool, err);
}

int tool_run(ToolArgs *a) {
  if (a->paths.len != 1 || !a->outdir) {
    fprintf(stderr, "edgecc: error: usage: edgecc run MODEL.onnx -i IN.pb ... -d OUTDIR\n");
    return 1;
  }
  const char *model = a->paths.items[0];
  Pool pool = {0};
  StrBuf err = {0};
  ModelSignature sig;
  int rc = 1;
  Toolchain tc = {0};
  char *workdir = NULL;
  if (!read_signature(model, &a->binds, &sig, &pool, &err))
    goto done;
  if (a->inputs.len != sig.ninputs) {
    sb_printf(&err, "edgecc: error: %s: the model has %d inputs, %d given with -i\n", model, sig.ninputs, a->inputs.len);
    goto done;
  }
  Datum *ins = pool_alloc(&pool, sizeof(Datum) * (size_t)(sig.ninputs + 1));
  for (int i = 0; i < sig.ninputs; i++)
    if (!read_datum(a->inputs.items[i], sig.input_kinds[i], &ins[i], &pool, &err))
      goto done;
  if (!toolchain_open(&tc, a, &err) || !(workdir = make_temp_dir("run")))
    goto done;
  if (bind_inputs_from_data(a->compiler, &sig, (const char **)a->inputs.items, ins, workdir, &err) < 0)
    goto done;
  Tensor *outs;
  bool unsupported;
  int count = compile_and_execute(a->compiler, &tc, model, workdir, &outs, &pool, &err, &unsupported);
  Datum *results = pool_alloc(&pool, sizeof(Datum) * (size_t)(sig.noutputs + 1));
  if (count < 0 || !group_outputs(&sig, outs, count, results, &err))
    goto done;
  mkdir(a->outdir, 0755);
  for (int i = 0; i < sig.noutputs; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/output_%d.pb", a->outdir, i);
    if (!write_datum(path, sig.output_names[i], &results[i])) {
      sb_printf(&err, "edgecc: error: cannot write '%s': %s\n", path, strerror(errno));
      goto done;
    }
    for (int k = 0; a->verbose && k < results[i].count; k++)
      printf("output %d '%s': %s %s\n", i, results[i].tensors[k].name, dtype_onnx_name(results[i].tensors[k].dtype),
             shape_str(&pool, &results[i].tensors[k].shape));
  }
  rc = 0;
done:
  if (err.len)
    fputs(err.buf, stderr);
  if (workdir) {
    remove_tree(workdir);
    free(workdir);
  }
  toolchain_close(&tc);
  sb_free(&err);
  pool_free(&pool);
  return rc;
}
