// gemm_kernel.c — the f32 GEMM engine (see gemm_kernel.h). Everything is known at compile
// time: the tile shape, the loop trip counts, the edges (a last row tile with fewer rows, a
// last column panel with fewer vectors and a masked last vector), so each distinct tile is
// emitted once as straight-line code around its K loop and LLVM keeps the accumulators in
// registers.
#include "gemm_kernel.h"

#include <string.h>

#define MAX_TILE_ROWS 16
#define MAX_TILE_VECTORS 8

GemmTile gemm_choose_tile(const Compiler *cc, int64_t M, int64_t N) {
  const Target *t = cc->target;
  int bits = t ? t->vector_bits : 128; // as the kernel builder sees it (codegen/module.c)
  int vl = bits >= 64 ? bits / 32 : 1;
  int regs = t && t->vector_registers > 0 ? t->vector_registers : 16;
  int mr = t && t->gemm_mr > 0 ? t->gemm_mr : 4, nv = t && t->gemm_nr > 0 ? t->gemm_nr : 2;
  int64_t nvec = (N + vl - 1) / vl;
  // A narrow dimension frees registers for the other one. The budget: mr*nv accumulators,
  // nv vectors of B and one broadcast of A.
  if (nvec < nv) {
    nv = (int)nvec;
    mr = (regs - 1 - nv) / nv;
  } else if (nvec <= 2 * nv + 2 && M > mr && (regs - 1 - nvec) / nvec * nvec * 4 >= mr * nv * 3) {
    // A few vectors wide (late 7x7 layers): one panel of them all, so A is read once.
    nv = (int)nvec;
    mr = (regs - 1 - nv) / nv;
  } else if (M < mr) {
    mr = (int)M;
    nv = (regs - 1) / (mr + 1);
    if (nv > nvec)
      nv = (int)nvec;
  }
  if (mr > MAX_TILE_ROWS)
    mr = MAX_TILE_ROWS;
  if (nv > MAX_TILE_VECTORS)
    nv = MAX_TILE_VECTORS;
  if (mr > M)
    mr = (int)M;
  if (mr < 1)
    mr = 1;
  if (nv < 1)
    nv = 1;
  // Balanced row tiles: 64 rows in tiles of at most 14 become 13+13+13+13+12, not 14x4+8.
  int64_t tiles = (M + mr - 1) / mr;
  mr = (int)((M + tiles - 1) / tiles);
  return (GemmTile){mr, nv, vl};
}

float *gemm_pack_a(Pool *p, const float *src, int64_t rs, int64_t cs, int64_t M, int64_t K, GemmTile t) {
  float *out = pool_alloc(p, sizeof(float) * (size_t)(M * K + 1));
  for (int64_t r0 = 0; r0 < M; r0 += t.mr) {
    int64_t h = M - r0 < t.mr ? M - r0 : t.mr;
    for (int64_t k = 0; k < K; k++)
      for (int64_t r = 0; r < h; r++)
        out[r0 * K + k * h + r] = src[(r0 + r) * rs + k * cs];
  }
  return out;
}

float *gemm_pack_b(Pool *p, const float *src, int64_t rs, int64_t cs, int64_t K, int64_t N, GemmTile t,
                   int64_t *count) {
  int64_t width = (int64_t)t.nv * t.vl, full = N / width, rest = N - full * width;
  int64_t last = (rest + t.vl - 1) / t.vl * t.vl; // the last panel's padded width
  *count = K * (full * width + last);
  float *out = pool_alloc(p, sizeof(float) * (size_t)(*count + 1)); // zero-filled: the padding
  for (int64_t c0 = 0; c0 < N; c0 += width) {
    int64_t w = c0 / width < full ? width : last;
    float *panel = out + K * c0;
    for (int64_t k = 0; k < K; k++)
      for (int64_t j = 0; j < w && c0 + j < N; j++)
        panel[k * w + j] = src[k * rs + (c0 + j) * cs];
  }
  return out;
}

LLVMValueRef gemm_constant(KB *kb, const float *data, int64_t count) {
  LLVMValueRef g = kb_table(kb, DT_F32, data, count);
  LLVMSetAlignment(g, 64);
  return g;
}

//
// Vectors: <vl x float>, or plain float when vl is 1.
//
static LLVMTypeRef vec_type(KB *kb, int vl) {
  LLVMTypeRef f = LLVMFloatTypeInContext(kb->ctx);
  return vl > 1 ? LLVMVectorType(f, (unsigned)vl) : f;
}

LLVMValueRef vec_splat(KB *kb, LLVMValueRef s, int vl) {
  if (vl == 1)
    return s;
  LLVMTypeRef vt = vec_type(kb, vl);
  LLVMValueRef zero = LLVMConstInt(LLVMInt32TypeInContext(kb->ctx), 0, 0);
  LLVMValueRef v = LLVMBuildInsertElement(kb->b, LLVMGetUndef(vt), s, zero, "");
  LLVMValueRef mask = LLVMConstNull(LLVMVectorType(LLVMInt32TypeInContext(kb->ctx), (unsigned)vl));
  return LLVMBuildShuffleVector(kb->b, v, LLVMGetUndef(vt), mask, "");
}

int vec_lanes(const Compiler *cc) { return gemm_choose_tile(cc, 1, 1).vl; }

// The first VALID lanes of a vl-lane vector.
LLVMValueRef vec_mask(KB *kb, int vl, int valid) {
  LLVMValueRef bits[64];
  for (int i = 0; i < vl; i++)
    bits[i] = LLVMConstInt(LLVMInt1TypeInContext(kb->ctx), i < valid, 0);
  return LLVMConstVector(bits, (unsigned)vl);
}

// llvm.masked.load / llvm.masked.store, overloaded on the vector and pointer types.
static LLVMValueRef call_masked(KB *kb, const char *name, int vl, LLVMValueRef *args) {
  LLVMTypeRef tys[2] = {vec_type(kb, vl), kb->t_ptr};
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  return LLVMBuildCall2(kb->b, LLVMIntrinsicGetType(kb->ctx, id, tys, 2),
                        LLVMGetIntrinsicDeclaration(kb->mod, id, tys, 2), args, 4, "");
}

// A vector of f32 at base[idx]; lanes past VALID are not read and come back as zero.
LLVMValueRef vec_load(KB *kb, LLVMValueRef base, LLVMValueRef idx, int vl, int valid) {
  LLVMValueRef ptr = kb_gep(kb, DT_F32, base, idx);
  if (valid == vl) {
    LLVMValueRef v = LLVMBuildLoad2(kb->b, vec_type(kb, vl), ptr, "");
    LLVMSetAlignment(v, 4);
    return v;
  }
  LLVMValueRef args[4] = {ptr, LLVMConstInt(LLVMInt32TypeInContext(kb->ctx), 4, 0), vec_mask(kb, vl, valid),
                          LLVMConstNull(vec_type(kb, vl))};
  return call_masked(kb, "llvm.masked.load", vl, args);
}

void vec_store(KB *kb, LLVMValueRef base, LLVMValueRef idx, LLVMValueRef v, int vl, int valid) {
  LLVMValueRef ptr = kb_gep(kb, DT_F32, base, idx);
  if (valid == vl) {
    LLVMSetAlignment(LLVMBuildStore(kb->b, v, ptr), 4);
    return;
  }
  LLVMValueRef args[4] = {v, ptr, LLVMConstInt(LLVMInt32TypeInContext(kb->ctx), 4, 0), vec_mask(kb, vl, valid)};
  call_masked(kb, "llvm.masked.store", vl, args);
}


static LLVMValueRef add_i(KB *kb, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildNSWAdd(kb->b, a, b, ""); }
static LLVMValueRef mul_i(KB *kb, LLVMValueRef a, int64_t c) { return LLVMBuildNSWMul(kb->b, a, kb_idx(kb, c), ""); }

// Packed operands are streams the K loop reads from beyond L1, often from beyond L2 (the
// weights of a 512-channel 3x3 layer are 9 MiB, read once per K block by the first row tile;
// Winograd's transformed weights, the A side, 4 MiB at 256 channels): the hardware prefetcher
// alone leaves those loads waiting, so the K loop prefetches both this many bytes ahead.
#define PREFETCH_BYTES 1024

// A read prefetch of the cache line at BASE[IDX] (a plain GEP: it may point past the end).
static void prefetch(KB *kb, LLVMValueRef base, LLVMValueRef idx) {
  LLVMTypeRef tys[1] = {kb->t_ptr}, i32 = LLVMInt32TypeInContext(kb->ctx);
  unsigned id = LLVMLookupIntrinsicID("llvm.prefetch", 13);
  LLVMValueRef args[4] = {LLVMBuildGEP2(kb->b, LLVMFloatTypeInContext(kb->ctx), base, &idx, 1, ""),
                          LLVMConstInt(i32, 0, 0), LLVMConstInt(i32, 3, 0), LLVMConstInt(i32, 1, 0)};
  LLVMBuildCall2(kb->b, LLVMIntrinsicGetType(kb->ctx, id, tys, 1), LLVMGetIntrinsicDeclaration(kb->mod, id, tys, 1),
                 args, 4, "");
}

// Packs the panel of B at column C0, NV vectors wide (the last VALID lanes wide), into BUF as
// [K][nv*vl], zero-padded: the tiles then read one contiguous stream instead of K rows.
static void pack_panel(KB *kb, const GemmArgs *g, LLVMValueRef c0, int nv, int valid, LLVMValueRef buf) {
  int vl = g->tile.vl;
  Loop lk;
  LLVMValueRef k = kb_for(kb, &lk, g->K);
  LLVMValueRef row = g->b_rows ? LLVMBuildSExt(kb->b, kb_load(kb, DT_I32, g->b_rows, k), kb->t_idx, "")
                               : mul_i(kb, k, g->b_rs);
  LLVMValueRef src = add_i(kb, row, c0), dst = mul_i(kb, k, (int64_t)nv * vl);
  for (int j = 0; j < nv; j++) {
    LLVMValueRef v = vec_load(kb, g->b, add_i(kb, src, kb_idx(kb, (int64_t)j * vl)), vl, j == nv - 1 ? valid : vl);
    LLVMValueRef at = kb_gep(kb, DT_F32, buf, add_i(kb, dst, kb_idx(kb, (int64_t)j * vl)));
    LLVMSetAlignment(LLVMBuildStore(kb->b, v, at), 4);
  }
  kb_end_for(kb, &lk);
}

//
// One tile: rows [r0, r0 + h) x vectors [c0, c0 + nv*vl), the last vector VALID lanes wide.
//
typedef struct {
  LLVMValueRef r0, c0;  // first row and column (t_idx)
  int h, nv, valid;
  LLVMValueRef k0;      // the block of the K loop: [k0, k0 + kc)
  int64_t kc;
  bool first, last;     // the first block starts from zero, others from C; the last finishes
  LLVMValueRef a_tile;  // packed: the tile's k-major block; strided: A itself
  LLVMValueRef b_panel; // packed: the panel's k-major block; rows: B + c0
  int64_t b_width;      // packed: floats per k in the panel
} Tile;

static void emit_tile(KB *kb, const GemmArgs *g, const Tile *t) {
  int vl = g->tile.vl, h = t->h, nv = t->nv;
  LLVMTypeRef vt = vec_type(kb, vl), f32 = LLVMFloatTypeInContext(kb->ctx);
  LLVMValueRef acc[MAX_TILE_ROWS * MAX_TILE_VECTORS];
  for (int r = 0; r < h; r++)
    for (int j = 0; j < nv; j++) {
      LLVMValueRef ci = add_i(kb, mul_i(kb, add_i(kb, t->r0, kb_idx(kb, r)), g->c_rs), add_i(kb, t->c0, kb_idx(kb, (int64_t)j * vl)));
      acc[r * nv + j] = kb_var(kb, vt, t->first ? LLVMConstNull(vt) : vec_load(kb, g->c, ci, vl, j == nv - 1 ? t->valid : vl));
    }
  Loop lk;
  LLVMValueRef k = kb_for_v(kb, &lk, t->k0, add_i(kb, t->k0, kb_idx(kb, t->kc)), 1);
  LLVMValueRef brow;
  if (g->b_packed || g->b_pack)
    brow = mul_i(kb, k, t->b_width);
  else if (g->b_rows)
    brow = LLVMBuildSExt(kb->b, kb_load(kb, DT_I32, g->b_rows, k), kb->t_idx, "");
  else
    brow = mul_i(kb, k, g->b_rs);
  LLVMValueRef bv[MAX_TILE_VECTORS];
  for (int j = 0; j < nv; j++) {
    int valid = j == nv - 1 && !g->b_packed && !g->b_pack ? t->valid : vl; // packed panels are zero-padded
    bv[j] = vec_load(kb, t->b_panel, add_i(kb, brow, kb_idx(kb, (int64_t)j * vl)), vl, valid);
  }
  if (g->b_packed) { // the stream of B rows PREFETCH_BYTES ahead, a line (16 floats) at a time
    int64_t ahead = (PREFETCH_BYTES / (4 * t->b_width) + 1) * t->b_width;
    for (int64_t f = 0; f < t->b_width; f += 16)
      prefetch(kb, t->b_panel, add_i(kb, brow, kb_idx(kb, ahead + f)));
  }
  LLVMValueRef arow = g->a_packed ? mul_i(kb, k, h) : NULL;
  if (g->a_packed) // the tile's k-major stream of A, as far ahead
    prefetch(kb, t->a_tile, add_i(kb, arow, kb_idx(kb, PREFETCH_BYTES / 4)));
  for (int r = 0; r < h; r++) {
    LLVMValueRef ai = g->a_packed ? add_i(kb, arow, kb_idx(kb, r))
                                  : add_i(kb, mul_i(kb, add_i(kb, t->r0, kb_idx(kb, r)), g->a_rs), mul_i(kb, k, g->a_cs));
    LLVMValueRef a = vec_splat(kb, kb_load(kb, DT_F32, t->a_tile, ai), vl);
    for (int j = 0; j < nv; j++) {
      LLVMValueRef *slot = &acc[r * nv + j];
      kb_set(kb, *slot, kb_fma(kb, DT_F32, a, bv[j], kb_get(kb, vt, *slot)));
    }
  }
  kb_end_for(kb, &lk);
  if (!t->last) { // partial sums, finished by a later block
    for (int r = 0; r < h; r++)
      for (int j = 0; j < nv; j++) {
        LLVMValueRef ci = add_i(kb, mul_i(kb, add_i(kb, t->r0, kb_idx(kb, r)), g->c_rs), add_i(kb, t->c0, kb_idx(kb, (int64_t)j * vl)));
        vec_store(kb, g->c, ci, kb_get(kb, vt, acc[r * nv + j]), vl, j == nv - 1 ? t->valid : vl);
      }
    return;
  }
  LLVMValueRef bias_col[MAX_TILE_VECTORS];
  for (int j = 0; j < nv && g->bias_kind == GEMM_BIAS_COL; j++)
    bias_col[j] = vec_load(kb, g->bias, add_i(kb, t->c0, kb_idx(kb, (int64_t)j * vl)), vl, j == nv - 1 ? t->valid : vl);
  for (int r = 0; r < h; r++) {
    LLVMValueRef row = add_i(kb, t->r0, kb_idx(kb, r));
    LLVMValueRef bias_row = g->bias_kind == GEMM_BIAS_ROW ? vec_splat(kb, kb_load(kb, DT_F32, g->bias, row), vl) : NULL;
    for (int j = 0; j < nv; j++) {
      int valid = j == nv - 1 ? t->valid : vl;
      LLVMValueRef ci = add_i(kb, mul_i(kb, row, g->c_rs), add_i(kb, t->c0, kb_idx(kb, (int64_t)j * vl)));
      LLVMValueRef v = kb_get(kb, vt, acc[r * nv + j]);
      if (g->alpha != 1.0)
        v = LLVMBuildFMul(kb->b, v, vec_splat(kb, LLVMConstReal(f32, g->alpha), vl), "");
      if (g->accumulate)
        v = LLVMBuildFAdd(kb->b, v, vec_load(kb, g->c, ci, vl, valid), "");
      if (bias_row)
        v = LLVMBuildFAdd(kb->b, v, bias_row, "");
      else if (g->bias_kind == GEMM_BIAS_COL)
        v = LLVMBuildFAdd(kb->b, v, bias_col[j], "");
      if (g->vector_done)
        v = g->vector_done(kb, g, v, row, add_i(kb, t->c0, kb_idx(kb, (int64_t)j * vl)), valid);
      vec_store(kb, g->c, ci, v, vl, valid);
    }
  }
  if (g->tile_done)
    g->tile_done(kb, g, t->r0, h, t->c0, (int64_t)(nv - 1) * vl + t->valid);
}

// Rows known at run time: the full tiles in a loop, then the rest one row at a time.
static void emit_run_time_rows(KB *kb, const GemmArgs *g, Tile t) {
  int64_t mr = g->tile.mr;
  LLVMValueRef full = LLVMBuildUDiv(kb->b, g->rows, kb_idx(kb, mr), "");
  Loop lt, lr;
  t.a_tile = g->a;
  t.h = (int)mr;
  t.r0 = mul_i(kb, kb_for_v(kb, &lt, kb_idx(kb, 0), full, 1), mr);
  emit_tile(kb, g, &t);
  kb_end_for(kb, &lt);
  t.h = 1;
  t.r0 = kb_for_v(kb, &lr, mul_i(kb, full, mr), g->rows, 1);
  emit_tile(kb, g, &t);
  kb_end_for(kb, &lr);
}

// All row tiles of one column panel for one block of K: a loop over the full tiles, then the
// shorter last one.
static void emit_row_tiles(KB *kb, const GemmArgs *g, Tile t) {
  if (g->rows) {
    emit_run_time_rows(kb, g, t);
    return;
  }
  int64_t mr = g->tile.mr, full = g->M / mr, last = g->M - full * mr;
  if (full > 0) {
    Loop lt;
    LLVMValueRef ti = kb_for(kb, &lt, full);
    t.r0 = mul_i(kb, ti, mr);
    t.h = (int)mr;
    t.a_tile = g->a_packed ? kb_gep(kb, DT_F32, g->a, mul_i(kb, t.r0, g->K)) : g->a;
    emit_tile(kb, g, &t);
    kb_end_for(kb, &lt);
  }
  if (last > 0) {
    t.r0 = kb_idx(kb, full * mr);
    t.h = (int)last;
    t.a_tile = g->a_packed ? kb_gep(kb, DT_F32, g->a, kb_idx(kb, full * mr * g->K)) : g->a;
    emit_tile(kb, g, &t);
  }
}

// Bytes of a packed B block the tiles of a panel reuse from L1: K is split into blocks of
// about this size (targets have at least 32 KiB of L1 data cache; A's rows share it).
#define B_BLOCK_BYTES (16 * 1024)

// One column panel: packed first if asked, then K in blocks, each over all row tiles, so a
// block of B stays in L1 while every tile reads it. Blocks after the first resume from the
// partial sums in C; alpha, accumulation, bias and the epilogue apply in the last.
static void emit_panel(KB *kb, const GemmArgs *g, Tile t) {
  if (g->b_pack) {
    pack_panel(kb, g, t.c0, t.nv, t.valid, g->b_pack);
    t.b_panel = g->b_pack;
  } else {
    t.b_panel = g->b_packed ? kb_gep(kb, DT_F32, g->b, mul_i(kb, t.c0, g->K)) : kb_gep(kb, DT_F32, g->b, t.c0);
  }
  int64_t block = B_BLOCK_BYTES / (4 * (int64_t)t.nv * g->tile.vl), nk = 1;
  if (!g->accumulate && g->alpha == 1.0 && g->K > 2 * block)
    nk = (g->K + block - 1) / block;
  int64_t kc = (g->K + nk - 1) / nk, klast = g->K - (nk - 1) * kc;
  t.first = true, t.last = nk == 1;
  t.k0 = kb_idx(kb, 0), t.kc = nk == 1 ? g->K : kc;
  emit_row_tiles(kb, g, t);
  if (nk == 1)
    return;
  t.first = false;
  if (nk > 2) {
    Loop lb;
    t.k0 = mul_i(kb, kb_for_v(kb, &lb, kb_idx(kb, 1), kb_idx(kb, nk - 1), 1), kc);
    emit_row_tiles(kb, g, t);
    kb_end_for(kb, &lb);
  }
  t.last = true;
  t.k0 = kb_idx(kb, (nk - 1) * kc), t.kc = klast;
  emit_row_tiles(kb, g, t);
}

// Below this much work a parallel loop costs more (waking threads) than it saves.
#define GEMM_PARALLEL_MIN_FLOP 2e6

int gemm_threads(const Compiler *cc) {
  return cc->target && !strcmp(cc->target->os, "none") ? 1 : cc->opt.threads > 1 ? cc->opt.threads : 1;
}

// The full column panels, spread over the threads when there are several: each thread packs
// into its own part of b_pack.
static void emit_full_panels(KB *kb, const GemmArgs *g, Tile t, int64_t full, int64_t width) {
  if (kb->threads > 1 && full > 1 && 2.0 * (double)g->M * (double)g->N * (double)g->K >= GEMM_PARALLEL_MIN_FLOP) {
    GemmArgs local = *g;
    LLVMValueRef *capture[64] = {&local.a, &local.b, &local.b_rows, &local.b_pack, &local.c, &local.bias, &local.rows};
    int ncapture = 7;
    for (int i = 0; i < g->ncapture && ncapture < countof(capture); i++)
      capture[ncapture++] = g->capture[i];
    ParallelLoop par;
    LLVMValueRef worker;
    LLVMValueRef p = kb_parallel_begin(kb, &par, full, capture, ncapture, &worker);
    if (local.b_pack)
      local.b_pack = kb_gep(kb, DT_F32, local.b_pack, mul_i(kb, worker, gemm_pack_floats(g->tile, g->K)));
    t.c0 = mul_i(kb, p, width);
    emit_panel(kb, &local, t);
    kb_parallel_end(kb, &par);
    return;
  }
  Loop lp;
  t.c0 = mul_i(kb, kb_for(kb, &lp, full), width);
  emit_panel(kb, g, t);
  kb_end_for(kb, &lp);
}

void gemm_emit(KB *kb, const GemmArgs *g) {
  int vl = g->tile.vl, nv = g->tile.nv;
  int64_t width = (int64_t)nv * vl, full = g->N / width, rest = g->N - full * width;
  Tile t = {.nv = nv, .valid = vl, .b_width = width};
  if (full > 0)
    emit_full_panels(kb, g, t, full, width);
  if (rest > 0) {
    t.nv = (int)((rest + vl - 1) / vl);
    t.valid = (int)(rest - (int64_t)(t.nv - 1) * vl);
    t.b_width = (int64_t)t.nv * vl;
    t.c0 = kb_idx(kb, full * width);
    emit_panel(kb, g, t);
  }
}
