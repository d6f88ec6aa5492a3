// pool.c — a bump allocator: every IR object of a compilation lives here and is freed at once,
// which is what makes bailing out of the pipeline with longjmp leak-free.
#include "../compiler.h"

#include <stdlib.h>
#include <string.h>

struct PoolBlock {
  PoolBlock *next;
  size_t used, size;
  _Alignas(16) unsigned char data[];
};

enum { POOL_BLOCK = 1 << 16 };

void *pool_alloc(Pool *p, size_t n) {
  n = (n + 15) & ~(size_t)15;
  PoolBlock *b = p->head;
  if (!b || b->used + n > b->size) {
    size_t size = n > POOL_BLOCK ? n : POOL_BLOCK;
    b = malloc(sizeof(PoolBlock) + size);
    if (!b) {
      fprintf(stderr, "edgecc: error: out of memory\n");
      exit(1);
    }
    b->used = 0;
    b->size = size;
    // A big allocation gets its own block behind the current one, so the current
    // block keeps serving small requests.
    if (p->head && n > POOL_BLOCK) {
      b->next = p->head->next;
      p->head->next = b;
    } else {
      b->next = p->head;
      p->head = b;
    }
  }
  void *r = b->data + b->used;
  b->used += n;
  memset(r, 0, n);
  return r;
}

void *pool_dup(Pool *p, const void *src, size_t n) {
  void *r = pool_alloc(p, n);
  if (n)
    memcpy(r, src, n);
  return r;
}

char *pool_strdup(Pool *p, const char *s) { return pool_dup(p, s, strlen(s) + 1); }

char *pool_printf(Pool *p, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *r = pool_alloc(p, (size_t)n + 1);
  vsnprintf(r, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return r;
}

void pool_free(Pool *p) {
  for (PoolBlock *b = p->head, *next; b; b = next) {
    next = b->next;
    free(b);
  }
  p->head = NULL;
}

void vec_push(Pool *p, PtrVec *v, void *item) {
  if (v->len == v->cap) {
    int cap = v->cap ? v->cap * 2 : 8;
    void **items = pool_alloc(p, sizeof(void *) * (size_t)cap);
    if (v->len)
      memcpy(items, v->items, sizeof(void *) * (size_t)v->len);
    v->items = items;
    v->cap = cap;
  }
  v->items[v->len++] = item;
}

void sb_vprintf(StrBuf *sb, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (sb->len + (size_t)n + 1 > sb->cap) {
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + (size_t)n + 1)
      cap *= 2;
    char *buf = realloc(sb->buf, cap);
    if (!buf) {
      fprintf(stderr, "edgecc: error: out of memory\n");
      exit(1);
    }
    sb->buf = buf;
    sb->cap = cap;
  }
  vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
  sb->len += (size_t)n;
}

void sb_printf(StrBuf *sb, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sb_vprintf(sb, fmt, ap);
  va_end(ap);
}

void sb_free(StrBuf *sb) {
  free(sb->buf);
  *sb = (StrBuf){0};
}
