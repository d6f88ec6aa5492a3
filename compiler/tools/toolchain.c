// toolchain.c — the harness that runs compiled models for `run`, `check` and `bench`: its
// sources are embedded in edgecc, compiled once per session with the target's C compiler, and
// linked with each model object; programs for other architectures run under the target's
// emulator (qemu-user).
#include "tools.h"

#include <stdlib.h>
#include <string.h>

static bool write_embedded(const char *dir, const char *path) {
  const EmbeddedFile *f = embedded_find(path);
  if (!f)
    return false;
  const char *base = strrchr(path, '/') + 1;
  char out[4096];
  snprintf(out, sizeof out, "%s/%s", dir, base);
  FILE *fp = fopen(out, "wb");
  if (!fp)
    return false;
  bool ok = fwrite(f->data, 1, f->len, fp) == f->len;
  return fclose(fp) == 0 && ok;
}

static const char *runtime_sources[] = {"runtime/src/tensor.c", "runtime/src/text.c", "runtime/src/parallel.c",
                                        "runtime/harness/harness.c"};

// DIR/<base of SRC without .c>.o
static void object_path(char *out, size_t size, const char *dir, const char *src) {
  const char *base = strrchr(src, '/') + 1;
  snprintf(out, size, "%s/%.*s.o", dir, (int)(strlen(base) - 2), base);
}

static char **split_words(const char *s, int *argc) {
  char *copy = strdup(s);
  char **argv = calloc(strlen(s) / 2 + 2, sizeof(char *));
  int n = 0;
  for (char *tok = strtok(copy, " \t"); tok; tok = strtok(NULL, " \t"))
    argv[n++] = tok;
  *argc = n;
  if (!n)
    free(copy);
  return argv;
}

bool toolchain_open(Toolchain *tc, const ToolArgs *args, StrBuf *err) {
  *tc = (Toolchain){0};
  Compiler *cc = compiler_new();
  jmp_buf here;
  cc->bail = &here;
  bool ok = false;
  if (!setjmp(here)) {
    const Target *t = args->target_file ? target_load_file(cc, args->target_file)
                                        : target_lookup(cc, args->target_name ? args->target_name : "host");
    if (!t->cc || !*t->cc) {
      sb_printf(err, "edgecc: error: target '%s' has no toolchain to run programs with\n", t->name);
    } else {
      tc->cc = strdup(t->cc);
      if (*t->emulator) {
        tc->emulator = split_words(t->emulator, &tc->emulator_argc);
      }
      ok = true;
    }
  } else {
    sb_printf(err, "%s", cc->diag.buf ? cc->diag.buf : "");
  }
  compiler_free(cc);
  if (!ok)
    return false;
  tc->dir = make_temp_dir("harness");
  if (!tc->dir || !write_embedded(tc->dir, "runtime/include/edgecc_rt.h")) {
    sb_printf(err, "edgecc: error: cannot create a scratch folder\n");
    return false;
  }
  for (int i = 0; i < countof(runtime_sources); i++) {
    if (!write_embedded(tc->dir, runtime_sources[i]))
      return false;
    const char *base = strrchr(runtime_sources[i], '/') + 1;
    char src[4096], obj[4096];
    snprintf(src, sizeof src, "%s/%s", tc->dir, base);
    object_path(obj, sizeof obj, tc->dir, runtime_sources[i]);
    char *argv[] = {(char *)tc->cc, "-O2", "-c", "-I", tc->dir, src, "-o", obj, NULL};
    if (run_process(argv, err, 120) != 0) {
      sb_printf(err, "edgecc: error: cannot build the harness with '%s'\n", tc->cc);
      return false;
    }
  }
  return true;
}

void toolchain_close(Toolchain *tc) {
  if (tc->dir) {
    remove_tree(tc->dir);
    free(tc->dir);
  }
  free((void *)tc->cc);
  if (tc->emulator) {
    if (tc->emulator_argc)
      free(tc->emulator[0]);
    free(tc->emulator);
  }
  *tc = (Toolchain){0};
}

bool toolchain_link(Toolchain *tc, const char *workdir, const char *object, StrBuf *err) {
  char objs[countof(runtime_sources)][4096], prog[4096];
  char *argv[countof(runtime_sources) + 8];
  int n = 0;
  argv[n++] = (char *)tc->cc;
  argv[n++] = (char *)object;
  for (int i = 0; i < countof(runtime_sources); i++) {
    object_path(objs[i], sizeof objs[i], tc->dir, runtime_sources[i]);
    argv[n++] = objs[i];
  }
  snprintf(prog, sizeof prog, "%s/model", workdir);
  argv[n++] = "-lm";
  argv[n++] = "-lpthread";
  argv[n++] = "-o";
  argv[n++] = prog;
  argv[n] = NULL;
  return run_process(argv, err, 120) == 0;
}

int toolchain_exec(Toolchain *tc, const char *workdir, int iterations, StrBuf *out, int timeout) {
  char prog[4096], iters[32];
  snprintf(prog, sizeof prog, "%s/model", workdir);
  snprintf(iters, sizeof iters, "%d", iterations);
  char *argv[64];
  int n = 0;
  for (int i = 0; i < tc->emulator_argc && n < 60; i++)
    argv[n++] = tc->emulator[i];
  argv[n++] = prog;
  argv[n++] = (char *)workdir;
  argv[n++] = iters;
  argv[n] = NULL;
  return run_process(argv, out, timeout);
}
