/* harness.c — the generic driver `edgecc run` and `edgecc check` link with a compiled model
 * (built with --name model). Protocol, all files in DIR:
 *   reads  input_<i>.raw   raw row-major bytes of input i
 *   writes output_<i>.raw  raw bytes of output i (its actual size)
 *          outputs.txt     a line per output: element type, rank, actual dims, name
 * String tensors travel as their elements' bytes in row-major order, each followed by a NUL
 * (so elements cannot contain NUL bytes).
 * Usage: harness DIR [ITERATIONS]  — with ITERATIONS > 0 it also times the model and prints
 * "median_ns N" and "min_ns N".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgecc_rt.h"

extern const edgecc_model_info model_info;

static void *read_all(const char *path, size_t want) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "harness: cannot open %s\n", path);
    exit(2);
  }
  void *buf = calloc(1, want ? want : 1);
  size_t got = fread(buf, 1, want, f);
  fclose(f);
  if (got != want) {
    fprintf(stderr, "harness: %s has %zu bytes, expected %zu\n", path, got, want);
    exit(2);
  }
  return buf;
}

/* A string tensor of COUNT elements: the file's NUL-terminated strings, in place. */
static const char **read_strings(const char *path, int64_t count) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "harness: cannot open %s\n", path);
    exit(2);
  }
  size_t cap = 4096, len = 0, got;
  char *text = malloc(cap);
  while ((got = fread(text + len, 1, cap - len, f)) > 0)
    if ((len += got) == cap)
      text = realloc(text, cap *= 2);
  fclose(f);
  const char **strings = calloc((size_t)count + 1, sizeof(char *));
  size_t at = 0;
  int64_t n = 0;
  for (; n < count && at < len; n++) {
    const char *end = memchr(text + at, 0, len - at);
    if (!end)
      break;
    strings[n] = text + at;
    at = (size_t)(end - text) + 1;
  }
  if (n != count || at != len) {
    fprintf(stderr, "harness: %s does not hold %lld NUL-terminated strings\n", path, (long long)count);
    exit(2);
  }
  return strings;
}

static void write_all(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, len, f) != len) {
    fprintf(stderr, "harness: cannot write %s\n", path);
    exit(2);
  }
  fclose(f);
}

static void write_strings(const char *path, const void *strings, int64_t count) {
  FILE *f = fopen(path, "wb");
  bool ok = f != NULL;
  for (int64_t i = 0; ok && i < count; i++) {
    const char *s = ((const char *const *)strings)[i];
    ok = fwrite(s, 1, strlen(s) + 1, f) == strlen(s) + 1;
  }
  if (!ok || fclose(f)) {
    fprintf(stderr, "harness: cannot write %s\n", path);
    exit(2);
  }
}

static int cmp_i64(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: harness DIR [ITERATIONS]\n");
    return 2;
  }
  const edgecc_model_info *m = &model_info;
  char path[4096];
  const void **inputs = calloc((size_t)m->num_inputs + 1, sizeof(void *));
  void **outputs = calloc((size_t)m->num_outputs + 1, sizeof(void *));
  for (int i = 0; i < m->num_inputs; i++) {
    snprintf(path, sizeof path, "%s/input_%d.raw", argv[1], i);
    if (m->inputs[i].dtype == EDGECC_STRING)
      inputs[i] = read_strings(path, edgecc_tensor_numel(&m->inputs[i]));
    else
      inputs[i] = read_all(path, edgecc_tensor_bytes(&m->inputs[i]));
  }
  int total_rank = 0;
  for (int i = 0; i < m->num_outputs; i++) {
    size_t bytes = edgecc_tensor_bytes(&m->outputs[i]);
    outputs[i] = calloc(1, bytes ? bytes : 1);
    total_rank += m->outputs[i].rank;
  }
  int64_t *dims = calloc((size_t)total_rank + 1, sizeof(int64_t));
  void *arena = NULL;
  size_t align = m->arena_align < sizeof(void *) ? sizeof(void *) : m->arena_align;
  if (posix_memalign(&arena, align, m->arena_size ? m->arena_size : 1)) {
    fprintf(stderr, "harness: cannot allocate the arena\n");
    return 2;
  }
  int status = m->run(inputs, outputs, arena, dims);
  if (status) {
    static const char *const meanings[] = {"", " (EDGECC_ERROR_ARENA)", " (EDGECC_ERROR_STRING)",
                                           " (EDGECC_ERROR_BRANCH: an If took a branch that cannot run with the compiled shapes)"};
    fprintf(stderr, "harness: the model returned status %d%s\n", status,
            status > 0 && status < (int)(sizeof meanings / sizeof *meanings) ? meanings[status] : "");
    return 3;
  }
  int iterations = argc > 2 ? atoi(argv[2]) : 0;
  if (iterations > 0) {
    long long *t = calloc((size_t)iterations, sizeof *t);
    for (int i = 0; i < iterations; i++) {
      long long t0 = now_ns();
      m->run(inputs, outputs, arena, NULL);
      t[i] = now_ns() - t0;
    }
    qsort(t, (size_t)iterations, sizeof *t, cmp_i64);
    printf("median_ns %lld\nmin_ns %lld\n", t[iterations / 2], t[0]);
  }
  snprintf(path, sizeof path, "%s/outputs.txt", argv[1]);
  FILE *list = fopen(path, "w");
  if (!list) {
    fprintf(stderr, "harness: cannot write %s\n", path);
    return 2;
  }
  int pos = 0;
  for (int i = 0; i < m->num_outputs; i++) {
    int64_t numel = 1;
    fprintf(list, "%d %d", (int)m->outputs[i].dtype, (int)m->outputs[i].rank);
    for (int d = 0; d < m->outputs[i].rank; d++) {
      numel *= dims[pos + d];
      fprintf(list, " %lld", (long long)dims[pos + d]);
    }
    fprintf(list, " %s\n", m->outputs[i].name);
    pos += m->outputs[i].rank;
    snprintf(path, sizeof path, "%s/output_%d.raw", argv[1], i);
    if (m->outputs[i].dtype == EDGECC_STRING)
      write_strings(path, outputs[i], numel);
    else
      write_all(path, outputs[i], (size_t)numel * edgecc_dtype_size(m->outputs[i].dtype));
  }
  return fclose(list) == 0 ? 0 : 2;
}
