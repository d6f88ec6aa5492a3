// lint.c — warnings about models that compile but are probably not what the user wants.
// -Werror turns them into errors.
#include "../compiler.h"

// Checked on the model as loaded: inference rewrites some ops (If, the com.microsoft ops of
// qexpand.c) into nodes that fold their parameters away.
void lint_initializers(Compiler *cc, Graph *g) {
  for (int i = 0; i < g->values.len; i++) {
    Value *v = g->values.items[i];
    if (v->initializer && v->output_index < 0 && value_uses(g, v) == 0)
      warn_at(cc, NULL, "initializer '%s' (%s, %lld bytes) is never used", v->name, dtype_onnx_name(v->dtype),
              (long long)value_bytes(v));
  }
}

// Double precision is emulated or slow on most edge CPUs (Cortex-M4 has no f64 unit at all);
// in a model whose inputs are float32 it is usually an exporter accident.
static void warn_f64_in_f32_model(Compiler *cc, Graph *g) {
  bool f32_inputs = false;
  for (int i = 0; i < g->inputs.len; i++)
    f32_inputs |= ((Value *)g->inputs.items[i])->dtype == DT_F32;
  if (!f32_inputs)
    return;
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    for (int j = 0; j < n->nout; j++)
      if (n->out[j] && n->out[j]->type == VAL_TENSOR && n->out[j]->dtype == DT_F64 && !n->out[j]->data) {
        warn_at(cc, n, "computes in float64 in a float32 model (slow on edge CPUs; Cortex-M has no float64 unit)");
        return; // once is enough to point at the first place
      }
  }
}

void lint_model(Compiler *cc, Graph *g) {
  warn_f64_in_f32_model(cc, g);
  if (cc->opt.werror && cc->nwarnings) {
    error_at(cc, NULL, "warnings are errors (-Werror)");
    bail_if_errors(cc);
  }
}
