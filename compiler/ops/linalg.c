// linalg.c — Einsum (any equation: implicit or explicit output, repeated indices, broadcast
// '...') and Det (LU with partial pivoting).
#include "../compiler.h"
#include "ops.h"

#include <ctype.h>
#include <string.h>

//
// Einsum. The equation is compiled into labels: one per distinct letter, plus one per dim of
// the broadcast '...'. The lowering loops over the output labels, then over the summed ones,
// and multiplies the operands, each read through per-label strides (repeated letters in one
// operand add their strides: a diagonal; broadcast dims have stride 0).
//
#define MAX_LABELS (52 + MAX_RANK)
#define MAX_OPERANDS 16

typedef struct {
  int nlabels, nout;                // labels [0, nout) are the output's, in order
  int64_t size[MAX_LABELS];
  int64_t stride[MAX_OPERANDS][MAX_LABELS];
} EinsumPlan;

typedef struct {
  int labels[MAX_RANK]; // letter ids (A-Z: 0-25, a-z: 26-51)
  int n;
  int ellipsis_at;      // position of '...' among the labels, -1 when absent
} Term;

static int letter_id(char c) { return isupper((unsigned char)c) ? c - 'A' : 26 + c - 'a'; }

// Parses one term of the equation (letters and at most one '...') from S up to END.
static Term parse_term(Compiler *cc, Node *n, const char *s, const char *end) {
  Term t = {.ellipsis_at = -1};
  while (s < end) {
    if (*s == ' ') {
      s++;
    } else if (!strncmp(s, "...", 3) && s + 3 <= end && t.ellipsis_at < 0) {
      t.ellipsis_at = t.n;
      s += 3;
    } else if (isalpha((unsigned char)*s) && t.n < MAX_RANK) {
      t.labels[t.n++] = letter_id(*s++);
    } else {
      fatal_at(cc, n, "equation term '%.*s' is not supported", (int)(end - s), s);
    }
  }
  return t;
}

// Where a dim of an operand is tracked: slots [0, MAX_RANK) are the dims of the broadcast
// '...' (right-aligned, ELL_RANK of them), the letters follow.
static int dim_slot(const Term *t, int rank, int ell_rank, int d) {
  int extra = rank - t->n;
  if (t->ellipsis_at >= 0 && d >= t->ellipsis_at) {
    if (d < t->ellipsis_at + extra)
      return ell_rank - extra + (d - t->ellipsis_at);
    d -= extra;
  }
  return MAX_RANK + t->labels[d];
}

static bool in_ellipsis(const Term *t, int rank, int d) {
  return t->ellipsis_at >= 0 && d >= t->ellipsis_at && d < t->ellipsis_at + rank - t->n;
}

// The input terms, checked against the input ranks; returns the rank of '...'.
static int parse_inputs(Compiler *cc, Node *n, const char *eq, const char *lhs_end, Term *terms) {
  int nterms = 0, ell_rank = 0;
  for (const char *s = eq;; s++) {
    const char *comma = memchr(s, ',', (size_t)(lhs_end - s)), *end = comma ? comma : lhs_end;
    if (nterms == n->nin)
      fatal_at(cc, n, "the equation has more terms than the %d inputs", n->nin);
    Term *t = &terms[nterms];
    *t = parse_term(cc, n, s, end);
    int rank = n->in[nterms]->shape.rank, extra = rank - t->n;
    if (extra < 0 || (extra > 0 && t->ellipsis_at < 0))
      fatal_at(cc, n, "term %d does not match input %d of rank %d", nterms, nterms, rank);
    if (extra > ell_rank)
      ell_rank = extra;
    nterms++;
    if (!comma)
      break;
    s = comma;
  }
  if (nterms != n->nin)
    fatal_at(cc, n, "the equation has %d terms for %d inputs", nterms, n->nin);
  return ell_rank;
}

void infer_Einsum(Compiler *cc, Node *n) {
  const char *eq = attr_string(n, "equation", NULL);
  if (!eq)
    fatal_at(cc, n, "attribute 'equation' is missing");
  if (n->nin > MAX_OPERANDS)
    fatal_at(cc, n, "more than %d operands are not supported", MAX_OPERANDS);
  DType dt = n->in[0]->dtype;
  for (int k = 1; k < n->nin; k++)
    if (n->in[k]->dtype != dt)
      fatal_at(cc, n, "inputs have different types");
  if (!dtype_is_float(dt) && !dtype_is_int(dt))
    fatal_at(cc, n, "type %s is not supported", dtype_onnx_name(dt));
  const char *arrow = strstr(eq, "->"), *lhs_end = arrow ? arrow : eq + strlen(eq);
  Term terms[MAX_OPERANDS];
  int ell_rank = parse_inputs(cc, n, eq, lhs_end, terms);
  // Size of every slot (-1: unused); letters must agree, '...' dims broadcast.
  int64_t size[MAX_LABELS];
  int uses[MAX_LABELS] = {0};
  for (int i = 0; i < MAX_LABELS; i++)
    size[i] = i < ell_rank ? 1 : -1;
  for (int k = 0; k < n->nin; k++) {
    const Shape *x = &n->in[k]->shape;
    for (int d = 0; d < x->rank; d++) {
      int slot = dim_slot(&terms[k], x->rank, ell_rank, d);
      int64_t dim = x->dim[d];
      if (in_ellipsis(&terms[k], x->rank, d)) {
        if (size[slot] != 1 && dim != 1 && dim != size[slot])
          fatal_at(cc, n, "the '...' dims of input %d do not broadcast", k);
        if (dim != 1)
          size[slot] = dim;
        continue;
      }
      if (size[slot] >= 0 && size[slot] != dim)
        fatal_at(cc, n, "a label has sizes %lld and %lld", (long long)size[slot], (long long)dim);
      size[slot] = dim;
      uses[slot]++;
    }
  }
  // Output slots: explicit, or '...' then the letters used once, in ASCII order.
  int out[MAX_LABELS], nout = 0;
  if (arrow) {
    Term o = parse_term(cc, n, arrow + 2, eq + strlen(eq));
    if (o.ellipsis_at < 0 && ell_rank > 0)
      fatal_at(cc, n, "the output must keep the '...' dims");
    for (int i = 0; i <= o.n; i++) {
      for (int e = 0; i == o.ellipsis_at && e < ell_rank; e++)
        out[nout++] = e;
      if (i < o.n)
        out[nout++] = MAX_RANK + o.labels[i];
    }
  } else {
    for (int slot = 0; slot < MAX_LABELS; slot++)
      if (slot < ell_rank || uses[slot] == 1)
        out[nout++] = slot;
  }
  if (nout > MAX_RANK)
    fatal_at(cc, n, "the output would have rank %d", nout);
  // Labels: the output's in order, then the summed slots.
  int label[MAX_LABELS];
  for (int i = 0; i < MAX_LABELS; i++)
    label[i] = -1;
  EinsumPlan *p = pool_alloc(&cc->pool, sizeof(EinsumPlan));
  for (int i = 0; i < nout; i++) {
    if (size[out[i]] < 0 || label[out[i]] >= 0)
      fatal_at(cc, n, "output label %d is repeated or in no input", i);
    label[out[i]] = p->nlabels++;
  }
  p->nout = nout;
  for (int slot = 0; slot < MAX_LABELS; slot++)
    if (size[slot] >= 0 && label[slot] < 0)
      label[slot] = p->nlabels++;
  for (int slot = 0; slot < MAX_LABELS; slot++)
    if (label[slot] >= 0)
      p->size[label[slot]] = size[slot];
  for (int k = 0; k < n->nin; k++) {
    const Shape *x = &n->in[k]->shape;
    int64_t st = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
      if (x->dim[d] != 1 || !in_ellipsis(&terms[k], x->rank, d)) // broadcast dims: stride 0
        p->stride[k][label[dim_slot(&terms[k], x->rank, ell_rank, d)]] += st;
      st *= x->dim[d];
    }
  }
  n->priv = p;
  set_output(n, 0, dt, shape_of(nout, p->size));
}

typedef struct {
  const Node *n;
  LLVMValueRef *idx; // every label's index: the output's, then the summed ones
} EinsumTerm;

// The product of the operands at the output labels' indices and the summed ones (SUMMED).
static void einsum_term(KB *kb, LLVMValueRef *summed, LLVMValueRef *terms, void *ctx) {
  const EinsumTerm *e = ctx;
  const EinsumPlan *p = e->n->priv;
  DType dt = e->n->out[0]->dtype, ct = dtype_compute(dt);
  for (int l = p->nout; l < p->nlabels; l++)
    e->idx[l] = summed[l - p->nout];
  LLVMValueRef prod = NULL;
  for (int k = 0; k < e->n->nin; k++) {
    LLVMValueRef v = kb_load(kb, dt, kb->in[k], kb_flat_strided(kb, p->nlabels, p->stride[k], e->idx));
    prod = prod ? kb_mul(kb, ct, prod, v) : v;
  }
  terms[0] = prod;
}

void lower_Einsum(KB *kb, Node *n) {
  const EinsumPlan *p = n->priv;
  DType dt = n->out[0]->dtype, ct = dtype_compute(dt);
  LLVMTypeRef t = kb_ctype(kb, ct);
  Loop loops[MAX_LABELS];
  LLVMValueRef idx[MAX_LABELS];
  for (int l = 0; l < p->nout; l++)
    idx[l] = kb_for(kb, &loops[l], p->size[l]);
  EinsumTerm term = {n, idx};
  LLVMValueRef sum;
  kb_sum(kb, 1, &t, p->nlabels - p->nout, p->size + p->nout, NULL, einsum_term, &term, &sum);
  Shape y = shape_of(p->nout, p->size);
  kb_store(kb, dt, kb->out[0], kb_flat(kb, &y, idx), sum);
  for (int l = p->nout - 1; l >= 0; l--)
    kb_end_for(kb, &loops[l]);
}

//
// Det: the determinant of each matrix of [..., M, M], by Gaussian elimination with partial
// pivoting on a copy in scratch: the product of the pivots, negated per row swap.
//
void infer_Det(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape;
  if (x->rank < 2 || x->dim[x->rank - 1] != x->dim[x->rank - 2])
    fatal_at(cc, n, "input %s is not a batch of square matrices", shape_str(&cc->pool, x));
  if (!dtype_is_float(n->in[0]->dtype))
    fatal_at(cc, n, "type %s is not supported", dtype_onnx_name(n->in[0]->dtype));
  int64_t m = x->dim[x->rank - 1];
  n->scratch = m * m * dtype_size(dtype_compute(n->in[0]->dtype));
  set_output(n, 0, n->in[0]->dtype, shape_of(x->rank - 2, x->dim));
}

static LLVMValueRef at2(KB *kb, LLVMValueRef row, LLVMValueRef col, int64_t m) {
  return LLVMBuildNSWAdd(kb->b, LLVMBuildNSWMul(kb->b, row, kb_idx(kb, m), ""), col, "");
}

void lower_Det(KB *kb, Node *n) {
  const Shape *x = &n->in[0]->shape;
  DType dt = n->in[0]->dtype, ct = dtype_compute(dt);
  LLVMTypeRef t = kb_ctype(kb, ct);
  int64_t m = x->dim[x->rank - 1], mats = shape_numel(&n->out[0]->shape);
  LLVMValueRef a = kb->scratch, zero = kb_const(kb, ct, 0.0);
  Loop lb, li, lj, lk;
  LLVMValueRef b = kb_for(kb, &lb, mats);
  LLVMValueRef base = LLVMBuildNSWMul(kb->b, b, kb_idx(kb, m * m), "");
  LLVMValueRef i = kb_for(kb, &li, m * m);
  kb_store(kb, ct, a, i, kb_convert(kb, kb_load(kb, dt, kb->in[0], LLVMBuildNSWAdd(kb->b, base, i, "")), dt, ct));
  kb_end_for(kb, &li);
  LLVMValueRef det = kb_var(kb, t, kb_const(kb, ct, 1.0));
  LLVMValueRef k = kb_for(kb, &lk, m);
  LLVMValueRef k1 = LLVMBuildNSWAdd(kb->b, k, kb_idx(kb, 1), "");
  // pivot: the largest magnitude in column k at or below the diagonal
  LLVMValueRef piv = kb_var(kb, kb->t_idx, k);
  LLVMValueRef best = kb_var(kb, t, kb_call_intrinsic(kb, "llvm.fabs", t, (LLVMValueRef[]){kb_load(kb, ct, a, at2(kb, k, k, m))}, 1));
  i = kb_for_v(kb, &li, k1, kb_idx(kb, m), 1);
  LLVMValueRef mag = kb_call_intrinsic(kb, "llvm.fabs", t, (LLVMValueRef[]){kb_load(kb, ct, a, at2(kb, i, k, m))}, 1);
  LLVMValueRef better = kb_gt(kb, ct, mag, kb_get(kb, t, best));
  kb_set(kb, best, kb_select(kb, better, mag, kb_get(kb, t, best)));
  kb_set(kb, piv, kb_select(kb, better, i, kb_get(kb, kb->t_idx, piv)));
  kb_end_for(kb, &li);
  LLVMValueRef p = kb_get(kb, kb->t_idx, piv);
  LLVMValueRef j = kb_for_v(kb, &lj, k, kb_idx(kb, m), 1); // swap rows k and p (a no-op when equal)
  LLVMValueRef vk = kb_load(kb, ct, a, at2(kb, k, j, m)), vp = kb_load(kb, ct, a, at2(kb, p, j, m));
  kb_store(kb, ct, a, at2(kb, k, j, m), vp);
  kb_store(kb, ct, a, at2(kb, p, j, m), vk);
  kb_end_for(kb, &lj);
  LLVMValueRef pivot = kb_load(kb, ct, a, at2(kb, k, k, m));
  LLVMValueRef swapped = LLVMBuildICmp(kb->b, LLVMIntNE, p, k, "");
  LLVMValueRef d = kb_mul(kb, ct, kb_get(kb, t, det), pivot);
  kb_set(kb, det, kb_select(kb, swapped, kb_neg(kb, ct, d), d));
  // eliminate below the pivot; a zero pivot (singular matrix) eliminates nothing
  LLVMValueRef singular = kb_eq(kb, ct, pivot, zero);
  i = kb_for_v(kb, &li, k1, kb_idx(kb, m), 1);
  LLVMValueRef f = kb_select(kb, singular, zero, kb_div(kb, ct, kb_load(kb, ct, a, at2(kb, i, k, m)), pivot));
  j = kb_for_v(kb, &lj, k1, kb_idx(kb, m), 1);
  LLVMValueRef aij = at2(kb, i, j, m);
  kb_store(kb, ct, a, aij, kb_sub(kb, ct, kb_load(kb, ct, a, aij), kb_mul(kb, ct, f, kb_load(kb, ct, a, at2(kb, k, j, m)))));
  kb_end_for(kb, &lj);
  kb_end_for(kb, &li);
  kb_end_for(kb, &lk);
  kb_store(kb, dt, kb->out[0], b, kb_convert(kb, kb_get(kb, t, det), ct, dt));
  kb_end_for(kb, &lb);
}
