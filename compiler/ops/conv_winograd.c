// conv_winograd.c — f32 3x3 stride-1 convolutions by Winograd's minimal filtering F(m x m, 3 x 3)
// (Lavin and Gray, 2015), m = 4 (6x6 input tiles, 36 products instead of 144 multiply-adds per
// output tile and channel pair) or m = 2 (4x4 tiles, 16 instead of 36).
//
// The output is cut into TH x TW tiles of m x m pixels. Tile (th, tw) reads the alpha x alpha
// window (alpha = m + 2) of the padded input at (m*th, m*tw): the window of an alpha x alpha,
// stride-m convolution over TH x TW outputs, so the input is first split into that
// convolution's stride-m phase planes (conv_gemm.c), where element (i, j) of every tile's
// window is one contiguous vector load along the tiles. Then, a chunk of tile rows at a time:
//   V[i,j][c][t]  = (B^T d_c,t B)[i,j]            input transform, tiles t in vector lanes
//   M[i,j][o][t]  = sum_c U[i,j][o][c] V[i,j][c][t] one GEMM per (i, j): Cout x tiles x Cin
//   y_o,t         = A^T M[.,.][o][t] A             output transform, + bias, epilogue
// with U = G g G^T computed (in double) and packed at compile time. The output transform's
// m x m results per tile are interleaved into output rows in registers. Tiles are numbered
// row by row (t = th*TW + tw): a vector's lanes past the end of a tile row spill into the next
// row's slots, which that row rewrites later, and into a vector of slack after the chunk.
#include "gemm_kernel.h"

#include <float.h>
#include <string.h>

// Bytes of V and M per chunk: they should stay in L2 between the transforms and the products.
#define CHUNK_BYTES (768 * 1024)

// The kernel transforms G (alpha x 3, row-major); B^T and A^T are written out as factored
// sums in input_line and output_line. F(4x4, 3x3) interpolates at 0, 1, -1, 2, -2 and infinity:
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
// F(2x2, 3x3) at 0, 1, -1 and infinity:
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  A^T = [1 1 1 0; 0 1 -1 -1]
static const double G4[18] = {1.0 / 4, 0, 0, -1.0 / 6, -1.0 / 6, -1.0 / 6, -1.0 / 6, 1.0 / 6, -1.0 / 6,
                              1.0 / 24, 1.0 / 12, 1.0 / 6, 1.0 / 24, -1.0 / 12, 1.0 / 6, 0, 0, 1};
static const double G2[12] = {1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1};

//
// Planning: the cheaper of the direct product and F(2x2) or F(4x4), in estimated cycles.
//
static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Weights beyond the L2 cache stream from memory at about this many bytes per cycle. Both
// figures, and the transforms' cycles below, were measured on an x86-64 AVX-512 core (2 MiB
// L2) over ResNet- and YOLO-sized layers: Winograd's weights are alpha^2 / 9 times the
// kernel's, and where they stream (512 channels and up) the direct product wins.
#define STREAM_BYTES_PER_CYCLE 2.5
#define CACHED_WEIGHT_BYTES (2 << 20)

// A product's cycles: vector FMAs at two a cycle, the short K loops of small depths paying for
// loading and storing their accumulators; weights that do not stay in cache stream meanwhile.
static double product_cycles(double fmas, int64_t K, double weight_bytes) {
  double compute = fmas / 2 * (K + 24.0) / K;
  double stream = weight_bytes > CACHED_WEIGHT_BYTES ? weight_bytes / STREAM_BYTES_PER_CYCLE : 0;
  return compute > stream ? compute : stream;
}

static double direct_cycles(const ConvGemm *p, int vl) {
  int64_t cout = p->mpg, pixels = p->OH * p->OW;
  double fmas = p->transposed ? (double)pixels * p->K * ceil_div(cout, vl) : (double)cout * p->K * ceil_div(p->N, vl);
  return product_cycles(fmas, p->K, 4.0 * cout * p->K);
}

// Cycles per channel and vector of tiles of the input and output transforms. F(4x4)'s 36-vector
// tiles do not fit in the registers and spill: it costs far more than its operation count.
static double winograd_cycles(const ConvGemm *p, int m, int vl) {
  int alpha = m + 2;
  int64_t TH = ceil_div(p->OH, m), TW = ceil_div(p->OW, m), cin = p->C, cout = p->mpg;
  double vectors = (double)TH * ceil_div(TW, vl);
  double in_cycles = m == 4 ? 300 : 16, out_cycles = m == 4 ? 200 : 13;
  double transforms = (cin * in_cycles + cout * out_cycles) * vectors;
  double planes = (double)cin * m * m * (TH + 1) * (TW + 1) / vl;
  double fmas = (double)alpha * alpha * cout * cin * ceil_div(TH * TW, vl);
  return product_cycles(fmas, cin, 4.0 * alpha * alpha * cout * cin) + transforms + planes;
}

// Whether F(m x m, 3 x 3) rounds no worse than the direct product, so that it stays within
// the conformance tolerance wherever the direct product does, whatever the data's scale. Measured
// on trained-like layers (benchmarks/conv_accuracy.py, docs/performance.md): F(2x2)'s largest
// error is 0.4 to 1 times the direct product's at 16 to 512 channels; F(4x4)'s is 7 to 13
// times it at every channel count (its transforms' coefficients up to 5, 8 and 1/24 amplify
// the rounding), enough to fail the tolerance on a first layer of raw pixels or on outputs of
// RMS above about 3 at 256 channels.
static bool winograd_accurate(int m) { return m == 2; }

// The tile for P under --conv-algo ALGO (0: the direct product): F(4x4) when forced, else the
// cheaper of the accurate tiles, for auto only if it beats the direct product clearly (the
// estimate is rough).
static int choose_tile(const ConvGemm *p, ConvAlgo algo, int vl) {
  if (algo == CONV_WINOGRAD4)
    return 4;
  double best = algo == CONV_AUTO ? direct_cycles(p, vl) * 0.9 : DBL_MAX;
  int m = 0;
  for (int cand = 2; cand <= 4; cand += 2) {
    double c = winograd_cycles(p, cand, vl);
    if (winograd_accurate(cand) && c < best)
      best = c, m = cand;
  }
  return m;
}

bool conv_winograd_plan(const Node *n, const ConvGemm *p, ConvWinograd *w) {
  const Compiler *cc = n->graph->cc;
  ConvAlgo algo = cc->opt.conv_algo;
  int vl = vec_lanes(cc);
  // The transforms run on vectors of at least 4 lanes. The cost figures hold for 16-lane
  // vectors (AVX-512) only: narrower vectors have fewer registers for the tiles and other
  // costs, so auto keeps the direct product there until measured.
  if (n->in[0]->shape.rank != 4 || p->KH != 3 || p->KW != 3 || p->sh != 1 || p->sw != 1 || p->dh != 1 ||
      p->dw != 1 || p->group != 1 || algo == CONV_GEMM || vl < 4 || (algo == CONV_AUTO && vl != 16))
    return false;
  int m = choose_tile(p, algo, vl);
  if (!m)
    return false;
  *w = (ConvWinograd){.m = m, .alpha = m + 2, .TH = ceil_div(p->OH, m), .TW = ceil_div(p->OW, m)};
  ConvGemm *q = &w->planes;
  *q = (ConvGemm){.C = p->C, .H = p->H, .W = p->W, .KH = w->alpha, .KW = w->alpha, .sh = m, .sw = m, .dh = 1, .dw = 1,
                  .pt = p->pt, .pl = p->pl, .OH = w->TH, .OW = w->TW, .group = 1, .cpg = p->C, .mpg = p->mpg};
  if (!conv_plane_geometry(q))
    return false;
  // Chunks of tile rows: V and M within CHUNK_BYTES, a multiple of the threads when there
  // are enough rows, spread evenly.
  int threads = gemm_threads(cc);
  int64_t per_row = 4 * (int64_t)w->alpha * w->alpha * (p->C + p->mpg) * w->TW;
  int64_t chunks = ceil_div(per_row * w->TH, CHUNK_BYTES);
  if (threads > 1 && w->TH >= threads)
    chunks = ceil_div(chunks, threads) * threads;
  chunks = chunks > w->TH ? w->TH : chunks;
  w->chunk_rows = ceil_div(w->TH, chunks);
  w->tile = gemm_choose_tile(cc, p->mpg, w->chunk_rows * w->TW);
  w->v_rs = ceil_div(w->chunk_rows * w->TW + vl, 16) * 16;
  w->planes_bytes = ceil_div(4 * (q->C * q->nphases * q->plane + vl), 64) * 64;
  int64_t pack = gemm_pack_pays(w->tile, p->mpg) ? 4 * gemm_pack_floats(w->tile, p->C) : 0;
  w->work_bytes = ceil_div(4 * (int64_t)w->alpha * w->alpha * (p->C + p->mpg) * w->v_rs + pack, 64) * 64;
  w->scratch = w->planes_bytes + w->work_bytes * threads;
  return true;
}

//
// Lowering
//
static LLVMValueRef add(KB *kb, LLVMValueRef a, int64_t b) { return LLVMBuildAdd(kb->b, a, kb_idx(kb, b), ""); }
static LLVMValueRef mul(KB *kb, LLVMValueRef a, int64_t b) { return LLVMBuildMul(kb->b, a, kb_idx(kb, b), ""); }

static LLVMValueRef splat(KB *kb, double v, int vl) { return vec_splat(kb, LLVMConstReal(LLVMFloatTypeInContext(kb->ctx), v), vl); }
static LLVMValueRef fadd(KB *kb, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFAdd(kb->b, a, b, ""); }
static LLVMValueRef fsub(KB *kb, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(kb->b, a, b, ""); }
// a + c*b
static LLVMValueRef fmac(KB *kb, LLVMValueRef a, double c, LLVMValueRef b, int vl) {
  return kb_fma(kb, DT_F32, splat(kb, c, vl), b, a);
}

// r = B^T d along one line of alpha vectors, in the factored forms (shared sums).
static void input_line(KB *kb, int m, int vl, LLVMValueRef *d, LLVMValueRef *r) {
  if (m == 2) {
    r[0] = fsub(kb, d[0], d[2]);
    r[1] = fadd(kb, d[1], d[2]);
    r[2] = fsub(kb, d[2], d[1]);
    r[3] = fsub(kb, d[1], d[3]);
    return;
  }
  LLVMValueRef s12 = fadd(kb, d[1], d[2]), d12 = fsub(kb, d[1], d[2]);
  LLVMValueRef s34 = fadd(kb, d[3], d[4]), d43 = fsub(kb, d[4], d[3]);
  LLVMValueRef d42 = fsub(kb, d[4], d[2]), d31 = fsub(kb, d[3], d[1]);
  r[0] = fmac(kb, fmac(kb, d[4], -5, d[2], vl), 4, d[0], vl);
  r[1] = fmac(kb, s34, -4, s12, vl);
  r[2] = fmac(kb, d43, 4, d12, vl);
  r[3] = fmac(kb, d42, 2, d31, vl);
  r[4] = fmac(kb, d42, -2, d31, vl);
  r[5] = fmac(kb, fmac(kb, d[5], -5, d[3], vl), 4, d[1], vl);
}

// y = A^T s along one line of alpha vectors.
static void output_line(KB *kb, int m, int vl, LLVMValueRef *s, LLVMValueRef *y) {
  if (m == 2) {
    y[0] = fadd(kb, fadd(kb, s[0], s[1]), s[2]);
    y[1] = fsub(kb, fsub(kb, s[1], s[2]), s[3]);
    return;
  }
  LLVMValueRef s12 = fadd(kb, s[1], s[2]), d12 = fsub(kb, s[1], s[2]);
  LLVMValueRef s34 = fadd(kb, s[3], s[4]), d34 = fsub(kb, s[3], s[4]);
  y[0] = fadd(kb, fadd(kb, s[0], s12), s34);
  y[1] = fmac(kb, d12, 2, d34, vl);
  y[2] = fmac(kb, s12, 4, s34, vl);
  y[3] = fadd(kb, fmac(kb, d12, 8, d34, vl), s[5]);
}

// U = G g G^T for every (output, input) channel pair, as alpha^2 products' A operands packed
// one after the other.
static LLVMValueRef packed_weights(KB *kb, Node *n, const ConvWinograd *w) {
  int64_t cout = n->in[1]->shape.dim[0], cin = n->in[1]->shape.dim[1], a = w->alpha, pair = cout * cin;
  const float *g = n->in[1]->data;
  const double *G = w->m == 4 ? G4 : G2;
  float *u = pool_alloc(&kb->cc->pool, sizeof(float) * (size_t)(a * a * pair));
  for (int64_t o = 0; o < pair; o++) {
    const float *k = g + 9 * o;
    double t[6][3];
    for (int i = 0; i < a; i++)
      for (int c = 0; c < 3; c++)
        t[i][c] = G[3 * i] * k[c] + G[3 * i + 1] * k[3 + c] + G[3 * i + 2] * k[6 + c];
    for (int i = 0; i < a; i++)
      for (int j = 0; j < a; j++)
        u[(i * a + j) * pair + o] = (float)(t[i][0] * G[3 * j] + t[i][1] * G[3 * j + 1] + t[i][2] * G[3 * j + 2]);
  }
  float *packed = pool_alloc(&kb->cc->pool, sizeof(float) * (size_t)(a * a * pair + 1));
  for (int64_t pos = 0; pos < a * a; pos++) {
    float *blk = gemm_pack_a(&kb->cc->pool, u + pos * pair, cin, 1, cout, cin, w->tile);
    memcpy(packed + pos * pair, blk, sizeof(float) * (size_t)pair);
  }
  return gemm_constant(kb, packed, a * a * pair);
}

typedef struct {
  const ConvGemm *p;
  const ConvWinograd *w;
  LLVMValueRef weights;      // packed U
  LLVMValueRef x, y, img;    // this image's input and output, its index
} Wino;

// This worker's V (at the start), M and packed panel (all workers use worker 0's V and M when the phases of
// one chunk are spread over the threads).
static LLVMValueRef work_area(KB *kb, const ConvWinograd *w, LLVMValueRef worker) {
  return kb_gep(kb, DT_I8, kb->scratch, add(kb, mul(kb, worker, w->work_bytes), w->planes_bytes));
}
static LLVMValueRef m_area(KB *kb, const Wino *s, LLVMValueRef work) {
  return kb_gep(kb, DT_F32, work, kb_idx(kb, (int64_t)s->w->alpha * s->w->alpha * s->p->C * s->w->v_rs));
}
static LLVMValueRef pack_area(KB *kb, const Wino *s, LLVMValueRef work) {
  return kb_gep(kb, DT_F32, work, kb_idx(kb, (int64_t)s->w->alpha * s->w->alpha * (s->p->C + s->p->mpg) * s->w->v_rs));
}

// Input channel C, tile rows [th0, th0 + rows): V[i,j][c][r*TW + tw] from the planes.
static void input_transform(KB *kb, const Wino *s, LLVMValueRef c, LLVMValueRef th0, int64_t rows, LLVMValueRef V) {
  const ConvWinograd *w = s->w;
  const ConvGemm *q = &w->planes;
  int m = w->m, a = w->alpha, vl = vec_lanes(kb->cc);
  LLVMValueRef planes = kb_gep(kb, DT_F32, kb->scratch, mul(kb, c, q->nphases * q->plane));
  Loop lr;
  LLVMValueRef r = kb_for(kb, &lr, rows);
  LLVMValueRef row = mul(kb, LLVMBuildAdd(kb->b, th0, r, ""), q->Wq);
  for (int64_t tw0 = 0; tw0 < w->TW; tw0 += vl) {
    LLVMValueRef d[36], t[36], v[36];
    for (int i = 0; i < a; i++)
      for (int j = 0; j < a; j++) {
        int64_t at = (int64_t)((i % m) * m + j % m) * q->plane + (i / m) * q->Wq + j / m + tw0;
        d[i * a + j] = vec_load(kb, planes, add(kb, row, at), vl, vl);
      }
    for (int j = 0; j < a; j++) { // columns: t[., j] = B^T d[., j]
      LLVMValueRef col[6], out[6];
      for (int i = 0; i < a; i++)
        col[i] = d[i * a + j];
      input_line(kb, m, vl, col, out);
      for (int i = 0; i < a; i++)
        t[i * a + j] = out[i];
    }
    for (int i = 0; i < a; i++) // rows: v[i, .] = t[i, .] B
      input_line(kb, m, vl, t + i * a, v + i * a);
    LLVMValueRef dst = add(kb, LLVMBuildAdd(kb->b, mul(kb, c, w->v_rs), mul(kb, r, w->TW), ""), tw0);
    for (int pos = 0; pos < a * a; pos++)
      vec_store(kb, V, add(kb, dst, (int64_t)pos * s->p->C * w->v_rs), v[pos], vl, vl);
  }
  kb_end_for(kb, &lr);
}

// One product, position POS: M[pos] = U[pos] V[pos] over COLUMNS tiles.
static void product(KB *kb, const Wino *s, LLVMValueRef pos, int64_t columns, LLVMValueRef V, LLVMValueRef M,
                    LLVMValueRef pack) {
  const ConvWinograd *w = s->w;
  int64_t cin = s->p->C, cout = s->p->mpg;
  GemmArgs g = {.M = cout, .N = columns, .K = cin, .tile = w->tile, .alpha = 1.0, .a_packed = true, .b_rs = w->v_rs,
                .c_rs = w->v_rs};
  g.a = kb_gep(kb, DT_F32, s->weights, mul(kb, pos, cout * cin));
  g.b = kb_gep(kb, DT_F32, V, mul(kb, pos, cin * w->v_rs));
  g.c = kb_gep(kb, DT_F32, M, mul(kb, pos, cout * w->v_rs));
  if (gemm_pack_pays(w->tile, cout))
    g.b_pack = pack;
  gemm_emit(kb, &g);
}

// Lanes [0, vl) of output pixels m*tw0 + q*vl + l from the m vectors Y[b] (tile tw0 + k in lane
// k): pixel p is lane p / m of Y[p % m].
static LLVMValueRef interleave(KB *kb, LLVMValueRef *Y, int m, int vl, int q) {
  LLVMTypeRef i32 = LLVMInt32TypeInContext(kb->ctx);
  LLVMValueRef parts[4], idx[64];
  memcpy(parts, Y, sizeof(LLVMValueRef) * (size_t)m);
  for (int count = m, width = vl; count > 1; count /= 2, width *= 2) { // concatenate pairwise
    for (int l = 0; l < 2 * width; l++)
      idx[l] = LLVMConstInt(i32, (unsigned)l, 0);
    for (int k = 0; k < count / 2; k++)
      parts[k] = LLVMBuildShuffleVector(kb->b, parts[2 * k], parts[2 * k + 1], LLVMConstVector(idx, (unsigned)(2 * width)), "");
  }
  for (int l = 0; l < vl; l++) {
    int px = q * vl + l;
    idx[l] = LLVMConstInt(i32, (unsigned)((px % m) * vl + px / m), 0);
  }
  return LLVMBuildShuffleVector(kb->b, parts[0], LLVMGetUndef(LLVMTypeOf(parts[0])), LLVMConstVector(idx, (unsigned)vl), "");
}

// Stores output row OH of channel CO from pixel OW0 on (VALID of them), with the epilogue.
static void store_pixels(KB *kb, Node *n, const Wino *s, LLVMValueRef co, LLVMValueRef oh, int64_t ow0, int valid,
                         LLVMValueRef v, bool vector_epilogue) {
  int vl = vec_lanes(kb->cc);
  const ConvGemm *p = s->p;
  LLVMValueRef at = add(kb, mul(kb, LLVMBuildAdd(kb->b, mul(kb, co, p->OH), oh, ""), p->OW), ow0);
  EpilogueMap map = {.host = n, .fixed = {s->img, co, oh}, .col_first = 3, .col_n = 1};
  if (n->epilogue && vector_epilogue)
    v = epilogue_vector(kb, &map, vl, v, kb_idx(kb, 0), kb_idx(kb, ow0), valid);
  vec_store(kb, s->y, at, v, vl, valid);
  if (!n->epilogue || vector_epilogue)
    return;
  for (int l = 0; l < valid; l++) { // element by element, after the store
    LLVMValueRef e = add(kb, at, l), idx[4] = {s->img, co, oh, kb_idx(kb, ow0 + l)};
    kb_store(kb, DT_F32, s->y, e, epilogue_apply(kb, n, kb_load(kb, DT_F32, s->y, e), idx));
  }
}

// Output channel CO, tile rows [th0, th0 + rows): y from M, plus the bias, with the epilogue.
static void output_transform(KB *kb, Node *n, const Wino *s, LLVMValueRef co, LLVMValueRef th0, int64_t rows,
                             LLVMValueRef M) {
  const ConvWinograd *w = s->w;
  const ConvGemm *p = s->p;
  int m = w->m, a = w->alpha, vl = vec_lanes(kb->cc);
  EpilogueMap probe = {.host = n, .col_first = 3, .col_n = 1};
  bool vector_epilogue = !n->epilogue || epilogue_vectorizable(&probe);
  LLVMValueRef bias = own_input(n, 2) ? vec_splat(kb, kb_load(kb, DT_F32, kb->in[2], co), vl) : NULL;
  Loop lr;
  LLVMValueRef r = kb_for(kb, &lr, rows), th = LLVMBuildAdd(kb->b, th0, r, "");
  LLVMValueRef src = LLVMBuildAdd(kb->b, mul(kb, co, w->v_rs), mul(kb, r, w->TW), "");
  for (int64_t tw0 = 0; tw0 < w->TW; tw0 += vl) {
    LLVMValueRef mm[36], t[24], Y[16];
    for (int pos = 0; pos < a * a; pos++)
      mm[pos] = vec_load(kb, M, add(kb, src, (int64_t)pos * p->mpg * w->v_rs + tw0), vl, vl);
    for (int i = 0; i < a; i++) // rows: t[i, .] = mm[i, .] A
      output_line(kb, m, vl, mm + i * a, t + i * m);
    for (int b = 0; b < m; b++) { // columns: Y[., b] = A^T t[., b]
      LLVMValueRef col[6], out[4];
      for (int i = 0; i < a; i++)
        col[i] = t[i * m + b];
      output_line(kb, m, vl, col, out);
      for (int i = 0; i < m; i++)
        Y[i * m + b] = bias ? fadd(kb, out[i], bias) : out[i];
    }
    for (int i = 0; i < m; i++) {
      LLVMValueRef oh = add(kb, mul(kb, th, m), i);
      IfBlock ib;
      bool guard = p->OH % m && i >= p->OH % m; // the last tile row is partly below the output
      if (guard)
        kb_if(kb, &ib, LLVMBuildICmp(kb->b, LLVMIntSLT, oh, kb_idx(kb, p->OH), ""));
      for (int qv = 0; qv < m; qv++) {
        int64_t ow0 = m * tw0 + (int64_t)qv * vl;
        if (ow0 >= p->OW)
          break;
        int valid = p->OW - ow0 < vl ? (int)(p->OW - ow0) : vl;
        store_pixels(kb, n, s, co, oh, ow0, valid, interleave(kb, Y + i * m, m, vl, qv), vector_epilogue);
      }
      if (guard)
        kb_end_if(kb, &ib);
    }
  }
  kb_end_for(kb, &lr);
}

// A loop over [0, count) whose body BUILD runs on the threads when PARALLEL (each with its own
// WORKER index), else on this one (worker 0).
typedef void PhaseFn(KB *kb, Node *n, Wino *s, LLVMValueRef i, LLVMValueRef worker, LLVMValueRef th0, int64_t rows);

static void phase_loop(KB *kb, Node *n, Wino *s, int64_t count, bool parallel, LLVMValueRef th0, int64_t rows,
                       PhaseFn *build) {
  if (parallel) {
    Wino local = *s;
    LLVMValueRef start = th0;
    LLVMValueRef *capture[] = {&local.x, &local.y, &local.img, &start};
    ParallelLoop par;
    LLVMValueRef worker;
    LLVMValueRef i = kb_parallel_begin(kb, &par, count, capture, countof(capture), &worker);
    int threads = kb->threads;
    kb->threads = 1;
    build(kb, n, &local, i, worker, start, rows);
    kb->threads = threads;
    kb_parallel_end(kb, &par);
    return;
  }
  Loop l;
  LLVMValueRef i = kb_for(kb, &l, count);
  build(kb, n, s, i, kb_idx(kb, 0), th0, rows);
  kb_end_for(kb, &l);
}

static void input_phase(KB *kb, Node *n, Wino *s, LLVMValueRef c, LLVMValueRef worker, LLVMValueRef th0, int64_t rows) {
  (void)n, (void)worker;
  input_transform(kb, s, c, th0, rows, work_area(kb, s->w, kb_idx(kb, 0)));
}

static void product_phase(KB *kb, Node *n, Wino *s, LLVMValueRef pos, LLVMValueRef worker, LLVMValueRef th0,
                          int64_t rows) {
  (void)n, (void)th0;
  LLVMValueRef shared = work_area(kb, s->w, kb_idx(kb, 0)), own = work_area(kb, s->w, worker);
  product(kb, s, pos, rows * s->w->TW, shared, m_area(kb, s, shared), pack_area(kb, s, own));
}

static void output_phase(KB *kb, Node *n, Wino *s, LLVMValueRef co, LLVMValueRef worker, LLVMValueRef th0,
                         int64_t rows) {
  (void)worker;
  output_transform(kb, n, s, co, th0, rows, m_area(kb, s, work_area(kb, s->w, kb_idx(kb, 0))));
}

// Tile rows [th0, th0 + rows) with the phases spread over the threads (PARALLEL) or all on
// this thread, in worker WORKER's work area.
static void emit_chunk(KB *kb, Node *n, Wino *s, LLVMValueRef th0, int64_t rows, LLVMValueRef worker, bool parallel) {
  const ConvWinograd *w = s->w;
  if (parallel) {
    phase_loop(kb, n, s, s->p->C, true, th0, rows, input_phase);
    phase_loop(kb, n, s, (int64_t)w->alpha * w->alpha, true, th0, rows, product_phase);
    phase_loop(kb, n, s, s->p->mpg, true, th0, rows, output_phase);
    return;
  }
  LLVMValueRef work = work_area(kb, w, worker);
  Loop lc, lp, lo;
  LLVMValueRef c = kb_for(kb, &lc, s->p->C);
  input_transform(kb, s, c, th0, rows, work);
  kb_end_for(kb, &lc);
  LLVMValueRef pos = kb_for(kb, &lp, (int64_t)w->alpha * w->alpha);
  product(kb, s, pos, rows * w->TW, work, m_area(kb, s, work), pack_area(kb, s, work));
  kb_end_for(kb, &lp);
  LLVMValueRef co = kb_for(kb, &lo, s->p->mpg);
  output_transform(kb, n, s, co, th0, rows, m_area(kb, s, work));
  kb_end_for(kb, &lo);
}

void conv_winograd_lower(KB *kb, Node *n, const ConvGemm *p, const ConvWinograd *w) {
  int64_t batch = n->in[0]->shape.dim[0], in_image = p->C * p->H * p->W, out_image = p->mpg * p->OH * p->OW;
  Wino s = {.p = p, .w = w, .weights = packed_weights(kb, n, w)};
  Loop lb, lc;
  s.img = kb_for(kb, &lb, batch);
  s.x = kb_gep(kb, DT_F32, kb->in[0], mul(kb, s.img, in_image));
  s.y = kb_gep(kb, DT_F32, kb->out[0], mul(kb, s.img, out_image));
  conv_emit_planes(kb, &w->planes, s.x, kb->scratch, p->C);
  int64_t rows = w->chunk_rows, full = w->TH / rows, rest = w->TH - full * rows;
  bool threads = kb->threads > 1;
  if (threads && full >= kb->threads) { // chunks in parallel, each on one thread
    Wino local = s;
    LLVMValueRef *capture[] = {&local.x, &local.y, &local.img};
    ParallelLoop par;
    LLVMValueRef worker;
    LLVMValueRef th0 = mul(kb, kb_parallel_begin(kb, &par, full, capture, countof(capture), &worker), rows);
    int saved = kb->threads;
    kb->threads = 1;
    emit_chunk(kb, n, &local, th0, rows, worker, false);
    kb->threads = saved;
    kb_parallel_end(kb, &par);
  } else if (full > 0) { // chunk after chunk, each spread over the threads
    LLVMValueRef th0 = mul(kb, kb_for(kb, &lc, full), rows);
    emit_chunk(kb, n, &s, th0, rows, kb_idx(kb, 0), threads);
    kb_end_for(kb, &lc);
  }
  if (rest > 0)
    emit_chunk(kb, n, &s, kb_idx(kb, full * rows), rest, kb_idx(kb, 0), threads);
  kb_end_for(kb, &lb);
}
