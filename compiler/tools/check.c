// check.c — `edgecc check DIR...`: runs ONNX backend-test folders (model.onnx,
// test_data_set_*/input_N.pb and output_N.pb) through the compiler, the harness and the
// target, compares with the expected outputs, and prints PASS / FAIL / UNSUPPORTED per test
// and a summary. Tests run in child processes, several at a time.
#include "tools.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int compile_and_execute(edgecc_compiler_ref c, Toolchain *tc, const char *model, const char *workdir,
                        Tensor **outs, Pool *pool, StrBuf *err, bool *unsupported);

typedef enum { RESULT_PASS, RESULT_FAIL, RESULT_UNSUPPORTED } Result;

// Floats pass within atol + rtol*|expected|: by default 1e-5 + 1e-3*|expected| as the peers
// compare (bfloat16, which keeps 8 significant bits, within 2^-7 of the value: one unit in its
// last place).
typedef struct {
  double atol, rtol;
  bool given;
} FloatTolerance;

static bool close_enough(DType dt, double got, double exp, const FloatTolerance *tol) {
  if (isnan(exp))
    return isnan(got);
  if (isinf(exp))
    return got == exp;
  if (tol->given)
    return fabs(got - exp) <= tol->atol + tol->rtol * fabs(exp);
  return fabs(got - exp) <= 1e-5 + (dt == DT_BF16 ? 0x1p-7 : 1e-3) * fabs(exp);
}

// A test folder may hold a file `int_tolerance` with N: its integer outputs then pass within N
// of the expected values (quantized models whose reference computes in float: the integer
// kernels requantize with fixed-point multipliers, one quantization step away at near-ties).
static int64_t int_tolerance(const char *test_dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/int_tolerance", test_dir);
  FILE *f = fopen(path, "r");
  long long n = 0;
  if (f) {
    if (fscanf(f, "%lld", &n) != 1 || n < 0)
      n = 0;
    fclose(f);
  }
  return n;
}

// And a file `float_tolerance` with ATOL RTOL: its float outputs then pass within
// ATOL + RTOL*|expected| (tests holding a kernel to a tighter bound than the default, such
// as long sums against float64).
static FloatTolerance float_tolerance(const char *test_dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/float_tolerance", test_dir);
  FILE *f = fopen(path, "r");
  FloatTolerance t = {0};
  if (f) {
    t.given = fscanf(f, "%lf %lf", &t.atol, &t.rtol) == 2 && t.atol >= 0 && t.rtol >= 0;
    fclose(f);
  }
  return t;
}

// Compares floats within FLOAT_TOL, everything else exactly (or within INT_TOL).
static bool compare(const Tensor *got, const Tensor *exp, int index, const char *name, int64_t int_tol,
                    const FloatTolerance *float_tol, StrBuf *msg, Pool *p) {
  if (got->dtype != exp->dtype) {
    sb_printf(msg, "output %d ('%s'): type %s, expected %s", index, name, dtype_onnx_name(got->dtype),
              dtype_onnx_name(exp->dtype));
    return false;
  }
  if (!shape_eq(&got->shape, &exp->shape)) {
    sb_printf(msg, "output %d ('%s'): shape %s, expected %s", index, name, shape_str(p, &got->shape),
              shape_str(p, &exp->shape));
    return false;
  }
  int64_t n = shape_numel(&exp->shape);
  for (int64_t i = 0; i < n; i++) {
    bool ok;
    if (exp->dtype == DT_STRING)
      ok = !strcmp(((char **)got->data)[i], ((char **)exp->data)[i]);
    else if (dtype_is_float(exp->dtype))
      ok = close_enough(exp->dtype, dtype_get(got->dtype, got->data, i), dtype_get(exp->dtype, exp->data, i), float_tol);
    else
      ok = llabs(dtype_get_int(got->dtype, got->data, i) - dtype_get_int(exp->dtype, exp->data, i)) <= int_tol;
    if (!ok && exp->dtype == DT_STRING) {
      sb_printf(msg, "output %d ('%s') element %lld: got \"%s\", expected \"%s\"", index, name, (long long)i,
                ((char **)got->data)[i], ((char **)exp->data)[i]);
      return false;
    }
    if (!ok) {
      sb_printf(msg, "output %d ('%s') element %lld: got %.9g, expected %.9g", index, name, (long long)i,
                dtype_get(got->dtype, got->data, i), dtype_get(exp->dtype, exp->data, i));
      return false;
    }
  }
  return true;
}

static int count_files(const char *dir, const char *prefix) {
  int n = 0;
  char path[4096];
  for (;; n++) {
    snprintf(path, sizeof path, "%s/%s%d.pb", dir, prefix, n);
    if (access(path, R_OK))
      return n;
  }
}

static Result run_data_set(const ToolArgs *a, Toolchain *tc, const char *model, const char *set,
                           const ModelSignature *sig, StrBuf *msg, Pool *pool) {
  int nin = count_files(set, "input_"), nout = count_files(set, "output_");
  if (nin != sig->ninputs || nout != sig->noutputs) {
    sb_printf(msg, "the data set has %d inputs and %d outputs, the model %d and %d", nin, nout, sig->ninputs, sig->noutputs);
    return RESULT_FAIL;
  }
  const char **paths = pool_alloc(pool, sizeof(char *) * (size_t)(nin + 1));
  Datum *ins = pool_alloc(pool, sizeof(Datum) * (size_t)(nin + 1));
  Datum *exp = pool_alloc(pool, sizeof(Datum) * (size_t)(nout + 1));
  for (int i = 0; i < nin; i++) {
    paths[i] = pool_printf(pool, "%s/input_%d.pb", set, i);
    if (!read_datum(paths[i], sig->input_kinds[i], &ins[i], pool, msg))
      return RESULT_FAIL;
  }
  // Expected sequences and optionals are compared member by member, in order.
  int nexp = 0;
  for (int i = 0; i < nout; i++) {
    if (!read_datum(pool_printf(pool, "%s/output_%d.pb", set, i), sig->output_kinds[i], &exp[i], pool, msg))
      return RESULT_FAIL;
    nexp += exp[i].count;
  }
  int64_t int_tol = int_tolerance(path_dirname(pool, model));
  FloatTolerance float_tol = float_tolerance(path_dirname(pool, model));
  char *workdir = make_temp_dir("check");
  edgecc_compiler_ref c = edgecc_compiler_create();
  if (a->target_file)
    edgecc_set_target_file(c, a->target_file);
  else if (a->target_name)
    edgecc_set_target(c, a->target_name);
  edgecc_set_threads(c, edgecc_options(a->compiler)->threads);
  edgecc_set_conv_algo(c, (edgecc_conv_algo)edgecc_options(a->compiler)->conv_algo);
  for (int i = 0; i < a->binds.len; i++) {
    const ValueBinding *vb = a->binds.items[i];
    if (vb->values)
      edgecc_bind_values(c, vb->input, vb->values);
    else
      edgecc_bind_value(c, vb->input, vb->path);
  }
  Result r = RESULT_FAIL;
  bool unsupported = false;
  Tensor *got;
  int ngot;
  if (bind_inputs_from_data(c, sig, paths, ins, workdir, msg) >= 0 &&
      (ngot = compile_and_execute(c, tc, model, workdir, &got, pool, msg, &unsupported)) >= 0) {
    r = RESULT_PASS;
    if (ngot != nexp) {
      sb_printf(msg, "the compiled model has %d output tensors, the expected outputs %d", ngot, nexp);
      r = RESULT_FAIL;
    }
    for (int i = 0, k = 0; i < nout && r == RESULT_PASS; i++)
      for (int j = 0; j < exp[i].count && r == RESULT_PASS; j++, k++)
        if (!compare(&got[k], &exp[i].tensors[j], i, sig->output_names[i], int_tol, &float_tol, msg, pool))
          r = RESULT_FAIL;
  } else if (unsupported) {
    r = RESULT_UNSUPPORTED;
  }
  edgecc_compiler_dispose(c);
  remove_tree(workdir);
  free(workdir);
  return r;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// The data sets of a test, sorted: test_data_set_0, test_data_set_1, ...
static int data_sets(const char *dir, char ***out) {
  DIR *d = opendir(dir);
  if (!d)
    return 0;
  int n = 0, cap = 8;
  char **sets = malloc(sizeof(char *) * (size_t)cap);
  for (struct dirent *e; (e = readdir(d));)
    if (!strncmp(e->d_name, "test_data_set_", 14)) {
      if (n == cap)
        sets = realloc(sets, sizeof(char *) * (size_t)(cap *= 2));
      size_t len = strlen(dir) + strlen(e->d_name) + 2;
      sets[n] = malloc(len);
      snprintf(sets[n++], len, "%s/%s", dir, e->d_name);
    }
  closedir(d);
  qsort(sets, (size_t)n, sizeof *sets, by_name);
  *out = sets;
  return n;
}

static Result check_test(const ToolArgs *a, Toolchain *tc, const char *dir, StrBuf *msg) {
  Pool pool = {0};
  char *model = pool_printf(&pool, "%s/model.onnx", dir);
  ModelSignature sig;
  Result r = RESULT_FAIL;
  if (!read_signature(model, &a->binds, &sig, &pool, msg)) {
    pool_free(&pool);
    return r;
  }
  char **sets;
  int nsets = data_sets(dir, &sets);
  if (!nsets)
    sb_printf(msg, "no test_data_set_* folders");
  for (int i = 0; i < nsets; i++) {
    if (i == 0 || r == RESULT_PASS)
      r = run_data_set(a, tc, model, sets[i], &sig, msg, &pool);
    free(sets[i]);
  }
  if (nsets)
    free(sets);
  pool_free(&pool);
  return r;
}

static const char *base_name(const char *path) {
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/')
    n--;
  const char *s = path + n;
  while (s > path && s[-1] != '/')
    s--;
  return s;
}

// One child process per test: a crash or a hang in one test cannot take the others down.
typedef struct {
  pid_t pid;
  char *file; // where the child writes its result line
} Job;

static void child(const ToolArgs *a, Toolchain *tc, const char *dir, const char *file) {
  StrBuf msg = {0};
  Result r = check_test(a, tc, dir, &msg);
  FILE *f = fopen(file, "w");
  static const char *names[] = {"PASS", "FAIL", "UNSUPPORTED"};
  // One line: diagnostics may span several, keep the first meaningful one.
  char *text = msg.buf ? msg.buf : "";
  while (*text == '\n')
    text++;
  char *nl = strchr(text, '\n');
  if (nl)
    *nl = 0;
  fprintf(f, "%s %s%s%s\n", names[r], base_name(dir), *text ? ": " : "", text);
  fclose(f);
  _exit(0);
}

int tool_check(ToolArgs *a) {
  if (!a->paths.len) {
    fprintf(stderr, "edgecc: error: usage: edgecc check [-target T] [-j N] DIR...\n");
    return 1;
  }
  StrBuf err = {0};
  Toolchain tc;
  if (!toolchain_open(&tc, a, &err)) {
    fputs(err.buf ? err.buf : "edgecc: error: no toolchain\n", stderr);
    sb_free(&err);
    return 1;
  }
  char *scratch = make_temp_dir("results");
  int ntests = a->paths.len, jobs = a->jobs > 0 ? a->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
  Job *job = calloc((size_t)ntests, sizeof(Job));
  int next = 0, printed = 0, running = 0, pass = 0, fail = 0, unsup = 0;
  while (printed < ntests) {
    while (running < jobs && next < ntests) {
      size_t len = strlen(scratch) + 32;
      job[next].file = malloc(len);
      snprintf(job[next].file, len, "%s/%d.txt", scratch, next);
      fflush(stdout);
      pid_t pid = fork();
      if (pid == 0)
        child(a, &tc, a->paths.items[next], job[next].file);
      job[next++].pid = pid;
      running++;
    }
    int status;
    pid_t done = wait(&status);
    if (done > 0) {
      running--;
      for (int i = 0; i < next; i++)
        if (job[i].pid == done)
          job[i].pid = -status - 1; // finished; keep how
    }
    while (printed < next && job[printed].pid < 0) {
      Job *j = &job[printed];
      char line[8192] = "";
      FILE *f = fopen(j->file, "r");
      if (!f || !fgets(line, sizeof line, f))
        snprintf(line, sizeof line, "FAIL %s: the checker crashed (status %d)\n", base_name(a->paths.items[printed]),
                 -j->pid - 1);
      if (f)
        fclose(f);
      fputs(line, stdout);
      pass += !strncmp(line, "PASS", 4);
      unsup += !strncmp(line, "UNSUPPORTED", 11);
      fail += !strncmp(line, "FAIL", 4);
      free(j->file);
      printed++;
    }
  }
  printf("%d passed, %d failed (%d of them unsupported)\n", pass, fail + unsup, unsup);
  free(job);
  remove_tree(scratch);
  free(scratch);
  toolchain_close(&tc);
  sb_free(&err);
  return fail + unsup ? 1 : 0;
}
