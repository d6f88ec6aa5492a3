// map.c — string-keyed hash map (open addressing), used for name lookups while loading.
#include "../compiler.h"

#include <string.h>

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603ull; // FNV-1a
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static void map_grow(Pool *p, StrMap *m) {
  StrMap old = *m;
  m->cap = old.cap ? old.cap * 2 : 64;
  m->keys = pool_alloc(p, sizeof(char *) * (size_t)m->cap);
  m->vals = pool_alloc(p, sizeof(void *) * (size_t)m->cap);
  m->len = 0;
  for (int i = 0; i < old.cap; i++)
    if (old.keys[i])
      map_put(p, m, old.keys[i], old.vals[i]);
}

void map_put(Pool *p, StrMap *m, const char *key, void *val) {
  if (2 * (m->len + 1) > m->cap)
    map_grow(p, m);
  for (uint64_t i = hash(key) & (uint64_t)(m->cap - 1);; i = (i + 1) & (uint64_t)(m->cap - 1)) {
    if (!m->keys[i]) {
      m->keys[i] = key;
      m->vals[i] = val;
      m->len++;
      return;
    }
    if (!strcmp(m->keys[i], key)) {
      m->vals[i] = val;
      return;
    }
  }
}

void *map_get(const StrMap *m, const char *key) {
  if (!m->cap)
    return NULL;
  for (uint64_t i = hash(key) & (uint64_t)(m->cap - 1); m->keys[i]; i = (i + 1) & (uint64_t)(m->cap - 1))
    if (!strcmp(m->keys[i], key))
      return m->vals[i];
  return NULL;
}
