// conv_gemm.c — f32 convolution (1-D and 2-D, any stride, dilation, padding and groups) on the
// GEMM engine, mostly without an im2col matrix.
//
// Per image, the padded input is split into stride phases: plane (ph, pw) of channel c holds
// Xpad[i*sh + ph][j*sw + pw] in rows of Wq columns. Output (oh, ow) then reads kernel tap
// (kh, kw) at a fixed offset of position n' = oh*Wq + ow in the plane of that tap's phase, so
// every tap is one contiguous row of B: the product is weights [Cout x C*KH*KW] times B whose
// row k starts at a compile-time offset (a table), over n' in [0, (OH-1)*Wq + OW). Columns
// with ow >= OW are computed and dropped when the result is copied out of the Wq-wide rows.
// With stride 1 and no padding the planes are the input itself; when Wq == OW the product is
// the output itself. The Wq-wide product is computed and cropped a few output rows at a time
// (per group for grouped convolutions), in parallel with threads. Small outputs, where pixels
// would fill few vector lanes, use the transposed product over an im2col copy instead
// (plan_transposed); depthwise convolutions have their own kernel (conv_depthwise.c).
#include "gemm_kernel.h"
#include "ops.h"

#include <string.h>

// Bytes of the Wq-wide product computed between crops (it should stay in L2).
#define CROP_CHUNK_BYTES (256 * 1024)

// Output rows per chunk: at most CROP_CHUNK_BYTES of product, and on THREADS threads the
// fewest rows on the slowest thread (chunks spread evenly, the shorter last one after them).
static int64_t chunk_rows(const ConvGemm *p, int64_t row_bytes, int threads) {
  int64_t most = CROP_CHUNK_BYTES / row_bytes, best = 1, best_cost = -1;
  if (threads > 1 && most > (p->OH + threads - 1) / threads)
    most = (p->OH + threads - 1) / threads;
  if (most >= p->OH)
    return p->OH;
  for (int64_t r = most > 1 ? most : 1; r >= 1; r--) {
    int64_t full = p->OH / r, cost = (full + threads - 1) / threads * r + p->OH % r;
    if (best_cost < 0 || cost < best_cost)
      best = r, best_cost = cost;
  }
  return best;
}

static int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// Small outputs waste vector lanes on pixels (a 7x7 map computes 61 columns on a 9-wide grid
// in 64 lanes): there the product is transposed, pixels as rows and output channels as the
// vector columns, over an im2col copy of the input (A) and the weights packed as B; its
// [pixels x channels] result is transposed into the output. Ungrouped convolutions only,
// when that uses the lanes clearly better and the copy is not too large.
#define TRANSPOSED_MAX_BYTES (4 << 20)

static double lane_use(int64_t used, int64_t unit) { return (double)used / (double)((used + unit - 1) / unit * unit); }

static void plan_transposed(const Compiler *cc, ConvGemm *p, int64_t cout) {
  int64_t pixels = p->OH * p->OW;
  GemmTile t = gemm_choose_tile(cc, p->mpg, p->N), tt = gemm_choose_tile(cc, pixels, cout);
  double normal = (double)pixels / (double)p->N * lane_use(p->N, (int64_t)t.nv * t.vl);
  double transposed = lane_use(cout, tt.vl) * lane_use(pixels, tt.mr);
  if (p->group != 1 || t.vl == 1 || 4 * pixels * p->K > TRANSPOSED_MAX_BYTES || transposed < normal + 0.08)
    return;
  p->transposed = true;
  p->pack = false;
  p->chunk_rows = p->OH;
  p->out_offset = p->planes_bytes;                                     // the [pixels x cout] result
  p->pack_offset = p->out_offset + (4 * pixels * cout + 63) / 64 * 64; // the im2col copy
  p->scratch = p->pack_offset + 4 * pixels * p->K;
}

bool conv_plane_geometry(ConvGemm *p) {
  int64_t max_qh = (p->KH - 1) * p->dh / p->sh, max_qw = (p->KW - 1) * p->dw / p->sw;
  p->Wq = p->OW + max_qw;
  p->Hq = p->OH + max_qh;
  p->N = (p->OH - 1) * p->Wq + p->OW;
  if (p->sh * p->sw > (int64_t)countof(p->phase_used))
    return false;
  // Phases some tap reads, numbered in order.
  for (int64_t kh = 0; kh < p->KH; kh++)
    for (int64_t kw = 0; kw < p->KW; kw++)
      p->phase_used[(kh * p->dh % p->sh) * p->sw + kw * p->dw % p->sw] = true;
  p->nphases = 0;
  for (int i = 0; i < p->sh * p->sw; i++)
    p->phase_index[i] = p->phase_used[i] ? p->nphases++ : -1;
  p->copy_input = !(p->sh == 1 && p->sw == 1 && p->pt == 0 && p->pl == 0 && p->Hq == p->H && p->Wq == p->W);
  p->plane = p->Hq * p->Wq;
  return true;
}

bool conv_gemm_plan(const Node *n, const ConvGeom *g, ConvGemm *p) {
  const Shape *x = &n->in[0]->shape, *w = &n->in[1]->shape;
  Value *bias = node_input(n, 2);
  if (g->nsp > 2 || !n->in[1]->data || n->in[0]->dtype != DT_F32 || n->in[1]->dtype != DT_F32 ||
      (bias && bias->dtype != DT_F32) || shape_numel(&n->out[0]->shape) == 0)
    return false;
  *p = (ConvGemm){0};
  // 1-D convolutions are 2-D ones of height 1.
  int h = g->nsp == 2 ? 0 : -1, wd = g->nsp - 1;
  p->C = x->dim[1];
  p->H = h < 0 ? 1 : x->dim[2];
  p->W = x->dim[2 + wd];
  p->KH = h < 0 ? 1 : g->kernel[0], p->KW = g->kernel[wd];
  p->sh = h < 0 ? 1 : g->stride[0], p->sw = g->stride[wd];
  p->dh = h < 0 ? 1 : g->dilation[0], p->dw = g->dilation[wd];
  p->pt = h < 0 ? 0 : g->pad_begin[0], p->pl = g->pad_begin[wd];
  p->OH = h < 0 ? 1 : g->out[0], p->OW = g->out[wd];
  p->group = g->group;
  p->cpg = w->dim[1];
  p->mpg = w->dim[0] / g->group;
  p->K = p->cpg * p->KH * p->KW;
  if (!conv_plane_geometry(p))
    return false;
  p->crop = p->Wq != p->OW;
  // Grouped convolutions build each group's planes just before its product: they are still
  // in cache when read.
  // Ungrouped: the product is computed and cropped a few output rows at a time, so its
  // Wq-wide scratch stays in cache; with threads the chunks run in parallel. Grouped: one
  // group at a time, in parallel with threads. Each thread has its own scratch.
  int threads = gemm_threads(n->graph->cc), per_thread = p->group > 1 || (p->crop && threads > 1) ? threads : 1;
  int64_t cout = w->dim[0];
  p->chunk_rows = p->group > 1 ? p->OH : chunk_rows(p, 4 * cout * p->Wq, threads);
  p->planes_bytes = p->copy_input ? (4 * (p->group > 1 ? p->cpg : p->C) * p->nphases * p->plane + 63) / 64 * 64 : 0;
  p->z_bytes = !p->crop ? 0 : p->group > 1 ? 4 * p->mpg * p->N : 4 * cout * ((p->chunk_rows - 1) * p->Wq + p->OW);
  p->z_bytes = (p->z_bytes + 63) / 64 * 64;
  GemmTile t = gemm_choose_tile(n->graph->cc, p->mpg, p->N);
  p->pack = gemm_pack_pays(t, p->mpg);
  p->out_offset = p->planes_bytes * per_thread;
  p->pack_offset = p->out_offset + p->z_bytes * per_thread;
  p->scratch = p->pack_offset + (p->pack ? 4 * gemm_pack_floats(t, p->K) * threads : 0);
  plan_transposed(n->graph->cc, p, cout);
  return true;
}

// Plane rows (ROW: of row phase PH) or columns (of column phase PW) whose input position is
// inside the image: [*lo, *hi), clamped to the plane.
static void inside_range(int64_t phase, int64_t stride, int64_t pad, int64_t in, int64_t size, int64_t *lo,
                         int64_t *hi) {
  *lo = ceil_div(pad - phase, stride), *hi = ceil_div(in + pad - phase, stride);
  *lo = *lo < 0 ? 0 : *lo > size ? size : *lo;
  *hi = *hi > size ? size : *hi < *lo ? *lo : *hi;
}

static LLVMValueRef add(KB *kb, LLVMValueRef a, int64_t b) { return LLVMBuildAdd(kb->b, a, kb_idx(kb, b), ""); }
static LLVMValueRef mul(KB *kb, LLVMValueRef a, int64_t b) { return LLVMBuildMul(kb->b, a, kb_idx(kb, b), ""); }

// dst[j] = src[j*sw + pw - pl] for j in [lo, hi).
static void copy_columns(KB *kb, const ConvGemm *p, LLVMValueRef dst, LLVMValueRef src, int64_t pw, int64_t lo, int64_t hi) {
  if (hi <= lo)
    return;
  if (p->sw == 1) {
    kb_memcpy(kb, kb_gep(kb, DT_F32, dst, kb_idx(kb, lo)), kb_gep(kb, DT_F32, src, kb_idx(kb, lo + pw - p->pl)), 4 * (hi - lo));
    return;
  }
  Loop lj;
  LLVMValueRef j = kb_for_v(kb, &lj, kb_idx(kb, lo), kb_idx(kb, hi), 1);
  kb_store(kb, DT_F32, dst, j, kb_load(kb, DT_F32, src, add(kb, mul(kb, j, p->sw), pw - p->pl)));
  kb_end_for(kb, &lj);
}

// The phase planes of CHANNELS channels of one image, from X into P, zero where they cover
// padding. A row of the input feeds one row of every column phase in one pass, so strided
// convolutions read it once (interleaved loads). Reads of the product stay inside the planes:
// the last column read, n' = N - 1 at the largest tap offset, is the last of a plane.
void conv_emit_planes(KB *kb, const ConvGemm *p, LLVMValueRef x, LLVMValueRef P, int64_t channels) {
  Loop lc, li, lj;
  LLVMValueRef c = kb_for(kb, &lc, channels);
  for (int ph = 0; ph < p->sh; ph++) {
    LLVMValueRef plane[64] = {0};
    int64_t jlo[64], jhi[64], ja = 0, jb = p->Wq, ilo, ihi;
    for (int pw = 0; pw < p->sw; pw++) {
      int idx = p->phase_index[ph * p->sw + pw];
      if (idx < 0)
        continue;
      plane[pw] = kb_gep(kb, DT_F32, P, mul(kb, add(kb, mul(kb, c, p->nphases), idx), p->plane));
      inside_range(pw, p->sw, p->pl, p->W, p->Wq, &jlo[pw], &jhi[pw]);
      ja = jlo[pw] > ja ? jlo[pw] : ja;
      jb = jhi[pw] < jb ? jhi[pw] : jb;
    }
    inside_range(ph, p->sh, p->pt, p->H, p->Hq, &ilo, &ihi);
    for (int pw = 0; pw < p->sw; pw++)
      if (plane[pw]) {
        kb_memset(kb, plane[pw], 0, 4 * ilo * p->Wq);
        kb_memset(kb, kb_gep(kb, DT_F32, plane[pw], kb_idx(kb, ihi * p->Wq)), 0, 4 * (p->Hq - ihi) * p->Wq);
      }
    if (ihi <= ilo)
      continue;
    LLVMValueRef i = kb_for_v(kb, &li, kb_idx(kb, ilo), kb_idx(kb, ihi), 1);
    LLVMValueRef src = kb_gep(kb, DT_F32, x, mul(kb, add(kb, LLVMBuildAdd(kb->b, mul(kb, c, p->H), mul(kb, i, p->sh), ""), ph - p->pt), p->W));
    LLVMValueRef row[64] = {0};
    for (int pw = 0; pw < p->sw; pw++)
      if (plane[pw]) {
        row[pw] = kb_gep(kb, DT_F32, plane[pw], mul(kb, i, p->Wq));
        kb_memset(kb, row[pw], 0, 4 * jlo[pw]);
        kb_memset(kb, kb_gep(kb, DT_F32, row[pw], kb_idx(kb, jhi[pw])), 0, 4 * (p->Wq - jhi[pw]));
        // The edges where some other phase is outside; the middle comes next, for all at once.
        copy_columns(kb, p, row[pw], src, pw, jlo[pw], ja < jhi[pw] ? ja : jhi[pw]);
        copy_columns(kb, p, row[pw], src, pw, jb > jlo[pw] ? (jb > ja ? jb : ja) : jlo[pw], jhi[pw]);
      }
    if (jb > ja) {
      if (p->sw == 1) {
        copy_columns(kb, p, row[0], src, 0, ja, jb);
      } else {
        LLVMValueRef j = kb_for_v(kb, &lj, kb_idx(kb, ja), kb_idx(kb, jb), 1);
        for (int pw = 0; pw < p->sw; pw++)
          if (row[pw])
            kb_store(kb, DT_F32, row[pw], j, kb_load(kb, DT_F32, src, add(kb, mul(kb, j, p->sw), pw - p->pl)));
        kb_end_for(kb, &lj);
      }
    }
    kb_end_for(kb, &li);
  }
  kb_end_for(kb, &lc);
}


// Rows [oh0, oh0 + nrows) of channels [c0, c0 + nch) of the Wq-wide product Z (row stride
// Z_RS per channel, starting at output row oh0) into the output Y of one image, with the
// epilogue.
typedef struct {
  LLVMValueRef Z, y, img, c0, oh0;
  int64_t z_rs, nch, nrows;
} Crop;

static void emit_crop(KB *kb, Node *n, const ConvGemm *p, const Crop *cr) {
  Loop lc, lh, lw;
  LLVMValueRef ci = kb_for(kb, &lc, cr->nch), r = kb_for(kb, &lh, cr->nrows);
  LLVMValueRef c = LLVMBuildAdd(kb->b, cr->c0, ci, ""), oh = LLVMBuildAdd(kb->b, cr->oh0, r, "");
  LLVMValueRef src = LLVMBuildAdd(kb->b, mul(kb, ci, cr->z_rs), mul(kb, r, p->Wq), "");
  LLVMValueRef dst = mul(kb, LLVMBuildAdd(kb->b, mul(kb, c, p->OH), oh, ""), p->OW);
  int rank = n->out[0]->shape.rank, vl = vec_lanes(kb->cc);
  EpilogueMap map = {.host = n, .fixed = {cr->img, c, rank == 4 ? oh : NULL}, .col_first = rank - 1, .col_n = 1};
  if (!n->epilogue) {
    kb_memcpy(kb, kb_gep(kb, DT_F32, cr->y, dst), kb_gep(kb, DT_F32, cr->Z, src), 4 * p->OW);
  } else if (epilogue_vectorizable(&map)) { // the row in vectors, the last one masked
    for (int64_t ow0 = 0; ow0 < p->OW; ow0 += vl) {
      int valid = p->OW - ow0 < vl ? (int)(p->OW - ow0) : vl;
      LLVMValueRef v = vec_load(kb, cr->Z, add(kb, src, ow0), vl, valid);
      v = epilogue_vector(kb, &map, vl, v, kb_idx(kb, 0), kb_idx(kb, ow0), valid);
      vec_store(kb, cr->y, add(kb, dst, ow0), v, vl, valid);
    }
  } else {
    LLVMValueRef ow = kb_for(kb, &lw, p->OW);
    LLVMValueRef idx[4] = {cr->img, c, oh, ow};
    if (rank == 3) // 1-D: [N, C, W]
      idx[2] = ow;
    LLVMValueRef v = kb_load(kb, DT_F32, cr->Z, LLVMBuildAdd(kb->b, src, ow, ""));
    kb_store(kb, DT_F32, cr->y, LLVMBuildAdd(kb->b, dst, ow, ""), epilogue_apply(kb, n, v, idx));
    kb_end_for(kb, &lw);
  }
  kb_end_for(kb, &lh);
  kb_end_for(kb, &lc);
}

// Row k = (c, kh, kw) of B: where the tap's phase plane row starts, relative to channel 0.
static int32_t *row_offsets(Pool *pool, const ConvGemm *p, int64_t in_plane, int64_t in_row, bool planes) {
  int32_t *rows = pool_alloc(pool, sizeof(int32_t) * (size_t)p->K);
  for (int64_t c = 0, k = 0; c < p->cpg; c++)
    for (int64_t kh = 0; kh < p->KH; kh++)
      for (int64_t kw = 0; kw < p->KW; kw++, k++) {
        int64_t th = kh * p->dh, tw = kw * p->dw;
        int64_t phase = planes ? p->phase_index[(th % p->sh) * p->sw + tw % p->sw] : 0;
        rows[k] = (int32_t)((c * p->nphases + phase) * in_plane + th / p->sh * in_row + tw / p->sw);
      }
  return rows;
}

typedef struct {
  LLVMValueRef weights, row_table; // packed A of all groups, B's row offsets
  LLVMValueRef x, y, img;          // this image's input and output, its index
  int64_t group_in;                // B's offset per group when B is the input itself
} ConvCall;

// The product of group GI over columns [n0, n0 + N) of the planes (output rows from oh0),
// into C (row stride C_RS) on thread WORKER (its packed panel). Without a crop C is the
// output and the epilogue runs on the result vectors.
static void emit_product(KB *kb, Node *n, const ConvGemm *p, const ConvCall *cl, LLVMValueRef gi, LLVMValueRef worker,
                         LLVMValueRef B, int64_t n0, int64_t N, LLVMValueRef C, int64_t c_rs) {
  GemmArgs g = {.M = p->mpg, .N = N, .K = p->K, .alpha = 1.0, .a_packed = true, .b_rows = cl->row_table, .c_rs = c_rs};
  g.tile = gemm_choose_tile(kb->cc, p->mpg, p->N);
  if (p->pack) // each thread packs into its own panel
    g.b_pack = kb_gep(kb, DT_F32, kb_gep(kb, DT_I8, kb->scratch, kb_idx(kb, p->pack_offset)),
                      mul(kb, worker, gemm_pack_floats(g.tile, p->K)));
  g.a = kb_gep(kb, DT_F32, cl->weights, mul(kb, gi, p->mpg * p->K));
  g.b = kb_gep(kb, DT_F32, B, kb_idx(kb, n0));
  g.c = C;
  EpilogueMap map = {.host = n, .fixed = {cl->img}, .row_base = mul(kb, gi, p->mpg), .row_first = 1, .row_n = 1,
                     .col_first = 2, .col_n = n->out[0]->shape.rank - 2};
  if (!p->crop) // else applied while cropping
    epilogue_attach(&g, &map);
  if (own_input(n, 2)) {
    g.bias_kind = GEMM_BIAS_ROW;
    g.bias = kb_gep(kb, DT_F32, kb->in[2], mul(kb, gi, p->mpg));
  }
  gemm_emit(kb, &g);
}

// One group of a grouped convolution on thread WORKER: its planes, its product, its crop,
// all in the thread's own scratch.
static void emit_group(KB *kb, Node *n, const ConvGemm *p, const ConvCall *cl, LLVMValueRef gi, LLVMValueRef worker) {
  bool planes = p->copy_input;
  LLVMValueRef P = planes ? kb_gep(kb, DT_I8, kb->scratch, mul(kb, worker, p->planes_bytes)) : NULL;
  if (planes)
    conv_emit_planes(kb, p, kb_gep(kb, DT_F32, cl->x, mul(kb, gi, p->cpg * p->H * p->W)), P, p->cpg);
  LLVMValueRef B = planes ? P : kb_gep(kb, DT_F32, cl->x, mul(kb, gi, cl->group_in));
  if (!p->crop) {
    emit_product(kb, n, p, cl, gi, worker, B, 0, p->N, kb_gep(kb, DT_F32, cl->y, mul(kb, gi, p->mpg * p->OH * p->OW)),
                 p->OH * p->OW);
    return;
  }
  LLVMValueRef Z = kb_gep(kb, DT_I8, kb_gep(kb, DT_I8, kb->scratch, kb_idx(kb, p->out_offset)), mul(kb, worker, p->z_bytes));
  emit_product(kb, n, p, cl, gi, worker, B, 0, p->N, Z, p->N);
  Crop cr = {Z, cl->y, cl->img, mul(kb, gi, p->mpg), kb_idx(kb, 0), p->N, p->mpg, p->OH};
  emit_crop(kb, n, p, &cr);
}

// Output rows [oh0, oh0 + rows) of an ungrouped convolution: the product of those rows into
// the Wq-wide scratch, then the crop, while the product is still in cache.
static void emit_rows(KB *kb, Node *n, const ConvGemm *p, const ConvCall *cl, LLVMValueRef oh0, int64_t rows,
                      LLVMValueRef worker) {
  LLVMValueRef B = p->copy_input ? kb->scratch : cl->x;
  LLVMValueRef Z = kb_gep(kb, DT_I8, kb_gep(kb, DT_I8, kb->scratch, kb_idx(kb, p->out_offset)), mul(kb, worker, p->z_bytes));
  int64_t N = (rows - 1) * p->Wq + p->OW;
  LLVMValueRef gi = kb_idx(kb, 0);
  emit_product(kb, n, p, cl, gi, worker, kb_gep(kb, DT_F32, B, mul(kb, oh0, p->Wq)), 0, N, Z, N);
  Crop cr = {Z, cl->y, cl->img, gi, oh0, N, p->mpg, rows};
  emit_crop(kb, n, p, &cr);
}

// The transposed product of one image (see plan_transposed): im2col A from the planes (or
// the input) in the engine's packed layout, times the weights packed as B, plus the bias per
// column, into Z [pixels x cout]; then Z transposed into Y with the epilogue.
static void emit_transposed(KB *kb, Node *n, const ConvGemm *p, LLVMValueRef weights_b, LLVMValueRef row_table,
                            LLVMValueRef x, LLVMValueRef y, LLVMValueRef img) {
  int64_t pixels = p->OH * p->OW, cout = p->mpg, K = p->K;
  LLVMValueRef src = p->copy_input ? kb->scratch : x;
  int64_t row_w = p->copy_input ? p->Wq : p->W;
  LLVMValueRef Z = kb_gep(kb, DT_I8, kb->scratch, kb_idx(kb, p->out_offset));
  LLVMValueRef A = kb_gep(kb, DT_I8, kb->scratch, kb_idx(kb, p->pack_offset));
  GemmArgs g = {.M = pixels, .N = cout, .K = K, .alpha = 1.0, .a = A, .a_packed = true, .b = weights_b,
                .b_packed = true, .c = Z, .c_rs = cout};
  g.tile = gemm_choose_tile(kb->cc, pixels, cout);
  // A in row tiles of mr pixels, each k-major: A[r0*K + k*h + r] = src[rows[k] + at(r0 + r)].
  int64_t mr = g.tile.mr, full = pixels / mr, last = pixels - full * mr;
  for (int part = 0; part < 2; part++) {
    int64_t h = part ? last : mr, tiles = part ? (last > 0) : full;
    if (!tiles)
      continue;
    Loop lt, lk, lr;
    LLVMValueRef r0 = part ? kb_idx(kb, full * mr) : mul(kb, kb_for(kb, &lt, tiles), mr);
    LLVMValueRef k = kb_for(kb, &lk, K), r = kb_for(kb, &lr, h);
    LLVMValueRef px = LLVMBuildAdd(kb->b, r0, r, "");
    LLVMValueRef oh = LLVMBuildUDiv(kb->b, px, kb_idx(kb, p->OW), ""), ow = LLVMBuildURem(kb->b, px, kb_idx(kb, p->OW), "");
    LLVMValueRef at = LLVMBuildAdd(kb->b, mul(kb, oh, row_w), ow, "");
    LLVMValueRef row = LLVMBuildSExt(kb->b, kb_load(kb, DT_I32, row_table, k), kb->t_idx, "");
    LLVMValueRef dst = LLVMBuildAdd(kb->b, mul(kb, r0, K), LLVMBuildAdd(kb->b, mul(kb, k, h), r, ""), "");
    kb_store(kb, DT_F32, A, dst, kb_load(kb, DT_F32, src, LLVMBuildAdd(kb->b, row, at, "")));
    kb_end_for(kb, &lr);
    kb_end_for(kb, &lk);
    if (!part)
      kb_end_for(kb, &lt);
  }
  if (own_input(n, 2)) {
    g.bias_kind = GEMM_BIAS_COL;
    g.bias = kb->in[2];
  }
  gemm_emit(kb, &g);
  Loop lc, lp;
  LLVMValueRef c = kb_for(kb, &lc, cout), px = kb_for(kb, &lp, pixels);
  LLVMValueRef v = kb_load(kb, DT_F32, Z, LLVMBuildAdd(kb->b, mul(kb, px, cout), c, ""));
  if (n->epilogue) {
    LLVMValueRef idx[4] = {img, c, LLVMBuildUDiv(kb->b, px, kb_idx(kb, p->OW), ""), LLVMBuildURem(kb->b, px, kb_idx(kb, p->OW), "")};
    if (n->out[0]->shape.rank == 3)
      idx[2] = px;
    v = epilogue_apply(kb, n, v, idx);
  }
  kb_store(kb, DT_F32, y, LLVMBuildAdd(kb->b, mul(kb, c, pixels), px, ""), v);
  kb_end_for(kb, &lp);
  kb_end_for(kb, &lc);
}

// The weights in the product's layout: as A, each group's [mpg x K] block packed after the
// previous one; transposed, as B (element (k, cout) at W[cout*K + k]).
static LLVMValueRef packed_weights(KB *kb, Node *n, const ConvGemm *p) {
  int64_t Cout = p->mpg * p->group, count = Cout * p->K;
  const float *w = n->in[1]->data;
  float *packed;
  if (p->transposed) {
    packed = gemm_pack_b(&kb->cc->pool, w, 1, p->K, p->K, Cout, gemm_choose_tile(kb->cc, p->OH * p->OW, Cout), &count);
  } else {
    GemmTile tile = gemm_choose_tile(kb->cc, p->mpg, p->N);
    packed = pool_alloc(&kb->cc->pool, sizeof(float) * (size_t)(count + 1));
    for (int64_t gi = 0; gi < p->group; gi++) {
      float *blk = gemm_pack_a(&kb->cc->pool, w + gi * p->mpg * p->K, p->K, 1, p->mpg, p->K, tile);
      memcpy(packed + gi * p->mpg * p->K, blk, sizeof(float) * (size_t)(p->mpg * p->K));
    }
  }
  return gemm_constant(kb, packed, count);
}

void conv_gemm_lower(KB *kb, Node *n, const ConvGemm *p) {
  int64_t Cout = p->mpg * p->group, batch = n->in[0]->shape.dim[0];
  int64_t in_image = p->C * p->H * p->W, out_image = Cout * p->OH * p->OW;
  bool planes = p->copy_input;
  int64_t in_plane = planes ? p->plane : p->H * p->W, in_row = planes ? p->Wq : p->W;
  // B rows of group g start at g * cpg channels (or at its own planes); every group reads
  // the same offsets.
  int32_t *rows = row_offsets(&kb->cc->pool, p, in_plane, in_row, planes);
  ConvCall cl = {.weights = packed_weights(kb, n, p), .row_table = kb_table(kb, DT_I32, rows, p->K),
                 .group_in = p->cpg * in_plane};
  Loop lb, lg, lr;
  cl.img = kb_for(kb, &lb, batch);
  cl.x = kb_gep(kb, DT_F32, kb->in[0], mul(kb, cl.img, in_image));
  cl.y = kb_gep(kb, DT_F32, kb->out[0], mul(kb, cl.img, out_image));
  if (p->transposed) {
    if (planes)
      conv_emit_planes(kb, p, cl.x, kb->scratch, p->C);
    emit_transposed(kb, n, p, cl.weights, cl.row_table, cl.x, cl.y, cl.img);
  } else if (p->group == 1) {
    if (planes)
      conv_emit_planes(kb, p, cl.x, kb->scratch, p->C);
    if (!p->crop) {
      emit_product(kb, n, p, &cl, kb_idx(kb, 0), kb_idx(kb, 0), planes ? kb->scratch : cl.x, 0, p->N, cl.y, p->OH * p->OW);
    } else {
      int64_t full = p->OH / p->chunk_rows, rest = p->OH - full * p->chunk_rows;
      if (full > 1 && kb->threads > 1) { // chunks in parallel, each product on one thread
        ConvCall local = cl;
        LLVMValueRef *capture[] = {&local.weights, &local.row_table, &local.x, &local.y, &local.img};
        ParallelLoop par;
        LLVMValueRef worker;
        LLVMValueRef oh0 = mul(kb, kb_parallel_begin(kb, &par, full, capture, countof(capture), &worker), p->chunk_rows);
        int threads = kb->threads;
        kb->threads = 1;
        emit_rows(kb, n, p, &local, oh0, p->chunk_rows, worker);
        kb->threads = threads;
        kb_parallel_end(kb, &par);
      } else if (full > 0) {
        LLVMValueRef oh0 = mul(kb, kb_for(kb, &lr, full), p->chunk_rows);
        emit_rows(kb, n, p, &cl, oh0, p->chunk_rows, kb_idx(kb, 0));
        kb_end_for(kb, &lr);
      }
      if (rest > 0)
        emit_rows(kb, n, p, &cl, kb_idx(kb, full * p->chunk_rows), rest, kb_idx(kb, 0));
    }
  } else if (kb->threads > 1) { // groups in parallel, each product on one thread
    ConvCall local = cl;
    LLVMValueRef *capture[] = {&local.weights, &local.row_table, &local.x, &local.y, &local.img};
    ParallelLoop par;
    LLVMValueRef worker;
    LLVMValueRef gi = kb_parallel_begin(kb, &par, p->group, capture, countof(capture), &worker);
    int threads = kb->threads;
    kb->threads = 1;
    emit_group(kb, n, p, &local, gi, worker);
    kb->threads = threads;
    kb_parallel_end(kb, &par);
  } else {
    LLVMValueRef gi = kb_for(kb, &lg, p->group);
    emit_group(kb, n, p, &cl, gi, kb_idx(kb, 0));
    kb_end_for(kb, &lg);
  }
  kb_end_for(kb, &lb);
}
