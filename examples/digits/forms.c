/* forms.c — the digit classifier in every form edgecc compiles it to (docs/quantization.md):
 * float32; the int8 QDQ model a quantization tool wrote (compress.py); int8 by edgecc's own
 * --quantize with calibration; int4 weights (--weights int4); the block-pruned model (sparse
 * kernel). For each: object size, arena, accuracy on the held-out digits, latency.
 *
 *   digits_forms NAME=OBJECT.o[:MIN_CORRECT] ...
 *
 * The arguments name the forms (in the order linked below) and their object files; with a
 * minimum count of correctly classified digits, the exit status is 1 when a form falls
 * below it.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, stat */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "digits.h"
#include "digits_int4.h"
#include "digits_int8.h"
#include "digits_pruned.h"
#include "digits_qdq.h"
#include "digits_test.h"

static const edgecc_model_info *const forms[] = {&digits_info, &digits_qdq_info, &digits_int8_info, &digits_int4_info,
                                                 &digits_pruned_info};
#define FORMS (int)(sizeof forms / sizeof forms[0])

static _Alignas(64) unsigned char arena[1 << 16];

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

/* Digits classified correctly out of the held-out ones, and the median latency of one
 * inference. */
static int evaluate(const edgecc_model_info *m, double *latency_us) {
  enum { ROUNDS = 31 };
  long long t[ROUNDS];
  int correct = 0;
  for (int r = 0; r < ROUNDS; r++) {
    long long t0 = now_ns();
    for (int i = 0; i < DIGITS_TEST_COUNT; i++) {
      float pixels[64], probabilities[10];
      for (int j = 0; j < 64; j++)
        pixels[j] = digits_test_pixels[i][j];
      const void *inputs[] = {pixels};
      void *outputs[] = {probabilities};
      m->run(inputs, outputs, arena, NULL);
      if (r == 0) {
        int best = 0;
        for (int k = 1; k < 10; k++)
          best = probabilities[k] > probabilities[best] ? k : best;
        correct += best == digits_test_labels[i];
      }
    }
    t[r] = now_ns() - t0;
  }
  qsort(t, ROUNDS, sizeof t[0], cmp);
  *latency_us = t[ROUNDS / 2] / 1e3 / DIGITS_TEST_COUNT;
  return correct;
}

int main(int argc, char **argv) {
  if (argc != FORMS + 1) {
    fprintf(stderr, "usage: digits_forms NAME=OBJECT.o[:MIN_CORRECT] (one per form: %d)\n", FORMS);
    return 2;
  }
  int failed = 0;
  double float_us = 0;
  printf("%-8s %12s %10s %10s %12s\n", "form", "object B", "arena B", "accuracy", "latency us");
  for (int f = 0; f < FORMS; f++) {
    char *arg = argv[f + 1], *eq = strchr(arg, '='), *colon = strrchr(arg, ':');
    if (!eq || forms[f]->arena_size > sizeof arena) {
      fprintf(stderr, "digits_forms: bad argument '%s' or arena too small\n", arg);
      return 2;
    }
    *eq = 0;
    int min_correct = colon && colon > eq ? atoi(colon + 1) : 0;
    if (colon && colon > eq)
      *colon = 0;
    struct stat st;
    long long size = stat(eq + 1, &st) ? -1 : (long long)st.st_size;
    double us;
    int correct = evaluate(forms[f], &us);
    double acc = (double)correct / DIGITS_TEST_COUNT;
    if (f == 0)
      float_us = us;
    printf("%-8s %12lld %10zu %10.4f %12.3f  (%.2fx the float latency)\n", arg, size, forms[f]->arena_size, acc, us,
           us / float_us);
    if (correct < min_correct) {
      printf("FAIL %s: %d digits right, fewer than %d\n", arg, correct, min_correct);
      failed = 1;
    }
  }
  return failed;
}
