// emit.c — writes the module as an object file, assembly, LLVM IR or bitcode. Every file is
// written under a temporary name and renamed into place: no partial output on failure.
#include "../compiler.h"

#include <errno.h>
#include <llvm-c/BitWriter.h>
#include <string.h>

static void write_bytes(Compiler *cc, const char *path, const void *data, size_t len) {
  AtomicFile af;
  if (!atomic_open(&af, path))
    fatal_at(cc, NULL, "cannot write '%s': %s", path, strerror(errno));
  if (fwrite(data, 1, len, af.f) != len) {
    atomic_abort(&af);
    fatal_at(cc, NULL, "cannot write '%s': %s", path, strerror(errno));
  }
  if (!atomic_commit(&af))
    fatal_at(cc, NULL, "cannot write '%s': %s", path, strerror(errno));
}

static void write_buffer(Compiler *cc, const char *path, LLVMMemoryBufferRef buf) {
  const char *data = LLVMGetBufferStart(buf);
  size_t len = LLVMGetBufferSize(buf);
  // Copy out first: write_bytes may longjmp and the buffer must still be disposed.
  char *copy = pool_dup(&cc->pool, data, len);
  LLVMDisposeMemoryBuffer(buf);
  write_bytes(cc, path, copy, len);
}

void emit_module(Compiler *cc, Module *m, EmitKind kind, const char *path) {
  switch (kind) {
  case EMIT_LLVM: {
    char *text = LLVMPrintModuleToString(m->mod);
    char *copy = pool_strdup(&cc->pool, text);
    LLVMDisposeMessage(text);
    write_bytes(cc, path, copy, strlen(copy));
    return;
  }
  case EMIT_BC:
    write_buffer(cc, path, LLVMWriteBitcodeToMemoryBuffer(m->mod));
    return;
  case EMIT_OBJ:
  case EMIT_ASM: {
    char *msg = NULL;
    LLVMMemoryBufferRef buf;
    if (LLVMTargetMachineEmitToMemoryBuffer(m->tm, m->mod, kind == EMIT_OBJ ? LLVMObjectFile : LLVMAssemblyFile,
                                            &msg, &buf)) {
      error_at(cc, NULL, "code generation failed: %s", msg);
      LLVMDisposeMessage(msg);
      bail_if_errors(cc);
    }
    write_buffer(cc, path, buf);
    return;
  }
  case EMIT_IR: break;
  }
}
