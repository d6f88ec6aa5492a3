// sequence.c — sequences and optionals. Their contents are known at compile time: a
// sequence is a list of tensor values (Value.elems), an optional holds zero or one value. Most
// ops only rearrange those lists during inference and need no code; SequenceAt and
// OptionalGetElement replace themselves by the member they pick. SplitToSequence and
// ConcatFromSequence move data; SequenceMap instantiates its body once per member, since
// members may differ in shape. Members may have data-dependent shapes (Value::dynamic): the
// list ops pass them on, SplitToSequence and ConcatFromSequence copy with run-time dims.
#include "../compiler.h"
#include "ops.h"

static void set_list(Node *n, ValueType type, DType dt, Value **elems, int count) {
  Value *v = n->out[0];
  v->type = type;
  v->dtype = dt;
  v->shape = (Shape){0};
  v->typed = true;
  v->nelems = count;
  v->elems = pool_alloc(&n->graph->cc->pool, sizeof(Value *) * (size_t)(count + 1));
  for (int i = 0; i < count; i++)
    v->elems[i] = elems[i];
}

static Value *need_sequence(Compiler *cc, Node *n, int i) {
  Value *v = n->in[i];
  if (v->type != VAL_SEQUENCE)
    fatal_at(cc, n, "input %d must be a sequence", i);
  return v;
}

// A position input (shape-like): in [-len, len) or, when END_OK, [-len, len].
static int position(Compiler *cc, Node *n, int i, int len, bool end_ok, int dflt) {
  if (!node_input(n, i))
    return dflt;
  Value *pv = need_const(cc, n, i);
  int64_t pos = value_int(pv, 0);
  if (pos < -len || pos > len || (pos == len && !end_ok))
    fatal_at(cc, n, "position %lld is out of range for a sequence of %d", (long long)pos, len);
  return (int)(pos < 0 ? pos + len : pos);
}

// N is replaced by the value it selects: no code, uses of its output read V.
static void become(Compiler *cc, Node *n, Value *v) {
  replace_node(cc, n, graph_new(cc, n->graph, n->name), &v);
}

void infer_SequenceEmpty(Compiler *cc, Node *n) {
  DType dt = (DType)attr_int(n, "dtype", DT_F32);
  if (!dtype_size(dt))
    fatal_at(cc, n, "dtype %d is not supported", (int)dt);
  set_list(n, VAL_SEQUENCE, dt, NULL, 0);
}

void infer_SequenceConstruct(Compiler *cc, Node *n) {
  for (int i = 0; i < n->nin; i++)
    if (n->in[i]->type != VAL_TENSOR || n->in[i]->dtype != n->in[0]->dtype)
      fatal_at(cc, n, "input %d is not a tensor of the type of input 0", i);
  set_list(n, VAL_SEQUENCE, n->in[0]->dtype, n->in, n->nin);
}

void infer_SequenceInsert(Compiler *cc, Node *n) {
  Value *s = need_sequence(cc, n, 0), *t = n->in[1];
  if (t->type != VAL_TENSOR || (s->nelems && t->dtype != s->dtype))
    fatal_at(cc, n, "the inserted value must be a tensor of the sequence's type");
  int at = position(cc, n, 2, s->nelems, true, s->nelems);
  Value **elems = pool_alloc(&cc->pool, sizeof(Value *) * (size_t)(s->nelems + 2));
  for (int i = 0, k = 0; i <= s->nelems; i++)
    elems[i] = i == at ? t : s->elems[k++];
  set_list(n, VAL_SEQUENCE, t->dtype, elems, s->nelems + 1);
}

void infer_SequenceErase(Compiler *cc, Node *n) {
  Value *s = need_sequence(cc, n, 0);
  if (!s->nelems)
    fatal_at(cc, n, "cannot erase from an empty sequence");
  int at = position(cc, n, 1, s->nelems, false, s->nelems - 1);
  Value **elems = pool_alloc(&cc->pool, sizeof(Value *) * (size_t)s->nelems);
  for (int i = 0, k = 0; i < s->nelems; i++)
    if (i != at)
      elems[k++] = s->elems[i];
  set_list(n, VAL_SEQUENCE, s->dtype, elems, s->nelems - 1);
}

void infer_SequenceAt(Compiler *cc, Node *n) {
  Value *s = need_sequence(cc, n, 0);
  become(cc, n, s->elems[position(cc, n, 1, s->nelems, false, 0)]);
}

void infer_SequenceLength(Compiler *cc, Node *n) {
  int64_t len = need_sequence(cc, n, 0)->nelems;
  set_output(n, 0, DT_I64, (Shape){0});
  n->out[0]->data = pool_dup(&cc->pool, &len, sizeof len);
}

//
// SplitToSequence / ConcatFromSequence
//
typedef struct {
  int axis;
  int64_t *sizes; // along the axis, per member
} SplitPlan;

void infer_SplitToSequence(Compiler *cc, Node *n) {
  Value *x = n->in[0], *split = node_input(n, 1) ? need_const(cc, n, 1) : NULL;
  SplitPlan *p = pool_alloc(&cc->pool, sizeof(SplitPlan));
  p->axis = norm_axis(cc, n, attr_int(n, "axis", 0), x->shape.rank);
  int64_t dim = x->shape.dim[p->axis], count, chunk = 1;
  bool data_axis = x->dynamic & DYN_DIM(p->axis);
  if (split && split->shape.rank == 1) {
    count = shape_numel(&split->shape);
  } else {
    if (data_axis)
      reject_dynamic(cc, n, 0, "splitting its data-dependent axis into equal parts would give a data-dependent count");
    chunk = split ? value_int(split, 0) : 1;
    if (chunk <= 0)
      fatal_at(cc, n, "split must be positive");
    count = (dim + chunk - 1) / chunk;
  }
  p->sizes = pool_alloc(&cc->pool, sizeof(int64_t) * (size_t)(count + 1));
  int64_t total = 0;
  for (int64_t i = 0; i < count; i++) {
    p->sizes[i] = split && split->shape.rank == 1 ? value_int(split, i) : dim - i * chunk < chunk ? dim - i * chunk : chunk;
    if (p->sizes[i] < 0)
      fatal_at(cc, n, "negative split size");
    total += p->sizes[i];
  }
  if (total != dim && !(data_axis && total <= dim)) // the sizes bound a data-dependent axis
    fatal_at(cc, n, "split sizes add up to %lld, the axis has %lld", (long long)total, (long long)dim);
  // Without split, keepdims=0 drops the (size 1) axis; the data layout is the same.
  bool squeeze = !split && !attr_int(n, "keepdims", 1);
  unsigned below = DYN_DIM(p->axis) - 1u, kept = x->dynamic & ~DYN_DIM(p->axis); // the sizes are given
  uint16_t member_dynamic = (uint16_t)(squeeze ? (kept & below) | ((kept >> 1) & ~below) : kept);
  Value **elems = pool_alloc(&cc->pool, sizeof(Value *) * (size_t)(count + 1));
  for (int64_t i = 0; i < count; i++) {
    Value *e = elems[i] = graph_new_value(n->graph, pool_printf(&cc->pool, "%s[%lld]", n->out[0]->name, (long long)i));
    e->producer = n;
    e->dtype = x->dtype;
    e->shape = x->shape;
    e->shape.dim[p->axis] = p->sizes[i];
    if (squeeze) {
      for (int d = p->axis; d + 1 < x->shape.rank; d++)
        e->shape.dim[d] = x->shape.dim[d + 1];
      e->shape.rank--;
    }
    e->typed = true;
    e->dynamic = member_dynamic;
  }
  set_list(n, VAL_SEQUENCE, x->dtype, elems, (int)count);
  n->priv = p;
}

void lower_SplitToSequence(KB *kb, Node *n) {
  const SplitPlan *p = n->priv;
  RtShape x = kb_in_shape(kb, 0);
  LLVMValueRef st[MAX_RANK], pst[MAX_RANK];
  kb_strides(kb, &x, st);
  int64_t offset = 0;
  for (int i = 0; i < n->out[0]->nelems; offset += p->sizes[i++]) {
    RtShape piece = x; // with the axis kept, whatever the member's own shape
    piece.dim[p->axis] = kb_idx(kb, p->sizes[i]);
    kb_strides(kb, &piece, pst);
    copy_strided_rt(kb, n->in[0]->dtype, kb->out_elems[0][i], kb_idx(kb, 0), kb->in[0],
                    LLVMBuildNSWMul(kb->b, kb_idx(kb, offset), st[p->axis], ""), piece.rank, piece.dim, pst, st);
    RtShape member = piece; // keepdims=0: without the axis
    member.rank = n->out[0]->elems[i]->shape.rank;
    for (int d = p->axis; member.rank < piece.rank && d < member.rank; d++)
      member.dim[d] = piece.dim[d + 1];
    kb_set_elem_shape(kb, 0, i, &member);
  }
}

// Member I's shape as concatenated: with the new axis inserted when NEW_AXIS.
static Shape concat_piece(const Value *m, int axis, bool new_axis) {
  if (!new_axis)
    return m->shape;
  Shape s = {.rank = m->shape.rank + 1};
  for (int d = 0, k = 0; d < s.rank; d++)
    s.dim[d] = d == axis ? 1 : m->shape.dim[k++];
  return s;
}

void infer_ConcatFromSequence(Compiler *cc, Node *n) {
  Value *s = need_sequence(cc, n, 0);
  if (!s->nelems)
    fatal_at(cc, n, "concatenating an empty sequence is not supported (its shape is unknown)");
  bool new_axis = attr_int(n, "new_axis", 0) != 0;
  int rank = s->elems[0]->shape.rank + new_axis;
  if (rank > MAX_RANK)
    fatal_at(cc, n, "rank %d exceeds the supported %d", rank, MAX_RANK);
  int axis = norm_axis(cc, n, attr_int(n, "axis", 0), rank);
  Shape out = concat_piece(s->elems[0], axis, new_axis);
  out.dim[axis] = 0;
  for (int i = 0; i < s->nelems; i++) {
    Shape piece = concat_piece(s->elems[i], axis, new_axis);
    bool fits = piece.rank == out.rank && s->elems[i]->dtype == s->elems[0]->dtype;
    bool data = s->elems[i]->dynamic || s->elems[0]->dynamic; // must agree at run time
    for (int d = 0; fits && d < rank; d++)
      fits = d == axis || piece.dim[d] == out.dim[d] || data;
    if (!fits)
      fatal_at(cc, n, "member %d (%s) does not concatenate with member 0 (%s)", i,
               shape_str(&cc->pool, &s->elems[i]->shape), shape_str(&cc->pool, &s->elems[0]->shape));
    out.dim[axis] += piece.dim[axis];
  }
  n->priv = pool_dup(&cc->pool, &axis, sizeof axis);
  set_output(n, 0, s->elems[0]->dtype, out);
}

// Member I's run-time dims as concatenated (see concat_piece).
static RtShape concat_piece_rt(KB *kb, const Node *n, int i) {
  int axis = *(const int *)n->priv;
  RtShape m = kb_elem_shape(kb, 0, i);
  if (!attr_int(n, "new_axis", 0))
    return m;
  RtShape s = {.rank = m.rank + 1};
  for (int d = 0, k = 0; d < s.rank; d++)
    s.dim[d] = d == axis ? kb_idx(kb, 1) : m.dim[k++];
  return s;
}

void dims_ConcatFromSequence(KB *kb, const Node *n, RtShape *out) {
  int axis = *(const int *)n->priv;
  out[0] = concat_piece_rt(kb, n, 0);
  for (int i = 1; i < n->in[0]->nelems; i++)
    out[0].dim[axis] = LLVMBuildNSWAdd(kb->b, out[0].dim[axis], concat_piece_rt(kb, n, i).dim[axis], "");
}

void lower_ConcatFromSequence(KB *kb, Node *n) {
  int axis = *(const int *)n->priv;
  RtShape out = kb_out_shape(kb, 0);
  LLVMValueRef ost[MAX_RANK], pst[MAX_RANK], offset = kb_idx(kb, 0);
  kb_strides(kb, &out, ost);
  for (int i = 0; i < n->in[0]->nelems; i++) {
    RtShape piece = concat_piece_rt(kb, n, i), part = piece;
    for (int d = 0; d < piece.rank; d++) // within the output where the members disagree
      if (d != axis)
        part.dim[d] = kb_min(kb, DT_I64, piece.dim[d], out.dim[d]);
    kb_strides(kb, &piece, pst);
    copy_strided_rt(kb, n->out[0]->dtype, kb->out[0], LLVMBuildNSWMul(kb->b, offset, ost[axis], ""), kb->in_elems[0][i],
                    kb_idx(kb, 0), part.rank, part.dim, ost, pst);
    offset = LLVMBuildNSWAdd(kb->b, offset, piece.dim[axis], "");
  }
}

//
// SequenceMap: the body once per member, the others inputs passed whole to every copy
//
void infer_SequenceMap(Compiler *cc, Node *n) {
  const Attr *a = node_attr(n, "body");
  if (!a || a->type != ATTR_GRAPH)
    fatal_at(cc, n, "the 'body' attribute (a graph) is missing");
  Graph *body = a->g;
  if (body->inputs.len != n->nin || body->outputs.len != n->nout)
    fatal_at(cc, n, "the body has %d inputs and %d outputs, the node %d and %d", body->inputs.len,
             body->outputs.len, n->nin, n->nout);
  int len = need_sequence(cc, n, 0)->nelems;
  for (int i = 1; i < n->nin; i++)
    if (n->in[i]->type == VAL_SEQUENCE && n->in[i]->nelems != len)
      fatal_at(cc, n, "input %d has %d members, input 0 %d", i, n->in[i]->nelems, len);
  Graph *copies = graph_new(cc, n->graph, pool_printf(&cc->pool, "%s_mapped", n->name));
  Value **to = pool_alloc(&cc->pool, sizeof(Value *) * (size_t)(n->nin + 1));
  PtrVec *members = pool_alloc(&cc->pool, sizeof(PtrVec) * (size_t)(n->nout + 1));
  for (int k = 0; k < len; k++) {
    for (int i = 0; i < n->nin; i++)
      to[i] = n->in[i]->type == VAL_SEQUENCE ? n->in[i]->elems[k] : n->in[i];
    Value **outs = graph_clone_into(body, copies, (Value **)body->inputs.items, to, n->nin);
    copies->outputs = (PtrVec){(void **)outs, n->nout, n->nout}; // kept up to date by inference
    infer_graph(cc, copies);
    for (int j = 0; j < n->nout; j++) {
      Value *o = copies->outputs.items[j];
      if (o->type != VAL_TENSOR)
        fatal_at(cc, n, "body output %d is not a tensor", j);
      vec_push(&cc->pool, &members[j], o);
    }
  }
  Value **results = pool_alloc(&cc->pool, sizeof(Value *) * (size_t)(n->nout + 1));
  for (int j = 0; j < n->nout; j++) {
    Value *r = results[j] = graph_new_value(copies, n->out[j] ? n->out[j]->name : "mapped");
    r->type = VAL_SEQUENCE;
    r->dtype = len ? ((Value *)members[j].items[0])->dtype : ((Value *)body->outputs.items[j])->dtype;
    r->typed = true;
    r->elems = (Value **)members[j].items;
    r->nelems = members[j].len;
  }
  replace_node(cc, n, copies, results);
}

//
// Optional
//
void infer_Optional(Compiler *cc, Node *n) {
  Value *in = node_input(n, 0);
  const Attr *t = node_attr(n, "type");
  if (!in && !t)
    fatal_at(cc, n, "an empty optional needs the 'type' attribute");
  set_list(n, VAL_OPTIONAL, in ? in->dtype : t->type_dtype, &in, in ? 1 : 0);
}

// Since opset 18 the input may be a tensor or sequence (present) or omitted (absent).
void infer_OptionalHasElement(Compiler *cc, Node *n) {
  Value *in = node_input(n, 0);
  bool has = in && (in->type != VAL_OPTIONAL || in->nelems > 0);
  set_output(n, 0, DT_BOOL, (Shape){0});
  n->out[0]->data = pool_dup(&cc->pool, &has, 1);
}

void infer_OptionalGetElement(Compiler *cc, Node *n) {
  Value *in = n->in[0];
  if (in->type == VAL_OPTIONAL && !in->nelems)
    fatal_at(cc, n, "the optional is empty");
  become(cc, n, in->type == VAL_OPTIONAL ? in->elems[0] : in);
}
