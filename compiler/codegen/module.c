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

LLVMValueRef lower_node_function(Compiler *cc, LLVMModuleRef mod, Node *n, const char *fn_name) {
  LLVMContextRef ctx = LLVMGetModuleContext(mod);
  LLVMTypeRef ptr = LLVMPointerTypeInContext(ctx, 0);
  LLVMTypeRef params[64];
  int np = 0;
  for (int i = 0; i < n->nin; i++)
    if (n->in[i])
      params[np++] = ptr;
  for (int i = 0; i < n->nout; i++)
    if (n->out[i])
      params[np++] = ptr;
  for (int i = 0; i < n->nin; i++)
    if (n->in[i] && n->in[i]->dynamic)
      params[np++] = ptr;
  for (int i = 0; i < n->nout; i++)
    if (n->out[i] && n->out[i]->dynamic)
      params[np++] = ptr;
  if (n->scratch > 0)
    params[np++] = ptr;
  if (np > 64)
    fatal_at(cc, n, "too many operands");
  LLVMTypeRef fty = LLVMFunctionType(LLVMVoidTypeInContext(ctx), params, (unsigned)np, 0);
  LLVMValueRef fn = LLVMAddFunction(mod, fn_name, fty);
  LLVMSetLinkage(fn, LLVMInternalLinkage);
  add_attr(ctx, fn, LLVMAttributeFunctionIndex, "nounwind");
  for (int i = 0; i < np; i++) {
    add_attr(ctx, fn, (unsigned)i + 1, "noalias");
    add_attr(ctx, fn, (unsigned)i + 1, "nocapture");
  }
  KB kb = {.cc = cc, .ctx = ctx, .mod = mod, .fn = fn, .node = n, .t_ptr = ptr};
  const char *dl = LLVMGetDataLayoutStr(mod);
  LLVMTargetDataRef td = LLVMCreateTargetData(dl);
  kb.t_idx = LLVMIntPtrTypeInContext(ctx, td);
  LLVMDisposeTargetData(td);
  kb.vector_bits = cc->target ? cc->target->vector_bits : 128;
  kb.force_vectorize = cc->target && cc->target->vector_flushes_denormals;
  kb.threads = cc->codegen_threads;
  kb.in = pool_alloc(&cc->pool, sizeof(LLVMValueRef) * (size_t)(n->nin + 1));
  kb.out = pool_alloc(&cc->pool, sizeof(LLVMValueRef) * (size_t)(n->nout + 1));
  kb.in_dims = pool_alloc(&cc->pool, sizeof(LLVMValueRef) * (size_t)(n->nin + 1));
  kb.out_dims = pool_alloc(&cc->pool, sizeof(LLVMValueRef) * (size_t)(n->nout + 1));
  unsigned p = 0;
  for (int i = 0; i < n->nin; i++)
    if (n->in[i])
      kb.in[i] = LLVMGetParam(fn, p++);
  for (int i = 0; i < n->nout; i++)
    if (n->out[i])
      kb.out[i] = LLVMGetParam(fn, p++);
  for (int i = 0; i < n->nin; i++)
    if (n->in[i] && n->in[i]->dynamic)
      kb.in_dims[i] = LLVMGetParam(fn, p++);
  for (int i = 0; i < n->nout; i++)
    if (n->out[i] && n->out[i]->dynamic)
      kb.out_dims[i] = LLVMGetParam(fn, p++);
  if (n->scratch > 0)
    kb.scratch = LLVMGetParam(fn, p++);
  kb.b = LLVMCreateBuilderInContext(ctx);
  kb.entry = LLVMAppendBasicBlockInContext(ctx, fn, "entry");
  LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(ctx, fn, "start");
  LLVMPositionBuilderAtEnd(kb.b, body);
  if (n->op->lower)
    n->op->lower(&kb, n);
  LLVMBuildRetVoid(kb.b);
  LLVMPositionBuilderAtEnd(kb.b, kb.entry); // allocas first, then into the body
  LLVMBuildBr(kb.b, body);
  LLVMDisposeBuilder(kb.b);
  return fn;
}

typedef struct {
  Compiler *cc;
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMTypeRef ptr, idx;
  LLVMValueRef arena, *in_ptrs, *out_ptrs;
  LLVMValueRef *weights; // by value id
  int align;
} Entry;

static LLVMValueRef weight_global(Entry *e, Value *v) {
  if (e->weights[v->id])
    return e->weights[v->id];
  int64_t bytes = value_bytes(v);
  LLVMValueRef init = LLVMConstStringInContext(e->ctx, v->data, (unsigned)bytes, 1);
  LLVMValueRef g = LLVMAddGlobal(e->mod, LLVMTypeOf(init), pool_printf(&e->cc->pool, "w%d", v->id));
  LLVMSetInitializer(g, init);
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
  LLVMSetAlignment(g, (unsigned)e->align);
  return e->weights[v->id] = g;
}

static LLVMValueRef value_ptr(Entry *e, Value *v) {
  while (v->alias_of)
    v = v->alias_of;
  if (v->output_index >= 0)
    return e->out_ptrs[v->output_index];
  if (v->input_index >= 0)
    return e->in_ptrs[v->input_index];
  if (v->data)
    return weight_global(e, v);
  LLVMValueRef off = LLVMConstInt(e->idx, (unsigned long long)v->offset, 0);
  return LLVMBuildInBoundsGEP2(e->b, LLVMInt8TypeInContext(e->ctx), e->arena, &off, 1, "");
}

static LLVMValueRef arena_ptr(Entry *e, int64_t offset) {
  LLVMValueRef off = LLVMConstInt(e->idx, (unsigned long long)offset, 0);
  return LLVMBuildInBoundsGEP2(e->b, LLVMInt8TypeInContext(e->ctx), e->arena, &off, 1, "");
}

// The run-time dims of a dynamic value; views of it (Identity) share them.
static LLVMValueRef dims_ptr(Entry *e, Value *v) {
  while (v->alias_of)
    v = v->alias_of;
  return arena_ptr(e, v->dims_offset);
}

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

// int32_t PREFIX_run(const void *const *inputs, void *const *outputs, void *arena,
//                    int64_t *output_dims)
static LLVMValueRef build_entry(Entry *e, Graph *g, const char *prefix) {
  LLVMTypeRef params[4] = {e->ptr, e->ptr, e->ptr, e->ptr};
  LLVMTypeRef fty = LLVMFunctionType(LLVMInt32TypeInContext(e->ctx), params, 4, 0);
  LLVMValueRef fn = LLVMAddFunction(e->mod, pool_printf(&e->cc->pool, "%s_run", prefix), fty);
  add_attr(e->ctx, fn, LLVMAttributeFunctionIndex, "nounwind");
  LLVMPositionBuilderAtEnd(e->b, LLVMAppendBasicBlockInContext(e->ctx, fn, "entry"));
  e->arena = LLVMGetParam(fn, 2);
  LLVMSetValueName2(e->arena, "arena", 5);
  e->in_ptrs = pool_alloc(&e->cc->pool, sizeof(LLVMValueRef) * (size_t)(g->inputs.len + 1));
  e->out_ptrs = pool_alloc(&e->cc->pool, sizeof(LLVMValueRef) * (size_t)(g->outputs.len + 1));
  for (int i = 0; i < g->inputs.len; i++)
    e->in_ptrs[i] = load_ptr_at(e, LLVMGetParam(fn, 0), i);
  for (int i = 0; i < g->outputs.len; i++)
    e->out_ptrs[i] = load_ptr_at(e, LLVMGetParam(fn, 1), i);
  LLVMBasicBlockRef entry_bb = LLVMGetInsertBlock(e->b);
  for (int s = 0; s < g->nodes.len; s++) {
    Node *n = g->nodes.items[s];
    if (!n->op->lower)
      continue;
    LLVMValueRef nf = lower_node_function(e->cc, e->mod, n, pool_printf(&e->cc->pool, "node%d_%s", s, n->op->name));
    LLVMPositionBuilderAtEnd(e->b, entry_bb);
    LLVMValueRef args[64];
    int na = 0;
    for (int i = 0; i < n->nin; i++)
      if (n->in[i])
        args[na++] = value_ptr(e, n->in[i]);
    for (int i = 0; i < n->nout; i++)
      if (n->out[i])
        args[na++] = value_ptr(e, n->out[i]);
    for (int i = 0; i < n->nin; i++)
      if (n->in[i] && n->in[i]->dynamic)
        args[na++] = dims_ptr(e, n->in[i]);
    for (int i = 0; i < n->nout; i++)
      if (n->out[i] && n->out[i]->dynamic)
        args[na++] = arena_ptr(e, n->out[i]->dims_offset);
    if (n->scratch > 0)
      args[na++] = arena_ptr(e, n->scratch_offset);
    LLVMBuildCall2(e->b, LLVMGlobalGetValueType(nf), nf, args, (unsigned)na, "");
  }
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
          val = LLVMBuildLoad2(e->b, i64, LLVMBuildInBoundsGEP2(e->b, i64, dims_ptr(e, v), &di, 1, ""), "");
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
                         shape, LLVMConstInt(i32, v->dynamic, 0)};
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
//                                         arena_size, arena_align, run};
static void build_info(Entry *e, Graph *g, const MemoryPlan *plan, const char *prefix, LLVMValueRef run) {
  LLVMTypeRef i32 = LLVMInt32TypeInContext(e->ctx);
  LLVMValueRef ins = tensor_infos(e, &g->inputs, pool_printf(&e->cc->pool, "%s_inputs", prefix));
  LLVMValueRef outs = tensor_infos(e, &g->outputs, pool_printf(&e->cc->pool, "%s_outputs", prefix));
  LLVMTypeRef fields[8] = {e->ptr, i32, i32, e->ptr, e->ptr, e->idx, e->idx, e->ptr};
  LLVMTypeRef ty = LLVMStructTypeInContext(e->ctx, fields, 8, 0);
  LLVMValueRef f[8] = {const_string(e, prefix),
                       LLVMConstInt(i32, (unsigned)g->inputs.len, 0),
                       LLVMConstInt(i32, (unsigned)g->outputs.len, 0),
                       ins, outs,
                       LLVMConstInt(e->idx, (unsigned long long)plan->arena_size, 0),
                       LLVMConstInt(e->idx, (unsigned long long)e->align, 0),
                       run};
  LLVMValueRef info = LLVMAddGlobal(e->mod, ty, pool_printf(&e->cc->pool, "%s_info", prefix));
  LLVMSetInitializer(info, LLVMConstNamedStruct(ty, f, 8));
  LLVMSetGlobalConstant(info, 1);
}

// LLVM's own diagnostics go through ours: errors fail the compile, warnings (missed
// optimizations) are shown with -v only.
static void llvm_diagnostic(LLVMDiagnosticInfoRef info, void *ctx) {
  Compiler *cc = ctx;
  LLVMDiagnosticSeverity sev = LLVMGetDiagInfoSeverity(info);
  if (sev != LLVMDSError && !(sev == LLVMDSWarning && cc->opt.verbose))
    return;
  char *msg = LLVMGetDiagInfoDescription(info);
  if (sev == LLVMDSError)
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
  e.weights = pool_alloc(&cc->pool, sizeof(LLVMValueRef) * (size_t)(cc->next_value_id + 1));
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
  LLVMErrorRef err = LLVMRunPasses(m->mod, "default<O3>", m->tm, opts);
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
