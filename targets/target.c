// target.c — target descriptions. Built-in targets are the XML files of this folder, embedded
// in the binary at build time; users add their own with -target-file. Every file is validated
// against target.rng, and errors name the file and line.
#include "../compiler/compiler.h"

#include <libxml/parser.h>
#include <libxml/relaxng.h>
#include <llvm-c/Target.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  Compiler *cc;
  const char *file;
  int errors;
} XmlDiag;

static void xml_error(void *ctx, const xmlError *err) {
  XmlDiag *d = ctx;
  char msg[512];
  snprintf(msg, sizeof msg, "%s", err->message ? err->message : "invalid");
  size_t n = strlen(msg);
  while (n && msg[n - 1] == '\n')
    msg[--n] = 0;
  error_at(d->cc, NULL, "%s:%d: %s", d->file, err->line, msg);
  d->errors++;
}

static void xml_error_nc(void *ctx, xmlErrorPtr err) { xml_error(ctx, err); }

static const char *child_text(Compiler *cc, xmlNodePtr root, const char *name) {
  for (xmlNodePtr c = root->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name)) {
      xmlChar *t = xmlNodeGetContent(c);
      char *r = pool_strdup(&cc->pool, t ? (const char *)t : "");
      xmlFree(t);
      return r;
    }
  return NULL;
}

static const char *child_attr(Compiler *cc, xmlNodePtr root, const char *name, const char *attr) {
  for (xmlNodePtr c = root->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name)) {
      xmlChar *t = xmlGetProp(c, (const xmlChar *)attr);
      char *r = t ? pool_strdup(&cc->pool, (const char *)t) : NULL;
      xmlFree(t);
      return r;
    }
  return NULL;
}

static int int_or(const char *s, int dflt) { return s ? atoi(s) : dflt; }

static Target *parse_target(Compiler *cc, const char *file, const char *text, size_t len) {
  XmlDiag diag = {cc, file, 0};
  xmlSetStructuredErrorFunc(&diag, xml_error_nc);
  xmlDocPtr doc = xmlReadMemory(text, (int)len, file, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  Target *t = NULL;
  if (doc) {
    const EmbeddedFile *schema = embedded_find("targets/target.rng");
    xmlRelaxNGParserCtxtPtr pctx = xmlRelaxNGNewMemParserCtxt(schema->data, (int)schema->len);
    xmlRelaxNGPtr rng = xmlRelaxNGParse(pctx);
    xmlRelaxNGValidCtxtPtr vctx = xmlRelaxNGNewValidCtxt(rng);
    xmlRelaxNGSetValidStructuredErrors(vctx, xml_error_nc, &diag);
    int invalid = xmlRelaxNGValidateDoc(vctx, doc);
    xmlRelaxNGFreeValidCtxt(vctx);
    xmlRelaxNGFree(rng);
    xmlRelaxNGFreeParserCtxt(pctx);
    if (!invalid && !diag.errors) {
      xmlNodePtr root = xmlDocGetRootElement(doc);
      t = pool_alloc(&cc->pool, sizeof(Target));
      xmlChar *name = xmlGetProp(root, (const xmlChar *)"name");
      t->name = pool_strdup(&cc->pool, (const char *)name);
      xmlFree(name);
      t->description = child_text(cc, root, "description");
      for (xmlNodePtr c = root->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, "alias") && t->naliases < 4) {
          xmlChar *a = xmlNodeGetContent(c);
          t->aliases[t->naliases++] = pool_strdup(&cc->pool, (const char *)a);
          xmlFree(a);
        }
      // Normalized: "thumbv7em-none-eabihf" would otherwise read "eabihf" as the OS and
      // silently lose the hard-float ABI.
      char *norm = LLVMNormalizeTargetTriple(child_text(cc, root, "triple"));
      t->triple = pool_strdup(&cc->pool, norm);
      LLVMDisposeMessage(norm);
      t->cpu = child_text(cc, root, "cpu");
      t->features = child_text(cc, root, "features");
      if (!t->features)
        t->features = "";
      t->os = child_text(cc, root, "os");
      t->float_abi = child_text(cc, root, "float-abi");
      t->pointer_bits = int_or(child_text(cc, root, "pointer-bits"), 64);
      t->vector_bits = int_or(child_attr(cc, root, "vector", "bits"), 0);
      t->vector_registers = int_or(child_attr(cc, root, "vector", "registers"), 0);
      const char *denormals = child_attr(cc, root, "vector", "denormals");
      t->vector_flushes_denormals = denormals && !strcmp(denormals, "flush");
      t->alignment = int_or(child_text(cc, root, "alignment"), 64);
      t->gemm_mr = int_or(child_attr(cc, root, "gemm", "mr"), 4);
      t->gemm_nr = int_or(child_attr(cc, root, "gemm", "nr"), 1);
      const char *dot = child_text(cc, root, "int8-dot");
      t->int8_dot = dot && (!strcmp(dot, "true") || !strcmp(dot, "1"));
      const char *half = child_text(cc, root, "float16");
      t->float16 = !half || !strcmp(half, "none") ? HALF_NONE : !strcmp(half, "convert") ? HALF_CONVERT : HALF_NATIVE;
      const char *sparse = child_text(cc, root, "sparse-density");
      t->sparse_density = sparse ? atof(sparse) : 0;
      t->cc = child_attr(cc, root, "toolchain", "cc");
      t->emulator = child_attr(cc, root, "toolchain", "emulator");
      if (!t->emulator)
        t->emulator = "";
      t->file = pool_strdup(&cc->pool, file);
    } else if (!diag.errors) {
      error_at(cc, NULL, "%s: does not match the target schema", file);
    }
    xmlFreeDoc(doc);
  } else if (!diag.errors) {
    error_at(cc, NULL, "%s: not a well-formed XML file", file);
  }
  xmlSetStructuredErrorFunc(NULL, NULL);
  if (t && t->alignment & (t->alignment - 1))
    error_at(cc, NULL, "%s: alignment %d is not a power of two", file, t->alignment), t = NULL;
  bail_if_errors(cc);
  return t;
}

const Target *target_load_file(Compiler *cc, const char *path) {
  uint8_t *data;
  size_t len;
  if (!read_file(path, &data, &len))
    fatal_at(cc, NULL, "cannot read target file '%s'", path);
  char *copy = pool_dup(&cc->pool, data, len);
  free(data);
  vec_push(&cc->pool, &cc->deps, pool_strdup(&cc->pool, path));
  return parse_target(cc, path, copy, len);
}

static bool is_target_file(const char *path) {
  size_t n = strlen(path);
  return !strncmp(path, "targets/", 8) && n > 4 && !strcmp(path + n - 4, ".xml");
}

// The build machine: LLVM's host triple, CPU and features; the rest from the built-in
// description of the same architecture.
static const Target *host_target(Compiler *cc) {
  char *triple = LLVMGetDefaultTargetTriple();
  const char *base = !strncmp(triple, "x86_64", 6) ? "x86-64" : !strncmp(triple, "aarch64", 7) ? "armv8" : NULL;
  LLVMDisposeMessage(triple);
  if (!base)
    fatal_at(cc, NULL, "the host architecture has no built-in target description");
  Target *t = pool_dup(&cc->pool, target_lookup(cc, base), sizeof(Target));
  char *cpu = LLVMGetHostCPUName(), *features = LLVMGetHostCPUFeatures();
  t->name = "host";
  t->description = pool_printf(&cc->pool, "the build machine (%s)", cpu);
  t->cpu = pool_strdup(&cc->pool, cpu);
  t->features = pool_strdup(&cc->pool, features);
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(features);
  // Vector unit and GEMM tile of the x86-64 level the host reaches.
  const char *level = strstr(t->features, "+avx512f") ? "x86-64-v4" : strstr(t->features, "+avx2") ? "x86-64-v3" : NULL;
  if (level && !strcmp(base, "x86-64")) {
    const Target *l = target_lookup(cc, level);
    t->vector_bits = l->vector_bits, t->vector_registers = l->vector_registers;
    t->gemm_mr = l->gemm_mr, t->gemm_nr = l->gemm_nr;
  }
  t->int8_dot = strstr(t->features, "+avx512vnni") || strstr(t->features, "+avxvnni") ||
                strstr(t->features, "+dotprod");
  t->float16 = strstr(t->features, "+avx512fp16") || strstr(t->features, "+fullfp16") ? HALF_NATIVE
               : strstr(t->features, "+f16c") || !strcmp(base, "armv8")              ? HALF_CONVERT
                                                                                       : t->float16;
  return t;
}

const Target *target_lookup(Compiler *cc, const char *name) {
  if (!strcmp(name, "host"))
    return host_target(cc);
  for (int i = 0; i < embedded_count; i++) {
    const EmbeddedFile *f = &embedded_files[i];
    if (!is_target_file(f->path))
      continue;
    const char *base = strrchr(f->path, '/') + 1;
    size_t n = strlen(base) - 4;
    if (strlen(name) == n && !strncmp(base, name, n))
      return parse_target(cc, f->path, f->data, f->len);
  }
  for (int i = 0; i < embedded_count; i++) { // aliases: x86-64-v4 is also "avx512"
    const EmbeddedFile *f = &embedded_files[i];
    if (!is_target_file(f->path))
      continue;
    const Target *t = parse_target(cc, f->path, f->data, f->len);
    for (int j = 0; j < t->naliases; j++)
      if (!strcmp(t->aliases[j], name))
        return t;
  }
  fatal_at(cc, NULL, "unknown target '%s' (see --list-targets)", name);
}

Target *target_override(Compiler *cc, const Target *t, const char *mcpu, const char *mattr) {
  Target *r = pool_dup(&cc->pool, t, sizeof(Target));
  if (mcpu)
    r->cpu = pool_strdup(&cc->pool, mcpu);
  if (mattr)
    r->features = *r->features ? pool_printf(&cc->pool, "%s,%s", r->features, mattr) : pool_strdup(&cc->pool, mattr);
  return r;
}

void list_targets(FILE *out) {
  Compiler *cc = compiler_new();
  jmp_buf here;
  cc->bail = &here;
  if (!setjmp(here)) {
    fprintf(out, "%-12s %s\n", "host", "the build machine's CPU and features (default)");
    for (int i = 0; i < embedded_count; i++) {
      const EmbeddedFile *f = &embedded_files[i];
      if (!is_target_file(f->path))
        continue;
      const Target *t = parse_target(cc, f->path, f->data, f->len);
      fprintf(out, "%-12s %s [%s]", t->name, t->description, t->triple);
      for (int j = 0; j < t->naliases; j++)
        fprintf(out, "%s%s", j ? ", " : " (also: ", t->aliases[j]);
      fprintf(out, "%s\n", t->naliases ? ")" : "");
    }
  }
  compiler_free(cc);
}

bool print_target_info(FILE *out, const char *name) {
  Compiler *cc = compiler_new();
  jmp_buf here;
  cc->bail = &here;
  bool ok = false;
  if (!setjmp(here)) {
    const Target *t = target_lookup(cc, name);
    static const char *half[] = {"none", "convert", "native"};
    fprintf(out, "name %s\ntriple %s\ncpu %s\nfeatures %s\nos %s\nfloat-abi %s\npointer-bits %d\n"
                 "vector-bits %d\nalignment %d\nint8-dot %s\nfloat16 %s\nsparse-density %g\ncc %s\nemulator %s\n",
            t->name, t->triple, t->cpu, t->features, t->os, t->float_abi, t->pointer_bits, t->vector_bits,
            t->alignment, t->int8_dot ? "true" : "false", half[t->float16], t->sparse_density, t->cc ? t->cc : "",
            t->emulator);
    ok = true;
  } else {
    fputs(cc->diag.buf, stderr);
  }
  compiler_free(cc);
  return ok;
}

LLVMTargetMachineRef target_machine(Compiler *cc, const Target *t) {
  LLVMInitializeAllTargetInfos();
  LLVMInitializeAllTargets();
  LLVMInitializeAllTargetMCs();
  LLVMInitializeAllAsmPrinters();
  LLVMTargetRef lt;
  char *msg = NULL;
  if (LLVMGetTargetFromTriple(t->triple, &lt, &msg)) {
    error_at(cc, NULL, "target '%s': LLVM does not support triple '%s': %s", t->name, t->triple, msg);
    LLVMDisposeMessage(msg);
    bail_if_errors(cc);
  }
  bool bare = !strcmp(t->os, "none");
  return LLVMCreateTargetMachine(lt, t->triple, t->cpu, t->features, LLVMCodeGenLevelAggressive,
                                 bare ? LLVMRelocStatic : LLVMRelocPIC, LLVMCodeModelDefault);
}
