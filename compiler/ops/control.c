// control.c — control flow with subgraphs: If, Loop, Scan.
//
// A subgraph goes through the same passes as the main graph (prepare_subgraph: inference,
// dead code, outputs, its own memory plan inside the node's scratch) and is lowered inside
// the node's function (kb_call_graph). Values of enclosing graphs it reads become extra
// inputs of the node ("captures", after the ONNX inputs), so liveness, planning and calls
// need nothing special.
//
// If with a compile-time condition is inlined by passes/infer.c. A Loop whose trip count is
// known at compile time (M and the conditions are constants) and whose unrolled size is
// modest is unrolled: every iteration is a copy of the body with the iteration number a
// constant, so values may change shape from one iteration to the next (sequences growing,
// slices at the iteration number). Other loops run at run time over one body whose
// loop-carried values keep their shapes.
#include "../compiler.h"
#include "ops.h"

#include "edgecc_rt.h"

#include <string.h>

// Unrolling stops (and the loop runs at run time) beyond this many copied body nodes.
#define UNROLL_MAX_NODES 1024

static Graph *graph_attr(Compiler *cc, Node *n, const char *name) {
  const Attr *a = node_attr(n, name);
  if (!a || a->type != ATTR_GRAPH)
    fatal_at(cc, n, "the '%s' attribute (a graph) is missing", name);
  return a->g;
}

static int64_t align_up(Compiler *cc, int64_t v) {
  int64_t a = cc->target ? cc->target->alignment : 16;
  return (v + a - 1) / a * a;
}

// Appends the captures of SUBS (without repeats) to N's inputs; returns the first one's index.
static int add_captures(Compiler *cc, Node *n, Graph **subs, int nsubs) {
  PtrVec ins = {0};
  for (int i = 0; i < n->nin; i++)
    vec_push(&cc->pool, &ins, n->in[i]);
  int first = n->nin;
  for (int s = 0; s < nsubs; s++) {
    Value **caps;
    int ncaps = graph_captures(subs[s], &caps);
    for (int i = 0; i < ncaps; i++) {
      bool seen = false;
      for (int j = first; j < ins.len && !seen; j++)
        seen = ins.items[j] == caps[i];
      if (!seen)
        vec_push(&cc->pool, &ins, caps[i]);
    }
  }
  n->in = (Value **)ins.items;
  n->nin = ins.len;
  return first;
}

// Gives a subgraph input the type of the value it receives.
static void type_input(Value *in, const Value *like) {
  in->type = like->type;
  in->dtype = like->dtype;
  in->shape = like->shape;
  in->elems = like->elems;
  in->nelems = like->nelems;
  in->typed = true;
}

static void type_tensor(Value *in, DType dt, Shape s) {
  in->type = VAL_TENSOR;
  in->dtype = dt;
  in->shape = s;
  in->typed = true;
}

static const char *type_str(Compiler *cc, const Value *v) {
  if (v->type == VAL_TENSOR)
    return pool_printf(&cc->pool, "%s %s", dtype_onnx_name(v->dtype), shape_str(&cc->pool, &v->shape));
  if (v->type == VAL_OPTIONAL && !v->nelems)
    return "an empty optional";
  StrBuf sb = {0};
  for (int i = 0; i < v->nelems; i++)
    sb_printf(&sb, "%s%s", i ? ", " : "", type_str(cc, v->elems[i]));
  const char *r = pool_printf(&cc->pool, v->type == VAL_OPTIONAL ? "an optional of %s" : "a sequence of (%s)",
                              sb.buf ? sb.buf : "");
  sb_free(&sb);
  return r;
}

static bool same_type(const Value *a, const Value *b) {
  if (a->type != b->type || a->dtype != b->dtype)
    return false;
  if (a->type == VAL_TENSOR)
    return shape_eq(&a->shape, &b->shape);
  if (a->nelems != b->nelems)
    return false;
  for (int i = 0; i < a->nelems; i++)
    if (!same_type(a->elems[i], b->elems[i]))
      return false;
  return true;
}

// Omitted outputs get values anyway: the subgraph writes them somewhere.
static void name_omitted_outputs(Node *n) {
  for (int i = 0; i < n->nout; i++)
    if (!n->out[i]) {
      n->out[i] = graph_new_value(n->graph, pool_printf(&n->graph->cc->pool, "%s_unused%d", n->name, i));
      n->out[i]->producer = n;
    }
}

// OUT, produced by N, gets LIKE's type; the members of sequences and optionals are new
// tensors that N writes.
static void produce_like(Node *n, Value *out, const Value *like) {
  out->type = like->type;
  out->dtype = like->dtype;
  out->shape = like->shape;
  out->typed = true;
  out->nelems = like->type == VAL_TENSOR ? 0 : like->nelems;
  out->elems = pool_alloc(&n->graph->cc->pool, sizeof(Value *) * (size_t)(out->nelems + 1));
  for (int i = 0; i < out->nelems; i++) {
    Value *e = graph_new_value(n->graph, pool_printf(&n->graph->cc->pool, "%s[%d]", out->name, i));
    e->producer = n;
    produce_like(n, e, like->elems[i]);
    out->elems[i] = e;
  }
}

//
// Binding a subgraph's values for kb_call_graph
//
typedef struct {
  PtrVec vals, ptrs;
} Bindings;

// The tensors of V live at PTRS (value_tensors order).
static void bind(Compiler *cc, Bindings *b, Value *v, LLVMValueRef *ptrs) {
  int count;
  Value **ts = tensors_of(&cc->pool, v, &count);
  for (int i = 0; i < count; i++) {
    vec_push(&cc->pool, &b->vals, ts[i]);
    vec_push(&cc->pool, &b->ptrs, ptrs[i]);
  }
}

static void bind_one(Compiler *cc, Bindings *b, Value *v, LLVMValueRef ptr) { bind(cc, b, v, &ptr); }

static void bind_captures(KB *kb, Bindings *b, Node *n, int first) {
  for (int i = first; i < n->nin; i++)
    bind(kb->cc, b, n->in[i], kb->in_elems[i]);
}

static void call_graph(KB *kb, Graph *g, Bindings *b) {
  kb_call_graph(kb, g, (Value **)b->vals.items, (LLVMValueRef *)b->ptrs.items, b->vals.len, kb->scratch);
}

static LLVMValueRef byte_ptr(KB *kb, LLVMValueRef base, LLVMValueRef offset) {
  return kb_gep(kb, DT_U8, base, offset);
}

static void copy_bytes(KB *kb, LLVMValueRef dst, LLVMValueRef src, int64_t bytes) {
  if (bytes > 0)
    LLVMBuildMemCpy(kb->b, dst, 1, src, 1, kb_idx(kb, bytes));
}

//
// If
//
typedef struct {
  Graph *branch[2]; // then, else; NULL: the branch cannot run with these shapes
  int first_capture;
} IfPlan;

typedef struct {
  Graph *g;
  int64_t arena;
} Preparing;

static void prepare(Compiler *cc, void *arg) {
  Preparing *p = arg;
  p->arena = prepare_subgraph(cc, p->g);
}

// Inference of an If whose condition is known only at run time (passes/infer.c inlines the
// others): both branches are compiled and must give outputs of the same static types. A
// branch that cannot be compiled with the static shapes (it expects another input length, say)
// becomes an error path: taking it returns EDGECC_ERROR_BRANCH, with a warning now.
void infer_If(Compiler *cc, Node *n) {
  IfPlan *p = pool_alloc(&cc->pool, sizeof(IfPlan));
  static const char *names[2] = {"then", "else"};
  const char *why[2] = {0};
  if (shape_numel(&n->in[0]->shape) != 1)
    fatal_at(cc, n, "the condition must have one element");
  int64_t arena = 0;
  for (int b = 0; b < 2; b++) {
    Preparing prep = {graph_attr(cc, n, b ? "else_branch" : "then_branch"), 0};
    if (prep.g->outputs.len != n->nout)
      fatal_at(cc, n, "the %s branch has %d outputs, the node %d", names[b], prep.g->outputs.len, n->nout);
    if ((why[b] = try_catch(cc, prepare, &prep)))
      continue;
    p->branch[b] = prep.g;
    arena = prep.arena > arena ? prep.arena : arena;
  }
  if (!p->branch[0] && !p->branch[1])
    fatal_at(cc, n, "neither branch can run with these shapes: then: %s; else: %s", why[0], why[1]);
  for (int b = 0; b < 2; b++)
    if (!p->branch[b]) {
      warn_at(cc, n, "the %s branch cannot run with these shapes (%s): the model returns EDGECC_ERROR_BRANCH "
              "if it is taken", names[b], why[b]);
      n->may_fail = true;
    }
  Graph *typed = p->branch[0] ? p->branch[0] : p->branch[1];
  name_omitted_outputs(n);
  for (int i = 0; i < n->nout; i++) {
    Value *t = typed->outputs.items[i], *e = p->branch[1] ? p->branch[1]->outputs.items[i] : t;
    if (!same_type(t, e))
      fatal_at(cc, n, "output %d is %s in the then branch and %s in the else branch: branches with different "
               "output types are not supported when the condition is known only at run time",
               i, type_str(cc, t), type_str(cc, e));
    produce_like(n, n->out[i], t);
  }
  Graph *runnable[2];
  int nrunnable = 0;
  for (int b = 0; b < 2; b++)
    if (p->branch[b])
      runnable[nrunnable++] = p->branch[b];
  p->first_capture = add_captures(cc, n, runnable, nrunnable);
  n->scratch = arena;
  n->priv = p;
}

static void lower_branch(KB *kb, Node *n, Graph *br, int first_capture) {
  if (!br) {
    kb_return_status(kb, EDGECC_ERROR_BRANCH);
    return;
  }
  Bindings b = {0};
  bind_captures(kb, &b, n, first_capture);
  for (int i = 0; i < n->nout; i++)
    bind(kb->cc, &b, br->outputs.items[i], kb->out_elems[i]);
  call_graph(kb, br, &b);
}

void lower_If(KB *kb, Node *n) {
  const IfPlan *p = n->priv;
  IfBlock ib;
  kb_if(kb, &ib, kb_load(kb, DT_BOOL, kb->in[0], kb_idx(kb, 0)));
  lower_branch(kb, n, p->branch[0], p->first_capture);
  kb_else(kb, &ib);
  lower_branch(kb, n, p->branch[1], p->first_capture);
  kb_end_if(kb, &ib);
}

//
// Stack (internal): inputs of one shape stacked along a new first axis. Unrolled loops build
// their scan outputs with it.
//
void infer_Stack(Compiler *cc, Node *n) {
  const Value *first = n->in[0];
  for (int i = 1; i < n->nin; i++)
    if (!same_type(n->in[i], first))
      fatal_at(cc, n, "scan output values differ between iterations: %s, then %s", type_str(cc, first),
               type_str(cc, n->in[i]));
  Shape s = {.rank = first->shape.rank + 1, .dim = {n->nin}};
  if (s.rank > MAX_RANK)
    fatal_at(cc, n, "rank %d exceeds the supported %d", s.rank, MAX_RANK);
  for (int d = 0; d < first->shape.rank; d++)
    s.dim[d + 1] = first->shape.dim[d];
  set_output(n, 0, first->dtype, s);
}

void lower_Stack(KB *kb, Node *n) {
  int64_t bytes = value_bytes(n->in[0]);
  for (int i = 0; i < n->nin; i++)
    copy_bytes(kb, byte_ptr(kb, kb->out[0], kb_idx(kb, i * bytes)), kb->in[i], bytes);
}

//
// Loop: inputs M, cond, carried...; body inputs iteration, cond, carried...; body outputs
// cond, carried..., scan...; node outputs carried..., scan...
//
typedef struct {
  Graph *body;
  int ncarried, nscan;
  int first_capture;
  int64_t max_trips;   // trips the scan outputs have room for; -1: unbounded (no scan outputs)
  bool exact;          // the trip count is max_trips (else scan outputs are dynamic)
  int64_t arena;       // the body's plan, at the start of the scratch
  int64_t iter_at, cond_in_at, cond_out_at, *carried_at; // scratch slots
} LoopPlan;

static Value *const_scalar(Graph *g, const char *name, DType dt, int64_t v) {
  Value *c = graph_const(g, name, dt, (Shape){0}, NULL);
  dtype_set(dt, c->data, 0, (double)v);
  return c;
}

static bool is_true(const Value *v) { return v->data && dtype_get(v->dtype, v->data, 0) != 0; }

// Unrolls N if its trip count is known at compile time: iteration by iteration, a copy of
// the body is inferred with the iteration number and condition as constants. Gives up (false)
// when a condition turns out to be known only at run time or the copies grow too many.
static bool unroll_loop(Compiler *cc, Node *n, Graph *body, int K, int S) {
  Value *m = node_input(n, 0), *cond = node_input(n, 1);
  if ((m && !m->data) || (cond && !cond->data))
    return false;
  int64_t trips = m ? value_int(m, 0) : INT64_MAX;
  int64_t per_trip = body->nodes.len > 0 ? body->nodes.len : 1;
  if (m && trips > UNROLL_MAX_NODES / per_trip)
    return false;
  Graph *copies = graph_new(cc, n->graph, pool_printf(&cc->pool, "%s_unrolled", n->name));
  int nb = 2 + K;
  Value **to = pool_alloc(&cc->pool, sizeof(Value *) * (size_t)(nb + 1));
  to[1] = cond ? cond : const_scalar(copies, "cond", DT_BOOL, 1);
  for (int k = 0; k < K; k++)
    to[2 + k] = n->in[2 + k];
  PtrVec *scans = pool_alloc(&cc->pool, sizeof(PtrVec) * (size_t)(S + 1));
  int64_t t = 0;
  for (; t < trips && is_true(to[1]); t++) {
    if ((t + 1) * per_trip > UNROLL_MAX_NODES)
      return false;
    to[0] = const_scalar(copies, pool_printf(&cc->pool, "%s_iteration%lld", n->name, (long long)t), DT_I64, t);
    Value **outs = graph_clone_into(body, copies, (Value **)body->inputs.items, to, nb);
    // Inference may replace what the copy's outputs are (nested loops unrolled, If inlined):
    // as the graph's outputs, they are kept up to date.
    copies->outputs = (PtrVec){(void **)outs, body->outputs.len, body->outputs.len};
    infer_graph(cc, copies); // the new copy: the earlier ones are inferred already
    outs = (Value **)copies->outputs.items;
    if (!outs[0]->data || copies->nodes.len > UNROLL_MAX_NODES) // nested loops unroll too
      return false;
    to[1] = outs[0];
    for (int k = 0; k < K; k++)
      to[2 + k] = outs[1 + k];
    for (int j = 0; j < S; j++)
      vec_push(&cc->pool, &scans[j], outs[1 + K + j]);
  }
  if (t == 0) // the body's output types are unknown without a copy: run-time loop of 0 trips
    return false;
  Value **results = pool_alloc(&cc->pool, sizeof(Value *) * (size_t)(K + S + 1));
  for (int k = 0; k < K; k++)
    results[k] = to[2 + k];
  for (int j = 0; j < S; j++) {
    Node *st = graph_new_node(copies, "Stack", "edgecc", pool_printf(&cc->pool, "%s_scan%d", n->name, j), scans[j].len, 1);
    for (int i = 0; i < scans[j].len; i++)
      st->in[i] = scans[j].items[i];
    Value *out = graph_new_value(copies, n->out[K + j] ? n->out[K + j]->name : "scan");
    out->producer = st;
    st->out[0] = results[K + j] = out;
  }
  infer_graph(cc, copies);
  replace_node(cc, n, copies, results);
  return true;
}

// The body's condition output is its condition input, through Identity nodes.
static bool passes_condition_through(Graph *body) {
  Value *v = body->outputs.items[0], *in = body->inputs.items[1];
  while (v != in && v->producer && v->producer->op && v->producer->op->kind == OP_Identity)
    v = v->producer->in[0];
  return v == in;
}

// Scratch: the body's plan, then the iteration number, the two conditions and a copy of each
// loop-carried value (the body reads it while it writes the node's output). Returns its size.
static int64_t plan_loop_scratch(Compiler *cc, LoopPlan *p) {
  int64_t at = align_up(cc, p->arena);
  p->iter_at = at;
  p->cond_in_at = at + 8;
  p->cond_out_at = at + 9;
  at = align_up(cc, at + 10);
  p->carried_at = pool_alloc(&cc->pool, sizeof(int64_t) * (size_t)(p->ncarried + 1));
  for (int k = 0; k < p->ncarried; k++) {
    p->carried_at[k] = at;
    at = align_up(cc, at + value_bytes(p->body->inputs.items[2 + k]));
  }
  return at;
}

void infer_Loop(Compiler *cc, Node *n) {
  Graph *body = graph_attr(cc, n, "body");
  int K = n->nin - 2, S = n->nout - K;
  if (K < 0 || S < 0 || body->inputs.len != 2 + K || body->outputs.len != 1 + K + S)
    fatal_at(cc, n, "the body has %d inputs and %d outputs for %d loop-carried values and %d scan outputs",
             body->inputs.len, body->outputs.len, K, S);
  bool invariant_cond = passes_condition_through(body);
  if (unroll_loop(cc, n, body, K, S))
    return;
  Value *m = node_input(n, 0), *cond = node_input(n, 1);
  for (int k = 0; k < K; k++)
    if (n->in[2 + k]->type != VAL_TENSOR)
      fatal_at(cc, n, "loop-carried value %d is a sequence or optional: supported only when the loop is unrolled "
               "(M and the conditions known at compile time, at most %d body copies)", k, UNROLL_MAX_NODES);
  LoopPlan *p = pool_alloc(&cc->pool, sizeof(LoopPlan));
  p->body = body;
  p->ncarried = K;
  p->nscan = S;
  type_tensor(body->inputs.items[0], DT_I64, (Shape){0});
  type_tensor(body->inputs.items[1], DT_BOOL, (Shape){0});
  for (int k = 0; k < K; k++)
    type_input(body->inputs.items[2 + k], n->in[2 + k]);
  p->arena = prepare_subgraph(cc, body);
  Value *cond_out = body->outputs.items[0];
  if (cond_out->type != VAL_TENSOR || cond_out->dtype != DT_BOOL || shape_numel(&cond_out->shape) != 1)
    fatal_at(cc, n, "the body's condition output must be one bool");
  for (int k = 0; k < K; k++) {
    Value *in = body->inputs.items[2 + k], *out = body->outputs.items[1 + k];
    if (!same_type(in, out))
      fatal_at(cc, n, "loop-carried value %d changes from %s to %s in the body: supported only when the loop is "
               "unrolled (M and the conditions known at compile time)", k, type_str(cc, in), type_str(cc, out));
  }
  p->max_trips = m && m->data ? value_int(m, 0) : -1;
  if (p->max_trips < -1)
    p->max_trips = 0;
  p->exact = p->max_trips >= 0 && (!cond || is_true(cond)) && (is_true(cond_out) || invariant_cond);
  name_omitted_outputs(n);
  for (int k = 0; k < K; k++)
    set_output(n, k, n->in[2 + k]->dtype, n->in[2 + k]->shape);
  for (int j = 0; j < S; j++) {
    Value *e = body->outputs.items[1 + K + j];
    if (e->type != VAL_TENSOR)
      fatal_at(cc, n, "scan output %d is a sequence or optional: not supported", j);
    if (p->max_trips < 0)
      fatal_at(cc, n, "scan output %d is not supported when the trip count M is known only at run time (its size "
               "must be static: bind M with --bind or make it a constant)", j);
    Shape s = {.rank = e->shape.rank + 1, .dim = {p->max_trips}};
    if (s.rank > MAX_RANK)
      fatal_at(cc, n, "scan output %d has rank %d, more than the supported %d", j, s.rank, MAX_RANK);
    for (int d = 0; d < e->shape.rank; d++)
      s.dim[d + 1] = e->shape.dim[d];
    set_output(n, K + j, e->dtype, s);
    n->out[K + j]->dynamic = p->exact ? 0 : DYN_DIM(0); // the iterations run
  }
  p->first_capture = add_captures(cc, n, &body, 1);
  n->scratch = plan_loop_scratch(cc, p);
  n->priv = p;
}

void lower_Loop(KB *kb, Node *n) {
  const LoopPlan *p = n->priv;
  Compiler *cc = kb->cc;
  Graph *body = p->body;
  int K = p->ncarried, S = p->nscan;
  LLVMTypeRef i1 = LLVMInt1TypeInContext(kb->ctx), i64 = LLVMInt64TypeInContext(kb->ctx);
  LLVMValueRef trips = node_input(n, 0) ? kb_load(kb, DT_I64, kb->in[0], kb_idx(kb, 0)) : LLVMConstInt(i64, INT64_MAX, 0);
  if (p->max_trips >= 0) // scan outputs have room for max_trips
    trips = kb_min(kb, DT_I64, trips, LLVMConstInt(i64, (unsigned long long)p->max_trips, 0));
  LLVMValueRef cond = node_input(n, 1) ? kb_load(kb, DT_BOOL, kb->in[1], kb_idx(kb, 0)) : LLVMConstInt(i1, 1, 0);
  for (int k = 0; k < K; k++) // the result when no trip runs
    copy_bytes(kb, kb->out[k], kb->in[2 + k], value_bytes(n->out[k]));
  LLVMValueRef iter = byte_ptr(kb, kb->scratch, kb_idx(kb, p->iter_at));
  LLVMValueRef cond_in = byte_ptr(kb, kb->scratch, kb_idx(kb, p->cond_in_at));
  LLVMValueRef cond_out = byte_ptr(kb, kb->scratch, kb_idx(kb, p->cond_out_at));
  LLVMValueRef i_var = kb_var(kb, i64, LLVMConstInt(i64, 0, 0)), c_var = kb_var(kb, i1, cond);
  LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(kb->ctx, kb->fn, "loop");
  LLVMBasicBlockRef trip = LLVMAppendBasicBlockInContext(kb->ctx, kb->fn, "trip");
  LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(kb->ctx, kb->fn, "done");
  LLVMBuildBr(kb->b, head);
  LLVMPositionBuilderAtEnd(kb->b, head);
  LLVMValueRef i = kb_get(kb, i64, i_var);
  LLVMValueRef go = LLVMBuildAnd(kb->b, LLVMBuildICmp(kb->b, LLVMIntSLT, i, trips, ""), kb_get(kb, i1, c_var), "");
  LLVMBuildCondBr(kb->b, go, trip, done);
  LLVMPositionBuilderAtEnd(kb->b, trip);
  kb_store(kb, DT_I64, iter, kb_idx(kb, 0), i);
  kb_store(kb, DT_BOOL, cond_in, kb_idx(kb, 0), kb_get(kb, i1, c_var));
  Bindings b = {0};
  bind_captures(kb, &b, n, p->first_capture);
  bind_one(cc, &b, body->inputs.items[0], iter);
  bind_one(cc, &b, body->inputs.items[1], cond_in);
  bind_one(cc, &b, body->outputs.items[0], cond_out);
  for (int k = 0; k < K; k++) {
    LLVMValueRef state = byte_ptr(kb, kb->scratch, kb_idx(kb, p->carried_at[k]));
    copy_bytes(kb, state, kb->out[k], value_bytes(n->out[k]));
    bind_one(cc, &b, body->inputs.items[2 + k], state);
    bind_one(cc, &b, body->outputs.items[1 + k], kb->out[k]);
  }
  for (int j = 0; j < S; j++) {
    Value *e = body->outputs.items[1 + K + j];
    LLVMValueRef at = LLVMBuildMul(kb->b, LLVMBuildIntCast2(kb->b, i, kb->t_idx, 1, ""), kb_idx(kb, value_bytes(e)), "");
    bind_one(cc, &b, e, byte_ptr(kb, kb->out[K + j], at));
  }
  call_graph(kb, body, &b);
  kb_set(kb, c_var, kb_load(kb, DT_BOOL, cond_out, kb_idx(kb, 0)));
  kb_set(kb, i_var, LLVMBuildAdd(kb->b, i, LLVMConstInt(i64, 1, 0), ""));
  LLVMBuildBr(kb->b, head);
  LLVMPositionBuilderAtEnd(kb->b, done);
  for (int j = 0; j < S; j++) { // the trips actually run
    Value *out = n->out[K + j];
    if (!out->dynamic)
      continue;
    kb_store(kb, DT_I64, kb->out_dims[K + j], kb_idx(kb, 0), kb_get(kb, i64, i_var));
    for (int d = 1; d < out->shape.rank; d++)
      kb_store(kb, DT_I64, kb->out_dims[K + j], kb_idx(kb, d), LLVMConstInt(i64, (unsigned long long)out->shape.dim[d], 0));
  }
}

//
// Scan: inputs [sequence_lens (opset 8)], state..., scan inputs...; body inputs state...,
// one slice of each scan input; body outputs state..., one slice of each scan output.
// Opset 8 has a leading batch dim on every input and output and scans axis 1.
//
typedef struct {
  Graph *body;
  int nstate, nscan_in, nscan_out;
  int first_state;           // 1 when input 0 is opset 8's sequence_lens
  int first_capture;
  bool batched;
  int64_t batch, trips;
  int *in_axis, *out_axis;   // scanned axis of the per-batch tensors
  bool *in_rev, *out_rev;
  int64_t *state_at, *slice_in_at, *slice_out_at; // scratch slots after the body's plan
} ScanPlan;

// A per-batch shape: without opset 8's leading batch dim.
static Shape unbatched(const ScanPlan *p, const Shape *s) {
  if (!p->batched)
    return *s;
  Shape r = {.rank = s->rank - 1};
  for (int d = 1; d < s->rank; d++)
    r.dim[d - 1] = s->dim[d];
  return r;
}

static Shape drop_axis(const Shape *s, int axis) {
  Shape r = {.rank = s->rank - 1};
  for (int d = 0, k = 0; d < s->rank; d++)
    if (d != axis)
      r.dim[k++] = s->dim[d];
  return r;
}

static void scan_attrs(Compiler *cc, Node *n, ScanPlan *p) {
  int m = p->nscan_in, k = p->nscan_out;
  p->in_axis = pool_alloc(&cc->pool, sizeof(int) * (size_t)(m + 1));
  p->out_axis = pool_alloc(&cc->pool, sizeof(int) * (size_t)(k + 1));
  p->in_rev = pool_alloc(&cc->pool, (size_t)m + 1);
  p->out_rev = pool_alloc(&cc->pool, (size_t)k + 1);
  const int64_t *v;
  int c;
  const char *in_dirs = p->batched ? "directions" : "scan_input_directions";
  if ((c = attr_ints(n, in_dirs, &v)) >= 0 && c != m)
    fatal_at(cc, n, "%s has %d entries for %d scan inputs", in_dirs, c, m);
  for (int j = 0; j < m; j++) {
    p->in_rev[j] = c >= 0 && v[j];
    Shape s = unbatched(p, &n->in[p->first_state + p->nstate + j]->shape);
    const int64_t *ax;
    int na = attr_ints(n, "scan_input_axes", &ax);
    if (na >= 0 && na != m)
      fatal_at(cc, n, "scan_input_axes has %d entries for %d scan inputs", na, m);
    p->in_axis[j] = norm_axis(cc, n, na >= 0 && !p->batched ? ax[j] : 0, s.rank);
  }
  if ((c = attr_ints(n, "scan_output_directions", &v)) >= 0 && c != k)
    fatal_at(cc, n, "scan_output_directions has %d entries for %d scan outputs", c, k);
  for (int j = 0; j < k; j++)
    p->out_rev[j] = c >= 0 && v[j];
}

void infer_Scan(Compiler *cc, Node *n) {
  ScanPlan *p = pool_alloc(&cc->pool, sizeof(ScanPlan));
  Graph *body = p->body = graph_attr(cc, n, "body");
  p->batched = n->opset < 9;
  p->first_state = p->batched ? 1 : 0;
  p->nscan_in = (int)attr_int(n, "num_scan_inputs", -1);
  p->nstate = n->nin - p->first_state - p->nscan_in;
  p->nscan_out = n->nout - p->nstate;
  if (p->nscan_in < 1 || p->nstate < 0 || p->nscan_out < 0 || body->inputs.len != p->nstate + p->nscan_in ||
      body->outputs.len != p->nstate + p->nscan_out)
    fatal_at(cc, n, "%d inputs and %d outputs do not fit num_scan_inputs %d and a body of %d inputs and %d outputs",
             n->nin, n->nout, p->nscan_in, body->inputs.len, body->outputs.len);
  for (int i = p->first_state; i < n->nin; i++)
    if (n->in[i]->type != VAL_TENSOR || (p->batched && n->in[i]->shape.rank < 1))
      fatal_at(cc, n, "input %d must be a tensor%s", i, p->batched ? " with a batch dim" : "");
  p->batch = p->batched ? n->in[p->first_state]->shape.dim[0] : 1;
  for (int i = p->first_state; p->batched && i < n->nin; i++)
    if (n->in[i]->shape.dim[0] != p->batch)
      fatal_at(cc, n, "input %d has batch size %lld, input %d %lld", i, (long long)n->in[i]->shape.dim[0],
               p->first_state, (long long)p->batch);
  Value *lens = p->batched ? node_input(n, 0) : NULL;
  if (lens && (!dtype_is_int(lens->dtype) || shape_numel(&lens->shape) != p->batch))
    fatal_at(cc, n, "sequence_lens must be integers, one per batch entry");
  scan_attrs(cc, n, p);
  for (int k = 0; k < p->nstate; k++) {
    Value *in = n->in[p->first_state + k];
    type_tensor(body->inputs.items[k], in->dtype, unbatched(p, &in->shape));
  }
  for (int j = 0; j < p->nscan_in; j++) {
    Value *in = n->in[p->first_state + p->nstate + j];
    Shape s = unbatched(p, &in->shape);
    int64_t len = s.dim[p->in_axis[j]];
    if (j > 0 && len != p->trips)
      fatal_at(cc, n, "scan input %d has %lld steps, scan input 0 %lld", j, (long long)len, (long long)p->trips);
    p->trips = len;
    type_tensor(body->inputs.items[p->nstate + j], in->dtype, drop_axis(&s, p->in_axis[j]));
  }
  int64_t at = align_up(cc, prepare_subgraph(cc, body));
  name_omitted_outputs(n);
  p->state_at = pool_alloc(&cc->pool, sizeof(int64_t) * (size_t)(p->nstate + 1));
  for (int k = 0; k < p->nstate; k++) {
    Value *in = body->inputs.items[k], *out = body->outputs.items[k];
    if (!same_type(in, out))
      fatal_at(cc, n, "state value %d changes from %s to %s in the body", k, type_str(cc, in), type_str(cc, out));
    set_output(n, k, n->in[p->first_state + k]->dtype, n->in[p->first_state + k]->shape);
    p->state_at[k] = at;
    at = align_up(cc, at + value_bytes(in));
  }
  p->slice_in_at = pool_alloc(&cc->pool, sizeof(int64_t) * (size_t)(p->nscan_in + 1));
  for (int j = 0; j < p->nscan_in; j++) {
    p->slice_in_at[j] = at;
    at = align_up(cc, at + value_bytes(body->inputs.items[p->nstate + j]));
  }
  p->slice_out_at = pool_alloc(&cc->pool, sizeof(int64_t) * (size_t)(p->nscan_out + 1));
  const int64_t *ax;
  int na = attr_ints(n, "scan_output_axes", &ax);
  if (na >= 0 && na != p->nscan_out)
    fatal_at(cc, n, "scan_output_axes has %d entries for %d scan outputs", na, p->nscan_out);
  for (int j = 0; j < p->nscan_out; j++) {
    Value *e = body->outputs.items[p->nstate + j];
    if (e->type != VAL_TENSOR)
      fatal_at(cc, n, "scan output %d is a sequence or optional: not supported", j);
    int rank = e->shape.rank + 1 + p->batched;
    if (rank > MAX_RANK)
      fatal_at(cc, n, "scan output %d has rank %d, more than the supported %d", j, rank, MAX_RANK);
    int axis = p->out_axis[j] = norm_axis(cc, n, na >= 0 && !p->batched ? ax[j] : 0, e->shape.rank + 1);
    Shape s = {.rank = rank};
    int r = 0;
    if (p->batched)
      s.dim[r++] = p->batch;
    for (int d = 0; d <= e->shape.rank; d++)
      s.dim[r++] = d == axis ? p->trips : e->shape.dim[d - (d > axis)];
    set_output(n, p->nstate + j, e->dtype, s);
    p->slice_out_at[j] = at;
    at = align_up(cc, at + value_bytes(e));
  }
  p->first_capture = add_captures(cc, n, &body, 1);
  n->scratch = at;
  n->priv = p;
}

// for o < OUTER: BYTES bytes from SRC + o * SRC_STRIDE to DST + o * DST_STRIDE
static void copy_rows(KB *kb, LLVMValueRef dst, LLVMValueRef src, int64_t outer, int64_t bytes, int64_t dst_stride,
                      int64_t src_stride) {
  if (bytes <= 0 || outer <= 0)
    return;
  Loop lo;
  LLVMValueRef o = kb_for(kb, &lo, outer);
  copy_bytes(kb, byte_ptr(kb, dst, LLVMBuildMul(kb->b, o, kb_idx(kb, dst_stride), "")),
             byte_ptr(kb, src, LLVMBuildMul(kb->b, o, kb_idx(kb, src_stride), "")), bytes);
  kb_end_for(kb, &lo);
}

// Byte sizes around AXIS of SHAPE: OUTER rows of AXIS-long runs of INNER-byte slices.
static void slab(const Shape *s, int axis, DType dt, int64_t *outer, int64_t *inner) {
  *outer = 1;
  *inner = dtype_size(dt);
  for (int d = 0; d < axis; d++)
    *outer *= s->dim[d];
  for (int d = axis + 1; d < s->rank; d++)
    *inner *= s->dim[d];
}

// Step T of LEN, counted from the end when REV.
static LLVMValueRef step_index(KB *kb, LLVMValueRef t, LLVMValueRef len, bool rev) {
  return rev ? LLVMBuildSub(kb->b, LLVMBuildSub(kb->b, len, kb_idx(kb, 1), ""), t, "") : t;
}

static void scan_step(KB *kb, Node *n, const ScanPlan *p, LLVMValueRef b, LLVMValueRef t, LLVMValueRef len) {
  Compiler *cc = kb->cc;
  Graph *body = p->body;
  Bindings bd = {0};
  bind_captures(kb, &bd, n, p->first_capture);
  for (int j = 0; j < p->nscan_in; j++) {
    Value *in = n->in[p->first_state + p->nstate + j];
    Shape s = unbatched(p, &in->shape);
    int64_t outer, inner;
    slab(&s, p->in_axis[j], in->dtype, &outer, &inner);
    LLVMValueRef at = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, b, kb_idx(kb, value_bytes(in) / p->batch), ""),
                                   LLVMBuildMul(kb->b, step_index(kb, t, len, p->in_rev[j]), kb_idx(kb, inner), ""), "");
    LLVMValueRef slice = byte_ptr(kb, kb->scratch, kb_idx(kb, p->slice_in_at[j]));
    copy_rows(kb, slice, byte_ptr(kb, kb->in[p->first_state + p->nstate + j], at), outer, inner, inner, p->trips * inner);
    bind_one(cc, &bd, body->inputs.items[p->nstate + j], slice);
  }
  for (int k = 0; k < p->nstate; k++) {
    int64_t bytes = value_bytes(body->inputs.items[k]);
    LLVMValueRef state = byte_ptr(kb, kb->scratch, kb_idx(kb, p->state_at[k]));
    LLVMValueRef out = byte_ptr(kb, kb->out[k], LLVMBuildMul(kb->b, b, kb_idx(kb, bytes), ""));
    copy_bytes(kb, state, out, bytes);
    bind_one(cc, &bd, body->inputs.items[k], state);
    bind_one(cc, &bd, body->outputs.items[k], out);
  }
  for (int j = 0; j < p->nscan_out; j++)
    bind_one(cc, &bd, body->outputs.items[p->nstate + j], byte_ptr(kb, kb->scratch, kb_idx(kb, p->slice_out_at[j])));
  call_graph(kb, body, &bd);
  for (int j = 0; j < p->nscan_out; j++) {
    Value *out = n->out[p->nstate + j];
    Shape s = unbatched(p, &out->shape);
    int64_t outer, inner;
    slab(&s, p->out_axis[j], out->dtype, &outer, &inner);
    LLVMValueRef at = LLVMBuildAdd(kb->b, LLVMBuildMul(kb->b, b, kb_idx(kb, value_bytes(out) / p->batch), ""),
                                   LLVMBuildMul(kb->b, step_index(kb, t, len, p->out_rev[j]), kb_idx(kb, inner), ""), "");
    copy_rows(kb, byte_ptr(kb, kb->out[p->nstate + j], at), byte_ptr(kb, kb->scratch, kb_idx(kb, p->slice_out_at[j])),
              outer, inner, p->trips * inner, inner);
  }
}

void lower_Scan(KB *kb, Node *n) {
  const ScanPlan *p = n->priv;
  Value *lens = p->batched ? node_input(n, 0) : NULL;
  for (int j = 0; lens && j < p->nscan_out; j++) // steps past a sequence's end stay zero
    kb_memset(kb, kb->out[p->nstate + j], 0, value_bytes(n->out[p->nstate + j]));
  Loop lb, lt;
  LLVMValueRef b = kb_for(kb, &lb, p->batch);
  for (int k = 0; k < p->nstate; k++) {
    int64_t bytes = value_bytes(p->body->inputs.items[k]);
    LLVMValueRef at = LLVMBuildMul(kb->b, b, kb_idx(kb, bytes), "");
    copy_bytes(kb, byte_ptr(kb, kb->out[k], at), byte_ptr(kb, kb->in[p->first_state + k], at), bytes);
  }
  LLVMValueRef len = kb_idx(kb, p->trips);
  if (lens) {
    len = kb_convert(kb, kb_load(kb, lens->dtype, kb->in[0], b), lens->dtype, DT_I64);
    len = LLVMBuildIntCast2(kb->b, len, kb->t_idx, 1, "");
    len = kb_min(kb, DT_I64, kb_max(kb, DT_I64, len, kb_idx(kb, 0)), kb_idx(kb, p->trips));
  }
  LLVMValueRef t = kb_for_v(kb, &lt, kb_idx(kb, 0), len, 1);
  scan_step(kb, n, p, b, t, len);
  kb_end_for(kb, &lt);
  kb_end_for(kb, &lb);
}
