// unit.h — helpers shared by the unit tests (Check).
#ifndef EDGECC_UNIT_H
#define EDGECC_UNIT_H

#include <check.h>
#include <string.h>

#include "compiler.h"

// Runs BODY with a fresh compiler whose fatal errors land back here; *failed tells whether
// the pipeline bailed out. The compiler is returned for inspection and freed by the caller.
#define WITH_COMPILER(cc, failed, body)  \
  do {                                   \
    jmp_buf here_;                       \
    (cc)->bail = &here_;                 \
    *(failed) = true;                    \
    if (!setjmp(here_)) {                \
      body;                              \
      *(failed) = false;                 \
    }                                    \
  } while (0)

Suite *dtype_suite(void);
Suite *graph_suite(void);
Suite *infer_suite(void);
Suite *plan_suite(void);
Suite *loader_suite(void);
Suite *text_suite(void);
Suite *quant_suite(void);

// A value of the given type and shape, for building graphs by hand.
Value *test_input(Graph *g, const char *name, DType dt, int rank, const int64_t *dims);
Node *test_node(Graph *g, const char *op, int nin, Value **in, int nout);
void test_int_attr(Compiler *cc, Node *n, const char *name, int64_t v);

#endif
