// run.c — `edgecc run`: compile a model for a target, run it on input tensors through the
// generic harness (under the target's emulator), and write the outputs as TensorProto files.
#include "tools.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

// Binds each model input from its tensor: shape-like inputs by value, the rest by shape.
// Returns the number of run-time inputs written as raw files into WORKDIR.
int bind_inputs_from_tensors(edgecc_compiler_ref c, const ModelSignature *sig, const char **paths,
                             const Tensor *ts, const char *workdir) {
  int runtime = 0;
  for (int i = 0; i < sig->ninputs; i++) {
    if (sig->shape_only[i]) {
      edgecc_bind_value(c, sig->input_names[i], paths[i]);
      continue;
    }
    edgecc_bind_shape(c, sig->input_names[i], ts[i].shape.rank, ts[i].shape.dim);
    char raw[4096];
    snprintf(raw, sizeof raw, "%s/input_%d.raw", workdir, runtime++);
    if (!write_raw(raw, &ts[i]))
      return -1;
  }
  return runtime;
}

// Compiles MODEL with C into WORKDIR/model.o, links and runs it. On failure ERR says why and
// *unsupported tells whether the compiler found an unsupported feature.
bool compile_and_execute(edgecc_compiler_ref c, Toolchain *tc, const char *model, const char *workdir,
                         int noutputs, Tensor *outs, Pool *pool, StrBuf *err, bool *unsupported) {
  char obj[4096];
  snprintf(obj, sizeof obj, "%s/model.o", workdir);
  edgecc_set_name(c, "model");
  *unsupported = false;
  if (edgecc_compile(c, model, EDGECC_EMIT_OBJECT, obj, NULL)) {
    sb_printf(err, "%s", edgecc_diagnostics(c));
    *unsupported = edgecc_last_failure_unsupported(c);
    return false;
  }
  if (!toolchain_link(tc, workdir, obj, err)) {
    sb_printf(err, "edgecc: error: linking the harness failed\n");
    return false;
  }
  StrBuf out = {0};
  int status = toolchain_exec(tc, workdir, 0, &out, 600);
  if (status) {
    sb_printf(err, "edgecc: error: the model program failed (status %d)%s%s", status, out.len ? ": " : "",
              out.len ? out.buf : "\n");
    sb_free(&out);
    return false;
  }
  sb_free(&out);
  return read_outputs(workdir, noutputs, outs, pool, err);
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
  if (!read_signature(model, &sig, &pool, &err))
    goto done;
  if (a->inputs.len != sig.ninputs) {
    sb_printf(&err, "edgecc: error: %s: the model has %d inputs, %d given with -i\n", model, sig.ninputs, a->inputs.len);
    goto done;
  }
  Tensor *ts = pool_alloc(&pool, sizeof(Tensor) * (size_t)(sig.ninputs + 1));
  for (int i = 0; i < sig.ninputs; i++)
    if (!read_tensor(a->inputs.items[i], &ts[i], &pool, &err))
      goto done;
  if (!toolchain_open(&tc, a, &err) || !(workdir = make_temp_dir("run")))
    goto done;
  if (bind_inputs_from_tensors(a->compiler, &sig, (const char **)a->inputs.items, ts, workdir) < 0) {
    sb_printf(&err, "edgecc: error: cannot write to %s\n", workdir);
    goto done;
  }
  Tensor *outs = pool_alloc(&pool, sizeof(Tensor) * (size_t)(sig.noutputs + 1));
  bool unsupported;
  if (!compile_and_execute(a->compiler, &tc, model, workdir, sig.noutputs, outs, &pool, &err, &unsupported))
    goto done;
  mkdir(a->outdir, 0755);
  for (int i = 0; i < sig.noutputs; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/output_%d.pb", a->outdir, i);
    if (!tensor_write_file(path, sig.output_names[i], outs[i].dtype, &outs[i].shape, outs[i].data)) {
      sb_printf(&err, "edgecc: error: cannot write '%s': %s\n", path, strerror(errno));
      goto done;
    }
    if (a->verbose)
      printf("output %d '%s': %s %s\n", i, sig.output_names[i], dtype_onnx_name(outs[i].dtype),
             shape_str(&pool, &outs[i].shape));
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
