// module.c — the LLVM module of a model: weights as constant globals, one internal function
// per node (its buffers as noalias parameters), the entry point that calls them in schedule
// order on the caller's buffers, and the model description the runtime reads.
#include "../compiler.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <string.h>

static void add_attr(LLVMContextRef ctx, LLVMValueRef fn, unsigned idx, const char *name) {
  unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
  LLVMAddAttributeAtIndex(fn, idx, LLVMCreateEnumAttribute(ctx, kind, 0));
}

// The operand tensors of N in the order of its function's parameters: inputs, outputs
// (sequences and optionals flattened to their members), then dynamic inputs and dynamic
// outputs again for their run-time dims. Returns the count; IS_DIMS marks the dims entries.
static int node_operands(Compiler *cc, Node *n, Value ***vals, bool **is_dims) {
  int total = 0;
  for (int i = 0; i < n->nin; i++)
    total += n->in[i] ? 2 * value_tensors(n->in[i], NULL) : 0;
  for (int i = 0; i < n->nout; i++)
    total += n->out[i] ? 2 * value_tensors(n->out[i], NULL) : 0;
  Value **v = pool_alloc(&cc->pool, sizeof(Value *) * (size_t)(total + 1));
  bool *dims = pool_alloc(&cc->pool, (size_t)total + 1);
  int k = 0;
  for (int i = 0; i < n->nin; i++)
    if (n->in[i])
      k += value_tensors(n->in[i], v + k);
  for (int i = 0; i < n->nout; i++)
    if (n->out[i])
      k += value_tensors(n->out[i], v + k);
  for (int i = 0, end = k; i < end; i++)
    if (v[i]->dynamic) {
      dims[k] = true;
      v[k++] = v[i];
    }
  *vals = v;
  *is_dims = dims;
  return k;
}

// Points each operand's parameter slot to consecutive parameters starting at *P.
static LLVMValueRef *bind_params(KB *kb, Value *v, unsigned *p, LLVMValueRef *first) {
  int count = value_tensors(v, NULL);
  LLVMValueRef *elems = pool_alloc(&kb->cc->pool, sizeof(LLVMValueRef) * (size_t)(count + 1));
  for (int k = 0; k < count; k++)
    elems[k] = LLVMGetParam(kb->fn, (*p)++);
  *first = v->type == VAL_TENSOR ? elems[0] : NULL;
  return elems;
}

// Starts N's function FN_NAME in MOD: its parameters are N's buffers (noalias), the run-time
// dims of its dynamic operands and its scratch; KB is positioned in its body, which it returns.
static LLVMBasicBlockRef begin_node(KB *kb, Compiler *cc, LLVMModuleRef mod, Node *n, const char *fn_name) {
  LLVMContextRef ctx = LLVMGetModuleContext(mod);
  LLVMTypeRef ptr = LLVMPointerTypeInContext(ctx, 0);
  Value **operands;
  bool *is_dims;
  int np = node_operands(cc, n, &operands, &is_dims) + (n->scratch > 0);
  LLVMTypeRef *params = pool_alloc(&cc->pool, sizeof(LLVMTypeRef) * (size_t)(np + 1));
  for (int i = 0; i < np; i++)
    params[i] = ptr;
  LLVMTypeRef ret = n->may_fail ? LLVMInt32TypeInContext(ctx) : LLVMVoidTypeInContext(ctx);
  LLVMTypeRef fty = LLVMFunctionType(ret, params, (unsigned)np, 0);
  LLVMValueRef fn = LLVMAddFunction(mod, fn_name, fty);
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  add_attr(ctx, fn, LLVMAttributeFunctionIndex, "nounwind");
  for (int i = 0; i < np; i++) {
    add_attr(ctx, fn, (unsigned)i + 1, "noalias");
    bool persistent_scratch = n->scratch > 0 && n->scratch_persists && i == np - 1;
    if (!persistent_scratch) // outputs point into a persistent scratch: it is captured
      add_attr(ctx, fn, (unsigned)i + 1, "nocapture");
  }
  *kb = (KB){.cc = cc, .ctx = ctx, .mod = mod, .fn = fn, .node = n, .t_ptr = ptr};
  const char *dl = LLVMGetDataLayoutStr(mod);
  LLVMTargetDataRef td = LLVMCreateTargetData(dl);
  kb->t_idx = LLVMIntPtrTypeInContext(ctx, td);
  LLVMDisposeTargetData(td);
  kb->vector_bits = cc->target ? cc->target->vector_bits : 128;
  kb->force_vectorize = cc->target && cc->target->vector_flushes_denormals;
  kb->threads = cc->codegen_threads;
  size_t nin = (size_t)(n->nin + 1), nout = (size_t)(n->nout + 1);
  kb->in = pool_alloc(&cc->pool, sizeof(LLVMValueRef) * nin);
  kb->out = pool_alloc(&cc->pool, sizeof(LLVMValueRef) * nout);
  kb->in_elems = pool_alloc(&cc->pool, sizeof(LLVMValueRef *) * nin);
  kb->out_elems = pool_alloc(&cc->pool, sizeof(LLVMValueRef *) * nout);
  kb->in_dims = pool_alloc(&cc->pool, sizeof(LLVMValueRef) * nin);
  kb->out_dims = pool_alloc(&cc->pool, sizeof(LLVMValueRef) * nout);
  kb->in_elem_dims = pool_alloc(&cc->pool, sizeof(LLVMValueRef *) * nin);
  kb->out_elem_dims = pool_alloc(&cc->pool, sizeof(LLVMValueRef *) * nout);
  kb->out_shape = pool_alloc(&cc->pool, sizeof(RtShape) * nout);
  unsigned p = 0;
  for (int i = 0; i < n->nin; i++)
    if (n->in[i])
      kb->in_elems[i] = bind_params(kb, n->in[i], &p, &kb->in[i]);
  for (int i = 0; i < n->nout; i++)
    if (n->out[i])
      kb->out_elems[i] = bind_params(kb, n->out[i], &p, &kb->out[i]);
  for (int i = 0; i < n->nin + n->nout; i++) { // run-time dims, in node_operands' order
    Value *v = i < n->nin ? n->in[i] : n->out[i - n->nin];
    int count = 0;
    Value **ts = v ? tensors_of(&cc->pool, v, &count) : NULL;
    LLVMValueRef *elem_dims = pool_alloc(&cc->pool, sizeof(LLVMValueRef) * (size_t)(count + 1));
    *(i < n->nin ? &kb->in_elem_dims[i] : &kb->out_elem_dims[i - n->nin]) = elem_dims;
    for (int k = 0; k < count; k++)
      if (ts[k]->dynamic)
        elem_dims[k] = LLVMGetParam(fn, p++);
    if (v && v->type == VAL_TENSOR)
      *(i < n->nin ? &kb->in_dims[i] : &kb->out_dims[i - n->nin]) = elem_dims[0];
  }
  // Without scratch the pointer is null, never dereferenced: lowerings whose scratch size
  // comes out 0 (empty tensors) still build valid IR.
  kb->scratch = n->scratch > 0 ? LLVMGetParam(fn, p++) : LLVMConstNull(ptr);
  kb->b = LLVMCreateBuilderInContext(ctx);
  kb->entry = LLVMAppendBasicBlockInContext(ctx, fn, "entry");
  LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(ctx, fn, "start");
  LLVMPositionBuilderAtEnd(kb->b, body);
  return body;
}

static void end_node(KB *kb, LLVMBasicBlockRef body) {
  if (kb->node->may_fail)
    LLVMBuildRet(kb->b, LLVMConstNull(LLVMInt32TypeInContext(kb->ctx))); // EDGECC_OK
  else
    LLVMBuildRetVoid(kb->b);
  LLVMPositionBuilderAtEnd(kb->b, kb->entry); // allocas first, then into the body
  LLVMBuildBr(kb->b, body);
  LLVMDisposeBuilder(kb->b);
}

// The run-time dims of N's dynamic outputs, from its op's dims function, kept within the
// bounds the buffers were planned for: inputs that break the model's shape rules cannot make
// a kernel write past a buffer.
static void compute_out_dims(KB *kb, Node *n) {
  if (!n->op->dims || !has_dynamic_output(n))
    return;
  n->op->dims(kb, n, kb->out_shape);
  for (int i = 0; i < n->nout; i++) {
    Value *v = n->out[i];
    if (!v || v->type != VAL_TENSOR || !v->dynamic)
      continue;
    RtShape *s = &kb->out_shape[i];
    for (int d = 0; d < s->rank; d++)
      s->dim[d] = kb_max(kb, DT_I64, kb_min(kb, DT_I64, s->dim[d], kb_idx(kb, v->shape.dim[d])), kb_idx(kb, 0));
    kb_set_out_shape(kb, i, s);
  }
}

LLVMValueRef lower_node_function(Compiler *cc, LLVMModuleRef mod, Node *n, const char *fn_name) {
  KB kb;
  LLVMBasicBlockRef body = begin_node(&kb, cc, mod, n, fn_name);
  compute_out_dims(&kb, n);
  if (n->op->lower)
    n->op->lower(&kb, n);
  end_node(&kb, body);
  return kb.fn;
}

void mark_dynamic_dims(Compiler *cc, Node *n) {
  if (!n->op->dims) { // the inference marked what data decides; inputs' dims may flow anywhere
    for (int i = 0; i < n->nout && has_dynamic_input(n); i++)
      if (n->out[i] && n->out[i]->type == VAL_TENSOR && !n->out[i]->dynamic)
        n->out[i]->dynamic = DYN_ALL(n->out[i]->shape.rank);
    return;
  }
  LLVMContextRef ctx = LLVMContextCreate();
  LLVMModuleRef mod = LLVMModuleCreateWithNameInContext("dims", ctx);
  KB kb;
  LLVMBasicBlockRef body = begin_node(&kb, cc, mod, n, "dims");
  n->op->dims(&kb, n, kb.out_shape);
  uint16_t *masks = pool_alloc(&cc->pool, sizeof(uint16_t) * (size_t)(n->nout + 1));
  int disagrees = -1;
  for (int i = 0; i < n->nout; i++) {
    const Value *v = n->out[i];
    const RtShape *s = &kb.out_shape[i];
    if (!v || v->type != VAL_TENSOR)
      continue;
    if (s->rank != v->shape.rank)
      disagrees = i;
    for (int d = 0; d < s->rank && d < v->shape.rank; d++) {
      if (!LLVMIsAConstantInt(s->dim[d]))
        masks[i] |= DYN_DIM(d);
      else if (LLVMConstIntGetSExtValue(s->dim[d]) != v->shape.dim[d])
        disagrees = i;
    }
  }
  end_node(&kb, body);
  LLVMContextDispose(ctx);
  if (disagrees >= 0)
    fatal_at(cc, n, "internal error: the run-time dims of output %d disagree with its inferred shape", disagrees);
  for (int i = 0; i < n->nout; i++)
    if (n->out[i] && n->out[i]->type == VAL_TENSOR)
      n->out[i]->dynamic = masks[i];
}

// Where the values of a graph live while its nodes are called: pointers the caller bound
// (graph inputs and outputs, outer values), constants in .rodata, else the graph's plan
// offsets from BASE (the arena for the model, the owner's scratch for a subgraph).
typedef struct {
  Compiler *cc;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTypeRef idx;
  LLVMValueRef base;
  LLVMValueRef *bound; // by value id
  LLVMValueRef fn;     // the function the calls go into (returns the status of failing nodes)
} Frame;

static LLVMValueRef weight_global(Frame *f, Value *v) {
  char name[32];
  snprintf(name, sizeof name, "w%d", v->id);
  LLVMValueRef g = LLVMGetNamedGlobal(f->mod, name);
  if (g)
    return g;
  if (v->dtype == DT_STRING) { // pointers to constant copies of the text
    g = const_string_table(f->mod, v->data, shape_numel(&v->shape));
    LLVMSetValueName2(g, name, strlen(name));
    return g;
  }
  LLVMContextRef ctx = LLVMGetModuleContext(f->mod);
  LLVMValueRef init = LLVMConstStringInContext(ctx, v->data, (unsigned)value_bytes(v), 1);
  g = LLVMAddGlobal(f->mod, LLVMTypeOf(init), name);
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
  LLVMSetAlignment(g, (unsigned)(f->cc->target ? f->cc->target->alignment : 16));
  return g;
}

static LLVMValueRef base_ptr(Frame *f, int64_t offset) {
  LLVMValueRef off = LLVMConstInt(f->idx, (unsigned long long)offset, 0);
  return LLVMBuildInBoundsGEP2(f->b, LLVMInt8TypeInContext(LLVMGetModuleContext(f->mod)), f->base, &off, 1, "");
}

static LLVMValueRef frame_ptr(Frame *f, Value *v) {
  for (;; v = v->alias_of) {
    if (f->bound[v->id])
      return f->bound[v->id];
    if (!v->alias_of)
      break;
  }
  if (v->data)
    return weight_global(f, v);
  if (v->offset < 0)
    fatal_at(f->cc, v->producer, "internal error: value '%s' has no storage", v->name);
  return base_ptr(f, v->offset);
}

// The run-time dims of a dynamic value (views have their own: their dims may differ).
static LLVMValueRef dims_ptr(Frame *f, Value *v) { return base_ptr(f, v->dims_offset); }

// A node that failed stops the run: its status is returned from the calling function.
static void return_if_failed(Frame *f, LLVMValueRef status) {
  LLVMContextRef ctx = LLVMGetModuleContext(f->mod);
  LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(ctx, f->fn, "failed");
  LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(ctx, f->fn, "ok");
  LLVMBuildCondBr(f->b, LLVMBuildIsNotNull(f->b, status, ""), fail, next);
  LLVMPositionBuilderAtEnd(f->b, fail);
  LLVMBuildRet(f->b, status);
  LLVMPositionBuilderAtEnd(f->b, next);
}

// Calls the lowered nodes of G in schedule order; their functions are named PREFIX<step>_<op>.
static void call_nodes(Frame *f, Graph *g, const char *prefix) {
  for (int s = 0; s < g->nodes.len; s++) {
    Node *n = g->nodes.items[s];
    if (!n->op->lower && !(n->op->dims && has_dynamic_output(n))) // views of dynamic values set dims
      continue;
    LLVMValueRef nf = lower_node_function(f->cc, f->mod, n, pool_printf(&f->cc->pool, "%s%d_%s", prefix, s, n->op->name));
    Value **operands;
    bool *is_dims;
    int na = node_operands(f->cc, n, &operands, &is_dims);
    LLVMValueRef *args = pool_alloc(&f->cc->pool, sizeof(LLVMValueRef) * (size_t)(na + 2));
    for (int i = 0; i < na; i++)
      args[i] = is_dims[i] ? dims_ptr(f, operands[i]) : frame_ptr(f, operands[i]);
    if (n->scratch > 0)
      args[na++] = base_ptr(f, n->scratch_offset);
    LLVMValueRef status = LLVMBuildCall2(f->b, LLVMGlobalGetValueType(nf), nf, args, (unsigned)na, "");
    if (n->may_fail)
      return_if_failed(f, status);
  }
}

void kb_call_graph(KB *kb, Graph *g, Value **vals, LLVMValueRef *ptrs, int nbound, LLVMValueRef base) {
  Compiler *cc = kb->cc;
  Frame f = {cc, kb->mod, kb->b, kb->t_idx, base,
             pool_alloc(&cc->pool, sizeof(LLVMValueRef) * (size_t)(cc->next_value_id + 1)), kb->fn};
  for (int i = 0; i < nbound; i++)
    f.bound[vals[i]->id] = ptrs[i];
  call_nodes(&f, g, pool_printf(&cc->pool, "%s.", LLVMGetValueName(kb->fn)));
}

typedef struct {
  Compiler *cc;
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTypeRef ptr, idx;
  int align;
} Entry;

static LLVMValueRef const_string(Entry *e, const char *str) {
  LLVMValueRef init = LLVMConstStringInContext(e->ctx, str, (unsigned)strlen(str), 0);
  LLVMValueRef g = LLVMAddGlobal(e->mod, LLVMTypeOf(init), "str");
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
  return g;
}

static LLVMValueRef load_ptr_at(Entry *e, LLVMValueRef array, int i) {
  LLVMValueRef idx = LLVMConstInt(e->idx, (unsigned long long)i, 0);
  return LLVMBuildLoad2(e->b, e->ptr, LLVMBuildInBoundsGEP2(e->b, e->ptr, array, &idx, 1, ""), "");
}

// The bound string inputs were compiled for (0 when there are none).
static int64_t max_string_length(Graph *g) {
  int64_t bound = 0;
  for (int i = 0; i < g->inputs.len; i++) {
    Value *v = g->inputs.items[i];
    if (v->dtype == DT_STRING && v->max_strlen > bound)
      bound = v->max_strlen;
  }
  return bound;
}

// String inputs must be within the bound the arena was planned for: run() returns
// EDGECC_ERROR_STRING otherwise, before any node runs.
static void check_string_inputs(Entry *e, Graph *g, LLVMValueRef fn, LLVMValueRef *bound) {
  LLVMTypeRef i32 = LLVMInt32TypeInContext(e->ctx);
  LLVMTypeRef params[3] = {e->ptr, e->idx, e->idx};
  LLVMTypeRef fty = LLVMFunctionType(i32, params, 3, 0);
  LLVMValueRef fit = NULL;
  LLVMBasicBlockRef fail = NULL;
  for (int i = 0; i < g->inputs.len; i++) {
    Value *v = g->inputs.items[i];
    if (v->dtype != DT_STRING)
      continue;
    if (!fit) {
      fit = LLVMAddFunction(e->mod, "edgecc_strings_fit", fty);
      fail = LLVMAppendBasicBlockInContext(e->ctx, fn, "bad_string");
    }
    LLVMValueRef args[3] = {bound[v->id], LLVMConstInt(e->idx, (unsigned long long)shape_numel(&v->shape), 0),
                            LLVMConstInt(e->idx, (unsigned long long)v->max_strlen, 0)};
    LLVMValueRef ok = LLVMBuildICmp(e->b, LLVMIntNE, LLVMBuildCall2(e->b, fty, fit, args, 3, ""), LLVMConstNull(i32), "");
    LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(e->ctx, fn, "strings_fit");
    LLVMBuildCondBr(e->b, ok, next, fail);
    LLVMPositionBuilderAtEnd(e->b, next);
  }
  if (!fail)
    return;
  LLVMBasicBlockRef here = LLVMGetInsertBlock(e->b);
  LLVMPositionBuilderAtEnd(e->b, fail);
  LLVMBuildRet(e->b, LLVMConstInt(i32, 2, 0)); // EDGECC_ERROR_STRING
  LLVMPositionBuilderAtEnd(e->b, here);
}

// int32_t PREFIX_run(const void *const *inputs, void *const *outputs, void *arena,
//                    int64_t *output_dims)
static LLVMValueRef build_entry(Entry *e, Graph *g, const char *prefix) {
  LLVMTypeRef params[4] = {e->ptr, e->ptr, e->ptr, e->ptr};
  LLVMTypeRef fty = LLVMFunctionType(LLVMInt32TypeInContext(e->ctx), params, 4, 0);
  LLVMValueRef fn = LLVMAddFunction(e->mod, pool_printf(&e->cc->pool, "%s_run", prefix), fty);
  add_attr(e->ctx, fn, LLVMAttributeFunctionIndex, "nounwind");
  LLVMPositionBuilderAtEnd(e->b, LLVMAppendBasicBlockInContext(e->ctx, fn, "entry"));
  LLVMValueRef arena = LLVMGetParam(fn, 2);
  LLVMSetValueName2(arena, "arena", 5);
  Frame f = {e->cc, e->mod, e->b, e->idx, arena,
             pool_alloc(&e->cc->pool, sizeof(LLVMValueRef) * (size_t)(e->cc->next_value_id + 1)), fn};
  for (int i = 0; i < g->inputs.len; i++)
    f.bound[((Value *)g->inputs.items[i])->id] = load_ptr_at(e, LLVMGetParam(fn, 0), i);
  for (int i = 0; i < g->outputs.len; i++)
    f.bound[((Value *)g->outputs.items[i])->id] = load_ptr_at(e, LLVMGetParam(fn, 1), i);
  check_string_inputs(e, g, fn, f.bound);
  call_nodes(&f, g, "node");
  // Actual dims of every output, concatenated, when the caller asks for them.
  LLVMValueRef dims = LLVMGetParam(fn, 3);
  int pos = 0;
  for (int i = 0; i < g->outputs.len; i++)
    pos += ((Value *)g->outputs.items[i])->shape.rank;
  if (pos > 0) { // write them only when output_dims != NULL
    LLVMBasicBlockRef write = LLVMAppendBasicBlockInContext(e->ctx, fn, "dims");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(e->ctx, fn, "done");
    LLVMBuildCondBr(e->b, LLVMBuildIsNotNull(e->b, dims, ""), write, done);
    LLVMPositionBuilderAtEnd(e->b, write);
    pos = 0;
    for (int i = 0; i < g->outputs.len; i++) {
      Value *v = g->outputs.items[i];
      for (int d = 0; d < v->shape.rank; d++, pos++) {
        LLVMTypeRef i64 = LLVMInt64TypeInContext(e->ctx);
        LLVMValueRef idx = LLVMConstInt(e->idx, (unsigned long long)pos, 0);
        LLVMValueRef val = LLVMConstInt(i64, (unsigned long long)v->shape.dim[d], 0);
        if (v->dynamic) {
          LLVMValueRef di = LLVMConstInt(e->idx, (unsigned long long)d, 0);
          val = LLVMBuildLoad2(e->b, i64, LLVMBuildInBoundsGEP2(e->b, i64, dims_ptr(&f, v), &di, 1, ""), "");
        }
        LLVMBuildStore(e->b, val, LLVMBuildInBoundsGEP2(e->b, i64, dims, &idx, 1, ""));
      }
    }
    LLVMBuildBr(e->b, done);
    LLVMPositionBuilderAtEnd(e->b, done);
  }
  LLVMBuildRet(e->b, LLVMConstInt(LLVMInt32TypeInContext(e->ctx), 0, 0));
  return fn;
}

// const edgecc_tensor_info[]: {name, dtype, rank, shape, dynamic}
static LLVMValueRef tensor_infos(Entry *e, PtrVec *vals, const char *sym) {
  LLVMTypeRef i32 = LLVMInt32TypeInContext(e->ctx), i64 = LLVMInt64TypeInContext(e->ctx);
  LLVMTypeRef fields[5] = {e->ptr, i32, i32, e->ptr, i32};
  LLVMTypeRef ty = LLVMStructTypeInContext(e->ctx, fields, 5, 0);
  LLVMValueRef *elems = pool_alloc(&e->cc->pool, sizeof(LLVMValueRef) * (size_t)(vals->len + 1));
  for (int i = 0; i < vals->len; i++) {
    Value *v = vals->items[i];
    LLVMValueRef dims[MAX_RANK];
    for (int d = 0; d < v->shape.rank; d++)
      dims[d] = LLVMConstInt(i64, (unsigned long long)v->shape.dim[d], 0);
    LLVMValueRef shape_init = LLVMConstArray2(i64, dims, (uint64_t)v->shape.rank);
    LLVMValueRef shape = LLVMAddGlobal(e->mod, LLVMTypeOf(shape_init), pool_printf(&e->cc->pool, "%s_shape%d", sym, i));
    LLVMSetInitializer(shape, shape_init);
    LLVMSetGlobalConstant(shape, 1);
    LLVMSetLinkage(shape, LLVMPrivateLinkage);
    LLVMValueRef name = const_string(e, v->name);
    LLVMValueRef f[5] = {name, LLVMConstInt(i32, (unsigned)v->dtype, 0), LLVMConstInt(i32, (unsigned)v->shape.rank, 0),
                         shape, LLVMConstInt(i32, v->dynamic != 0, 0)};
    elems[i] = LLVMConstNamedStruct(ty, f, 5);
  }
  LLVMValueRef init = LLVMConstArray2(ty, elems, (uint64_t)vals->len);
  LLVMValueRef gv = LLVMAddGlobal(e->mod, LLVMTypeOf(init), sym);
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMPrivateLinkage);
  return gv;
}

// const edgecc_model_info PREFIX_info = {name, num_inputs, num_outputs, inputs, outputs,
//                                         arena_size, arena_align, run, max_string_length};
static void build_info(Entry *e, Graph *g, const MemoryPlan *plan, const char *prefix, LLVMValueRef run) {
  LLVMTypeRef i32 = LLVMInt32TypeInContext(e->ctx);
  LLVMValueRef ins = tensor_infos(e, &g->inputs, pool_printf(&e->cc->pool, "%s_inputs", prefix));
  LLVMValueRef outs = tensor_infos(e, &g->outputs, pool_printf(&e->cc->pool, "%s_outputs", prefix));
  LLVMTypeRef fields[9] = {e->ptr, i32, i32, e->ptr, e->ptr, e->idx, e->idx, e->ptr, e->idx};
  LLVMTypeRef ty = LLVMStructTypeInContext(e->ctx, fields, 9, 0);
  LLVMValueRef f[9] = {const_string(e, prefix),
                       LLVMConstInt(i32, (unsigned)g->inputs.len, 0),
                       LLVMConstInt(i32, (unsigned)g->outputs.len, 0),
                       ins, outs,
                       LLVMConstInt(e->idx, (unsigned long long)plan->arena_size, 0),
                       LLVMConstInt(e->idx, (unsigned long long)e->align, 0),
                       run,
                       LLVMConstInt(e->idx, (unsigned long long)max_string_length(g), 0)};
  LLVMValueRef info = LLVMAddGlobal(e->mod, ty, pool_printf(&e->cc->pool, "%s_info", prefix));
  LLVMSetInitializer(info, LLVMConstNamedStruct(ty, f, 9));
  LLVMSetGlobalConstant(info, 1);
}

// LLVM's own diagnostics go through ours: errors fail the compile, warnings (missed
// optimizations) are shown with -v only.
static void llvm_diagnostic(LLVMDiagnosticInfoRef info, void *ctx) {
  Compiler *cc = ctx;
  LLVMDiagnosticSeverity sev = LLVMGetDiagInfoSeverity(info);
  char *msg = LLVMGetDiagInfoDescription(info);
  if (strstr(msg, "stack frame size (")) // asked for by --report
    note_stack_size(cc, msg);
  else if (sev != LLVMDSError && !(sev == LLVMDSWarning && cc->opt.verbose))
    ;
  else if (sev == LLVMDSError)
    error_at(cc, NULL, "LLVM: %s", msg);
  else
    warn_at(cc, NULL, "LLVM: %s", msg);
  LLVMDisposeMessage(msg);
}

Module build_module(Compiler *cc, Graph *g, const MemoryPlan *plan, const char *prefix) {
  Module m = {0};
  m.tm = target_machine(cc, cc->target);
  m.ctx = LLVMContextCreate();
  LLVMContextSetDiagnosticHandler(m.ctx, llvm_diagnostic, cc);
  m.mod = LLVMModuleCreateWithNameInContext(prefix, m.ctx);
  char *triple = LLVMGetTargetMachineTriple(m.tm);
  LLVMSetTarget(m.mod, triple);
  LLVMDisposeMessage(triple);
  LLVMTargetDataRef td = LLVMCreateTargetDataLayout(m.tm);
  char *dl = LLVMCopyStringRepOfTargetData(td);
  LLVMSetDataLayout(m.mod, dl);
  LLVMDisposeMessage(dl);
  Entry e = {.cc = cc, .ctx = m.ctx, .mod = m.mod, .align = cc->target->alignment};
  e.ptr = LLVMPointerTypeInContext(m.ctx, 0);
  e.idx = LLVMIntPtrTypeInContext(m.ctx, td);
  LLVMDisposeTargetData(td);
  e.b = LLVMCreateBuilderInContext(m.ctx);
  LLVMValueRef run = build_entry(&e, g, prefix);
  build_info(&e, g, plan, prefix, run);
  LLVMDisposeBuilder(e.b);
  char *msg = NULL;
  if (LLVMVerifyModule(m.mod, LLVMReturnStatusAction, &msg))
    fatal_at(cc, NULL, "internal error: invalid LLVM module: %s", msg);
  LLVMDisposeMessage(msg);
  return m;
}

void optimize_module(Compiler *cc, Module *m) {
  LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
  LLVMPassBuilderOptionsSetLoopVectorization(opts, 1);
  LLVMPassBuilderOptionsSetSLPVectorization(opts, 1);
  LLVMPassBuilderOptionsSetLoopUnrolling(opts, 1);
  char pipeline[16];
  snprintf(pipeline, sizeof pipeline, "default<O%d>", cc->opt.opt_level);
  LLVMErrorRef err = LLVMRunPasses(m->mod, pipeline, m->tm, opts);
  LLVMDisposePassBuilderOptions(opts);
  if (err) {
    char *msg = LLVMGetErrorMessage(err);
    error_at(cc, NULL, "internal error: optimization failed: %s", msg);
    LLVMDisposeErrorMessage(msg);
    bail_if_errors(cc);
  }
}

void dispose_module(Module *m) {
  if (m->mod)
    LLVMDisposeModule(m->mod);
  if (m->ctx)
    LLVMContextDispose(m->ctx);
  if (m->tm)
    LLVMDisposeTargetMachine(m->tm);
  *m = (Module){0};
}
