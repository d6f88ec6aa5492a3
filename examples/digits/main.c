/* main.c — the edgecc example: classify the held-out handwritten digits with the compiled
 * model and print the accuracy. The model code is digits.o + digits.h, produced by
 *   edgecc digits.onnx --dim batch=1 -o digits.o
 * and linked with the runtime:  cc main.c digits.o -ledgecc_rt -lm
 */
#include <stdio.h>

#include "digits.h"
#include "digits_test.h"

/* The one block of memory inference uses: its size is known at compile time. */
static _Alignas(DIGITS_ARENA_ALIGN) unsigned char arena[DIGITS_ARENA_SIZE > 0 ? DIGITS_ARENA_SIZE : 1];

static int argmax(const float *p, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (p[i] > p[best])
      best = i;
  return best;
}

int main(void) {
  int correct = 0;
  char predictions[DIGITS_TEST_COUNT + 1];
  for (int i = 0; i < DIGITS_TEST_COUNT; i++) {
    float pixels[1][64], probabilities[1][10];
    for (int j = 0; j < 64; j++)
      pixels[0][j] = digits_test_pixels[i][j];
    if (digits_infer(pixels, probabilities, arena) != EDGECC_OK) {
      fprintf(stderr, "inference failed\n");
      return 1;
    }
    int predicted = argmax(probabilities[0], 10);
    predictions[i] = (char)('0' + predicted);
    correct += predicted == digits_test_labels[i];
    if (i < 8)
      printf("digit %d: label %d, predicted %d (p=%.3f)\n", i, digits_test_labels[i], predicted,
             (double)probabilities[0][predicted]);
  }
  predictions[DIGITS_TEST_COUNT] = 0;
  printf("predictions: %s\n", predictions); /* compared across targets by the tests */
  printf("accuracy on held-out digits: %.4f (%d/%d)\n", (double)correct / DIGITS_TEST_COUNT, correct,
         DIGITS_TEST_COUNT);
  printf("arena: %d bytes\n", (int)DIGITS_ARENA_SIZE);
  return 0;
}
