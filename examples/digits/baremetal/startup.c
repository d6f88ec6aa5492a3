/* startup.c — reset for the bare-metal digits demo on an Arm Cortex-M board (the test runs
 * it on qemu's mps2-an386, a Cortex-M4). Enables the FPU, then enters newlib's _start, which
 * clears .bss, sets up semihosting for printf and calls main. */
#include <stdint.h>

extern void _start(void);
extern uint32_t __stack_top;

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88)

void reset_handler(void) {
  SCB_CPACR |= 0xFu << 20; /* CP10 and CP11: full access to the FPU */
  __asm volatile("dsb\n isb");
  _start();
}

static void hang(void) {
  for (;;)
    ;
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))&__stack_top, reset_handler, hang, hang, hang, hang, hang, 0, 0, 0, 0, hang, hang, 0, hang, hang};
