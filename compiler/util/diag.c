// diag.c — diagnostics. Every message names the model file and, where there is one, the node
// and its op, so a user with a 500-node model knows where to look.
#include "../compiler.h"

#include <string.h>

static void report(Compiler *cc, const char *kind, const Node *n, const char *fmt, va_list ap) {
  sb_printf(&cc->diag, "edgecc: %s: %s: ", kind, cc->model_path ? cc->model_path : "edgecc");
  if (n)
    sb_printf(&cc->diag, "node '%s' (%s): ", n->name, n->op_type);
  sb_vprintf(&cc->diag, fmt, ap);
  sb_printf(&cc->diag, "\n");
}

void error_at(Compiler *cc, const Node *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(cc, "error", n, fmt, ap);
  va_end(ap);
  cc->nerrors++;
}

void warn_at(Compiler *cc, const Node *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(cc, "warning", n, fmt, ap);
  va_end(ap);
  cc->nwarnings++;
}

_Noreturn void fatal_at(Compiler *cc, const Node *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(cc, "error", n, fmt, ap);
  va_end(ap);
  cc->nerrors++;
  longjmp(*cc->bail, 1);
}

void bail_if_errors(Compiler *cc) {
  if (cc->nerrors)
    longjmp(*cc->bail, 1);
}

const char *try_catch(Compiler *cc, void (*fn)(Compiler *cc, void *arg), void *arg) {
  jmp_buf here, *outer = cc->bail;
  size_t diag_len = cc->diag.len;
  int nerrors = cc->nerrors;
  cc->bail = &here;
  const char *caught = NULL;
  if (!setjmp(here)) {
    fn(cc, arg);
  } else {
    const char *prefix = pool_printf(&cc->pool, "edgecc: error: %s: ", cc->model_path ? cc->model_path : "edgecc");
    const char *msg = strstr(cc->diag.buf + diag_len, prefix);
    msg = msg ? msg + strlen(prefix) : "an error";
    caught = pool_printf(&cc->pool, "%.*s", (int)strcspn(msg, "\n"), msg);
    cc->diag.len = diag_len;
    cc->diag.buf[diag_len] = 0;
    cc->nerrors = nerrors;
  }
  cc->bail = outer;
  return caught;
}
