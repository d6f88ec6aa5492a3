/* text_main.c — runs tests/cross/text_model.py's model (compiled as text.o + text.h) on fixed
 * inputs and prints every output exactly (floats as their bits), for text.sh to compare
 * between the host and each target. */
#include <stdio.h>
#include <string.h>

#include "text.h"

static _Alignas(TEXT_ARENA_ALIGN) unsigned char arena[TEXT_ARENA_SIZE > 0 ? TEXT_ARENA_SIZE : 1];

static unsigned long long bits64(double d) {
  unsigned long long u;
  memcpy(&u, &d, sizeof u);
  return u;
}

static unsigned long bits32(float f) {
  unsigned int u;
  memcpy(&u, &f, sizeof u);
  return u;
}

int main(void) {
  const char *words[6] = {"The", "cat", "été", "sat", "a", "Cat"};
  const float x[6] = {0.1f, -1234.5f, 1e-7f, 3.4028235e38f, 16777216.0f, -0.0f};
  const char *numbers[4] = {"0.47892547", "-INF", "1e-40", "NaN"};
  const char *kept[6], *x_text[6];
  float counts[4], parsed[4];
  bool is_cat[6];
  double x_back[6];
  int64_t dims[TEXT_OUTPUT_DIMS];
  int status = text_infer(words, x, numbers, kept, counts, is_cat, x_text, x_back, parsed, arena, dims);
  printf("status %d\nkept", status);
  for (int i = 0; i < dims[0]; i++)
    printf(" [%s]%s", kept[i], is_cat[i] ? "=CAT" : "");
  printf("\ncounts");
  for (int i = 0; i < 4; i++)
    printf(" %08lx", bits32(counts[i]));
  printf("\nx");
  for (int i = 0; i < 6; i++)
    printf(" %s=%016llx", x_text[i], bits64(x_back[i]));
  printf("\nparsed");
  for (int i = 0; i < 4; i++)
    printf(" %08lx", bits32(parsed[i]));
  printf("\n");
  return status;
}
