// report.c — --report: what the compiled model costs on the device, per layer and in total.
// Flash is measured on the object file itself (a second code generation on a clone of the
// module, so the output is unaffected); the stack is LLVM's frame sizes, which it reports
// when asked to warn above a limit of 0.
#include "../compiler.h"
#include "../ops/ops.h"

#include <llvm-c/Object.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int64_t code, rodata, data; // bytes by section kind
  int64_t stack;              // entry frame + the largest callee frame
} Footprint;

int64_t node_macs(const Node *n) {
  const Value *y = n->out[0];
  if (!y || y->type != VAL_TENSOR)
    return 0;
  const KernelStats *ks = kernel_stats(n);
  if (ks)
    return ks->macs;
  int64_t out = shape_numel(&y->shape);
  const Shape *w = n->nin > 1 && n->in[1] ? &n->in[1]->shape : NULL;
  switch (n->op->kind) {
  case OP_Conv: { // every output element: C/group * kernel MACs
    int64_t k = 1;
    for (int i = 1; w && i < w->rank; i++)
      k *= w->dim[i];
    return out * k;
  }
  case OP_ConvTranspose: { // every input element scatters into M/group * kernel outputs
    int64_t k = 1;
    for (int i = 1; w && i < w->rank; i++)
      k *= w->dim[i];
    return shape_numel(&n->in[0]->shape) * k;
  }
  case OP_Gemm: {
    const Shape *a = &n->in[0]->shape;
    return out * (attr_int(n, "transA", 0) ? a->dim[0] : a->dim[1]);
  }
  case OP_MatMul: {
    const Shape *a = &n->in[0]->shape;
    return out * a->dim[a->rank - 1];
  }
  case OP_RNN:
  case OP_GRU:
  case OP_LSTM: // every (step, batch entry): W and R times its input and state
    return shape_numel(&n->in[0]->shape) / w->dim[2] * (shape_numel(w) + shape_numel(&n->in[2]->shape));
  default: return 0;
  }
}

static int64_t weight_bytes(const Node *n) {
  int64_t bytes = 0;
  for (int i = 0; i < n->nin; i++)
    if (n->in[i] && n->in[i]->data && n->in[i]->type == VAL_TENSOR)
      bytes += value_bytes(n->in[i]);
  return bytes;
}

void note_stack_size(Compiler *cc, const char *msg) {
  // "stack frame size (56) exceeds limit (0) in 'model_run'" (wording varies by version)
  const char *p = strstr(msg, "stack frame size (");
  if (!p)
    return;
  StackSize *s = pool_alloc(&cc->pool, sizeof *s);
  s->bytes = strtoll(p + strlen("stack frame size ("), NULL, 10);
  const char *q = strrchr(msg, '\'');
  const char *start = q ? q : msg;
  while (q && start > msg && start[-1] != '\'')
    start--;
  s->function = q ? pool_printf(&cc->pool, "%.*s", (int)(q - start), start) : "";
  vec_push(&cc->pool, &cc->stack_sizes, s);
}

static bool starts(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

static Footprint measure(Compiler *cc, Module *m) {
  Footprint fp = {0};
  LLVMModuleRef clone = LLVMCloneModule(m->mod);
  for (LLVMValueRef f = LLVMGetFirstFunction(clone); f; f = LLVMGetNextFunction(f))
    if (!LLVMIsDeclaration(f))
      LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                              LLVMCreateStringAttribute(m->ctx, "warn-stack-size", 15, "0", 1));
  cc->stack_sizes.len = 0;
  char *msg = NULL;
  LLVMMemoryBufferRef buf;
  if (LLVMTargetMachineEmitToMemoryBuffer(m->tm, clone, LLVMObjectFile, &msg, &buf)) {
    LLVMDisposeMessage(msg);
    LLVMDisposeModule(clone);
    return fp;
  }
  LLVMDisposeModule(clone);
  LLVMBinaryRef bin = LLVMCreateBinary(buf, NULL, &msg);
  if (bin) {
    LLVMSectionIteratorRef it = LLVMObjectFileCopySectionIterator(bin);
    for (; !LLVMObjectFileIsSectionIteratorAtEnd(bin, it); LLVMMoveToNextSection(it)) {
      const char *name = LLVMGetSectionName(it);
      int64_t size = (int64_t)LLVMGetSectionSize(it);
      if (!name)
        continue;
      if (starts(name, ".text"))
        fp.code += size;
      else if (starts(name, ".rodata") || starts(name, ".data.rel.ro"))
        fp.rodata += size;
      else if (starts(name, ".data") || starts(name, ".bss"))
        fp.data += size;
    }
    LLVMDisposeSectionIterator(it);
    LLVMDisposeBinary(bin);
  } else {
    LLVMDisposeMessage(msg);
  }
  LLVMDisposeMemoryBuffer(buf);
  int64_t entry = 0, callee = 0;
  for (int i = 0; i < cc->stack_sizes.len; i++) {
    const StackSize *s = cc->stack_sizes.items[i];
    size_t n = strlen(s->function);
    if (n > 4 && !strcmp(s->function + n - 4, "_run"))
      entry = s->bytes;
    else if (s->bytes > callee)
      callee = s->bytes;
  }
  fp.stack = entry + callee;
  return fp;
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      fprintf(f, "\\u%04x", *s);
    else
      fputc(*s, f);
  }
  fputc('"', f);
}

// The layers whose weights the compiler stores compressed or sparse: weight bytes as
// float32 and as stored.
typedef struct {
  int64_t dense, stored;
} Compression;

static Compression compression_totals(Graph *g) {
  Compression t = {0};
  for (int i = 0; i < g->nodes.len; i++) {
    const KernelStats *ks = kernel_stats(g->nodes.items[i]);
    if (ks) {
      t.dense += 4 * ks->weights;
      t.stored += weight_bytes(g->nodes.items[i]);
    }
  }
  return t;
}

static void compression_text(FILE *f, Compiler *cc, Graph *g) {
  Compression t = compression_totals(g);
  if (t.dense) {
    fprintf(f, "\ncompressed weights (bytes as float32 -> stored):\n");
    fprintf(f, "%-32s %-24s %12s %12s %7s\n", "layer", "kernel", "float32", "stored", "ratio");
    for (int i = 0; i < g->nodes.len; i++) {
      Node *n = g->nodes.items[i];
      const KernelStats *ks = kernel_stats(n);
      if (!ks)
        continue;
      int64_t stored = weight_bytes(n);
      fprintf(f, "%-32s %-24s %12lld %12lld %6.1fx\n", n->name, n->kernel, (long long)(4 * ks->weights), (long long)stored,
              stored ? 4.0 * (double)ks->weights / (double)stored : 0);
      if (ks->blocks)
        fprintf(f, "  sparse: %lld of %lld weight blocks stored (%.1f%%), %lld bytes saved against dense float32\n",
                (long long)ks->nonzero, (long long)ks->blocks, 100.0 * (double)ks->nonzero / (double)ks->blocks,
                (long long)(4 * ks->weights - stored));
    }
    fprintf(f, "%-32s %-24s %12lld %12lld %6.1fx\n", "total", "", (long long)t.dense, (long long)t.stored,
            t.stored ? (double)t.dense / (double)t.stored : 0);
  }
  const Calibration *cal = cc->calibration;
  if (cal) {
    fprintf(f, "\nquantized against float on %d calibration inputs:\n%-32s %14s %14s\n", cal->samples, "output",
            "max |error|", "mean |error|");
    for (int i = 0; i < cal->count; i++)
      fprintf(f, "%-32s %14.6g %14.6g\n", cal->errors[i].output, cal->errors[i].max_error, cal->errors[i].mean_error);
  }
}

static void report_text(FILE *f, Compiler *cc, Graph *g, const MemoryPlan *plan, const Footprint *fp, int64_t macs) {
  fprintf(f, "edgecc report: %s for %s\n\n", cc->model_path, cc->target->name);
  fprintf(f, "%-32s %-20s %-18s %12s %12s  %s\n", "layer", "op", "output", "MACs", "weights", "kernel");
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    const char *shape = n->out[0] && n->out[0]->type == VAL_TENSOR ? shape_str(&cc->pool, &n->out[0]->shape) : "-";
    fprintf(f, "%-32s %-20s %-18s %12lld %12lld  %s\n", n->name, n->op_type, shape, (long long)node_macs(n),
            (long long)weight_bytes(n), n->kernel ? n->kernel : n->op->lower ? n->op->name : "view");
  }
  fprintf(f, "\nflash: %lld bytes (code %lld, weights and constants %lld)\n", (long long)(fp->code + fp->rodata),
          (long long)fp->code, (long long)fp->rodata);
  fprintf(f, "weights: %lld bytes\n", (long long)plan->const_bytes);
  fprintf(f, "arena: %lld bytes (lower bound %lld)\n", (long long)plan->arena_size, (long long)plan->lower_bound);
  fprintf(f, "stack: about %lld bytes\n", (long long)fp->stack);
  fprintf(f, "MACs: %lld\n", (long long)macs);
  compression_text(f, cc, g);
}

static void report_json(FILE *f, Compiler *cc, Graph *g, const MemoryPlan *plan, const Footprint *fp, int64_t macs) {
  fprintf(f, "{\n  \"model\": ");
  json_string(f, cc->model_path);
  fprintf(f, ",\n  \"target\": ");
  json_string(f, cc->target->name);
  fprintf(f, ",\n  \"layers\": [");
  for (int i = 0; i < g->nodes.len; i++) {
    Node *n = g->nodes.items[i];
    fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
    json_string(f, n->name);
    fprintf(f, ", \"op\": ");
    json_string(f, n->op_type);
    fprintf(f, ", \"output_shape\": [");
    for (int d = 0; n->out[0] && n->out[0]->type == VAL_TENSOR && d < n->out[0]->shape.rank; d++)
      fprintf(f, "%s%lld", d ? ", " : "", (long long)n->out[0]->shape.dim[d]);
    fprintf(f, "], \"macs\": %lld, \"weight_bytes\": %lld, \"kernel\": ", (long long)node_macs(n),
            (long long)weight_bytes(n));
    json_string(f, n->kernel ? n->kernel : n->op->lower ? n->op->name : "view");
    const KernelStats *ks = kernel_stats(n);
    if (ks)
      fprintf(f, ", \"float32_weight_bytes\": %lld", (long long)(4 * ks->weights));
    if (ks && ks->blocks)
      fprintf(f, ", \"sparse_blocks\": %lld, \"sparse_nonzero_blocks\": %lld", (long long)ks->blocks, (long long)ks->nonzero);
    fprintf(f, "}");
  }
  fprintf(f, "\n  ],\n  \"totals\": {\"flash_bytes\": %lld, \"code_bytes\": %lld, \"weight_bytes\": %lld, "
             "\"arena_bytes\": %lld, \"arena_lower_bound\": %lld, \"stack_bytes\": %lld, \"macs\": %lld}",
          (long long)(fp->code + fp->rodata), (long long)fp->code, (long long)plan->const_bytes,
          (long long)plan->arena_size, (long long)plan->lower_bound, (long long)fp->stack, (long long)macs);
}

// The compression fields of the JSON report (before its closing brace).
static void compression_json(FILE *f, Compiler *cc, Graph *g) {
  Compression t = compression_totals(g);
  fprintf(f, ",\n  \"compressed_weights\": {\"float32_bytes\": %lld, \"stored_bytes\": %lld}", (long long)t.dense,
          (long long)t.stored);
  const Calibration *cal = cc->calibration;
  if (!cal)
    return;
  fprintf(f, ",\n  \"calibration\": {\"samples\": %d, \"outputs\": [", cal->samples);
  for (int i = 0; i < cal->count; i++) {
    fprintf(f, "%s{\"name\": ", i ? ", " : "");
    json_string(f, cal->errors[i].output);
    fprintf(f, ", \"max_error\": %.9g, \"mean_error\": %.9g}", cal->errors[i].max_error, cal->errors[i].mean_error);
  }
  fprintf(f, "]}");
}

void write_report(Compiler *cc, Graph *g, const MemoryPlan *plan, Module *m) {
  Footprint fp = m ? measure(cc, m) : (Footprint){0};
  int64_t macs = 0;
  for (int i = 0; i < g->nodes.len; i++)
    macs += node_macs(g->nodes.items[i]);
  AtomicFile af = {0};
  FILE *f = stdout;
  if (cc->opt.report_path) {
    if (!atomic_open(&af, cc->opt.report_path))
      fatal_at(cc, NULL, "cannot write '%s'", cc->opt.report_path);
    f = af.f;
  }
  if (cc->opt.report == REPORT_JSON) {
    report_json(f, cc, g, plan, &fp, macs);
    compression_json(f, cc, g);
    fprintf(f, "\n}\n");
  }
  else
    report_text(f, cc, g, plan, &fp, macs);
  if (cc->opt.report_path && !atomic_commit(&af))
    fatal_at(cc, NULL, "cannot write '%s'", cc->opt.report_path);
}
