// select.c — ops that keep the elements a run-time condition selects, so their output sizes
// depend on the data: NonZero, Compress, NonMaxSuppression. Inference gives each output a
// static upper bound and marks it dynamic; the lowering writes the actual dims (out_dims),
// and fills the output compactly (row-major in the actual dims).
#include "../compiler.h"
#include "ops.h"

static LLVMValueRef is_true(KB *kb, DType dt, LLVMValueRef base, LLVMValueRef at) {
  return kb_convert(kb, kb_load(kb, dt, base, at), dt, DT_BOOL);
}

static void add_one(KB *kb, LLVMValueRef var) {
  kb_set(kb, var, LLVMBuildAdd(kb->b, kb_get(kb, kb->t_idx, var), kb_idx(kb, 1), ""));
}

//
// NonZero: the indices of the nonzero elements, one row per input dim ([rank, count]), in
// row-major order. A scalar is treated as a 1-D tensor of one element (as numpy does).
//
void infer_NonZero(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape;
  if (n->in[0]->dtype == DT_STRING)
    fatal_at(cc, n, "string input is not supported");
  Shape s = {.rank = 2, .dim = {x->rank ? x->rank : 1, shape_numel(x)}};
  set_output(n, 0, DT_I64, s);
  n->out[0]->dynamic = DYN_DIM(1);
}

void lower_NonZero(KB *kb, Node *n) {
  RtShape x = kb_in_shape(kb, 0);
  if (x.rank == 0)
    x = (RtShape){.rank = 1, .dim = {kb_idx(kb, 1)}};
  DType dt = n->in[0]->dtype;
  LLVMValueRef numel = kb_numel(kb, &x), count = kb_var(kb, kb->t_idx, kb_idx(kb, 0));
  Loop l, loops[MAX_RANK];
  LLVMValueRef i = kb_for_v(kb, &l, kb_idx(kb, 0), numel, 1);
  IfBlock nz;
  kb_if(kb, &nz, is_true(kb, dt, kb->in[0], i));
  add_one(kb, count);
  kb_end_if(kb, &nz);
  kb_end_for(kb, &l);
  LLVMValueRef total = kb_get(kb, kb->t_idx, count);
  RtShape out = {.rank = 2, .dim = {kb_idx(kb, x.rank), total}};
  kb_set_out_shape(kb, 0, &out);
  LLVMValueRef idx[MAX_RANK], st[MAX_RANK];
  kb_strides(kb, &x, st);
  kb_set(kb, count, kb_idx(kb, 0));
  kb_for_rt(kb, loops, &x, idx);
  kb_if(kb, &nz, is_true(kb, dt, kb->in[0], kb_dot(kb, x.rank, idx, st)));
  LLVMValueRef k = kb_get(kb, kb->t_idx, count);
  for (int d = 0; d < x.rank; d++)
    kb_store(kb, DT_I64, kb->out[0], LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, kb_idx(kb, d), total, ""), k, ""),
             LLVMBuildIntCast2(kb->b, idx[d], LLVMInt64TypeInContext(kb->ctx), 1, ""));
  add_one(kb, count);
  kb_end_if(kb, &nz);
  kb_end_for_rt(kb, loops, &x);
}

//
// Compress: the slices along `axis` (or the elements of the flattened input) whose entry in
// the 1-D condition is true; a condition shorter than the axis selects nothing past its end.
//
void infer_Compress(Compiler *cc, Node *n) {
  const Shape *x = &n->in[0]->shape, *c = &n->in[1]->shape;
  if (c->rank != 1)
    fatal_at(cc, n, "condition must be 1-D");
  const Attr *a = node_attr(n, "axis");
  Shape s = {.rank = 1, .dim = {shape_numel(x)}};
  uint16_t dynamic = DYN_DIM(0);
  if (a) {
    int axis = norm_axis(cc, n, a->i, x->rank);
    s = *x;
    dynamic = n->in[0]->dynamic | DYN_DIM(axis);
  }
  set_output(n, 0, n->in[0]->dtype, s);
  n->out[0]->dynamic = dynamic;
}

void lower_Compress(KB *kb, Node *n) {
  RtShape x = kb_in_shape(kb, 0), c = kb_in_shape(kb, 1), out;
  const Attr *a = node_attr(n, "axis");
  int axis = a ? norm_axis(kb->cc, n, a->i, x.rank) : 0;
  if (!a)
    x = (RtShape){.rank = 1, .dim = {kb_numel(kb, &x)}};
  LLVMValueRef outer = kb_idx(kb, 1), inner = kb_idx(kb, 1), len = x.dim[axis];
  for (int d = 0; d < x.rank; d++) {
    if (d < axis)
      outer = LLVMBuildNSWMul(kb->b, outer, x.dim[d], "");
    if (d > axis)
      inner = LLVMBuildNSWMul(kb->b, inner, x.dim[d], "");
  }
  LLVMValueRef used = kb_min(kb, DT_I64, len, c.dim[0]), count = kb_var(kb, kb->t_idx, kb_idx(kb, 0));
  DType ct = n->in[1]->dtype, dt = n->in[0]->dtype;
  Loop lj, lo, li;
  LLVMValueRef j = kb_for_v(kb, &lj, kb_idx(kb, 0), used, 1);
  IfBlock sel;
  kb_if(kb, &sel, is_true(kb, ct, kb->in[1], j));
  add_one(kb, count);
  kb_end_if(kb, &sel);
  kb_end_for(kb, &lj);
  LLVMValueRef total = kb_get(kb, kb->t_idx, count);
  out = x;
  out.dim[axis] = total;
  kb_set_out_shape(kb, 0, &out);
  LLVMValueRef o = kb_for_v(kb, &lo, kb_idx(kb, 0), outer, 1);
  kb_set(kb, count, kb_idx(kb, 0));
  j = kb_for_v(kb, &lj, kb_idx(kb, 0), used, 1);
  kb_if(kb, &sel, is_true(kb, ct, kb->in[1], j));
  LLVMValueRef src = LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, o, len, ""), j, ""), inner, "");
  LLVMValueRef dst = LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, o, total, ""), kb_get(kb, kb->t_idx, count), ""),
                                  inner, "");
  LLVMValueRef i = kb_for_v(kb, &li, kb_idx(kb, 0), inner, 1);
  copy_element(kb, dt, kb->out[0], LLVMBuildAdd(kb->b, dst, i, ""), kb->in[0], LLVMBuildAdd(kb->b, src, i, ""));
  kb_end_for(kb, &li);
  add_one(kb, count);
  kb_end_if(kb, &sel);
  kb_end_for(kb, &lj);
  kb_end_for(kb, &lo);
}

//
// NonMaxSuppression: per batch and class, boxes in descending score order (ties: lower index
// first), above score_threshold when given, each kept unless its IOU with a box already kept
// for the class exceeds iou_threshold, at most max_output_boxes_per_class of them. Output rows
// are [batch, class, box].
//
typedef struct {
  int64_t batches, classes, boxes;
} NmsGeom;

void infer_NonMaxSuppression(Compiler *cc, Node *n) {
  const Shape *b = &n->in[0]->shape, *s = &n->in[1]->shape;
  if (b->rank != 3 || b->dim[2] != 4 || s->rank != 3 || s->dim[0] != b->dim[0] || s->dim[2] != b->dim[1])
    fatal_at(cc, n, "boxes %s and scores %s must be [B, S, 4] and [B, C, S]", shape_str(&cc->pool, b),
             shape_str(&cc->pool, s));
  if (!dtype_is_float(n->in[0]->dtype) || n->in[1]->dtype != n->in[0]->dtype)
    fatal_at(cc, n, "boxes and scores must be of one float type");
  for (int i = 2; i < 5; i++) {
    Value *v = node_input(n, i);
    if (v && shape_numel(&v->shape) != 1)
      fatal_at(cc, n, "input %d must have one element", i);
  }
  int64_t cpb = attr_int(n, "center_point_box", 0);
  if (cpb != 0 && cpb != 1)
    fatal_at(cc, n, "center_point_box %lld is not supported (0 or 1)", (long long)cpb);
  NmsGeom *g = pool_alloc(&cc->pool, sizeof(NmsGeom));
  *g = (NmsGeom){b->dim[0], s->dim[1], b->dim[1]};
  int64_t per_class = g->boxes;
  Value *mv = node_input(n, 2);
  if (!mv)
    per_class = 0;
  else if (mv->data && value_int(mv, 0) < per_class) // a known limit tightens the bound
    per_class = value_int(mv, 0) > 0 ? value_int(mv, 0) : 0;
  n->priv = g;
  n->scratch = g->boxes > 0 ? g->boxes : 1; // a "visited" flag per box
  set_output(n, 0, DT_I64, (Shape){.rank = 2, .dim = {g->batches * g->classes * per_class, 3}});
  n->out[0]->dynamic = DYN_DIM(0);
}

// Corner coordinates (lo, hi) of one axis of a box: [y1, x1, y2, x2] with any diagonal pair
// (center_point_box 0), or [x_center, y_center, width, height] (1).
static void box_extent(KB *kb, DType ct, bool center, LLVMValueRef *c, int axis, LLVMValueRef *lo, LLVMValueRef *hi) {
  if (center) {
    LLVMValueRef half = kb_mul(kb, ct, c[2 + axis], kb_const(kb, ct, 0.5));
    *lo = kb_sub(kb, ct, c[axis], half);
    *hi = kb_add(kb, ct, c[axis], half);
  } else {
    int a = axis == 0 ? 1 : 0; // x is coordinates 1 and 3, y 0 and 2
    *lo = kb_min(kb, ct, c[a], c[a + 2]);
    *hi = kb_max(kb, ct, c[a], c[a + 2]);
  }
}

// IOU(box p, box q) > threshold, with degenerate boxes never suppressing.
static LLVMValueRef suppresses(KB *kb, Node *n, LLVMValueRef boxes, LLVMValueRef p, LLVMValueRef q, LLVMValueRef thr) {
  DType dt = n->in[0]->dtype, ct = dtype_compute(dt);
  bool center = attr_int(n, "center_point_box", 0);
  LLVMValueRef cp[4], cq[4], ok = LLVMConstInt(LLVMInt1TypeInContext(kb->ctx), 1, 0);
  for (int i = 0; i < 4; i++) {
    cp[i] = kb_load(kb, dt, boxes, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, p, kb_idx(kb, 4), ""), kb_idx(kb, i), ""));
    cq[i] = kb_load(kb, dt, boxes, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, q, kb_idx(kb, 4), ""), kb_idx(kb, i), ""));
  }
  LLVMValueRef inter = kb_const(kb, ct, 1), area_p = kb_const(kb, ct, 1), area_q = kb_const(kb, ct, 1);
  for (int axis = 0; axis < 2; axis++) {
    LLVMValueRef plo, phi, qlo, qhi;
    box_extent(kb, ct, center, cp, axis, &plo, &phi);
    box_extent(kb, ct, center, cq, axis, &qlo, &qhi);
    LLVMValueRef lo = kb_max(kb, ct, plo, qlo), hi = kb_min(kb, ct, phi, qhi);
    ok = LLVMBuildAnd(kb->b, ok, kb_gt(kb, ct, hi, lo), "");
    inter = kb_mul(kb, ct, inter, kb_sub(kb, ct, hi, lo));
    area_p = kb_mul(kb, ct, area_p, kb_sub(kb, ct, phi, plo));
    area_q = kb_mul(kb, ct, area_q, kb_sub(kb, ct, qhi, qlo));
  }
  LLVMValueRef uni = kb_sub(kb, ct, kb_add(kb, ct, area_p, area_q), inter), zero = kb_const(kb, ct, 0);
  ok = LLVMBuildAnd(kb->b, ok, kb_gt(kb, ct, inter, zero), "");
  ok = LLVMBuildAnd(kb->b, ok, LLVMBuildAnd(kb->b, kb_gt(kb, ct, area_p, zero), kb_gt(kb, ct, area_q, zero), ""), "");
  ok = LLVMBuildAnd(kb->b, ok, kb_gt(kb, ct, uni, zero), "");
  return LLVMBuildAnd(kb->b, ok, kb_gt(kb, ct, kb_div(kb, ct, inter, uni), thr), "");
}

// An optional scalar input, or DFLT.
static LLVMValueRef optional_scalar(KB *kb, Node *n, int i, DType ct, LLVMValueRef dflt) {
  if (!node_input(n, i))
    return dflt;
  return kb_convert(kb, kb_load(kb, n->in[i]->dtype, kb->in[i], kb_idx(kb, 0)), n->in[i]->dtype, ct);
}

void lower_NonMaxSuppression(KB *kb, Node *n) {
  const NmsGeom *g = n->priv;
  DType dt = n->in[0]->dtype, ct = dtype_compute(dt);
  LLVMTypeRef t = kb_ctype(kb, ct), i1 = LLVMInt1TypeInContext(kb->ctx), i64 = LLVMInt64TypeInContext(kb->ctx);
  LLVMValueRef max_out = LLVMBuildIntCast2(kb->b, optional_scalar(kb, n, 2, DT_I64, LLVMConstInt(i64, 0, 0)), kb->t_idx, 1, "");
  LLVMValueRef iou_thr = optional_scalar(kb, n, 3, ct, kb_const(kb, ct, 0));
  bool has_score_thr = node_input(n, 4) != NULL;
  LLVMValueRef score_thr = optional_scalar(kb, n, 4, ct, kb_const(kb, ct, 0));
  LLVMValueRef rows = kb_var(kb, kb->t_idx, kb_idx(kb, 0)), visited = kb->scratch;
  Loop lb, lc, lit, ls, lr;
  LLVMValueRef b = kb_for(kb, &lb, g->batches), c = kb_for(kb, &lc, g->classes);
  LLVMValueRef boxes = kb_gep(kb, dt, kb->in[0], LLVMBuildMul(kb->b, b, kb_idx(kb, g->boxes * 4), ""));
  LLVMValueRef scores = kb_gep(kb, dt, kb->in[1], LLVMBuildMul(kb->b, LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, b, kb_idx(kb, g->classes), ""), c, ""),
                                                                kb_idx(kb, g->boxes), ""));
  LLVMValueRef first_row = kb_get(kb, kb->t_idx, rows);
  kb_memset(kb, visited, 0, g->boxes);
  kb_for(kb, &lit, g->boxes); // each round picks the best box not yet visited
  IfBlock room, found, kept;
  kb_if(kb, &room, LLVMBuildICmp(kb->b, LLVMIntSLT, LLVMBuildSub(kb->b, kb_get(kb, kb->t_idx, rows), first_row, ""), max_out, ""));
  LLVMValueRef best = kb_var(kb, kb->t_idx, kb_idx(kb, -1)), best_score = kb_var(kb, t, kb_const(kb, ct, 0));
  LLVMValueRef s = kb_for(kb, &ls, g->boxes);
  LLVMValueRef sc = kb_load(kb, dt, scores, s), cur = kb_get(kb, kb->t_idx, best);
  LLVMValueRef cand = LLVMBuildNot(kb->b, kb_load(kb, DT_BOOL, visited, s), "");
  if (has_score_thr)
    cand = LLVMBuildAnd(kb->b, cand, kb_gt(kb, ct, sc, score_thr), "");
  LLVMValueRef first = LLVMBuildICmp(kb->b, LLVMIntSLT, cur, kb_idx(kb, 0), "");
  LLVMValueRef take = LLVMBuildAnd(kb->b, cand, LLVMBuildOr(kb->b, first, kb_gt(kb, ct, sc, kb_get(kb, t, best_score)), ""), "");
  kb_set(kb, best, kb_select(kb, take, s, cur));
  kb_set(kb, best_score, kb_select(kb, take, sc, kb_get(kb, t, best_score)));
  kb_end_for(kb, &ls);
  LLVMValueRef pick = kb_get(kb, kb->t_idx, best);
  kb_if(kb, &found, LLVMBuildICmp(kb->b, LLVMIntSGE, pick, kb_idx(kb, 0), ""));
  kb_store(kb, DT_BOOL, visited, pick, LLVMConstInt(i1, 1, 0));
  LLVMValueRef suppressed = kb_var(kb, i1, LLVMConstInt(i1, 0, 0));
  LLVMValueRef r = kb_for_v(kb, &lr, first_row, kb_get(kb, kb->t_idx, rows), 1);
  LLVMValueRef other = LLVMBuildIntCast2(kb->b, kb_load(kb, DT_I64, kb->out[0], LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, r, kb_idx(kb, 3), ""), kb_idx(kb, 2), "")),
                                         kb->t_idx, 1, "");
  kb_set(kb, suppressed, LLVMBuildOr(kb->b, kb_get(kb, i1, suppressed), suppresses(kb, n, boxes, pick, other, iou_thr), ""));
  kb_end_for(kb, &lr);
  kb_if(kb, &kept, LLVMBuildNot(kb->b, kb_get(kb, i1, suppressed), ""));
  LLVMValueRef row = kb_get(kb, kb->t_idx, rows), fields[3] = {b, c, pick};
  for (int i = 0; i < 3; i++)
    kb_store(kb, DT_I64, kb->out[0], LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, row, kb_idx(kb, 3), ""), kb_idx(kb, i), ""),
             LLVMBuildIntCast2(kb->b, fields[i], i64, 1, ""));
  add_one(kb, rows);
  kb_end_if(kb, &kept);
  kb_end_if(kb, &found);
  kb_end_if(kb, &room);
  kb_end_for(kb, &lit);
  kb_end_for(kb, &lc);
  kb_end_for(kb, &lb);
  RtShape out = {.rank = 2, .dim = {kb_get(kb, kb->t_idx, rows), kb_idx(kb, 3)}};
  kb_set_out_shape(kb, 0, &out);
}
