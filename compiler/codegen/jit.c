// jit.c — runs lowered nodes in-process through LLVM's ORC LLJIT: constant folding uses the
// very code the target will run, compiled for the host.
#include "../compiler.h"

#include "edgecc_rt.h"

#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <stdlib.h>
#include <string.h>

static LLVMOrcLLJITRef jit;
static int jit_modules;

static bool check(Compiler *cc, const Node *n, LLVMErrorRef err) {
  if (!err)
    return true;
  char *msg = LLVMGetErrorMessage(err);
  error_at(cc, n, "constant folding failed in the JIT: %s", msg);
  LLVMDisposeErrorMessage(msg);
  return false;
}

// Runtime functions generated code calls (string tensors), resolved to the compiler's own
// copies of them (runtime/src/text.c is linked into the compiler).
static const struct {
  const char *name;
  uintptr_t address;
} runtime_functions[] = {
    {"edgecc_format_float", (uintptr_t)edgecc_format_float},
    {"edgecc_format_int", (uintptr_t)edgecc_format_int},
    {"edgecc_parse_float", (uintptr_t)edgecc_parse_float},
    {"edgecc_parse_int", (uintptr_t)edgecc_parse_int},
    {"edgecc_utf8_case", (uintptr_t)edgecc_utf8_case},
    {"edgecc_utf8_equal_folded", (uintptr_t)edgecc_utf8_equal_folded},
};

static bool define_runtime_functions(Compiler *cc) {
  LLVMOrcCSymbolMapPair syms[countof(runtime_functions)];
  for (int i = 0; i < countof(runtime_functions); i++) {
    syms[i].Name = LLVMOrcLLJITMangleAndIntern(jit, runtime_functions[i].name);
    syms[i].Sym.Address = runtime_functions[i].address;
    syms[i].Sym.Flags.GenericFlags = LLVMJITSymbolGenericFlagsExported | LLVMJITSymbolGenericFlagsCallable;
    syms[i].Sym.Flags.TargetFlags = 0;
  }
  LLVMOrcMaterializationUnitRef mu = LLVMOrcAbsoluteSymbols(syms, countof(runtime_functions));
  return check(cc, NULL, LLVMOrcJITDylibDefine(LLVMOrcLLJITGetMainJITDylib(jit), mu));
}

static bool jit_init(Compiler *cc) {
  if (jit)
    return true;
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
  if (!check(cc, NULL, LLVMOrcCreateLLJIT(&jit, NULL)))
    return false;
  // Generated code may call libm (f64 math); resolve such symbols in this process.
  LLVMOrcDefinitionGeneratorRef gen;
  if (!check(cc, NULL, LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(jit), NULL, NULL)))
    return false;
  LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(jit), gen);
  return define_runtime_functions(cc);
}

static int64_t storage_bytes(const Value *v) {
  int64_t b = value_bytes(v);
  return b > 0 ? b : 1;
}

// Builds `void fold_N(ptr *args)` that unpacks ARGS into the node function's parameters.
static void build_wrapper(LLVMModuleRef mod, LLVMValueRef node_fn, const char *name) {
  LLVMContextRef ctx = LLVMGetModuleContext(mod);
  LLVMTypeRef ptr = LLVMPointerTypeInContext(ctx, 0);
  LLVMTypeRef fty = LLVMFunctionType(LLVMVoidTypeInContext(ctx), &ptr, 1, 0);
  LLVMValueRef fn = LLVMAddFunction(mod, name, fty);
  LLVMBuilderRef b = LLVMCreateBuilderInContext(ctx);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(ctx, fn, "entry"));
  unsigned np = LLVMCountParams(node_fn);
  LLVMValueRef *args = calloc(np + 1, sizeof(LLVMValueRef));
  for (unsigned i = 0; i < np; i++) {
    LLVMValueRef idx = LLVMConstInt(LLVMInt64TypeInContext(ctx), i, 0);
    LLVMValueRef slot = LLVMBuildGEP2(b, ptr, LLVMGetParam(fn, 0), &idx, 1, "");
    args[i] = LLVMBuildLoad2(b, ptr, slot, "");
  }
  LLVMBuildCall2(b, LLVMGlobalGetValueType(node_fn), node_fn, args, np, "");
  free(args);
  LLVMBuildRetVoid(b);
  LLVMDisposeBuilder(b);
}

JitFn *jit_compile_node(Compiler *cc, Node *n) {
  if (!jit_init(cc))
    return NULL;
  LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
  LLVMContextRef ctx = LLVMOrcThreadSafeContextGetContext(tsc);
  char name[32];
  snprintf(name, sizeof name, "fold_%d", jit_modules++);
  LLVMModuleRef mod = LLVMModuleCreateWithNameInContext(name, ctx);
  LLVMSetDataLayout(mod, LLVMOrcLLJITGetDataLayoutStr(jit));
  LLVMSetTarget(mod, LLVMOrcLLJITGetTripleString(jit));
  build_wrapper(mod, lower_node_function(cc, mod, n, "node"), name);
  LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc);
  LLVMOrcDisposeThreadSafeContext(tsc);
  LLVMOrcExecutorAddress addr = 0;
  if (!check(cc, n, LLVMOrcLLJITAddLLVMIRModule(jit, LLVMOrcLLJITGetMainJITDylib(jit), tsm)) ||
      !check(cc, n, LLVMOrcLLJITLookup(jit, &addr, name)))
    return NULL;
  return (JitFn *)(uintptr_t)addr;
}

bool jit_eval_node(Compiler *cc, Node *n, void **out_data, int64_t (*out_dims)[MAX_RANK]) {
  JitFn *fn = jit_compile_node(cc, n);
  if (!fn)
    return false;
  // Arguments in the node function's order: inputs, outputs, dims of dynamic ones, scratch.
  // (Folded inputs are constants, whose shapes are exact: they are never dynamic.)
  int nargs = 2 * n->nout + 2;
  for (int i = 0; i < n->nin; i++)
    nargs += n->in[i] ? value_tensors(n->in[i], NULL) : 0;
  void **args = pool_alloc(&cc->pool, sizeof(void *) * (size_t)nargs);
  int na = 0;
  for (int i = 0; i < n->nin; i++) // sequences pass their members (all constants here)
    if (n->in[i]) {
      int count;
      Value **ts = tensors_of(&cc->pool, n->in[i], &count);
      for (int k = 0; k < count; k++)
        args[na++] = ts[k]->data;
    }
  for (int i = 0; i < n->nout; i++)
    if (n->out[i])
      args[na++] = out_data[i] = pool_alloc(&cc->pool, (size_t)storage_bytes(n->out[i]));
  for (int i = 0; i < n->nout; i++)
    if (n->out[i] && n->out[i]->dynamic)
      args[na++] = out_dims[i];
  // A persistent scratch holds the characters of folded strings: it lives with the compilation.
  void *scratch = n->scratch > 0 && !n->scratch_persists ? calloc(1, (size_t)n->scratch) : NULL;
  if (n->scratch > 0)
    args[na++] = scratch ? scratch : pool_alloc(&cc->pool, (size_t)n->scratch);
  fn(args);
  free(scratch);
  return true;
}

void jit_shutdown(void) {
  if (jit)
    LLVMOrcDisposeLLJIT(jit);
  jit = NULL;
}
