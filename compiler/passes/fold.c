// fold.c — constant folding. A node whose inputs are all known is compiled with its normal
// lowering and run in-process (codegen/jit.c): one implementation per op serves both the
// generated code and the compiler, so folding can never disagree with run time.
#include "../compiler.h"

bool fold_node(Compiler *cc, Node *n) {
  void *data[16];
  int64_t dims[16][MAX_RANK];
  if (n->nout > 16 || !jit_eval_node(cc, n, data, dims))
    return false;
  for (int i = 0; i < n->nout; i++) {
    Value *v = n->out[i];
    if (!v)
      continue;
    if (v->dynamic) { // the actual shape is known now
      for (int d = 0; d < v->shape.rank; d++)
        v->shape.dim[d] = dims[i][d];
      v->dynamic = 0;
    }
    v->data = data[i];
  }
  return true;
}
