// fold_batchnorm.c — BatchNormalization in inference mode after a Conv with constant weights
// is a per-channel scale and shift: it folds into the Conv's weights and bias at compile time,
//   W' = W * s,  B' = (B - mean) * s + bias,  s = scale / sqrt(var + epsilon),
// computed in double and rounded once, and the BatchNormalization node disappears.
#include "../compiler.h"

#include <math.h>
#include <string.h>

static bool is_graph_output(const Graph *g, const Value *v) {
  for (int i = 0; i < g->outputs.len; i++)
    if (g->outputs.items[i] == v)
      return true;
  return false;
}

// BN normalizes with its inputs (not batch statistics) and only Y is used.
static bool inference_bn(const Graph *g, const Node *bn) {
  if (bn->op->kind != OP_BatchNormalization || (bn->opset >= 14 && attr_int(bn, "training_mode", 0)))
    return false;
  if (bn->opset < 9 && !attr_int(bn, "spatial", 1))
    return false;
  for (int i = 1; i < bn->nout; i++)
    if (bn->out[i] && (value_uses(g, bn->out[i]) || is_graph_output(g, bn->out[i])))
      return false;
  for (int i = 1; i < 5; i++)
    if (!node_input(bn, i) || !bn->in[i]->data || bn->in[i]->dtype != DT_F32)
      return false;
  return bn->out[0]->dtype == DT_F32;
}

static bool foldable_conv(const Graph *g, const Node *conv) {
  if (!conv || conv->op->kind != OP_Conv || conv->epilogue || !conv->in[1]->data || conv->in[1]->dtype != DT_F32)
    return false;
  Value *b = node_input(conv, 2);
  return (!b || (b->data && b->dtype == DT_F32)) && value_uses(g, conv->out[0]) == 1 &&
         !is_graph_output(g, conv->out[0]);
}

bool batchnorm_affine(const Graph *g, const Node *bn, int64_t channels, double **scale, double **shift) {
  if (!bn->op || !inference_bn(g, bn) || shape_numel(&bn->in[1]->shape) != channels)
    return false;
  const float *gamma = bn->in[1]->data, *beta = bn->in[2]->data, *mean = bn->in[3]->data, *var = bn->in[4]->data;
  double eps = attr_float(bn, "epsilon", 1e-5f);
  *scale = pool_alloc(&g->cc->pool, sizeof(double) * (size_t)channels);
  *shift = pool_alloc(&g->cc->pool, sizeof(double) * (size_t)channels);
  for (int64_t c = 0; c < channels; c++) {
    (*scale)[c] = gamma[c] / sqrt((double)var[c] + eps);
    (*shift)[c] = beta[c] - mean[c] * (*scale)[c];
  }
  return true;
}

static void fold(Graph *g, Node *conv, Node *bn) {
  Compiler *cc = g->cc;
  const Value *w = conv->in[1];
  int64_t cout = w->shape.dim[0], per = shape_numel(&w->shape) / cout;
  const float *bias = node_input(conv, 2) ? node_input(conv, 2)->data : NULL;
  double *scale, *shift;
  batchnorm_affine(g, bn, cout, &scale, &shift);
  Value *nw = graph_const(g, pool_printf(&cc->pool, "%s_bnfold", w->name), DT_F32, w->shape, NULL);
  Value *nb = graph_const(g, pool_printf(&cc->pool, "%s_bnfold_bias", conv->name), DT_F32, shape_of(1, &cout), NULL);
  float *wd = nw->data, *bd = nb->data;
  for (int64_t c = 0; c < cout; c++) {
    for (int64_t i = 0; i < per; i++)
      wd[c * per + i] = (float)(((const float *)w->data)[c * per + i] * scale[c]);
    bd[c] = (float)((bias ? bias[c] : 0.0) * scale[c] + shift[c]);
  }
  Value **in = pool_alloc(&cc->pool, sizeof(Value *) * 4);
  in[0] = conv->in[0];
  in[1] = nw;
  in[2] = nb;
  conv->in = in;
  conv->nin = 3;
  Value *y = bn->out[0];
  conv->out[0] = y;
  y->producer = conv;
}

void fold_batchnorm(Compiler *cc, Graph *g) {
  PtrVec kept = {0};
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    Node *conv = n->op && n->in && n->nin > 0 && n->in[0] ? n->in[0]->producer : NULL;
    if (n->op && foldable_conv(g, conv) && inference_bn(g, n)) {
      fold(g, conv, n);
      continue; // the BN node is gone
    }
    vec_push(&cc->pool, &kept, n);
  }
  g->nodes = kept;
  graph_remove_dead(g);
}
