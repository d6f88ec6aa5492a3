// control.c — control flow: If (inlined by inference when its condition is a compile-time
// constant).
#include "../compiler.h"
#include "ops.h"

void infer_If(Compiler *cc, Node *n) {
  fatal_at(cc, n, "the condition must be known at compile time (run-time If is not supported)");
}
