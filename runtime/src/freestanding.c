/* freestanding.c — the memory functions generated code calls, for bare-metal targets where
 * no C library may be linked: memcpy, memmove, memset and their ARM EABI names. They are
 * weak, so an application's own C library takes precedence. Built only for bare metal. */
#include <stddef.h>
#include <stdint.h>

#define WEAK __attribute__((weak))

WEAK void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  while (n--)
    *d++ = *s++;
  return dst;
}

WEAK void *memmove(void *dst, const void *src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  if (d < s)
    while (n--)
      *d++ = *s++;
  else
    while (n--)
      d[n] = s[n];
  return dst;
}

WEAK void *memset(void *dst, int c, size_t n) {
  unsigned char *d = dst;
  while (n--)
    *d++ = (unsigned char)c;
  return dst;
}

#if defined(__ARM_EABI__)
/* The run-time ABI for the Arm architecture names its own entry points (note the argument
 * order of __aeabi_memset). */
WEAK void __aeabi_memcpy(void *d, const void *s, size_t n) { memcpy(d, s, n); }
WEAK void __aeabi_memcpy4(void *d, const void *s, size_t n) { memcpy(d, s, n); }
WEAK void __aeabi_memcpy8(void *d, const void *s, size_t n) { memcpy(d, s, n); }
WEAK void __aeabi_memmove(void *d, const void *s, size_t n) { memmove(d, s, n); }
WEAK void __aeabi_memmove4(void *d, const void *s, size_t n) { memmove(d, s, n); }
WEAK void __aeabi_memmove8(void *d, const void *s, size_t n) { memmove(d, s, n); }
WEAK void __aeabi_memset(void *d, size_t n, int c) { memset(d, c, n); }
WEAK void __aeabi_memset4(void *d, size_t n, int c) { memset(d, c, n); }
WEAK void __aeabi_memset8(void *d, size_t n, int c) { memset(d, c, n); }
WEAK void __aeabi_memclr(void *d, size_t n) { memset(d, 0, n); }
WEAK void __aeabi_memclr4(void *d, size_t n) { memset(d, 0, n); }
WEAK void __aeabi_memclr8(void *d, size_t n) { memset(d, 0, n); }
#endif
